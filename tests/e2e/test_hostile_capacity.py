"""A hostile tenant against the server's capacity (issue 10, point 7, "fair shares"): one
account's flood of queued async invocations must not refuse another account's sync Invokes,
and instances of what a DeleteFunction, UpdateFunctionCode or UpdateFunctionConfiguration
replaced must not stay warm until their keep-alive.

Instances are counted twice: by the server (`/metrics`) and by the processes under the scfd
process (the sandbox launcher and the runtime it starts)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from invoketest import deploy, engine_config, invoke, invoke_async, ok, py_zip, wait_final
from scfdtest import ACCOUNT_A, ACCOUNT_B, b64, poll

# GetFunction polls, updates and invokes go as fast as the test can send them.
NO_RATES = {"default": 0, "Invoke": 0, "GetRequestStatus": 0, "GetAsyncEventStatus": 0}

SLEEPY_PY = "import time\ndef main_handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'slept'\n"
QUICK_PY = "def main_handler(event, context):\n    return 'quick'\n"


def gauges(server) -> dict[str, float]:
    r = requests.get(server.base_url + "/metrics", timeout=5)
    assert r.status_code == 200, r.text
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if not sample.labels:
                out[sample.name] = sample.value
    return out


def descendants(pid: int) -> set[int]:
    """Every process under `pid` (zombies excluded: they are gone, only not yet reaped)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found


def test_queued_async_flood_of_one_account_leaves_others_running(make_server):
    # 8 slots; each account's share is half of them (the default).
    s = make_server(engine_config(engine={"max_instances": 8}, rate_limits=NO_RATES))
    a, b = s.client(ACCOUNT_A), s.client(ACCOUNT_B)
    flood = deploy(a, SLEEPY_PY, timeout=10)
    quick = deploy(b, QUICK_PY)
    for _ in range(120):
        invoke_async(a, flood, {"sleep": 3})
    # A runs its share and no more; the rest of its events wait in the queue.
    poll(lambda: gauges(s).get("scf_instances_busy") == 4, timeout=5, what="A runs its share")
    err = a.expect("LimitExceeded.Quota", "Invoke", {"FunctionName": flood})
    # ...saying that it is the account's share that is full, not the function's reservation.
    assert "account is at its share" in str(err), err
    # B's sync Invokes all run, though 116 of A's events were queued before them.
    for _ in range(20):
        ok(invoke(b, quick, log=False))
    assert gauges(s)["scf_instances_busy"] <= 5
    # And B's async event does not wait behind A's backlog (about 87 s of it at A's share).
    rid = invoke_async(b, quick)
    rec = wait_final(b, quick, rid, timeout=8)
    assert rec["RetCode"] == 0, rec


def test_updates_leave_no_idle_instances_of_replaced_configurations(make_server):
    s = make_server(engine_config(engine={"max_idle_per_function": 2}, rate_limits=NO_RATES))
    a = s.client(ACCOUNT_A)
    name = deploy(a, QUICK_PY, memory=256)
    ok(invoke(a, name, log=False))
    for i in range(15):
        a.call("UpdateFunctionConfiguration", FunctionName=name,
               Environment={"Variables": [{"Key": "ROUND", "Value": str(i)}]})
        ok(invoke(a, name, log=False))
    g = gauges(s)
    # Each update drains the configuration it replaced: one warm instance, the latest.
    assert g["scf_instances_warm"] == 1, g
    assert g["scf_instances_spare"] == 0, g
    # The code too: an UpdateFunctionCode drains the last configuration.
    a.call("UpdateFunctionCode", FunctionName=name, ZipFile=b64(py_zip(QUICK_PY + "# v2\n")))
    a.wait_status(name)
    assert gauges(s)["scf_instances_warm"] == 0
    ok(invoke(a, name, log=False))
    assert gauges(s)["scf_instances_warm"] == 1


def test_idle_instances_of_one_function_are_capped(make_server):
    s = make_server(engine_config(engine={"max_idle_per_function": 2}, rate_limits=NO_RATES))
    a = s.client(ACCOUNT_A)
    name = deploy(a, SLEEPY_PY, timeout=10)
    # Four at once: four instances, of which two stay warm afterwards.
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoke(s.client(ACCOUNT_A), name, {"sleep": 1}, log=False),
                                range(4)))
    for r in results:
        ok(r)
    assert gauges(s)["scf_instances_warm"] == 2


def test_delete_function_stops_its_instances_at_once(make_server):
    s = make_server(engine_config(rate_limits=NO_RATES))
    a = s.client(ACCOUNT_A)
    name = deploy(a, SLEEPY_PY, timeout=10)
    with ThreadPoolExecutor(2) as pool:
        for r in pool.map(lambda _: invoke(s.client(ACCOUNT_A), name, {"sleep": 0.5}, log=False),
                          range(2)):
            ok(r)
    # Two warm instances and the spare a growing pool keeps.
    poll(lambda: gauges(s).get("scf_instances_spare") == 1, timeout=5, what="a spare")
    assert gauges(s)["scf_instances_warm"] == 2
    before = descendants(s.proc.pid)
    assert before, "instances run under the scfd process"
    a.call("DeleteFunction", FunctionName=name)
    g = gauges(s)
    assert (g["scf_instances_warm"], g["scf_instances_spare"]) == (0, 0), g
    poll(lambda: not descendants(s.proc.pid) & before, timeout=2, what="the instances' processes end")
