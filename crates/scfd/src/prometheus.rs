//! `/metrics`: Prometheus text for an operator's scraper.
//!
//! Counters and histograms are recorded where things happen, through the `metrics` facade
//! (a no-op until [`install`] sets the Prometheus recorder, so tests that build the router
//! alone record nothing): API requests by action and code and rate-limit rejections in the
//! gateway, invocations, durations, memory, cold starts and init durations in scf-core.
//! Gauges that describe a state (instances warm and busy, the async queue) are read when the
//! page is scraped, so they are never stale.
//!
//! Every series is this node's: in a cluster each node is scraped on its own, and
//! `scf_node_info{node="..."}` names it.

use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;

/// Buckets of the duration histograms, in seconds: from a warm invocation's millisecond to
/// SCF's 900 s timeout.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 900.0,
];
/// Buckets of the memory histogram, in bytes: 1 MB to SCF's 3 GB.
const BYTES: &[f64] = &[
    1_048_576.0,
    8_388_608.0,
    16_777_216.0,
    33_554_432.0,
    67_108_864.0,
    134_217_728.0,
    268_435_456.0,
    536_870_912.0,
    1_073_741_824.0,
    3_221_225_472.0,
];

/// Installs the process-wide Prometheus recorder (once, in `scfd serve`). Series not updated
/// for `idle` are dropped: a deleted function's ~60 series would otherwise stay for good.
pub fn install(idle: std::time::Duration) -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .idle_timeout(metrics_util::MetricKindMask::ALL, Some(idle))
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES))
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "scf_api_requests_total",
        "API requests by action and answer code (OK for a success)"
    );
    describe_counter!(
        "scf_rate_limited_total",
        "API requests refused with RequestLimitExceeded, by action"
    );
    describe_counter!(
        "scf_invocations_total",
        "Function invocations that ended, by namespace, function, kind (sync/async) and result"
    );
    describe_histogram!(
        "scf_invocation_duration_seconds",
        metrics::Unit::Seconds,
        "Run time of invocations (the handler's own time)"
    );
    describe_histogram!(
        "scf_invocation_memory_bytes",
        metrics::Unit::Bytes,
        "Peak memory of invocations"
    );
    describe_counter!(
        "scf_cold_starts_total",
        "Invocations that needed a new instance"
    );
    describe_histogram!(
        "scf_init_duration_seconds",
        metrics::Unit::Seconds,
        "Init duration of cold starts"
    );
    describe_gauge!("scf_instances_warm", "Idle instances kept warm");
    describe_gauge!("scf_instances_busy", "Instances running an invocation");
    describe_gauge!(
        "scf_instances_spare",
        "Instances started ahead of need (handler not loaded)"
    );
    describe_gauge!(
        "scf_async_queue_depth",
        "Async events not finished yet (queued or running), across the cluster"
    );
    describe_gauge!(
        "scf_async_queue_oldest_age_seconds",
        "Age of the oldest async event not finished yet"
    );
    describe_gauge!("scf_node_info", "This node (label node)");
}

/// `GET /metrics`.
pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    let Some(handle) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "metrics are not enabled\n").into_response();
    };
    let service = &state.service;
    metrics::gauge!("scf_node_info", "node" => state.node.to_string()).set(1.0);
    let engine = service.engine_stats();
    metrics::gauge!("scf_instances_warm").set(engine.warm as f64);
    metrics::gauge!("scf_instances_busy").set(engine.busy as f64);
    metrics::gauge!("scf_instances_spare").set(engine.spares as f64);
    match service.async_queue_stats().await {
        Ok((depth, oldest_age_ms)) => {
            metrics::gauge!("scf_async_queue_depth").set(depth as f64);
            metrics::gauge!("scf_async_queue_oldest_age_seconds")
                .set(oldest_age_ms as f64 / 1000.0);
        }
        Err(e) => tracing::warn!(error = %e.message, "cannot read the async queue for metrics"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
