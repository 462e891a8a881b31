//! Synchronous requests in flight on this node.
//!
//! A sync request is visible from the moment it is accepted (GetRequestStatus answers RetCode
//! 1), but most finish within a millisecond, and writing a "running" record that is replaced
//! a few hundred microseconds later doubled the store's work per invocation. So a running sync
//! request lives here first; its outcome is written once, when it ends. Only a request still
//! running after `persist_after` (the `[store] running_record_after_ms` setting) also gets a
//! running record in the store, so that a restart finds it and marks it failed, and other
//! nodes see it.
//!
//! Ordering: the running record is written with insert-or-ignore and the outcome with an
//! upsert, so whichever reaches the store first, the outcome stands. Readers look here before
//! the store, and an entry leaves only after its outcome is committed, so a request is never
//! missing from both.

use scf_store::{FunctionKey, RequestRecord, Store};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
    record: RequestRecord,
    since: Instant,
    persisted: bool,
    /// Finished, but the store refused its outcome: kept until [`flush_loop`] writes it.
    held: Option<u64>,
}

/// Outcomes kept while the store is down, at most this many bytes of them (results, errors,
/// logs); past it a caller gets the store's error as before.
const MAX_HELD_BYTES: usize = 128 << 20;

#[derive(Default)]
pub(crate) struct Running {
    map: Mutex<HashMap<String, Entry>>,
    /// Bytes held, and the next hold's sequence number (flushes go oldest first).
    held: Mutex<(usize, u64)>,
}

fn held_size(r: &RequestRecord) -> usize {
    r.ret_msg.len() + r.err_msg.len() + r.log.len() + 512
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding this lock leaves a map of plain data: still consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sync request has been accepted.
    pub(crate) fn start(&self, record: &RequestRecord) {
        self.put(record, None);
    }

    /// Enters `record`; a held outcome counts as persisted (its running record is not wanted).
    fn put(&self, record: &RequestRecord, held: Option<u64>) {
        self.lock().insert(
            record.request_id.clone(),
            Entry {
                record: record.clone(),
                since: Instant::now(),
                persisted: held.is_some(),
                held,
            },
        );
    }

    /// The request's task is over: its entry goes, unless its outcome is held for the store.
    pub(crate) fn finish(&self, request_id: &str) {
        let mut map = self.lock();
        if map.get(request_id).is_some_and(|e| e.held.is_none()) {
            map.remove(request_id);
        }
    }

    /// Keeps the final `record`, which the store refused, until the store takes it; readers
    /// see it meanwhile. `false` when too much is held already.
    pub(crate) fn hold(&self, record: &RequestRecord) -> bool {
        let size = held_size(record);
        let seq = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if held.0 + size > MAX_HELD_BYTES {
                return false;
            }
            held.0 += size;
            held.1 += 1;
            held.1
        };
        self.put(record, Some(seq));
        true
    }

    /// The held outcomes, oldest first.
    fn held(&self) -> Vec<RequestRecord> {
        if self.held.lock().unwrap_or_else(|p| p.into_inner()).0 == 0 {
            return vec![];
        }
        let map = self.lock();
        let mut held: Vec<(u64, &RequestRecord)> = map
            .values()
            .filter_map(|e| e.held.map(|s| (s, &e.record)))
            .collect();
        held.sort_by_key(|(s, _)| *s);
        held.into_iter().map(|(_, r)| r.clone()).collect()
    }

    /// A held outcome is in the store now.
    fn written(&self, request_id: &str) {
        if let Some(e) = self.lock().remove(request_id) {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            held.0 = held.0.saturating_sub(held_size(&e.record));
        }
    }

    /// The running request `request_id` of function `key`, if it is in flight here.
    pub(crate) fn get(&self, key: &FunctionKey, request_id: &str) -> Option<RequestRecord> {
        self.lock()
            .get(request_id)
            .filter(|e| &e.record.function == key)
            .map(|e| e.record.clone())
    }

    /// Function `key`'s requests in flight here that started in `[from_ms, to_ms)`.
    pub(crate) fn list(&self, key: &FunctionKey, from_ms: i64, to_ms: i64) -> Vec<RequestRecord> {
        self.lock()
            .values()
            .filter(|e| {
                &e.record.function == key
                    && e.record.start_ms >= from_ms
                    && e.record.start_ms < to_ms
            })
            .map(|e| e.record.clone())
            .collect()
    }

    /// Queues a running record for every request in flight for longer than `after` that has
    /// none yet. Returns how many.
    pub(crate) fn persist_older_than(&self, store: &dyn Store, after: Duration) -> usize {
        let mut n = 0;
        for e in self.lock().values_mut() {
            if !e.persisted && e.since.elapsed() >= after {
                store.insert_running_detached(&e.record);
                e.persisted = true;
                n += 1;
            }
        }
        n
    }
}

/// Writes the outcomes held while the store was down, in the order they were held, as soon as
/// it takes them again (tried every 100 ms, backing off to 2 s while it refuses).
pub(crate) async fn flush_loop(svc: std::sync::Weak<crate::Service>) {
    let mut pause = Duration::from_millis(100);
    loop {
        tokio::time::sleep(pause).await;
        let Some(s) = svc.upgrade() else { return };
        let held = s.running.held();
        let mut failed = false;
        for r in &held {
            match s.store.put_request(r).await {
                Ok(()) => s.running.written(&r.request_id),
                Err(e) => {
                    tracing::warn!(error = %e, held = held.len(), "the store still refuses held outcomes");
                    failed = true;
                    break;
                }
            }
        }
        if !held.is_empty() && !failed {
            tracing::info!(
                written = held.len(),
                "wrote the outcomes held while the store was down"
            );
        }
        pause = if failed {
            (pause * 2).min(Duration::from_secs(2))
        } else {
            Duration::from_millis(100)
        };
    }
}

/// Writes the running records of long sync requests, every half `after`.
pub(crate) async fn persist_loop(svc: std::sync::Weak<crate::Service>, after: Duration) {
    let tick = (after / 2).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(tick).await;
        let Some(s) = svc.upgrade() else { return };
        s.running.persist_older_than(s.store.as_ref(), after);
    }
}
