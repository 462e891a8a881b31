//! The platform's own cost per API request, in process and without the network: a signed
//! request through the whole router (the gateway's layers, the signature, the schema, the core,
//! the store, the envelope), for the requests whose rows the suite measures end to end:
//! GetRequestStatus of a recorded request, ListNamespaces, and a refusal by the schema.
//! `cargo bench -p scf-bench --bench api_router`; the suite's rows add the network, the client
//! and (for Invoke) the instance.

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use scf_core::{Limits, Service, Settings};
use scf_store::SqliteStore;
use scfd::config::{Account, HttpLimits};
use scfd::{AppState, app};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use tower::ServiceExt;

#[path = "../../scfd/tests/common/signing.rs"]
#[allow(dead_code)]
mod signing;

fn router(dir: &std::path::Path) -> axum::Router {
    let settings = Settings {
        limits: Limits::default(),
        time_offset_seconds: 8 * 3600,
        default_runtime: "Python3.9".into(),
        public_url: None,
        url_key: b"k".repeat(32),
        data_dir: dir.to_path_buf(),
        async_retry_interval: std::time::Duration::from_secs(1),
        retention: std::time::Duration::from_secs(3600),
        purge_interval: std::time::Duration::from_secs(60),
        uins: HashMap::new(),
        running_record_after: std::time::Duration::from_millis(100),
        node: "bench-node".into(),
        async_lease: std::time::Duration::from_secs(30),
        async_dispatch: false,
    };
    let engine = scf_engine::Engine::start(
        scf_engine::EngineConfig::default(),
        scf_engine::sandbox::SandboxConfig {
            enabled: false,
            ..Default::default()
        },
        dir,
    )
    .expect("engine");
    let store = Arc::new(SqliteStore::in_memory().expect("db"));
    let service = Service::new(store, engine, settings).expect("service");
    let account = Account {
        secret_id: "AKIDa".into(),
        secret_key: "keya".into(),
        app_id: 1_250_000_001,
        uin: "12500000010".into(),
        isolated: false,
    };
    let overrides = HashMap::from([("default".to_string(), 0)]);
    app(Arc::new(AppState {
        service,
        accounts: HashMap::from([(account.secret_id.clone(), account)]),
        regions: ["ap-guangzhou".to_string()].into_iter().collect(),
        default_region: "ap-guangzhou".into(),
        rate_limits: scfd::rate_limit::RateLimits::new(&overrides, 1).expect("rates"),
        http_limits: HttpLimits::default(),
        node: Arc::from("bench-node"),
        seen_signatures: HttpLimits::default().seen_signatures(),
        metrics: None,
    }))
}

async fn call(router: &axum::Router, req: Request<Body>) -> Value {
    let response = router.clone().oneshot(req).await.expect("answered");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    serde_json::from_slice::<Value>(&bytes).expect("json")["Response"].take()
}

fn zip_b64(code: &str) -> String {
    use base64::Engine as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut buf);
    zip.start_file("index.py", zip::write::SimpleFileOptions::default())
        .expect("file");
    zip.write_all(code.as_bytes()).expect("write");
    zip.finish().expect("zip");
    base64::engine::general_purpose::STANDARD.encode(buf.into_inner())
}

/// A function invoked once: the request id GetRequestStatus then reads.
async fn recorded_request(router: &axum::Router) -> String {
    let code = json!({"ZipFile": zip_b64("def main_handler(event, context):\n    return 1\n")});
    let created = call(
        router,
        signing::post(
            "CreateFunction",
            json!({"FunctionName": "bench-fn", "Code": code, "Runtime": "Python3.9"}),
        ),
    )
    .await;
    assert!(created.get("Error").is_none(), "{created}");
    for _ in 0..500 {
        let f = call(
            router,
            signing::post("GetFunction", json!({"FunctionName": "bench-fn"})),
        )
        .await;
        if f["Status"] == "Active" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let r = call(
        router,
        signing::post("Invoke", json!({"FunctionName": "bench-fn"})),
    )
    .await;
    r["Result"]["FunctionRequestId"]
        .as_str()
        .unwrap_or_else(|| panic!("invoked: {r}"))
        .to_string()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let router = rt.block_on(async { router(dir.path()) });
    let id = rt.block_on(recorded_request(&router));
    let status = json!({"FunctionName": "bench-fn", "FunctionRequestId": id}).to_string();
    let got = rt.block_on(call(
        &router,
        signing::tc3_post(Some("GetRequestStatus"), &status, &signing::Tc3::default()),
    ));
    assert_eq!(got["Data"][0]["RetCode"], 0, "{got}");
    // One signature for every iteration (a replay with the same action is served), so the
    // figure is the server's side only.
    let o = signing::Tc3::default();
    let unknown = json!({"FunctionName": "bench-fn", "Nonsense": 1}).to_string();
    let cases = [
        (
            "GetRequestStatus of a recorded request",
            "GetRequestStatus",
            status,
        ),
        ("ListNamespaces", "ListNamespaces", "{}".to_string()),
        (
            "a refusal by the schema (UnknownParameter)",
            "GetFunction",
            unknown,
        ),
    ];
    for (name, action, body) in &cases {
        c.bench_function(&format!("router: {name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { call(&router, signing::tc3_post(Some(action), body, &o)).await })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
