//! What an invocation produced, written into its record.

use super::*;
use scf_store::{ErrorKind, RequestOutcome};

/// BillDuration: the duration rounded up to a multiple of 100 ms, at least 100 (reference §6
/// FunctionLog).
pub fn bill_duration(duration_ms: f64) -> i64 {
    (((duration_ms / 100.0).ceil() as i64).max(1)) * 100
}

pub(super) fn tail(log: &str, bytes: usize) -> &str {
    if log.len() <= bytes {
        return log;
    }
    let mut start = log.len() - bytes;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// SCF's log layout: START, the function's output (`body`), END, and a Report line with the
/// figures.
pub(super) fn format_log(
    request_id: &str,
    f: &FunctionRecord,
    mut body: String,
    o: &Outcome,
    budget: &LogBudget,
) -> String {
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

/// The record's outcome for what the run produced.
pub(super) fn outcome_of(o: &Outcome) -> RequestOutcome {
    RequestOutcome::Failed(match (&o.run.result, &o.run.failure) {
        (Ok(_), _) => return RequestOutcome::Succeeded,
        (Err(_), None) => ErrorKind::UserCodeException,
        (Err(_), Some(Failure::Timeout)) => ErrorKind::TimeLimitExceeded,
        (Err(_), Some(Failure::MemoryLimit)) => ErrorKind::ResourceLimitExceeded,
        (Err(_), Some(_)) => ErrorKind::PlatformError,
    })
}

/// A sync invocation refused by a concurrency cap: which one, and what the caller can do.
pub(super) fn concurrency_message(function: &str, limit: scf_engine::Limit) -> String {
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

/// Writes an outcome into a record, moving its result and log (up to 6 MB and 64 KB) there.
pub(super) fn settle(
    svc: &Service,
    record: &mut RequestRecord,
    f: &FunctionRecord,
    mut o: Outcome,
) {
    record.outcome = outcome_of(&o);
    let log = std::mem::take(&mut o.run.log);
    record.log = format_log(&record.request_id, f, log, &o, &svc.log_budget);
    match o.run.result {
        Ok(v) => {
            record.ret_msg = v;
            record.err_msg.clear();
        }
        Err(e) => {
            // SCF answers a failure's message as both RetMsg and ErrMsg.
            record.err_msg.clone_from(&e);
            record.ret_msg = e;
        }
    }
    record.duration_ms = o.run.duration_ms;
    record.mem_usage_bytes = o.run.mem_bytes;
    record.end_ms = Some(now_ms());
    record.cold_start = o.cold_start;
    record.init_duration_ms = o.init_ms;
    observe(record);
}

/// Counts an ended invocation in the metrics (a no-op unless a recorder is installed).
pub(super) fn observe(r: &RequestRecord) {
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
        if r.outcome == RequestOutcome::Succeeded {
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

/// Writes a sync request's outcome, trying again twice on a store error (a busy or restarting
/// database): once the request leaves the in-flight map, the store is the only place where it
/// can be found.
pub(super) async fn put_outcome(
    svc: &Service,
    record: &RequestRecord,
) -> Result<(), scf_store::StoreError> {
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
