"""A hostile tenant's code packages (issue 10, point 1), through the official SDK.

Before the defence (main at dee1e99) scfd checked each symlink's target on its own, textually,
and unpacked as root with `create_dir_all`, which follows links: a chain `u0 -> .`,
`u1 -> u0/..`, ... `uN -> uN-1/..` passed every check, and a file entry `uN/tmp/<marker>` was
written at `/tmp/<marker>` on the host (CreateFunction and UpdateFunctionCode both answered
success). Now the archive is replayed on a model of its tree at the API, and unpacking opens
every folder with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`.

The per-account cap on unpacked code (`[limits] account_unpacked_bytes`) is here too: one
tenant must not fill the disk every tenant's packages live on."""

from __future__ import annotations

import io
import time
import uuid
import warnings
import zipfile
from pathlib import Path

import pytest

from invoketest import invoke, ok
from scfdtest import HELLO_PY, b64, uniq

# Deep enough to climb from any data dir to `/` (`..` at `/` stays at `/`).
CHAIN = 40


def _link(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = 0o120777 << 16  # S_IFLNK | 0777
    zf.writestr(info, target)


def hostile_zip(entries: list[tuple[str, str, str]]) -> bytes:
    """`(kind, name, content)` entries in this order; kind is "file" or "link" (content is the
    target). Python's zipfile writes duplicate names (with a warning), as a hostile tool would."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("index.py", HELLO_PY)
            for kind, name, content in entries:
                if kind == "link":
                    _link(zf, name, content)
                else:
                    zf.writestr(name, content)
    return buf.getvalue()


def link_chain(marker: Path) -> list[tuple[str, str, str]]:
    entries = [("link", "u0", ".")]
    entries += [("link", f"u{i}", f"u{i - 1}/..") for i in range(1, CHAIN + 1)]
    entries.append(("file", f"u{CHAIN}{marker}", "written by a tenant's package"))
    return entries


@pytest.fixture
def marker():
    path = Path("/tmp") / f"scfd-escape-{uuid.uuid4().hex}"
    yield path
    path.unlink(missing_ok=True)


def assert_never_written(path: Path) -> None:
    # Unpacking ran after the answer before the defence; give a late writer the time to show.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert not path.exists(), f"the package wrote {path} on the host"
        time.sleep(0.05)


def create_params(name: str, z: bytes) -> dict:
    return {"FunctionName": name, "Code": {"ZipFile": b64(z)}, "Handler": "index.main_handler",
            "Runtime": "Python3.9"}


def test_a_link_chain_cannot_write_on_the_host_at_create(api, marker):
    z = hostile_zip(link_chain(marker))
    e = api.expect_create_refused("InvalidParameterValue.ZipFile", create_params(uniq("zc"), z))
    assert "symlink" in e.get_message(), e.get_message()
    assert_never_written(marker)


def test_a_link_chain_cannot_write_on_the_host_at_update(eapi, marker):
    api = eapi
    name = uniq("zu")
    api.create_function(name)
    api.expect("InvalidParameterValue.ZipFile", "UpdateFunctionCode",
               {"FunctionName": name, "ZipFile": b64(hostile_zip(link_chain(marker)))})
    assert_never_written(marker)
    # The function keeps its code and still runs.
    f = api.wait_status(name)
    assert f["Status"] == "Active"
    assert ok(invoke(api, name))["RetMsg"] == '"hello from scfd"'


@pytest.mark.parametrize("entries", [
    # A harmless-looking link, then a file entry through it.
    [("link", "up", "."), ("file", "up/{marker_rel}", "x")],
    # The file entry first, then a link over the folder it went into.
    [("file", "d/x", "x"), ("link", "d", ".")],
    # A link to a link, then a file through the second.
    [("link", "a/b", ".."), ("link", "c", "a/b"), ("file", "c/{marker_rel}", "x")],
    # The same name twice: a link, then a file that would be written through it.
    [("link", "twice", "."), ("file", "twice", "x")],
    # A link whose `..` comes after a name.
    [("link", "a/l", "b/../.."), ("file", "z", "x")],
    # A link deeper than its own folder.
    [("link", "a/l", "../.."), ("file", "z", "x")],
], ids=["through-link", "link-after-file", "link-to-link", "duplicate", "dotdot-after-name",
        "too-deep"])
def test_variants_are_refused_and_write_nothing(api, marker, entries):
    filled = [(k, n.format(marker_rel=str(marker).lstrip("/"), marker_name=marker.name),
               c.format(marker_name=marker.name)) for k, n, c in entries]
    api.expect_create_refused("InvalidParameterValue.ZipFile", create_params(uniq("zv"), hostile_zip(filled)))
    assert_never_written(marker)


def test_links_that_stay_inside_still_deploy_and_run(eapi):
    api = eapi
    name = uniq("zok")
    z = hostile_zip([
        ("file", "lib/v1/helper.py", "def answer():\n    return 42\n"),
        ("link", "lib/current", "v1"),
        ("link", "helper.py", "lib/current/helper.py"),
    ])
    z2 = io.BytesIO(z)
    with zipfile.ZipFile(z2, "a") as zf:
        zf.writestr("main.py", "import helper\n\ndef main_handler(event, context):\n"
                               "    return helper.answer()\n")
    api.create_function(name, z2.getvalue(), Handler="main.main_handler")
    assert ok(invoke(api, name))["RetMsg"] == "42"


# ---------------------------------------------------------------------------------------------
# The account's share of the disk
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    from scfdtest import ACCOUNT_A, ACCOUNT_B, Server, make_config
    s = Server(tmp_path_factory.mktemp("scfd-acctcap"), make_config(limits={
        "unpacked_bytes": 200_000,
        "account_unpacked_bytes": 350_000,
    }))
    s.start()
    yield s.client(ACCOUNT_A), s.client(ACCOUNT_B)
    s.stop()


def package(tag: str, size: int = 150_000) -> bytes:
    """The same bytes for the same tag (fixed timestamps), so the same package twice is one.
    Zeros compress to almost nothing: the cap counts what the package unpacks to."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in (("index.py", HELLO_PY + f"# {tag}\n"), ("blob.bin", "\0" * size)):
            zf.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def test_an_account_cannot_take_more_disk_than_its_share(capped):
    a, b = capped
    first, second = uniq("cap"), uniq("cap")
    a.create_function(first, package("one"))
    # A second, different package would take the account to ~300 KB: still fits.
    a.create_function(second, package("two"))
    # A third does not, at CreateFunction...
    e = a.expect_create_refused("InvalidParameterValue.ZipFile", create_params(uniq("cap"), package("three")))
    assert "account_unpacked_bytes" in e.get_message(), e.get_message()
    # ...but the same package again costs nothing more (packages are stored once).
    a.create_function(uniq("cap"), package("one"))
    # Replacing a function's code frees what it replaces.
    a.call("UpdateFunctionCode", {"FunctionName": second, "ZipFile": b64(package("four"))})
    assert a.wait_status(second)["Status"] == "Active"
    # A published version keeps its package: replacing the code again no longer fits.
    a.call("PublishVersion", {"FunctionName": second})
    a.expect("InvalidParameterValue.ZipFile", "UpdateFunctionCode",
             {"FunctionName": second, "ZipFile": b64(package("five"))})
    # Another account's share is its own.
    b.create_function(uniq("capb"), package("b-one"))
    b.create_function(uniq("capb"), package("b-two"))
