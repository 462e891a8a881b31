//! The service: owns the store and the packages, applies actions for a caller.

use crate::packages::Packages;
use crate::zip_guard::ZipLimits;
use scf_store::{FunctionKey, FunctionStatus, NamespaceRecord, Scope, StatusReason, Store};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Quotas and caps, from the `[limits]` table of the config. Defaults are SCF's (reference §9).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Namespaces per account and region, `default` included.
    pub max_namespaces: u32,
    pub max_functions_per_namespace: u32,
    /// The decoded `Code.ZipFile` of CreateFunction (SCF: 50 MB).
    pub zip_file_bytes: u64,
    /// The decoded `ZipFile` of UpdateFunctionCode (SCF: 20 MB).
    pub update_zip_file_bytes: u64,
    /// A package's total uncompressed size (SCF: 500 MB per version).
    pub unpacked_bytes: u64,
    /// All of an account's packages, unpacked: those of its functions and of their published
    /// versions, each distinct package once. SCF states no such cap; on a shared disk one is
    /// needed. 0 = none.
    pub account_unpacked_bytes: u64,
    /// Entries in one zip: SCF states none; 20,000 covers a node_modules tree and stops
    /// inode bombs.
    pub zip_entries: usize,
    /// How long a GetFunctionAddress URL stays valid.
    pub code_url_ttl_seconds: u64,
    /// Log an account's requests may store per minute (each request keeps at most 64 KB);
    /// 0 = no budget. See `log_budget`.
    pub log_bytes_per_minute: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_namespaces: 5,
            max_functions_per_namespace: 50,
            zip_file_bytes: 50 << 20,
            update_zip_file_bytes: 20 << 20,
            unpacked_bytes: 500 << 20,
            account_unpacked_bytes: 5 << 30,
            zip_entries: 20_000,
            code_url_ttl_seconds: 3600,
            log_bytes_per_minute: 4 << 20,
        }
    }
}

/// Everything the service needs besides its store.
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    /// Offset east of UTC of the `YYYY-MM-DD HH:MM:SS` strings (UTC+8 by default, as SCF).
    pub time_offset_seconds: i32,
    /// Runtime of a CreateFunction that names none. SCF's own default is Python2.7, which no
    /// machine here runs; scfd defaults to a Python 3.
    pub default_runtime: String,
    /// Base URL for code download links; `None` = the address the caller reached us at.
    pub public_url: Option<String>,
    /// Key that signs code download links (kept in the data dir).
    pub url_key: Vec<u8>,
    pub data_dir: PathBuf,
    /// Wait between a failed async run and its retry (SCF: one minute).
    pub async_retry_interval: std::time::Duration,
    /// How long request records and finished async events are kept (SCF: 3 days).
    pub retention: std::time::Duration,
    /// How often the purge runs (and fails the sync requests of nodes that are gone).
    pub purge_interval: std::time::Duration,
    /// Each account's uin, for the context of async runs.
    pub uins: std::collections::HashMap<u64, String>,
    /// A sync request still running after this long also gets a running record in the store
    /// (see `running`); quicker ones write only their outcome.
    pub running_record_after: std::time::Duration,
    /// This node's name: kept on the requests it accepts and the async runs it leases.
    pub node: String,
    /// How long an async run's lease lasts unless renewed (renewed three times a lease while
    /// the node lives; after a node dies, another takes its events over once it runs out).
    pub async_lease: std::time::Duration,
    /// Whether this node runs queued async events (an API-only node of a cluster does not).
    pub async_dispatch: bool,
}

/// Who is asking: the account and region from the verified request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub scope: Scope,
    pub uin: String,
    /// `scheme://host:port` the request came to (for links back to this server).
    pub base_url: String,
}

impl Caller {
    pub fn function_key(&self, namespace: Option<&str>, name: &str) -> FunctionKey {
        FunctionKey {
            scope: self.scope.clone(),
            namespace: namespace.unwrap_or(DEFAULT_NAMESPACE).to_string(),
            name: name.to_string(),
        }
    }
}

pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespace a request means: `default` when it names none (or an empty one).
pub(crate) fn namespace_or_default(ns: Option<&str>) -> &str {
    ns.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_NAMESPACE)
}

pub(crate) fn namespace_not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundNamespace,
        format!("Namespace `{name}` does not exist."),
    )
}

pub struct Service {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) engine: Arc<scf_engine::Engine>,
    /// Wakes the async dispatcher when an event is queued.
    pub(crate) async_wakeup: Arc<tokio::sync::Notify>,
    pub(crate) packages: Packages,
    pub(crate) settings: Settings,
    /// Sync requests in flight on this node.
    pub(crate) running: crate::running::Running,
    /// Each account's budget of stored log.
    pub(crate) log_budget: crate::log_budget::LogBudget,
    /// Scopes whose `default` namespace is known to exist, to skip the write after the first.
    default_seen: Mutex<HashSet<Scope>>,
}

/// The wall clock: what records carry (see [`crate::clock`] for what decisions use).
pub(crate) fn now_ms() -> i64 {
    crate::clock::wall_ms()
}

/// A file operation of the data dir failed: a full disk is said so (nothing was changed),
/// anything else is an [`internal`] error. Either way the failure goes with it, for the log.
pub(crate) fn io_failure(e: std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        return scf_store::disk_full().with_source(e);
    }
    internal(e)
}

/// Maps a failure that the action did not expect onto `InternalError`, the failure attached
/// for the gateway to log where the request ends.
pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::InternalError,
        "Internal error; the server log has the details.",
    )
    .with_source(e.to_string())
}

/// An invocation's hold on the package it runs from ([`Service::ensure_code`]): while it lives,
/// no release removes the package; dropping the last one carries out a release that waited.
pub(crate) struct CodePin {
    svc: Arc<Service>,
    sha256: String,
}

impl Drop for CodePin {
    fn drop(&mut self) {
        if !self.svc.packages.unpin(&self.sha256) {
            return;
        }
        // A release came while it was held: try it again now (it checks once more that no
        // function uses the package). Outside a runtime (shutting down) the package stays.
        let (svc, sha256) = (Arc::clone(&self.svc), std::mem::take(&mut self.sha256));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { svc.release_package(&sha256).await });
        }
    }
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        engine: Arc<scf_engine::Engine>,
        settings: Settings,
    ) -> std::io::Result<Arc<Self>> {
        let packages = Packages::open(&settings.data_dir)?;
        let settings_log_budget = settings.limits.log_bytes_per_minute;
        packages.clean_temporaries();
        let running = crate::running::Running::open(&settings.data_dir)?;
        Ok(Arc::new(Service {
            store,
            engine,
            async_wakeup: Arc::new(tokio::sync::Notify::new()),
            packages,
            settings,
            default_seen: Mutex::new(HashSet::new()),
            running,
            log_budget: crate::log_budget::LogBudget::new(settings_log_budget),
        }))
    }

    /// Instances warm, busy and spare on this node (for metrics).
    pub fn engine_stats(&self) -> scf_engine::EngineStats {
        self.engine.stats()
    }

    /// Async events not finished yet across the store, and the age of the oldest, ms.
    pub async fn async_queue_stats(&self) -> Result<(u64, i64), ApiError> {
        let now = now_ms();
        let (depth, oldest) = self.store.async_queue_stats().await?;
        Ok((depth, oldest.map(|start| (now - start).max(0)).unwrap_or(0)))
    }

    /// The uin of an account (for the context of an async run).
    pub(crate) fn uin_of(&self, app_id: u64) -> String {
        self.settings.uins.get(&app_id).cloned().unwrap_or_default()
    }

    /// Creates the `default` namespace of a scope on first use.
    pub(crate) async fn ensure_default_namespace(&self, scope: &Scope) -> Result<(), ApiError> {
        if crate::lock(&self.default_seen).contains(scope) {
            return Ok(());
        }
        let now = now_ms();
        let ns = NamespaceRecord {
            name: DEFAULT_NAMESPACE.into(),
            description: String::new(),
            kind: "default".into(),
            add_time_ms: now,
            mod_time_ms: now,
        };
        self.store.ensure_namespace(scope, &ns).await?;
        crate::lock(&self.default_seen).insert(scope.clone());
        Ok(())
    }

    /// Ok if the namespace exists in the scope (creating `default` on first use); the
    /// not-found error otherwise, the same for a malformed name as for a missing one.
    pub(crate) async fn require_namespace(
        &self,
        scope: &Scope,
        name: &str,
    ) -> Result<(), ApiError> {
        if name == DEFAULT_NAMESPACE {
            return self.ensure_default_namespace(scope).await;
        }
        if crate::rules::plausible_name(name)
            && self.store.get_namespace(scope, name).await?.is_some()
        {
            return Ok(());
        }
        Err(namespace_not_found(name))
    }

    pub(crate) fn zip_limits(&self, max_zip_bytes: u64) -> ZipLimits {
        ZipLimits {
            max_zip_bytes,
            max_unpacked_bytes: self.settings.limits.unpacked_bytes,
            max_entries: self.settings.limits.zip_entries,
        }
    }

    pub(crate) fn format_time(&self, ms: i64) -> String {
        scf_types::time::format_datetime(ms, self.settings.time_offset_seconds)
    }

    /// Unpacks a package in the background, then moves the function to `ok` (or `failed`).
    pub(crate) fn spawn_unpack(
        self: &Arc<Self>,
        key: FunctionKey,
        sha256: String,
        ok: FunctionStatus,
        failed: FunctionStatus,
    ) {
        let svc = Arc::clone(self);
        tokio::spawn(async move {
            // After a restart this node may not hold the zip (another node took it in).
            let fetched = svc.fetch_package(&sha256).await;
            let unpack_svc = Arc::clone(&svc);
            let sha = sha256.clone();
            let outcome = match fetched {
                Ok(()) => {
                    tokio::task::spawn_blocking(move || unpack_svc.packages.unpack(&sha)).await
                }
                Err(e) => Ok(Err(std::io::Error::other(e.message))),
            };
            let (status, reasons) = match outcome {
                Ok(Ok(())) => (ok, vec![]),
                Ok(Err(e)) => (
                    failed,
                    vec![StatusReason {
                        error_code: "InvalidParameterValue.ZipFile".into(),
                        error_message: format!("The code package could not be unpacked: {e}"),
                    }],
                ),
                Err(e) => (
                    failed,
                    vec![StatusReason {
                        error_code: "InternalError".into(),
                        error_message: format!("unpacking stopped: {e}"),
                    }],
                ),
            };
            // The status must land: a function left Creating or Updating refuses every
            // invocation until a restart resumes it. The write names the package (a later
            // update's is not overwritten), so a store that is away is simply asked again.
            let mut pause = std::time::Duration::from_millis(100);
            let mut failures = 0u32;
            loop {
                match svc
                    .store
                    .set_function_status(&key, &sha256, status, &reasons)
                    .await
                {
                    Ok(_) => {
                        if failures > 0 {
                            tracing::info!(function = %key.name, status = status.as_str(), failures, "recorded the function's status at last");
                        }
                        tracing::debug!(function = %key.name, status = status.as_str(), "code package settled");
                        break;
                    }
                    Err(e) => {
                        if failures == 0 {
                            tracing::warn!(function = %key.name, error = %e, "could not record the function's status; trying again until the store takes it");
                        }
                        failures += 1;
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(std::time::Duration::from_secs(5));
                    }
                }
            }
        });
    }

    /// Makes sure this node has the package `sha256` unpacked, fetching it from the store
    /// when another node took it in (this node's copy is a cache), and holds it there for the
    /// invocation that runs from it: no release removes it while the [`CodePin`] lives.
    pub(crate) async fn ensure_code(self: &Arc<Self>, sha256: &str) -> Result<CodePin, ApiError> {
        // Held first, looked at after (see `Packages::pin`).
        self.packages.pin(sha256);
        let pin = CodePin {
            svc: Arc::clone(self),
            sha256: sha256.to_string(),
        };
        if self.packages.code_dir(sha256).is_dir() {
            return Ok(pin);
        }
        self.fetch_package(sha256).await?;
        let (svc, sha) = (Arc::clone(self), sha256.to_string());
        tokio::task::spawn_blocking(move || svc.packages.unpack(&sha))
            .await
            .map_err(internal)?
            .map_err(io_failure)?;
        Ok(pin)
    }

    /// Brings the zip of package `sha256` into this node's `packages/` from the store, unless
    /// it is there already.
    async fn fetch_package(self: &Arc<Self>, sha256: &str) -> Result<(), ApiError> {
        let _guard = self.packages.lock.lock().await;
        if self.packages.zip_path(sha256).exists() {
            return Ok(());
        }
        let Some(zip) = self.store.get_package(sha256).await? else {
            return Err(ApiError::new(
                ErrorCode::FailedOperationFunctionStatusError,
                "The function's code package is not available on this node.",
            ));
        };
        tracing::info!(
            sha256,
            bytes = zip.len(),
            "fetched a code package from the store"
        );
        let (svc, sha) = (Arc::clone(self), sha256.to_string());
        tokio::task::spawn_blocking(move || svc.packages.store_zip(&sha, &zip))
            .await
            .map_err(internal)?
            .map_err(io_failure)
    }

    /// Removes a package (from disk and the store) if no function uses it any more.
    pub(crate) async fn release_package(&self, sha256: &str) {
        let _guard = self.packages.lock.lock().await;
        match self.store.code_in_use(sha256, None).await {
            Ok(false) => {
                match self.packages.remove(sha256) {
                    Ok(true) => {}
                    // An invocation runs from it: its last holder releases it (`CodePin`).
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(sha256, error = %e, "could not remove an unused package")
                    }
                }
                if let Err(e) = self.store.delete_package(sha256).await {
                    tracing::warn!(sha256, error = %e, "could not remove an unused package from the store");
                }
            }
            Ok(true) => {}
            Err(e) => {
                tracing::warn!(sha256, error = %e, "could not check whether a package is in use")
            }
        }
    }
}
