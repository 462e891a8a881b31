//! The router of every test here: a real `scfd::app` over an in-memory store, two accounts
//! (`AKIDa`/`keya` app 1250000001, `AKIDb`/`keyb` app 1250000002), rate limits off; with the
//! SDKs' ways of signing (`signing`), calls and their checks (`calls`) and code zips (`zips`).
#![allow(dead_code)] // each test file uses its own part of it

pub mod calls;
pub mod signing;
pub mod zips;

use axum::Router;
use scf_core::{Limits, Service, Settings};
use scf_store::SqliteStore;
use scfd::config::{Account, HttpLimits};
use scfd::{AppState, app};
use std::collections::HashMap;
use std::sync::Arc;

pub struct TestApp {
    pub router: Router,
    pub _dir: tempfile::TempDir,
}

pub fn account(id: &str, key: &str, app_id: u64) -> Account {
    Account {
        secret_id: id.into(),
        secret_key: key.into(),
        app_id,
        uin: format!("{app_id}0"),
        isolated: false,
    }
}

pub fn test_app_with(rates: &[(&str, u32)], limits: Limits) -> TestApp {
    test_app_configured(rates, |s| s.limits = limits)
}

/// The test router with its service's settings changed by `configure`.
pub fn test_app_configured(
    rates: &[(&str, u32)],
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().expect("tmp");
    let mut settings = Settings {
        limits: Limits::default(),
        time_offset_seconds: 8 * 3600,
        default_runtime: "Python3.9".into(),
        public_url: None,
        url_key: b"k".repeat(32),
        data_dir: dir.path().to_path_buf(),
        async_retry_interval: std::time::Duration::from_secs(1),
        retention: std::time::Duration::from_secs(3600),
        purge_interval: std::time::Duration::from_secs(60),
        uins: HashMap::new(),
        running_record_after: std::time::Duration::from_millis(100),
        node: "test-node".into(),
        async_lease: std::time::Duration::from_secs(30),
        async_dispatch: true,
    };
    configure(&mut settings);
    let engine = scf_engine::Engine::start(
        scf_engine::EngineConfig::default(),
        scf_engine::sandbox::SandboxConfig {
            enabled: false,
            ..Default::default()
        },
        dir.path(),
    )
    .expect("engine");
    let service = Service::new(
        Arc::new(SqliteStore::in_memory().expect("db")),
        engine,
        settings,
    )
    .expect("service");
    scf_core::background::start_background(&service);
    let mut overrides: HashMap<String, u32> = HashMap::from([("default".to_string(), 0)]);
    for (a, r) in rates {
        overrides.insert(a.to_string(), *r);
    }
    let accounts = [
        account("AKIDa", "keya", 1_250_000_001),
        account("AKIDb", "keyb", 1_250_000_002),
    ];
    let state = AppState {
        service,
        accounts: accounts
            .into_iter()
            .map(|a| (a.secret_id.clone(), a))
            .collect(),
        regions: ["ap-guangzhou", "ap-shanghai"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        default_region: "ap-guangzhou".into(),
        rate_limits: scfd::rate_limit::RateLimits::new(&overrides, 1).expect("rates"),
        http_limits: HttpLimits {
            tc3_post_bytes: 256 << 10,
            ..HttpLimits::default()
        },
        node: Arc::from("test-node"),
        seen_signatures: HttpLimits::default().seen_signatures(),
        metrics: None,
    };
    TestApp {
        router: app(Arc::new(state)),
        _dir: dir,
    }
}

pub fn test_app() -> TestApp {
    test_app_with(&[], Limits::default())
}
