"""The sandbox: functions run as uid 65534 with their code read-only at /var/user, a private
/tmp, no view of the server's data dir or other functions' code, and at most 1024 processes.

These tests need the launcher (target/release/scf-sandbox). Without it the server runs
functions unsandboxed and these tests must FAIL, not skip."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from invoketest import deploy, engine_config, invoke, ok, ret_json
from scfdtest import REPO_ROOT, Server, exec_zip, scfd_bin, uniq

PROBE_PY = '''import json, os
def main_handler(event, context):
    out = {"uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(), "file": os.path.abspath(__file__),
           "cwd_listing": sorted(os.listdir("/var/user"))}
    try:
        with open("/var/user/new-file.txt", "w") as f:
            f.write("x")
        out["write_code"] = "written"
    except OSError as e:
        out["write_code"] = type(e).__name__
    try:
        with open("/var/user/index.py", "a") as f:
            f.write("# tampered")
        out["append_code"] = "written"
    except OSError as e:
        out["append_code"] = type(e).__name__
    with open("/tmp/probe.txt", "w") as f:
        f.write("tmp ok")
    out["tmp"] = open("/tmp/probe.txt").read()
    st = os.statvfs("/tmp")
    out["tmp_bytes"] = st.f_blocks * st.f_frsize
    return out
'''

SNOOP_PY = '''import os
def try_list(p):
    try:
        return sorted(os.listdir(p))
    except OSError as e:
        return type(e).__name__
def try_read(p):
    try:
        with open(p, "rb") as f:
            return f.read(200).decode("latin-1")
    except OSError as e:
        return type(e).__name__
def main_handler(event, context):
    out = {"list": {p: try_list(p) for p in event.get("list", [])},
           "read": {p: try_read(p) for p in event.get("read", [])}}
    if event.get("write_tmp"):
        with open("/tmp/" + event["write_tmp"], "w") as f:
            f.write("secret")
    out["tmp"] = sorted(os.listdir("/tmp"))
    return out
'''

FORK_PY = '''import os, time
def main_handler(event, context):
    kids, err = 0, None
    for _ in range(1500):
        try:
            pid = os.fork()
        except OSError as e:
            err = type(e).__name__
            break
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        kids += 1
    return {"kids": kids, "err": err}
'''


def _sandbox_active(server) -> bool:
    return "sandbox active" in server.log()


@pytest.fixture(scope="module")
def sbx():
    # Not under /tmp: a function's private /tmp would hide a data dir there for the wrong reason.
    work = REPO_ROOT / "target" / "e2e-sandbox" / uniq("run")
    work.mkdir(parents=True)
    s = Server(work, engine_config(sandbox={"enabled": True, "network": "outbound", "uid": 65534,
                                            "gid": 65534, "tmp_size": "512m"}))
    s.start()
    yield s
    s.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_launcher_is_built():
    launcher = Path(scfd_bin()).parent / "scf-sandbox"
    assert launcher.exists(), f"{launcher} missing: build it with cargo build --release -p scfd"
    assert os.access(launcher, os.X_OK)


def test_startup_reports_sandbox(sbx):
    log = sbx.log()
    assert "sandbox active" in log, f"scfd did not report an active sandbox at start-up; log:\n{log[-3000:]}"


def test_identity_code_and_tmp(sbx):
    api = sbx.client()
    name = deploy(api, PROBE_PY, memory=128)
    out = ret_json(ok(invoke(api, name)))
    assert out["uid"] == 65534 and out["euid"] == 65534 and out["gid"] == 65534, out
    assert out["file"] == "/var/user/index.py", out
    assert out["cwd_listing"] == ["index.py"], out
    assert out["write_code"] in ("OSError", "PermissionError"), f"/var/user must be read-only: {out}"
    assert out["append_code"] in ("OSError", "PermissionError"), f"/var/user must be read-only: {out}"
    assert out["tmp"] == "tmp ok"
    assert 400 << 20 <= out["tmp_bytes"] <= 600 << 20, f"/tmp should be a 512 MB private mount: {out}"
    # the function's code is intact for the next call
    assert ret_json(ok(invoke(api, name)))["append_code"] in ("OSError", "PermissionError")


def test_cannot_see_data_dir_or_other_functions(sbx):
    api = sbx.client()
    marker = uniq("secret")
    victim = deploy(api, f"SECRET = {marker!r}\ndef main_handler(event, context):\n    return SECRET\n")
    assert ok(invoke(api, victim))["RetMsg"] == json.dumps(marker)
    # find where the server keeps the victim's code (as the test, outside the sandbox)
    data_dir = sbx.data_dir.resolve()
    victim_files = [p for p in data_dir.rglob("*") if p.is_file() and p.stat().st_size < (8 << 20)
                    and marker.encode() in p.read_bytes()]
    snoop = deploy(api, SNOOP_PY)
    paths_list = [str(data_dir)] + [str(p.parent) for p in victim_files]
    paths_read = [str(sbx.config_path)] + [str(p) for p in victim_files] + [
        str(p) for p in data_dir.iterdir() if p.is_file()][:5]
    out = ret_json(ok(invoke(api, snoop, {"list": paths_list, "read": paths_read})))
    problems = [f"function could list {p}: {v}" for p, v in out["list"].items()
                if v not in ("PermissionError", "FileNotFoundError")]
    problems += [f"function could read {p}: {v[:80]!r}" for p, v in out["read"].items()
                 if v not in ("PermissionError", "FileNotFoundError")]
    assert not problems, "\n".join(problems)
    assert "e2eSecretKeyA" not in json.dumps(out)


def test_tmp_is_private_per_function(sbx):
    api = sbx.client()
    a = deploy(api, SNOOP_PY)
    b = deploy(api, SNOOP_PY)
    secret = uniq("tmpfile")
    out_a = ret_json(ok(invoke(api, a, {"write_tmp": secret})))
    assert secret in out_a["tmp"]
    out_b = ret_json(ok(invoke(api, b, {})))
    assert secret not in out_b["tmp"], "another function's /tmp must not be visible"


def test_memory_limit_enforced(sbx):
    api = sbx.client()
    name = deploy(api, "def main_handler(event, context):\n    b = bytearray(400 << 20)\n    return len(b)\n",
                  memory=128, timeout=10)
    r = invoke(api, name)
    assert r["InvokeResult"] == -1 and "Memory limit exceeded" in r["ErrMsg"], r


def test_fork_bomb_is_capped(sbx):
    assert _sandbox_active(sbx), "refusing to run a process bomb without an active sandbox"
    api = sbx.client()
    bomb = deploy(api, FORK_PY, timeout=10)
    r = invoke(api, bomb, log=False)
    if r["InvokeResult"] == 0:
        out = ret_json(r)
        assert out["err"] is not None and out["kids"] < 1024, f"1024-process cap not enforced: {out}"
    # the server carries on, and other functions still run
    other = deploy(api, "def main_handler(event, context):\n    return 'alive'\n")
    assert ok(invoke(api, other))["RetMsg"] == '"alive"'
    assert api.call("ListFunctions")["TotalCount"] >= 2


API_PROBE_PY = r'''
import http.client

def listening_loopback_ports():
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            ip, port = cols[1].split(":")
            if cols[3] == "0A" and ip == "0100007F":
                ports.add(int(port, 16))
    return sorted(ports)

def main_handler(event, context):
    seen = {}
    # every listener it can see, and SCF's runtime API port
    for port in sorted(set(listening_loopback_ports()) | {9001}):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
            c.request("GET", "/runtime/invocation/next")
            seen[str(port)] = c.getresponse().status
        except Exception as e:
            seen[str(port)] = type(e).__name__
    return seen
'''


def test_functions_cannot_use_another_instances_runtime_api(sbx):
    """Every custom-runtime instance's API listens on the loopback of its own network
    namespace: another function finds none to probe (not even at SCF's port 9001), let alone
    an event. (On a shared loopback it found them all and got 403 from each.)"""
    api = sbx.client()
    bootstrap = (
        "#!/bin/bash\n"
        "API=http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT\n"
        "curl -s -d ' ' -X POST $API/runtime/init/ready >/dev/null\n"
        "while true; do EV=$(curl -s $API/runtime/invocation/next); "
        "curl -s -X POST -d \"$EV\" $API/runtime/invocation/response >/dev/null; done\n"
    )
    victim = deploy(api, exec_zip({"bootstrap": bootstrap}), runtime="CustomRuntime")
    first = ok(invoke(api, victim, {"secret": 1}))  # warm now: its API is listening
    assert ret_json(first) == {"secret": 1}
    prober = deploy(api, API_PROBE_PY, runtime="Python3.11", timeout=30)
    seen = ret_json(ok(invoke(api, prober)))
    assert 200 not in seen.values(), f"a runtime API answered a stranger: {seen}"
    assert seen == {"9001": "ConnectionRefusedError"}, f"the prober reached a listener: {seen}"
    # The victim still serves its own invocations.
    again = ok(invoke(api, victim, {"secret": 2}))
    assert ret_json(again) == {"secret": 2}
