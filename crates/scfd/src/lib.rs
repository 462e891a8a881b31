//! scfd: the HTTP gateway and the `scfd` binary.
//!
//! # Layout
//! * [`app`]: the router: `/` is the SCF API (every method, so that the wrong ones get
//!   `UnsupportedProtocol` in Tencent's envelope), `/healthz`, and `/code/...` for the signed
//!   package links of GetFunctionAddress.
//! * [`console`]: the web console at `/console`, static files that sign their own API calls.
//! * [`front_door`]: the accept loop: header-read timeout, connection cap, eviction.
//! * [`gateway`]: the API endpoint: the body layer, the signature extractor, region and rate,
//!   then the core, and one way out (the envelope, the metrics, one log line).
//! * [`config`]: the TOML config, the accounts, the secrets kept in the data dir.
//! * [`rate_limit`]: per-account, per-action request rates.
//! * [`replay`]: TC3 signatures bound to the action, region and version they came with.
//! * [`server`]: opening the store, resuming unfinished work, serving until a signal.

pub mod cli;
pub mod config;
pub mod console;
pub mod front_door;
pub mod gateway;
pub mod prometheus;
pub mod rate_limit;
pub mod replay;
pub mod server;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use config::{Account, HttpLimits};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Everything the handlers share.
pub struct AppState {
    pub service: Arc<scf_core::Service>,
    /// By SecretId.
    pub accounts: HashMap<String, Account>,
    pub regions: HashSet<String>,
    pub default_region: String,
    pub rate_limits: rate_limit::RateLimits,
    pub http_limits: HttpLimits,
    /// This node's name, on every request's log span.
    pub node: Arc<str>,
    /// TC3 signatures seen lately, with what they came with (see [`replay`]).
    pub seen_signatures: replay::SeenSignatures,
    /// The Prometheus recorder's handle, when `serve` installed one.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// The whole HTTP surface.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", gateway::endpoint(&state))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(prometheus::render))
        .route("/code/{app_id}/{file}", get(download))
        .merge(console::routes())
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct LinkQuery {
    expires: u64,
    sign: String,
}

/// Serves a package zip behind a GetFunctionAddress link. Not part of the API: a refused link
/// is a plain 403, as a presigned COS URL would answer.
async fn download(
    State(state): State<Arc<AppState>>,
    Path((app_id, file)): Path<(String, String)>,
    query: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let forbidden = || {
        (
            StatusCode::FORBIDDEN,
            "this link is invalid or has expired\n",
        )
            .into_response()
    };
    let (Ok(Query(q)), Ok(app_id)) = (query, app_id.parse::<u64>()) else {
        return forbidden();
    };
    let Some(sha) = file
        .strip_suffix(".zip")
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return forbidden();
    };
    let Some(path) =
        scf_core::links::code_download(&state.service, app_id, sha, q.expires, &q.sign).await
    else {
        return forbidden();
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => Response::builder()
            .header(header::CONTENT_TYPE, "application/zip")
            .body(Body::from(bytes))
            .expect("static headers always build"),
        Err(_) => (StatusCode::NOT_FOUND, "the package is gone\n").into_response(),
    }
}
