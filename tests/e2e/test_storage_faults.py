"""The data dir fails under scfd (issue 11, point 4): a lost or damaged database, a full disk.

Before (main at 2769774): a zero-length `scfd.db` beside existing packages started empty
without a word (every function gone); a damaged file stopped scfd with
`InternalError.System: Internal error` and no path."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from scfdtest import ACCOUNT_A, Server, b64, free_port, make_config, scfd_bin, uniq


def run_serve(server: Server, *extra: str, timeout: float = 10) -> subprocess.CompletedProcess:
    """`scfd serve` on the server's data dir, expected to exit by itself."""
    return subprocess.run(
        [str(scfd_bin()), "serve", "--listen", f"127.0.0.1:{free_port()}",
         "--data-dir", str(server.data_dir), "--config", str(server.config_path), *extra],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture
def stopped_with_a_function(tmp_path):
    s = Server(tmp_path / "srv", make_config())
    s.start()
    name = uniq("kept")
    s.client(ACCOUNT_A).create_function(name)
    s.stop()
    yield s, name
    s.stop()


def _lose_database(data_dir: Path) -> None:
    for suffix in ("-wal", "-shm"):
        (data_dir / f"scfd.db{suffix}").unlink(missing_ok=True)
    (data_dir / "scfd.db").write_bytes(b"")


def test_an_empty_database_beside_packages_is_refused_unless_asked_for(stopped_with_a_function):
    server, name = stopped_with_a_function
    _lose_database(server.data_dir)
    out = run_serve(server)
    assert out.returncode != 0, out
    said = out.stdout + out.stderr
    assert "lost or truncated" in said and "--accept-empty-database" in said, said
    assert str(server.data_dir / "scfd.db") in said, said
    # Asked for: it starts, empty, and the package is still on disk.
    proc = subprocess.Popen(
        [str(scfd_bin()), "serve", "--listen", f"127.0.0.1:{free_port()}",
         "--data-dir", str(server.data_dir), "--config", str(server.config_path),
         "--accept-empty-database"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            if "scfd is listening" in line:
                break
        assert proc.poll() is None, "scfd --accept-empty-database did not start"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert list((server.data_dir / "packages").glob("*.zip"))


def test_a_damaged_database_stops_scfd_with_its_path_and_the_way_back(stopped_with_a_function):
    server, _ = stopped_with_a_function
    for suffix in ("-wal", "-shm"):
        (server.data_dir / f"scfd.db{suffix}").unlink(missing_ok=True)
    (server.data_dir / "scfd.db").write_bytes(b"\x5a" * 8192)
    out = run_serve(server)
    assert out.returncode != 0, out
    said = out.stdout + out.stderr
    assert str(server.data_dir / "scfd.db") in said, said
    assert "not a database" in said, said
    assert ".recover" in said, said
    assert "Internal error" not in said, said


@pytest.fixture
def small_disk(tmp_path):
    """A data dir on a 4 MB tmpfs (the suite runs as root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    s = Server(mnt / "srv", make_config())
    try:
        yield s, mnt
    finally:
        s.stop()
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _incompressible_zip(size: int) -> bytes:
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("index.py", "def main_handler(event, context):\n    return 1\n")
        zf.writestr("blob.bin", os.urandom(size))
    return buf.getvalue()


def test_a_full_disk_gives_a_clear_error_and_recovers_when_space_returns(small_disk):
    server, mnt = small_disk
    server.start()
    api = server.client(ACCOUNT_A)
    filler = mnt / "filler"
    # Leave less room than the package needs.
    free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
    filler.write_bytes(b"\0" * max(free - 600_000, 0))
    name = uniq("full")
    params = {"FunctionName": name, "Code": {"ZipFile": b64(_incompressible_zip(1_000_000))},
              "Handler": "index.main_handler", "Runtime": "Python3.9"}
    e = api.err("CreateFunction", params)
    assert e.get_code() == "FailedOperation.InsufficientResources", (e.get_code(), e.get_message())
    assert "space" in e.get_message().lower(), e.get_message()
    # Nothing half-made is left behind, and the server still answers.
    assert name not in api.function_names()
    filler.unlink()
    api.call("CreateFunction", params)
    assert api.wait_status(name)["Status"] == "Active"
