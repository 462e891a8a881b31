"""PublishVersion / ListVersionByFunction: a version is an immutable snapshot of code and
configuration that can be invoked by Qualifier and deleted on its own."""

from __future__ import annotations

import json

from invoketest import deploy, invoke, invoke_async, invoke_fn, ok, ret_json, status_record, wait_final
from scfdtest import b64, make_zip

V1 = '''import os
def main_handler(event, context):
    return {"code": "v1", "version": context["function_version"], "env": os.environ.get("SCF_FUNCTIONVERSION"),
            "mode": os.environ.get("MODE")}
'''
V2 = V1.replace('"v1"', '"v2"')
V3 = V1.replace('"v1"', '"v3"')


def update_code(api, name, code):
    api.call("UpdateFunctionCode", FunctionName=name, ZipFile=b64(make_zip({"index.py": code})))
    api.wait_status(name)


def test_publish_and_invoke_versions(eapi):
    name = deploy(eapi, V1, memory=128, timeout=3, env={"MODE": "one"}, Description="first desc")
    pv = eapi.call("PublishVersion", FunctionName=name, Description="release one")
    assert pv["FunctionVersion"] == "1", pv
    assert pv["MemorySize"] == 128 and pv["Timeout"] == 3 and pv["Handler"] == "index.main_handler"
    assert pv["Runtime"] == "Python3.9" and pv["Namespace"] == "default"
    assert pv["CodeSize"] > 0

    update_code(eapi, name, V2)
    eapi.call("UpdateFunctionConfiguration", FunctionName=name, MemorySize=256, Timeout=5,
              Environment={"Variables": [{"Key": "MODE", "Value": "two"}]})
    eapi.wait_status(name)

    assert ret_json(ok(invoke(eapi, name, qualifier="1"))) == {"code": "v1", "version": "1", "env": "1", "mode": "one"}
    assert ret_json(ok(invoke(eapi, name))) == {"code": "v2", "version": "$LATEST", "env": "$LATEST", "mode": "two"}
    assert ret_json(ok(invoke(eapi, name, qualifier="$LATEST")))["code"] == "v2"
    assert ret_json(ok(invoke_fn(eapi, name, Qualifier="1")))["code"] == "v1"
    assert ret_json(ok(invoke_fn(eapi, name)))["code"] == "v2", "$DEFAULT = $LATEST"

    g1 = eapi.call("GetFunction", FunctionName=name, Qualifier="1")
    assert g1["MemorySize"] == 128 and g1["Timeout"] == 3, g1
    assert g1["Environment"]["Variables"] == [{"Key": "MODE", "Value": "one"}]
    glatest = eapi.call("GetFunction", FunctionName=name)
    assert glatest["MemorySize"] == 256 and glatest["Timeout"] == 5
    assert glatest["Environment"]["Variables"] == [{"Key": "MODE", "Value": "two"}]

    pv2 = eapi.call("PublishVersion", FunctionName=name)
    assert pv2["FunctionVersion"] == "2" and pv2["MemorySize"] == 256 and pv2["Timeout"] == 5
    update_code(eapi, name, V3)
    assert ret_json(ok(invoke(eapi, name, qualifier="2")))["code"] == "v2"
    assert ret_json(ok(invoke(eapi, name, qualifier="1")))["code"] == "v1"
    assert ret_json(ok(invoke(eapi, name)))["code"] == "v3"

    lv = eapi.call("ListVersionByFunction", FunctionName=name)
    assert lv["TotalCount"] == 3, lv
    assert sorted(lv["FunctionVersion"]) == sorted(["$LATEST", "1", "2"]), lv
    assert lv["FunctionVersion"][0] == "$LATEST" or lv["FunctionVersion"][-1] == "$LATEST"
    descs = {v["Version"]: v.get("Description") for v in lv["Versions"]}
    assert set(descs) == {"$LATEST", "1", "2"}
    assert descs["1"] == "release one"

    # async on a version, and the record carries it
    rid = invoke_async(eapi, name, qualifier="1")
    rec = wait_final(eapi, name, rid)
    assert json.loads(rec["RetMsg"])["code"] == "v1"
    ev = eapi.call("ListAsyncEvents", FunctionName=name, InvokeRequestId=rid)["EventList"]
    assert ev and ev[0]["Qualifier"] == "1", ev
    logs = eapi.call("GetFunctionLogs", FunctionName=name, Qualifier="1", Limit=100)["Data"]
    assert logs and all(json.loads(d["RetMsg"])["code"] == "v1" for d in logs), logs


def test_delete_single_version(eapi):
    name = deploy(eapi, V1)
    eapi.call("PublishVersion", FunctionName=name)
    update_code(eapi, name, V2)
    eapi.call("PublishVersion", FunctionName=name)
    update_code(eapi, name, V3)
    eapi.call("DeleteFunction", FunctionName=name, Qualifier="1")
    lv = eapi.call("ListVersionByFunction", FunctionName=name)
    assert sorted(lv["FunctionVersion"]) == ["$LATEST", "2"] and lv["TotalCount"] == 2, lv
    eapi.expect("ResourceNotFound.Qualifier", "Invoke", FunctionName=name, Qualifier="1")
    assert ret_json(ok(invoke(eapi, name, qualifier="2")))["code"] == "v2"
    assert ret_json(ok(invoke(eapi, name)))["code"] == "v3"
    # numbering continues, it does not reuse "1"
    assert eapi.call("PublishVersion", FunctionName=name)["FunctionVersion"] == "3"
    # without a Qualifier everything goes
    eapi.call("DeleteFunction", FunctionName=name)
    eapi.expect("ResourceNotFound.Function", "GetFunction", FunctionName=name)
    eapi.expect("ResourceNotFound.Function", "Invoke", FunctionName=name, Qualifier="2")


def test_version_errors(eapi):
    eapi.expect("ResourceNotFound.Function", "PublishVersion", FunctionName="no-such-fn")
    eapi.expect("ResourceNotFound.Function", "ListVersionByFunction", FunctionName="no-such-fn")
    name = deploy(eapi, V1)
    lv = eapi.call("ListVersionByFunction", FunctionName=name)
    assert lv["FunctionVersion"] == ["$LATEST"] and lv["TotalCount"] == 1, lv
    e = eapi.err("GetFunction", FunctionName=name, Qualifier="7")
    assert e.get_code().startswith("ResourceNotFound"), e.get_code()


def test_tccli_publish_version(engine_server, eapi):
    name = deploy(eapi, V1)
    out = engine_server.tccli("PublishVersion", FunctionName=name, Description="cli").json()
    assert out["FunctionVersion"] == "1"
    out = engine_server.tccli("ListVersionByFunction", FunctionName=name).json()
    assert sorted(out["FunctionVersion"]) == ["$LATEST", "1"]
    out = engine_server.tccli("Invoke", FunctionName=name, Qualifier="1").json()
    assert json.loads(out["Result"]["RetMsg"])["version"] == "1"
    assert status_record(eapi, name, out["Result"]["FunctionRequestId"])["RetCode"] == 0
