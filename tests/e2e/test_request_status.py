"""GetRequestStatus and GetFunctionLogs: records of every invocation, time windows (Beijing
time), validation codes, rate limit, isolated accounts."""

from __future__ import annotations

import datetime as _dt
import time
import uuid

import pytest

from invoketest import (
    bj_now,
    code_of,
    deploy,
    engine_config,
    failed,
    fmt,
    invoke,
    invoke_async,
    ok,
    parse_bj,
    request_status,
    status_record,
    wait_final,
)
from scfdtest import ACCOUNT_A, TIME_RE, Account, make_config

WORK_PY = '''import time
def main_handler(event, context):
    print("work log", event.get("tag"))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise Exception("failed on purpose")
    if event.get("mb"):
        hog = bytearray(event["mb"] << 20)
    return {"tag": event.get("tag")}
'''

ISOLATED = Account("AKIDe2eIsolated000000000000000000009", "e2eSecretKeyIso", 1250000009, "100000000099",
                   isolated=True)


@pytest.fixture(scope="module")
def work(engine_server):
    """One function, invoked a few ways; the tests below read its records."""
    api = engine_server.client()
    name = deploy(api, WORK_PY, timeout=1, memory=128)
    rs = {
        "ok": ok(invoke(api, name, {"tag": "first"})),
        "fail": failed(invoke(api, name, {"fail": True})),
        "ok2": ok(invoke(api, name, {"tag": "second", "sleep": 0.3})),
        "timeout": failed(invoke(api, name, {"sleep": 5})),
    }
    return name, {k: v["FunctionRequestId"] for k, v in rs.items()}, rs


# --------------------------------------------------------------------------------------
# GetRequestStatus
# --------------------------------------------------------------------------------------

def test_status_of_successful_request(eapi, work):
    name, ids, rs = work
    r = request_status(eapi, name, ids["ok"])
    assert r["TotalCount"] == 1 and len(r["Data"]) == 1, r
    d = r["Data"][0]
    assert d["FunctionName"] == name
    assert d["RequestId"] == ids["ok"]
    assert d["RetCode"] == 0
    assert d["RetMsg"] == rs["ok"]["RetMsg"] == '{"tag": "first"}'
    assert d["RetryNum"] == 0
    assert isinstance(d["Duration"], (int, float)) and d["Duration"] >= 0
    assert isinstance(d["MemUsage"], (int, float)) and d["MemUsage"] > 0
    assert d["MemUsage"] <= 128, f"RequestStatus.MemUsage is in MB (function has 128 MB): {d['MemUsage']}"
    assert TIME_RE.match(d["StartTime"]), d
    # Beijing time: within a couple of minutes of now in UTC+8
    assert abs((parse_bj(d["StartTime"]) - bj_now()).total_seconds()) < 180, (d["StartTime"], bj_now())


def test_status_of_failed_and_timed_out_requests(eapi, work):
    name, ids, rs = work
    d = status_record(eapi, name, ids["fail"])
    assert d["RetCode"] == -1, d
    assert "failed on purpose" in d["RetMsg"], d
    d = status_record(eapi, name, ids["timeout"])
    assert d["RetCode"] == -1, d
    assert "Invoking task timed out after 1 seconds" in d["RetMsg"], d
    d = status_record(eapi, name, ids["ok2"])
    assert d["RetCode"] == 0 and 250 <= d["Duration"] < 1500, d


def test_status_running_then_done(eapi):
    name = deploy(eapi, WORK_PY, timeout=10)
    rid = invoke_async(eapi, name, {"sleep": 3, "tag": "slow"})
    d = status_record(eapi, name, rid)
    assert d is not None, "the record must exist from the moment Invoke accepted the request"
    assert d["RetCode"] == 1, d
    time.sleep(1)
    assert status_record(eapi, name, rid)["RetCode"] == 1
    logs = eapi.call("GetFunctionLogs", FunctionName=name, FunctionRequestId=rid)
    assert logs["TotalCount"] == 1 and logs["Data"][0]["RetCode"] == 2, logs  # FunctionLog: 2 = running
    d = wait_final(eapi, name, rid, timeout=10)
    assert d["RetCode"] == 0, d
    assert d["RetMsg"] == '{"tag": "slow"}'
    assert 2900 <= d["Duration"] <= 4500, d


def test_status_time_window(eapi, work):
    name, ids, _ = work
    now = bj_now()
    r = request_status(eapi, name, ids["ok"], StartTime=fmt(now - _dt.timedelta(minutes=5)),
                       EndTime=fmt(now + _dt.timedelta(minutes=1)))
    assert r["TotalCount"] == 1, r
    # a window that would match only if the server read the times as UTC
    utc = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    r = request_status(eapi, name, ids["ok"], StartTime=fmt(utc - _dt.timedelta(minutes=5)),
                       EndTime=fmt(utc + _dt.timedelta(minutes=1)))
    assert r["TotalCount"] == 0, f"StartTime/EndTime are Beijing time (UTC+8), not UTC: {r}"
    r = request_status(eapi, name, ids["ok"], StartTime=fmt(now - _dt.timedelta(days=1)),
                       EndTime=fmt(now - _dt.timedelta(days=1) + _dt.timedelta(hours=1)))
    assert r["TotalCount"] == 0 and r["Data"] == [], r


def test_status_unknown_request(eapi, work):
    name, _, _ = work
    r = request_status(eapi, name, str(uuid.uuid4()))
    assert r["TotalCount"] == 0 and r["Data"] == [], r


def test_status_request_of_another_function(eapi, work):
    name, ids, _ = work
    other = deploy(eapi, WORK_PY)
    assert request_status(eapi, other, ids["ok"])["TotalCount"] == 0


def test_status_validation(eapi, work):
    name, ids, _ = work
    rid = ids["ok"]
    now = bj_now()
    eapi.expect("MissingParameter", "GetRequestStatus", FunctionName=name)
    eapi.expect("InvalidParameterValue.StartTimeOrEndTime", "GetRequestStatus", FunctionName=name,
                FunctionRequestId=rid, StartTime=fmt(now))
    eapi.expect("InvalidParameterValue.StartTimeOrEndTime", "GetRequestStatus", FunctionName=name,
                FunctionRequestId=rid, EndTime=fmt(now))
    eapi.expect("InvalidParameterValue.DateTime", "GetRequestStatus", FunctionName=name,
                FunctionRequestId=rid, StartTime="yesterday", EndTime=fmt(now))
    eapi.expect("InvalidParameterValue.DateTime", "GetRequestStatus", FunctionName=name,
                FunctionRequestId=rid, StartTime=fmt(now), EndTime="2024-13-45 99:00:00")
    eapi.expect("InvalidParameterValue.StartTime", "GetRequestStatus", FunctionName=name,
                FunctionRequestId=rid, StartTime=fmt(now), EndTime=fmt(now - _dt.timedelta(minutes=1)))
    eapi.expect("InvalidParameterValue.StartTime", "GetRequestStatus", FunctionName=name,
                FunctionRequestId=rid, StartTime=fmt(now), EndTime=fmt(now))
    eapi.expect("InvalidParameterValue.FunctionName", "GetRequestStatus", FunctionName="bad name!",
                FunctionRequestId=rid)
    eapi.expect("ResourceNotFound.Function", "GetRequestStatus", FunctionName="no-such-function",
                FunctionRequestId=rid)
    eapi.expect("InvalidParameterValue.FunctionRequestId", "GetRequestStatus", FunctionName=name,
                FunctionRequestId="not-a-uuid")


def test_status_namespace(eapi):
    eapi.call("CreateNamespace", Namespace="rsns")
    name = deploy(eapi, WORK_PY, namespace="rsns")
    rid = ok(invoke(eapi, name, {"tag": "ns"}, namespace="rsns"))["FunctionRequestId"]
    assert status_record(eapi, name, rid, Namespace="rsns")["RetCode"] == 0
    eapi.expect("ResourceNotFound.Function", "GetRequestStatus", FunctionName=name, FunctionRequestId=rid)


def test_status_rate_limit(make_server):
    """GetRequestStatus keeps its documented 20/s per account when the config names no rate."""
    s = make_server(engine_config(rate_limits={}))
    api = s.client()
    name = deploy(api, WORK_PY)
    rid = ok(invoke(api, name, {}))["FunctionRequestId"]
    codes = [code_of(lambda: api.call("GetRequestStatus", FunctionName=name, FunctionRequestId=rid))
             for _ in range(30)]
    assert "RequestLimitExceeded" in codes, codes
    assert codes.count("ok") >= 10, codes
    assert set(codes) <= {"ok", "RequestLimitExceeded"}, codes
    time.sleep(1.1)
    assert code_of(lambda: api.call("GetRequestStatus", FunctionName=name, FunctionRequestId=rid)) == "ok"
    # another account has its own budget; other actions are not touched
    assert code_of(lambda: api.call("GetFunction", FunctionName=name)) == "ok"


def test_isolated_account(make_server):
    s = make_server(engine_config(accounts=[ACCOUNT_A, ISOLATED]))
    good = s.client(ACCOUNT_A)
    name = deploy(good, WORK_PY)
    rid = ok(invoke(good, name, {}))["FunctionRequestId"]
    iso = s.client(ISOLATED)
    for action, params in [
        ("ListNamespaces", {}),
        ("ListFunctions", {}),
        ("GetRequestStatus", {"FunctionName": name, "FunctionRequestId": rid}),
        ("Invoke", {"FunctionName": name}),
        ("InvokeFunction", {"FunctionName": name}),
        ("CreateFunction", {"FunctionName": "iso-fn", "Handler": "index.main_handler", "Runtime": "Python3.9",
                            "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}),
        ("GetAccount", {}),
    ]:
        iso.expect("OperationDenied.AccountIsolate", action, params)
    r = s.tccli("ListFunctions", account=ISOLATED)
    assert r.returncode != 0 and "OperationDenied.AccountIsolate" in r.output, r
    assert good.call("GetRequestStatus", FunctionName=name, FunctionRequestId=rid)["TotalCount"] == 1


# --------------------------------------------------------------------------------------
# GetFunctionLogs
# --------------------------------------------------------------------------------------

def _logs(api, name, **kw):
    p = {"FunctionName": name, "Limit": 100}
    p.update(kw)
    return api.call("GetFunctionLogs", p)


def test_function_logs_records(eapi, work):
    name, ids, rs = work
    r = _logs(eapi, name)
    assert r["TotalCount"] == 4, r
    by_id = {d["RequestId"]: d for d in r["Data"]}
    assert set(by_id) == set(ids.values())
    d = by_id[ids["ok"]]
    assert d["FunctionName"] == name
    assert d["RetCode"] == 0 and d["InvokeFinished"] == 1
    assert d["RetMsg"] == '{"tag": "first"}'
    assert d["BillDuration"] >= 100 and d["BillDuration"] % 100 == 0
    assert isinstance(d["MemUsage"], int) and d["MemUsage"] > 1 << 20, "FunctionLog.MemUsage is bytes"
    assert d["RetryNum"] == 0
    assert TIME_RE.match(d["StartTime"]), d
    assert f"START RequestId: {ids['ok']}" in d["Log"] and "work log first" in d["Log"]
    assert f"Report RequestId: {ids['ok']}" in d["Log"]
    assert by_id[ids["fail"]]["RetCode"] == -1
    assert "failed on purpose" in by_id[ids["fail"]]["RetMsg"]


def test_function_logs_filters(eapi, work):
    name, ids, _ = work
    got = lambda **kw: {d["RequestId"] for d in _logs(eapi, name, **kw)["Data"]}  # noqa: E731
    assert got(Filter={"RetCode": "is0"}) == {ids["ok"], ids["ok2"]}
    assert got(Filter={"RetCode": "not0"}) == {ids["fail"], ids["timeout"]}
    assert got(Filter={"RetCode": "TimeLimitExceeded"}) == {ids["timeout"]}
    assert got(Filter={"RetCode": "UserCodeException"}) == {ids["fail"]}
    assert got(Filter={"RetCode": "ResourceLimitExceeded"}) == set()
    assert got(FunctionRequestId=ids["ok2"]) == {ids["ok2"]}
    now = bj_now()
    assert got(StartTime=fmt(now - _dt.timedelta(minutes=10)), EndTime=fmt(now + _dt.timedelta(minutes=1))) == set(ids.values())
    assert got(StartTime=fmt(now - _dt.timedelta(hours=5)), EndTime=fmt(now - _dt.timedelta(hours=4))) == set()
    eapi.expect("InvalidParameterValue.RetCode", "GetFunctionLogs", FunctionName=name, Filter={"RetCode": "bogus"})
    eapi.expect("LimitExceeded.Offset", "GetFunctionLogs", FunctionName=name, Offset=9999, Limit=2)
    eapi.expect("InvalidParameterValue.StartTimeOrEndTime", "GetFunctionLogs", FunctionName=name,
                StartTime=fmt(now))
    eapi.expect("ResourceNotFound.Function", "GetFunctionLogs", FunctionName="no-such-fn")


def test_function_logs_order_and_paging(eapi, work):
    name, ids, _ = work
    asc = _logs(eapi, name, OrderBy="duration", Order="asc")["Data"]
    durs = [d["Duration"] for d in asc]
    assert durs == sorted(durs) and len(durs) == 4
    desc = _logs(eapi, name, OrderBy="duration", Order="desc")["Data"]
    assert [d["Duration"] for d in desc] == sorted(durs, reverse=True)
    assert desc[0]["RequestId"] == ids["timeout"]
    by_time = _logs(eapi, name, OrderBy="start_time", Order="asc")["Data"]
    starts = [d["StartTime"] for d in by_time]
    assert starts == sorted(starts) and len(starts) == 4
    assert by_time[-1]["RequestId"] == ids["timeout"] or by_time[-1]["StartTime"] == by_time[-2]["StartTime"]
    starts_desc = [d["StartTime"] for d in _logs(eapi, name, OrderBy="start_time", Order="desc")["Data"]]
    assert starts_desc == sorted(starts, reverse=True)
    page = _logs(eapi, name, OrderBy="duration", Order="asc", Offset=2, Limit=2)
    assert page["TotalCount"] == 4
    assert [d["RequestId"] for d in page["Data"]] == [ids["ok2"], ids["timeout"]]
    assert len(_logs(eapi, name, Offset=0, Limit=1)["Data"]) == 1
