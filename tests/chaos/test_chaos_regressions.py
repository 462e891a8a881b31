"""What the chaos runs found, each reproduced on its own, deterministically.

1. A run of scfd killed with -9 left its instances' cgroups behind (frozen instances die only
   once the next run thaws them, too late for its start-up to remove their cgroups), and the
   next run named its instances' cgroups `i1`, `i2`, ... again: its first invocations failed
   with "cannot create the cgroup .../i1: File exists". Now the names carry the run
   (`r<pid>-<start ms>-i<id>`).
"""

from __future__ import annotations

import time

import pytest

from invoketest import invoke
from scfdtest import Server
from workload import TIMEOUT_S, chaos_config, function_code


@pytest.fixture
def node(tmp_path):
    s = Server(tmp_path / "node", chaos_config()).start()
    yield s
    s.stop()


def test_the_first_invocations_after_a_kill9_start(node):
    api = node.client()
    api.create_function("warm", function_code("v0"), Timeout=TIMEOUT_S)
    assert invoke(api, "warm", {}, log=False)["InvokeResult"] == 0
    time.sleep(0.3)  # idle long enough to be frozen
    node.kill()
    node.start()
    api = node.client()
    for n in range(3):
        r = invoke(api, "warm", {"n": n}, log=False)
        assert r["InvokeResult"] == 0, r["RetMsg"]
