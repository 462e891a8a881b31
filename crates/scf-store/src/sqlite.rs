//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go to one writer thread that commits them in batches (see [`SqliteStore`]); reads
//! use a few reader connections behind plain mutexes (each read is a few microseconds).
//! Read-modify-write operations run whole inside the writer, so they are atomic without SQL
//! locking games.
//! WAL with `synchronous=NORMAL` keeps every committed transaction across a killed process
//! (kill -9: the WAL is in the OS page cache); `FULL` also survives power loss, at the cost of an
//! fsync per commit. Migrations are numbered by `PRAGMA user_version`.

use crate::model::{
    AsyncEventRecord, AsyncStatus, FunctionKey, FunctionRecord, FunctionStatus, NamespaceRecord,
    RequestRecord, Scope, StatusReason, VersionRecord,
};
use crate::{AbortOutcome, Result, Store, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

/// How hard SQLite syncs each commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Survives a killed process (the default).
    #[default]
    Normal,
    /// Also survives power loss.
    Full,
}

/// Each entry moves the schema one version up; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE namespaces (
    app_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, region, name)
) WITHOUT ROWID;
CREATE TABLE functions (
    app_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, region, namespace, name)
) WITHOUT ROWID;
CREATE INDEX functions_by_status ON functions (status);
CREATE INDEX functions_by_code ON functions (code_sha256);
"#,
    r#"
CREATE TABLE versions (
    app_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    code_sha256 TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (app_id, region, namespace, name, version)
) WITHOUT ROWID;
CREATE INDEX versions_by_code ON versions (code_sha256);
CREATE TABLE requests (
    request_id TEXT NOT NULL PRIMARY KEY,
    app_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    namespace TEXT NOT NULL,
    function TEXT NOT NULL,
    ret_code INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX requests_by_function ON requests (app_id, region, namespace, function, start_ms);
CREATE INDEX requests_by_start ON requests (start_ms);
CREATE INDEX requests_running ON requests (ret_code) WHERE ret_code = 1;
CREATE TABLE async_events (
    request_id TEXT NOT NULL PRIMARY KEY,
    app_id INTEGER NOT NULL,
    region TEXT NOT NULL,
    namespace TEXT NOT NULL,
    function TEXT NOT NULL,
    status TEXT NOT NULL,
    next_run_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX async_due ON async_events (status, next_run_ms);
CREATE INDEX async_by_function ON async_events (app_id, region, namespace, function);
"#,
    // Leases: a running event's next_run_ms is when its lease runs out.
    r#"
ALTER TABLE async_events ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
"#,
];

/// What the writer thread runs: statements against its connection, returning what to do once
/// the batch's COMMIT has succeeded (or failed).
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// A checkpoint asked for: answered when it has run.
type CheckpointNow = tokio::sync::oneshot::Sender<()>;

/// Writes committed together at most (a bound on how long one COMMIT can make a writer wait).
const MAX_BATCH: usize = 512;
/// Read connections of a file store (WAL lets them read while the writer writes): enough that
/// the runtime's worker threads rarely wait for one.
const READERS: usize = 4;

/// The SQLite store: one writer thread that commits every write in batches (group commit),
/// and a few reader connections.
///
/// Why a writer thread: a commit costs far more than the statements before it (WAL frames,
/// page rewrites, checkpoints); measured under 8 concurrent invokers, commits were most of the
/// server's CPU. Every write waits for the COMMIT of the batch it landed in, so it is exactly
/// as durable as before, but one COMMIT now serves every write that arrived while the previous
/// one ran. Each write runs inside its own SAVEPOINT, so a failing write rolls back alone.
pub struct SqliteStore {
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Asks the checkpointer thread for a checkpoint now; dropped with the store, it stops the
    /// thread. `None` in memory.
    checkpointer: Option<Mutex<mpsc::Sender<CheckpointNow>>>,
}

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// A WAL larger than this is truncated, even if that makes writers wait (a WAL only grows
/// past it if passive checkpoints never catch up with the writes).
const WAL_TRUNCATE_BYTES: u64 = 256 << 20;

/// Checkpoints on a thread and connection of their own.
///
/// Why not SQLite's automatic checkpoint: it runs on the connection that commits, right after
/// the COMMIT, and a checkpoint copies pages and fsyncs the database file; on the writer
/// thread that stalled every write behind it (async accepts at p99 650 ms with a million
/// records). A PASSIVE checkpoint runs beside the writer (WAL allows one checkpointer
/// alongside the writer and the readers); once it has copied every frame, the next write
/// starts the WAL over from its beginning.
///
/// Bulk writes wait for it: a retention purge deletes in back-to-back batches, and measured on
/// 10M records its WAL grew past 400 MB because a passive checkpoint never caught up with it
/// (it copies what was in the WAL when it began, and the WAL starts over only once everything
/// is copied); the TRUNCATE that followed held the writer 2.3 s. Each purge batch now asks for
/// a checkpoint and waits for it ([`CheckpointNow`]), so the purge cannot write faster than
/// the checkpointer copies, and the writes of everyone else never wait for either.
fn run_checkpointer(
    conn: Connection,
    wal: std::path::PathBuf,
    asks: mpsc::Receiver<CheckpointNow>,
) {
    loop {
        let asked = match asks.recv_timeout(CHECKPOINT_EVERY) {
            Ok(asked) => Some(asked),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if let Some(done) = asked {
            let copied = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            if let Err(e) = &copied {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            let _ = done.send(());
            continue;
        }
        let mode = match std::fs::metadata(&wal) {
            Ok(m) if m.len() > WAL_TRUNCATE_BYTES => "TRUNCATE",
            Ok(m) if m.len() > 0 => "PASSIVE",
            _ => continue,
        };
        if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// A failure of the batch's own BEGIN or COMMIT, which every write of the batch reports.
fn batch_error(what: &str, e: rusqlite::Error) -> StoreError {
    match backend(e) {
        StoreError::DiskFull(why) => StoreError::DiskFull(format!("{what}: {why}")),
        StoreError::Backend(why) => StoreError::Backend(format!("{what}: {why}")),
        other => other,
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return StoreError::DiskFull(e.to_string());
    }
    StoreError::Backend(e.to_string())
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A poisoned lock means a panic mid-operation; SQLite rolled the statement back, so the
    // connection is still consistent and serving on is safe.
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs a parameterless statement through the statement cache.
fn exec_cached(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.execute([]).map(drop)
}

fn run_writer(conn: Arc<Mutex<Connection>>, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let c = lock(&conn);
        let mut failure = exec_cached(&c, "BEGIN IMMEDIATE")
            .err()
            .map(|e| batch_error("begin", e));
        let mut completions: Vec<Completion> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next {
            // A job never runs outside the batch's transaction: if it could not begin, or an
            // error (disk full, I/O) rolled it back, the rest are failed without running, so
            // that no write commits on its own while being reported as failed.
            completions.push(job(if failure.is_none() { Some(&c) } else { None }));
            if failure.is_none() && c.is_autocommit() {
                failure = Some(StoreError::Backend(
                    "the transaction was rolled back".into(),
                ));
            }
            next = if completions.len() < MAX_BATCH {
                jobs.try_recv().ok()
            } else {
                None
            };
        }
        if failure.is_none()
            && let Err(e) = exec_cached(&c, "COMMIT")
        {
            failure = Some(batch_error("commit", e));
        }
        if failure.is_some() && !c.is_autocommit() {
            let _ = c.execute_batch("ROLLBACK");
        }
        drop(c);
        for done in completions {
            done(failure.as_ref());
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// Opens (creating it if need be) the database at `path`. A file SQLite cannot read is
    /// refused with its path, SQLite's own words and how to recover.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<Self> {
        Self::open_file(path, synchronous).map_err(|e| match e {
            StoreError::Backend(why) => StoreError::Backend(format!(
                "cannot open the database {p}: {why}. If the file is damaged: stop scfd, keep a \
                 copy of it (with its -wal and -shm files), then restore a backup, or rebuild it \
                 with `sqlite3 {p} .recover | sqlite3 {p}.recovered` and put the result in its \
                 place",
                p = path.display()
            )),
            other => other,
        })
    }

    fn open_file(path: &Path, synchronous: Synchronous) -> Result<Self> {
        let sync = match synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        let writer = Connection::open(path).map_err(backend)?;
        // wal_autocheckpoint=0: the checkpointer thread checkpoints.
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000;
                 PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;"
            ))
            .map_err(backend)?;
        migrate(&writer)?;
        let checkpointer = Connection::open(path).map_err(backend)?;
        checkpointer
            .execute_batch(&format!(
                "PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000;"
            ))
            .map_err(backend)?;
        let (ask, asks) = mpsc::channel();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::thread::Builder::new()
            .name("scf-store-checkpoint".into())
            .spawn(move || run_checkpointer(checkpointer, wal.into(), asks))
            .map_err(|e| StoreError::Backend(format!("cannot start the checkpointer: {e}")))?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open(path).map_err(backend)?;
            r.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=1;")
                .map_err(backend)?;
            readers.push(Arc::new(Mutex::new(r)));
        }
        let mut store = Self::start(Arc::new(Mutex::new(writer)), readers);
        store.checkpointer = Some(Mutex::new(ask));
        Ok(store)
    }

    /// A private in-memory database, for tests: the writer and the reads share its one
    /// connection.
    pub fn in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(backend)?;
        migrate(&conn)?;
        let conn = Arc::new(Mutex::new(conn));
        Ok(Self::start(Arc::clone(&conn), vec![conn]))
    }

    fn start(writer: Arc<Mutex<Connection>>, readers: Vec<Arc<Mutex<Connection>>>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("scf-store-writer".into())
            .spawn(move || run_writer(writer, rx))
            .expect("the store's writer thread starts");
        SqliteStore {
            readers,
            next_reader: AtomicUsize::new(0),
            jobs: Mutex::new(tx),
            checkpointer: None,
        }
    }

    /// Runs a read on a free reader connection (blocking on one only when all are busy: a
    /// contended mutex puts the async worker thread to sleep, which costs more than the read).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            if let Ok(c) = self.readers[(start + k) % n].try_lock() {
                return f(&c).map_err(backend);
            }
        }
        let c = lock(&self.readers[start % n]);
        f(&c).map_err(backend)
    }

    fn job<T: Send + 'static>(
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        reply: impl FnOnce(Result<T>) + Send + 'static,
    ) -> Job {
        Box::new(move |c: Option<&Connection>| {
            // `None`: the batch's transaction is gone; this write does not run.
            let outcome = c.map(|c| {
                // Cached statements: they run around every write (SQL parsing was a visible
                // share of the writer's profile before statements were cached).
                exec_cached(c, "SAVEPOINT job").and_then(|()| match f(c) {
                    Ok(v) => exec_cached(c, "RELEASE job").map(|()| v),
                    Err(e) => {
                        let _ = exec_cached(c, "ROLLBACK TO job")
                            .and_then(|()| exec_cached(c, "RELEASE job"));
                        Err(e)
                    }
                })
            });
            Box::new(move |commit_error: Option<&StoreError>| {
                reply(match (outcome, commit_error) {
                    (Some(Err(e)), _) => Err(backend(e)),
                    (_, Some(e)) => Err(e.clone()),
                    (Some(Ok(v)), None) => Ok(v),
                    (None, None) => Err(StoreError::Backend("the write did not run".into())),
                })
            }) as Completion
        })
    }

    fn submit(&self, job: Job) -> Result<()> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| StoreError::Backend("the store's writer has stopped".into()))
    }

    /// Runs a write and returns once it is committed.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(Self::job(f, move |r| {
            let _ = tx.send(r);
        }))?;
        rx.await
            .map_err(|_| StoreError::Backend("the store's writer has stopped".into()))?
    }

    /// Returns once the checkpointer has copied the WAL as it is now into the database (as far
    /// as readers allow), without holding up any write meanwhile.
    async fn checkpoint(&self) {
        let Some(ask) = &self.checkpointer else {
            return;
        };
        let (done, copied) = tokio::sync::oneshot::channel();
        let sent = ask
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(done)
            .is_ok();
        if sent {
            let _ = copied.await;
        }
    }

    /// Queues a write without waiting for it (it still commits in order with the others).
    fn write_detached(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static) {
        let job = Self::job(f, |r| {
            if let Err(e) = r {
                tracing::error!(error = %e, "a queued write failed");
            }
        });
        if let Err(e) = self.submit(job) {
            tracing::error!(error = %e, "cannot queue a write");
        }
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    let version = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .map_err(backend)?;
    }
    Ok(())
}

fn app(scope: &Scope) -> i64 {
    // app_ids are 10-digit numbers; the cast keeps their order and identity.
    scope.app_id as i64
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("records always serialize")
}

fn namespace_from(doc: String) -> rusqlite::Result<NamespaceRecord> {
    serde_json::from_str(&doc).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn function_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<FunctionRecord> {
    let doc: String = row.get("doc")?;
    let mut f: FunctionRecord = serde_json::from_str(&doc)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    f.key = FunctionKey {
        scope: Scope {
            app_id: row.get::<_, i64>("app_id")? as u64,
            region: row.get("region")?,
        },
        namespace: row.get("namespace")?,
        name: row.get("name")?,
    };
    f.adopt_untyped_settings();
    Ok(f)
}

fn get_function_in(
    conn: &Connection,
    key: &FunctionKey,
) -> rusqlite::Result<Option<FunctionRecord>> {
    conn.prepare_cached(
        "SELECT * FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4",
    )?
    .query_row(
        params![app(&key.scope), key.scope.region, key.namespace, key.name],
        function_from,
    )
    .optional()
}

fn write_function(conn: &Connection, f: &FunctionRecord) -> rusqlite::Result<usize> {
    let k = &f.key;
    conn.execute(
        "UPDATE functions SET status=?5, code_sha256=?6, doc=?7
         WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4",
        params![
            app(&k.scope),
            k.scope.region,
            k.namespace,
            k.name,
            f.status.as_str(),
            f.code_sha256,
            to_json(f)
        ],
    )
}

fn version_from(doc: &str, key: &FunctionKey) -> rusqlite::Result<VersionRecord> {
    let mut v: VersionRecord = serde_json::from_str(doc)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    v.function.key = key.clone();
    v.function.adopt_untyped_settings();
    Ok(v)
}

fn key_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<FunctionKey> {
    Ok(FunctionKey {
        scope: Scope {
            app_id: row.get::<_, i64>("app_id")? as u64,
            region: row.get("region")?,
        },
        namespace: row.get("namespace")?,
        name: row.get("function")?,
    })
}

fn request_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRecord> {
    let doc: String = row.get("doc")?;
    let mut r: RequestRecord = serde_json::from_str(&doc)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    r.function = key_from(row)?;
    r.request_id = row.get("request_id")?;
    r.outcome = r.outcome.with_ret_code(row.get("ret_code")?);
    r.start_ms = row.get("start_ms")?;
    Ok(r)
}

fn insert_request_in(conn: &Connection, r: &RequestRecord) -> rusqlite::Result<()> {
    let k = &r.function;
    conn.prepare_cached(
        "INSERT INTO requests (request_id, app_id, region, namespace, function, ret_code, start_ms, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![r.request_id, app(&k.scope), k.scope.region, k.namespace, k.name, r.outcome.ret_code(), r.start_ms, to_json(r)])
    .map(drop)
}

fn async_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<AsyncEventRecord> {
    let doc: String = row.get("doc")?;
    let mut e: AsyncEventRecord = serde_json::from_str(&doc)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    e.function = key_from(row)?;
    e.request_id = row.get("request_id")?;
    let status: String = row.get("status")?;
    e.status = AsyncStatus::parse(&status).unwrap_or(AsyncStatus::Failed);
    e.next_run_ms = row.get("next_run_ms")?;
    e.lease_owner = row.get("lease_owner")?;
    Ok(e)
}

fn write_async(conn: &Connection, e: &AsyncEventRecord) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE async_events SET status=?2, next_run_ms=?3, doc=?4, lease_owner=?5 WHERE request_id=?1",
    )?
    .execute(params![
        e.request_id,
        e.status.as_str(),
        e.next_run_ms,
        to_json(e),
        e.lease_owner
    ])
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ensure_namespace(&self, scope: &Scope, ns: &NamespaceRecord) -> Result<()> {
        let (scope, ns) = (scope.clone(), ns.clone());
        self.write(move |c| {
            c.prepare_cached("INSERT OR IGNORE INTO namespaces (app_id, region, name, doc) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![app(&scope), scope.region, ns.name, to_json(&ns)])
                .map(drop)
        })
        .await
    }

    async fn create_namespace(&self, scope: &Scope, ns: &NamespaceRecord, max: u32) -> Result<()> {
        let (scope, ns) = (scope.clone(), ns.clone());
        self.write(move |c| {
            let exists: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3)",
                params![app(&scope), scope.region, ns.name],
                |r| r.get(0),
            )?;
            let count: u32 = c.query_row(
                "SELECT COUNT(*) FROM namespaces WHERE app_id=?1 AND region=?2",
                params![app(&scope), scope.region],
                |r| r.get(0),
            )?;
            if exists {
                return Ok(Err(StoreError::AlreadyExists));
            }
            if count >= max {
                return Ok(Err(StoreError::LimitExceeded(max)));
            }
            c.execute(
                "INSERT INTO namespaces (app_id, region, name, doc) VALUES (?1, ?2, ?3, ?4)",
                params![app(&scope), scope.region, ns.name, to_json(&ns)],
            )?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn list_namespaces(&self, scope: &Scope) -> Result<Vec<NamespaceRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM namespaces WHERE app_id=?1 AND region=?2 ORDER BY name",
            )?;
            let rows =
                stmt.query_map(params![app(scope), scope.region], |r| r.get::<_, String>(0))?;
            rows.map(|doc| namespace_from(doc?)).collect()
        })
    }

    async fn get_namespace(&self, scope: &Scope, name: &str) -> Result<Option<NamespaceRecord>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT doc FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3",
            )?
            .query_row(params![app(scope), scope.region, name], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .map(namespace_from)
            .transpose()
        })
    }

    async fn update_namespace(
        &self,
        scope: &Scope,
        name: &str,
        description: &str,
        mod_time_ms: i64,
    ) -> Result<()> {
        let (scope, name, description) = (scope.clone(), name.to_string(), description.to_string());
        self.write(move |c| {
            let doc: Option<String> = c
                .query_row(
                    "SELECT doc FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3",
                    params![app(&scope), scope.region, name],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(doc) = doc else {
                return Ok(Err(StoreError::NotFound));
            };
            let mut ns = namespace_from(doc)?;
            ns.description = description;
            ns.mod_time_ms = mod_time_ms;
            c.execute(
                "UPDATE namespaces SET doc=?4 WHERE app_id=?1 AND region=?2 AND name=?3",
                params![app(&scope), scope.region, name, to_json(&ns)],
            )?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn delete_namespace(&self, scope: &Scope, name: &str) -> Result<()> {
        let (scope, name) = (scope.clone(), name.to_string());
        self.write(move |c| {
            let functions: u32 = c.query_row(
                "SELECT COUNT(*) FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3",
                params![app(&scope), scope.region, name],
                |r| r.get(0),
            )?;
            if functions > 0 {
                return Ok(Err(StoreError::NamespaceNotEmpty));
            }
            let n = c.execute(
                "DELETE FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3",
                params![app(&scope), scope.region, name],
            )?;
            Ok(if n == 0 {
                Err(StoreError::NotFound)
            } else {
                Ok(())
            })
        })
        .await?
    }

    async fn create_function(&self, f: &FunctionRecord, max_per_namespace: u32) -> Result<()> {
        let f = f.clone();
        self.write(move |c| {
            let k = &f.key;
            let ns_exists: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3)",
                params![app(&k.scope), k.scope.region, k.namespace],
                |r| r.get(0),
            )?;
            if !ns_exists {
                return Ok(Err(StoreError::NamespaceNotFound));
            }
            if get_function_in(c, k)?.is_some() {
                return Ok(Err(StoreError::AlreadyExists));
            }
            let count: u32 = c.query_row(
                "SELECT COUNT(*) FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3",
                params![app(&k.scope), k.scope.region, k.namespace],
                |r| r.get(0),
            )?;
            if count >= max_per_namespace {
                return Ok(Err(StoreError::LimitExceeded(max_per_namespace)));
            }
            c.execute(
                "INSERT INTO functions (app_id, region, namespace, name, status, code_sha256, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    app(&k.scope),
                    k.scope.region,
                    k.namespace,
                    k.name,
                    f.status.as_str(),
                    f.code_sha256,
                    to_json(&f)
                ],
            )?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn get_function(&self, key: &FunctionKey) -> Result<Option<FunctionRecord>> {
        self.read(|c| get_function_in(c, key))
    }

    async fn function_exists(&self, key: &FunctionKey) -> Result<bool> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4)",
            )?
            .query_row(params![app(&key.scope), key.scope.region, key.namespace, key.name], |r| r.get(0))
        })
    }

    async fn list_functions(
        &self,
        scope: &Scope,
        namespace: Option<&str>,
    ) -> Result<Vec<FunctionRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM functions WHERE app_id=?1 AND region=?2 AND (?3 IS NULL OR namespace=?3)
                 ORDER BY namespace, name",
            )?;
            let rows = stmt.query_map(params![app(scope), scope.region, namespace], function_from)?;
            rows.collect()
        })
    }

    async fn update_function(&self, f: &FunctionRecord) -> Result<()> {
        let mut f = f.clone();
        self.write(move |c| {
            let Some(current) = get_function_in(c, &f.key)? else {
                return Ok(Err(StoreError::NotFound));
            };
            if current.revision != f.revision {
                return Ok(Err(StoreError::Conflict));
            }
            f.revision += 1;
            write_function(c, &f)?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn set_function_status(
        &self,
        key: &FunctionKey,
        code_sha256: &str,
        status: FunctionStatus,
        reasons: &[StatusReason],
    ) -> Result<bool> {
        let (key, code_sha256, status, reasons) = (
            key.clone(),
            code_sha256.to_string(),
            status,
            reasons.to_vec(),
        );
        self.write(move |c| {
            let Some(mut f) = get_function_in(c, &key)? else {
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
            f.status_reasons = reasons;
            f.revision += 1;
            Ok(write_function(c, &f)? > 0)
        })
        .await
    }

    async fn delete_function(&self, key: &FunctionKey) -> Result<()> {
        let key = key.clone();
        let n = self
            .write(move |c| {
                let args = params![app(&key.scope), key.scope.region, key.namespace, key.name];
                c.execute("DELETE FROM versions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4", args)?;
                c.execute("DELETE FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4", args)
            })
            .await?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn functions_with_status(
        &self,
        statuses: &[FunctionStatus],
    ) -> Result<Vec<FunctionRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT * FROM functions WHERE status=?1")?;
            let mut out = Vec::new();
            for status in statuses {
                for f in stmt.query_map(params![status.as_str()], function_from)? {
                    out.push(f?);
                }
            }
            Ok(out)
        })
    }

    async fn code_in_use(&self, sha256: &str, app_id: Option<u64>) -> Result<bool> {
        self.read(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM functions WHERE code_sha256=?1 AND (?2 IS NULL OR app_id=?2))
                     OR EXISTS(SELECT 1 FROM versions WHERE code_sha256=?1 AND (?2 IS NULL OR app_id=?2))",
                params![sha256, app_id.map(|a| a as i64)],
                |r| r.get(0),
            )
        })
    }

    async fn publish_version(
        &self,
        key: &FunctionKey,
        description: &str,
        now_ms: i64,
        max: u32,
    ) -> Result<VersionRecord> {
        let (key, description) = (key.clone(), description.to_string());
        self.write(move |c| {
            let Some(f) = get_function_in(c, &key)? else {
                return Ok(Err(StoreError::NotFound));
            };
            let args = params![app(&key.scope), key.scope.region, key.namespace, key.name];
            let (count, last): (u32, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(MAX(version), 0) FROM versions
                 WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4",
                args,
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if count >= max {
                return Ok(Err(StoreError::LimitExceeded(max)));
            }
            let v = VersionRecord {
                version: (last + 1).to_string(),
                description,
                add_time_ms: now_ms,
                function: f,
            };
            c.execute(
                "INSERT INTO versions (app_id, region, namespace, name, version, code_sha256, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    app(&key.scope),
                    key.scope.region,
                    key.namespace,
                    key.name,
                    last + 1,
                    v.function.code_sha256,
                    to_json(&v)
                ],
            )?;
            Ok(Ok(v))
        })
        .await?
    }

    async fn get_version(&self, key: &FunctionKey, version: &str) -> Result<Option<VersionRecord>> {
        let Ok(number) = version.parse::<i64>() else {
            return Ok(None);
        };
        self.read(|c| {
            c.prepare_cached(
                "SELECT doc FROM versions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4 AND version=?5",
            )?
            .query_row(params![app(&key.scope), key.scope.region, key.namespace, key.name, number], |r| r.get::<_, String>(0))
            .optional()?
            .map(|doc| version_from(&doc, key))
            .transpose()
        })
    }

    async fn list_versions(&self, key: &FunctionKey) -> Result<Vec<VersionRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM versions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4 ORDER BY version",
            )?;
            let rows = stmt.query_map(params![app(&key.scope), key.scope.region, key.namespace, key.name], |r| r.get::<_, String>(0))?;
            rows.map(|doc| version_from(&doc?, key)).collect()
        })
    }

    async fn delete_version(&self, key: &FunctionKey, version: &str) -> Result<()> {
        let Ok(number) = version.parse::<i64>() else {
            return Err(StoreError::NotFound);
        };
        let key = key.clone();
        let n = self
            .write(move |c| {
                c.execute(
                    "DELETE FROM versions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4 AND version=?5",
                    params![app(&key.scope), key.scope.region, key.namespace, key.name, number],
                )
            })
            .await?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    fn insert_running_detached(&self, r: &RequestRecord) {
        let r = r.clone();
        self.write_detached(move |c| {
            let k = &r.function;
            c.prepare_cached(
                "INSERT OR IGNORE INTO requests (request_id, app_id, region, namespace, function, ret_code, start_ms, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![r.request_id, app(&k.scope), k.scope.region, k.namespace, k.name, r.outcome.ret_code(), r.start_ms, to_json(&r)])
            .map(drop)
        });
    }

    async fn put_request(&self, r: &RequestRecord) -> Result<()> {
        let r = r.clone();
        self.write(move |c| {
            let k = &r.function;
            c.prepare_cached(
                "INSERT INTO requests (request_id, app_id, region, namespace, function, ret_code, start_ms, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (request_id) DO UPDATE SET ret_code = excluded.ret_code, doc = excluded.doc",
            )?
            .execute(params![r.request_id, app(&k.scope), k.scope.region, k.namespace, k.name, r.outcome.ret_code(), r.start_ms, to_json(&r)])
            .map(drop)
        })
        .await
    }

    async fn get_request(
        &self,
        key: &FunctionKey,
        request_id: &str,
    ) -> Result<Option<RequestRecord>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT * FROM requests WHERE request_id=?1 AND app_id=?2 AND region=?3 AND namespace=?4 AND function=?5",
            )?
            .query_row(params![request_id, app(&key.scope), key.scope.region, key.namespace, key.name], request_from)
            .optional()
        })
    }

    async fn list_requests(
        &self,
        key: &FunctionKey,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<RequestRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM requests WHERE app_id=?1 AND region=?2 AND namespace=?3 AND function=?4
                 AND start_ms >= ?5 AND start_ms < ?6 ORDER BY start_ms DESC LIMIT ?7",
            )?;
            let rows = stmt.query_map(
                params![app(&key.scope), key.scope.region, key.namespace, key.name, from_ms, to_ms, limit as i64],
                request_from,
            )?;
            rows.collect()
        })
    }

    async fn fail_running_sync_requests(
        &self,
        node: &str,
        started_before_ms: i64,
        message: &str,
        now_ms: i64,
    ) -> Result<u64> {
        let (node, message) = (node.to_string(), message.to_string());
        self.write(move |c| {
            let running: Vec<RequestRecord> = {
                let mut stmt = c.prepare("SELECT * FROM requests WHERE ret_code = 1")?;
                let rows = stmt.query_map([], request_from)?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut n = 0;
            let mine = |r: &RequestRecord| {
                !r.is_async
                    && (r.node == node || r.node.is_empty() || r.start_ms < started_before_ms)
            };
            for mut r in running.into_iter().filter(mine) {
                r.fail(&message, now_ms);
                c.execute(
                    "UPDATE requests SET ret_code=?2, doc=?3 WHERE request_id=?1",
                    params![r.request_id, r.outcome.ret_code(), to_json(&r)],
                )?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }

    async fn purge_batch(&self, before_ms: i64, max_rows: u32) -> Result<u64> {
        let purged = self.write(move |c| {
            let a = c.execute(
                "DELETE FROM async_events WHERE request_id IN (
                     SELECT request_id FROM async_events WHERE status IN ('FINISHED','FAILED','ABORTED')
                     AND COALESCE(json_extract(doc, '$.end_ms'), 0) < ?1 LIMIT ?2)",
                params![before_ms, max_rows],
            )?;
            let left = (max_rows as usize).saturating_sub(a);
            let r = if left == 0 {
                0
            } else {
                c.execute(
                    "DELETE FROM requests WHERE request_id IN (
                         SELECT request_id FROM requests WHERE start_ms < ?1 AND ret_code != 1
                         AND request_id NOT IN (SELECT request_id FROM async_events) LIMIT ?2)",
                    params![before_ms, left as i64],
                )?
            };
            Ok((a + r) as u64)
        })
        .await?;
        // Paced by the checkpointer (see `run_checkpointer`).
        if purged > 0 {
            self.checkpoint().await;
        }
        Ok(purged)
    }

    async fn enqueue_async(&self, r: &RequestRecord, e: &AsyncEventRecord) -> Result<()> {
        let (r, e) = (r.clone(), e.clone());
        self.write(move |c| {
            insert_request_in(c, &r)?;
            let k = &e.function;
            c.prepare_cached(
                "INSERT INTO async_events (request_id, app_id, region, namespace, function, status, next_run_ms, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![e.request_id, app(&k.scope), k.scope.region, k.namespace, k.name, e.status.as_str(), e.next_run_ms, to_json(&e)])
            .map(drop)
        })
        .await
    }

    async fn claim_due_async(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEventRecord>> {
        let node = node.to_string();
        self.write(move |c| {
            // A running event's next_run_ms is when its lease runs out.
            let due: Vec<AsyncEventRecord> = {
                let mut stmt = c.prepare_cached(
                    "SELECT * FROM async_events WHERE status IN ('QUEUED', 'RUNNING') AND next_run_ms <= ?1
                     ORDER BY next_run_ms LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![now_ms, limit as i64], async_from)?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let mut claimed = Vec::with_capacity(due.len());
            for mut e in due {
                e.resumed = e.status == AsyncStatus::Running;
                if !e.resumed {
                    e.attempts += 1;
                }
                e.status = AsyncStatus::Running;
                e.lease_owner = node.clone();
                e.lease_token = crate::claim_token();
                e.next_run_ms = now_ms + lease_ms;
                write_async(c, &e)?;
                claimed.push(e);
            }
            Ok(claimed)
        })
        .await
    }

    async fn renew_async_leases(
        &self,
        node: &str,
        leases: &[(String, String)],
        until_ms: i64,
    ) -> Result<()> {
        let (node, leases) = (node.to_string(), leases.to_vec());
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "UPDATE async_events SET next_run_ms=?3 WHERE request_id=?1 AND status='RUNNING' AND lease_owner=?2
                 AND COALESCE(json_extract(doc, '$.lease_token'), '') = ?4",
            )?;
            for (id, token) in &leases {
                stmt.execute(params![id, node, until_ms, token])?;
            }
            Ok(())
        })
        .await
    }

    async fn next_async_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            c.query_row(
                "SELECT MIN(next_run_ms) FROM async_events WHERE status IN ('QUEUED', 'RUNNING')",
                [],
                |r| r.get(0),
            )
        })
    }

    async fn update_async(&self, e: &AsyncEventRecord) -> Result<()> {
        let e = e.clone();
        self.write(move |c| write_async(c, &e).map(drop)).await
    }

    async fn finish_async_run(&self, r: &RequestRecord, e: &AsyncEventRecord) -> Result<bool> {
        let (r, e) = (r.clone(), e.clone());
        self.write(move |c| {
            let held: Option<(String, String, String)> = c
                .prepare_cached(
                    "SELECT status, lease_owner, COALESCE(json_extract(doc, '$.lease_token'), '')
                     FROM async_events WHERE request_id=?1",
                )?
                .query_row(params![e.request_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()?;
            if held
                .as_ref()
                .map(|(s, o, t)| (s.as_str(), o.as_str(), t.as_str()))
                != Some((
                    AsyncStatus::Running.as_str(),
                    e.lease_owner.as_str(),
                    e.lease_token.as_str(),
                ))
            {
                return Ok(false);
            }
            c.prepare_cached("UPDATE requests SET ret_code=?2, doc=?3 WHERE request_id=?1")?
                .execute(params![r.request_id, r.outcome.ret_code(), to_json(&r)])?;
            write_async(c, &e)?;
            Ok(true)
        })
        .await
    }

    async fn abort_async(
        &self,
        key: &FunctionKey,
        request_id: &str,
        now_ms: i64,
        message: &str,
    ) -> Result<AbortOutcome> {
        let (key, request_id, message) = (key.clone(), request_id.to_string(), message.to_string());
        self.write(move |c| {
            let found = c
                .prepare_cached(
                    "SELECT * FROM async_events WHERE request_id=?1 AND app_id=?2 AND region=?3 AND namespace=?4 AND function=?5",
                )?
                .query_row(params![request_id, app(&key.scope), key.scope.region, key.namespace, key.name], async_from)
                .optional()?;
            let Some(mut e) = found else { return Ok(AbortOutcome::NotFound) };
            if e.status.is_final() {
                return Ok(AbortOutcome::AlreadyEnded(e.status));
            }
            e.status = AsyncStatus::Aborted;
            e.end_ms = Some(now_ms);
            write_async(c, &e)?;
            let record = c
                .prepare_cached("SELECT * FROM requests WHERE request_id=?1")?
                .query_row(params![request_id], request_from)
                .optional()?;
            if let Some(mut r) = record {
                r.fail(&message, now_ms);
                c.prepare_cached("UPDATE requests SET ret_code=?2, doc=?3 WHERE request_id=?1")?
                    .execute(params![r.request_id, r.outcome.ret_code(), to_json(&r)])?;
            }
            Ok(AbortOutcome::Aborted)
        })
        .await
    }

    async fn get_async(&self, scope: &Scope, request_id: &str) -> Result<Option<AsyncEventRecord>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT * FROM async_events WHERE request_id=?1 AND app_id=?2 AND region=?3",
            )?
            .query_row(params![request_id, app(scope), scope.region], async_from)
            .optional()
        })
    }

    async fn list_async(&self, key: &FunctionKey) -> Result<Vec<AsyncEventRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM async_events WHERE app_id=?1 AND region=?2 AND namespace=?3 AND function=?4",
            )?;
            let rows = stmt.query_map(params![app(&key.scope), key.scope.region, key.namespace, key.name], async_from)?;
            rows.collect()
        })
    }

    async fn requeue_running_async(&self, node: &str, now_ms: i64) -> Result<u64> {
        let node = node.to_string();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE async_events SET next_run_ms=?2 WHERE status='RUNNING' AND lease_owner IN (?1, '')",
            )?
            .execute(params![node, now_ms])
            .map(|n| n as u64)
        })
        .await
    }

    async fn async_queue_stats(&self) -> Result<(u64, Option<i64>)> {
        self.read(|c| {
            c.query_row(
                "SELECT COUNT(*), MIN(r.start_ms) FROM async_events e JOIN requests r ON r.request_id = e.request_id
                 WHERE e.status IN ('QUEUED', 'RUNNING')",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
        })
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_a_database_is_refused_with_its_path_and_the_way_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("scfd.db");
        std::fs::write(&path, vec![0x5a; 8192]).expect("write");
        let Err(StoreError::Backend(why)) = SqliteStore::open(&path, Synchronous::Normal) else {
            panic!("a damaged file must not open");
        };
        assert!(why.contains(&path.display().to_string()), "{why}");
        assert!(why.contains("not a database"), "SQLite's own words: {why}");
        assert!(why.contains(".recover"), "{why}");
    }
}
