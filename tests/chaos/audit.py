"""After a chaos run: what the server holds, read through the public API, against the ledger of
what its clients were told.

Findings, one list per check (each a test of its own, so one can be marked alone):
- async_not_final: an accepted async request (Invoke Event answered with a request id) without a
  record, or still RetCode 1, once its function's timeout plus RECOVERY_S have passed since the
  last restart (GetRequestStatus);
- async_wrong: a final async record whose outcome is not the one its event asked for (an event
  that did not ask to fail must end RetCode 0 however often its node died; one that asked to
  fail, -1 after its retries);
- sync_mismatch: an answered sync request whose record is missing or holds another outcome
  (GetRequestStatus: RetCode 0 for InvokeResult 0, else -1, and the same RetMsg);
- stuck: any record of any function, acknowledged or not (a request cut short by a kill has
  none), still RetCode 1 past that time (GetFunctionLogs lists them all: InvokeFinished 0);
- functions: an acknowledged CreateFunction / UpdateFunctionCode / UpdateFunctionConfiguration
  that is not there: GetFunction not Active, or an Invoke not answering with the version tag and
  CHAOS_CONF of the last acknowledged change (or of a later unanswered one, which may have been
  applied before its node died); also a function left Creating or Updating;
- contradictions: GetRequestStatus answers during the load that contradicted an
  acknowledgement (an acknowledged request with no record, a sync record with another outcome).
"""

from __future__ import annotations

import datetime as _dt
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from invoketest import bj_now, fmt, invoke, request_status
from scfdtest import Account, Api, Server, sdk_client
from workload import TIMEOUT_S, Change, Ledger, ret_json

# What recovery may take after the last restart, on top of a function's timeout: a restarted
# node fails its cut-short sync requests and requeues its running async events at start, a dead
# node's leases (3 s) run out for the other, a failing event's two retries are 1 s apart, an
# account held back at its share waits up to 4 s, and the queue left by the load drains on two
# busy cores. Generous on purpose: a request that needs more is a finding, not noise.
RECOVERY_S = 20.0


@dataclass
class Findings:
    async_not_final: list[str] = field(default_factory=list)
    async_wrong: list[str] = field(default_factory=list)
    sync_mismatch: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    # seconds from the last restart until every acknowledged async request was final
    settled_after_s: float = 0.0
    records_swept: int = 0

    @property
    def lost(self) -> int:
        """Acknowledged work the server lost: requests without a final record or with another
        outcome than answered, and acknowledged changes of functions that are not there."""
        return len(self.async_not_final) + len(self.sync_mismatch) + len(self.functions)


def _sample(items: list[str], n: int = 15) -> str:
    more = f"\n  ... and {len(items) - n} more" if len(items) > n else ""
    return "\n  " + "\n  ".join(items[:n]) + more


def expect_none(what: str, items: list[str]) -> None:
    assert not items, f"{len(items)} {what}:{_sample(items)}"


class Auditor:
    def __init__(self, nodes: list[Server], ledger: Ledger, started_wall: float):
        self.nodes = nodes
        self.ledger = ledger
        # GetRequestStatus and GetFunctionLogs look in a window: from a minute before the run.
        now = bj_now()
        self.window = {"StartTime": fmt(now - _dt.timedelta(seconds=time.time() - started_wall + 60)),
                       "EndTime": fmt(now + _dt.timedelta(hours=1))}

    def api(self, acc: Account) -> Api:
        return Api(sdk_client(random.choice(self.nodes), acc))

    def status(self, rid: str, acc: Account, name: str) -> dict | None:
        r = request_status(self.api(acc), name, rid, **self.window)
        return r["Data"][0] if r["TotalCount"] == 1 else None

    def run(self, last_restart: float) -> Findings:
        f = Findings(contradictions=list(self.ledger.contradictions))
        deadline = last_restart + TIMEOUT_S + RECOVERY_S
        self.check_async(f, last_restart, deadline)
        self.sweep(f, deadline)
        self.check_sync(f)
        self.check_functions(f, deadline)
        return f

    def check_async(self, f: Findings, last_restart: float, deadline: float) -> None:
        pending = dict(self.ledger.async_acks)
        final: dict[str, dict] = {}
        missing: set[str] = set()
        with ThreadPoolExecutor(4) as pool:
            while pending:
                rids = list(pending)
                recs = list(pool.map(lambda rid: self.status(rid, pending[rid].account, pending[rid].function), rids))
                missing = set()
                for rid, rec in zip(rids, recs):
                    if rec is None:
                        missing.add(rid)
                    elif rec["RetCode"] != 1:
                        final[rid] = rec
                        del pending[rid]
                if not pending or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        f.settled_after_s = time.monotonic() - last_restart
        for rid, ack in pending.items():
            why = "has no record" if rid in missing else "is still RetCode 1"
            f.async_not_final.append(f"async request {rid} of {ack.function} ({ack.account.secret_id[:12]}) {why} "
                                     f"{TIMEOUT_S + RECOVERY_S:.0f} s after the last restart")
        for rid, rec in final.items():
            ack = self.ledger.async_acks[rid]
            want = -1 if ack.fail else 0
            if rec["RetCode"] != want:
                f.async_wrong.append(f"async request {rid} of {ack.function} asked to {'fail' if ack.fail else 'succeed'}, "
                                     f"ended RetCode {rec['RetCode']} after {rec['RetryNum']} retries: {rec['RetMsg']!r}")

    def sweep(self, f: Findings, deadline: float) -> None:
        """Every record of every function: none may stay running past the deadline."""
        while True:
            running = []
            total = 0
            for acc, name in self.ledger.functions():
                try:
                    r = self.api(acc).call("GetFunctionLogs", FunctionName=name, Limit=10000, **self.window)
                except TencentCloudSDKException as e:
                    if e.get_code() == "ResourceNotFound.Function":
                        continue  # an unanswered CreateFunction that never happened
                    raise
                assert r["TotalCount"] <= 10000, f"{name} has {r['TotalCount']} records: the sweep sees 10000"
                total += r["TotalCount"]
                running += [(name, d) for d in r["Data"] if d["InvokeFinished"] == 0]
            f.records_swept = total
            if not running or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for name, d in running:
            f.stuck.append(f"request {d['RequestId']} of {name}, started {d['StartTime']}, still running "
                           f"{TIMEOUT_S + RECOVERY_S:.0f} s after the last restart")

    def check_sync(self, f: Findings) -> None:
        answers = dict(self.ledger.sync_answers)
        with ThreadPoolExecutor(4) as pool:
            recs = dict(zip(answers, pool.map(lambda rid: self.status(rid, answers[rid].account, answers[rid].function),
                                              answers)))
        for rid, a in answers.items():
            rec = recs[rid]
            want = 0 if a.invoke_result == 0 else -1
            if rec is None:
                f.sync_mismatch.append(f"sync request {rid} of {a.function} was answered, has no record")
            elif rec["RetCode"] != want or rec["RetMsg"] != a.ret_msg:
                f.sync_mismatch.append(f"sync request {rid} of {a.function} was answered InvokeResult {a.invoke_result} "
                                       f"{a.ret_msg!r}, its record says RetCode {rec['RetCode']} {rec['RetMsg']!r}")

    def check_functions(self, f: Findings, deadline: float) -> None:
        for acc, name in self.ledger.functions():
            key = (acc.secret_id, name)
            created = self.ledger.creates.get(key)
            if created is not None:
                allowed_code = {created.value}
                allowed_conf = {""}
            else:
                v0, c0 = self.ledger.initial[key]
                allowed_code = allowed(v0, self.ledger.code_changes.get(key, []))
                allowed_conf = allowed(c0, self.ledger.config_changes.get(key, []))
            api = self.api(acc)
            while True:
                try:
                    g = api.get_function(name)
                except Exception as e:
                    g = None
                    err = e
                if g is None or g["Status"] not in ("Creating", "Updating") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if g is None:
                if created is not None and created.state != "acked":
                    continue  # never answered, and not there: it did not happen
                f.functions.append(f"{name} ({acc.secret_id[:12]}): acknowledged, GetFunction says {err}")
                continue
            if created is not None and created.state == "refused":
                f.functions.append(f"{name}: CreateFunction was refused ({created.code}) yet the function exists")
            if g["Status"] != "Active":
                f.functions.append(f"{name} ({acc.secret_id[:12]}) is {g['Status']} {g.get('StatusReasons')} "
                                   f"after the run; expected Active with {sorted(allowed_code)}")
                continue
            env = {v["Key"]: v["Value"] for v in (g["Environment"] or {}).get("Variables") or []}
            if env.get("CHAOS_CONF", "") not in allowed_conf:
                f.functions.append(f"{name}: GetFunction has CHAOS_CONF={env.get('CHAOS_CONF')!r}, "
                                   f"expected one of {sorted(allowed_conf)}")
            try:
                r = invoke(api, name, {"n": "audit"}, log=False)
            except TencentCloudSDKException as e:
                f.functions.append(f"{name}: Active, but Invoke is refused: {e.get_code()} {e.get_message()}")
                continue
            got = ret_json(r["RetMsg"]) or {}
            if got.get("version") not in allowed_code or got.get("conf", "") not in allowed_conf:
                f.functions.append(f"{name}: runs version {got.get('version')!r} conf {got.get('conf')!r} "
                                   f"({r['RetMsg'][:200]!r}), expected one of {sorted(allowed_code)} / {sorted(allowed_conf)}")


def allowed(initial: str, changes: list[Change]) -> set[str]:
    """What a function may hold after `changes` (in the order sent): the last acknowledged one
    (or the initial value if none was), or any later one that got no answer. A refused one may
    never stand."""
    last = max((i for i, c in enumerate(changes) if c.state == "acked"), default=-1)
    base = changes[last].value if last >= 0 else initial
    return {base} | {c.value for c in changes[last + 1:] if c.state == "unknown"}

