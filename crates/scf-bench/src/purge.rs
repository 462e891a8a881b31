//! `scf-bench purge`: the retention purge on a large SQLite store, batch by batch.
//!
//! Loads `rows` request records (as `bulk_load` does for the GetRequestStatus rows), opens
//! the store as scfd does, and purges the oldest tenth with `Store::purge_batch` at scfd's
//! batch size, timing each batch (its transaction, then the checkpoint it waits for, which
//! holds up no other write). Meanwhile one task keeps inserting request records and reports
//! how long each insert took: what the purge costs everyone else. Also reported: the largest
//! the WAL grew.

use crate::bulk_load;
use scf_store::{FunctionKey, RequestRecord, SqliteStore, Store, Synchronous};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn run(dir: &Path, rows: u64) -> Result<(), String> {
    let db = fresh_store(dir)?;
    let key = bulk_load::function_key(1_250_000_001, "ap-guangzhou", "purged");
    let base_ms = 1_700_000_000_000;
    let loaded = load_when_unlocked(&db, &key, rows, base_ms)?;
    eprintln!(
        "scf-bench: loaded {rows} records in {:.1} s",
        loaded.as_secs_f64()
    );
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(purge_under_inserts(db, key, rows, base_ms))
}

/// An empty store (scfd's schema) in an emptied `dir`; returns the database file.
fn fresh_store(dir: &Path) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let db = dir.join("scfd.db");
    drop(SqliteStore::open(&db, Synchronous::Normal).map_err(|e| e.to_string())?);
    Ok(db)
}

/// Loads `rows` records of `key`, the first at `base_ms`, once the file is free; returns how
/// long the load took.
fn load_when_unlocked(
    db: &Path,
    key: &FunctionKey,
    rows: u64,
    base_ms: i64,
) -> Result<Duration, String> {
    // The store's threads let go of the file shortly after it is dropped.
    let mut tries = 0;
    loop {
        match bulk_load::load(db, key, 0, rows, base_ms) {
            Err(e) if e.contains("locked") && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Purges the oldest tenth of the `rows` records while a writer keeps inserting, and prints
/// the row: the batches' times, the inserts' waits and the largest WAL.
async fn purge_under_inserts(
    db: PathBuf,
    key: FunctionKey,
    rows: u64,
    base_ms: i64,
) -> Result<(), String> {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&db, Synchronous::Normal).map_err(|e| e.to_string())?);
    let cutoff = base_ms + (rows / 10) as i64;
    let done = Arc::new(AtomicBool::new(false));
    let writer = spawn_inserts(
        Arc::clone(&store),
        Arc::clone(&done),
        key,
        base_ms + rows as i64,
    );
    let mut purge = purge_in_batches(store.as_ref(), cutoff, &db.with_extension("db-wal")).await?;
    done.store(true, Ordering::Relaxed);
    let mut waits = writer.await.map_err(|e| e.to_string())?;
    print_slowest(&purge.batches);
    purge.batches.sort_by(f64::total_cmp);
    waits.sort_by(f64::total_cmp);
    print_row(rows, &purge, &waits);
    Ok(())
}

/// A task inserting a finished request record of `key` every 2 ms (starting at `first_ms`)
/// until `done`; it returns how long each insert took, in ms.
fn spawn_inserts(
    store: Arc<dyn Store>,
    done: Arc<AtomicBool>,
    key: FunctionKey,
    first_ms: i64,
) -> tokio::task::JoinHandle<Vec<f64>> {
    tokio::spawn(async move {
        let mut waits = vec![];
        let mut i = 0u64;
        while !done.load(Ordering::Relaxed) {
            let mut r = RequestRecord::accepted(
                key.clone(),
                format!("live-{i}"),
                "$LATEST".into(),
                false,
                first_ms + i as i64,
            );
            r.outcome = scf_store::RequestOutcome::Succeeded;
            let t = Instant::now();
            let _ = store.put_request(&r).await;
            waits.push(t.elapsed().as_secs_f64() * 1000.0);
            i += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        waits
    })
}

/// What a purge took.
struct Purge {
    /// Each batch's time in ms, in the order they ran.
    batches: Vec<f64>,
    /// Records deleted.
    purged: u64,
    /// The largest the WAL was after a batch, bytes.
    wal_max: u64,
    took: Duration,
}

/// Purges every record before `cutoff`, a batch of scfd's size at a time, as scfd does.
async fn purge_in_batches(store: &dyn Store, cutoff: i64, wal: &Path) -> Result<Purge, String> {
    let started = Instant::now();
    let mut purge = Purge {
        batches: vec![],
        purged: 0,
        wal_max: 0,
        took: Duration::ZERO,
    };
    loop {
        let t = Instant::now();
        let n = store
            .purge_batch(cutoff, scf_store::PURGE_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        purge.batches.push(t.elapsed().as_secs_f64() * 1000.0);
        // The WAL's size after each batch: a purge that outruns the checkpointer grows it
        // until a blocking TRUNCATE (sqlite.rs, `run_checkpointer`).
        purge.wal_max = purge
            .wal_max
            .max(std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0));
        purge.purged += n;
        if n < u64::from(scf_store::PURGE_BATCH) {
            break;
        }
        tokio::task::yield_now().await;
    }
    purge.took = started.elapsed();
    Ok(purge)
}

/// The five slowest batches and where they came in the purge, to stderr.
fn print_slowest(batches: &[f64]) {
    let mut worst: Vec<(usize, f64)> = batches.iter().copied().enumerate().collect();
    worst.sort_by(|a, b| b.1.total_cmp(&a.1));
    eprintln!(
        "scf-bench: slowest batches (index: ms): {}",
        worst
            .iter()
            .take(5)
            .map(|(i, ms)| format!("{i}: {ms:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The Markdown table row, from the batch times and insert waits sorted.
fn print_row(rows: u64, purge: &Purge, waits: &[f64]) {
    let batches = &purge.batches;
    println!(
        "| {rows} records, oldest tenth purged | {} rows | {:.1} s | {} batches of {} | {:.1} / {:.1} / {:.1} ms | {} inserts: {:.2} / {:.1} / {:.1} ms | {} MB |",
        purge.purged,
        purge.took.as_secs_f64(),
        batches.len(),
        scf_store::PURGE_BATCH,
        percentile(batches, 0.5),
        percentile(batches, 0.99),
        batches.last().copied().unwrap_or(0.0),
        waits.len(),
        percentile(waits, 0.5),
        percentile(waits, 0.99),
        waits.last().copied().unwrap_or(0.0),
        purge.wal_max >> 20,
    );
}
