"""One tenant's log cannot fill the database (issue 11, point 5).

Before (main at 145c703): each request kept up to 64 KB of log with no bound per account; one
function printing that much on every warm invocation grew the database by 47 MB/s. Now each
account has `[limits] log_bytes_per_minute`; past it a request keeps its START/END/Report
lines and a note, and its result as always."""

from __future__ import annotations

import pytest

from invoketest import deploy, engine_config, invoke, ok
from scfdtest import ACCOUNT_A, ACCOUNT_B, Server

LOUD = "def main_handler(event, context):\n    print('x' * 60000)\n    return 'done'\n"


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("scfd-logbudget"),
               engine_config(limits={"log_bytes_per_minute": 100_000}))
    s.start()
    yield s
    s.stop()


def test_an_account_over_its_log_budget_keeps_results_not_logs(budgeted):
    a, b = budgeted.client(ACCOUNT_A), budgeted.client(ACCOUNT_B)
    name = deploy(a, LOUD)
    first = ok(invoke(a, name))
    assert "x" * 1000 in first["Log"], first["Log"][:200]
    second = ok(invoke(a, name))
    assert second["RetMsg"] == '"done"'
    assert "[log dropped" in second["Log"] and "x" * 1000 not in second["Log"], second["Log"][:300]
    assert "Report RequestId" in second["Log"], "the figures stay"
    # The other account's budget is its own.
    other = ok(invoke(b, deploy(b, LOUD)))
    assert "x" * 1000 in other["Log"]
