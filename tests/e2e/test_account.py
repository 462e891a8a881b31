"""GetAccount and isolation between accounts."""

from __future__ import annotations

import pytest
import requests

from scfdtest import (
    ACCOUNT_A,
    ACCOUNT_B,
    OTHER_REGION,
    address,
    b64,
    hello_zip,
    sha256_hex,
    tamper_sign,
    uniq,
)


def usage_by_ns(resp):
    return {n["Namespace"]: n for n in resp["AccountUsage"]["Namespace"]}


def limit_by_ns(resp):
    return {n["Namespace"]: n for n in resp["AccountLimit"]["Namespace"]}


def test_get_account_fresh(make_server):
    s = make_server(limits={"max_namespaces": 7, "max_functions_per_namespace": 33})
    resp = s.client().call("GetAccount")
    assert resp["AccountUsage"]["NamespacesCount"] == 1
    u = usage_by_ns(resp)
    assert set(u) == {"default"}
    assert u["default"]["FunctionsCount"] == 0
    assert u["default"]["Functions"] == []
    assert isinstance(resp["AccountUsage"]["TotalConcurrencyMem"], int)
    assert resp["AccountLimit"]["NamespacesCount"] == 7
    lim = limit_by_ns(resp)
    assert set(lim) == {"default"}
    assert lim["default"]["FunctionsCount"] == 33
    assert lim["default"]["TimeoutLimit"] == 900


def test_get_account_counts(make_server):
    s = make_server()
    api = s.client()
    api.call("CreateNamespace", Namespace="ns1")
    api.call("CreateNamespace", Namespace="empty")
    api.create_function("f1", wait=False)
    api.create_function("f2", wait=False)
    api.create_function("f3", namespace="ns1", wait=False)
    resp = api.call("GetAccount")
    assert resp["AccountUsage"]["NamespacesCount"] == 3
    u = usage_by_ns(resp)
    assert set(u) == {"default", "ns1", "empty"}
    assert sorted(u["default"]["Functions"]) == ["f1", "f2"]
    assert u["default"]["FunctionsCount"] == 2
    assert u["ns1"]["Functions"] == ["f3"]
    assert u["ns1"]["FunctionsCount"] == 1
    assert u["empty"]["FunctionsCount"] == 0
    lim = limit_by_ns(resp)
    assert set(lim) == {"default", "ns1", "empty"}
    assert all(v["TimeoutLimit"] == 900 for v in lim.values())
    # after a delete the counts follow
    api.wait_status("f1")
    api.call("DeleteFunction", FunctionName="f1")
    api.call("DeleteNamespace", Namespace="empty")
    resp = api.call("GetAccount")
    assert resp["AccountUsage"]["NamespacesCount"] == 2
    u = usage_by_ns(resp)
    assert u["default"]["Functions"] == ["f2"]
    assert u["default"]["FunctionsCount"] == 1


def test_get_account_is_per_region(make_server):
    s = make_server()
    s.client().call("CreateNamespace", Namespace="gz-only")
    resp = s.client(region=OTHER_REGION).call("GetAccount")
    assert resp["AccountUsage"]["NamespacesCount"] == 1
    assert set(usage_by_ns(resp)) == {"default"}


# ---------------------------------------------------------------------------------------
# isolation
# ---------------------------------------------------------------------------------------


@pytest.fixture
def two(make_server):
    s = make_server()
    a, b = s.client(ACCOUNT_A), s.client(ACCOUNT_B)
    a.call("CreateNamespace", Namespace="a-private", Description="A's namespace")
    za = hello_zip("# account A\n")
    a.create_function("shared-name", za)
    a.create_function("a-only", za, namespace="a-private")
    return s, a, b, za


def test_isolation_listing(two):
    s, a, b, za = two
    assert "a-private" not in b.namespaces()
    assert b.namespaces() == ["default"]
    assert b.call("ListNamespaces")["TotalCount"] == 1
    assert b.function_names() == []
    assert b.call("ListFunctions")["TotalCount"] == 0
    b.expect("ResourceNotFound.Namespace", "ListFunctions", Namespace="a-private")
    assert "a-private" in a.namespaces()
    assert a.function_names() == ["shared-name"]


def _same_as_never_existed(api, action, params, name):
    e1 = api.err(action, params)
    ghost = uniq("ghost")
    p2 = dict(params, FunctionName=ghost)
    e2 = api.err(action, p2)
    assert e1.get_code() == "ResourceNotFound.Function", (action, e1.get_code(), e1.get_message())
    assert e1.get_code() == e2.get_code()
    assert e1.get_message().replace(name, "<n>") == e2.get_message().replace(ghost, "<n>"), (
        e1.get_message(), e2.get_message())


def test_isolation_function_actions(two):
    s, a, b, za = two
    zb = hello_zip("# account B\n")
    for action, params in [
        ("GetFunction", {"FunctionName": "shared-name"}),
        ("GetFunctionAddress", {"FunctionName": "shared-name"}),
        ("UpdateFunctionCode", {"FunctionName": "shared-name", "ZipFile": b64(zb)}),
        ("UpdateFunctionConfiguration", {"FunctionName": "shared-name", "Description": "hijacked"}),
        ("DeleteFunction", {"FunctionName": "shared-name"}),
    ]:
        _same_as_never_existed(b, action, params, "shared-name")
    # A's function is untouched
    f = a.get_function("shared-name")
    assert f["Status"] == "Active"
    assert f["Description"] != "hijacked"
    assert address(a, "shared-name")["CodeSha256"] == sha256_hex(za)


def test_isolation_namespace_actions(two):
    s, a, b, za = two
    b.expect("ResourceNotFound.Namespace", "DeleteNamespace", Namespace="a-private")
    b.expect("ResourceNotFound.Namespace", "UpdateNamespace", Namespace="a-private", Description="hijacked")
    # a function inside A's namespace looks exactly like one in a namespace that never existed
    e1 = b.err("GetFunction", FunctionName="a-only", Namespace="a-private")
    e2 = b.err("GetFunction", FunctionName="a-only", Namespace="never-was")
    assert e1.get_code() == e2.get_code(), (e1.get_code(), e2.get_code())
    assert e1.get_code() in ("ResourceNotFound.Function", "ResourceNotFound.Namespace")
    # B can have its own namespace of the same name
    b.call("CreateNamespace", Namespace="a-private", Description="B's namespace")
    ns_a = [n for n in a.call("ListNamespaces")["Namespaces"] if n["Name"] == "a-private"][0]
    ns_b = [n for n in b.call("ListNamespaces")["Namespaces"] if n["Name"] == "a-private"][0]
    assert ns_a["Description"] == "A's namespace"
    assert ns_b["Description"] == "B's namespace"
    assert b.function_names(Namespace="a-private") == []
    assert a.function_names(Namespace="a-private") == ["a-only"]


def test_isolation_same_function_name(two):
    s, a, b, za = two
    zb = hello_zip("# account B\n" + "y = 2\n" * 100)
    b.create_function("shared-name", zb, Description="B's function")
    fa, fb = a.get_function("shared-name"), b.get_function("shared-name")
    assert fa["FunctionId"] != fb["FunctionId"]
    assert fb["Description"] == "B's function"
    assert fa["Description"] != "B's function"
    assert address(a, "shared-name")["CodeSha256"] == sha256_hex(za)
    assert address(b, "shared-name")["CodeSha256"] == sha256_hex(zb)
    assert requests.get(address(b, "shared-name")["Url"], timeout=10).content == zb
    assert requests.get(address(a, "shared-name")["Url"], timeout=10).content == za
    b.call("DeleteFunction", FunctionName="shared-name")
    assert a.get_function("shared-name")["Status"] == "Active"


def test_isolation_get_account(two):
    s, a, b, za = two
    rb = b.call("GetAccount")
    assert rb["AccountUsage"]["NamespacesCount"] == 1
    ub = usage_by_ns(rb)
    assert set(ub) == {"default"}
    assert ub["default"]["FunctionsCount"] == 0
    assert ub["default"]["Functions"] == []
    ra = a.call("GetAccount")
    assert ra["AccountUsage"]["NamespacesCount"] == 2
    assert usage_by_ns(ra)["default"]["Functions"] == ["shared-name"]


def test_isolation_download_url(two):
    s, a, b, za = two
    url = address(a, "shared-name")["Url"]
    assert requests.get(url, timeout=10).content == za
    r = requests.get(tamper_sign(url), timeout=10)
    assert 400 <= r.status_code < 500
    assert r.content != za


def test_isolation_namespace_quota(make_server):
    s = make_server(limits={"max_namespaces": 2})
    a, b = s.client(ACCOUNT_A), s.client(ACCOUNT_B)
    a.call("CreateNamespace", Namespace="mine")
    a.expect("LimitExceeded.Namespace", "CreateNamespace", Namespace="more")
    b.call("CreateNamespace", Namespace="mine")


def test_isolation_shared_package_bytes(make_server):
    """Two accounts upload byte-identical packages; A deleting its function must not break B's
    function or its download link, also after a restart."""
    s = make_server()
    a, b = s.client(ACCOUNT_A), s.client(ACCOUNT_B)
    z = hello_zip("# identical in both accounts\n")
    a.create_function("same-bytes", z)
    b.create_function("same-bytes", z)
    url_b = address(b, "same-bytes")["Url"]
    a.call("DeleteFunction", FunctionName="same-bytes")
    r = requests.get(url_b, timeout=10)
    assert r.status_code == 200 and r.content == z
    assert address(b, "same-bytes")["CodeSha256"] == sha256_hex(z)
    s.restart()
    b = s.client(ACCOUNT_B)
    assert b.wait_status("same-bytes")["Status"] == "Active"
    assert requests.get(address(b, "same-bytes")["Url"], timeout=10).content == z


def test_deleted_function_link_dies_even_if_another_account_has_the_bytes(make_server):
    """A's link is for A's function; once A deleted it, the link must not keep serving the
    package just because account B happens to hold identical bytes."""
    s = make_server()
    a, b = s.client(ACCOUNT_A), s.client(ACCOUNT_B)
    z = hello_zip("# identical in both accounts\n")
    a.create_function("same-bytes", z)
    b.create_function("same-bytes", z)
    url_a = address(a, "same-bytes")["Url"]
    a.call("DeleteFunction", FunctionName="same-bytes")
    r = requests.get(url_a, timeout=10)
    assert r.status_code != 200 or r.content != z
