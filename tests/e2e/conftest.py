"""Fixtures for the scfd end-to-end suite.

Environment:
  SCFD_BIN   path of the scfd binary (default: <repo>/target/release/scfd)

Fixtures:
  server       a module-wide scfd with two accounts (A, B), unlimited rate, generous limits
  api / api_b  SDK (TC3 POST) clients of accounts A / B on `server`
  make_server  factory for a private scfd: make_server(config_text=None|str, env=None, start=True, **make_config_kwargs)
  engine_server  a module-wide scfd with the invocation engine configured for tests
               (async retry interval 1 s, polling actions not rate limited); eapi / eapi_b its clients
  hits         a module-wide HitServer (invoketest) functions report to over HTTP
"""

from __future__ import annotations

import pytest

from invoketest import HitServer, engine_config
from scfdtest import ACCOUNT_A, ACCOUNT_B, Server, make_config


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return bool(rep and rep.failed)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("scfd-shared"), make_config())
    s.start()
    yield s
    s.stop()


@pytest.fixture
def api(server):
    return server.client(ACCOUNT_A)


@pytest.fixture
def api_b(server):
    return server.client(ACCOUNT_B)


@pytest.fixture
def make_server(tmp_path_factory, request):
    started: list[Server] = []

    def factory(config_text: str | None = "__default__", env: dict | None = None, start: bool = True,
                **config_kwargs) -> Server:
        if config_text == "__default__":
            config_text = make_config(**config_kwargs)
        s = Server(tmp_path_factory.mktemp("scfd"), config_text, env=env)
        started.append(s)
        if start:
            s.start()
        return s

    yield factory
    for s in started:
        if _failed(request):
            print(f"\n===== scfd log ({s.workdir}) =====\n{s.all_logs()[-6000:]}")
        s.stop()


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("scfd-engine"), engine_config())
    s.start()
    yield s
    s.stop()


@pytest.fixture
def eapi(engine_server, request):
    yield engine_server.client(ACCOUNT_A)
    if _failed(request):
        print(f"\n===== scfd log ({engine_server.workdir}) =====\n{engine_server.log()[-6000:]}")


@pytest.fixture
def eapi_b(engine_server):
    return engine_server.client(ACCOUNT_B)


@pytest.fixture(scope="module")
def hits():
    h = HitServer()
    yield h
    h.close()
