//! The embedded backend: one SQLite file in WAL mode.
//!
//! One connection behind a `std::sync::Mutex`: every operation is a few short statements
//! (microseconds), so holding a plain mutex across them is cheaper than handing each to a
//! blocking thread, and it makes read-modify-write operations atomic without SQL locking games.
//! WAL with `synchronous=NORMAL` keeps every committed transaction across a killed process
//! (kill -9: the WAL is in the OS page cache); `FULL` also survives power loss, at the cost of an
//! fsync per commit. Migrations are numbered by `PRAGMA user_version`.

use crate::model::{FunctionKey, FunctionRecord, NamespaceRecord, Scope, StatusReason};
use crate::{Result, Store, StoreError};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;

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
const MIGRATIONS: &[&str] = &[r#"
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
"#];

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path, synchronous: Synchronous) -> Result<Self> {
        let conn = Connection::open(path).map_err(backend)?;
        let sync = match synchronous {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000;"
        ))
        .map_err(backend)?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        let version = usize::try_from(version).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(backend)?;
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        // A poisoned lock means a panic mid-operation; SQLite rolled the transaction back, so
        // the connection is still consistent and serving on is safe.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(backend)
    }
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
    Ok(f)
}

fn get_function_in(
    conn: &Connection,
    key: &FunctionKey,
) -> rusqlite::Result<Option<FunctionRecord>> {
    conn.query_row(
        "SELECT * FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4",
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
            f.status,
            f.code_sha256,
            to_json(f)
        ],
    )
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ensure_namespace(&self, scope: &Scope, ns: &NamespaceRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO namespaces (app_id, region, name, doc) VALUES (?1, ?2, ?3, ?4)",
                params![app(scope), scope.region, ns.name, to_json(ns)],
            )
            .map(drop)
        })
    }

    async fn create_namespace(&self, scope: &Scope, ns: &NamespaceRecord, max: u32) -> Result<()> {
        let mut outcome = Ok(());
        self.with(|c| {
            let tx = c.transaction()?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3)",
                params![app(scope), scope.region, ns.name],
                |r| r.get(0),
            )?;
            let count: u32 = tx.query_row(
                "SELECT COUNT(*) FROM namespaces WHERE app_id=?1 AND region=?2",
                params![app(scope), scope.region],
                |r| r.get(0),
            )?;
            if exists {
                outcome = Err(StoreError::AlreadyExists);
            } else if count >= max {
                outcome = Err(StoreError::LimitExceeded(max));
            } else {
                tx.execute(
                    "INSERT INTO namespaces (app_id, region, name, doc) VALUES (?1, ?2, ?3, ?4)",
                    params![app(scope), scope.region, ns.name, to_json(ns)],
                )?;
            }
            tx.commit()
        })?;
        outcome
    }

    async fn list_namespaces(&self, scope: &Scope) -> Result<Vec<NamespaceRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM namespaces WHERE app_id=?1 AND region=?2 ORDER BY name",
            )?;
            let rows =
                stmt.query_map(params![app(scope), scope.region], |r| r.get::<_, String>(0))?;
            rows.map(|doc| namespace_from(doc?)).collect()
        })
    }

    async fn get_namespace(&self, scope: &Scope, name: &str) -> Result<Option<NamespaceRecord>> {
        self.with(|c| {
            c.query_row(
                "SELECT doc FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3",
                params![app(scope), scope.region, name],
                |r| r.get::<_, String>(0),
            )
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
        let mut found = false;
        self.with(|c| {
            let tx = c.transaction()?;
            let doc: Option<String> = tx
                .query_row(
                    "SELECT doc FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3",
                    params![app(scope), scope.region, name],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(doc) = doc {
                let mut ns = namespace_from(doc)?;
                ns.description = description.to_string();
                ns.mod_time_ms = mod_time_ms;
                tx.execute(
                    "UPDATE namespaces SET doc=?4 WHERE app_id=?1 AND region=?2 AND name=?3",
                    params![app(scope), scope.region, name, to_json(&ns)],
                )?;
                found = true;
            }
            tx.commit()
        })?;
        if found {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn delete_namespace(&self, scope: &Scope, name: &str) -> Result<()> {
        let mut outcome = Ok(());
        self.with(|c| {
            let tx = c.transaction()?;
            let functions: u32 = tx.query_row(
                "SELECT COUNT(*) FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3",
                params![app(scope), scope.region, name],
                |r| r.get(0),
            )?;
            if functions > 0 {
                outcome = Err(StoreError::NamespaceNotEmpty);
            } else {
                let n = tx.execute(
                    "DELETE FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3",
                    params![app(scope), scope.region, name],
                )?;
                if n == 0 {
                    outcome = Err(StoreError::NotFound);
                }
            }
            tx.commit()
        })?;
        outcome
    }

    async fn create_function(&self, f: &FunctionRecord, max_per_namespace: u32) -> Result<()> {
        let k = &f.key;
        let mut outcome = Ok(());
        self.with(|c| {
            let tx = c.transaction()?;
            let ns_exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM namespaces WHERE app_id=?1 AND region=?2 AND name=?3)",
                params![app(&k.scope), k.scope.region, k.namespace],
                |r| r.get(0),
            )?;
            let exists = get_function_in(&tx, k)?.is_some();
            let count: u32 = tx.query_row(
                "SELECT COUNT(*) FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3",
                params![app(&k.scope), k.scope.region, k.namespace],
                |r| r.get(0),
            )?;
            if !ns_exists {
                outcome = Err(StoreError::NamespaceNotFound);
            } else if exists {
                outcome = Err(StoreError::AlreadyExists);
            } else if count >= max_per_namespace {
                outcome = Err(StoreError::LimitExceeded(max_per_namespace));
            } else {
                tx.execute(
                    "INSERT INTO functions (app_id, region, namespace, name, status, code_sha256, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![app(&k.scope), k.scope.region, k.namespace, k.name, f.status, f.code_sha256, to_json(f)],
                )?;
            }
            tx.commit()
        })?;
        outcome
    }

    async fn get_function(&self, key: &FunctionKey) -> Result<Option<FunctionRecord>> {
        self.with(|c| get_function_in(c, key))
    }

    async fn list_functions(
        &self,
        scope: &Scope,
        namespace: Option<&str>,
    ) -> Result<Vec<FunctionRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM functions WHERE app_id=?1 AND region=?2 AND (?3 IS NULL OR namespace=?3)
                 ORDER BY namespace, name",
            )?;
            let rows = stmt.query_map(params![app(scope), scope.region, namespace], function_from)?;
            rows.collect()
        })
    }

    async fn update_function(&self, f: &FunctionRecord) -> Result<()> {
        match self.with(|c| write_function(c, f))? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn set_function_status(
        &self,
        key: &FunctionKey,
        code_sha256: &str,
        status: &str,
        reasons: &[StatusReason],
    ) -> Result<bool> {
        self.with(|c| {
            let tx = c.transaction()?;
            let mut set = false;
            if let Some(mut f) = get_function_in(&tx, key)?
                && f.code_sha256 == code_sha256
            {
                f.status = status.to_string();
                f.status_reasons = reasons.to_vec();
                f.status_desc = reasons
                    .first()
                    .map(|r| r.error_message.clone())
                    .unwrap_or_default();
                set = write_function(&tx, &f)? > 0;
            }
            tx.commit()?;
            Ok(set)
        })
    }

    async fn delete_function(&self, key: &FunctionKey) -> Result<()> {
        let n = self.with(|c| {
            c.execute(
                "DELETE FROM functions WHERE app_id=?1 AND region=?2 AND namespace=?3 AND name=?4",
                params![app(&key.scope), key.scope.region, key.namespace, key.name],
            )
        })?;
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn functions_with_status(&self, statuses: &[&str]) -> Result<Vec<FunctionRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT * FROM functions WHERE status=?1")?;
            let mut out = Vec::new();
            for status in statuses {
                for f in stmt.query_map(params![status], function_from)? {
                    out.push(f?);
                }
            }
            Ok(out)
        })
    }

    async fn code_in_use(&self, sha256: &str, app_id: Option<u64>) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM functions WHERE code_sha256=?1 AND (?2 IS NULL OR app_id=?2))",
                params![sha256, app_id.map(|a| a as i64)],
                |r| r.get(0),
            )
        })
    }
}
