//! Fills scfd's SQLite file with request records directly, while the server is stopped: one
//! transaction per 100k rows through one prepared statement, the rollback journal off and a
//! large page cache for the load only (the server puts WAL back when it opens the file).
//!
//! Request ids are time-ordered v7 UUIDs, as scfd hands out (`Uuid::now_v7`): row `i`'s id
//! carries the millisecond `ID_EPOCH_MS + i` and random-looking bits derived from `i`, so ids
//! sort as the rows were started (a purge deletes neighbouring keys, as it does in a real
//! store) and the suite can name existing ids spread over the table without keeping them.

use scf_store::{FunctionKey, RequestRecord, Scope};
use std::path::Path;
use std::time::{Duration, Instant};

/// Rows per transaction.
const BATCH: u64 = 100_000;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The millisecond in the id of row 0 (2023-11-14, the loaders' usual `base_ms`).
const ID_EPOCH_MS: u64 = 1_700_000_000_000;

/// The request id of row `i`: a well-formed v7 UUID whose time is `ID_EPOCH_MS + i`.
pub fn request_id(i: u64) -> String {
    let ms = (ID_EPOCH_MS + i) & 0xFFFF_FFFF_FFFF;
    let rand_a = splitmix64(i.wrapping_mul(2)) & 0x0FFF;
    let rand_b = splitmix64(i.wrapping_mul(2) + 1);
    let lo = (rand_b & !(0b11 << 62)) | (0b10 << 62); // RFC 9562 variant
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xFFFF,
        rand_a,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// A small random generator for picking rows (no dependency needed for this).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0) % n.max(1)
    }
}

/// Inserts rows `from..to` for `function`; row `i` started at `base_ms + i` and succeeded.
pub fn load(
    db: &Path,
    function: &FunctionKey,
    from: u64,
    to: u64,
    base_ms: i64,
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-2000000;
         PRAGMA temp_store=MEMORY; PRAGMA locking_mode=EXCLUSIVE;",
    )
    .map_err(|e| format!("pragmas: {e}"))?;
    let mut template = RequestRecord::accepted(
        FunctionKey::default(),
        String::new(),
        "$LATEST".into(),
        false,
        0,
    );
    template.outcome = scf_store::RequestOutcome::Succeeded;
    template.ret_msg = "{\"ok\": true}".into();
    template.mem_usage_bytes = 9_830_400;
    let mut i = from;
    while i < to {
        let end = (i + BATCH).min(to);
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO requests (request_id, app_id, region, namespace, function, ret_code, start_ms, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
                )
                .map_err(|e| format!("prepare: {e} (has scfd created its schema?)"))?;
            // Inserting a batch in key order keeps the primary-key index writes local.
            let mut batch: Vec<(String, u64)> =
                (i..end).map(|row| (request_id(row), row)).collect();
            batch.sort_unstable();
            for (id, row) in batch {
                let start_ms = base_ms + row as i64;
                let mut r = template.clone();
                r.duration_ms = 0.05 + (row % 100) as f64 / 1000.0;
                r.end_ms = Some(start_ms + 1);
                r.log = format!(
                    "START RequestId: {id}\nEvent RequestId: {id}\nEND RequestId: {id}\n\
                     Report RequestId: {id} Duration:0.05ms Memory:128MB MemUsage:9.38MB\n"
                );
                let doc = serde_json::to_string(&r).expect("a record always serializes");
                stmt.execute(rusqlite::params![
                    id,
                    function.scope.app_id as i64,
                    function.scope.region,
                    function.namespace,
                    function.name,
                    start_ms,
                    doc
                ])
                .map_err(|e| format!("insert row {row}: {e}"))?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        i = end;
    }
    conn.execute_batch("PRAGMA journal_mode=WAL;")
        .map_err(|e| format!("back to WAL: {e}"))?;
    Ok(started.elapsed())
}

/// The key of a function of the bench account in the default namespace.
pub fn function_key(app_id: u64, region: &str, name: &str) -> FunctionKey {
    FunctionKey {
        scope: Scope {
            app_id,
            region: region.into(),
        },
        namespace: "default".into(),
        name: name.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_ids_are_v7_and_sort_as_their_rows() {
        let mut previous = String::new();
        for i in [0, 1, 2, 999, 1_000, 65_535, 65_536, 9_999_999, 10_000_000] {
            let id = request_id(i);
            assert_eq!(id.len(), 36, "{id}");
            assert_eq!(&id[14..15], "7", "version of {id}");
            assert!("89ab".contains(&id[19..20]), "variant of {id}");
            assert!(id > previous, "{id} after {previous}");
            previous = id;
        }
        assert_ne!(
            request_id(5)[15..],
            request_id(6)[15..],
            "random bits differ"
        );
    }
}
