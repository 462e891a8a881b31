//! scf-store: where scfd keeps what it has acknowledged.
//!
//! # Layout
//! * [`Store`]: the trait every backend implements. Its methods are whole operations with their
//!   invariants inside (a function is created only in an existing namespace and under the quota,
//!   in one transaction), so that a PostgreSQL backend can keep the same guarantees with its own
//!   transactions and the service never needs a lock of its own.
//! * [`sqlite`]: the embedded default, one SQLite file in WAL mode (or in memory for tests).
//! * [`postgres`]: the shared backend, for several nodes over one PostgreSQL database.
//! * [`model`]: the stored records. They are the domain, not the API view: the service renders
//!   them into Tencent's shapes.
//!
//! Every resource is keyed by [`Scope`] (account and region) first, so one account can never
//! reach another's rows by any name it sends.

pub mod model;
pub mod postgres;
pub mod sqlite;

pub use model::{
    AsyncEventRecord, AsyncRetry, AsyncStatus, ErrorKind, FunctionKey, FunctionRecord,
    FunctionStatus, NamespaceRecord, RequestOutcome, RequestRecord, Scope, StatusReason,
    VersionRecord,
};
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, Synchronous};

/// What can go wrong in a store operation, apart from the backend failing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    #[error("the namespace does not exist")]
    NamespaceNotFound,
    #[error("the namespace still holds functions")]
    NamespaceNotEmpty,
    #[error("quota of {0} reached")]
    LimitExceeded(u32),
    #[error("the record changed since it was read")]
    Conflict,
    #[error("store backend: {0}")]
    Backend(String),
    /// The store cannot be reached (PostgreSQL down, restarting, its connections cut): the
    /// request may be sent again as it was.
    #[error("store unreachable: {0}")]
    Unavailable(String),
    /// The disk under the store is full (SQLite's `SQLITE_FULL`, PostgreSQL's `53100`): the
    /// write changed nothing and works once space is freed.
    #[error("store disk full: {0}")]
    DiskFull(String),
}

/// A store failure that an action did not expect (anything but the outcomes it matches on) is
/// an internal error: answered with a generic message, the failure attached as its source for
/// the gateway to log (once, where the request ends).
impl From<StoreError> for scf_types::ApiError {
    fn from(e: StoreError) -> Self {
        if e == StoreError::Conflict {
            return scf_types::ApiError::new(
                scf_types::ErrorCode::FailedOperationOperationConflict,
                "The function was changed by another request meanwhile; retry.",
            );
        }
        let answer = match &e {
            StoreError::Unavailable(_) => scf_types::ApiError::new(
                scf_types::ErrorCode::ServiceUnavailable,
                "The server's store is unreachable for the moment; retry shortly (nothing was \
                 changed by this request unless it says so).",
            ),
            StoreError::DiskFull(_) => disk_full(),
            _ => scf_types::ApiError::new(
                scf_types::ErrorCode::InternalErrorSystem,
                "Internal error; the server log has the details.",
            ),
        };
        answer.with_source(e)
    }
}

/// A fresh claim's [`AsyncEventRecord::lease_token`].
pub(crate) fn claim_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The answer when the disk under the store or the packages is full: the request changed
/// nothing and can be retried once space is freed.
pub fn disk_full() -> scf_types::ApiError {
    scf_types::ApiError::new(
        scf_types::ErrorCode::FailedOperationInsufficientResources,
        "The server's disk is full: nothing was changed. Free space on it and retry.",
    )
}

/// What TerminateAsyncEvent found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortOutcome {
    NotFound,
    /// It had already ended, in this state; nothing changed.
    AlreadyEnded(AsyncStatus),
    Aborted,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Rows a purge removes per transaction: small enough that the writes it stands in front of
/// wait a few milliseconds at most (see BENCHMARKS.md, "The retention purge").
pub const PURGE_BATCH: u32 = 1_000;

/// The store behind the service. Every method is one atomic operation.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates `ns` unless a namespace of that name exists; used for the implicit `default`.
    async fn ensure_namespace(&self, scope: &Scope, ns: &NamespaceRecord) -> Result<()>;
    /// Creates `ns`; `AlreadyExists`, or `LimitExceeded` when the scope holds `max` already.
    async fn create_namespace(&self, scope: &Scope, ns: &NamespaceRecord, max: u32) -> Result<()>;
    async fn list_namespaces(&self, scope: &Scope) -> Result<Vec<NamespaceRecord>>;
    async fn get_namespace(&self, scope: &Scope, name: &str) -> Result<Option<NamespaceRecord>>;
    /// Sets the description; `NotFound`.
    async fn update_namespace(
        &self,
        scope: &Scope,
        name: &str,
        description: &str,
        mod_time_ms: i64,
    ) -> Result<()>;
    /// `NotFound`, or `NamespaceNotEmpty` while it holds functions.
    async fn delete_namespace(&self, scope: &Scope, name: &str) -> Result<()>;

    /// Creates a function; `NamespaceNotFound`, `AlreadyExists`, or `LimitExceeded` when its
    /// namespace holds `max_per_namespace` functions already.
    async fn create_function(&self, f: &FunctionRecord, max_per_namespace: u32) -> Result<()>;
    async fn get_function(&self, key: &FunctionKey) -> Result<Option<FunctionRecord>>;
    /// Whether the function exists (without reading its record).
    async fn function_exists(&self, key: &FunctionKey) -> Result<bool>;
    /// The functions of a scope, of one namespace when given, ordered by name.
    async fn list_functions(
        &self,
        scope: &Scope,
        namespace: Option<&str>,
    ) -> Result<Vec<FunctionRecord>>;
    /// Replaces a function's record, if it is still at `f.revision` (else `Conflict`); `NotFound`.
    async fn update_function(&self, f: &FunctionRecord) -> Result<()>;
    /// Sets a function's status, but only while its code is still `code_sha256` (a later
    /// UpdateFunctionCode wins over an earlier unpacking that finishes late). Returns whether it
    /// was set.
    async fn set_function_status(
        &self,
        key: &FunctionKey,
        code_sha256: &str,
        status: FunctionStatus,
        reasons: &[StatusReason],
    ) -> Result<bool>;
    /// `NotFound`.
    async fn delete_function(&self, key: &FunctionKey) -> Result<()>;
    /// Functions in any of `statuses`, across all accounts: the work a restart must resume.
    async fn functions_with_status(
        &self,
        statuses: &[FunctionStatus],
    ) -> Result<Vec<FunctionRecord>>;
    /// Whether any function or published version still uses the code package `sha256`; only
    /// account `app_id`'s when given.
    async fn code_in_use(&self, sha256: &str, app_id: Option<u64>) -> Result<bool>;

    /// Snapshots the function's current record as the next numbered version; `NotFound`, or
    /// `LimitExceeded` when it has `max` versions already.
    async fn publish_version(
        &self,
        key: &FunctionKey,
        description: &str,
        now_ms: i64,
        max: u32,
    ) -> Result<VersionRecord>;
    async fn get_version(&self, key: &FunctionKey, version: &str) -> Result<Option<VersionRecord>>;
    /// Oldest first.
    async fn list_versions(&self, key: &FunctionKey) -> Result<Vec<VersionRecord>>;
    /// `NotFound`.
    async fn delete_version(&self, key: &FunctionKey, version: &str) -> Result<()>;

    /// Queues the running record of a synchronous request without waiting for it to be
    /// durable (its id reaches nobody before the request ends). Written only if the request
    /// has no record yet: an outcome already written stands.
    fn insert_running_detached(&self, r: &RequestRecord);
    /// Writes a request's outcome, whether or not its running record was written.
    async fn put_request(&self, r: &RequestRecord) -> Result<()>;
    async fn get_request(
        &self,
        key: &FunctionKey,
        request_id: &str,
    ) -> Result<Option<RequestRecord>>;
    /// A function's requests that started in `[from_ms, to_ms)`, newest first, at most `limit`.
    async fn list_requests(
        &self,
        key: &FunctionKey,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<RequestRecord>>;
    /// Marks failed every still-running synchronous request accepted by `node` (or by no named
    /// node), after that node restarted (nobody waits for them any more), and any node's that
    /// started before `started_before_ms` (longer ago than any request can run: its node is
    /// gone for good). Returns how many.
    async fn fail_running_sync_requests(
        &self,
        node: &str,
        started_before_ms: i64,
        message: &str,
        now_ms: i64,
    ) -> Result<u64>;
    /// Removes up to `max_rows` finished async events that ended before `before_ms` and, with
    /// what is left of `max_rows`, finished requests that started before it (a request whose
    /// event remains is kept): one short transaction. Returns how many rows went; fewer than
    /// `max_rows` means nothing more is due.
    async fn purge_batch(&self, before_ms: i64, max_rows: u32) -> Result<u64>;

    /// Everything [`Store::purge_batch`] would remove, batch after batch.
    async fn purge_before(&self, before_ms: i64) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self.purge_batch(before_ms, PURGE_BATCH).await?;
            total += n;
            if n < u64::from(PURGE_BATCH) {
                return Ok(total);
            }
        }
    }

    /// Records an async request and its event in one transaction: once this returns, the
    /// request will run even if the process dies.
    async fn enqueue_async(&self, r: &RequestRecord, e: &AsyncEventRecord) -> Result<()>;
    /// Takes up to `limit` events for `node` to run, each under a lease until
    /// `now_ms + lease_ms`: queued events due at `now_ms` (marked `Running` with one more
    /// attempt), and running events whose lease ran out (their node died mid-run: the same
    /// attempt runs again, `resumed`). An event is never handed out while its lease holds.
    async fn claim_due_async(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEventRecord>>;
    /// Extends `node`'s leases on these running events, `(request id, lease token)` of the
    /// claim each run holds, until `until_ms`; a lease claimed again since is left alone.
    async fn renew_async_leases(
        &self,
        node: &str,
        leases: &[(String, String)],
        until_ms: i64,
    ) -> Result<()>;
    /// When the next event is due or the next lease runs out, if any.
    async fn next_async_due(&self) -> Result<Option<i64>>;
    async fn update_async(&self, e: &AsyncEventRecord) -> Result<()>;
    /// Writes the outcome of a run (the request and its event) only if the event is still
    /// `Running` under `e.lease_owner`'s lease, in one transaction: a TerminateAsyncEvent that
    /// got there first wins, and so does a node that took the event over after the lease ran
    /// out. Returns whether it was written.
    async fn finish_async_run(&self, r: &RequestRecord, e: &AsyncEventRecord) -> Result<bool>;
    /// Aborts a queued or running event of function `key` and fails its request with
    /// `message`, in one transaction.
    async fn abort_async(
        &self,
        key: &FunctionKey,
        request_id: &str,
        now_ms: i64,
        message: &str,
    ) -> Result<AbortOutcome>;
    async fn get_async(&self, scope: &Scope, request_id: &str) -> Result<Option<AsyncEventRecord>>;
    async fn list_async(&self, key: &FunctionKey) -> Result<Vec<AsyncEventRecord>>;
    /// After `node` restarted: the leases it held (or that no named node held) run out now,
    /// so those events run again (at least once). Returns how many.
    async fn requeue_running_async(&self, node: &str, now_ms: i64) -> Result<u64>;

    /// Wakes `wake` when another node queues an async event (a shared store); the node's own
    /// queueing wakes its dispatcher directly.
    fn watch_async(&self, wake: std::sync::Arc<tokio::sync::Notify>) {
        let _ = wake;
    }

    /// Keeps a code package where every node can fetch it (a shared store). The embedded
    /// store keeps none: the data dir's `packages/` is the only copy.
    async fn put_package(&self, sha256: &str, zip: &[u8]) -> Result<()> {
        let _ = (sha256, zip);
        Ok(())
    }
    /// A package kept by [`Store::put_package`].
    async fn get_package(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let _ = sha256;
        Ok(None)
    }
    async fn delete_package(&self, sha256: &str) -> Result<()> {
        let _ = sha256;
        Ok(())
    }

    /// Async events not finished (queued or running) and the start time of the oldest, for
    /// metrics.
    async fn async_queue_stats(&self) -> Result<(u64, Option<i64>)>;

    /// `sqlite` or `postgres`, for logs and reports.
    fn backend_name(&self) -> &'static str;
}

#[cfg(test)]
mod contract;

#[cfg(test)]
mod tests {
    use super::StoreError;
    use scf_types::{ApiError, ErrorCode};

    #[test]
    fn store_errors_map_to_tencent_codes() {
        assert_eq!(
            ApiError::from(StoreError::Conflict).code,
            ErrorCode::FailedOperationOperationConflict
        );
        assert_eq!(
            ApiError::from(StoreError::Backend("disk".into())).code,
            ErrorCode::InternalErrorSystem
        );
        assert_eq!(
            ApiError::from(StoreError::Unavailable("connection refused".into())).code,
            ErrorCode::ServiceUnavailable
        );
        assert_eq!(
            ApiError::from(StoreError::DiskFull("database or disk is full".into())).code,
            ErrorCode::FailedOperationInsufficientResources
        );
    }

    /// The typed fields keep the stored documents' strings: a database written before they
    /// were typed reads back, and one written now reads in an older build.
    #[test]
    fn typed_fields_are_stored_by_their_old_names() {
        use super::{ErrorKind, FunctionStatus};
        for (kind, text) in [
            (ErrorKind::Unstated, ""),
            (ErrorKind::UserCodeException, "UserCodeException"),
            (ErrorKind::TimeLimitExceeded, "TimeLimitExceeded"),
            (ErrorKind::ResourceLimitExceeded, "ResourceLimitExceeded"),
            (ErrorKind::PlatformError, "PlatformError"),
        ] {
            assert_eq!(serde_json::to_value(kind).expect("ser"), text);
            assert_eq!(kind.as_str(), text);
            let back: ErrorKind = serde_json::from_value(text.into()).expect("de");
            assert_eq!(back, kind);
        }
        // A request's outcome: RetCode in its column, the kind in the document, as before.
        let key = super::FunctionKey {
            scope: super::Scope {
                app_id: 1,
                region: "ap-guangzhou".into(),
            },
            namespace: "default".into(),
            name: "f".into(),
        };
        let mut r = super::RequestRecord::accepted(key, "r".into(), "$LATEST".into(), false, 1);
        for (outcome, code, text) in [
            (super::RequestOutcome::Running, 1, ""),
            (super::RequestOutcome::Succeeded, 0, ""),
            (
                super::RequestOutcome::Failed(ErrorKind::TimeLimitExceeded),
                -1,
                "TimeLimitExceeded",
            ),
            (super::RequestOutcome::Failed(ErrorKind::Unstated), -1, ""),
        ] {
            r.outcome = outcome;
            let doc = serde_json::to_value(&r).expect("ser");
            assert_eq!(doc["error_kind"], text);
            assert!(doc.get("outcome").is_none() && doc.get("ret_code").is_none());
            let back: super::RequestRecord = serde_json::from_value(doc).expect("de");
            assert_eq!(
                (outcome.ret_code(), back.outcome.with_ret_code(code)),
                (code, outcome)
            );
        }
        for status in [
            FunctionStatus::Creating,
            FunctionStatus::CreateFailed,
            FunctionStatus::Active,
            FunctionStatus::Updating,
            FunctionStatus::UpdateFailed,
        ] {
            assert_eq!(serde_json::to_value(status).expect("ser"), status.as_str());
        }
    }

    /// A record written when the reservation and the retry settings lived in `extra` reads
    /// back with them in their fields, and `extra` without them.
    #[test]
    fn untyped_settings_of_older_records_are_adopted() {
        let mut f: super::FunctionRecord = serde_json::from_value(serde_json::json!({
            "function_id": "lam-1", "runtime": "Python3.9", "handler": "index.main_handler",
            "description": "", "memory_size": 128, "timeout": 3, "init_timeout": 65,
            "kind": "Event", "environment": [], "tags": [], "code_sha256": "aa", "code_size": 1,
            "status": "Active", "status_desc": "", "status_reasons": [],
            "extra": {"ReservedConcurrencyMem": 256, "Role": "r",
                      "AsyncTriggerConfig": {"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 600}},
            "add_time_ms": 1, "mod_time_ms": 1
        }))
        .expect("an older record");
        f.adopt_untyped_settings();
        assert_eq!(f.reserved_concurrency_mem, Some(256));
        assert_eq!(
            f.async_retry,
            Some(super::AsyncRetry {
                retry_num: 1,
                msg_ttl_secs: 600
            })
        );
        assert_eq!(f.extra.keys().collect::<Vec<_>>(), ["Role"]);
    }
}
