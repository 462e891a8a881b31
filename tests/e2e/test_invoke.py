"""Invoke and InvokeFunction: results, failures (exception, timeout, memory, crash), parameter
errors with exact codes, warm instances, reserved concurrency, tccli."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from invoketest import (
    code_of,
    deploy,
    engine_config,
    failed,
    invoke,
    invoke_async,
    invoke_fn,
    is_uuid,
    ok,
    ret_json,
    wait_final,
)
from scfdtest import b64, hello_zip, make_zip, uniq

ECHO_PY = "def main_handler(event, context):\n    return event\n"

SLEEP_PY = '''import time
def main_handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"slept": event.get("sleep", 0)}
'''

# One function that fails in every way the event asks for.
MISBEHAVE_PY = '''import os, time
def main_handler(event, context):
    what = event.get("do")
    if what == "raise":
        raise Exception("boom")
    if what == "sleep":
        time.sleep(event["secs"])
    if what == "memory":
        hog = bytearray(event["mb"] << 20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
        return len(hog)
    if what == "exit":
        os._exit(3)
    if what == "segv":
        os.kill(os.getpid(), 11)
        time.sleep(5)
    return "fine"
'''

# a token drawn at import identifies the instance (pids may repeat inside pid namespaces)
COUNTER_PY = '''import uuid
TOKEN = uuid.uuid4().hex
calls = 0
def main_handler(event, context):
    global calls
    calls += 1
    return {"calls": calls, "pid": TOKEN}
'''


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------

def test_invoke_sync_result_fields(eapi):
    name = deploy(eapi, "def main_handler(event, context):\n    print('in handler')\n    return 'hello from scfd'\n")
    r = ok(invoke(eapi, name, log=False))
    assert r["RetMsg"] == '"hello from scfd"'
    assert is_uuid(r["FunctionRequestId"])
    assert r["Log"] in ("", None), "Log must be empty without LogType Tail"
    assert isinstance(r["Duration"], float) or isinstance(r["Duration"], int)
    assert 0 <= r["Duration"] < 3000
    assert r["BillDuration"] >= 100 and r["BillDuration"] % 100 == 0
    assert r["BillDuration"] >= r["Duration"]
    assert isinstance(r["MemUsage"], int) and r["MemUsage"] > 1 << 20, "MemUsage is bytes; a python process uses > 1 MB"

    r0 = ok(eapi.call("Invoke", FunctionName=name, LogType="None")["Result"])
    assert r0["Log"] in ("", None) and r0["RetMsg"] == '"hello from scfd"'
    r2 = ok(invoke(eapi, name, log=True))
    assert r2["FunctionRequestId"] != r["FunctionRequestId"]
    assert f"START RequestId: {r2['FunctionRequestId']}" in r2["Log"]
    assert "in handler" in r2["Log"]
    assert f"END RequestId: {r2['FunctionRequestId']}" in r2["Log"]
    assert f"Report RequestId: {r2['FunctionRequestId']}" in r2["Log"]
    assert r["FunctionRequestId"] not in r2["Log"], "Tail log of one request must not hold another's"


def test_invoke_event_passthrough_and_default(eapi):
    name = deploy(eapi, ECHO_PY)
    assert ret_json(ok(invoke(eapi, name))) == {}, "no ClientContext -> event {}"
    ev = {"a": 1, "nested": {"list": [1, "x", None, True]}, "unicode": "云函数"}
    assert ret_json(ok(invoke(eapi, name, ev))) == ev
    # explicit RequestResponse and explicit $LATEST
    r = ok(invoke(eapi, name, {"k": 2}, invocation_type="RequestResponse", qualifier="$LATEST"))
    assert ret_json(r) == {"k": 2}


def test_invoke_in_namespace(eapi):
    ns = uniq("ns")
    eapi.call("CreateNamespace", Namespace=ns)
    name = deploy(eapi, "def main_handler(event, context):\n    return context['namespace']\n", namespace=ns)
    assert ok(invoke(eapi, name, namespace=ns))["RetMsg"] == json.dumps(ns)
    eapi.expect("ResourceNotFound.Function", "Invoke", FunctionName=name)


def test_invokefunction(eapi):
    name = deploy(eapi, ECHO_PY)
    r = ok(invoke_fn(eapi, name, {"via": "InvokeFunction"}))
    assert ret_json(r) == {"via": "InvokeFunction"}
    assert r["Log"] in ("", None)
    r = ok(invoke_fn(eapi, name, {"q": 1}, Qualifier="$DEFAULT", LogType="Tail"))
    assert ret_json(r) == {"q": 1}
    assert f"START RequestId: {r['FunctionRequestId']}" in r["Log"]
    r = ok(invoke_fn(eapi, name, {"q": 2}, Qualifier="$LATEST"))
    assert ret_json(r) == {"q": 2}
    assert ret_json(ok(invoke_fn(eapi, name))) == {}


def test_function_error_is_not_an_api_error(eapi):
    name = deploy(eapi, MISBEHAVE_PY)
    r = failed(invoke(eapi, name, {"do": "raise"}))
    assert r["ErrMsg"].rstrip().endswith("Exception: boom"), r
    assert "Traceback" in r["ErrMsg"]
    assert "Exception: boom" in r["RetMsg"]
    assert is_uuid(r["FunctionRequestId"])
    assert r["BillDuration"] >= 100
    # same instance keeps serving
    assert ok(invoke(eapi, name, {}))["RetMsg"] == '"fine"'
    r = failed(invoke_fn(eapi, name, {"do": "raise"}))
    assert "Exception: boom" in r["ErrMsg"]


# --------------------------------------------------------------------------------------
# Timeouts, memory, crashes: the failing instance is replaced
# --------------------------------------------------------------------------------------

def test_timeout(eapi):
    name = deploy(eapi, MISBEHAVE_PY, timeout=1)
    t0 = time.monotonic()
    r = failed(invoke(eapi, name, {"do": "sleep", "secs": 10}))
    took = time.monotonic() - t0
    assert took < 5, f"a 1 s timeout took {took:.1f}s"
    assert "Invoking task timed out after 1 seconds" in r["RetMsg"], r
    assert "Invoking task timed out after 1 seconds" in r["ErrMsg"], r
    assert 900 <= r["Duration"] <= 3000, r
    assert ok(invoke(eapi, name, {}))["RetMsg"] == '"fine"'
    rec = wait_final(eapi, name, r["FunctionRequestId"])
    assert rec["RetCode"] == -1


def test_timeout_message_uses_configured_seconds(eapi):
    name = deploy(eapi, MISBEHAVE_PY, timeout=2)
    r = failed(invoke(eapi, name, {"do": "sleep", "secs": 10}))
    assert "Invoking task timed out after 2 seconds" in r["ErrMsg"], r
    assert r["Duration"] >= 1900


def test_memory_limit(eapi):
    name = deploy(eapi, MISBEHAVE_PY, memory=128, timeout=10)
    r = failed(invoke(eapi, name, {"do": "memory", "mb": 400}))
    assert "Memory limit exceeded" in r["ErrMsg"], r
    assert "Memory limit exceeded" in r["RetMsg"], r
    # a small allocation on the next (new) instance works
    assert ok(invoke(eapi, name, {"do": "memory", "mb": 16}))["RetMsg"] == str(16 << 20)
    assert ok(invoke(eapi, name, {}))["RetMsg"] == '"fine"'


def test_memory_within_limit_works(eapi):
    name = deploy(eapi, MISBEHAVE_PY, memory=512, timeout=10)
    assert ok(invoke(eapi, name, {"do": "memory", "mb": 300}))["RetMsg"] == str(300 << 20)


@pytest.mark.parametrize("how", ["exit", "segv"])
def test_crash_then_recovers(eapi, how):
    name = deploy(eapi, MISBEHAVE_PY, timeout=5)
    ok(invoke(eapi, name, {}))
    t0 = time.monotonic()
    r = failed(invoke(eapi, name, {"do": how}))
    assert time.monotonic() - t0 < 4, "a crash must be reported at once, not at the timeout"
    assert "crashed" in r["ErrMsg"], r
    assert "crashed" in r["RetMsg"], r
    for _ in range(2):
        assert ok(invoke(eapi, name, {}))["RetMsg"] == '"fine"'


# --------------------------------------------------------------------------------------
# Parameter errors
# --------------------------------------------------------------------------------------

def test_invoke_missing_function(eapi):
    eapi.expect("ResourceNotFound.Function", "Invoke", FunctionName="no-such-fn")
    eapi.expect("ResourceNotFound.Function", "InvokeFunction", FunctionName="no-such-fn")
    eapi.expect("ResourceNotFound.Function", "Invoke", FunctionName="no-such-fn", InvocationType="Event")


def test_invoke_bad_qualifier(eapi):
    name = deploy(eapi, ECHO_PY)
    eapi.expect("ResourceNotFound.Qualifier", "Invoke", FunctionName=name, Qualifier="99")
    eapi.expect("ResourceNotFound.Qualifier", "InvokeFunction", FunctionName=name, Qualifier="99")
    eapi.expect("ResourceNotFound.Qualifier", "Invoke", FunctionName=name, Qualifier="99", InvocationType="Event")


def test_invoke_bad_payloads(eapi):
    name = deploy(eapi, ECHO_PY)
    eapi.expect("InvalidParameterValue.ClientContext", "Invoke", FunctionName=name, ClientContext="not json")
    eapi.expect("InvalidParameterValue.ClientContext", "Invoke", FunctionName=name, ClientContext="{\"a\":")
    eapi.expect("InvalidParameterValue.ClientContext", "Invoke", FunctionName=name, ClientContext="not json",
                InvocationType="Event")
    eapi.expect("InvalidParameterValue.Param", "InvokeFunction", FunctionName=name, Event="{oops")
    eapi.expect("InvalidParameterValue", "Invoke", FunctionName=name, InvocationType="Sometimes")
    eapi.expect("InvalidParameterValue", "Invoke", FunctionName=name, InvocationType="event")


def test_invoke_size_limits(eapi):
    name = deploy(eapi, "def main_handler(event, context):\n    return len(event['d'])\n", timeout=10)
    big = json.dumps({"d": "x" * (6 * 1024 * 1024 + 10)})
    eapi.expect("InvalidParameter.RequestTooLarge", "Invoke", FunctionName=name, ClientContext=big)
    eapi.expect("InvalidParameter.RequestTooLarge", "InvokeFunction", FunctionName=name, Event=big)
    # async limit is 128 KB: 200 KB is refused async, accepted sync
    mid = json.dumps({"d": "y" * (200 * 1024)})
    eapi.expect("InvalidParameter.RequestTooLarge", "Invoke", FunctionName=name, ClientContext=mid,
                InvocationType="Event")
    assert ok(invoke(eapi, name, raw_context=mid, log=False))["RetMsg"] == str(200 * 1024)
    small = json.dumps({"d": "z" * (100 * 1024)})
    rid = invoke_async(eapi, name, raw_context=small)
    rec = wait_final(eapi, name, rid)
    assert rec["RetCode"] == 0 and rec["RetMsg"] == str(100 * 1024), rec


def test_invoke_function_not_active(eapi):
    """Invoke while the function is still Creating -> FailedOperation.FunctionStatusError."""
    files = {f"pkg/mod{i:05d}.py": f"X = {i}\n" for i in range(15000)}
    files["index.py"] = ECHO_PY
    z = make_zip(files)
    for attempt in range(3):
        name = uniq("slow")
        eapi.create_function(name, z, wait=False)
        before = eapi.get_function(name)["Status"]
        code = code_of(lambda: eapi.call("Invoke", FunctionName=name))
        after = eapi.get_function(name)["Status"]
        if before == after == "Creating":
            assert code == "FailedOperation.FunctionStatusError", code
            eapi.wait_status(name, timeout=60)
            assert ok(invoke(eapi, name, {"now": "active"}))["RetMsg"] == '{"now": "active"}'
            return
        assert code in ("ok", "FailedOperation.FunctionStatusError"), code
    pytest.fail("never caught the function in Creating (unpacking 15000 files was too fast)")


def test_runtime_the_machine_cannot_run(eapi):
    for rt in ("Python2.7", "Php7", "Go1", "Java8"):
        e = eapi.expect_create_refused("InvalidParameterValue.Runtime", {
            "FunctionName": uniq("rt"), "Code": {"ZipFile": b64(hello_zip())},
            "Handler": "index.main_handler", "Runtime": rt})
        msg = e.get_message()
        assert "Python3.9" in msg and "CustomRuntime" in msg, f"message should list servable runtimes: {msg}"
        assert any(n in msg for n in ("Nodejs16.13", "Nodejs18.15", "Nodejs20")), msg


def _machine_has(python: str) -> bool:
    """Whether `python` (e.g. python3.8) runs on this machine (pyenv shims may exist without it)."""
    import glob
    import shutil
    import subprocess
    cands = [shutil.which(python)] + sorted(glob.glob(f"/root/.pyenv/versions/{python[6:]}*/bin/{python}"))
    for c in cands:
        if c and subprocess.run([c, "-c", "pass"], capture_output=True).returncode == 0:
            return True
    return False


@pytest.mark.parametrize("minor", [6, 7, 8, 9, 10, 11, 12])
def test_python_runtime_versions(eapi, minor):
    """PythonX.Y runs on that exact interpreter when the machine has it, else on the nearest."""
    code = "import sys\ndef main_handler(event, context):\n    return list(sys.version_info[:2])\n"
    name = deploy(eapi, code, runtime=f"Python3.{minor}")
    got = ret_json(ok(invoke(eapi, name)))
    assert got[0] == 3
    if _machine_has(f"python3.{minor}"):
        assert got == [3, minor], f"Python3.{minor} ran on {got} although python3.{minor} is installed"


# --------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------

def test_warm_instance_is_reused(eapi):
    name = deploy(eapi, COUNTER_PY)
    a = ret_json(ok(invoke(eapi, name)))
    b = ret_json(ok(invoke(eapi, name)))
    assert b["pid"] == a["pid"], "keep_alive 300: the second call must reuse the warm instance"
    assert b["calls"] == a["calls"] + 1


def test_keep_alive_zero_means_fresh_instances(make_server):
    s = make_server(engine_config(engine={"keep_alive_secs": 0}))
    api = s.client()
    name = deploy(api, COUNTER_PY)
    seen = [ret_json(ok(invoke(api, name))) for _ in range(3)]
    assert [x["calls"] for x in seen] == [1, 1, 1], seen
    assert len({x["pid"] for x in seen}) == 3, seen


def test_parallel_invocations_run_concurrently(eapi):
    name = deploy(eapi, SLEEP_PY)
    ok(invoke(eapi, name, {"sleep": 0}))
    t0 = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda i: invoke(eapi, name, {"sleep": 1}, log=False), range(6)))
    took = time.monotonic() - t0
    for r in results:
        assert ret_json(ok(r)) == {"slept": 1}
    assert len({r["FunctionRequestId"] for r in results}) == 6
    assert took < 4.5, f"6 parallel 1 s invocations took {took:.1f}s: they ran one after another"


# --------------------------------------------------------------------------------------
# Reserved concurrency
# --------------------------------------------------------------------------------------

def test_reserved_concurrency_config(eapi):
    name = deploy(eapi, SLEEP_PY, memory=128)
    r = eapi.call("GetReservedConcurrencyConfig", FunctionName=name)
    assert r["ReservedMem"] is None, r
    eapi.call("PutReservedConcurrencyConfig", FunctionName=name, ReservedConcurrencyMem=256)
    assert eapi.call("GetReservedConcurrencyConfig", FunctionName=name)["ReservedMem"] == 256
    eapi.call("DeleteReservedConcurrencyConfig", FunctionName=name)
    assert eapi.call("GetReservedConcurrencyConfig", FunctionName=name)["ReservedMem"] is None
    eapi.expect("LimitExceeded.FunctionReservedConcurrencyMemory", "PutReservedConcurrencyConfig",
                FunctionName=name, ReservedConcurrencyMem=115201)
    assert eapi.call("GetReservedConcurrencyConfig", FunctionName=name)["ReservedMem"] is None
    eapi.expect("ResourceNotFound.Function", "PutReservedConcurrencyConfig", FunctionName="nope-fn",
                ReservedConcurrencyMem=128)
    eapi.expect("ResourceNotFound.Function", "GetReservedConcurrencyConfig", FunctionName="nope-fn")


def test_reserved_concurrency_limits_sync_calls(eapi):
    name = deploy(eapi, SLEEP_PY, memory=128, timeout=10)
    eapi.call("PutReservedConcurrencyConfig", FunctionName=name, ReservedConcurrencyMem=128)  # cap 1
    box = {}
    t = threading.Thread(target=lambda: box.update(r=invoke(eapi, name, {"sleep": 2}, log=False)))
    t.start()
    time.sleep(0.7)
    err = eapi.expect("LimitExceeded.Quota", "Invoke", FunctionName=name, ClientContext="{}")
    assert "reserved concurrency" in str(err), err
    eapi.expect("LimitExceeded.Quota", "InvokeFunction", FunctionName=name)
    t.join()
    assert ret_json(ok(box["r"])) == {"slept": 2}
    # the slot is free again
    ok(invoke(eapi, name, {"sleep": 0}))


def test_reserved_concurrency_two_slots(eapi):
    name = deploy(eapi, SLEEP_PY, memory=128, timeout=10)
    eapi.call("PutReservedConcurrencyConfig", FunctionName=name, ReservedConcurrencyMem=256)  # cap 2
    with ThreadPoolExecutor(2) as pool:
        futs = [pool.submit(invoke, eapi, name, {"sleep": 1.5}, log=False) for _ in range(2)]
        time.sleep(0.7)
        code = code_of(lambda: eapi.call("Invoke", FunctionName=name))
        results = [f.result() for f in futs]
    assert code == "LimitExceeded.Quota"
    assert all(r["InvokeResult"] == 0 for r in results), results


def test_reserved_concurrency_async_waits(eapi):
    name = deploy(eapi, SLEEP_PY, memory=128, timeout=10)
    eapi.call("PutReservedConcurrencyConfig", FunctionName=name, ReservedConcurrencyMem=128)
    t0 = time.monotonic()
    rids = [invoke_async(eapi, name, {"sleep": 0.6}) for _ in range(3)]
    recs = [wait_final(eapi, name, rid, timeout=20) for rid in rids]
    took = time.monotonic() - t0
    assert all(r["RetCode"] == 0 for r in recs), recs
    assert took >= 1.7, f"cap 1: three 0.6 s async runs must not overlap (took {took:.2f}s)"


# --------------------------------------------------------------------------------------
# Accounts and tccli
# --------------------------------------------------------------------------------------

def test_other_account_cannot_invoke(eapi, eapi_b):
    name = deploy(eapi, ECHO_PY)
    eapi_b.expect("ResourceNotFound.Function", "Invoke", FunctionName=name)
    r = ok(invoke(eapi, name, {"x": 1}))
    # B creates a same-named function; A's request id is not B's
    deploy(eapi_b, ECHO_PY, name=name)
    assert eapi_b.call("GetRequestStatus", FunctionName=name, FunctionRequestId=r["FunctionRequestId"])["TotalCount"] == 0


def test_tccli_invoke(engine_server, eapi):
    name = deploy(eapi, "def main_handler(event, context):\n    return {'got': event}\n")
    out = engine_server.tccli("Invoke", FunctionName=name, ClientContext='{"a":1}', LogType="Tail").json()
    res = out["Result"]
    assert json.loads(res["RetMsg"]) == {"got": {"a": 1}}
    assert res["InvokeResult"] == 0
    assert f"START RequestId: {res['FunctionRequestId']}" in res["Log"]

    out = engine_server.tccli("InvokeFunction", FunctionName=name, Event='{"b":2}').json()
    assert json.loads(out["Result"]["RetMsg"]) == {"got": {"b": 2}}

    out = engine_server.tccli("GetRequestStatus", FunctionName=name,
                              FunctionRequestId=res["FunctionRequestId"]).json()
    assert out["TotalCount"] == 1 and out["Data"][0]["RetCode"] == 0

    r = engine_server.tccli("Invoke", FunctionName=name, ClientContext="not-json")
    assert r.returncode != 0 and "InvalidParameterValue.ClientContext" in r.output, r

    out = engine_server.tccli("Invoke", FunctionName=name, ClientContext='{"c":3}', InvocationType="Event").json()
    rid = out["Result"]["FunctionRequestId"]
    rec = wait_final(eapi, name, rid)
    assert json.loads(rec["RetMsg"]) == {"got": {"c": 3}}
