"""The wall clock jumps under a running scfd (issue 11, point 3): libfaketime (Debian's
`faketime`) moves the server's CLOCK_REALTIME while its monotonic clock runs on.

Before (main at 37d183c): +73 h purged the whole request history for good; +2 h marked a live
request failed ("lost"); -1 h held a pending async retry back for the hour. Now schedules run
on the steady clock and ages on the settled one (crates/scf-core/src/clock.rs)."""

from __future__ import annotations

import datetime as _dt
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from invoketest import deploy, engine_config, fmt, invoke, invoke_async, ok, status_record, wait_final
from scfdtest import ACCOUNT_A, Server

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
BEIJING = _dt.timezone(_dt.timedelta(hours=8))

pytestmark = pytest.mark.skipif(not LIBFAKETIME.exists(),
                                reason="libfaketime missing (.ci/run installs Debian's faketime)")


class _ShiftedTime:
    """`time` as the SDK sees it: the host's clock moved with the server's (one machine)."""

    def __init__(self):
        self.offset = 0

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name):
        return getattr(time, name)


class FakeClock:
    """The offset libfaketime applies to the server's wall clock, changed while it runs; the
    SDK signs with the same moved clock, as a client on that host would."""

    def __init__(self, path: Path, sdk_time: _ShiftedTime):
        self.path = path
        self.sdk_time = sdk_time
        self.set(0)

    def set(self, seconds: int) -> None:
        self.sdk_time.offset = seconds
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{seconds:+d}\n")
        tmp.replace(self.path)
        # libfaketime re-reads the file at most once a second (FAKETIME_CACHE_DURATION).
        time.sleep(1.5)


@pytest.fixture
def jumpy(tmp_path, monkeypatch):
    from tencentcloud.common import abstract_client
    sdk_time = _ShiftedTime()
    monkeypatch.setattr(abstract_client, "time", sdk_time)
    offset = tmp_path / "faketime"
    clock = FakeClock(offset, sdk_time)
    env = {
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_CACHE_DURATION": "1",
        # Only the wall clock jumps: tokio's timers and Instant stay real.
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    s = Server(tmp_path / "srv", engine_config(async_={
        "retry_interval_secs": 3, "purge_interval_secs": 1, "retention_hours": 1,
    }), env=env)
    s.start()
    yield s, clock
    s.stop()


def window(api, name, rid, start: _dt.datetime):
    """The record, looked up in a window around when the test began (real time)."""
    return status_record(api, name, rid, StartTime=fmt(start - _dt.timedelta(minutes=1)),
                         EndTime=fmt(start + _dt.timedelta(minutes=10)))


def logged(api, name, start: _dt.datetime) -> list[dict]:
    """The function's requests (GetFunctionLogs) in a window around when the test began."""
    r = api.call("GetFunctionLogs", {
        "FunctionName": name, "StartTime": fmt(start - _dt.timedelta(minutes=1)),
        "EndTime": fmt(start + _dt.timedelta(minutes=10))})
    return r["Data"]


def bj(t: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, BEIJING).replace(tzinfo=None)


def test_a_forward_jump_purges_nothing_younger_than_the_retention(jumpy):
    server, clock = jumpy
    api = server.client(ACCOUNT_A)
    began = bj(time.time())
    name = deploy(api, "def main_handler(event, context):\n    return 'ok'\n")
    rids = [ok(invoke(api, name))["FunctionRequestId"] for _ in range(3)]
    clock.set(73 * 3600)
    time.sleep(3)  # three purge rounds at 1 s
    for rid in rids:
        rec = window(api, name, rid, began)
        assert rec is not None and rec["RetCode"] == 0, (rid, rec)


def test_a_forward_jump_does_not_fail_a_live_request(jumpy):
    server, clock = jumpy
    api = server.client(ACCOUNT_A)
    began = bj(time.time())
    name = deploy(api, "import time\n\ndef main_handler(event, context):\n"
                       "    time.sleep(6)\n    return 'slept'\n", timeout=30)
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(invoke(api, name, log=False)))
    t.start()
    time.sleep(0.5)
    clock.set(2 * 3600)
    time.sleep(1.5)  # purge rounds at 1 s, each looking for requests whose node is gone
    assert t.is_alive(), "the function sleeps 6 s"
    live = logged(api, name, began)
    # GetFunctionLogs says 2 for a request still running (1 would be a failure).
    assert len(live) == 1 and live[0]["RetCode"] == 2, live
    # This node answers from its memory while the request runs; the store is what another node
    # (and this one after a restart) reads. It must not say failed either.
    with sqlite3.connect(f"file:{server.data_dir / 'scfd.db'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT ret_code FROM requests WHERE request_id = ?",
                         (live[0]["RequestId"],)).fetchone()
    assert row == (1,), f"the store says {row} for a request still running"
    t.join(timeout=60)
    assert ok(result)["RetMsg"] == '"slept"', result
    rec = window(api, name, result["FunctionRequestId"], began)
    assert rec is not None and rec["RetCode"] == 0, rec


def test_a_backward_jump_does_not_hold_back_an_async_retry(jumpy):
    server, clock = jumpy
    api = server.client(ACCOUNT_A)
    began = bj(time.time())
    name = deploy(api, "def main_handler(event, context):\n    raise Exception('always')\n")
    api.call("UpdateFunctionEventInvokeConfig", {
        "FunctionName": name,
        "AsyncTriggerConfig": {"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 21600}})
    rid = invoke_async(api, name)
    # The first run fails at once; its retry is due 3 s later. Set the clock back meanwhile.
    time.sleep(0.3)
    clock.set(-3600)
    rec = wait_final(api, name, rid, timeout=30, StartTime=fmt(began - _dt.timedelta(minutes=1)),
                     EndTime=fmt(began + _dt.timedelta(minutes=10)))
    assert rec["RetCode"] == -1 and rec["RetryNum"] == 1, rec
