"""Async invocations (InvocationType Event): durable acceptance, retries per the event-invoke
config, GetAsyncEventStatus, ListAsyncEvents, TerminateAsyncEvent, and kill -9 recovery.

Functions report each run to a HitServer (tests/e2e/invoketest.py) over loopback HTTP, so the
tests can count runs exactly."""

from __future__ import annotations

import datetime as _dt
import json
import threading
import time
import uuid

import pytest
import requests

from invoketest import (
    ASYNC_TIME_RE,
    HIT_PY,
    async_status,
    bj_now,
    deploy,
    engine_config,
    fmt,
    invoke,
    invoke_async,
    status_record,
    wait_async_status,
    wait_final,
)

RUN_PY = HIT_PY + '''
import time
def main_handler(event, context):
    hit(event["hits"], "start/" + event["tag"])
    hit(event["hits"], "rid/" + context["request_id"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    hit(event["hits"], "end/" + event["tag"])
    if event.get("fail"):
        raise Exception("async failure " + event["tag"])
    return {"done": event["tag"]}
'''

def ev(hits, tag=None, **kw):
    d = {"hits": hits.addr, "tag": tag or uuid.uuid4().hex[:12]}
    d.update(kw)
    return d


def set_retry(api, name, retry_num, ttl=21600):
    api.call("UpdateFunctionEventInvokeConfig", FunctionName=name,
             AsyncTriggerConfig={"RetryConfig": [{"RetryNum": retry_num}], "MsgTTL": ttl})


def test_async_invoke_runs(eapi, hits):
    name = deploy(eapi, RUN_PY)
    e = ev(hits)
    r = invoke(eapi, name, e, log=False, invocation_type="Event")
    rid = r["FunctionRequestId"]
    assert len(rid) == 36
    assert r["RetMsg"] in ("", None) and r["Log"] in ("", None) and r["ErrMsg"] in ("", None), r
    assert not r["Duration"] and not r["BillDuration"] and not r["MemUsage"], r
    rec = wait_final(eapi, name, rid)
    assert rec["RetCode"] == 0 and rec["RetMsg"] == '{"done": "%s"}' % e["tag"], rec
    assert rec["RetryNum"] == 0
    assert hits.count("start/" + e["tag"]) == 1
    assert hits.count("rid/" + rid) == 1, "context.request_id of an async run is its FunctionRequestId"
    s = async_status(eapi, rid)
    assert s["Status"] == "FINISHED" and s["InvokeRequestId"] == rid, s
    assert isinstance(s["StatusCode"], int)


def test_async_is_not_blocked_by_slow_function(eapi, hits):
    name = deploy(eapi, RUN_PY, timeout=10)
    t0 = time.monotonic()
    rid = invoke_async(eapi, name, ev(hits, sleep=2))
    assert time.monotonic() - t0 < 1.0, "async Invoke must answer once the request is stored, not after the run"
    assert async_status(eapi, rid)["Status"] == "RUNNING"
    assert wait_async_status(eapi, rid, {"FINISHED"})["Status"] == "FINISHED"


def test_async_status_unknown(eapi):
    eapi.expect("ResourceNotFound.AsyncEvent", "GetAsyncEventStatus", InvokeRequestId=str(uuid.uuid4()))


def test_async_retries_until_exhausted(eapi, hits):
    name = deploy(eapi, RUN_PY)
    set_retry(eapi, name, 2)
    e = ev(hits, fail=True)
    t0 = time.monotonic()
    rid = invoke_async(eapi, name, e)
    rec = wait_final(eapi, name, rid, timeout=20)
    took = time.monotonic() - t0
    assert rec["RetCode"] == -1, rec
    assert rec["RetryNum"] == 2, rec
    assert "async failure" in rec["RetMsg"], rec
    assert hits.count("start/" + e["tag"]) == 3, "RetryNum 2 = 3 runs in all"
    assert took >= 1.8, f"retry_interval_secs = 1 between runs; all three took {took:.2f}s"
    assert async_status(eapi, rid)["Status"] == "FAILED"
    time.sleep(1.5)
    assert hits.count("start/" + e["tag"]) == 3, "no run after the last retry"


def test_async_no_retry(eapi, hits):
    name = deploy(eapi, RUN_PY)
    set_retry(eapi, name, 0)
    e = ev(hits, fail=True)
    rid = invoke_async(eapi, name, e)
    rec = wait_final(eapi, name, rid)
    assert rec["RetCode"] == -1 and rec["RetryNum"] == 0, rec
    time.sleep(1.5)
    assert hits.count("start/" + e["tag"]) == 1


def test_async_retry_then_success(eapi, hits):
    code = HIT_PY + '''
def main_handler(event, context):
    hit(event["hits"], "start/" + event["tag"])
    if hits_so_far(event["hits"], "start/" + event["tag"]) == 1:
        raise Exception("first run fails")
    return "second run ok"
'''
    name = deploy(eapi, code)
    set_retry(eapi, name, 2)
    e = ev(hits)
    rid = invoke_async(eapi, name, e)
    rec = wait_final(eapi, name, rid, timeout=15)
    assert rec["RetCode"] == 0 and rec["RetMsg"] == '"second run ok"', rec
    assert rec["RetryNum"] == 1, rec
    assert hits.count("start/" + e["tag"]) == 2


def test_sync_failures_are_not_retried(eapi, hits):
    name = deploy(eapi, RUN_PY)
    e = ev(hits, fail=True)
    r = invoke(eapi, name, e)
    assert r["InvokeResult"] == -1
    time.sleep(1.5)
    assert hits.count("start/" + e["tag"]) == 1


def test_event_invoke_config(eapi):
    name = deploy(eapi, RUN_PY)
    cfg = eapi.call("GetFunctionEventInvokeConfig", FunctionName=name)["AsyncTriggerConfig"]
    assert cfg == {"RetryConfig": [{"RetryNum": 2}], "MsgTTL": 21600}, cfg
    set_retry(eapi, name, 1, ttl=600)
    cfg = eapi.call("GetFunctionEventInvokeConfig", FunctionName=name)["AsyncTriggerConfig"]
    assert cfg == {"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 600}, cfg
    set_retry(eapi, name, 0, ttl=60)
    assert eapi.call("GetFunctionEventInvokeConfig", FunctionName=name)["AsyncTriggerConfig"] == {
        "RetryConfig": [{"RetryNum": 0}], "MsgTTL": 60}
    eapi.expect("LimitExceeded.RetryNum", "UpdateFunctionEventInvokeConfig", FunctionName=name,
                AsyncTriggerConfig={"RetryConfig": [{"RetryNum": 3}], "MsgTTL": 600})
    eapi.expect("LimitExceeded.MsgTTL", "UpdateFunctionEventInvokeConfig", FunctionName=name,
                AsyncTriggerConfig={"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 10})
    eapi.expect("LimitExceeded.MsgTTL", "UpdateFunctionEventInvokeConfig", FunctionName=name,
                AsyncTriggerConfig={"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 21601})
    # refused updates changed nothing
    assert eapi.call("GetFunctionEventInvokeConfig", FunctionName=name)["AsyncTriggerConfig"] == {
        "RetryConfig": [{"RetryNum": 0}], "MsgTTL": 60}
    eapi.expect("ResourceNotFound.Function", "GetFunctionEventInvokeConfig", FunctionName="no-such-fn")
    eapi.expect("ResourceNotFound.Function", "UpdateFunctionEventInvokeConfig", FunctionName="no-such-fn",
                AsyncTriggerConfig={"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 600})
    out = eapi.call("GetFunctionEventInvokeConfig", FunctionName=name)
    assert out["AsyncTriggerConfig"]["MsgTTL"] == 60


# --------------------------------------------------------------------------------------
# ListAsyncEvents
# --------------------------------------------------------------------------------------

def test_list_async_events(eapi, hits):
    name = deploy(eapi, RUN_PY, timeout=10)
    before = bj_now()
    done = [invoke_async(eapi, name, ev(hits)) for _ in range(3)]
    for rid in done:
        wait_final(eapi, name, rid)
    slow_tag = uuid.uuid4().hex[:8]
    slow = invoke_async(eapi, name, ev(hits, slow_tag, sleep=3))
    hits.wait("start/" + slow_tag)

    r = eapi.call("ListAsyncEvents", FunctionName=name)
    assert r["TotalCount"] == 4, r
    by_id = {e["InvokeRequestId"]: e for e in r["EventList"]}
    assert set(by_id) == set(done) | {slow}
    for rid in done:
        e = by_id[rid]
        assert e["Status"] == "FINISHED" and e["InvokeType"] == "OTHERS" and e["Qualifier"] == "$LATEST", e
        assert ASYNC_TIME_RE.match(e["StartTime"]) and ASYNC_TIME_RE.match(e["EndTime"]), e
        assert e["EndTime"] >= e["StartTime"]
        assert abs((_dt.datetime.strptime(e["StartTime"], "%Y-%m-%d %H:%M:%S.%f") - before).total_seconds()) < 120
    assert by_id[slow]["Status"] == "RUNNING" and by_id[slow]["EndTime"] == "", by_id[slow]

    # default order: StartTime descending
    starts = [e["StartTime"] for e in r["EventList"]]
    assert starts == sorted(starts, reverse=True), starts
    asc = eapi.call("ListAsyncEvents", FunctionName=name, Order="ASC", Orderby="StartTime")["EventList"]
    assert [e["InvokeRequestId"] for e in asc] == [e["InvokeRequestId"] for e in r["EventList"]][::-1]
    assert [e["InvokeRequestId"] for e in asc][0] == done[0] and asc[-1]["InvokeRequestId"] == slow

    by_end = eapi.call("ListAsyncEvents", FunctionName=name, Status=["FINISHED"], Orderby="EndTime",
                       Order="ASC")["EventList"]
    ends = [e["EndTime"] for e in by_end]
    assert len(ends) == 3 and ends == sorted(ends), ends
    by_end_desc = eapi.call("ListAsyncEvents", FunctionName=name, Status=["FINISHED"], Orderby="EndTime",
                            Order="DESC")["EventList"]
    assert [e["EndTime"] for e in by_end_desc] == sorted(ends, reverse=True)
    running = eapi.call("ListAsyncEvents", FunctionName=name, Status=["RUNNING"])
    assert [e["InvokeRequestId"] for e in running["EventList"]] == [slow] and running["TotalCount"] == 1
    fin = eapi.call("ListAsyncEvents", FunctionName=name, Status=["FINISHED", "FAILED"])
    assert fin["TotalCount"] == 3
    one = eapi.call("ListAsyncEvents", FunctionName=name, InvokeRequestId=done[1])
    assert [e["InvokeRequestId"] for e in one["EventList"]] == [done[1]]
    assert eapi.call("ListAsyncEvents", FunctionName=name, InvokeType=["OTHERS"])["TotalCount"] == 4
    assert eapi.call("ListAsyncEvents", FunctionName=name, InvokeType=["COS"])["TotalCount"] == 0
    assert eapi.call("ListAsyncEvents", FunctionName=name, Qualifier="$LATEST")["TotalCount"] == 4

    page = eapi.call("ListAsyncEvents", FunctionName=name, Order="ASC", Offset=1, Limit=2)
    assert page["TotalCount"] == 4
    assert [e["InvokeRequestId"] for e in page["EventList"]] == [e["InvokeRequestId"] for e in asc[1:3]]

    now = bj_now()
    window = {"Start": fmt(before - _dt.timedelta(minutes=1)), "End": fmt(now + _dt.timedelta(minutes=1))}
    assert eapi.call("ListAsyncEvents", FunctionName=name, StartTimeInterval=window)["TotalCount"] == 4
    past = {"Start": fmt(before - _dt.timedelta(hours=3)), "End": fmt(before - _dt.timedelta(hours=2))}
    assert eapi.call("ListAsyncEvents", FunctionName=name, StartTimeInterval=past)["TotalCount"] == 0
    # the running event has no end time yet
    assert eapi.call("ListAsyncEvents", FunctionName=name, EndTimeInterval=window)["TotalCount"] == 3

    eapi.expect("InvalidParameterValue.Status", "ListAsyncEvents", FunctionName=name, Status=["DONE"])
    eapi.expect("ResourceNotFound.Function", "ListAsyncEvents", FunctionName="no-such-fn")
    e = eapi.err("ListAsyncEvents", FunctionName=name, Limit=101)
    assert e.get_code() in ("InvalidParameterValue.Limit", "InvalidParameterValue"), e.get_code()
    wait_final(eapi, name, slow)


# --------------------------------------------------------------------------------------
# TerminateAsyncEvent
# --------------------------------------------------------------------------------------

def test_terminate_async_event(eapi, hits):
    name = deploy(eapi, RUN_PY, timeout=20)
    e = ev(hits, sleep=2.5)
    rid = invoke_async(eapi, name, e)
    hits.wait("start/" + e["tag"])
    assert async_status(eapi, rid)["Status"] == "RUNNING"
    eapi.call("TerminateAsyncEvent", FunctionName=name, InvokeRequestId=rid)
    assert wait_async_status(eapi, rid, {"ABORTED", "FINISHED", "FAILED"}, timeout=5)["Status"] == "ABORTED"
    rec = wait_final(eapi, name, rid, timeout=5)
    assert rec["RetCode"] == -1, rec
    time.sleep(3)
    assert hits.count("end/" + e["tag"]) == 0, "the handler must be killed, not left to finish"
    assert hits.count("start/" + e["tag"]) == 1, "an aborted event is not retried"
    assert async_status(eapi, rid)["Status"] == "ABORTED"
    lst = eapi.call("ListAsyncEvents", FunctionName=name, Status=["ABORTED"])
    assert [x["InvokeRequestId"] for x in lst["EventList"]] == [rid]
    assert lst["EventList"][0]["EndTime"] != ""
    # terminating again: no longer running
    eapi.expect("FailedOperation.AsyncEventStatus", "TerminateAsyncEvent", FunctionName=name, InvokeRequestId=rid)
    # the function still works
    rid2 = invoke_async(eapi, name, ev(hits))
    assert wait_final(eapi, name, rid2)["RetCode"] == 0


def test_terminate_errors(eapi, hits):
    name = deploy(eapi, RUN_PY)
    rid = invoke_async(eapi, name, ev(hits))
    wait_final(eapi, name, rid)
    eapi.expect("FailedOperation.AsyncEventStatus", "TerminateAsyncEvent", FunctionName=name, InvokeRequestId=rid)
    eapi.expect("ResourceNotFound.AsyncEvent", "TerminateAsyncEvent", FunctionName=name,
                InvokeRequestId=str(uuid.uuid4()))
    eapi.expect("ResourceNotFound.Function", "TerminateAsyncEvent", FunctionName="no-such-fn",
                InvokeRequestId=rid)


# --------------------------------------------------------------------------------------
# Durability: kill -9 in the middle of a batch
# --------------------------------------------------------------------------------------

def test_kill9_mid_batch(make_server, hits):
    s = make_server(engine_config())
    api = s.client()
    name = deploy(api, RUN_PY, timeout=10)
    sync_name = deploy(api, RUN_PY, timeout=30)
    rids = [invoke_async(api, name, ev(hits, sleep=0.5)) for _ in range(20)]

    sync_tag = uuid.uuid4().hex[:8]
    sync_err = {}

    def sync_call():
        try:
            invoke(api, sync_name, ev(hits, sync_tag, sleep=8), log=False)
        except Exception as e:  # the server dies under it
            sync_err["e"] = e

    t = threading.Thread(target=sync_call, daemon=True)
    t.start()
    hits.wait("start/" + sync_tag, timeout=10)
    # Past `running_record_after_ms` (100 ms) and the writer's next commit: a sync request's
    # running record reaches the store only once it has run that long (a warm spare can start
    # it within milliseconds of its acceptance, so 50 ms after its start was sometimes too soon).
    time.sleep(0.5)
    s.kill()
    t.join(timeout=10)
    assert "e" in sync_err, "the sync call cannot have succeeded: its server was killed"
    # the sync run's request id, reported by the function itself
    sync_rids = [k[4:] for k in list(hits.hits) if k.startswith("rid/")]

    s.start()
    api = s.client()
    deadline = time.monotonic() + 40
    pending = set(rids)
    while pending and time.monotonic() < deadline:
        for rid in list(pending):
            rec = status_record(api, name, rid)
            assert rec is not None, f"accepted request {rid} was lost by the crash"
            if rec["RetCode"] != 1:
                pending.discard(rid)
        time.sleep(0.2)
    assert not pending, f"{len(pending)} of 20 accepted async requests still RetCode 1 after restart"
    for rid in rids:
        rec = status_record(api, name, rid)
        assert rec["RetCode"] == 0, rec
        assert hits.count("rid/" + rid) >= 1, f"{rid} never ran"
        assert async_status(api, rid)["Status"] == "FINISHED"

    mine = [r for r in sync_rids if status_record(api, sync_name, r) is not None]
    assert len(mine) == 1, f"expected the one in-flight sync request, found {mine}"
    rec = status_record(api, sync_name, mine[0])
    assert rec["RetCode"] == -1, rec
    assert "restart" in rec["RetMsg"].lower(), rec


def test_async_events_belong_to_their_account(eapi, eapi_b, hits):
    name = deploy(eapi, RUN_PY)
    rid = invoke_async(eapi, name, ev(hits))
    wait_final(eapi, name, rid)
    eapi_b.expect("ResourceNotFound.AsyncEvent", "GetAsyncEventStatus", InvokeRequestId=rid)
    deploy(eapi_b, RUN_PY, name=name)
    assert eapi_b.call("ListAsyncEvents", FunctionName=name)["TotalCount"] == 0
    assert eapi.call("ListAsyncEvents", FunctionName=name)["TotalCount"] == 1


def test_tccli_async(engine_server, eapi, hits):
    name = deploy(eapi, RUN_PY)
    out = engine_server.tccli("UpdateFunctionEventInvokeConfig", FunctionName=name,
                              AsyncTriggerConfig={"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 120}).json()
    assert out["RequestId"]
    out = engine_server.tccli("GetFunctionEventInvokeConfig", FunctionName=name).json()
    assert out["AsyncTriggerConfig"] == {"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 120}
    e = ev(hits)
    out = engine_server.tccli("Invoke", FunctionName=name, InvocationType="Event", ClientContext=json.dumps(e)).json()
    rid = out["Result"]["FunctionRequestId"]
    wait_final(eapi, name, rid)
    out = engine_server.tccli("GetAsyncEventStatus", InvokeRequestId=rid).json()
    assert out["Result"]["Status"] == "FINISHED"
    out = engine_server.tccli("ListAsyncEvents", FunctionName=name, Status=["FINISHED"]).json()
    assert [x["InvokeRequestId"] for x in out["EventList"]] == [rid]
    r = engine_server.tccli("UpdateFunctionEventInvokeConfig", FunctionName=name,
                            AsyncTriggerConfig={"RetryConfig": [{"RetryNum": 3}], "MsgTTL": 120})
    assert r.returncode != 0 and "LimitExceeded.RetryNum" in r.output, r
