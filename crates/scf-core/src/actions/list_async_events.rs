//! ListAsyncEvents: a function's async events, filtered, sorted and paged.

use super::get_async_event_status::status_word;
use crate::lookup::load;
use super::paging;
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::choices::Order;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
    pub qualifier: Option<String>,
    pub invoke_type: Option<Vec<String>>,
    pub status: Option<Vec<String>>,
    pub start_time_interval: Option<TimeInterval>,
    pub end_time_interval: Option<TimeInterval>,
    pub order: Option<Order>,
    pub orderby: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    pub invoke_request_id: Option<String>,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct TimeInterval {
    pub start: String,
    pub end: String,
}

const STATUSES: &[&str] = &["RUNNING", "FINISHED", "ABORTED", "FAILED"];
/// SCF's trigger kinds; API calls are `OTHERS`.
const INVOKE_TYPES: &[&str] = &[
    "OTHERS",
    "TRIGGER_TIMER",
    "COS",
    "CMQ",
    "CKAFKA",
    "APIGW",
    "CLS",
    "MPS",
    "CM",
    "VOD",
    "EB",
];
const MAX_LIMIT: i64 = 100;

fn interval(svc: &Service, i: Option<&TimeInterval>) -> Result<Option<(i64, i64)>, ApiError> {
    let Some(i) = i else { return Ok(None) };
    let offset = svc.settings.time_offset_seconds;
    let parse = |s: &str| {
        scf_types::time::parse_datetime(s, offset).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameterValueDateTime,
                format!("`{s}` is not a time like 2020-12-01 08:35:00."),
            )
        })
    };
    Ok(Some((parse(&i.start)?, parse(&i.end)?)))
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    if req.limit.is_some_and(|l| l > MAX_LIMIT) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueLimit,
            format!("Limit must be at most {MAX_LIMIT}."),
        ));
    }
    let (offset, limit) = paging::page(req.offset, req.limit)?;
    let statuses = req.status.unwrap_or_default();
    if let Some(bad) = statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueStatus,
            format!("Status `{bad}` is invalid: use RUNNING, FINISHED, ABORTED or FAILED."),
        ));
    }
    let types = req.invoke_type.unwrap_or_default();
    if let Some(bad) = types.iter().find(|t| !INVOKE_TYPES.contains(&t.as_str())) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueInvokeType,
            format!("InvokeType `{bad}` is invalid."),
        ));
    }
    let by_end = match req.orderby.as_deref() {
        None | Some("") | Some("StartTime") => false,
        Some("EndTime") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueOrderBy,
                format!("Orderby `{other}` is invalid: use StartTime or EndTime."),
            ));
        }
    };
    let desc = Order::descending(req.order, true);
    let started = interval(svc, req.start_time_interval.as_ref())?;
    let ended = interval(svc, req.end_time_interval.as_ref())?;
    let qualifier = req.qualifier.filter(|q| !q.is_empty());
    let id = req.invoke_request_id.filter(|i| !i.is_empty());
    let mut events = svc.store.list_async(&f.key).await?;
    events.retain(|e| {
        qualifier.as_deref().is_none_or(|q| e.qualifier == q)
            && id.as_deref().is_none_or(|i| e.request_id == i)
            && (statuses.is_empty() || statuses.iter().any(|s| s == status_word(e.status)))
            && (types.is_empty() || types.contains(&e.invoke_type))
            && started.is_none_or(|(a, b)| e.start_ms >= a && e.start_ms < b)
            && ended.is_none_or(|(a, b)| e.end_ms.is_some_and(|t| t >= a && t < b))
    });
    if by_end {
        events.sort_by_key(|e| (e.end_ms.unwrap_or(i64::MAX), e.start_ms));
    } else {
        events.sort_by_key(|e| e.start_ms);
    }
    if desc {
        events.reverse();
    }
    let total = events.len();
    let offset_s = svc.settings.time_offset_seconds;
    let list: Vec<Value> = paging::slice(events, offset, limit)
        .iter()
        .map(|e| {
            json!({
                "InvokeRequestId": e.request_id,
                "InvokeType": e.invoke_type,
                "Qualifier": e.qualifier,
                "Status": status_word(e.status),
                "StartTime": scf_types::time::format_datetime_ms(e.start_ms, offset_s),
                "EndTime": e.end_ms.map(|t| scf_types::time::format_datetime_ms(t, offset_s)).unwrap_or_default(),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("TotalCount".into(), json!(total));
    out.insert("EventList".into(), Value::Array(list));
    Ok(out)
}
