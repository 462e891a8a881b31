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
//! Outcomes the store refuses (an outage, a full disk) are held here and in the node's
//! journal ([`crate::journal`]) until [`flush_loop`] writes them; a restart writes the
//! journal's before it fails the node's running requests.
//!
//! Ordering: the running record is written with insert-or-ignore and the outcome with an
//! upsert, so whichever reaches the store first, the outcome stands. Readers look here before
//! the store, and an entry leaves only after its outcome is committed, so a request is never
//! missing from both.

use crate::journal::Journal;
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
/// One account's part of [`MAX_HELD_BYTES`]: a tenant whose functions return megabytes through
/// an outage cannot take the hold from every other account.
const MAX_HELD_BYTES_PER_ACCOUNT: usize = MAX_HELD_BYTES / 4;

pub(crate) struct Running {
    map: Mutex<HashMap<String, Entry>>,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    bytes: usize,
    by_account: HashMap<u64, usize>,
    /// The next hold's sequence number (flushes go oldest first).
    seq: u64,
    /// Where held outcomes survive a kill; `None` if it could not be opened (logged).
    journal: Option<Journal>,
}

fn held_size(r: &RequestRecord) -> usize {
    r.ret_msg.len() + r.err_msg.len() + r.log.len() + 512
}

impl Held {
    /// Counts `size` bytes of `app_id` as held; returns the hold's sequence number.
    fn add(&mut self, app_id: u64, size: usize) -> u64 {
        self.bytes += size;
        *self.by_account.entry(app_id).or_default() += size;
        self.seq += 1;
        self.seq
    }

    /// `size` bytes of `app_id` are in the store now.
    fn remove(&mut self, app_id: u64, size: usize) {
        self.bytes = self.bytes.saturating_sub(size);
        if let Some(n) = self.by_account.get_mut(&app_id) {
            *n = n.saturating_sub(size);
            if *n == 0 {
                self.by_account.remove(&app_id);
            }
        }
    }
}

impl Running {
    /// The in-flight map of a node whose data dir is `dir`, holding again the outcomes its
    /// journal kept through the last stop (see [`crate::journal`]).
    pub(crate) fn open(dir: &std::path::Path) -> std::io::Result<Running> {
        let (journal, kept) = Journal::open(dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot open the held-outcome journal {}: {e}",
                    dir.join(crate::journal::FILE_NAME).display()
                ),
            )
        })?;
        let running = Running {
            map: Mutex::new(HashMap::new()),
            held: Mutex::new(Held {
                journal: Some(journal),
                ..Held::default()
            }),
        };
        if !kept.is_empty() {
            tracing::info!(
                outcomes = kept.len(),
                "holding again the outcomes the journal kept through the last stop"
            );
        }
        for r in &kept {
            // Accepted and answered before the stop: no cap refuses them now.
            let seq = running
                .lock_held()
                .add(r.function.scope.app_id, held_size(r));
            running.put(r, Some(seq));
        }
        Ok(running)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        crate::lock(&self.map)
    }

    fn lock_held(&self) -> std::sync::MutexGuard<'_, Held> {
        crate::lock(&self.held)
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

    /// Keeps the final `record`, which the store refused, until the store takes it: on disk in
    /// the journal before this returns, and here for readers meanwhile. `false` when too much
    /// is held already, in all or by its account.
    pub(crate) fn hold(&self, record: &RequestRecord) -> bool {
        let size = held_size(record);
        let app_id = record.function.scope.app_id;
        let seq = {
            let mut held = self.lock_held();
            let account = held.by_account.get(&app_id).copied().unwrap_or(0);
            if held.bytes + size > MAX_HELD_BYTES || account + size > MAX_HELD_BYTES_PER_ACCOUNT {
                return false;
            }
            // Blocks this worker for an fsync, on the outage path only.
            if let Some(j) = held.journal.as_mut()
                && let Err(e) = j.append(record)
            {
                tracing::error!(error = %e, path = %j.path().display(), request_id = %record.request_id, "cannot journal a held outcome; it is held in memory only");
            }
            held.add(app_id, size)
        };
        self.put(record, Some(seq));
        true
    }

    /// The held outcomes, oldest first.
    fn held(&self) -> Vec<RequestRecord> {
        if self.lock_held().bytes == 0 {
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

    /// A held outcome is in the store now; the journal is emptied with the last one.
    fn written(&self, request_id: &str) {
        let Some(e) = self.lock().remove(request_id) else {
            return;
        };
        let mut held = self.lock_held();
        held.remove(e.record.function.scope.app_id, held_size(&e.record));
        if held.bytes == 0
            && let Some(j) = held.journal.as_mut()
            && let Err(e) = j.clear()
        {
            // Its outcomes are in the store: at worst a restart writes them once more.
            tracing::warn!(error = %e, path = %j.path().display(), "cannot empty the held-outcome journal");
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

/// Writes the held outcomes to the store, oldest first, stopping at its first refusal.
/// Returns how many were written.
pub(crate) async fn flush(svc: &crate::Service) -> Result<usize, scf_store::StoreError> {
    let held = svc.running.held();
    for r in &held {
        svc.store.put_request(r).await?;
        svc.running.written(&r.request_id);
    }
    Ok(held.len())
}

/// Writes the outcomes held while the store was down, in the order they were held, as soon as
/// it takes them again (tried every 100 ms, backing off to 2 s while it refuses).
pub(crate) async fn flush_loop(svc: std::sync::Weak<crate::Service>) {
    let mut pause = Duration::from_millis(100);
    loop {
        tokio::time::sleep(pause).await;
        let Some(s) = svc.upgrade() else { return };
        pause = match flush(&s).await {
            Ok(written) => {
                if written > 0 {
                    tracing::info!(written, "wrote the outcomes held while the store was down");
                }
                Duration::from_millis(100)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the store still refuses held outcomes");
                (pause * 2).min(Duration::from_secs(2))
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use scf_store::Scope;

    fn outcome(app_id: u64, id: &str, bytes: usize) -> RequestRecord {
        let key = FunctionKey {
            scope: Scope {
                app_id,
                region: "ap-guangzhou".into(),
            },
            namespace: "default".into(),
            name: "f".into(),
        };
        let mut r = RequestRecord::accepted(key, id.into(), "$LATEST".into(), false, 1);
        r.outcome = scf_store::RequestOutcome::Succeeded;
        r.ret_msg = "x".repeat(bytes);
        r
    }

    /// A tenant whose functions answer megabytes through an outage fills its own quarter of
    /// the hold and no more: another account's answers are still held (and journaled).
    #[test]
    fn one_account_cannot_take_the_whole_hold() {
        let dir = tempfile::tempdir().expect("temp dir");
        let running = Running::open(dir.path()).expect("open");
        let big = 4 << 20;
        let mut held = 0;
        while running.hold(&outcome(1, &format!("a{held}"), big)) {
            held += 1;
        }
        assert_eq!(
            held,
            MAX_HELD_BYTES_PER_ACCOUNT / (big + 512),
            "account 1 stops at its share"
        );
        assert!(
            running.hold(&outcome(2, "b", big)),
            "account 2 is still held"
        );
        drop(running);
        let again = Running::open(dir.path()).expect("reopen");
        assert_eq!(
            again.held().len(),
            held + 1,
            "every held outcome was journaled"
        );
        // Written to the store one by one, the hold empties and the journal with it.
        for r in again.held() {
            again.written(&r.request_id);
        }
        assert_eq!(again.lock_held().bytes, 0);
        drop(again);
        assert!(Running::open(dir.path()).expect("reopen").held().is_empty());
    }
}
