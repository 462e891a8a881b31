//! The durable async queue: accepting, dispatching under leases, retries.

use super::outcome::*;
use super::target::*;
use super::*;
use crate::lock;

/// Accepts an async invocation: durable before this returns.
pub(crate) async fn invoke_async(
    svc: &Arc<Service>,
    t: Target,
    event: Box<RawValue>,
) -> Result<Map<String, Value>, ApiError> {
    require_active(&t)?;
    // v7: time-ordered, so records append at the end of the primary-key index.
    let request_id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let mut record = RequestRecord::accepted(
        t.record.key.clone(),
        request_id.clone(),
        t.version.clone(),
        true,
        now,
    );
    record.node = svc.settings.node.clone();
    let (max_retries, ttl) = async_settings(&t.record);
    let event_record = AsyncEventRecord {
        function: t.record.key.clone(),
        request_id: request_id.clone(),
        qualifier: t.version.clone(),
        invoke_type: "OTHERS".into(),
        status: AsyncStatus::Queued,
        payload: event.get().to_string(),
        attempts: 0,
        max_retries,
        // Schedules run on the steady clock, ages on the settled one (crate::clock).
        next_run_ms: clock::steady_ms(),
        expires_ms: now + ttl * 1000,
        start_ms: now,
        end_ms: None,
        lease_owner: String::new(),
        lease_token: String::new(),
        resumed: false,
    };
    svc.store.enqueue_async(&record, &event_record).await?;
    svc.async_wakeup.notify_one();
    let mut out = Map::new();
    out.insert(
        "Result".into(),
        json!({
            "FunctionRequestId": request_id,
            "RetMsg": "", "ErrMsg": "", "Log": "",
            "MemUsage": 0, "Duration": 0, "BillDuration": 0, "InvokeResult": 0,
        }),
    );
    Ok(out)
}

/// Async events in flight at once (running, or on their way to the engine). Beyond this they
/// stay in the durable queue, where a restart finds them.
pub(super) const MAX_IN_FLIGHT: usize = 256;

/// An event the engine cannot start at once (its account at its share of the server, its
/// function at its reserved concurrency, the server full) goes back to the queue as the same
/// attempt, due again after this times the refusals its account had in a row (at most
/// [`MAX_TURNS_APART`] times): it holds no lease and no place in the engine meanwhile, so other
/// accounts' events and other nodes are not held up behind it, and a long backlog comes back
/// spread out rather than all at once (the queue is claimed in due order, whatever the account).
pub(super) const NOT_ITS_TURN: Duration = Duration::from_millis(250);
pub(super) const MAX_TURNS_APART: u32 = 16;

/// What the dispatcher knows of the events it claimed.
#[derive(Default)]
pub(super) struct Turns {
    /// Claimed and not yet handed to the engine.
    starting: AtomicUsize,
    /// Refusals in a row per account (app id), since one of its events last started.
    refused: Mutex<HashMap<u64, u32>>,
}

/// Counts an event claimed but not yet handed to the engine, until dropped.
pub(super) struct Starting(Arc<Turns>);

impl Starting {
    fn new(turns: &Arc<Turns>) -> Self {
        turns.starting.fetch_add(1, Ordering::Relaxed);
        Starting(Arc::clone(turns))
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        self.0.starting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs claimed async events until the service goes away.
///
/// It claims no more events than the engine has free slots for (less those claimed and on
/// their way to it): a claimed event holds its lease, so no other node could run it, and
/// an event waiting in the engine would stand in line for a slot. The engine starts an event
/// only at once; one it cannot start goes back to the queue ([`NOT_ITS_TURN`]).
pub(crate) async fn dispatch(svc: std::sync::Weak<Service>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let turns: Arc<Turns> = Arc::default();
    // The events this node runs, whose leases it renews.
    // Request id -> the lease token of the claim its run holds.
    let in_flight: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    tokio::spawn(renew_leases(svc.clone(), Arc::clone(&in_flight)));
    loop {
        let Some(s) = svc.upgrade() else { return };
        let room = s
            .engine
            .free_slots()
            .saturating_sub(turns.starting.load(Ordering::Relaxed));
        let free = slots.available_permits().min(CLAIM_BATCH).min(room);
        if free == 0 {
            let engine = Arc::clone(&s.engine);
            drop(s);
            if slots.available_permits() == 0 {
                // Wait until an event in flight finishes.
                if let Ok(p) = Arc::clone(&slots).acquire_owned().await {
                    drop(p);
                }
            } else {
                // Wait until the engine has a slot again (or look again soon: events on their
                // way to the engine take theirs without a signal).
                tokio::select! {
                    () = engine.slot_freed() => {}
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
            continue;
        }
        let now = clock::steady_ms();
        let lease_ms = s.settings.async_lease.as_millis() as i64;
        let claimed = match s
            .store
            .claim_due_async(&s.settings.node, now, lease_ms, free)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim async events");
                vec![]
            }
        };
        let busy = !claimed.is_empty();
        for e in claimed {
            let s2 = Arc::clone(&s);
            // `free` permits were available and only this loop takes them: no wait here.
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let in_flight = Arc::clone(&in_flight);
            lock(&in_flight).insert(e.request_id.clone(), e.lease_token.clone());
            let (id, token) = (e.request_id.clone(), e.lease_token.clone());
            let starting = Starting::new(&turns);
            tokio::spawn(async move {
                // Its lease is renewed until the run ends, also if it panics.
                let _done = Finally::new(move || {
                    // Only this run's claim: a later claim of the same event has its own.
                    let mut map = lock(&in_flight);
                    if map.get(&id) == Some(&token) {
                        map.remove(&id);
                    }
                });
                run_event(&s2, e, starting).await;
                drop(permit);
            });
        }
        let wait = if busy {
            Duration::from_millis(0)
        } else {
            match s.store.next_async_due().await {
                Ok(Some(due)) => {
                    Duration::from_millis((due - clock::steady_ms()).clamp(1, 1000) as u64)
                }
                _ => Duration::from_secs(1),
            }
        };
        let wakeup = Arc::clone(&s.async_wakeup);
        drop(s);
        if !wait.is_zero() {
            tokio::select! {
                () = wakeup.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Extends the leases of the events this node runs, three times a lease, so that they run out
/// only when the node stops (another node then takes them over).
pub(super) async fn renew_leases(
    svc: std::sync::Weak<Service>,
    in_flight: Arc<Mutex<HashMap<String, String>>>,
) {
    loop {
        let Some(s) = svc.upgrade() else { return };
        let lease = s.settings.async_lease;
        let ids: Vec<(String, String)> = lock(&in_flight)
            .iter()
            .map(|(id, token)| (id.clone(), token.clone()))
            .collect();
        if !ids.is_empty() {
            let until = clock::steady_ms() + lease.as_millis() as i64;
            if let Err(e) = s
                .store
                .renew_async_leases(&s.settings.node, &ids, until)
                .await
            {
                tracing::warn!(error = %e, "cannot renew async leases");
            }
        }
        drop(s);
        tokio::time::sleep(lease / 3).await;
    }
}

/// One run of an async event, and what follows: done, retried later, or failed for good.
pub(super) async fn run_event(svc: &Arc<Service>, mut e: AsyncEventRecord, starting: Starting) {
    let key = e.function.clone();
    let mut record = match svc.store.get_request(&key, &e.request_id).await {
        Ok(Some(r)) => r,
        Ok(None) => RequestRecord::accepted(
            key.clone(),
            e.request_id.clone(),
            e.qualifier.clone(),
            true,
            e.start_ms,
        ),
        Err(err) => {
            tracing::error!(error = %err, request_id = %e.request_id, "cannot load an async request; it stays queued");
            e.status = AsyncStatus::Queued;
            e.next_run_ms = clock::steady_ms() + 1000;
            let _ = svc.store.update_async(&e).await;
            return;
        }
    };
    let finish = |record: &mut RequestRecord,
                  e: &mut AsyncEventRecord,
                  status: AsyncStatus,
                  message: Option<String>| {
        if let Some(m) = message {
            record.fail(&m, now_ms());
        }
        e.status = status;
        e.end_ms = Some(now_ms());
    };
    if e.attempts == 1 && !e.resumed && clock::settled_ms() > e.expires_ms {
        finish(
            &mut record,
            &mut e,
            AsyncStatus::Failed,
            Some("The event expired in the queue (MsgTTL) before it could run.".into()),
        );
        persist(svc, &record, &e).await;
        return;
    }
    record.retry_num = e.attempts - 1;

    // The function as it is now (a deleted function cannot run).
    let latest = svc.store.get_function(&key).await.ok().flatten();
    let target = match (latest, e.qualifier.as_str()) {
        (None, _) => None,
        (Some(f), "$LATEST") => Some(Target {
            record: f,
            version: "$LATEST".into(),
        }),
        (Some(f), q) => svc
            .store
            .get_version(&f.key, q)
            .await
            .ok()
            .flatten()
            .map(|v| Target {
                record: v.function,
                version: v.version,
            }),
    };
    let Some(t) = target else {
        finish(
            &mut record,
            &mut e,
            AsyncStatus::Failed,
            Some("The function or version no longer exists.".into()),
        );
        persist(svc, &record, &e).await;
        return;
    };
    let Ok(event) = RawValue::from_string(e.payload.clone()) else {
        finish(
            &mut record,
            &mut e,
            AsyncStatus::Failed,
            Some("The stored event is not JSON.".into()),
        );
        persist(svc, &record, &e).await;
        return;
    };
    // Terminated while it waited in the queue: it must not run at all.
    if let Ok(Some(now)) = svc.store.get_async(&key.scope, &e.request_id).await
        && now.status == AsyncStatus::Aborted
    {
        return;
    }
    // A platform failure before the function ran (its package could not be fetched, no
    // instance could start) spends a retry like a failed run, rather than ending the event.
    let retry_or_fail = |record: &mut RequestRecord, e: &mut AsyncEventRecord, message: String| {
        if e.attempts - 1 < e.max_retries {
            record.retry_num = e.attempts - 1;
            e.status = AsyncStatus::Queued;
            e.next_run_ms =
                clock::steady_ms() + svc.settings.async_retry_interval.as_millis() as i64;
        } else {
            finish(record, e, AsyncStatus::Failed, Some(message));
        }
    };
    // Held until the run ends: an update meanwhile must not remove the package under it.
    let _code = match svc.ensure_code(&t.record.code_sha256).await {
        Ok(pin) => pin,
        Err(err) => {
            retry_or_fail(&mut record, &mut e, err.message);
            persist(svc, &record, &e).await;
            return;
        }
    };
    let uin = svc.uin_of(key.scope.app_id);
    let spec = spec(svc, &key.scope, &uin, &t);
    let ctx = context(&e.request_id, &t, &key.scope, &uin);
    // The engine takes its slot (or refuses) on the first poll of `invoke`: from here the
    // dispatcher counts it there.
    let turns = Arc::clone(&starting.0);
    drop(starting);
    let outcome = svc
        .engine
        .invoke(&spec, &e.request_id, &event, &ctx, false)
        .await;
    // Not its turn (a reservation of 0 instances never has one: that spends a retry below).
    if matches!(outcome, Err(EngineError::Concurrency(_))) && spec.max_concurrency != Some(0) {
        let refused = {
            let mut refused = lock(&turns.refused);
            let n = refused.entry(key.scope.app_id).or_default();
            *n = (*n + 1).min(MAX_TURNS_APART);
            *n
        };
        e.status = AsyncStatus::Queued;
        // The claim counted an attempt that did not run.
        e.attempts -= 1;
        e.next_run_ms = clock::steady_ms() + (NOT_ITS_TURN * refused).as_millis() as i64;
        persist(svc, &record, &e).await;
        return;
    }
    lock(&turns.refused).remove(&key.scope.app_id);

    // TerminateAsyncEvent may have ended it meanwhile: that verdict stands.
    if let Ok(Some(now)) = svc.store.get_async(&key.scope, &e.request_id).await
        && now.status == AsyncStatus::Aborted
    {
        return;
    }
    match outcome {
        Ok(o) => {
            settle(svc, &mut record, &t.record, o);
            record.retry_num = e.attempts - 1;
            if record.outcome == scf_store::RequestOutcome::Succeeded {
                e.status = AsyncStatus::Finished;
                e.end_ms = Some(now_ms());
            } else if e.attempts - 1 < e.max_retries {
                // Failed; another run later. The request is still running as far as anyone
                // asking is concerned.
                record.outcome = scf_store::RequestOutcome::Running;
                e.status = AsyncStatus::Queued;
                e.next_run_ms =
                    clock::steady_ms() + svc.settings.async_retry_interval.as_millis() as i64;
            } else {
                e.status = AsyncStatus::Failed;
                e.end_ms = Some(now_ms());
            }
        }
        Err(err) => retry_or_fail(&mut record, &mut e, err.to_string()),
    }
    persist(svc, &record, &e).await;
}

/// Writes a run's outcome, unless a TerminateAsyncEvent ended the event meanwhile (its
/// verdict stands: the write is a compare-and-set on the event being Running).
pub(super) async fn persist(svc: &Arc<Service>, record: &RequestRecord, e: &AsyncEventRecord) {
    match svc.store.finish_async_run(record, e).await {
        Ok(true) => {
            if e.status == AsyncStatus::Queued {
                svc.async_wakeup.notify_one();
            }
        }
        Ok(false) => {
            tracing::debug!(request_id = %e.request_id, "the event ended elsewhere (terminated); its run is not recorded")
        }
        Err(err) => {
            tracing::error!(error = %err, request_id = %e.request_id, "cannot record an async outcome")
        }
    }
}
