//! The synchronous path: run, record, answer.

use super::outcome::*;
use super::target::*;
use super::*;

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
                record.fail(&message, now_ms());
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
        settle(&svc2, &mut record, &t.record, outcome);
        put_outcome(&svc2, &record).await?;
        Ok(record)
    });
    let record = run.await.map_err(crate::service::internal)??;
    let mut out = Map::new();
    out.insert("Result".into(), Value::Object(result(record, log_tail)));
    Ok(out)
}

/// Invoke's `Result` from the written record, its RetMsg (up to 6 MB) moved, not copied.
fn result(record: RequestRecord, log_tail: bool) -> Map<String, Value> {
    let log = if log_tail {
        tail(&record.log, TAIL_BYTES).to_string()
    } else {
        String::new()
    };
    let invoke_result = if record.outcome == scf_store::RequestOutcome::Succeeded {
        0
    } else {
        -1
    };
    let mut r = Map::new();
    r.insert("FunctionRequestId".into(), record.request_id.into());
    r.insert("RetMsg".into(), record.ret_msg.into());
    r.insert("ErrMsg".into(), record.err_msg.into());
    r.insert("MemUsage".into(), record.mem_usage_bytes.into());
    r.insert("Duration".into(), record.duration_ms.into());
    r.insert(
        "BillDuration".into(),
        bill_duration(record.duration_ms).into(),
    );
    r.insert("Log".into(), log.into());
    r.insert("InvokeResult".into(), invoke_result.into());
    r
}
