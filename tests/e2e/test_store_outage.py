"""PostgreSQL goes away under a running scfd (issue 11, point 4), through the official SDK.

Before (main at 0b7cd2c): a sync request that finished while the database was down gave its
caller `InternalError.System` instead of its result (the outcome write was tried three times
in 120 ms, then dropped), its record stayed RetCode 1 for 30 minutes although the function
succeeded, and every store outage answered `InternalError.System`, which a client cannot tell
from a bug. Now the outcome is held on the node (GetRequestStatus answers from it) and written
when the store is back; an outage answers `ServiceUnavailable` within seconds."""

from __future__ import annotations

import glob
import subprocess
import threading
import time
from pathlib import Path

import pytest

from invoketest import deploy, engine_config, invoke, ok, status_record
from scfdtest import ACCOUNT_A, REPO_ROOT, Server, uniq

PG_SH = REPO_ROOT / "scripts" / "pg.sh"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class Postgres:
    """A throwaway cluster of scripts/pg.sh that this test can stop and start again."""

    def __init__(self, root: Path):
        self.dir = root
        out = subprocess.run(["bash", str(PG_SH), "start", str(root)], capture_output=True,
                             text=True, timeout=120)
        if out.returncode != 0:
            pytest.skip(f"no PostgreSQL: {out.stderr.strip()[-300:]}")
        self.url = out.stdout.strip().splitlines()[-1]
        self.port = (root / "port").read_text().strip()
        self.bin = _pg_bin()

    def _ctl(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"),
                        "-D", str(self.dir / "data"), *args], check=True, capture_output=True,
                       timeout=60)

    def down(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def up(self) -> None:
        self._ctl("-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def sql(self, query: str) -> str:
        out = subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "psql"),
                              "-h", "127.0.0.1", "-p", self.port, "-d", "postgres", "-tAc", query],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def remove(self) -> None:
        subprocess.run(["bash", str(PG_SH), "stop", str(self.dir)], capture_output=True, timeout=60)


@pytest.fixture
def pg_node(tmp_path):
    # Under /tmp: the cluster runs as the postgres user, who must reach its folder.
    pg = Postgres(Path("/tmp") / uniq("scfd-outage-pg"))
    s = Server(tmp_path / "node", engine_config() + f'\n[store]\nurl = "{pg.url}"\n')
    try:
        s.start(timeout=30)
        yield s, pg
    finally:
        s.stop()
        pg.remove()


def test_a_request_that_ran_through_an_outage_gets_its_result_and_its_record(pg_node):
    server, pg = pg_node
    api = server.client(ACCOUNT_A)
    name = deploy(api, "import time\n\ndef main_handler(event, context):\n"
                       "    time.sleep(3)\n    return 'through'\n", timeout=30)
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(invoke(api, name, log=False)))
    t.start()
    time.sleep(1.0)  # running, and its running record is in the store
    pg.down()
    try:
        t.join(timeout=60)
        assert ok(result)["RetMsg"] == '"through"', result
        rid = result["FunctionRequestId"]
        # This node answers for it from what it holds.
        rec = status_record(api, name, rid)
        assert rec is not None and rec["RetCode"] == 0, rec
        # What needs the store says so, quickly, with a code a client can retry on.
        started = time.monotonic()
        e = api.err("ListFunctions", {})
        assert e.get_code() == "ServiceUnavailable", (e.get_code(), e.get_message())
        assert time.monotonic() - started < 15
    finally:
        pg.up()
    # Once the store is back, the held outcome is written: the record says succeeded.
    deadline = time.monotonic() + 30
    while True:
        code = pg.sql(f"SELECT ret_code FROM requests WHERE request_id = '{rid}'")
        if code == "0":
            break
        assert time.monotonic() < deadline, f"the store still says {code!r} for {rid}"
        time.sleep(0.2)
    assert name in api.function_names()
