"""Process lifecycle: graceful shutdown, crash durability, account bootstrap."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import tomllib

import requests

from scfdtest import (
    ACCOUNT_A,
    Account,
    address,
    b64,
    hello_zip,
    make_config,
    raw_tc3,
    api_error,
    sha256_hex,
    tccli_bin,
)


def test_sigterm_graceful_exit(make_server):
    s = make_server()
    s.client().call("CreateNamespace", Namespace="before-term")
    assert s.stop(signal.SIGTERM, timeout=10) == 0, s.log()


def test_sigint_graceful_exit(make_server):
    s = make_server()
    s.client().call("ListNamespaces")
    assert s.stop(signal.SIGINT, timeout=10) == 0, s.log()


def test_restart_keeps_state(make_server):
    s = make_server()
    api = s.client()
    api.call("CreateNamespace", Namespace="kept", Description="survives")
    z = hello_zip("# kept\n")
    api.create_function("kept-fn", z, namespace="kept", MemorySize=512)
    assert s.stop() == 0
    s.start()
    api = s.client()
    assert "kept" in api.namespaces()
    f = api.wait_status("kept-fn", "kept")
    assert f["MemorySize"] == 512
    addr = address(api, "kept-fn", "kept")
    assert addr["CodeSha256"] == sha256_hex(z)
    assert requests.get(addr["Url"], timeout=10).content == z


def test_kill9_durability(make_server):
    s = make_server()
    api = s.client()
    zips = {}
    api.call("CreateNamespace", Namespace="dur1", Description="first")
    api.call("CreateNamespace", Namespace="dur2")
    api.call("UpdateNamespace", Namespace="dur2", Description="updated before crash")
    for i, (name, ns) in enumerate([("fa", None), ("fb", "dur1"), ("fc", "dur1")]):
        z = hello_zip(f"# function {i}\n")
        zips[(name, ns)] = z
        p = {"FunctionName": name, "Code": {"ZipFile": b64(z)}, "Handler": "index.main_handler",
             "Runtime": "Python3.9", "Environment": {"Variables": [{"Key": "IDX", "Value": str(i)}]}}
        if ns:
            p["Namespace"] = ns
        api.call("CreateFunction", p)
    # crash immediately after the last acknowledged write
    s.kill()

    s.start()
    api = s.client()
    ns = {n["Name"]: n for n in api.call("ListNamespaces", Limit=100)["Namespaces"]}
    assert {"default", "dur1", "dur2"} <= set(ns)
    assert ns["dur1"]["Description"] == "first"
    assert ns["dur2"]["Description"] == "updated before crash"
    for (name, nsname), z in zips.items():
        f = api.wait_status(name, nsname, timeout=15)
        assert f["Status"] == "Active"
        assert f["Runtime"] == "Python3.9"
        assert [v["Value"] for v in f["Environment"]["Variables"]] == [str(list(zips).index((name, nsname)))]
        assert address(api, name, nsname)["CodeSha256"] == sha256_hex(z)


def test_kill9_durability_updates_and_deletes(make_server):
    s = make_server()
    api = s.client()
    z1 = hello_zip()
    api.create_function("upd", z1)
    api.create_function("gone", z1)
    api.call("CreateNamespace", Namespace="gone-ns")
    s.kill()
    s.start()
    api = s.client()
    api.wait_status("upd")
    z2 = hello_zip("# v2\n")
    api.call("UpdateFunctionConfiguration", FunctionName="upd", Timeout=77, Description="after update")
    api.wait_status("upd")
    api.call("UpdateFunctionCode", FunctionName="upd", ZipFile=b64(z2))
    api.call("DeleteFunction", FunctionName="gone")
    api.call("DeleteNamespace", Namespace="gone-ns")
    s.kill()
    s.start()
    api = s.client()
    f = api.wait_status("upd", timeout=15)
    assert f["Timeout"] == 77
    assert f["Description"] == "after update"
    assert address(api, "upd")["CodeSha256"] == sha256_hex(z2)
    api.expect("ResourceNotFound.Function", "GetFunction", FunctionName="gone")
    assert "gone-ns" not in api.namespaces()


def test_generated_account_first_start(make_server):
    s = make_server(config_text=make_config(accounts=[]))
    acc_file = s.data_dir / "account.toml"
    assert acc_file.exists(), "account.toml was not generated"
    data = tomllib.loads(acc_file.read_text())
    accs = data["accounts"]
    assert len(accs) == 1
    a = accs[0]
    assert a["secret_id"] and a["secret_key"] and isinstance(a["app_id"], int) and a["uin"]
    out = s.log()
    assert a["secret_id"] in out, out
    tccli_lines = [line for line in out.splitlines() if "tccli" in line]
    assert tccli_lines, out
    assert any(a["secret_id"] in line for line in tccli_lines), tccli_lines
    assert any(str(s.port) in line for line in tccli_lines), tccli_lines
    # the printed command line is ready to paste: run it
    line = next(line for line in tccli_lines if line.strip().startswith("tccli "))
    argv = shlex.split(line)
    assert argv[0] == "tccli" and "--secretKey" in argv and "--endpoint" in argv, argv
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENCENTCLOUD_")}
    env["HOME"] = str(s.workdir)
    proc = subprocess.run([tccli_bin()] + argv[1:], capture_output=True, text=True, env=env, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RequestId" in json.loads(proc.stdout)

    acct = Account(a["secret_id"], a["secret_key"], a["app_id"], a["uin"])
    api = s.client(acct)
    api.call("CreateNamespace", Namespace="gen-ns")
    # the configured example accounts do not exist
    s.client(ACCOUNT_A).expect("AuthFailure.SecretIdNotFound", "ListNamespaces")

    # second start reuses the same account and sees the same data
    before = acc_file.read_text()
    s.restart()
    assert acc_file.read_text() == before
    assert "gen-ns" in s.client(acct).namespaces()


def test_generated_account_is_random(make_server):
    s1 = make_server(config_text=make_config(accounts=[]))
    s2 = make_server(config_text=make_config(accounts=[]))
    a1 = tomllib.loads((s1.data_dir / "account.toml").read_text())["accounts"][0]
    a2 = tomllib.loads((s2.data_dir / "account.toml").read_text())["accounts"][0]
    assert a1["secret_id"] != a2["secret_id"]
    assert a1["secret_key"] != a2["secret_key"]


def test_account_from_environment(make_server):
    s = make_server(config_text=make_config(accounts=[]),
                    env={"SCFD_SECRET_ID": "AKIDfromEnvironment00000000000000", "SCFD_SECRET_KEY": "envkey"})
    api = s.client(Account("AKIDfromEnvironment00000000000000", "envkey", 1250000000, "100000000001"))
    api.call("CreateNamespace", Namespace="env-ns")
    assert "env-ns" in api.namespaces()
    bad = raw_tc3(s, "ListNamespaces", {}, secret_id="AKIDfromEnvironment00000000000000", secret_key="nope")
    assert api_error(bad) == "AuthFailure.SignatureFailure"


def test_config_accounts_win_over_environment(make_server):
    s = make_server(env={"SCFD_SECRET_ID": "AKIDfromEnvironment00000000000000", "SCFD_SECRET_KEY": "envkey"})
    s.client().call("ListNamespaces")
    s.client(Account("AKIDfromEnvironment00000000000000", "envkey", 0, "0")).expect(
        "AuthFailure.SecretIdNotFound", "ListNamespaces")


def test_kill9_during_package_extraction(make_server):
    """Kill the server while a big package is probably still being unpacked; after restart the
    function must still reach Active with the exact package."""
    s = make_server()
    api = s.client()
    files = {"index.py": "def main_handler(event, context):\n    return 1\n"}
    files.update({f"lib/m{i:04d}.bin": os.urandom(4096) for i in range(1500)})
    from scfdtest import make_zip
    z = make_zip(files)
    api.call("CreateFunction", {"FunctionName": "bigpkg", "Code": {"ZipFile": b64(z)},
                                "Handler": "index.main_handler", "Runtime": "Python3.9"})
    status_at_kill = api.get_function("bigpkg")["Status"]
    print("status at kill:", status_at_kill)
    s.kill()
    s.start()
    api = s.client()
    f = api.wait_status("bigpkg", timeout=20)
    assert f["Status"] == "Active", (status_at_kill, f)
    addr = address(api, "bigpkg")
    assert addr["CodeSha256"] == sha256_hex(z)
    assert requests.get(addr["Url"], timeout=30).content == z
    # the function can be updated and deleted normally afterwards
    z2 = hello_zip("# after crash\n")
    api.call("UpdateFunctionCode", FunctionName="bigpkg", ZipFile=b64(z2))
    api.wait_status("bigpkg")
    assert address(api, "bigpkg")["CodeSha256"] == sha256_hex(z2)
