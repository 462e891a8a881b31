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
    let in_flight: Arc<InFlight> = Arc::default();
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
            wait_for_room(&slots, &engine).await;
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
            // `free` permits were available and only this loop takes them: no wait here.
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            start_run(&s, e, permit, &in_flight, &turns);
        }
        let wait = if busy {
            Duration::ZERO
        } else {
            until_next_due(&s).await
        };
        let wakeup = Arc::clone(&s.async_wakeup);
        drop(s);
        if wait.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::select! {
                () = wakeup.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The events this node runs, whose leases it renews: request id -> the lease token of the
/// claim its run holds.
type InFlight = Mutex<HashMap<String, String>>;

/// Waits until an event in flight finishes (every permit is out), or until the engine has a
/// slot again (or a moment: events on their way to the engine take theirs without a signal).
async fn wait_for_room(slots: &Arc<tokio::sync::Semaphore>, engine: &scf_engine::Engine) {
    if slots.available_permits() == 0 {
        if let Ok(p) = Arc::clone(slots).acquire_owned().await {
            drop(p);
        }
    } else {
        tokio::select! {
            () = engine.slot_freed() => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// Runs a claimed event in a task of its own, holding `permit`, with its lease renewed until
/// the run ends (also if it panics).
fn start_run(
    svc: &Arc<Service>,
    e: AsyncEventRecord,
    permit: tokio::sync::OwnedSemaphorePermit,
    in_flight: &Arc<InFlight>,
    turns: &Arc<Turns>,
) {
    let (svc, in_flight) = (Arc::clone(svc), Arc::clone(in_flight));
    lock(&in_flight).insert(e.request_id.clone(), e.lease_token.clone());
    let (id, token) = (e.request_id.clone(), e.lease_token.clone());
    let starting = Starting::new(turns);
    tokio::spawn(async move {
        let _done = Finally::new(move || {
            // Only this run's claim: a later claim of the same event has its own.
            let mut map = lock(&in_flight);
            if map.get(&id) == Some(&token) {
                map.remove(&id);
            }
        });
        run_event(&svc, e, starting).await;
        drop(permit);
    });
}

/// How long until the next queued event is due (at most a second, to look again).
async fn until_next_due(svc: &Service) -> Duration {
    match svc.store.next_async_due().await {
        Ok(Some(due)) => Duration::from_millis((due - clock::steady_ms()).clamp(1, 1000) as u64),
        _ => Duration::from_secs(1),
    }
}

/// Extends the leases of the events this node runs, three times a lease, so that they run out
/// only when the node stops (another node then takes them over).
pub(super) async fn renew_leases(svc: std::sync::Weak<Service>, in_flight: Arc<InFlight>) {
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
    let Some(mut record) = load_record(svc, &mut e).await else {
        return;
    };
    let (t, event) = match runnable(svc, &mut record, &e).await {
        Ok(Some(ready)) => ready,
        Ok(None) => return,
        Err(why) => {
            end(&mut record, &mut e, AsyncStatus::Failed, Some(why));
            persist(svc, &record, &e).await;
            return;
        }
    };
    // Held until the run ends: an update meanwhile must not remove the package under it.
    let _code = match svc.ensure_code(&t.record.code_sha256).await {
        Ok(pin) => pin,
        Err(err) => {
            retry_or_fail(svc, &mut record, &mut e, err.message);
            persist(svc, &record, &e).await;
            return;
        }
    };
    let key = &e.function;
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
        not_its_turn(&turns, &mut e);
        persist(svc, &record, &e).await;
        return;
    }
    lock(&turns.refused).remove(&e.function.scope.app_id);
    // TerminateAsyncEvent may have ended it meanwhile: that verdict stands.
    if aborted(svc, &e).await {
        return;
    }
    match outcome {
        Ok(o) => settle_run(svc, &mut record, &mut e, &t, o),
        Err(err) => retry_or_fail(svc, &mut record, &mut e, err.to_string()),
    }
    persist(svc, &record, &e).await;
}

/// The event's request record (a new one if it was never written); `None` when the store
/// cannot say, after putting the event back in the queue for a second later.
async fn load_record(svc: &Arc<Service>, e: &mut AsyncEventRecord) -> Option<RequestRecord> {
    match svc.store.get_request(&e.function, &e.request_id).await {
        Ok(Some(r)) => Some(r),
        Ok(None) => Some(RequestRecord::accepted(
            e.function.clone(),
            e.request_id.clone(),
            e.qualifier.clone(),
            true,
            e.start_ms,
        )),
        Err(err) => {
            tracing::error!(error = %err, request_id = %e.request_id, "cannot load an async request; it stays queued");
            e.status = AsyncStatus::Queued;
            e.next_run_ms = clock::steady_ms() + 1000;
            let _ = svc.store.update_async(e).await;
            None
        }
    }
}

/// What the event runs, and its payload; `Err` with the reason it cannot run at all (expired
/// in the queue, the function or version gone, a payload that is not JSON), `Ok(None)` when
/// it was terminated while it waited (it must not run, and its verdict stands).
async fn runnable(
    svc: &Arc<Service>,
    record: &mut RequestRecord,
    e: &AsyncEventRecord,
) -> Result<Option<(Target, Box<RawValue>)>, String> {
    if e.attempts == 1 && !e.resumed && clock::settled_ms() > e.expires_ms {
        return Err("The event expired in the queue (MsgTTL) before it could run.".into());
    }
    record.retry_num = e.attempts - 1;
    let Some(t) = current_target(svc, &e.function, &e.qualifier).await else {
        return Err("The function or version no longer exists.".into());
    };
    let Ok(event) = RawValue::from_string(e.payload.clone()) else {
        return Err("The stored event is not JSON.".into());
    };
    if aborted(svc, e).await {
        return Ok(None);
    }
    Ok(Some((t, event)))
}

/// The function (or the version `qualifier` names) as it is now; `None` once deleted.
async fn current_target(svc: &Service, key: &FunctionKey, qualifier: &str) -> Option<Target> {
    let f = svc.store.get_function(key).await.ok().flatten()?;
    if qualifier == "$LATEST" {
        return Some(Target {
            record: f,
            version: "$LATEST".into(),
        });
    }
    let v = svc
        .store
        .get_version(&f.key, qualifier)
        .await
        .ok()
        .flatten()?;
    Some(Target {
        record: v.function,
        version: v.version,
    })
}

/// Whether TerminateAsyncEvent has ended the event.
async fn aborted(svc: &Service, e: &AsyncEventRecord) -> bool {
    matches!(
        svc.store.get_async(&e.function.scope, &e.request_id).await,
        Ok(Some(now)) if now.status == AsyncStatus::Aborted
    )
}

/// Ends the event with `status`, failing its request with `message` if there is one.
fn end(
    record: &mut RequestRecord,
    e: &mut AsyncEventRecord,
    status: AsyncStatus,
    message: Option<String>,
) {
    if let Some(m) = message {
        record.fail(&m, now_ms());
    }
    e.status = status;
    e.end_ms = Some(now_ms());
}

/// A platform failure before the function ran (its package could not be fetched, no instance
/// could start) spends a retry like a failed run, rather than ending the event.
fn retry_or_fail(
    svc: &Service,
    record: &mut RequestRecord,
    e: &mut AsyncEventRecord,
    message: String,
) {
    if e.attempts - 1 < e.max_retries {
        record.retry_num = e.attempts - 1;
        e.status = AsyncStatus::Queued;
        e.next_run_ms = clock::steady_ms() + svc.settings.async_retry_interval.as_millis() as i64;
    } else {
        end(record, e, AsyncStatus::Failed, Some(message));
    }
}

/// The engine had no slot for it: back to the queue without spending an attempt, later the
/// more often its account was refused in a row.
fn not_its_turn(turns: &Turns, e: &mut AsyncEventRecord) {
    let refused = {
        let mut refused = lock(&turns.refused);
        let n = refused.entry(e.function.scope.app_id).or_default();
        *n = (*n + 1).min(MAX_TURNS_APART);
        *n
    };
    e.status = AsyncStatus::Queued;
    // The claim counted an attempt that did not run.
    e.attempts -= 1;
    e.next_run_ms = clock::steady_ms() + (NOT_ITS_TURN * refused).as_millis() as i64;
}

/// Records a run that happened: done, or failed and retried later, or failed for good.
fn settle_run(
    svc: &Service,
    record: &mut RequestRecord,
    e: &mut AsyncEventRecord,
    t: &Target,
    o: Outcome,
) {
    settle(svc, record, &t.record, o);
    record.retry_num = e.attempts - 1;
    if record.outcome == scf_store::RequestOutcome::Succeeded {
        e.status = AsyncStatus::Finished;
        e.end_ms = Some(now_ms());
    } else if e.attempts - 1 < e.max_retries {
        // Failed; another run later. The request is still running as far as anyone asking is
        // concerned.
        record.outcome = scf_store::RequestOutcome::Running;
        e.status = AsyncStatus::Queued;
        e.next_run_ms = clock::steady_ms() + svc.settings.async_retry_interval.as_millis() as i64;
    } else {
        e.status = AsyncStatus::Failed;
        e.end_ms = Some(now_ms());
    }
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
