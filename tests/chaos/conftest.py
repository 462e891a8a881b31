"""The chaos suite: mixed load from several accounts while scfd (and PostgreSQL) die at random.

It reuses the end-to-end suite's helpers (tests/e2e/scfdtest.py, invoketest.py: the Server
process, the official SDK wrapper, the zip builders), so tests/e2e goes on the import path.

Environment:
  SCFD_BIN          the scfd binary (default: <repo>/target/release/scfd)
  CHAOS_CYCLES      kill/restart cycles per test (default 20)
  CHAOS_SEED        seed of the random schedule (default: random; every test prints its own)
  SCFD_TEST_PG_URL  a PostgreSQL server for the two-node tests (scripts/test.sh starts one);
                    without it they are skipped, or fail when SCFD_REQUIRE_PG is set
"""

from __future__ import annotations

import sys
from pathlib import Path

# Appended, not prepended: tests/e2e has a conftest.py of its own, which must not shadow ours.
sys.path.append(str(Path(__file__).resolve().parents[1] / "e2e"))

from figures import FIGURES  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    tr = terminalreporter
    tr.section("chaos figures")
    for f in FIGURES:
        tr.write_line(
            f"{f['test']}: {f['cycles']} cycles survived ({f['kills']} SIGKILLs"
            f"{', %d PostgreSQL restarts' % f['pg_restarts'] if f['pg_restarts'] else ''}), "
            f"accepted {f['async_accepted']} async + {f['sync_answered']} sync answered, "
            f"{f['code_acks']} code / {f['config_acks']} config updates and {f['creates']} creates "
            f"acknowledged, {f['polls']} GetRequestStatus polls, {f['records_swept']} records swept; "
            f"lost = {f['lost']}; "
            f"all final {f['settled_after_s']:.1f} s after the last restart"
            f"{'; nodes answering %.1f s after PostgreSQL was back' % f['pg_recovery_s'] if f['pg_restarts'] else ''}; "
            f"{f['duration_s']:.0f} s; seed {f['seed']}")
        if f["refusals"]:
            tr.write_line("    refused while nodes were down or restarting: " + ", ".join(
                f"{k} x{v}" for k, v in sorted(f["refusals"].items(), key=lambda kv: -kv[1])))
