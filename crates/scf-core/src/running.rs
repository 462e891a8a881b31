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
}

#[derive(Default)]
pub(crate) struct Running {
    map: Mutex<HashMap<String, Entry>>,
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding this lock leaves a map of plain data: still consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sync request has been accepted.
    pub(crate) fn start(&self, record: &RequestRecord) {
        self.lock().insert(
            record.request_id.clone(),
            Entry {
                record: record.clone(),
                since: Instant::now(),
                persisted: false,
            },
        );
    }

    /// The request's outcome is committed: it is the store's now.
    pub(crate) fn finish(&self, request_id: &str) {
        self.lock().remove(request_id);
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

/// Writes the running records of long sync requests, every half `after`.
pub(crate) async fn persist_loop(svc: std::sync::Weak<crate::Service>, after: Duration) {
    let tick = (after / 2).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(tick).await;
        let Some(s) = svc.upgrade() else { return };
        s.running.persist_older_than(s.store.as_ref(), after);
    }
}
