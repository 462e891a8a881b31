"""The load of a chaos run and the ledger of every acknowledgement it got.

Each account has two functions made before the faults begin: `steady` (only invoked) and
`churn` (invoked, and its code and configuration updated all along), plus the functions its
creator thread makes during the run. Every function answers with the version tag built into
its code and the CHAOS_CONF variable of its configuration, so what ran tells which code and
which configuration the server held.

Threads per account: sync Invokes, async Invokes (InvocationType Event), an updater
(UpdateFunctionCode / UpdateFunctionConfiguration, each followed by a wait for Active) and a
creator (CreateFunction); one poller reads GetRequestStatus of acknowledged requests and checks
it against what the client was told. Every call goes to one of the nodes that are up, picked at
random; a node killed under a call leaves it unanswered, which the ledger counts apart from
answers.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from invoketest import engine_config, invoke, invoke_async, py_zip, request_status
from scfdtest import ACCOUNT_A, ACCOUNT_B, Account, Api, Server, b64, sdk_client

ACCOUNT_C = Account("AKIDchaosAccountC00000000000000003", "chaosSecretKeyC", 1250000003, "100000000033")
ACCOUNTS = (ACCOUNT_A, ACCOUNT_B, ACCOUNT_C)

# Every function's timeout: the slowest event sleeps 1.2 s, so a run that times out is a bug.
TIMEOUT_S = 3


def function_code(version: str) -> bytes:
    return py_zip(
        "import os, time\n"
        f"VERSION = {version!r}\n"
        "def main_handler(event, context):\n"
        "    time.sleep(event.get('sleep', 0))\n"
        "    if event.get('fail'):\n"
        "        raise RuntimeError('failed as asked, ' + VERSION)\n"
        "    return {'version': VERSION, 'conf': os.environ.get('CHAOS_CONF', ''), 'n': event.get('n')}\n"
    )


def chaos_config(node_id: str | None = None, store_url: str | None = None) -> str:
    """Three accounts, unlimited rates, async retries 1 s apart, leases of 3 s (a dead node's
    events are taken over quickly), instances without outbound network (none is needed, and
    every restart cold-starts them all)."""
    config = engine_config(accounts=ACCOUNTS, sandbox={"network": "none"},
                           async_={"lease_secs": 3, "purge_interval_secs": 5})
    if node_id:
        config = f'node_id = "{node_id}"\ncluster_nodes = 2\n{config}'
    if store_url:
        config += f'\n[store]\nurl = "{store_url}"\n'
    return config


# --------------------------------------------------------------------------------------
# The ledger
# --------------------------------------------------------------------------------------

@dataclass
class AsyncAck:
    account: Account
    function: str
    fail: bool


@dataclass
class SyncAnswer:
    account: Account
    function: str
    invoke_result: int
    ret_msg: str
    # The node that answered: it holds the outcome at once, even while the store is away
    # (the others may read RetCode 1 until the node has written it there).
    node: Server


@dataclass
class Change:
    """One UpdateFunctionCode (value: the version tag), UpdateFunctionConfiguration (value:
    CHAOS_CONF) or CreateFunction, in the order sent. state: "acked" (answered without error),
    "refused" (answered with an error: nothing may have changed), "unknown" (no answer: the
    node died under it, so it may or may not have been applied)."""
    value: str
    state: str = "unknown"
    code: str = ""


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    async_acks: dict[str, AsyncAck] = field(default_factory=dict)
    sync_answers: dict[str, SyncAnswer] = field(default_factory=dict)
    # the same request ids in the order acknowledged
    async_ids: list[str] = field(default_factory=list)
    sync_ids: list[str] = field(default_factory=list)
    # (secret id, function) -> changes in the order sent
    code_changes: dict[tuple[str, str], list[Change]] = field(default_factory=dict)
    config_changes: dict[tuple[str, str], list[Change]] = field(default_factory=dict)
    creates: dict[tuple[str, str], Change] = field(default_factory=dict)
    # the version and configuration each function had before the faults began
    initial: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    refusals: Counter = field(default_factory=Counter)
    polls: int = 0
    # GetRequestStatus answers that contradicted an acknowledgement while the load ran
    contradictions: list[str] = field(default_factory=list)

    def refused(self, action: str, e: Exception) -> None:
        code = e.get_code() if isinstance(e, TencentCloudSDKException) else type(e).__name__
        with self.lock:
            self.refusals[f"{action}: {code}"] += 1

    def functions(self) -> list[tuple[Account, str]]:
        keys = set(self.initial) | set(self.creates)
        return sorted(((self.accounts[sid], name) for sid, name in keys), key=lambda p: (p[0].secret_id, p[1]))


def outcome_code(e: Exception) -> str:
    return e.get_code() if isinstance(e, TencentCloudSDKException) else type(e).__name__


def unanswered(e: Exception) -> bool:
    """True when the call's effect is unknown: no answer came (the node died under it, or was
    down), or an internal error, which says nothing of what was done before it."""
    if not isinstance(e, TencentCloudSDKException):
        return True
    code = e.get_code() or ""
    return code == "ClientNetworkError" or code.startswith("InternalError")


# --------------------------------------------------------------------------------------
# The load
# --------------------------------------------------------------------------------------

class Workload:
    def __init__(self, nodes: list[Server], ledger: Ledger, rng: random.Random):
        self.nodes = nodes
        self.ledger = ledger
        self.rng = rng
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.local = threading.local()
        self.seq = 0
        self.seq_lock = threading.Lock()

    # -- clients -----------------------------------------------------------------------
    def api(self, account: Account) -> Api | None:
        """A client of `account` on one of the nodes that are up (None: all are down)."""
        picked = self.pick(account)
        return picked[0] if picked else None

    def pick(self, account: Account) -> tuple[Api, Server] | None:
        up = [n for n in self.nodes if n.proc is not None]
        if not up:
            return None
        node = random.choice(up)
        cache = getattr(self.local, "clients", None)
        if cache is None:
            cache = self.local.clients = {}
        key = (account.secret_id, node.endpoint)
        if key not in cache:
            cache[key] = Api(sdk_client(node, account))
        return cache[key], node

    def next_n(self) -> int:
        with self.seq_lock:
            self.seq += 1
            return self.seq

    def pause(self, lo: float, hi: float) -> bool:
        """Sleeps; False once the load is to stop."""
        return not self.stop_event.wait(self.rng.uniform(lo, hi))

    # -- before the faults -------------------------------------------------------------
    def setup(self) -> None:
        api0 = lambda acc: Api(sdk_client(self.nodes[0], acc))  # noqa: E731
        for acc in ACCOUNTS:
            self.ledger.accounts[acc.secret_id] = acc
            api = api0(acc)
            for name in ("steady", "churn"):
                version = f"{name}-v0"
                api.create_function(name, function_code(version), Timeout=TIMEOUT_S,
                                    Environment={"Variables": [{"Key": "CHAOS_CONF", "Value": "c0"}]})
                self.ledger.initial[(acc.secret_id, name)] = (version, "c0")
            self.ledger.code_changes[(acc.secret_id, "churn")] = []
            self.ledger.config_changes[(acc.secret_id, "churn")] = []

    def start(self) -> None:
        loops: list[tuple[Callable[..., None], tuple]] = []
        for acc in ACCOUNTS:
            loops += [(self.sync_loop, (acc,)), (self.async_loop, (acc,)),
                      (self.update_loop, (acc,)), (self.create_loop, (acc,))]
        loops.append((self.poll_loop, ()))
        for fn, args in loops:
            t = threading.Thread(target=self._guard, args=(fn, args), daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=60)
            assert not t.is_alive(), "a load thread did not stop within 60 s (a hung call?)"

    def _guard(self, fn, args) -> None:
        try:
            fn(*args)
        except Exception as e:  # a bug in the load itself must not pass silently
            with self.ledger.lock:
                self.ledger.contradictions.append(f"load thread {fn.__name__} crashed: {e!r}")

    # -- the loops ---------------------------------------------------------------------
    def event(self) -> dict:
        r = self.rng.random()
        sleep = self.rng.uniform(0.3, 1.2) if r < 0.15 else 0
        return {"n": self.next_n(), "sleep": sleep, "fail": self.rng.random() < 0.1}

    def sync_loop(self, acc: Account) -> None:
        while self.pause(0.005, 0.03):
            picked = self.pick(acc)
            if picked is None:
                continue
            api, node = picked
            name = "churn" if self.rng.random() < 0.3 else "steady"
            try:
                r = invoke(api, name, self.event(), log=False)
            except Exception as e:
                self.ledger.refused("Invoke", e)
                continue
            with self.ledger.lock:
                self.ledger.sync_answers[r["FunctionRequestId"]] = SyncAnswer(
                    acc, name, r["InvokeResult"], r["RetMsg"], node)
                self.ledger.sync_ids.append(r["FunctionRequestId"])

    def async_loop(self, acc: Account) -> None:
        while self.pause(0.04, 0.12):
            api = self.api(acc)
            if api is None:
                continue
            name = "churn" if self.rng.random() < 0.3 else "steady"
            ev = self.event()
            try:
                rid = invoke_async(api, name, ev)
            except Exception as e:
                self.ledger.refused("Invoke Event", e)
                continue
            with self.ledger.lock:
                self.ledger.async_acks[rid] = AsyncAck(acc, name, ev["fail"])
                self.ledger.async_ids.append(rid)

    def update_loop(self, acc: Account) -> None:
        k = 0
        while self.pause(0.1, 0.4):
            api = self.api(acc)
            if api is None:
                continue
            k += 1
            key = (acc.secret_id, "churn")
            if self.rng.random() < 0.6:
                change = Change(f"churn-v{k}")
                action = "UpdateFunctionCode"
                params = {"FunctionName": "churn", "ZipFile": b64(function_code(change.value))}
                log = self.ledger.code_changes[key]
            else:
                change = Change(f"c{k}")
                action = "UpdateFunctionConfiguration"
                params = {"FunctionName": "churn",
                          "Environment": {"Variables": [{"Key": "CHAOS_CONF", "Value": change.value}]}}
                log = self.ledger.config_changes[key]
            with self.ledger.lock:
                log.append(change)
            try:
                api.call(action, params)
                change.state = "acked"
            except Exception as e:
                if not unanswered(e):
                    change.state, change.code = "refused", outcome_code(e)
                self.ledger.refused(action, e)
                continue
            self.wait_active(acc, "churn", 5.0)

    def wait_active(self, acc: Account, name: str, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not self.stop_event.is_set():
            api = self.api(acc)
            if api is not None:
                try:
                    if api.get_function(name)["Status"] not in ("Creating", "Updating"):
                        return
                except Exception:
                    pass
            time.sleep(0.05)

    def create_loop(self, acc: Account) -> None:
        k = 0
        while self.pause(1.0, 3.0):
            api = self.api(acc)
            if api is None:
                continue
            k += 1
            name = f"made{k}"
            change = Change(f"{name}-v0")
            with self.ledger.lock:
                self.ledger.creates[(acc.secret_id, name)] = change
            try:
                api.create_function(name, function_code(change.value), wait=False, Timeout=TIMEOUT_S)
                change.state = "acked"
            except Exception as e:
                if not unanswered(e):
                    change.state, change.code = "refused", outcome_code(e)
                self.ledger.refused("CreateFunction", e)

    def poll_loop(self) -> None:
        """GetRequestStatus of acknowledged requests: a record must be there from the moment the
        request was acknowledged, and a sync one must already hold the outcome answered."""
        while self.pause(0.02, 0.05):
            # Mostly recent requests (those a restart may have caught mid-way), some old ones.
            with self.ledger.lock:
                ids = self.ledger.async_ids if self.rng.random() < 0.5 else self.ledger.sync_ids
                if not ids:
                    continue
                rid = ids[-self.rng.randint(1, min(len(ids), 500))]
                ack = self.ledger.async_acks.get(rid)
                answer = self.ledger.sync_answers.get(rid)
            acc = (ack or answer).account
            name = (ack or answer).function
            picked = self.pick(acc)
            if picked is None:
                continue
            api, node = picked
            try:
                r = request_status(api, name, rid)
            except Exception as e:
                self.ledger.refused("GetRequestStatus", e)
                continue
            # Another node than the one that answered a sync request reads the store, which
            # lags behind while the answering node holds outcomes for it (after an outage):
            # there the record may be missing or still running, never another outcome.
            lagging = answer is not None and node is not answer.node
            with self.ledger.lock:
                self.ledger.polls += 1
                if r["TotalCount"] != 1 and lagging:
                    continue
                if r["TotalCount"] != 1:
                    self.ledger.contradictions.append(
                        f"GetRequestStatus found no record of acknowledged {'async' if ack else 'sync'} request {rid} of {name}")
                    continue
                rec = r["Data"][0]
                if answer is not None:
                    want = 0 if answer.invoke_result == 0 else -1
                    if not (lagging and rec["RetCode"] == 1) and (
                            rec["RetCode"] != want or rec["RetMsg"] != answer.ret_msg):
                        self.ledger.contradictions.append(
                            f"sync request {rid} of {name} was answered InvokeResult {answer.invoke_result} "
                            f"{answer.ret_msg!r}, its record says RetCode {rec['RetCode']} {rec['RetMsg']!r}")
                elif rec["RetCode"] not in (0, -1, 1):
                    self.ledger.contradictions.append(f"async request {rid}: RetCode {rec['RetCode']}")


def ret_json(ret_msg: str) -> dict | None:
    try:
        v = json.loads(ret_msg)
    except (TypeError, ValueError):
        return None
    return v if isinstance(v, dict) else None
