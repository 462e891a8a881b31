"""The same happy path through every request style the official SDK can produce:
TC3 POST (JSON), TC3 GET (flattened query), legacy v1 HmacSHA256/HmacSHA1 over POST form and GET."""

from __future__ import annotations

import pytest
import requests

from scfdtest import ACCOUNT_A, Account, b64, hello_zip, make_zip, HELLO_PY, sha256_hex, uniq

STYLES = [
    ("TC3-HMAC-SHA256", "POST"),
    ("TC3-HMAC-SHA256", "GET"),
    ("HmacSHA256", "POST"),
    ("HmacSHA256", "GET"),
    ("HmacSHA1", "POST"),
    ("HmacSHA1", "GET"),
]
IDS = [f"{m}-{v}" for m, v in STYLES]

TRICKY = "描述 with spaces & symbols=?/:+%#; 'quotes' \"dq\""


@pytest.mark.parametrize("sign_method,verb", STYLES, ids=IDS)
def test_style_happy_path(server, sign_method, verb):
    api = server.client(sign_method=sign_method, req_method=verb)
    ns = uniq("st")

    # namespaces
    api.call("CreateNamespace", Namespace=ns, Description=TRICKY)
    resp = api.call("ListNamespaces", SearchKey=[{"Key": "Namespace", "Value": ns}], Limit=10, Offset=0)
    assert [n["Name"] for n in resp["Namespaces"]] == [ns]
    assert resp["Namespaces"][0]["Description"] == TRICKY
    assert resp["TotalCount"] == 1
    api.call("UpdateNamespace", Namespace=ns, Description="updated " + TRICKY)
    resp = api.call("ListNamespaces", SearchKey=[{"Key": "Description", "Value": "updated 描述"}], Limit=100)
    assert ns in [n["Name"] for n in resp["Namespaces"]]

    # functions
    z = make_zip({"index.py": HELLO_PY, "bin.dat": bytes(range(256)) * 8})
    assert "+" in b64(z) or "/" in b64(z)  # exercises URL encoding of base64
    env = {"Variables": [{"Key": "A_B", "Value": TRICKY}, {"Key": "N", "Value": "42"}]}
    api.call("CreateFunction", {
        "FunctionName": "py-fn", "Namespace": ns, "Code": {"ZipFile": b64(z)}, "Handler": "index.main_handler",
        "Runtime": "Python3.9", "MemorySize": 256, "Timeout": 10, "Environment": env, "Description": TRICKY,
    })
    api.call("CreateFunction", {
        "FunctionName": "node-fn", "Namespace": ns, "Code": {"ZipFile": b64(hello_zip())},
        "Handler": "index.main_handler", "Runtime": "Nodejs18.15",
    })
    f = api.wait_status("py-fn", ns)
    assert f["MemorySize"] == 256
    assert f["Timeout"] == 10
    assert f["Description"] == TRICKY
    assert {v["Key"]: v["Value"] for v in f["Environment"]["Variables"]} == {"A_B": TRICKY, "N": "42"}
    api.wait_status("node-fn", ns)

    resp = api.call("ListFunctions", Namespace=ns, Limit=10, Offset=0, Orderby="FunctionName", Order="ASC",
                    Filters=[{"Name": "Runtime", "Values": ["Python3.9", "Go1"]},
                             {"Name": "Status", "Values": ["Creating", "Active"]}])
    assert [x["FunctionName"] for x in resp["Functions"]] == ["py-fn"]
    assert resp["TotalCount"] == 1
    resp = api.call("ListFunctions", Namespace=ns, Orderby="FunctionName", Order="DESC",
                    Filters=[{"Name": "Type", "Values": ["Event"]}])
    assert [x["FunctionName"] for x in resp["Functions"]] == ["py-fn", "node-fn"]

    api.call("UpdateFunctionConfiguration", FunctionName="py-fn", Namespace=ns, MemorySize=512,
             Environment={"Variables": [{"Key": "ONLY", "Value": "one"}]})
    f = api.wait_status("py-fn", ns)
    assert f["MemorySize"] == 512
    assert {v["Key"]: v["Value"] for v in f["Environment"]["Variables"]} == {"ONLY": "one"}

    z2 = hello_zip("# updated through " + sign_method + verb + "\n")
    api.call("UpdateFunctionCode", FunctionName="py-fn", Namespace=ns, ZipFile=b64(z2), Handler="index.other")
    f = api.wait_status("py-fn", ns)
    assert f["Handler"] == "index.other"
    addr = api.call("GetFunctionAddress", FunctionName="py-fn", Namespace=ns)
    assert addr["CodeSha256"] == sha256_hex(z2)
    assert requests.get(addr["Url"], timeout=10).content == z2

    acct = api.call("GetAccount")
    usage = {n["Namespace"]: n for n in acct["AccountUsage"]["Namespace"]}
    assert sorted(usage[ns]["Functions"]) == ["node-fn", "py-fn"]

    # errors come back through every style
    api.expect("ResourceNotFound.Function", "GetFunction", FunctionName="missing-fn", Namespace=ns)
    api.expect("ResourceInUse.Namespace", "DeleteNamespace", Namespace=ns)

    api.call("DeleteFunction", FunctionName="py-fn", Namespace=ns)
    api.call("DeleteFunction", FunctionName="node-fn", Namespace=ns)
    assert api.call("ListFunctions", Namespace=ns)["TotalCount"] == 0
    api.call("DeleteNamespace", Namespace=ns)
    assert ns not in api.namespaces()


@pytest.mark.parametrize("sign_method,verb", STYLES, ids=IDS)
def test_style_wrong_key(server, sign_method, verb):
    bad = Account(ACCOUNT_A.secret_id, "definitely-wrong", 0, "0")
    server.client(bad, sign_method=sign_method, req_method=verb).expect("AuthFailure.SignatureFailure",
                                                                        "ListNamespaces")


@pytest.mark.parametrize("sign_method,verb", STYLES, ids=IDS)
def test_style_type_coercion_error(server, sign_method, verb):
    api = server.client(sign_method=sign_method, req_method=verb)
    api.expect("InvalidParameter", "ListFunctions", {"Limit": "abc"}, raw=True)
