//! `scf-bench purge`: the retention purge on a large SQLite store, batch by batch.
//!
//! Loads `rows` request records (as `bulk_load` does for the GetRequestStatus rows), opens
//! the store as scfd does, and purges the oldest tenth with `Store::purge_batch` at scfd's
//! batch size, timing each batch (its transaction, then the checkpoint it waits for, which
//! holds up no other write). Meanwhile one task keeps inserting request records and reports
//! how long each insert took: what the purge costs everyone else. Also reported: the largest
//! the WAL grew.

use crate::bulk_load;
use scf_store::{RequestRecord, SqliteStore, Store, Synchronous};
use std::path::Path;
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
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let db = dir.join("scfd.db");
    drop(SqliteStore::open(&db, Synchronous::Normal).map_err(|e| e.to_string())?);
    let key = bulk_load::function_key(1_250_000_001, "ap-guangzhou", "purged");
    let base_ms = 1_700_000_000_000;
    // The store's threads let go of the file shortly after it is dropped.
    let mut tries = 0;
    let loaded = loop {
        match bulk_load::load(&db, &key, 0, rows, base_ms) {
            Err(e) if e.contains("locked") && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => break other?,
        }
    };
    eprintln!(
        "scf-bench: loaded {rows} records in {:.1} s",
        loaded.as_secs_f64()
    );
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&db, Synchronous::Normal).map_err(|e| e.to_string())?);
        let cutoff = base_ms + (rows / 10) as i64;
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, done, key) = (Arc::clone(&store), Arc::clone(&done), key.clone());
            tokio::spawn(async move {
                let mut waits = vec![];
                let mut i = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let mut r = RequestRecord::accepted(
                        key.clone(),
                        format!("live-{i}"),
                        "$LATEST".into(),
                        false,
                        base_ms + rows as i64 + i as i64,
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
        };
        let started = Instant::now();
        let wal = db.with_extension("db-wal");
        let mut wal_max = 0u64;
        let mut batches = vec![];
        let mut purged = 0;
        loop {
            let t = Instant::now();
            let n = store
                .purge_batch(cutoff, scf_store::PURGE_BATCH)
                .await
                .map_err(|e| e.to_string())?;
            batches.push(t.elapsed().as_secs_f64() * 1000.0);
            // The WAL's size after each batch: a purge that outruns the checkpointer grows it
            // until a blocking TRUNCATE (sqlite.rs, `run_checkpointer`).
            wal_max = wal_max.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            purged += n;
            if n < u64::from(scf_store::PURGE_BATCH) {
                break;
            }
            tokio::task::yield_now().await;
        }
        let total = started.elapsed();
        done.store(true, Ordering::Relaxed);
        let mut waits = writer.await.map_err(|e| e.to_string())?;
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
        batches.sort_by(f64::total_cmp);
        waits.sort_by(f64::total_cmp);
        println!(
            "| {rows} records, oldest tenth purged | {purged} rows | {:.1} s | {} batches of {} | {:.1} / {:.1} / {:.1} ms | {} inserts: {:.2} / {:.1} / {:.1} ms | {} MB |",
            total.as_secs_f64(),
            batches.len(),
            scf_store::PURGE_BATCH,
            percentile(&batches, 0.5),
            percentile(&batches, 0.99),
            batches.last().copied().unwrap_or(0.0),
            waits.len(),
            percentile(&waits, 0.5),
            percentile(&waits, 0.99),
            waits.last().copied().unwrap_or(0.0),
            wal_max >> 20,
        );
        Ok(())
    })
}
