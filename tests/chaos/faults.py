"""The faults of a chaos run: scfd nodes killed with SIGKILL, and PostgreSQL stopped at once
(`pg_ctl -m immediate`, its crash-like stop) and started again.

The suite restarts a PostgreSQL server only if scripts/pg.sh made it (a throwaway cluster,
marked by `.scfd-pg` beside its data directory, as the one scripts/test.sh starts); any other
server is left alone and the test that needs the restart is skipped, saying why.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from scfdtest import Server


def pg_url_or_skip() -> str:
    url = os.environ.get("SCFD_TEST_PG_URL")
    if not url:
        if os.environ.get("SCFD_REQUIRE_PG"):
            pytest.fail("SCFD_REQUIRE_PG is set but SCFD_TEST_PG_URL is not")
        pytest.skip("no PostgreSQL (set SCFD_TEST_PG_URL; scripts/test.sh starts one): the chaos tests on PostgreSQL are skipped")
    return url


@contextlib.contextmanager
def fresh_database(url: str):
    """A database of its own on the server of `url`, dropped after."""
    name = "scfd_chaos_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", url, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    base, _, _ = url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        subprocess.run(["psql", url, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       check=False, capture_output=True)


class Postgres:
    """The server of a scripts/pg.sh cluster, stopped and started in place (same port, same
    options: `pg_ctl restart` of a stopped server starts it from its postmaster.opts)."""

    def __init__(self, url: str):
        out = subprocess.run(["psql", url, "-Atc", "SHOW data_directory"], capture_output=True, text=True)
        if out.returncode != 0:
            pytest.fail(f"cannot ask PostgreSQL for its data directory: {out.stderr}")
        self.data = Path(out.stdout.strip())
        self.root = self.data.parent
        if os.geteuid() != 0 or not (self.root / ".scfd-pg").exists():
            pytest.skip(f"PostgreSQL at {url} is not a scripts/pg.sh cluster this user may restart "
                        f"(no {self.root}/.scfd-pg, or not root): its restart is skipped")
        opts = shlex.split((self.data / "postmaster.opts").read_text())
        self.pg_ctl = str(Path(opts[0]).parent / "pg_ctl")
        self.url = url

    def _pg_ctl(self, *args: str) -> None:
        p = subprocess.run(["runuser", "-u", "postgres", "--", self.pg_ctl, "-D", str(self.data), *args],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            pytest.fail(f"pg_ctl {' '.join(args)} failed: {p.stdout}{p.stderr}")

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        self._pg_ctl("-l", str(self.root / "server.log"), "-w", "-t", "60", "restart")


def wait_answering(nodes: list[Server], within: float = 30.0) -> float:
    """Seconds until every node answers an API call that reads the store again."""
    t0 = time.monotonic()
    for node in nodes:
        api = node.client()
        while True:
            try:
                api.call("ListFunctions")
                break
            except Exception:
                if time.monotonic() - t0 > within:
                    pytest.fail(f"{node.endpoint} does not answer {within} s after PostgreSQL came back;"
                                f" log:\n{node.log()[-4000:]}")
                time.sleep(0.02)
    return time.monotonic() - t0
