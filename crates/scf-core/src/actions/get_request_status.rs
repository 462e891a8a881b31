//! GetRequestStatus: what became of one request, from the moment it was accepted.

use super::create_function::function_not_found;
use crate::invocation::namespace_or_default;
use crate::rules;
use crate::service::{Caller, Service, now_ms};
use scf_store::RequestRecord;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub function_request_id: String,
    pub namespace: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
}

/// The default window when no times are given (reference §9).
const DEFAULT_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Request ids scfd hands out are UUIDs; anything else cannot name a request.
pub(crate) fn is_request_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `[from, to]` in Unix ms from StartTime/EndTime: both or neither; `default_window` back from
/// now when neither.
pub(crate) fn window(
    svc: &Service,
    start: Option<&str>,
    end: Option<&str>,
    default_window: i64,
) -> Result<(i64, i64), ApiError> {
    let start = start.filter(|s| !s.is_empty());
    let end = end.filter(|s| !s.is_empty());
    let offset = svc.settings.time_offset_seconds;
    let parse = |s: &str, name: &str| {
        scf_types::time::parse_datetime(s, offset).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameterValueDateTime,
                format!("{name} `{s}` is not a time like 2017-05-16 20:00:00."),
            )
        })
    };
    match (start, end) {
        (None, None) => {
            let now = now_ms();
            Ok((now - default_window, now))
        }
        (Some(s), Some(e)) => {
            let (from, to) = (parse(s, "StartTime")?, parse(e, "EndTime")?);
            if to <= from {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValueStartTime,
                    "StartTime must be earlier than EndTime.",
                ));
            }
            // Both are whole seconds: the end second counts in full.
            Ok((from, to + 999))
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidParameterValueStartTimeOrEndTime,
            "StartTime and EndTime must be given together.",
        )),
    }
}

/// The RequestStatus view of a record.
pub(crate) fn view(svc: &Service, r: &RequestRecord) -> Value {
    json!({
        "FunctionName": r.function.name,
        "RetMsg": r.ret_msg,
        "RequestId": r.request_id,
        "StartTime": svc.format_time(r.start_ms),
        "RetCode": r.ret_code,
        "Duration": r.duration_ms,
        // MB, as the field's documentation says (the reference notes the doubt).
        "MemUsage": r.mem_usage_bytes as f64 / (1024.0 * 1024.0),
        "RetryNum": r.retry_num,
    })
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    if rules::function_name(&req.function_name).is_err() {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueFunctionName,
            format!(
                "FunctionName `{}` is not a valid function name.",
                req.function_name
            ),
        ));
    }
    let (from, to) = window(
        svc,
        req.start_time.as_deref(),
        req.end_time.as_deref(),
        DEFAULT_WINDOW_MS,
    )?;
    let namespace = namespace_or_default(req.namespace.as_deref());
    let key = caller.function_key(Some(namespace), &req.function_name);
    // In flight here (or its outcome not yet written, the store being down): answered from
    // memory, without the store. The key holds the caller's account: no one else's.
    let running = svc.running.get(&key, &req.function_request_id);
    if running.is_none()
        && (!rules::plausible_name(namespace) || !svc.store.function_exists(&key).await?)
    {
        return Err(function_not_found(&req.function_name));
    }
    if !is_request_id(&req.function_request_id) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueFunctionRequestId,
            format!(
                "FunctionRequestId `{}` is not a request id.",
                req.function_request_id
            ),
        ));
    }
    // In flight here first: an entry leaves only once its outcome is in the store.
    let found = match running {
        Some(r) => Some(r),
        None => {
            svc.store
                .get_request(&key, &req.function_request_id)
                .await?
        }
    }
    .filter(|r| r.start_ms >= from && r.start_ms <= to);
    let data: Vec<Value> = found.iter().map(|r| view(svc, r)).collect();
    let mut out = Map::new();
    out.insert("TotalCount".into(), json!(data.len()));
    out.insert("Data".into(), Value::Array(data));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(is_request_id("a63607c3-581f-4be9-8c4b-631c75909f07"));
        assert!(!is_request_id("a63607c3581f4be98c4b631c75909f07"));
        assert!(!is_request_id("not-a-request-id"));
        assert!(!is_request_id("g63607c3-581f-4be9-8c4b-631c75909f07"));
    }
}
