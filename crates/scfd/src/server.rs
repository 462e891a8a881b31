//! `scfd serve`: open the data dir, resume unfinished work, serve until SIGINT/SIGTERM.

use crate::config::{self, AccountSource, Config, TENCENT_REGIONS};
use crate::{AppState, app, rate_limit::RateLimits};
use scf_core::{Service, Settings};
use scf_store::{PgStore, SqliteStore, Store};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `serve` needs beyond the config file.
pub struct ServeOptions {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// A PostgreSQL URL, over the config's `[store] url`.
    pub store: Option<String>,
    /// Start even though the SQLite file is missing or empty while packages are kept (see
    /// [`check_database_not_lost`]).
    pub accept_empty_database: bool,
    pub config: Config,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

pub async fn serve(opts: ServeOptions) -> Result<(), String> {
    // Schedules count from here on the monotonic clock (scf_core::clock).
    scf_core::clock::start();
    let config = &opts.config;
    let listen = opts
        .listen
        .clone()
        .or(config.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.into());
    let data_dir = open_data_dir(opts.data_dir.clone().or(config.data_dir.clone()))?;
    let (accounts, source) = config::resolve_accounts(config, &data_dir)?;
    let rate_limits = RateLimits::new(&config.rate_limits, config.cluster_nodes)?;
    let regions = served_regions(config)?;
    check_default_runtime(config)?;
    let node = config::node_id(config, &data_dir)
        .map_err(|e| format!("cannot keep the node id in the data dir: {e}"))?;
    let store = open_store(&opts, &data_dir).await?;
    let store_name = store.backend_name();
    let settings = settings(config, &accounts, &data_dir, &node)?;
    let service = start_service(config, store, settings, &data_dir).await?;

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    announce(
        &accounts,
        &source,
        &data_dir,
        &local.to_string(),
        &config.default_region,
    );
    let state = Arc::new(AppState {
        service,
        accounts: accounts
            .into_iter()
            .map(|a| (a.secret_id.clone(), a))
            .collect::<HashMap<_, _>>(),
        regions,
        default_region: config.default_region.clone(),
        rate_limits,
        seen_signatures: config.http.seen_signatures(),
        http_limits: config.http.clone(),
        node: Arc::from(node.as_str()),
        metrics: Some(crate::prometheus::install(std::time::Duration::from_secs(
            config.metrics_idle_seconds.max(1),
        ))?),
    });
    tracing::info!(listen = %local, data_dir = %data_dir.display(), node = %node, store = store_name, "scfd is listening");
    crate::front_door::serve(
        listener,
        app(state),
        front_door_limits(config),
        shutdown_signal(),
    )
    .await
    .map_err(|e| e.to_string())?;
    tracing::info!("scfd stopped");
    Ok(())
}

/// The data dir, created if need be, as an absolute path: the sandbox mounts code folders by
/// path, and a relative one (the default `./scfd-data`) would not name the same folder inside
/// an instance.
fn open_data_dir(configured: Option<PathBuf>) -> Result<PathBuf, String> {
    let data_dir = configured.unwrap_or_else(|| PathBuf::from("./scfd-data"));
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    std::fs::canonicalize(&data_dir)
        .map_err(|e| format!("cannot resolve {}: {e}", data_dir.display()))
}

/// The regions served (Tencent's when the config names none), which must hold the default
/// region.
fn served_regions(config: &Config) -> Result<HashSet<String>, String> {
    let regions: HashSet<String> = match &config.regions {
        Some(list) => list.iter().cloned().collect(),
        None => TENCENT_REGIONS.iter().map(|r| r.to_string()).collect(),
    };
    if !regions.contains(&config.default_region) {
        return Err(format!(
            "default_region `{}` is not among the served regions",
            config.default_region
        ));
    }
    Ok(regions)
}

fn check_default_runtime(config: &Config) -> Result<(), String> {
    if !scf_core::rules::RUNTIMES.contains(&config.default_runtime.as_str()) {
        return Err(format!(
            "default_runtime `{}` is not an SCF runtime",
            config.default_runtime
        ));
    }
    Ok(())
}

/// PostgreSQL when a URL is given (`--store` over `[store] url`), else the data dir's SQLite
/// file, unless it looks lost ([`check_database_not_lost`]).
async fn open_store(opts: &ServeOptions, data_dir: &Path) -> Result<Arc<dyn Store>, String> {
    let config = &opts.config;
    if let Some(url) = opts.store.clone().or(config.store.url.clone()) {
        let store = PgStore::connect(&url)
            .await
            .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?;
        return Ok(Arc::new(store));
    }
    let db = data_dir.join("scfd.db");
    if !opts.accept_empty_database {
        check_database_not_lost(&db, &data_dir.join("packages"))?;
    }
    let store = SqliteStore::open(&db, config.store.synchronous).map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

/// The core's settings, from the config and the secrets kept in the data dir.
fn settings(
    config: &Config,
    accounts: &[config::Account],
    data_dir: &Path,
    node: &str,
) -> Result<Settings, String> {
    let secs = std::time::Duration::from_secs;
    Ok(Settings {
        limits: config.limits.clone(),
        time_offset_seconds: config.time_offset_hours * 3600,
        default_runtime: config.default_runtime.clone(),
        public_url: config.public_url.clone(),
        url_key: config::url_key(data_dir).map_err(|e| format!("cannot keep url.key: {e}"))?,
        data_dir: data_dir.to_path_buf(),
        async_retry_interval: secs(config.async_.retry_interval_secs),
        retention: secs(config.async_.retention_hours * 3600),
        purge_interval: secs(config.async_.purge_interval_secs.max(1)),
        uins: accounts.iter().map(|a| (a.app_id, a.uin.clone())).collect(),
        running_record_after: std::time::Duration::from_millis(
            config.store.running_record_after_ms,
        ),
        node: node.to_string(),
        async_lease: secs(config.async_.lease_secs.max(3)),
        async_dispatch: config.async_.dispatch,
    })
}

/// The engine and the service over the store, the work the last stop interrupted resumed,
/// then the background tasks started.
async fn start_service(
    config: &Config,
    store: Arc<dyn Store>,
    settings: Settings,
    data_dir: &Path,
) -> Result<Arc<Service>, String> {
    let engine = scf_engine::Engine::start(config.engine.clone(), config.sandbox.clone(), data_dir)
        .map_err(|e| format!("cannot start the engine: {e}"))?;
    let service = Service::new(store, engine, settings).map_err(|e| e.to_string())?;
    let (packages, failed, requeued) = scf_core::background::resume(&service)
        .await
        .map_err(|e| e.to_string())?;
    if packages + failed as usize + requeued as usize > 0 {
        tracing::info!(
            packages,
            failed_sync_requests = failed,
            requeued_async_events = requeued,
            "resumed work interrupted by the last stop"
        );
    }
    scf_core::background::start_background(&service);
    Ok(service)
}

/// The front door's limits: the connection cap at most half the open-files limit (raised to
/// its hard limit first), said so when that is under the configured cap.
fn front_door_limits(config: &Config) -> crate::front_door::Limits {
    let fd_limit = crate::front_door::raise_fd_limit();
    let max_connections = crate::front_door::effective_cap(config.http.max_connections, fd_limit);
    if max_connections < config.http.max_connections {
        tracing::warn!(
            configured = config.http.max_connections,
            max_connections,
            fd_limit,
            "[http] max_connections is over half the open-files limit; using half"
        );
    }
    crate::front_door::Limits {
        max_connections,
        header_read_timeout: std::time::Duration::from_secs(
            config.http.header_read_timeout_seconds.max(1),
        ),
    }
}

/// Refuses to start on an SQLite file that is missing or empty while the data dir keeps code
/// packages: packages are written only after the database exists, so the database was lost or
/// truncated, and starting would begin anew with every function gone, without a word.
pub fn check_database_not_lost(
    db: &std::path::Path,
    packages: &std::path::Path,
) -> Result<(), String> {
    let empty = match std::fs::metadata(db) {
        Ok(m) => m.len() == 0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(format!("cannot read {}: {e}", db.display())),
    };
    if !empty {
        return Ok(());
    }
    let kept = std::fs::read_dir(packages)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".zip"))
                .count()
        })
        .unwrap_or(0);
    if kept == 0 {
        return Ok(());
    }
    Err(format!(
        "the database {} is {} but {} holds {kept} code package{}: the database was lost or \
         truncated. Restore it from a backup (with its -wal file if there is one), or start \
         anew with `scfd serve --accept-empty-database` (functions, versions and request \
         records are then gone; the packages stay until removed)",
        db.display(),
        if db.exists() { "empty" } else { "missing" },
        packages.display(),
        if kept == 1 { "" } else { "s" },
    ))
}

fn announce(
    accounts: &[config::Account],
    source: &AccountSource,
    data_dir: &std::path::Path,
    listen: &str,
    region: &str,
) {
    match source {
        AccountSource::Generated => {
            let a = &accounts[0];
            println!(
                "scfd generated an account and stored it in {}:\n  SecretId:  {}\n  SecretKey: {}\n  AppId:     {}\n  Uin:       {}\nTry it:\n  tccli scf ListFunctions --secretId {} --secretKey {} --region {region} --endpoint http://{listen}",
                data_dir.join("account.toml").display(),
                a.secret_id,
                a.secret_key,
                a.app_id,
                a.uin,
                a.secret_id,
                a.secret_key,
            );
        }
        AccountSource::DataDir => {
            tracing::info!(secret_id = %accounts[0].secret_id, file = %data_dir.join("account.toml").display(), "using the generated account");
        }
        AccountSource::Environment => {
            tracing::info!(secret_id = %accounts[0].secret_id, "using the account from SCFD_SECRET_ID")
        }
        AccountSource::Config => tracing::info!(
            accounts = accounts.len(),
            "using the accounts from the config file"
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
