"""tccli (the official CLI) against scfd: `--endpoint http://127.0.0.1:PORT` makes it send
`Host: http://127.0.0.1:PORT`, which the server must accept and verify."""

from __future__ import annotations

import json

import requests

from scfdtest import b64, hello_zip, sha256_hex


def test_tccli_namespace_and_function_lifecycle(make_server):
    s = make_server()

    out = s.tccli("CreateNamespace", Namespace="cli-ns", Description="made by tccli").json()
    assert out["RequestId"]
    assert "Response" not in out

    out = s.tccli("ListNamespaces", Limit="100").json()
    names = {n["Name"]: n for n in out["Namespaces"]}
    assert set(names) == {"default", "cli-ns"}
    assert names["cli-ns"]["Description"] == "made by tccli"
    assert out["TotalCount"] == 2

    out = s.tccli("UpdateNamespace", Namespace="cli-ns", Description="changed").json()
    assert out["RequestId"]

    z = hello_zip("# via tccli\n")
    out = s.tccli(
        "CreateFunction",
        FunctionName="cli-fn", Namespace="cli-ns", Handler="index.main_handler", Runtime="Python3.9",
        MemorySize="256", Timeout="15",
        Code={"ZipFile": b64(z)},
        Environment={"Variables": [{"Key": "FROM", "Value": "tccli"}]},
    ).json()
    assert out["RequestId"]

    # SDK and tccli see the same function
    api = s.client()
    api.wait_status("cli-fn", "cli-ns")

    out = s.tccli("GetFunction", FunctionName="cli-fn", Namespace="cli-ns").json()
    assert out["FunctionName"] == "cli-fn"
    assert out["Namespace"] == "cli-ns"
    assert out["MemorySize"] == 256
    assert out["Timeout"] == 15
    assert out["Status"] == "Active"
    assert out["Environment"]["Variables"] == [{"Key": "FROM", "Value": "tccli"}]

    out = s.tccli("ListFunctions", Namespace="cli-ns",
                  Filters=[{"Name": "Runtime", "Values": ["Python3.9"]}]).json()
    assert [f["FunctionName"] for f in out["Functions"]] == ["cli-fn"]
    assert out["TotalCount"] == 1

    out = s.tccli("GetFunctionAddress", FunctionName="cli-fn", Namespace="cli-ns").json()
    assert out["CodeSha256"] == sha256_hex(z)
    assert requests.get(out["Url"], timeout=10).content == z

    out = s.tccli("GetAccount").json()
    usage = {n["Namespace"]: n for n in out["AccountUsage"]["Namespace"]}
    assert usage["cli-ns"]["Functions"] == ["cli-fn"]

    s.tccli("DeleteFunction", FunctionName="cli-fn", Namespace="cli-ns").json()
    api.expect("ResourceNotFound.Function", "GetFunction", FunctionName="cli-fn", Namespace="cli-ns")
    s.tccli("DeleteNamespace", Namespace="cli-ns").json()
    assert api.namespaces() == ["default"]


def test_tccli_error_exit_code(make_server):
    s = make_server()
    r = s.tccli("GetFunction", FunctionName="does-not-exist")
    assert r.returncode == 255, r
    assert "code:ResourceNotFound.Function" in r.output, r.output


def test_tccli_auth_error(make_server):
    from scfdtest import ACCOUNT_A, Account
    s = make_server()
    r = s.tccli("ListNamespaces", account=Account(ACCOUNT_A.secret_id, "wrong-key", 0, "0"))
    assert r.returncode == 255, r
    assert "code:AuthFailure.SignatureFailure" in r.output, r.output


def test_tccli_validation_error(make_server):
    s = make_server()
    r = s.tccli("CreateNamespace", Namespace="1-bad-name")
    assert r.returncode == 255, r
    assert "code:InvalidParameterValue.NamespaceInvalid" in r.output, r.output
    out = s.tccli("ListNamespaces").json()
    assert json.dumps(out).count("1-bad-name") == 0
