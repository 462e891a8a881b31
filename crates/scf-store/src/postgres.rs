//! The shared backend: one PostgreSQL database behind several scfd nodes.
//!
//! # Schema
//! The tables mirror SQLite's (`namespaces`, `functions`, `versions`, `requests`,
//! `async_events`): the key columns a query filters or orders on, and a `doc` text column with
//! the serde JSON of the record, written exactly as [`crate::sqlite`] writes it (the fields that
//! are `#[serde(skip)]` live in the key columns). Text key columns use the "C" collation, so
//! names order byte by byte as in SQLite whatever the cluster's locale. `packages` keeps each
//! code package as `bytea` under its SHA-256, so a node can fetch a package another node
//! accepted. Migrations run in one transaction under a transaction-scoped advisory lock, with
//! the version in `scfd_schema`: nodes starting together apply them once, one after the other;
//! every step is also idempotent (`IF NOT EXISTS`).
//!
//! # Atomic operations
//! Every read-modify-write of the [`Store`] trait is one transaction that locks what it reads
//! (`SELECT ... FOR UPDATE`): a function is created under its namespace's row lock (so two
//! nodes cannot both pass the quota, nor race a DeleteNamespace), namespaces under an advisory
//! lock per account and region (the quota counts rows that do not exist yet), versions under
//! the function's row lock (so numbers are never handed out twice).
//!
//! # The async queue
//! A running event's `next_run_ms` is when its node's lease runs out. Claiming is
//! `SELECT ... FOR UPDATE SKIP LOCKED` over due events (queued ones and running ones whose
//! lease ran out), then one UPDATE: nodes claiming at once each get different events and never
//! wait for each other. A run's outcome is written only while its node still holds the lease
//! (compare-and-set on status and lease owner). Queueing runs `NOTIFY scfd_async` in its
//! transaction; [`Store::watch_async`] keeps one connection per watcher on `LISTEN scfd_async`
//! (reconnecting with a back-off, and waking the dispatcher after each reconnect in case it
//! missed something), so an idle node starts another node's events at once rather than at its
//! next poll.
//!
//! # Retention
//! `purge_batch` deletes at most `PURGE_BATCH` rows per statement, so a purge of millions of
//! records never holds one huge transaction (nor its locks) while nodes keep writing.
//!
//! # Detached writes
//! [`Store::insert_running_detached`] spawns its INSERT ... ON CONFLICT DO NOTHING. As with
//! SQLite's single writer, a write awaited afterwards commits after every detached write queued
//! before it: such a write first waits for those (see `DetachedWrites`).

use crate::model::{
    AsyncEventRecord, AsyncStatus, FunctionKey, FunctionRecord, FunctionStatus, NamespaceRecord,
    RequestRecord, Scope, StatusReason, VersionRecord,
};
use crate::{AbortOutcome, Result, Store, StoreError};
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{AsyncMessage, NoTls, Row};

/// Each entry moves the schema one version up; never edit one that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE IF NOT EXISTS namespaces (
    app_id BIGINT NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, region, name)
);
CREATE TABLE IF NOT EXISTS functions (
    app_id BIGINT NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, region, namespace, name)
);
CREATE INDEX IF NOT EXISTS functions_by_status ON functions (status);
CREATE INDEX IF NOT EXISTS functions_by_code ON functions (code_sha256);
CREATE TABLE IF NOT EXISTS versions (
    app_id BIGINT NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    code_sha256 TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, region, namespace, name, version)
);
CREATE INDEX IF NOT EXISTS versions_by_code ON versions (code_sha256);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    app_id BIGINT NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    function TEXT COLLATE "C" NOT NULL,
    ret_code BIGINT NOT NULL,
    start_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_function
    ON requests (app_id, region, namespace, function, start_ms);
CREATE INDEX IF NOT EXISTS requests_by_start ON requests (start_ms);
CREATE INDEX IF NOT EXISTS requests_running ON requests (ret_code) WHERE ret_code = 1;
CREATE TABLE IF NOT EXISTS async_events (
    request_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    app_id BIGINT NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    namespace TEXT COLLATE "C" NOT NULL,
    function TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    next_run_ms BIGINT NOT NULL,
    lease_owner TEXT NOT NULL DEFAULT '',
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS async_due ON async_events (status, next_run_ms);
CREATE INDEX IF NOT EXISTS async_by_function ON async_events (app_id, region, namespace, function);
CREATE TABLE IF NOT EXISTS packages (
    sha256 TEXT NOT NULL PRIMARY KEY,
    zip BYTEA NOT NULL
);
-- A zip is compressed already: TOAST would spend CPU trying again for nothing.
ALTER TABLE packages ALTER COLUMN zip SET STORAGE EXTERNAL;
"#];

/// The advisory lock that serializes migrations across nodes ("scfdmigr" in ASCII). Advisory
/// locks are per database, so clusters shared with other applications are unaffected unless
/// one of them picked the same number.
const MIGRATION_LOCK: i64 = 0x7363_6664_6d69_6772;

/// Connections per node. Every store call holds one for its duration only (a few
/// milliseconds), so 16 serve far more concurrent requests than that; a cluster's default
/// `max_connections` (100) then fits several nodes.
const POOL_SIZE: usize = 16;
/// How long a call waits for a free pooled connection, or for a new one to open, before
/// failing: a stuck database surfaces as errors rather than as requests that hang forever.
/// A request waits at most this long for a connection, and a new connection this long to open:
/// with PostgreSQL down, the API answers ServiceUnavailable within seconds, never hangs.
const POOL_WAIT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Queueing signals on the channel `scfd_async`; watchers listen on it.
const NOTIFY_QUEUED: &str = "NOTIFY scfd_async";
const LISTEN_QUEUED: &str = "LISTEN scfd_async";
/// Back-off between attempts to get the LISTEN connection back.
const LISTEN_BACKOFF_MIN: Duration = Duration::from_millis(100);
const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// TCP keepalive on the LISTEN connection: it only ever reads, so without probes a peer that
/// vanished (a failover, a cut network) would leave it waiting for the default two hours.
const LISTEN_KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// The PostgreSQL store: a pool of connections, plus one connection per [`Store::watch_async`]
/// watcher.
pub struct PgStore {
    pool: Pool,
    /// For connections outside the pool (LISTEN).
    config: tokio_postgres::Config,
    /// Where detached writes and watchers run: the trait's methods that spawn are not async,
    /// so they may be called outside a runtime's context.
    runtime: tokio::runtime::Handle,
    detached: Arc<DetachedWrites>,
    /// Dropped with the store: its receivers see it close, and the watchers stop.
    stop: watch::Sender<()>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`, or a `host=... port=...` key-value
    /// string) and brings the schema up to date. Connections are plain TCP or Unix sockets (no
    /// TLS).
    pub async fn connect(url: &str) -> Result<PgStore> {
        let runtime = tokio::runtime::Handle::try_current().map_err(backend)?;
        let mut config: tokio_postgres::Config = url.parse().map_err(backend)?;
        if config.get_application_name().is_none() {
            config.application_name("scfd");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(backend)?;
        let mut client = pool.get().await.map_err(backend)?;
        migrate(&mut client).await?;
        drop(client);
        Ok(PgStore {
            pool,
            config,
            runtime,
            detached: Arc::default(),
            stop: watch::channel(()).0,
        })
    }

    async fn reader(&self) -> Result<Object> {
        self.pool.get().await.map_err(unavailable)
    }

    /// A connection for a write, once every detached write queued before it has committed.
    async fn writer(&self) -> Result<Object> {
        self.detached.settle().await;
        self.pool.get().await.map_err(unavailable)
    }
}

async fn migrate(client: &mut Object) -> Result<()> {
    let tx = client.transaction().await.map_err(pg)?;
    // Held until COMMIT: a node starting meanwhile waits here, then finds the work done.
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
         CREATE TABLE IF NOT EXISTS scfd_schema (
             one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
             version INTEGER NOT NULL
         );
         INSERT INTO scfd_schema (version) VALUES (0) ON CONFLICT DO NOTHING;"
    ))
    .await
    .map_err(pg)?;
    let version: i32 = tx
        .query_one("SELECT version FROM scfd_schema", &[])
        .await
        .map_err(pg)?
        .try_get(0)
        .map_err(pg)?;
    let version = usize::try_from(version).unwrap_or(0);
    if version > MIGRATIONS.len() {
        // A newer scfd migrated this database; migrations only add, so this one still works.
        tracing::warn!(
            version,
            known = MIGRATIONS.len(),
            "the database schema is newer than this scfd"
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await.map_err(pg)?;
        let next = i32::try_from(i + 1).map_err(backend)?;
        tx.execute("UPDATE scfd_schema SET version = $1", &[&next])
            .await
            .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}

/// Detached writes still in flight, each with its place in the order they were queued in.
///
/// Why: with SQLite every write goes through one writer thread, so a write awaited after a
/// detached one commits after it, and the contract suite holds every backend to that (the
/// service itself needs only the ON CONFLICT rules). Here a detached write is a task of its own
/// on any pooled connection, so an awaited write would otherwise race it.
/// A write waits only for the detached writes queued before it started waiting (later ones
/// cannot starve it), and only when there are any: the usual cost is one uncontended lock.
#[derive(Default)]
struct DetachedWrites {
    state: Mutex<InFlight>,
    /// Notified whenever a detached write ends.
    ended: Notify,
}

#[derive(Default)]
struct InFlight {
    next: u64,
    running: BTreeSet<u64>,
}

/// One detached write in flight; dropping it (the write ended, failed, or its task was
/// cancelled) lets the writes waiting for it go on.
struct DetachedTicket {
    writes: Arc<DetachedWrites>,
    seq: u64,
}

impl DetachedWrites {
    fn state(&self) -> std::sync::MutexGuard<'_, InFlight> {
        // Only plain integer bookkeeping happens under this lock: a panic cannot leave it
        // half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn begin(self: &Arc<Self>) -> DetachedTicket {
        let mut s = self.state();
        let seq = s.next;
        s.next += 1;
        s.running.insert(seq);
        DetachedTicket {
            writes: Arc::clone(self),
            seq,
        }
    }

    async fn settle(&self) {
        let horizon = {
            let s = self.state();
            if s.running.is_empty() {
                return;
            }
            s.next
        };
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before checking, so an end between the check and the await wakes it.
            ended.as_mut().enable();
            if self.state().running.first().is_none_or(|&s| s >= horizon) {
                return;
            }
            ended.await;
        }
    }
}

impl Drop for DetachedTicket {
    fn drop(&mut self) {
        self.writes.state().running.remove(&self.seq);
        self.writes.ended.notify_waiters();
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A unique violation is a row that exists already (two nodes creating the same name at
/// once: the loser gets the same answer as if it had come second).
fn pg(e: tokio_postgres::Error) -> StoreError {
    let down = [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::CONNECTION_EXCEPTION,
        SqlState::CONNECTION_FAILURE,
        SqlState::CONNECTION_DOES_NOT_EXIST,
    ];
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::AlreadyExists,
        Some(c) if *c == SqlState::DISK_FULL => StoreError::DiskFull(e.to_string()),
        Some(c) if down.contains(c) => unavailable(e),
        // No SQL state: the connection itself failed (closed, reset, timed out).
        None if e.is_closed() || io_source(&e) => unavailable(e),
        _ => backend(e),
    }
}

fn io_source(e: &tokio_postgres::Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
}

/// The server cannot be reached, or its connection broke: the request can be retried as is.
fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Statements go through each connection's statement cache: parsing and planning them again
/// on every call would cost a round trip each.
async fn query(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
    let stmt = c.prepare_cached(sql).await.map_err(pg)?;
    c.query(&stmt, params).await.map_err(pg)
}

async fn query_opt(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
    let stmt = c.prepare_cached(sql).await.map_err(pg)?;
    c.query_opt(&stmt, params).await.map_err(pg)
}

async fn query_one(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Row> {
    let stmt = c.prepare_cached(sql).await.map_err(pg)?;
    c.query_one(&stmt, params).await.map_err(pg)
}

async fn execute(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<u64> {
    let stmt = c.prepare_cached(sql).await.map_err(pg)?;
    c.execute(&stmt, params).await.map_err(pg)
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str) -> Result<T> {
    row.try_get(column).map_err(pg)
}

fn app(scope: &Scope) -> i64 {
    // app_ids are 10-digit numbers; the cast keeps their order and identity (as in SQLite).
    scope.app_id as i64
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(backend)
}

fn doc<T: serde::de::DeserializeOwned>(row: &Row) -> Result<T> {
    serde_json::from_str(get::<&str>(row, "doc")?).map_err(backend)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn function_from(row: &Row) -> Result<FunctionRecord> {
    let mut f: FunctionRecord = doc(row)?;
    f.key = FunctionKey {
        scope: Scope {
            app_id: get::<i64>(row, "app_id")? as u64,
            region: get(row, "region")?,
        },
        namespace: get(row, "namespace")?,
        name: get(row, "name")?,
    };
    f.adopt_untyped_settings();
    Ok(f)
}

/// The key of a request or async event row (their function column is `function`).
fn key_from(row: &Row) -> Result<FunctionKey> {
    Ok(FunctionKey {
        scope: Scope {
            app_id: get::<i64>(row, "app_id")? as u64,
            region: get(row, "region")?,
        },
        namespace: get(row, "namespace")?,
        name: get(row, "function")?,
    })
}

fn version_from(row: &Row, key: &FunctionKey) -> Result<VersionRecord> {
    let mut v: VersionRecord = doc(row)?;
    v.function.key = key.clone();
    v.function.adopt_untyped_settings();
    Ok(v)
}

fn request_from(row: &Row) -> Result<RequestRecord> {
    let mut r: RequestRecord = doc(row)?;
    r.function = key_from(row)?;
    r.request_id = get(row, "request_id")?;
    r.outcome = r.outcome.with_ret_code(get(row, "ret_code")?);
    r.start_ms = get(row, "start_ms")?;
    Ok(r)
}

fn async_from(row: &Row) -> Result<AsyncEventRecord> {
    let mut e: AsyncEventRecord = doc(row)?;
    e.function = key_from(row)?;
    e.request_id = get(row, "request_id")?;
    e.status = AsyncStatus::parse(get(row, "status")?).unwrap_or(AsyncStatus::Failed);
    e.next_run_ms = get(row, "next_run_ms")?;
    e.lease_owner = get(row, "lease_owner")?;
    Ok(e)
}

async fn get_function_in(
    c: &impl GenericClient,
    key: &FunctionKey,
    for_update: bool,
) -> Result<Option<FunctionRecord>> {
    let sql = if for_update {
        "SELECT * FROM functions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4 FOR UPDATE"
    } else {
        "SELECT * FROM functions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4"
    };
    let k = key;
    query_opt(
        c,
        sql,
        &[&app(&k.scope), &k.scope.region, &k.namespace, &k.name],
    )
    .await?
    .as_ref()
    .map(function_from)
    .transpose()
}

async fn write_function(c: &impl GenericClient, f: &FunctionRecord) -> Result<u64> {
    let k = &f.key;
    execute(
        c,
        "UPDATE functions SET status=$5, code_sha256=$6, doc=$7
         WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4",
        &[
            &app(&k.scope),
            &k.scope.region,
            &k.namespace,
            &k.name,
            &f.status.as_str(),
            &f.code_sha256,
            &to_json(f)?,
        ],
    )
    .await
}

const INSERT_REQUEST: &str = "INSERT INTO requests (request_id, app_id, region, namespace, function, ret_code, start_ms, doc)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

async fn insert_request_in(c: &impl GenericClient, sql: &str, r: &RequestRecord) -> Result<u64> {
    let k = &r.function;
    execute(
        c,
        sql,
        &[
            &r.request_id,
            &app(&k.scope),
            &k.scope.region,
            &k.namespace,
            &k.name,
            &r.outcome.ret_code(),
            &r.start_ms,
            &to_json(r)?,
        ],
    )
    .await
}

async fn write_request(c: &impl GenericClient, r: &RequestRecord) -> Result<u64> {
    execute(
        c,
        "UPDATE requests SET ret_code=$2, doc=$3 WHERE request_id=$1",
        &[&r.request_id, &r.outcome.ret_code(), &to_json(r)?],
    )
    .await
}

async fn write_async(c: &impl GenericClient, e: &AsyncEventRecord) -> Result<u64> {
    execute(
        c,
        "UPDATE async_events SET status=$2, next_run_ms=$3, doc=$4, lease_owner=$5 WHERE request_id=$1",
        &[
            &e.request_id,
            &e.status.as_str(),
            &e.next_run_ms,
            &to_json(e)?,
            &e.lease_owner,
        ],
    )
    .await
}

/// Wakes `wake` on every notification of a queued event until `stop` closes, getting its
/// connection back with a back-off whenever it drops.
async fn watch_queue(
    config: tokio_postgres::Config,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<()>,
) {
    let mut backoff = LISTEN_BACKOFF_MIN;
    loop {
        let ended = tokio::select! {
            ended = listen_once(&config, &wake, &mut backoff) => ended,
            _ = stop.changed() => return,
        };
        match ended {
            Ok(()) => tracing::warn!("the LISTEN connection closed; reconnecting"),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "the LISTEN connection failed")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
    }
}

/// One LISTEN connection, until it ends. The connection is driven here by `poll_message`
/// (not spawned), because notifications only come out that way.
async fn listen_once(
    config: &tokio_postgres::Config,
    wake: &Notify,
    backoff: &mut Duration,
) -> Result<(), tokio_postgres::Error> {
    let mut config = config.clone();
    config.keepalives_idle(LISTEN_KEEPALIVE_IDLE);
    let (client, mut conn) = config.connect(NoTls).await?;
    let listen = client.batch_execute(LISTEN_QUEUED);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            done = &mut listen, if !listening => {
                done?;
                listening = true;
                *backoff = LISTEN_BACKOFF_MIN;
                // Events queued while this node was not listening were signalled to nobody.
                wake.notify_one();
            }
            message = std::future::poll_fn(|cx| conn.poll_message(cx)) => match message {
                Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
        }
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn ensure_namespace(&self, scope: &Scope, ns: &NamespaceRecord) -> Result<()> {
        let c = self.writer().await?;
        execute(
            &c,
            "INSERT INTO namespaces (app_id, region, name, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&app(scope), &scope.region, &ns.name, &to_json(ns)?],
        )
        .await
        .map(drop)
    }

    async fn create_namespace(&self, scope: &Scope, ns: &NamespaceRecord, max: u32) -> Result<()> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // The quota counts rows: no row lock can stop another node inserting one meanwhile,
        // so creations in one account and region take turns on a lock of their own.
        let lock_key = format!("scfd namespaces {} {}", scope.app_id, scope.region);
        execute(
            &tx,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&lock_key],
        )
        .await?;
        let row = query_one(
            &tx,
            "SELECT EXISTS(SELECT 1 FROM namespaces WHERE app_id=$1 AND region=$2 AND name=$3),
                    (SELECT COUNT(*) FROM namespaces WHERE app_id=$1 AND region=$2)",
            &[&app(scope), &scope.region, &ns.name],
        )
        .await?;
        let (exists, count): (bool, i64) =
            (row.try_get(0).map_err(pg)?, row.try_get(1).map_err(pg)?);
        if exists {
            return Err(StoreError::AlreadyExists);
        }
        if count >= i64::from(max) {
            return Err(StoreError::LimitExceeded(max));
        }
        execute(
            &tx,
            "INSERT INTO namespaces (app_id, region, name, doc) VALUES ($1, $2, $3, $4)",
            &[&app(scope), &scope.region, &ns.name, &to_json(ns)?],
        )
        .await?;
        tx.commit().await.map_err(pg)
    }

    async fn list_namespaces(&self, scope: &Scope) -> Result<Vec<NamespaceRecord>> {
        let c = self.reader().await?;
        query(
            &c,
            "SELECT doc FROM namespaces WHERE app_id=$1 AND region=$2 ORDER BY name",
            &[&app(scope), &scope.region],
        )
        .await?
        .iter()
        .map(doc)
        .collect()
    }

    async fn get_namespace(&self, scope: &Scope, name: &str) -> Result<Option<NamespaceRecord>> {
        let c = self.reader().await?;
        query_opt(
            &c,
            "SELECT doc FROM namespaces WHERE app_id=$1 AND region=$2 AND name=$3",
            &[&app(scope), &scope.region, &name],
        )
        .await?
        .as_ref()
        .map(doc)
        .transpose()
    }

    async fn update_namespace(
        &self,
        scope: &Scope,
        name: &str,
        description: &str,
        mod_time_ms: i64,
    ) -> Result<()> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let Some(row) = query_opt(
            &tx,
            "SELECT doc FROM namespaces WHERE app_id=$1 AND region=$2 AND name=$3 FOR UPDATE",
            &[&app(scope), &scope.region, &name],
        )
        .await?
        else {
            return Err(StoreError::NotFound);
        };
        let mut ns: NamespaceRecord = doc(&row)?;
        ns.description = description.to_string();
        ns.mod_time_ms = mod_time_ms;
        execute(
            &tx,
            "UPDATE namespaces SET doc=$4 WHERE app_id=$1 AND region=$2 AND name=$3",
            &[&app(scope), &scope.region, &name, &to_json(&ns)?],
        )
        .await?;
        tx.commit().await.map_err(pg)
    }

    async fn delete_namespace(&self, scope: &Scope, name: &str) -> Result<()> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // The row lock that CreateFunction takes too: no function can appear between the
        // count and the delete.
        let args: Params<'_> = &[&app(scope), &scope.region, &name];
        query_opt(
            &tx,
            "SELECT 1 FROM namespaces WHERE app_id=$1 AND region=$2 AND name=$3 FOR UPDATE",
            args,
        )
        .await?;
        let functions: i64 = get(
            &query_one(
                &tx,
                "SELECT COUNT(*) AS n FROM functions WHERE app_id=$1 AND region=$2 AND namespace=$3",
                args,
            )
            .await?,
            "n",
        )?;
        if functions > 0 {
            return Err(StoreError::NamespaceNotEmpty);
        }
        let n = execute(
            &tx,
            "DELETE FROM namespaces WHERE app_id=$1 AND region=$2 AND name=$3",
            args,
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(pg)
    }

    async fn create_function(&self, f: &FunctionRecord, max_per_namespace: u32) -> Result<()> {
        let k = &f.key;
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // Creations in one namespace take turns on its row: the count below is then exact
        // when the insert commits, and the namespace cannot be deleted meanwhile.
        let ns = query_opt(
            &tx,
            "SELECT 1 FROM namespaces WHERE app_id=$1 AND region=$2 AND name=$3 FOR UPDATE",
            &[&app(&k.scope), &k.scope.region, &k.namespace],
        )
        .await?;
        if ns.is_none() {
            return Err(StoreError::NamespaceNotFound);
        }
        if get_function_in(&tx, k, false).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let count: i64 = get(
            &query_one(
                &tx,
                "SELECT COUNT(*) AS n FROM functions WHERE app_id=$1 AND region=$2 AND namespace=$3",
                &[&app(&k.scope), &k.scope.region, &k.namespace],
            )
            .await?,
            "n",
        )?;
        if count >= i64::from(max_per_namespace) {
            return Err(StoreError::LimitExceeded(max_per_namespace));
        }
        execute(
            &tx,
            "INSERT INTO functions (app_id, region, namespace, name, status, code_sha256, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &app(&k.scope),
                &k.scope.region,
                &k.namespace,
                &k.name,
                &f.status.as_str(),
                &f.code_sha256,
                &to_json(f)?,
            ],
        )
        .await?;
        tx.commit().await.map_err(pg)
    }

    async fn get_function(&self, key: &FunctionKey) -> Result<Option<FunctionRecord>> {
        let c = self.reader().await?;
        get_function_in(&c, key, false).await
    }

    async fn function_exists(&self, key: &FunctionKey) -> Result<bool> {
        let c = self.reader().await?;
        let row = query_one(
            &c,
            "SELECT EXISTS(SELECT 1 FROM functions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4) AS found",
            &[&app(&key.scope), &key.scope.region, &key.namespace, &key.name],
        )
        .await?;
        get(&row, "found")
    }

    async fn list_functions(
        &self,
        scope: &Scope,
        namespace: Option<&str>,
    ) -> Result<Vec<FunctionRecord>> {
        let c = self.reader().await?;
        query(
            &c,
            "SELECT * FROM functions WHERE app_id=$1 AND region=$2 AND ($3::text IS NULL OR namespace=$3)
             ORDER BY namespace, name",
            &[&app(scope), &scope.region, &namespace],
        )
        .await?
        .iter()
        .map(function_from)
        .collect()
    }

    async fn update_function(&self, f: &FunctionRecord) -> Result<()> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let Some(current) = get_function_in(&tx, &f.key, true).await? else {
            return Err(StoreError::NotFound);
        };
        if current.revision != f.revision {
            return Err(StoreError::Conflict);
        }
        let mut f = f.clone();
        f.revision += 1;
        write_function(&tx, &f).await?;
        tx.commit().await.map_err(pg)
    }

    async fn set_function_status(
        &self,
        key: &FunctionKey,
        code_sha256: &str,
        status: FunctionStatus,
        reasons: &[StatusReason],
    ) -> Result<bool> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let Some(mut f) = get_function_in(&tx, key, true).await? else {
            return Ok(false);
        };
        if f.code_sha256 != code_sha256 {
            return Ok(false);
        }
        f.status = status;
        f.status_desc = reasons
            .first()
            .map(|r| r.error_message.clone())
            .unwrap_or_default();
        f.status_reasons = reasons.to_vec();
        f.revision += 1;
        let written = write_function(&tx, &f).await? > 0;
        tx.commit().await.map_err(pg)?;
        Ok(written)
    }

    async fn delete_function(&self, key: &FunctionKey) -> Result<()> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        let args: Params<'_> = &[
            &app(&key.scope),
            &key.scope.region,
            &key.namespace,
            &key.name,
        ];
        execute(
            &tx,
            "DELETE FROM versions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4",
            args,
        )
        .await?;
        let n = execute(
            &tx,
            "DELETE FROM functions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4",
            args,
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(pg)
    }

    async fn functions_with_status(
        &self,
        statuses: &[FunctionStatus],
    ) -> Result<Vec<FunctionRecord>> {
        let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let c = self.reader().await?;
        // Grouped by status in the order asked, as SQLite answers.
        query(
            &c,
            "SELECT * FROM functions WHERE status = ANY($1)
             ORDER BY array_position($1, status), app_id, region, namespace, name",
            &[&statuses],
        )
        .await?
        .iter()
        .map(function_from)
        .collect()
    }

    async fn code_in_use(&self, sha256: &str, app_id: Option<u64>) -> Result<bool> {
        let c = self.reader().await?;
        let app_id = app_id.map(|a| a as i64);
        let row = query_one(
            &c,
            "SELECT EXISTS(SELECT 1 FROM functions WHERE code_sha256=$1 AND ($2::bigint IS NULL OR app_id=$2))
                 OR EXISTS(SELECT 1 FROM versions WHERE code_sha256=$1 AND ($2::bigint IS NULL OR app_id=$2)) AS used",
            &[&sha256, &app_id],
        )
        .await?;
        get(&row, "used")
    }

    async fn publish_version(
        &self,
        key: &FunctionKey,
        description: &str,
        now_ms: i64,
        max: u32,
    ) -> Result<VersionRecord> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // The function's row lock makes publications of one function take turns, so two nodes
        // never pick the same number.
        let Some(f) = get_function_in(&tx, key, true).await? else {
            return Err(StoreError::NotFound);
        };
        let args: Params<'_> = &[
            &app(&key.scope),
            &key.scope.region,
            &key.namespace,
            &key.name,
        ];
        let row = query_one(
            &tx,
            "SELECT COUNT(*) AS n, COALESCE(MAX(version), 0) AS last FROM versions
             WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4",
            args,
        )
        .await?;
        let (count, last): (i64, i64) = (get(&row, "n")?, get(&row, "last")?);
        if count >= i64::from(max) {
            return Err(StoreError::LimitExceeded(max));
        }
        let v = VersionRecord {
            version: (last + 1).to_string(),
            description: description.to_string(),
            add_time_ms: now_ms,
            function: f,
        };
        execute(
            &tx,
            "INSERT INTO versions (app_id, region, namespace, name, version, code_sha256, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &app(&key.scope),
                &key.scope.region,
                &key.namespace,
                &key.name,
                &(last + 1),
                &v.function.code_sha256,
                &to_json(&v)?,
            ],
        )
        .await?;
        tx.commit().await.map_err(pg)?;
        Ok(v)
    }

    async fn get_version(&self, key: &FunctionKey, version: &str) -> Result<Option<VersionRecord>> {
        let Ok(number) = version.parse::<i64>() else {
            return Ok(None);
        };
        let c = self.reader().await?;
        query_opt(
            &c,
            "SELECT doc FROM versions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4 AND version=$5",
            &[&app(&key.scope), &key.scope.region, &key.namespace, &key.name, &number],
        )
        .await?
        .map(|row| version_from(&row, key))
        .transpose()
    }

    async fn list_versions(&self, key: &FunctionKey) -> Result<Vec<VersionRecord>> {
        let c = self.reader().await?;
        query(
            &c,
            "SELECT doc FROM versions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4 ORDER BY version",
            &[&app(&key.scope), &key.scope.region, &key.namespace, &key.name],
        )
        .await?
        .iter()
        .map(|row| version_from(row, key))
        .collect()
    }

    async fn delete_version(&self, key: &FunctionKey, version: &str) -> Result<()> {
        let Ok(number) = version.parse::<i64>() else {
            return Err(StoreError::NotFound);
        };
        let c = self.writer().await?;
        let n = execute(
            &c,
            "DELETE FROM versions WHERE app_id=$1 AND region=$2 AND namespace=$3 AND name=$4 AND version=$5",
            &[&app(&key.scope), &key.scope.region, &key.namespace, &key.name, &number],
        )
        .await?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    fn insert_running_detached(&self, r: &RequestRecord) {
        let (pool, r) = (self.pool.clone(), r.clone());
        let ticket = self.detached.begin();
        self.runtime.spawn(async move {
            let _ticket = ticket;
            let written = async {
                let c = pool.get().await.map_err(backend)?;
                let sql = format!("{INSERT_REQUEST} ON CONFLICT (request_id) DO NOTHING");
                insert_request_in(&c, &sql, &r).await
            };
            if let Err(e) = written.await {
                tracing::error!(error = %e, request_id = %r.request_id, "a queued write failed");
            }
        });
    }

    async fn put_request(&self, r: &RequestRecord) -> Result<()> {
        let c = self.writer().await?;
        let sql = format!(
            "{INSERT_REQUEST} ON CONFLICT (request_id) DO UPDATE SET ret_code = excluded.ret_code, doc = excluded.doc"
        );
        insert_request_in(&c, &sql, r).await.map(drop)
    }

    async fn get_request(
        &self,
        key: &FunctionKey,
        request_id: &str,
    ) -> Result<Option<RequestRecord>> {
        let c = self.reader().await?;
        // By the primary key alone, the owner checked here: with the key columns in the WHERE
        // clause the planner took requests_by_function and scanned every request of the
        // function (20 ms a lookup with 20k records).
        let found = query_opt(
            &c,
            "SELECT * FROM requests WHERE request_id=$1",
            &[&request_id],
        )
        .await?
        .as_ref()
        .map(request_from)
        .transpose()?;
        Ok(found.filter(|r| r.function == *key))
    }

    async fn list_requests(
        &self,
        key: &FunctionKey,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<RequestRecord>> {
        let c = self.reader().await?;
        query(
            &c,
            "SELECT * FROM requests WHERE app_id=$1 AND region=$2 AND namespace=$3 AND function=$4
             AND start_ms >= $5 AND start_ms < $6 ORDER BY start_ms DESC LIMIT $7",
            &[
                &app(&key.scope),
                &key.scope.region,
                &key.namespace,
                &key.name,
                &from_ms,
                &to_ms,
                &self::limit(limit),
            ],
        )
        .await?
        .iter()
        .map(request_from)
        .collect()
    }

    async fn fail_running_sync_requests(
        &self,
        node: &str,
        started_before_ms: i64,
        message: &str,
        now_ms: i64,
    ) -> Result<u64> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // is_async and node live in the document; filtering on them here locks only this
        // node's rows, not the running requests of the nodes still serving.
        let rows = query(
            &tx,
            "SELECT * FROM requests WHERE ret_code = 1
             AND NOT COALESCE((doc::jsonb->>'is_async')::boolean, false)
             AND (COALESCE(doc::jsonb->>'node', '') IN ($1, '') OR start_ms < $2)
             FOR UPDATE",
            &[&node, &started_before_ms],
        )
        .await?;
        let (mut ids, mut docs) = (Vec::new(), Vec::new());
        for row in &rows {
            let mut r = request_from(row)?;
            if r.is_async
                || !(r.node == node || r.node.is_empty() || r.start_ms < started_before_ms)
            {
                continue;
            }
            r.fail(message, now_ms);
            docs.push(to_json(&r)?);
            ids.push(r.request_id);
        }
        let n = execute(
            &tx,
            "UPDATE requests AS r SET ret_code = -1, doc = u.doc
             FROM unnest($1::text[], $2::text[]) AS u(request_id, doc) WHERE r.request_id = u.request_id",
            &[&ids, &docs],
        )
        .await?;
        tx.commit().await.map_err(pg)?;
        Ok(n)
    }

    async fn purge_batch(&self, before_ms: i64, max_rows: u32) -> Result<u64> {
        let c = self.writer().await?;
        // Events first: a request whose event remains is kept (its event still refers to it).
        let events = execute(
            &c,
            "DELETE FROM async_events WHERE request_id IN (
                 SELECT request_id FROM async_events WHERE status IN ('FINISHED', 'FAILED', 'ABORTED')
                 AND COALESCE((doc::jsonb->>'end_ms')::bigint, 0) < $1 LIMIT $2)",
            &[&before_ms, &i64::from(max_rows)],
        )
        .await?;
        let left = i64::from(max_rows) - events as i64;
        if left <= 0 {
            return Ok(events);
        }
        let requests = execute(
            &c,
            "DELETE FROM requests WHERE request_id IN (
                 SELECT r.request_id FROM requests AS r WHERE r.start_ms < $1 AND r.ret_code != 1
                 AND NOT EXISTS (SELECT 1 FROM async_events AS a WHERE a.request_id = r.request_id)
                 LIMIT $2)",
            &[&before_ms, &left],
        )
        .await?;
        Ok(events + requests)
    }

    async fn enqueue_async(&self, r: &RequestRecord, e: &AsyncEventRecord) -> Result<()> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        insert_request_in(&tx, INSERT_REQUEST, r).await?;
        let k = &e.function;
        execute(
            &tx,
            "INSERT INTO async_events (request_id, app_id, region, namespace, function, status, next_run_ms, lease_owner, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &e.request_id,
                &app(&k.scope),
                &k.scope.region,
                &k.namespace,
                &k.name,
                &e.status.as_str(),
                &e.next_run_ms,
                &e.lease_owner,
                &to_json(e)?,
            ],
        )
        .await?;
        // Delivered at COMMIT, and only if it commits: a watcher never wakes for an event
        // that is not there.
        tx.batch_execute(NOTIFY_QUEUED).await.map_err(pg)?;
        tx.commit().await.map_err(pg)
    }

    async fn claim_due_async(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEventRecord>> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // SKIP LOCKED: rows another node is claiming right now are left to it rather than
        // waited for; once its claim commits their lease holds and they are no longer due.
        let rows = query(
            &tx,
            "SELECT * FROM async_events WHERE status IN ('QUEUED', 'RUNNING') AND next_run_ms <= $1
             ORDER BY next_run_ms, request_id LIMIT $2 FOR UPDATE SKIP LOCKED",
            &[&now_ms, &self::limit(limit)],
        )
        .await?;
        if rows.is_empty() {
            tx.commit().await.map_err(pg)?;
            return Ok(Vec::new());
        }
        let until = now_ms + lease_ms;
        let mut claimed = Vec::with_capacity(rows.len());
        let (mut ids, mut docs) = (Vec::new(), Vec::new());
        for row in &rows {
            let mut e = async_from(row)?;
            // A running event is due only once its lease ran out: its node died mid-run.
            e.resumed = e.status == AsyncStatus::Running;
            if !e.resumed {
                e.attempts += 1;
            }
            e.status = AsyncStatus::Running;
            e.lease_owner = node.to_string();
            e.lease_token = crate::claim_token();
            e.next_run_ms = until;
            ids.push(e.request_id.clone());
            docs.push(to_json(&e)?);
            claimed.push(e);
        }
        execute(
            &tx,
            "UPDATE async_events AS e SET status = 'RUNNING', next_run_ms = $3, lease_owner = $4, doc = u.doc
             FROM unnest($1::text[], $2::text[]) AS u(request_id, doc) WHERE e.request_id = u.request_id",
            &[&ids, &docs, &until, &node],
        )
        .await?;
        tx.commit().await.map_err(pg)?;
        Ok(claimed)
    }

    async fn renew_async_leases(
        &self,
        node: &str,
        leases: &[(String, String)],
        until_ms: i64,
    ) -> Result<()> {
        let c = self.writer().await?;
        let (ids, tokens): (Vec<String>, Vec<String>) = leases.iter().cloned().unzip();
        execute(
            &c,
            "UPDATE async_events AS e SET next_run_ms=$3
             FROM unnest($1::text[], $4::text[]) AS u(request_id, token)
             WHERE e.request_id = u.request_id AND e.status='RUNNING' AND e.lease_owner=$2
             AND COALESCE(e.doc::jsonb->>'lease_token', '') = u.token",
            &[&ids, &node, &until_ms, &tokens],
        )
        .await
        .map(drop)
    }

    async fn next_async_due(&self) -> Result<Option<i64>> {
        let c = self.reader().await?;
        let row = query_one(
            &c,
            "SELECT MIN(next_run_ms) AS due FROM async_events WHERE status IN ('QUEUED', 'RUNNING')",
            &[],
        )
        .await?;
        get(&row, "due")
    }

    async fn update_async(&self, e: &AsyncEventRecord) -> Result<()> {
        let c = self.writer().await?;
        write_async(&c, e).await.map(drop)
    }

    async fn finish_async_run(&self, r: &RequestRecord, e: &AsyncEventRecord) -> Result<bool> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // The compare-and-set: the event row is written (and locked) only under this run's
        // lease; then the request follows in the same transaction.
        let held = execute(
            &tx,
            "UPDATE async_events SET status=$2, next_run_ms=$3, doc=$4, lease_owner=$5
             WHERE request_id=$1 AND status='RUNNING' AND lease_owner=$5
             AND COALESCE(doc::jsonb->>'lease_token', '') = $6",
            &[
                &e.request_id,
                &e.status.as_str(),
                &e.next_run_ms,
                &to_json(e)?,
                &e.lease_owner,
                &e.lease_token,
            ],
        )
        .await?;
        if held == 0 {
            tx.rollback().await.map_err(pg)?;
            return Ok(false);
        }
        write_request(&tx, r).await?;
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }

    async fn abort_async(
        &self,
        key: &FunctionKey,
        request_id: &str,
        now_ms: i64,
        message: &str,
    ) -> Result<AbortOutcome> {
        let mut c = self.writer().await?;
        let tx = c.transaction().await.map_err(pg)?;
        // By the primary key alone (see get_request), the owner checked here.
        let found = query_opt(
            &tx,
            "SELECT * FROM async_events WHERE request_id=$1 FOR UPDATE",
            &[&request_id],
        )
        .await?;
        let Some(mut e) = found.as_ref().map(async_from).transpose()? else {
            return Ok(AbortOutcome::NotFound);
        };
        if e.function != *key {
            return Ok(AbortOutcome::NotFound);
        }
        if e.status.is_final() {
            return Ok(AbortOutcome::AlreadyEnded(e.status));
        }
        e.status = AsyncStatus::Aborted;
        e.end_ms = Some(now_ms);
        write_async(&tx, &e).await?;
        let record = query_opt(
            &tx,
            "SELECT * FROM requests WHERE request_id=$1 FOR UPDATE",
            &[&request_id],
        )
        .await?;
        if let Some(row) = record {
            let mut r = request_from(&row)?;
            r.fail(message, now_ms);
            write_request(&tx, &r).await?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(AbortOutcome::Aborted)
    }

    async fn get_async(&self, scope: &Scope, request_id: &str) -> Result<Option<AsyncEventRecord>> {
        let c = self.reader().await?;
        // By the primary key alone (see get_request), the owner checked here.
        let found = query_opt(
            &c,
            "SELECT * FROM async_events WHERE request_id=$1",
            &[&request_id],
        )
        .await?
        .as_ref()
        .map(async_from)
        .transpose()?;
        Ok(found.filter(|e| e.function.scope == *scope))
    }

    async fn list_async(&self, key: &FunctionKey) -> Result<Vec<AsyncEventRecord>> {
        let c = self.reader().await?;
        query(
            &c,
            "SELECT * FROM async_events WHERE app_id=$1 AND region=$2 AND namespace=$3 AND function=$4",
            &[&app(&key.scope), &key.scope.region, &key.namespace, &key.name],
        )
        .await?
        .iter()
        .map(async_from)
        .collect()
    }

    async fn requeue_running_async(&self, node: &str, now_ms: i64) -> Result<u64> {
        let c = self.writer().await?;
        execute(
            &c,
            "UPDATE async_events SET next_run_ms=$2 WHERE status='RUNNING' AND lease_owner IN ($1, '')",
            &[&node, &now_ms],
        )
        .await
    }

    fn watch_async(&self, wake: Arc<Notify>) {
        self.runtime.spawn(watch_queue(
            self.config.clone(),
            wake,
            self.stop.subscribe(),
        ));
    }

    async fn put_package(&self, sha256: &str, zip: &[u8]) -> Result<()> {
        let c = self.writer().await?;
        // Named by its content: a package already there is this one.
        execute(
            &c,
            "INSERT INTO packages (sha256, zip) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
            &[&sha256, &zip],
        )
        .await
        .map(drop)
    }

    async fn get_package(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        let c = self.reader().await?;
        query_opt(&c, "SELECT zip FROM packages WHERE sha256=$1", &[&sha256])
            .await?
            .map(|row| get(&row, "zip"))
            .transpose()
    }

    async fn delete_package(&self, sha256: &str) -> Result<()> {
        let c = self.writer().await?;
        // Only if still unused, checked in the same statement: another node may have taken the
        // same package in for a new function meanwhile (it also writes the package again once
        // its function is committed, for a check that ran before that commit).
        execute(
            &c,
            "DELETE FROM packages WHERE sha256=$1
             AND NOT EXISTS (SELECT 1 FROM functions WHERE code_sha256=$1)
             AND NOT EXISTS (SELECT 1 FROM versions WHERE code_sha256=$1)",
            &[&sha256],
        )
        .await
        .map(drop)
    }

    async fn async_queue_stats(&self) -> Result<(u64, Option<i64>)> {
        let c = self.reader().await?;
        let row = query_one(
            &c,
            "SELECT COUNT(*) AS depth, MIN(r.start_ms) AS oldest FROM async_events e JOIN requests r ON r.request_id = e.request_id
             WHERE e.status IN ('QUEUED', 'RUNNING')",
            &[],
        )
        .await?;
        let depth: i64 = get(&row, "depth")?;
        Ok((depth.max(0) as u64, get(&row, "oldest")?))
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }
}
