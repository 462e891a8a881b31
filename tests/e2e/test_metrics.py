"""`/metrics`: Prometheus text that a real Prometheus parser accepts, with the series an
operator needs, counting what actually happened."""

from __future__ import annotations

import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from invoketest import deploy, engine_config, invoke, invoke_async, status_record
from scfdtest import ACCOUNT_A


def scrape(server) -> dict:
    r = requests.get(server.base_url + "/metrics", timeout=5)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def value(families: dict, family: str, sample: str, **labels) -> float:
    f = families[family]
    hits = [s.value for s in f.samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    assert hits, f"no {sample} with {labels} in {[s for s in f.samples][:5]}"
    return sum(hits)


def test_metrics_parse_and_count(make_server):
    s = make_server(engine_config(rate_limits={"default": 0, "ListNamespaces": 1}))
    api = s.client(ACCOUNT_A)
    ok = deploy(api, "def main_handler(event, context):\n    return 1\n")
    bad = deploy(api, "def main_handler(event, context):\n    raise ValueError('no')\n")
    for _ in range(3):
        assert invoke(api, ok)["InvokeResult"] == 0
    assert invoke(api, bad)["InvokeResult"] == -1
    rid = invoke_async(api, ok)
    deadline = time.monotonic() + 15
    while status_record(api, ok, rid)["RetCode"] == 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    api.expect("ResourceNotFound.Function", "Invoke", {"FunctionName": "nope"})
    for _ in range(3):  # 1 per second allowed: at least one refusal
        try:
            api.call("ListNamespaces")
        except Exception:  # noqa: BLE001 - RequestLimitExceeded, counted below
            pass

    m = scrape(s)
    app = str(ACCOUNT_A.app_id)
    inv = "scf_invocations"
    assert value(m, inv, "scf_invocations_total", function=ok, kind="sync", result="success", app_id=app) == 3
    assert value(m, inv, "scf_invocations_total", function=ok, kind="async", result="success") == 1
    assert value(m, inv, "scf_invocations_total", function=bad, result="failure") == 1
    assert value(m, "scf_invocation_duration_seconds", "scf_invocation_duration_seconds_count", function=ok) == 4
    assert value(m, "scf_invocation_memory_bytes", "scf_invocation_memory_bytes_count", function=ok) == 4
    assert value(m, "scf_cold_starts", "scf_cold_starts_total", function=ok) >= 1
    assert value(m, "scf_init_duration_seconds", "scf_init_duration_seconds_count", function=ok) >= 1
    assert value(m, "scf_api_requests", "scf_api_requests_total", action="Invoke", code="OK") >= 5
    assert value(m, "scf_api_requests", "scf_api_requests_total", action="Invoke",
                 code="ResourceNotFound.Function") == 1
    assert value(m, "scf_rate_limited", "scf_rate_limited_total", action="ListNamespaces") >= 1
    assert value(m, "scf_instances_warm", "scf_instances_warm") >= 1
    assert "scf_instances_busy" in m and "scf_instances_spare" in m
    assert value(m, "scf_async_queue_depth", "scf_async_queue_depth") == 0
    assert "scf_async_queue_oldest_age_seconds" in m
    assert value(m, "scf_node_info", "scf_node_info") == 1


def test_json_logs_carry_each_api_requests_id(tmp_path):
    """`--log-format json`: one JSON object a line; the lines logged while serving a request
    carry its RequestId (from the request's span)."""
    import json
    import os
    import subprocess

    from scfdtest import free_port, make_config, scfd_bin, sdk_client, Api

    port = free_port()
    (tmp_path / "scfd.toml").write_text(make_config())
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(scfd_bin()), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data"),
             "--config", str(tmp_path / "scfd.toml"), "--log-format", "json"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SCFD_LOG": "debug"})
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)

            api = Api(sdk_client(None, ACCOUNT_A, endpoint=f"127.0.0.1:{port}"))
            ok = api.call_raw("ListNamespaces")
            bad = api.err("GetFunction", {"FunctionName": "nope"})
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    lines = [json.loads(l) for l in log_path.read_text().splitlines() if l.strip()]
    assert lines and all("timestamp" in l and "level" in l for l in lines)
    ids = {l.get("span", {}).get("request_id") for l in lines}
    assert ok["RequestId"] in ids, ids
    assert bad.requestId in ids
    refused = [l for l in lines if l.get("span", {}).get("request_id") == bad.requestId]
    assert any(l["fields"].get("code") == "ResourceNotFound.Function" for l in refused), refused


def test_a_deleted_functions_series_leave_metrics(make_server):
    """Before (main at 145c703) each deleted function kept ~57 series for good."""
    s = make_server("metrics_idle_seconds = 2\n" + engine_config())
    api = s.client(ACCOUNT_A)
    gone = deploy(api, "def main_handler(event, context):\n    return 1\n")
    kept = deploy(api, "def main_handler(event, context):\n    return 2\n")
    assert invoke(api, gone)["InvokeResult"] == 0

    def series_of(families, function):
        return [x for f in families.values() for x in f.samples if x.labels.get("function") == function]

    assert series_of(scrape(s), gone), "the function's series are there while it runs"
    api.call("DeleteFunction", {"FunctionName": gone})
    time.sleep(3)
    assert invoke(api, kept)["InvokeResult"] == 0
    scrape(s)  # pruning happens as the page is rendered
    m = scrape(s)
    assert series_of(m, gone) == []
    assert series_of(m, kept), "a function in use keeps its series"
    assert value(m, "scf_node_info", "scf_node_info") == 1
