"""Chaos: nothing acknowledged is lost while scfd and PostgreSQL die at random under load.

Three runs, each a module-wide fixture; every check is a test of its own against each run:
- sqlite-kill9: one node on SQLite, SIGKILLed at a random moment and restarted, CHAOS_CYCLES
  times (20 by default);
- postgres-node-kills: two nodes on one PostgreSQL database, one (sometimes both) SIGKILLed
  each cycle, down a moment or past a lease (so the other takes its events over), CHAOS_CYCLES
  cycles, and PostgreSQL itself restarted (immediate stop) in the middle of them;
- postgres-restarts: two nodes, no node killed, PostgreSQL restarted under load three times (a
  node restart would repair what the store's outage leaves behind and hide it).

Load: workload.py (three accounts; sync and async Invokes, GetRequestStatus polls, code and
configuration updates, creates). Checks: audit.py. Reproduce one run with CHAOS_SEED (the
schedule of faults; the load's interleaving is timing, not seed) and CHAOS_CYCLES, e.g.
  CHAOS_SEED=1234 CHAOS_CYCLES=40 .venv/bin/python -m pytest tests/chaos -q -k sqlite
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import dataclass

import pytest

from audit import Auditor, Findings, expect_none
from figures import FIGURES, chaos_cycles
from faults import Postgres, fresh_database, pg_url_or_skip, wait_answering
from scfdtest import Server
from workload import Ledger, Workload, chaos_config


@dataclass
class Run:
    name: str
    findings: Findings
    ledger: Ledger
    cycles: int
    wanted_cycles: int


class Schedule:
    """The faults of a run and their figures."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.kills = 0
        self.pg_restarts = 0
        self.cycles = 0
        self.last_restart = time.monotonic()
        self.pg_recovery_s: list[float] = []

    def restarted(self) -> None:
        self.last_restart = time.monotonic()

    def kill_and_restart(self, nodes: list[Server]) -> None:
        for n in nodes:
            n.kill()
            self.kills += 1
        r = self.rng.random()
        # Mostly back at once; sometimes down a while, past a 3 s lease in a cluster.
        down = 0.0 if r < 0.5 else self.rng.uniform(0.05, 0.6) if r < 0.85 else 3.5
        time.sleep(down)
        for n in nodes:
            n.start()
        self.restarted()

    def restart_postgres(self, pg: Postgres, nodes: list[Server],
                         victims: list[Server] = ()) -> None:
        """PostgreSQL down for 1-3 s under load, then back. `victims` are SIGKILLed while it is
        down, holding the outcomes they answered (in their journals), and started once it is
        back (a node does not start without its store)."""
        pg.stop()
        try:
            time.sleep(self.rng.uniform(1.0, 3.0))
            for n in victims:
                n.kill()
                self.kills += 1
        finally:
            pg.start()
        for n in victims:
            n.start()
        self.pg_restarts += 1
        self.pg_recovery_s.append(wait_answering(nodes))
        self.restarted()


def sqlite_kill9(tmp, sched: Schedule, n: int, ledger: Ledger, nodes: list[Server]) -> None:
    nodes.append(Server(tmp / "node", chaos_config()).start())
    load = Workload(nodes, ledger, random.Random(sched.rng.random()))
    load.setup()
    load.start()
    try:
        for _ in range(n):
            time.sleep(sched.rng.uniform(0.3, 1.5))
            sched.kill_and_restart(nodes)
            sched.cycles += 1
        time.sleep(1.0)
    finally:
        load.stop()


def postgres_runs(tmp, sched: Schedule, n: int, ledger: Ledger, nodes: list[Server], db: str,
                  pg: Postgres | None, node_kills: bool) -> None:
    for nid in ("node-a", "node-b"):
        nodes.append(Server(tmp / nid, chaos_config(nid, db)).start())
    load = Workload(nodes, ledger, random.Random(sched.rng.random()))
    load.setup()
    load.start()
    try:
        if node_kills:
            for cycle in range(n):
                time.sleep(sched.rng.uniform(0.3, 1.5))
                if pg is not None and cycle == n // 2:
                    # One node killed during the outage: what it answered meanwhile comes back
                    # from its journal.
                    sched.restart_postgres(pg, nodes, victims=[nodes[0]])
                r = sched.rng.random()
                victims = nodes if r < 0.1 else [nodes[0]] if r < 0.55 else [nodes[1]]
                sched.kill_and_restart(victims)
                sched.cycles += 1
        else:
            for _ in range(n):
                time.sleep(sched.rng.uniform(1.0, 2.0))
                sched.restart_postgres(pg, nodes)
                sched.cycles += 1
        time.sleep(1.0)
    finally:
        load.stop()


# PostgreSQL restarts of the postgres-restarts run (each costs its outage, 1-3 s).
PG_RESTARTS = 3


@pytest.fixture(scope="module", params=["sqlite-kill9", "postgres-node-kills", "postgres-restarts"])
def run(request, tmp_path_factory):
    name = request.param
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))
    n = chaos_cycles()
    tmp = tmp_path_factory.mktemp(name)
    sched = Schedule(seed)
    ledger = Ledger()
    started, started_wall = time.monotonic(), time.time()
    nodes: list[Server] = []
    with store_for(name) as (db, pg):
        try:
            if name == "sqlite-kill9":
                wanted = n
                sqlite_kill9(tmp, sched, n, ledger, nodes)
            elif name == "postgres-node-kills":
                wanted = n
                postgres_runs(tmp, sched, n, ledger, nodes, db, pg, node_kills=True)
            else:
                wanted = PG_RESTARTS
                postgres_runs(tmp, sched, wanted, ledger, nodes, db, pg, node_kills=False)
            findings = Auditor(nodes, ledger, started_wall).run(sched.last_restart)
        except BaseException:
            for node in nodes:
                print(f"\n===== scfd log ({node.workdir}) =====\n{node.all_logs()[-6000:]}")
                node.stop()
            raise
        figures = {
            "test": name, "seed": seed, "cycles": sched.cycles, "kills": sched.kills,
            "pg_restarts": sched.pg_restarts,
            "pg_recovery_s": max(sched.pg_recovery_s, default=0.0),
            "async_accepted": len(ledger.async_acks), "sync_answered": len(ledger.sync_answers),
            "code_acks": sum(c.state == "acked" for cs in ledger.code_changes.values() for c in cs),
            "config_acks": sum(c.state == "acked" for cs in ledger.config_changes.values() for c in cs),
            "creates": sum(c.state == "acked" for c in ledger.creates.values()),
            "polls": ledger.polls, "records_swept": findings.records_swept,
            "lost": findings.lost, "settled_after_s": findings.settled_after_s,
            "duration_s": time.monotonic() - started, "refusals": dict(ledger.refusals),
        }
        FIGURES.append(figures)
        print(f"\nchaos {name}: {figures}")
        yield Run(name, findings, ledger, sched.cycles, wanted)
        for node in nodes:
            node.stop()


@contextlib.contextmanager
def store_for(name: str):
    """The database and the PostgreSQL server a run needs: (None, None) on SQLite; the server is
    None when it is not ours to restart (node kills still run on it, without its restart)."""
    if name == "sqlite-kill9":
        yield None, None
        return
    url = pg_url_or_skip()
    if name == "postgres-restarts":
        pg = Postgres(url)
    else:
        try:
            pg = Postgres(url)
        except pytest.skip.Exception:
            pg = None
    with fresh_database(url) as db:
        yield db, pg


# --------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------

def test_the_run_survived_every_cycle_under_load(run):
    assert run.cycles == run.wanted_cycles
    assert len(run.ledger.async_acks) >= 30, "too little async load to say anything"
    assert len(run.ledger.sync_answers) >= 30, "too little sync load to say anything"


def test_every_accepted_async_request_reaches_a_final_status(run):
    expect_none("accepted async requests not final", run.findings.async_not_final)


def test_async_requests_end_as_their_events_asked(run):
    expect_none("async requests with another outcome than their event asked for", run.findings.async_wrong)


def test_every_answered_sync_request_has_its_record_with_the_same_outcome(run):
    expect_none("answered sync requests whose record differs", run.findings.sync_mismatch)


def test_no_record_stays_running(run):
    expect_none("records still RetCode 1 past their function's timeout plus the recovery interval",
                run.findings.stuck)


def test_every_acknowledged_create_and_update_is_there_with_its_code(run):
    expect_none("acknowledged function changes not there", run.findings.functions)


def test_status_polls_never_contradict_an_acknowledgement(run):
    expect_none("GetRequestStatus answers that contradicted an acknowledgement", run.findings.contradictions)
