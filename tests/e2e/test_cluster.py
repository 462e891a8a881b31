"""Several scfd nodes serving one cluster on a real PostgreSQL.

Each test gets a fresh database on the server of SCFD_TEST_PG_URL (scripts/test.sh starts a
throwaway one) and runs two scfd nodes on it, each with its own data dir and port: what one
node accepts, another runs and a third (or the same) answers for.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from invoketest import deploy, engine_config, invoke, invoke_async, status_record, async_status
from scfdtest import Server
from test_async import RUN_PY, ev


@pytest.fixture
def pg_db():
    url = os.environ.get("SCFD_TEST_PG_URL")
    if not url:
        if os.environ.get("SCFD_REQUIRE_PG"):
            pytest.fail("SCFD_REQUIRE_PG is set but SCFD_TEST_PG_URL is not")
        pytest.skip("no PostgreSQL (set SCFD_TEST_PG_URL; scripts/test.sh starts one)")
    name = "scfd_cluster_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", url, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    base, _, _ = url.rpartition("/")
    yield f"{base}/{name}"
    subprocess.run(["psql", url, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


@pytest.fixture
def cluster(pg_db, tmp_path_factory):
    nodes: list[Server] = []

    def node(node_id: str, dispatch: bool = True, start: bool = True) -> Server:
        config = engine_config(async_={"lease_secs": 3, "dispatch": dispatch})
        config = f'node_id = "{node_id}"\n{config}\n[store]\nurl = "{pg_db}"\n'
        s = Server(tmp_path_factory.mktemp(node_id), config)
        nodes.append(s)
        if start:
            s.start()
        return s

    yield node
    for s in nodes:
        s.stop()


def test_a_function_made_on_one_node_runs_on_the_other(cluster):
    a, b = cluster("node-a"), cluster("node-b")
    api_a, api_b = a.client(), b.client()
    name = deploy(api_a, "def main_handler(event, context):\n    return {'got': event}\n")
    assert name in [f["FunctionName"] for f in api_b.call("ListFunctions")["Functions"]]
    r = invoke(api_b, name, {"x": 1})
    assert r["InvokeResult"] == 0, r
    assert r["RetMsg"] == '{"got": {"x": 1}}'
    # node B had no copy of the package: it fetched it from the database
    assert "fetched a code package from the store" in b.log()
    rid = r["FunctionRequestId"]
    on_a, on_b = status_record(api_a, name, rid), status_record(api_b, name, rid)
    assert on_a is not None and on_a == on_b, (on_a, on_b)
    assert on_a["RetCode"] == 0


def test_async_accepted_by_one_node_runs_on_another_while_it_is_stopped(cluster, hits):
    # node A only accepts (an API node); node B runs what the cluster queues.
    a = cluster("api-node", dispatch=False)
    b = cluster("worker-node", start=False)
    api_a = a.client()
    name = deploy(api_a, RUN_PY, timeout=10)
    tags = [uuid.uuid4().hex[:8] for _ in range(5)]
    rids = [invoke_async(api_a, name, ev(hits, tag)) for tag in tags]
    a.stop()
    b.start()
    api_b = b.client()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        recs = [status_record(api_b, name, rid) for rid in rids]
        if all(r is not None and r["RetCode"] != 1 for r in recs):
            break
        time.sleep(0.2)
    assert all(r["RetCode"] == 0 for r in recs), recs
    for tag in tags:
        assert hits.count("end/" + tag) == 1, tag
    a.start()
    api_a = a.client()
    for rid in rids:
        assert status_record(api_a, name, rid) == status_record(api_b, name, rid)
        assert async_status(api_a, rid)["Status"] == "FINISHED"


def test_kill9_of_the_running_node_and_the_other_finishes(cluster, hits):
    a = cluster("node-a")
    api_a = a.client()
    name = deploy(api_a, RUN_PY, timeout=20)
    tag = uuid.uuid4().hex[:8]
    rid = invoke_async(api_a, name, ev(hits, tag, sleep=6))
    hits.wait("start/" + tag, timeout=10)
    # B joins while A runs the event and renews its lease: B must not take it.
    b = cluster("node-b")
    api_b = b.client()
    time.sleep(4)  # longer than one lease (3 s): A's renewals keep it
    assert hits.count("start/" + tag) == 1, "nothing runs twice while its lease is held"
    assert status_record(api_b, name, rid)["RetCode"] == 1
    a.kill()
    deadline = time.monotonic() + 30
    rec = None
    while time.monotonic() < deadline:
        rec = status_record(api_b, name, rid)
        if rec["RetCode"] != 1:
            break
        time.sleep(0.2)
    assert rec is not None and rec["RetCode"] == 0, rec
    assert hits.count("start/" + tag) == 2, "node B ran it again after A's lease ran out"
    assert hits.count("end/" + tag) >= 1
    assert rec["RetryNum"] == 0, "a run cut short by a dead node is not a retry"
    assert async_status(api_b, rid)["Status"] == "FINISHED"
