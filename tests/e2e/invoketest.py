"""Helpers for the invocation part of the e2e suite (Invoke, async events, request records,
versions, sandbox). Builds on scfdtest: same Server, SDK wrapper and zip builders."""

from __future__ import annotations

import datetime as _dt
import http.server
import json
import re
import threading
import time
import uuid
from collections import Counter
from typing import Any, Iterable

import pytest
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from peerhost import peer_host
from scfdtest import ACCOUNT_A, ACCOUNT_B, Account, Api, make_config, make_zip, uniq

# The documented per-action rates (GetRequestStatus 20/s, ...) would throttle the polling the
# tests do; every engine server lifts them unless a test asks otherwise.
UNLIMITED_RATES = {
    "GetRequestStatus": 0,
    "GetAsyncEventStatus": 0,
    "ListAsyncEvents": 0,
    "Invoke": 0,
    "InvokeFunction": 0,
}

ASYNC_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$")
BEIJING = _dt.timezone(_dt.timedelta(hours=8))


def engine_config(
    accounts: Iterable[Account] = (ACCOUNT_A, ACCOUNT_B),
    engine: dict | None = None,
    sandbox: dict | None = None,
    async_: dict | None = None,
    rate_limits: dict | None = None,
    **kw: Any,
) -> str:
    rl = dict(UNLIMITED_RATES)
    if rate_limits is not None:
        rl = rate_limits
    sections = {
        "engine": {"keep_alive_secs": 300, "max_instances": 64, **(engine or {})},
        "async": {"retry_interval_secs": 1, **(async_ or {})},
    }
    if sandbox is not None:
        sections["sandbox"] = sandbox
    return make_config(accounts=accounts, rate_limits=rl, sections=sections, **kw)


# --------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------

def py_zip(code: str, **more: str) -> bytes:
    files = {"index.py": code}
    files.update(more)
    return make_zip(files)


def deploy(api: Api, code: str | bytes, *, name: str | None = None, runtime: str = "Python3.9",
           handler: str = "index.main_handler", namespace: str | None = None,
           env: dict[str, str] | None = None, memory: int | None = None, timeout: int | None = None,
           filename: str | None = None, **extra: Any) -> str:
    """Create a function from `code` (the text of index.py/index.js, or a whole zip) and wait
    until it is Active. Returns its name."""
    name = name or uniq("f")
    if isinstance(code, bytes):
        z = code
    else:
        fname = filename or ("index.js" if runtime.startswith("Nodejs") else "index.py")
        z = make_zip({fname: code})
    p: dict[str, Any] = dict(extra)
    p["Runtime"] = runtime
    p["Handler"] = handler
    if env:
        p["Environment"] = {"Variables": [{"Key": k, "Value": v} for k, v in env.items()]}
    if memory is not None:
        p["MemorySize"] = memory
    if timeout is not None:
        p["Timeout"] = timeout
    api.create_function(name, z, namespace=namespace, **p)
    return name


def invoke(api: Api, name: str, event: Any = None, *, raw_context: str | None = None,
           log: bool = True, namespace: str | None = None, qualifier: str | None = None,
           invocation_type: str | None = None) -> dict:
    """Invoke (the SDK's ScfClient.Invoke); returns Result."""
    p: dict[str, Any] = {"FunctionName": name}
    if raw_context is not None:
        p["ClientContext"] = raw_context
    elif event is not None:
        p["ClientContext"] = json.dumps(event)
    if log:
        p["LogType"] = "Tail"
    if namespace:
        p["Namespace"] = namespace
    if qualifier:
        p["Qualifier"] = qualifier
    if invocation_type:
        p["InvocationType"] = invocation_type
    return api.call("Invoke", p)["Result"]


def invoke_async(api: Api, name: str, event: Any = None, **kw: Any) -> str:
    r = invoke(api, name, event, log=False, invocation_type="Event", **kw)
    rid = r["FunctionRequestId"]
    assert is_uuid(rid), r
    return rid


def invoke_fn(api: Api, name: str, event: Any = None, **kw: Any) -> dict:
    """InvokeFunction; returns Result."""
    p: dict[str, Any] = {"FunctionName": name}
    if event is not None:
        p["Event"] = json.dumps(event)
    p.update(kw)
    return api.call("InvokeFunction", p)["Result"]


def is_uuid(s: Any) -> bool:
    try:
        uuid.UUID(str(s))
        return len(str(s)) == 36
    except ValueError:
        return False


def ok(result: dict) -> dict:
    assert result["InvokeResult"] == 0, f"invocation failed: {result}"
    assert result["ErrMsg"] in ("", None), result
    return result


def failed(result: dict) -> dict:
    assert result["InvokeResult"] == -1, f"invocation should have failed: {result}"
    assert result["ErrMsg"], f"failed invocation with empty ErrMsg: {result}"
    return result


def ret_json(result: dict) -> Any:
    return json.loads(result["RetMsg"])


# --------------------------------------------------------------------------------------
# Request records
# --------------------------------------------------------------------------------------

def request_status(api: Api, name: str, rid: str, **kw: Any) -> dict:
    p = {"FunctionName": name, "FunctionRequestId": rid}
    p.update(kw)
    return api.call("GetRequestStatus", p)


def status_record(api: Api, name: str, rid: str, **kw: Any) -> dict | None:
    r = request_status(api, name, rid, **kw)
    if r["TotalCount"] == 0:
        return None
    assert r["TotalCount"] == 1 and len(r["Data"]) == 1, r
    return r["Data"][0]


def wait_final(api: Api, name: str, rid: str, timeout: float = 15.0, **kw: Any) -> dict:
    """Poll GetRequestStatus until the record's RetCode is no longer 1 (running)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = status_record(api, name, rid, **kw)
        if last is not None and last["RetCode"] != 1:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"request {rid} of {name} not final within {timeout}s; last record {last}")
        time.sleep(0.1)


def async_status(api: Api, rid: str) -> dict:
    return api.call("GetAsyncEventStatus", InvokeRequestId=rid)["Result"]


def wait_async_status(api: Api, rid: str, want: Iterable[str], timeout: float = 15.0) -> dict:
    want = set(want)
    deadline = time.monotonic() + timeout
    while True:
        r = async_status(api, rid)
        if r["Status"] in want:
            return r
        if time.monotonic() > deadline:
            pytest.fail(f"async event {rid} is {r['Status']}, wanted {want} within {timeout}s")
        time.sleep(0.1)


def code_of(fn) -> str:
    try:
        fn()
    except TencentCloudSDKException as e:
        return e.get_code()
    return "ok"


# --------------------------------------------------------------------------------------
# Time (SCF's strings are Beijing time)
# --------------------------------------------------------------------------------------

def bj_now() -> _dt.datetime:
    return _dt.datetime.now(BEIJING).replace(tzinfo=None)


def fmt(t: _dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def parse_bj(s: str) -> _dt.datetime:
    return _dt.datetime.strptime(s[:19], "%Y-%m-%d %H:%M:%S")


# --------------------------------------------------------------------------------------
# A side channel: functions report to this HTTP server (the sandbox keeps the network)
# --------------------------------------------------------------------------------------

class HitServer:
    """Counts GET /<key> requests by key; GET /count/<key> answers the count so far. Functions
    call it with urllib to prove they ran (and how often). It listens on the peer host
    (peerhost.py): a sandboxed function reaches neither the host's loopback nor its address,
    only the outside. `addr` is its "ip:port"."""

    def __init__(self):
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                key = self.path.lstrip("/")
                with outer.lock:
                    if key.startswith("count/"):  # read a counter without counting
                        body = str(outer.hits[key[len("count/"):]]).encode()
                    else:
                        outer.hits[key] += 1
                        body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):  # quiet
                pass

        peer = peer_host()
        self.httpd = http.server.ThreadingHTTPServer((peer.addr, 0), H, bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = peer.listen()
        self.httpd.server_address = self.httpd.socket.getsockname()
        self.addr = "%s:%d" % self.httpd.server_address
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, key: str) -> int:
        with self.lock:
            return self.hits[key]

    def wait(self, key: str, n: int = 1, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count(key) < n:
            if time.monotonic() > deadline:
                pytest.fail(f"hit {key!r} seen {self.count(key)} times, wanted {n} within {timeout}s")
            time.sleep(0.05)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# Python snippet a function uses to report: hit(addr, key), addr = HitServer.addr
HIT_PY = '''
import urllib.request
def hit(addr, key):
    urllib.request.urlopen("http://%s/%s" % (addr, key), timeout=5).read()
def hits_so_far(addr, key):
    return int(urllib.request.urlopen("http://%s/count/%s" % (addr, key), timeout=5).read())
'''
