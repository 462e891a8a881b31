//! GetRequestStatus: what became of one request, from the moment it was accepted.

use crate::lookup::function_not_found;
use crate::service::namespace_or_default;
use crate::rules;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_store::RequestRecord;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
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
    let offset = svc.settings.time_offset_seconds;
    window_at(offset, now_ms(), start, end, default_window)
}

/// [`window`] for times at `offset` seconds east of UTC, with `now` given.
fn window_at(
    offset: i32,
    now: i64,
    start: Option<&str>,
    end: Option<&str>,
    default_window: i64,
) -> Result<(i64, i64), ApiError> {
    let start = start.filter(|s| !s.is_empty());
    let end = end.filter(|s| !s.is_empty());
    let parse = |s: &str, name: &str| {
        scf_types::time::parse_datetime(s, offset).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameterValueDateTime,
                format!("{name} `{s}` is not a time like 2017-05-16 20:00:00."),
            )
        })
    };
    match (start, end) {
        (None, None) => Ok((now - default_window, now)),
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
        "RetCode": r.outcome.ret_code(),
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
    use proptest::prelude::*;
    use scf_types::time::format_datetime;

    /// Unix ms from 1970 into the year 9996: four-digit years (what `YYYY` can hold) at any
    /// offset within a day.
    fn instant() -> impl Strategy<Value = i64> {
        0..253_300_000_000_000_i64
    }

    fn offset() -> impl Strategy<Value = i32> {
        -86_399..=86_399_i32
    }

    fn code(r: Result<(i64, i64), ApiError>) -> ErrorCode {
        r.expect_err("refused").code
    }

    proptest! {
        /// Given both times: from their first millisecond to the end second's last, in
        /// whole seconds; refused unless StartTime is earlier. A request's StartTime string
        /// is inside exactly when it sorts between the two strings (the same format, so the
        /// strings compare as the times do), whatever the offset.
        #[test]
        fn both_times_cover_whole_seconds(
            a in instant(), b in instant(), t in instant(), offset in offset(),
            now in instant(), default_window in 0..86_400_000_i64,
        ) {
            let (start, end) = (format_datetime(a, offset), format_datetime(b, offset));
            let got = window_at(offset, now, Some(&start), Some(&end), default_window);
            let (a_s, b_s) = (a.div_euclid(1000) * 1000, b.div_euclid(1000) * 1000);
            if b_s <= a_s {
                prop_assert_eq!(code(got), ErrorCode::InvalidParameterValueStartTime);
                return Ok(());
            }
            let (from, to) = got.expect("a valid window");
            prop_assert_eq!((from, to), (a_s, b_s + 999));
            prop_assert_eq!(format_datetime(from, offset), start.clone());
            prop_assert_eq!(format_datetime(to, offset), end.clone());
            let stamp = format_datetime(t, offset);
            prop_assert_eq!(
                from <= t && t <= to,
                start <= stamp && stamp <= end,
                "{} in [{}, {}]", stamp, start, end
            );
        }

        /// Neither time (or only empty strings): the default window back from now. One
        /// alone: refused with StartTimeOrEndTime, whatever it holds.
        #[test]
        fn neither_or_one_time(
            a in instant(), offset in offset(), now in instant(),
            default_window in 0..86_400_000_i64, empty_start in any::<bool>(),
            empty_end in any::<bool>(), junk in "\\PC{0,24}",
        ) {
            let none = |empty: bool| empty.then_some("");
            prop_assert_eq!(
                window_at(offset, now, none(empty_start), none(empty_end), default_window)
                    .expect("the default window"),
                (now - default_window, now)
            );
            let time = format_datetime(a, offset);
            for one in [time.as_str(), junk.as_str()].into_iter().filter(|s| !s.is_empty()) {
                for (start, end) in [(Some(one), none(empty_end)), (none(empty_start), Some(one))] {
                    prop_assert_eq!(
                        code(window_at(offset, now, start, end, default_window)),
                        ErrorCode::InvalidParameterValueStartTimeOrEndTime
                    );
                }
            }
        }

        /// A time that is not `YYYY-MM-DD HH:MM:SS` (any other text, or a valid one with a
        /// character changed into a non-digit) is InvalidParameterValue.DateTime, on
        /// either side.
        #[test]
        fn malformed_times_are_refused(
            a in instant(), offset in offset(), at in 0..19_usize,
            junk in "\\PC{0,24}", with in "[^0-9]",
        ) {
            let good = format_datetime(a, offset);
            let mut changed = good.clone();
            if changed.is_char_boundary(at) && changed.is_char_boundary(at + 1) {
                changed.replace_range(at..at + 1, &with);
            }
            for bad in [junk, changed] {
                if scf_types::time::parse_datetime(&bad, offset).is_some() || bad.is_empty() {
                    continue;
                }
                for (start, end) in [(bad.as_str(), good.as_str()), (good.as_str(), bad.as_str())] {
                    prop_assert_eq!(
                        code(window_at(offset, 0, Some(start), Some(end), 0)),
                        ErrorCode::InvalidParameterValueDateTime
                    );
                }
            }
        }
    }

    #[test]
    fn request_ids() {
        assert!(is_request_id("a63607c3-581f-4be9-8c4b-631c75909f07"));
        assert!(!is_request_id("a63607c3581f4be98c4b631c75909f07"));
        assert!(!is_request_id("not-a-request-id"));
        assert!(!is_request_id("g63607c3-581f-4be9-8c4b-631c75909f07"));
    }
}
