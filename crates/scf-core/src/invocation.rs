//! Running functions: resolving what to run, recording every request before it runs, the
//! synchronous path, the durable async queue and its dispatcher, retries, and recovery after a
//! restart.
//!
//! A request's record is written with RetCode 1 before the function starts (for an async
//! request, together with its queue entry, before Invoke answers), and rewritten with the
//! outcome when it ends. After a crash, `recover` fails the synchronous requests that were in
//! flight (nobody waits for them any more) and puts running async events back in the queue, so
//! every accepted async request reaches a final state (at least once).

use crate::clock;
use crate::log_budget::LogBudget;
use crate::service::{Caller, Service, now_ms};
use scf_engine::instance::Failure;
use scf_engine::{EngineError, FunctionSpec, Outcome};
use scf_store::{AsyncEventRecord, AsyncStatus, FunctionKey, FunctionRecord, RequestRecord, Scope};
use scf_types::{ApiError, ErrorCode};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SCF's payload caps (reference §9).
pub const MAX_SYNC_EVENT_BYTES: usize = 6 << 20;
pub const MAX_ASYNC_EVENT_BYTES: usize = 128 << 10;
/// The log kept per request; LogType Tail returns the last [`TAIL_BYTES`] of it.
const MAX_LOG_BYTES: usize = 64 << 10;
const TAIL_BYTES: usize = 4 << 10;
/// SCF's defaults for async retries (GetAccount: RetryNumLimit 2; MsgTTL up to 21600 s).
pub const DEFAULT_RETRY_NUM: i64 = 2;
pub const DEFAULT_MSG_TTL_SECS: i64 = 21_600;
/// Events claimed by the dispatcher per round.
const CLAIM_BATCH: usize = 64;

/// A sync request still running after this long had its node stop for good (SCF's longest
/// run is 900 s, plus its init): any node marks it failed.
const STALE_SYNC_MS: i64 = 30 * 60 * 1000;
pub const LOST_MESSAGE: &str =
    "The node running this request stopped; its outcome is unknown. Invoke it again.";

pub const RESTARTED_MESSAGE: &str = "The platform restarted while this request was running; its outcome is unknown. Invoke it again.";

/// What an Invoke will run: a version of a function.
pub(crate) struct Target {
    pub record: FunctionRecord,
    /// `$LATEST` or a version number.
    pub version: String,
}

/// Resolves `qualifier` (`$LATEST`, `$DEFAULT`, or a published version number).
pub(crate) async fn resolve(
    svc: &Arc<Service>,
    caller: &Caller,
    namespace: Option<&str>,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Target, ApiError> {
    let latest = crate::lookup::load(svc, caller, namespace, name).await?;
    match qualifier.filter(|q| !q.is_empty()) {
        // No aliases are served: $DEFAULT points at $LATEST, as it does for a new function.
        None | Some("$LATEST") | Some("$DEFAULT") => Ok(Target {
            record: latest,
            version: "$LATEST".into(),
        }),
        Some(q) => match svc.store.get_version(&latest.key, q).await? {
            Some(v) => Ok(Target {
                record: v.function,
                version: v.version,
            }),
            None => Err(ApiError::new(
                ErrorCode::ResourceNotFoundQualifier,
                format!("Version or alias `{q}` of function `{name}` does not exist."),
            )),
        },
    }
}

/// The reserved concurrency of a function, as a count of instances.
pub(crate) fn max_concurrency(f: &FunctionRecord) -> Option<u32> {
    let reserved = f.extra.get("ReservedConcurrencyMem")?.as_u64()?;
    Some((reserved / (f.memory_size.max(64) as u64)) as u32)
}

fn spec(svc: &Service, caller_scope: &Scope, uin: &str, t: &Target) -> FunctionSpec {
    let f = &t.record;
    let k = &f.key;
    let mut env: Vec<(String, String)> = vec![
        ("SCF_FUNCTIONNAME".into(), k.name.clone()),
        ("SCF_FUNCTIONVERSION".into(), t.version.clone()),
        ("SCF_NAMESPACE".into(), k.namespace.clone()),
        ("SCF_RUNTIME".into(), f.runtime.clone()),
        ("SCF_MEMORY_SIZE".into(), f.memory_size.to_string()),
        ("SCF_TIMEOUT".into(), f.timeout.to_string()),
        ("TENCENTCLOUD_REGION".into(), caller_scope.region.clone()),
        ("TENCENTCLOUD_APPID".into(), caller_scope.app_id.to_string()),
        ("TENCENTCLOUD_UIN".into(), uin.to_string()),
        ("TENCENTCLOUD_TZ".into(), "UTC".into()),
        ("TENCENTCLOUD_RUNENV".into(), "SCF".into()),
        ("_HANDLER".into(), f.handler.clone()),
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("HOME".into(), "/tmp".into()),
        ("TMPDIR".into(), "/tmp".into()),
    ];
    let code_root = svc
        .engine
        .sandbox()
        .code_root(&svc.packages.code_dir(&f.code_sha256));
    let root = code_root.display().to_string();
    if f.runtime.starts_with("Python") {
        env.push(("PYTHONPATH".into(), format!("{root}:/opt")));
        env.push(("PYTHONDONTWRITEBYTECODE".into(), "x".into()));
    } else if f.runtime.starts_with("Nodejs") {
        env.push((
            "NODE_PATH".into(),
            format!("{root}:{root}/node_modules:/opt:/opt/node_modules"),
        ));
    }
    env.extend(f.environment.iter().cloned());
    FunctionSpec {
        account_id: k.scope.app_id.to_string(),
        function_id: engine_function_id(k),
        // The function's id too: a function deleted and made again under the same name, with
        // the same package, must not get the old one's instances (their code folder is gone).
        pool_key: format!(
            "{}/{}/{}/{}@{}#{}#{}:{}:{}:{}:{}:{:?}",
            k.scope.app_id,
            k.scope.region,
            k.namespace,
            k.name,
            t.version,
            f.function_id,
            f.code_sha256,
            f.runtime,
            f.handler,
            f.memory_size,
            f.timeout,
            f.environment
        ),
        runtime: f.runtime.clone(),
        handler: f.handler.clone(),
        memory_mb: f.memory_size as u64,
        timeout: Duration::from_secs(f.timeout.max(1) as u64),
        init_timeout: Duration::from_secs(f.init_timeout.max(1) as u64),
        code_dir: svc.packages.code_dir(&f.code_sha256),
        env,
        max_concurrency: max_concurrency(f),
    }
}

/// The engine's name for a function (all its versions): its concurrency cap, its idle cap and
/// [`drain_instances`] go by it.
fn engine_function_id(k: &FunctionKey) -> String {
    format!(
        "{}/{}/{}/{}",
        k.scope.app_id, k.scope.region, k.namespace, k.name
    )
}

/// Stops this node's idle and spare instances of a function that was deleted or changed
/// (DeleteFunction, UpdateFunctionCode, UpdateFunctionConfiguration), rather than leaving
/// them warm until their keep-alive; its busy ones end with their invocation. Other nodes of
/// a cluster are not told: theirs go at their keep-alive.
pub(crate) fn drain_instances(svc: &Service, k: &FunctionKey) {
    let stopped = svc.engine.drain_function(&engine_function_id(k));
    if stopped > 0 {
        tracing::debug!(function = %k.name, stopped, "stopped the instances of a replaced function");
    }
}

/// SCF's `context` (reference §8.2).
fn context(request_id: &str, t: &Target, scope: &Scope, uin: &str) -> Value {
    let f = &t.record;
    let mut environment: Map<String, Value> = f
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    environment.insert("SCF_NAMESPACE".into(), json!(f.key.namespace));
    let environ = environment
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(";");
    json!({
        "request_id": request_id,
        "function_name": f.key.name,
        "function_version": t.version,
        "namespace": f.key.namespace,
        "memory_limit_in_mb": f.memory_size,
        "time_limit_in_ms": f.timeout * 1000,
        "tencentcloud_region": scope.region,
        "tencentcloud_appid": scope.app_id.to_string(),
        "tencentcloud_uin": uin,
        "environment": Value::Object(environment).to_string(),
        "environ": environ,
    })
}

/// BillDuration: the duration rounded up to a multiple of 100 ms, at least 100 (reference §6
/// FunctionLog).
pub fn bill_duration(duration_ms: f64) -> i64 {
    (((duration_ms / 100.0).ceil() as i64).max(1)) * 100
}

fn tail(log: &str, bytes: usize) -> &str {
    if log.len() <= bytes {
        return log;
    }
    let mut start = log.len() - bytes;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// SCF's log layout: START, the function's output, END, and a Report line with the figures.
fn format_log(request_id: &str, f: &FunctionRecord, o: &Outcome, budget: &LogBudget) -> String {
    let mut body = o.run.log.clone();
    if body.len() > MAX_LOG_BYTES {
        body = format!("[log truncated]\n{}", tail(&body, MAX_LOG_BYTES));
    }
    if !budget.take(f.key.scope.app_id, body.len()) {
        metrics::counter!("scf_log_dropped_total").increment(1);
        body = format!(
            "[log dropped: this account's requests stored more than {} bytes of log in the last \
             minute ([limits] log_bytes_per_minute)]\n",
            budget.per_minute()
        );
    }
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    let init = if o.cold_start {
        format!(" Init Duration: {:.3} ms", o.init_ms)
    } else {
        String::new()
    };
    format!(
        "START RequestId: {request_id}\n{body}END RequestId: {request_id}\nReport RequestId: {request_id} Duration: {:.3} ms Billed Duration: {} ms Memory Size: {} MB Max Memory Used: {:.2} MB{init}\n",
        o.run.duration_ms,
        bill_duration(o.run.duration_ms),
        f.memory_size,
        o.run.mem_bytes as f64 / (1024.0 * 1024.0),
    )
}

fn error_kind(o: &Outcome) -> &'static str {
    match (&o.run.result, &o.run.failure) {
        (Ok(_), _) => "",
        (Err(_), None) => "UserCodeException",
        (Err(_), Some(Failure::Timeout)) => "TimeLimitExceeded",
        (Err(_), Some(Failure::MemoryLimit)) => "ResourceLimitExceeded",
        (Err(_), Some(_)) => "PlatformError",
    }
}

/// A sync invocation refused by a concurrency cap: which one, and what the caller can do.
fn concurrency_message(function: &str, limit: scf_engine::Limit) -> String {
    match limit {
        scf_engine::Limit::Function => format!(
            "Function `{function}` is at its reserved concurrency (PutReservedConcurrencyConfig); retry later."
        ),
        scf_engine::Limit::Account => format!(
            "The account is at its share of this server's instances (`[engine] max_instances_per_account`), so `{function}` cannot start another; retry later."
        ),
        scf_engine::Limit::Server => format!(
            "Every instance of this server is busy (`[engine] max_instances`), so `{function}` cannot start another; retry later."
        ),
    }
}

/// Writes an outcome into a record.
fn settle(svc: &Service, record: &mut RequestRecord, f: &FunctionRecord, o: &Outcome) {
    let (code, msg, err) = match &o.run.result {
        Ok(v) => (0, v.clone(), String::new()),
        Err(e) => (-1, e.clone(), e.clone()),
    };
    record.ret_code = code;
    record.ret_msg = msg;
    record.err_msg = err;
    record.duration_ms = o.run.duration_ms;
    record.mem_usage_bytes = o.run.mem_bytes;
    record.end_ms = Some(now_ms());
    record.log = format_log(&record.request_id, f, o, &svc.log_budget);
    record.cold_start = o.cold_start;
    record.init_duration_ms = o.init_ms;
    record.error_kind = error_kind(o).into();
    observe(record);
}

/// Counts an ended invocation in the metrics (a no-op unless a recorder is installed).
fn observe(r: &RequestRecord) {
    use metrics::Label;
    let k = &r.function;
    let labels = vec![
        Label::new("app_id", k.scope.app_id.to_string()),
        Label::new("namespace", k.namespace.clone()),
        Label::new("function", k.name.clone()),
    ];
    let mut outcome = labels.clone();
    outcome.push(Label::new(
        "kind",
        if r.is_async { "async" } else { "sync" },
    ));
    outcome.push(Label::new(
        "result",
        if r.ret_code == 0 {
            "success"
        } else {
            "failure"
        },
    ));
    metrics::counter!("scf_invocations_total", outcome).increment(1);
    metrics::histogram!("scf_invocation_duration_seconds", labels.clone())
        .record(r.duration_ms / 1000.0);
    metrics::histogram!("scf_invocation_memory_bytes", labels.clone())
        .record(r.mem_usage_bytes as f64);
    if r.cold_start {
        metrics::counter!("scf_cold_starts_total", labels.clone()).increment(1);
        metrics::histogram!("scf_init_duration_seconds", labels)
            .record(r.init_duration_ms / 1000.0);
    }
}

/// Parses an event given as a JSON string; `None` (absent or empty) is `{}`.
pub(crate) fn parse_event(
    text: Option<&str>,
    code: ErrorCode,
    what: &str,
    max: usize,
) -> Result<Box<RawValue>, ApiError> {
    let text = text.filter(|t| !t.trim().is_empty()).unwrap_or("{}");
    if text.len() > max {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterRequestTooLarge,
            format!("{what} is {} bytes; the limit is {max} bytes.", text.len()),
        ));
    }
    RawValue::from_string(text.to_string())
        .map_err(|e| ApiError::new(code, format!("{what} is not valid JSON: {e}.")))
}

fn require_active(t: &Target) -> Result<(), ApiError> {
    if t.record.status == "Active" {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::FailedOperationFunctionStatusError,
            format!(
                "Function `{}` is {}, not Active; it cannot run yet.",
                t.record.key.name, t.record.status
            ),
        ))
    }
}

/// Runs its closure when dropped, also while a panic unwinds through it.
struct Finally<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Finally<F> {
    fn new(f: F) -> Self {
        Finally(Some(f))
    }
}

impl<F: FnOnce()> Drop for Finally<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Writes a sync request's outcome, trying again twice on a store error (a busy or restarting
/// database): once the request leaves the in-flight map, the store is the only place where it
/// can be found.
async fn put_outcome(svc: &Service, record: &RequestRecord) -> Result<(), scf_store::StoreError> {
    let mut pause = Duration::from_millis(20);
    for _ in 0..2 {
        match svc.store.put_request(record).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, request_id = %record.request_id, "cannot record an outcome; trying again")
            }
        }
        tokio::time::sleep(pause).await;
        pause *= 5;
    }
    match svc.store.put_request(record).await {
        Err(e) if svc.running.hold(record) => {
            // The run happened: its caller gets the result, this node answers for it, and
            // the outcome goes to the store when it is back (`running::flush_loop`).
            tracing::warn!(error = %e, request_id = %record.request_id, "cannot record an outcome; holding it until the store is back");
            Ok(())
        }
        other => other,
    }
}

/// Runs a synchronous invocation and returns Invoke's `Result`.
pub(crate) async fn invoke_sync(
    svc: &Arc<Service>,
    caller: &Caller,
    t: Target,
    event: Box<RawValue>,
    log_tail: bool,
) -> Result<Map<String, Value>, ApiError> {
    require_active(&t)?;
    // Held until the run ends: an update meanwhile must not remove the package under it.
    let code = svc.ensure_code(&t.record.code_sha256).await?;
    // v7: time-ordered, so records append at the end of the primary-key index.
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut record = RequestRecord::accepted(
        t.record.key.clone(),
        request_id.clone(),
        t.version.clone(),
        false,
        now_ms(),
    );
    record.node = svc.settings.node.clone();
    // In flight on this node (GetRequestStatus sees it); the store gets its outcome, and a
    // running record only if it runs long (see `running`).
    svc.running.start(&record);
    let spec = spec(svc, &caller.scope, &caller.uin, &t);
    let ctx = context(&request_id, &t, &caller.scope, &caller.uin);
    // The run and its record go on in a task of their own: a client that hangs up must not
    // cancel them half-way (the record would stay at RetCode 1, the instance killed mid-run).
    let svc2 = Arc::clone(svc);
    let run = tokio::spawn(async move {
        let _code = code;
        // Leaves the in-flight map when this task ends, after the outcome's write (and also if
        // anything below panics: a request must not read as running forever).
        let in_flight = (Arc::clone(&svc2), request_id.clone());
        let _finished = Finally::new(move || in_flight.0.running.finish(&in_flight.1));
        let outcome = match svc2
            .engine
            .invoke(&spec, &request_id, &event, &ctx, false)
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let message = match &e {
                    EngineError::Concurrency(limit) => {
                        concurrency_message(&t.record.key.name, *limit)
                    }
                    EngineError::Runtime(m) => m.clone(),
                };
                record.ret_code = -1;
                record.ret_msg = message.clone();
                record.err_msg = message.clone();
                record.end_ms = Some(now_ms());
                record.error_kind = "PlatformError".into();
                put_outcome(&svc2, &record).await?;
                return Err(match e {
                    EngineError::Concurrency(_) => {
                        ApiError::new(ErrorCode::LimitExceededQuota, message)
                    }
                    EngineError::Runtime(_) => {
                        ApiError::new(ErrorCode::FailedOperationInvokeFunction, message)
                    }
                });
            }
        };
        settle(&svc2, &mut record, &t.record, &outcome);
        put_outcome(&svc2, &record).await?;
        Ok(record)
    });
    let record = run.await.map_err(crate::service::internal)??;
    let request_id = record.request_id.clone();
    let mut out = Map::new();
    out.insert(
        "Result".into(),
        json!({
            "FunctionRequestId": request_id,
            "RetMsg": record.ret_msg,
            "ErrMsg": record.err_msg,
            "MemUsage": record.mem_usage_bytes,
            "Duration": record.duration_ms,
            "BillDuration": bill_duration(record.duration_ms),
            "Log": if log_tail { tail(&record.log, TAIL_BYTES).to_string() } else { String::new() },
            "InvokeResult": if record.ret_code == 0 { 0 } else { -1 },
        }),
    );
    Ok(out)
}

/// The function's async retry settings: (retries after a failed run, MsgTTL seconds).
pub(crate) fn async_settings(f: &FunctionRecord) -> (i64, i64) {
    let cfg = f.extra.get("AsyncTriggerConfig");
    let retries = cfg
        .and_then(|c| c.get("RetryConfig"))
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("RetryNum"))
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_RETRY_NUM);
    let ttl = cfg
        .and_then(|c| c.get("MsgTTL"))
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_MSG_TTL_SECS);
    (retries, ttl)
}

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
const MAX_IN_FLIGHT: usize = 256;

/// An event the engine cannot start at once (its account at its share of the server, its
/// function at its reserved concurrency, the server full) goes back to the queue as the same
/// attempt, due again after this times the refusals its account had in a row (at most
/// [`MAX_TURNS_APART`] times): it holds no lease and no place in the engine meanwhile, so other
/// accounts' events and other nodes are not held up behind it, and a long backlog comes back
/// spread out rather than all at once (the queue is claimed in due order, whatever the account).
const NOT_ITS_TURN: Duration = Duration::from_millis(250);
const MAX_TURNS_APART: u32 = 16;

/// What the dispatcher knows of the events it claimed.
#[derive(Default)]
struct Turns {
    /// Claimed and not yet handed to the engine.
    starting: AtomicUsize,
    /// Refusals in a row per account (app id), since one of its events last started.
    refused: Mutex<HashMap<u64, u32>>,
}

/// Counts an event claimed but not yet handed to the engine, until dropped.
struct Starting(Arc<Turns>);

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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Extends the leases of the events this node runs, three times a lease, so that they run out
/// only when the node stops (another node then takes them over).
async fn renew_leases(
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
async fn run_event(svc: &Arc<Service>, mut e: AsyncEventRecord, starting: Starting) {
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
            record.ret_code = -1;
            record.ret_msg = m.clone();
            record.err_msg = m;
            record.end_ms = Some(now_ms());
            record.error_kind = "PlatformError".into();
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
            settle(svc, &mut record, &t.record, &o);
            record.retry_num = e.attempts - 1;
            if o.run.result.is_ok() {
                e.status = AsyncStatus::Finished;
                e.end_ms = Some(now_ms());
            } else if e.attempts - 1 < e.max_retries {
                // Failed; another run later. The request is still running as far as anyone
                // asking is concerned.
                record.ret_code = 1;
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
async fn persist(svc: &Arc<Service>, record: &RequestRecord, e: &AsyncEventRecord) {
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

/// After a restart: in-flight sync requests fail, running async events go back to the queue.
pub(crate) async fn recover(svc: &Arc<Service>) -> Result<(u64, u64), ApiError> {
    let now = now_ms();
    let failed = svc
        .store
        .fail_running_sync_requests(
            &svc.settings.node,
            clock::settled_ms() - STALE_SYNC_MS,
            RESTARTED_MESSAGE,
            now,
        )
        .await?;
    let requeued = svc
        .store
        .requeue_running_async(&svc.settings.node, clock::steady_ms())
        .await?;
    Ok((failed, requeued))
}

/// Purges records older than the retention, every `purge_interval` (a minute by default).
pub(crate) async fn purge_loop(svc: std::sync::Weak<Service>) {
    loop {
        let Some(s) = svc.upgrade() else { return };
        let (now, settled) = (now_ms(), clock::settled_ms());
        // Sync requests of a node that stopped and never came back. Their age is judged on
        // the settled clock: a wall clock set forward must not fail a live request.
        match s
            .store
            .fail_running_sync_requests("", settled - STALE_SYNC_MS, LOST_MESSAGE, now)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(failed = n, "failed sync requests whose node is gone"),
            Err(e) => tracing::warn!(error = %e, "cannot fail the sync requests of gone nodes"),
        }
        // Nor may it purge what is younger than the retention in real time.
        let before = settled - s.settings.retention.as_millis() as i64;
        // In short batches, each its own transaction: the writes queued behind one wait
        // milliseconds, not the whole purge (BENCHMARKS.md, "The retention purge").
        let mut purged = 0;
        loop {
            match s.store.purge_batch(before, scf_store::PURGE_BATCH).await {
                Ok(n) => {
                    purged += n;
                    if n < u64::from(scf_store::PURGE_BATCH) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "purge failed");
                    break;
                }
            }
        }
        if purged > 0 {
            tracing::info!(purged, "purged request records past retention");
        }
        let every = s.settings.purge_interval.max(Duration::from_millis(100));
        drop(s);
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bill_durations() {
        assert_eq!(bill_duration(0.0), 100);
        assert_eq!(bill_duration(0.826), 100);
        assert_eq!(bill_duration(100.0), 100);
        assert_eq!(bill_duration(100.1), 200);
        assert_eq!(bill_duration(2999.0), 3000);
    }

    #[test]
    fn events() {
        assert_eq!(
            parse_event(None, ErrorCode::InvalidParameterValueParam, "Event", 10)
                .expect("default")
                .get(),
            "{}"
        );
        assert_eq!(
            parse_event(
                Some(" "),
                ErrorCode::InvalidParameterValueParam,
                "Event",
                10
            )
            .expect("default")
            .get(),
            "{}"
        );
        assert_eq!(
            parse_event(
                Some("{oops"),
                ErrorCode::InvalidParameterValueParam,
                "Event",
                10
            )
            .expect_err("bad")
            .code,
            ErrorCode::InvalidParameterValueParam
        );
        assert_eq!(
            parse_event(
                Some("[1,2,3,4,5,6]"),
                ErrorCode::InvalidParameterValueParam,
                "Event",
                10
            )
            .expect_err("big")
            .code,
            ErrorCode::InvalidParameterRequestTooLarge
        );
    }

    #[test]
    fn tails_respect_char_boundaries() {
        assert_eq!(tail("héllo", 3), "llo");
        assert_eq!(tail("hé", 1), "");
        assert_eq!(tail("abc", 10), "abc");
    }
}
