"""Code packages: CreateFunction code validation, UpdateFunctionCode, GetFunctionAddress."""

from __future__ import annotations

import os
import zipfile
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

import pytest
import requests

from scfdtest import (
    ACCOUNT_A,
    HELLO_PY,
    address,
    b64,
    hello_zip,
    lying_size_zip,
    make_zip,
    sha256_hex,
    symlink_zip,
    tamper_sign,
    uniq,
)


def create_params(name, code, **extra):
    p = {"FunctionName": name, "Code": code, "Handler": "index.main_handler", "Runtime": "Python3.9"}
    p.update(extra)
    return p


def zip_params(name, zip_bytes, **extra):
    return create_params(name, {"ZipFile": b64(zip_bytes)}, **extra)


# ---------------------------------------------------------------------------------------
# CreateFunction code validation
# ---------------------------------------------------------------------------------------


def test_missing_code(api):
    p = {"FunctionName": uniq("fn"), "Handler": "index.main_handler", "Runtime": "Python3.9"}
    api.expect_create_refused("MissingParameter", p)


def test_empty_code(api):
    api.expect_create_refused("InvalidParameterValue.Code", create_params(uniq("fn"), {}))


@pytest.mark.parametrize("code", [
    {"CosBucketName": "bucket", "CosObjectName": "/code.zip"},
    {"CosBucketName": "bucket", "CosObjectName": "/code.zip", "CosBucketRegion": "ap-guangzhou"},
])
def test_cos_code_unsupported(api, code):
    api.expect_create_refused("UnsupportedOperation.Cos", create_params(uniq("fn"), code))


@pytest.mark.parametrize("code", [
    {"DemoId": "demo-12345"},
    {"GitUrl": "https://git.example.invalid/repo.git", "GitBranch": "main"},
    {"ImageConfig": {"ImageType": "personal", "ImageUri": "ccr.ccs.tencentyun.com/ns/img:1"}},
])
def test_other_code_sources_unsupported(api, code):
    e = api.expect_create_refused("UnsupportedOperation", create_params(uniq("fn"), code))
    assert "ZipFile" in e.get_message(), e.get_message()


@pytest.mark.parametrize("bad", ["not*base64*at*all!", "%%%%", "aGVsbG8=" + "@@"])
def test_invalid_base64(api, bad):
    api.expect_create_refused("InvalidParameterValue.ZipFileBase64BinasciiError",
                              create_params(uniq("fn"), {"ZipFile": bad}))


@pytest.mark.parametrize("data", [b"hello world, definitely not a zip archive", b"PK\x03\x04truncated", b"\x00" * 64])
def test_not_a_zip(api, data):
    api.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), data))


@pytest.mark.parametrize("entry", ["../evil.py", "/etc/x", "a/../../evil.py", "../../../../tmp/scfd-evil"])
def test_path_escaping_entries(api, entry):
    z = make_zip({"index.py": HELLO_PY, entry: "print('pwned')\n"})
    api.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), z))
    assert not os.path.exists("/tmp/scfd-evil")


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "../../../../../../../etc/shadow"])
def test_symlink_escaping(api, target):
    z = symlink_zip("link", target)
    api.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), z))


def test_zip_with_subdirectories_is_fine(api):
    name = uniq("fn")
    z = make_zip({"index.py": HELLO_PY, "lib/util.py": "X = 1\n", "lib/data/a.txt": "a", "dir/./b.txt": "b"})
    api.call("CreateFunction", zip_params(name, z))
    assert api.wait_status(name)["Status"] == "Active"


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    from scfdtest import Server, make_config
    s = Server(tmp_path_factory.mktemp("scfd-ziplimits"), make_config(limits={
        "zip_file_bytes": 200_000,
        "update_zip_file_bytes": 100_000,
        "unpacked_bytes": 1_000_000,
        "zip_entries": 20,
    }))
    s.start()
    yield s.client()
    s.stop()


def random_zip(n):
    return make_zip({"index.py": HELLO_PY, "blob.bin": os.urandom(n)}, compression=zipfile.ZIP_STORED)


def test_zip_over_create_limit(limited):
    z = random_zip(250_000)
    assert len(z) > 200_000
    limited.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), z))


def test_zip_under_create_limit_but_over_update_limit(limited):
    name = uniq("fn")
    z = random_zip(150_000)
    assert 100_000 < len(z) < 200_000
    limited.create_function(name, z)
    assert address(limited, name)["CodeSha256"] == sha256_hex(z)
    z2 = random_zip(150_000)
    limited.expect("InvalidParameterValue.ZipFile", "UpdateFunctionCode", FunctionName=name, ZipFile=b64(z2))
    assert address(limited, name)["CodeSha256"] == sha256_hex(z)
    z3 = random_zip(50_000)
    limited.call("UpdateFunctionCode", FunctionName=name, ZipFile=b64(z3))
    limited.wait_status(name)
    assert address(limited, name)["CodeSha256"] == sha256_hex(z3)


def test_zip_bomb_over_unpacked_limit(limited):
    z = make_zip({"index.py": HELLO_PY, "zeros.bin": b"\0" * 2_000_000})
    assert len(z) < 20_000
    limited.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), z))


def test_zip_bomb_split_over_entries(limited):
    z = make_zip({"index.py": HELLO_PY, **{f"z{i}.bin": b"\0" * 200_000 for i in range(6)}})
    limited.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), z))


def test_zip_bomb_with_lying_headers(limited):
    z = lying_size_zip(real_size=2_000_000, claimed_size=10)
    limited.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), z))


def test_unpacked_under_limit_is_fine(limited):
    name = uniq("fn")
    z = make_zip({"index.py": HELLO_PY, "zeros.bin": b"\0" * 800_000})
    limited.create_function(name, z)


def test_too_many_entries(limited):
    z = make_zip({f"f{i}.py": "x = 1\n" for i in range(21)})
    limited.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(uniq("fn"), z))


def test_entries_at_limit_is_fine(limited):
    name = uniq("fn")
    files = {f"f{i}.py": "x = 1\n" for i in range(19)}
    files["index.py"] = HELLO_PY
    limited.create_function(name, make_zip(files))


def test_update_code_zip_bomb(limited):
    name = uniq("fn")
    z = hello_zip()
    limited.create_function(name, z)
    bomb = make_zip({"index.py": HELLO_PY, "zeros.bin": b"\0" * 2_000_000})
    limited.expect("InvalidParameterValue.ZipFile", "UpdateFunctionCode", FunctionName=name, ZipFile=b64(bomb))
    many = make_zip({f"f{i}.py": "x = 1\n" for i in range(21)})
    limited.expect("InvalidParameterValue.ZipFile", "UpdateFunctionCode", FunctionName=name, ZipFile=b64(many))
    assert address(limited, name)["CodeSha256"] == sha256_hex(z)


# ---------------------------------------------------------------------------------------
# GetFunctionAddress
# ---------------------------------------------------------------------------------------


def test_get_function_address(server, api):
    name = uniq("addr")
    z = make_zip({"index.py": HELLO_PY, "data.bin": os.urandom(3000)})
    api.create_function(name, z)
    resp = address(api, name)
    assert resp["CodeSha256"] == sha256_hex(z)
    url = resp["Url"]
    u = urlparse(url)
    assert u.scheme == "http", url
    assert u.port == server.port, url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200
    assert r.content == z


def test_get_function_address_in_namespace(api):
    ns = uniq("ns")
    api.call("CreateNamespace", Namespace=ns)
    name = uniq("addr")
    z1, z2 = hello_zip("# one\n"), hello_zip("# two\n")
    api.create_function(name, z1, namespace=ns)
    api.create_function(name, z2)
    assert requests.get(address(api, name, ns)["Url"], timeout=30).content == z1
    assert requests.get(address(api, name)["Url"], timeout=30).content == z2
    assert address(api, name, ns)["CodeSha256"] == sha256_hex(z1)


def test_get_function_address_missing(api):
    api.expect("ResourceNotFound.Function", "GetFunctionAddress", FunctionName=uniq("nope"))


def test_download_url_with_tampered_sign_is_refused(api):
    name = uniq("addr")
    z = hello_zip()
    api.create_function(name, z)
    url = address(api, name)["Url"]
    r = requests.get(tamper_sign(url), timeout=30)
    assert 400 <= r.status_code < 500, (r.status_code, r.content[:200])
    assert r.content != z


def test_download_url_of_deleted_function_is_gone(api):
    name = uniq("addr")
    z = hello_zip(f"# only {name} has this package\n")
    api.create_function(name, z)
    url = address(api, name)["Url"]
    api.call("DeleteFunction", FunctionName=name)
    r = requests.get(url, timeout=30)
    assert r.status_code != 200 or r.content != z


# ---------------------------------------------------------------------------------------
# UpdateFunctionCode
# ---------------------------------------------------------------------------------------


def test_update_function_code_top_level_zipfile(api):
    name = uniq("upd")
    z1 = hello_zip()
    before = api.create_function(name, z1)
    z2 = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n", "blob.bin": os.urandom(5000)})
    resp = api.call("UpdateFunctionCode", FunctionName=name, ZipFile=b64(z2), Handler="app.handler")
    assert resp["RequestId"]
    st = api.get_function(name)["Status"]
    assert st in ("Updating", "Active"), st
    after = api.wait_status(name)
    assert after["Handler"] == "app.handler"
    assert after["CodeSize"] != before["CodeSize"]
    assert after["FunctionId"] == before["FunctionId"]
    assert after["Runtime"] == before["Runtime"]
    addr = address(api, name)
    assert addr["CodeSha256"] == sha256_hex(z2)
    assert requests.get(addr["Url"], timeout=30).content == z2


def test_update_function_code_code_struct(api):
    name = uniq("upd")
    api.create_function(name, hello_zip())
    z2 = hello_zip("# version 2\n" + "x = 1\n" * 500)
    api.call("UpdateFunctionCode", FunctionName=name, Code={"ZipFile": b64(z2)})
    f = api.wait_status(name)
    assert f["Handler"] == "index.main_handler"
    assert address(api, name)["CodeSha256"] == sha256_hex(z2)


def test_update_function_code_in_namespace(api):
    ns = uniq("ns")
    api.call("CreateNamespace", Namespace=ns)
    name = uniq("upd")
    z1 = hello_zip()
    api.create_function(name, z1, namespace=ns)
    api.create_function(name, z1)
    z2 = hello_zip("# ns only\n")
    api.call("UpdateFunctionCode", FunctionName=name, Namespace=ns, ZipFile=b64(z2))
    api.wait_status(name, ns)
    assert address(api, name, ns)["CodeSha256"] == sha256_hex(z2)
    assert address(api, name)["CodeSha256"] == sha256_hex(z1)


@pytest.mark.parametrize("kind,zip_value,code", [
    ("base64", "not*base64*at*all!", "InvalidParameterValue.ZipFileBase64BinasciiError"),
    ("notzip", b64(b"plain text, not a zip"), "InvalidParameterValue.ZipFile"),
    ("traversal", b64(make_zip({"index.py": HELLO_PY, "../evil.py": "x"})), "InvalidParameterValue.ZipFile"),
    ("absolute", b64(make_zip({"index.py": HELLO_PY, "/etc/x": "x"})), "InvalidParameterValue.ZipFile"),
    ("symlink", b64(symlink_zip("link", "../../etc/passwd")), "InvalidParameterValue.ZipFile"),
])
@pytest.mark.parametrize("style", ["top", "code"])
def test_update_function_code_refused(api, kind, zip_value, code, style):
    name = uniq("upd")
    z1 = hello_zip()
    api.create_function(name, z1)
    params = {"FunctionName": name}
    if style == "top":
        params["ZipFile"] = zip_value
    else:
        params["Code"] = {"ZipFile": zip_value}
    api.expect(code, "UpdateFunctionCode", params)
    f = api.get_function(name)
    assert f["Status"] == "Active"
    assert address(api, name)["CodeSha256"] == sha256_hex(z1)


def test_update_function_code_bad_handler(api):
    name = uniq("upd")
    z1 = hello_zip()
    api.create_function(name, z1)
    api.expect("InvalidParameterValue.Handler", "UpdateFunctionCode", FunctionName=name,
               ZipFile=b64(hello_zip("# x\n")), Handler="index")
    assert address(api, name)["CodeSha256"] == sha256_hex(z1)
    assert api.get_function(name)["Handler"] == "index.main_handler"


def test_update_function_code_cos_unsupported(api):
    name = uniq("upd")
    api.create_function(name)
    api.expect("UnsupportedOperation.Cos", "UpdateFunctionCode", FunctionName=name, CosBucketName="bucket",
               CosObjectName="/code.zip")


def test_update_function_code_missing_function(api):
    api.expect("ResourceNotFound.Function", "UpdateFunctionCode", FunctionName=uniq("nope"),
               ZipFile=b64(hello_zip()))


# ---------------------------------------------------------------------------------------
# download URL hardening
# ---------------------------------------------------------------------------------------


def test_download_url_other_query_params_are_signed(api):
    name = uniq("addr")
    z = hello_zip("# signed params\n")
    api.create_function(name, z)
    url = address(api, name)["Url"]
    u = urlparse(url)
    q = parse_qsl(u.query, keep_blank_values=True)
    others = [k for k, _ in q if k.lower() not in ("sign", "signature", "sig", "token")]
    for key in others:
        changed = [(k, (v + "1") if k == key else v) for k, v in q]
        r = requests.get(urlunparse(u._replace(query=urlencode(changed))), timeout=30)
        assert r.status_code >= 400 and r.content != z, f"changing {key} still downloads the package"
    # dropping the query entirely is refused too
    r = requests.get(urlunparse(u._replace(query="")), timeout=30)
    assert r.status_code >= 400 and r.content != z


def test_download_url_sign_is_bound_to_the_path(api):
    n1, n2 = uniq("addr"), uniq("addr")
    z1, z2 = hello_zip("# one\n"), hello_zip("# two\n")
    api.create_function(n1, z1)
    api.create_function(n2, z2)
    u1, u2 = urlparse(address(api, n1)["Url"]), urlparse(address(api, n2)["Url"])
    assert u1.path != u2.path or u1.query != u2.query
    mixed = urlunparse(u1._replace(query=u2.query))
    r = requests.get(mixed, timeout=30)
    assert r.status_code >= 400, (mixed, r.status_code)
    assert r.content not in (z1, z2)


@pytest.mark.parametrize("suffix", ["../scfd.toml", "..%2Fscfd.toml", "..%2F..%2Fscfd.toml", "%2e%2e/%2e%2e/scfd.toml",
                                    "../../scfd.toml", "../../../data/scfd.toml"])
def test_download_path_traversal(server, api, suffix):
    name = uniq("addr")
    api.create_function(name, hello_zip())
    u = urlparse(address(api, name)["Url"])
    base = u.path.rsplit("/", 1)[0]
    # build the raw request line ourselves so nothing normalises the path
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", f"{base}/{suffix}?{u.query}")
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status != 200, (suffix, body[:200])
    assert b"secret_key" not in body and ACCOUNT_A.secret_key.encode() not in body


def test_refused_creates_write_nothing(make_server):
    s = make_server(limits={"unpacked_bytes": 1_000_000, "zip_entries": 20})
    api = s.client()
    api.create_function("baseline", hello_zip())

    def snapshot():
        out = set()
        for p in s.workdir.rglob("*"):
            rel = p.relative_to(s.workdir).as_posix()
            if p.name.startswith("scfd.db") or p.suffix == ".log" or "tccli-home" in rel:
                continue
            out.add(rel)
        return out

    before = snapshot()
    bad = [
        make_zip({"index.py": HELLO_PY, "../evil.py": "x"}),
        make_zip({"index.py": HELLO_PY, "a/../../evil2.py": "x"}),
        make_zip({"index.py": HELLO_PY, "/abs-evil.py": "x"}),
        symlink_zip("link", "../../etc/passwd"),
        make_zip({"index.py": HELLO_PY, "zeros.bin": b"\0" * 2_000_000}),
        lying_size_zip(2_000_000),
        make_zip({f"f{i}.py": "x = 1\n" for i in range(21)}),
        b"not a zip",
    ]
    for i, z in enumerate(bad):
        api.expect_create_refused("InvalidParameterValue.ZipFile", zip_params(f"bad{i}", z))
        api.expect("InvalidParameterValue.ZipFile", "UpdateFunctionCode", FunctionName="baseline", ZipFile=b64(z))
    after = snapshot()
    assert after == before, f"new files: {sorted(after - before)}; removed: {sorted(before - after)}"
    leaked = [p for p in s.workdir.parent.rglob("*evil*")]
    assert not leaked, leaked


# ---------------------------------------------------------------------------------------
# back-to-back writes while a package is still being unpacked
# ---------------------------------------------------------------------------------------


def _big_zip(tag):
    files = {"index.py": HELLO_PY + f"# {tag}\n"}
    files.update({f"lib/{tag}{i:03d}.bin": os.urandom(2048) for i in range(300)})
    return make_zip(files)


def test_rapid_code_updates_last_one_wins(api):
    name = uniq("race")
    api.create_function(name, hello_zip())
    zips = [_big_zip(f"v{i}") for i in range(3)]
    for z in zips:
        api.call("UpdateFunctionCode", FunctionName=name, ZipFile=b64(z))
    api.wait_status(name)
    import time as _t
    _t.sleep(0.3)  # give any straggling background unpack a chance to (wrongly) land
    f = api.wait_status(name)
    addr = address(api, name)
    assert addr["CodeSha256"] == sha256_hex(zips[-1]), "an earlier update overwrote the last one"
    assert requests.get(addr["Url"], timeout=30).content == zips[-1]
    assert f["Status"] == "Active"


def test_delete_while_unpacking(api):
    name = uniq("race")
    api.call("CreateFunction", zip_params(name, _big_zip("del")))
    api.call("DeleteFunction", FunctionName=name)
    import time as _t
    deadline = _t.monotonic() + 0.5
    while _t.monotonic() < deadline:  # it must not come back when the unpack finishes
        api.expect("ResourceNotFound.Function", "GetFunction", FunctionName=name)
        _t.sleep(0.05)
    assert name not in api.function_names()
    z = hello_zip("# recreated\n")
    api.create_function(name, z)
    assert address(api, name)["CodeSha256"] == sha256_hex(z)


def test_java_runtime_is_refused_before_its_handler(api):
    # Java handlers are `package.Class::method` (checked by the unit tests of rules.rs); this
    # machine has no Java runtime, so a Java function is refused for its runtime.
    name = uniq("java")
    api.expect_create_refused("InvalidParameterValue.Runtime",
                              create_params(name, {"ZipFile": b64(hello_zip())}, Runtime="Java8",
                                            Handler="example.Hello::mainHandler"))


def test_large_package_roundtrip(api):
    """A ~7 MB package (about 9.3 MB of JSON) fits under the 10 MB TC3 body limit and round-trips."""
    name = uniq("large")
    z = make_zip({"index.py": HELLO_PY, "blob.bin": os.urandom(7_000_000)}, compression=zipfile.ZIP_STORED)
    api.call("CreateFunction", zip_params(name, z))
    f = api.wait_status(name, timeout=20)
    assert f["CodeSize"] > 0
    addr = address(api, name)
    assert addr["CodeSha256"] == sha256_hex(z)
    r = requests.get(addr["Url"], timeout=60)
    assert r.status_code == 200 and r.content == z
