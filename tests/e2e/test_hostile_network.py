"""A hostile tenant against the network (issue 10, point 3): functions that look at the host's
connections, call the server's own API and metrics on loopback, and reach for the host, through
the public API (the official SDK). The spoofed custom-runtime API is in test_hostile_sandbox.py
(section 9).

Each test's docstring says what happened before the defence (a network namespace per instance,
outbound through pasta): instances shared the host's network namespace. They need root, the
launcher (target/release/scf-sandbox), pasta (Debian's `passt`) and iproute2 (peerhost.py)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from invoketest import deploy, engine_config, invoke, ok, ret_json
from peerhost import peer_host
from scfdtest import ACCOUNT_A, ACCOUNT_B, REPO_ROOT, Server, exec_zip, uniq

SANDBOX = {"enabled": True, "network": "outbound", "uid": 65534, "gid": 65534}
WORK_ROOT = REPO_ROOT / "target" / "e2e-hostile"


@pytest.fixture(scope="module")
def sbx():
    work = WORK_ROOT / uniq("net")
    work.mkdir(parents=True)
    s = Server(work, engine_config(sandbox=SANDBOX))
    s.start()
    yield s
    s.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def spare_servers(request):
    started: list[Server] = []
    yield started
    rep = getattr(request.node, "rep_call", None)
    for s in started:
        if rep is not None and rep.failed:
            print(f"\n===== scfd log ({s.workdir}) =====\n{s.all_logs()[-4000:]}")
        s.stop()
        shutil.rmtree(s.workdir, ignore_errors=True)


def _new_server(started: list[Server], config: str) -> Server:
    work = WORK_ROOT / uniq("srv")
    work.mkdir(parents=True)
    s = Server(work, config)
    started.append(s)
    s.start()
    return s


def _primary_addresses() -> list[str]:
    """The addresses of the interface with the host's default route (the one pasta copies
    into every instance): IPv4 and IPv6, link-local ones with their interface."""
    dev = next((line.split()[0] for line in Path("/proc/net/route").read_text().splitlines()[1:]
                if line.split()[1] == "00000000"), None)
    if dev is None:
        return []
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", dev], capture_output=True, text=True).stdout
    addresses = [line.split()[3].split("/")[0] for line in out.splitlines()]
    for line in Path("/proc/net/if_inet6").read_text().splitlines():
        hexaddr, _, _, scope, _, ifname = line.split()
        if ifname == dev:
            addr = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexaddr))
            addresses.append(f"{addr}%{dev}" if scope == "20" else addr)
    return addresses


# A long-polling custom runtime: its connection to its API waits in /next between invocations.
ECHO_BOOTSTRAP = r'''#!/bin/bash
API="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT"
curl -s -d " " -X POST "$API/runtime/init/ready" >/dev/null
while true; do
  EVENT_DATA=$(curl -sS "$API/runtime/invocation/next")
  curl -s -X POST -d "$EVENT_DATA" "$API/runtime/invocation/response" >/dev/null
done
'''

TCP_TABLE_PY = r'''
def rows(path):
    out = []
    try:
        with open(path) as f:
            next(f)
            for line in f:
                c = line.split()
                (lip, lport), (rip, rport) = c[1].rsplit(":", 1), c[2].rsplit(":", 1)
                out.append({"state": c[3], "local": [lip, int(lport, 16)], "remote": [rip, int(rport, 16)]})
    except OSError as e:
        out.append({"error": type(e).__name__})
    return out

def main_handler(event, context):
    return {"tcp": rows("/proc/net/tcp"), "tcp6": rows("/proc/net/tcp6")}
'''


def test_proc_net_tcp_shows_nothing_of_the_host_or_other_instances(sbx):
    """Before: /proc/net/tcp is the host's: it lists the server's listening port, every
    custom-runtime API and its long-poll connection, and every connection of the host's
    loopback (here, one the test holds open)."""
    api_a, api_b = sbx.client(ACCOUNT_A), sbx.client(ACCOUNT_B)
    victim = deploy(api_a, exec_zip({"bootstrap": ECHO_BOOTSTRAP}), runtime="CustomRuntime", timeout=3)
    assert ret_json(ok(invoke(api_a, victim, {"n": 1}))) == {"n": 1}  # warm: its long poll is pending
    # A connection of the host's own loopback, held open during the look.
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    host_ports = {sbx.port, listener.getsockname()[1], client.getsockname()[1]}
    try:
        looker = deploy(api_b, TCP_TABLE_PY)
        seen = ret_json(ok(invoke(api_b, looker)))
    finally:
        for s in (conn, client, listener):
            s.close()
    rows = [r for r in seen["tcp"] + seen["tcp6"] if "error" not in r]
    ports = {r["local"][1] for r in rows} | {r["remote"][1] for r in rows}
    assert not ports & host_ports, f"the function sees the host's sockets {sorted(ports & host_ports)}: {rows}"
    assert 9001 not in ports, f"the function sees a custom runtime's API connections: {rows}"
    assert not rows, f"a Python function's own namespace has no TCP socket at all: {rows}"


API_DIAL_PY = r'''import socket
def dial(host, port, request):
    try:
        s = socket.create_connection((host, port), timeout=2)
    except OSError as e:
        return "!" + type(e).__name__
    try:
        s.sendall(request)
        return s.recv(200).decode("latin-1")
    except OSError as e:
        return "!" + type(e).__name__
    finally:
        s.close()

def main_handler(event, context):
    out = {}
    for host in event["hosts"]:
        for port in event["ports"]:
            for name, req in (("metrics", b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                              ("api", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")):
                out["%s:%d %s" % (host, port, name)] = dial(host, port, req)
    return out
'''


def test_server_api_and_metrics_are_out_of_reach(sbx):
    """Before: a function on the host's loopback reaches scfd's API (it answers, signed calls
    only) and GET /metrics, which lists every tenant's app ids, namespaces and function names."""
    api = sbx.client(ACCOUNT_B)
    name = deploy(api, API_DIAL_PY, timeout=20)
    seen = ret_json(ok(invoke(api, name, {"hosts": ["127.0.0.1", "localhost"], "ports": [sbx.port]})))
    reached = {k: v for k, v in seen.items() if not v.startswith("!")}
    assert not reached, f"the function reached the server on loopback: {reached}"
    assert all(v == "!ConnectionRefusedError" for v in seen.values()), seen


DIAL_PY = r'''import socket
def main_handler(event, context):
    out = {}
    for host, port in event["targets"]:
        try:
            s = socket.create_connection((host, port), timeout=event.get("timeout", 3))
            s.sendall(b"ping")
            out["%s %d" % (host, port)] = s.recv(10).decode()
            s.close()
        except OSError as e:
            out["%s %d" % (host, port)] = "!" + type(e).__name__
    return out
'''


class PongServer:
    """Answers "pong" to every connection on `sock`, counting them."""

    def __init__(self, sock: socket.socket):
        self.sock, self.accepted = sock, 0
        self.port = sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                c.recv(10)
                c.sendall(b"pong")
            finally:
                c.close()

    def close(self):
        self.sock.close()


def test_outbound_reaches_another_host_and_none_does_not(sbx, spare_servers):
    """With `network = "outbound"` (the default) a function connects out, here to a host of the
    tests' own (a namespace behind a veth pair, peerhost.py); with `network = "none"` it cannot.
    Before: `isolate_network = true` gave no network at all, and the default shared the host's."""
    peer = peer_host()
    pong = PongServer(peer.listen())
    try:
        api = sbx.client()
        name = deploy(api, DIAL_PY, timeout=10)
        target = {"targets": [[peer.addr, pong.port]]}
        seen = ret_json(ok(invoke(api, name, target)))
        assert seen == {f"{peer.addr} {pong.port}": "pong"}, f"no outbound network: {seen}"
        assert pong.accepted == 1
        closed = _new_server(spare_servers, engine_config(sandbox={**SANDBOX, "network": "none"}))
        api_none = closed.client()
        name_none = deploy(api_none, DIAL_PY, timeout=10)
        seen = ret_json(ok(invoke(api_none, name_none, target)))
        assert seen[f"{peer.addr} {pong.port}"].startswith("!"), f'network = "none" connected out: {seen}'
        assert pong.accepted == 1
    finally:
        pong.close()


# Dials the peer host while the module is imported, before any event.
IMPORT_DIAL_PY = r'''import os, socket
def dial():
    try:
        s = socket.create_connection((os.environ["PEER"], int(os.environ["PEER_PORT"])), timeout=3)
        s.sendall(b"ping")
        answer = s.recv(10).decode()
        s.close()
        return answer
    except OSError as e:
        return "!" + type(e).__name__
AT_IMPORT = dial()
def main_handler(event, context):
    return AT_IMPORT
'''

# Dials the peer host as its first line, before it even tells the API it is ready.
START_DIAL_BOOTSTRAP = r'''#!/bin/bash
if exec 3<>"/dev/tcp/$PEER/$PEER_PORT"; then printf ping >&3; AT_START=$(head -c 4 <&3); else AT_START=failed; fi
API="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT"
curl -s -d " " -X POST "$API/runtime/init/ready" >/dev/null
while true; do
  curl -sS "$API/runtime/invocation/next" >/dev/null
  curl -s -X POST -d "\"$AT_START\"" "$API/runtime/invocation/response" >/dev/null
done
'''


def test_outbound_is_up_before_the_functions_code_runs(sbx):
    """A cold start runs the function's own code (a Python module's import, a custom runtime's
    first line) only once its outbound network is up. Without the wait, pasta (about 20 ms to
    start) loses the race: the bootstrap's first connection fails with no route."""
    peer = peer_host()
    pong = PongServer(peer.listen())
    env = {"PEER": peer.addr, "PEER_PORT": str(pong.port)}
    try:
        api = sbx.client()
        py = deploy(api, IMPORT_DIAL_PY, env=env, timeout=10)
        assert ret_json(ok(invoke(api, py))) == "pong", "the module's import found no network"
        custom = deploy(api, exec_zip({"bootstrap": START_DIAL_BOOTSTRAP}), runtime="CustomRuntime",
                        env=env, timeout=10)
        assert ret_json(ok(invoke(api, custom))) == "pong", "the bootstrap's first line found no network"
    finally:
        pong.close()


def test_host_address_is_the_instances_own(sbx):
    """The instance holds the host's primary address itself: a connection to it stays in the
    instance's namespace and never reaches a service the host serves there, nor on the other
    addresses of that interface (IPv6 and link-local included: pasta carries IPv4 only). Before:
    the function reached the test's server on the host's address. (The host's other interfaces
    are reachable, as other machines are: docs/SECURITY.md.)"""
    addresses = _primary_addresses()
    if not addresses:
        pytest.skip("this machine has no default route, so no address an instance would copy")
    server = socket.socket(socket.AF_INET6)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("::", 0))
    server.listen(16)
    pong = PongServer(server)
    targets = [[a, pong.port] for a in addresses]
    try:
        api = sbx.client()
        name = deploy(api, DIAL_PY, timeout=30)
        seen = ret_json(ok(invoke(api, name, {"targets": targets, "timeout": 2})))
    finally:
        pong.close()
    reached = {k: v for k, v in seen.items() if not v.startswith("!")}
    assert not reached and pong.accepted == 0, (
        f"the function reached a service of the host through {reached or 'a connection'}: {seen}")


def _children(pid: int) -> dict[int, str]:
    """The direct children of `pid`: {pid: comm}."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            out[int(d.name)] = comm
    return out


def _pastas(server: Server) -> set[int]:
    return {p for p, comm in _children(server.proc.pid).items() if comm.startswith(("pasta", "passt"))}


def test_pasta_goes_with_its_instance_and_with_the_server(spare_servers):
    """Each instance's pasta is killed when the instance goes (it would otherwise keep the
    empty namespace alive), and dies with a server killed by SIGKILL."""
    s = _new_server(spare_servers, engine_config(sandbox=SANDBOX))
    api = s.client()
    name = deploy(api, "def main_handler(event, context):\n    return 1\n")
    ok(invoke(api, name))
    assert _pastas(s), f"no pasta below the server: {_children(s.proc.pid)}"
    api.call("DeleteFunction", {"FunctionName": name})  # drains its instances and spares
    deadline = time.monotonic() + 5
    while _pastas(s) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pastas(s), f"pasta outlived its instances: {_children(s.proc.pid)}"
    name = deploy(api, "def main_handler(event, context):\n    return 2\n")
    ok(invoke(api, name))
    left = _pastas(s)
    assert left
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    deadline = time.monotonic() + 5
    alive = left
    while alive and time.monotonic() < deadline:
        alive = {p for p in left if Path(f"/proc/{p}").exists()
                 and "Z" not in Path(f"/proc/{p}/stat").read_text().split(")")[-1].split()[0]}
        time.sleep(0.05)
    assert not alive, f"pasta {sorted(alive)} outlived the killed server"


def test_missing_pasta_stops_the_server():
    """With `network = "outbound"` and no pasta, scfd refuses to start and names the fixes
    (rather than starting instances without the network their functions expect); with
    `network = "none"` it starts without pasta."""
    from test_hostile_sandbox import _run_until_exit
    from scfdtest import scfd_bin

    work = WORK_ROOT / uniq("nopasta")
    work.mkdir(parents=True)
    try:
        missing = {**SANDBOX, "pasta": "/nonexistent/pasta"}
        rc, log = _run_until_exit(scfd_bin(), work / "outbound", engine_config(sandbox=missing))
        assert rc is not None and rc != 0, f"scfd started without pasta (exit code {rc}); log:\n{log[-2000:]}"
        assert 'network = \\"none\\"' in log or 'network = "none"' in log, log[-2000:]
        assert "passt" in log, log[-2000:]
        rc, log = _run_until_exit(scfd_bin(), work / "none", engine_config(sandbox={**missing, "network": "none"}))
        assert rc is None, f'with network = "none" scfd must start without pasta (exit code {rc}); log:\n{log[-2000:]}'
    finally:
        shutil.rmtree(work, ignore_errors=True)
