//! GetFunctionLogs: per-request logs of a function, filtered, sorted and paged.

use crate::lookup::function_not_found;
use super::get_request_status::{is_request_id, window};
use crate::invocation::bill_duration;
use crate::service::namespace_or_default;
use crate::rules;
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::choices::Order;
use scf_store::{ErrorKind, FunctionKey, RequestOutcome, RequestRecord};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: Option<String>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
    pub order: Option<Order>,
    pub order_by: Option<OrderBy>,
    pub filter: Option<LogFilter>,
    pub namespace: Option<String>,
    pub qualifier: Option<String>,
    pub function_request_id: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Taken offline by SCF; accepted and ignored.
    #[params(schema = SearchContext)]
    pub search_context: Option<Value>,
}

/// The shape of `SearchContext`, which is accepted and ignored.
#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct SearchContext {
    offset: String,
    limit: u64,
    keyword: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct LogFilter {
    pub ret_code: Option<RetCodeFilter>,
}

scf_types::choice! {
    /// What GetFunctionLogs sorts by.
    pub enum OrderBy(InvalidParameterValueOrderBy, any_case = false) {
        FunctionName = "function_name",
        Duration = "duration",
        MemUsage = "mem_usage",
        /// The default.
        StartTime = "start_time",
    }
}

scf_types::choice! {
    /// `Filter.RetCode`: the requests that succeeded, those that did not, or those that failed
    /// in one way.
    pub enum RetCodeFilter(InvalidParameterValueRetCode, any_case = false) {
        Not0 = "not0",
        Is0 = "is0",
        TimeLimitExceeded = "TimeLimitExceeded",
        ResourceLimitExceeded = "ResourceLimitExceeded",
        UserCodeException = "UserCodeException",
    }
}

impl RetCodeFilter {
    fn admits(self, outcome: RequestOutcome) -> bool {
        let failed_as = |kind| outcome == RequestOutcome::Failed(kind);
        match self {
            RetCodeFilter::Is0 => outcome == RequestOutcome::Succeeded,
            RetCodeFilter::Not0 => outcome != RequestOutcome::Succeeded,
            RetCodeFilter::TimeLimitExceeded => failed_as(ErrorKind::TimeLimitExceeded),
            RetCodeFilter::ResourceLimitExceeded => failed_as(ErrorKind::ResourceLimitExceeded),
            RetCodeFilter::UserCodeException => failed_as(ErrorKind::UserCodeException),
        }
    }
}

/// SCF's cap: Offset + Limit ≤ 10000.
const MAX_WINDOW: i64 = 10_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// `(offset, limit)`: a negative Offset is refused, a Limit of 0 or less means 20, and the
/// page must end within the first [`MAX_WINDOW`] records.
fn page(offset: Option<i64>, limit: Option<i64>) -> Result<(usize, usize), ApiError> {
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueOffset,
            "Offset is negative.",
        ));
    }
    let limit = if limit <= 0 { 20 } else { limit };
    if offset.saturating_add(limit) > MAX_WINDOW {
        return Err(ApiError::new(
            ErrorCode::LimitExceededOffset,
            "Offset + Limit must not exceed 10000.",
        ));
    }
    Ok((offset as usize, limit as usize))
}

fn view(svc: &Service, r: &RequestRecord) -> Value {
    json!({
        "FunctionName": r.function.name,
        "RetMsg": r.ret_msg,
        "RequestId": r.request_id,
        "StartTime": svc.format_time(r.start_ms),
        // FunctionLog's own codes: 0 success, 2 running, anything else failure.
        "RetCode": match r.outcome.ret_code() { 1 => 2, c => c },
        "InvokeFinished": i64::from(!r.outcome.is_running()),
        "Duration": r.duration_ms,
        "BillDuration": if r.outcome.is_running() { 0 } else { bill_duration(r.duration_ms) },
        "MemUsage": r.mem_usage_bytes,
        "Log": r.log,
        "Level": "",
        "Source": "",
        "RetryNum": r.retry_num,
    })
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let Some(name) = req.function_name.filter(|n| !n.is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request is missing a required parameter `FunctionName`.",
        ));
    };
    let (offset, limit) = page(req.offset, req.limit)?;
    let (from, to) = window(
        svc,
        req.start_time.as_deref(),
        req.end_time.as_deref(),
        DAY_MS,
    )?;
    let namespace = namespace_or_default(req.namespace.as_deref());
    let key = caller.function_key(Some(namespace), &name);
    if !rules::plausible_name(&name)
        || !rules::plausible_name(namespace)
        || !svc.store.function_exists(&key).await?
    {
        return Err(function_not_found(&name));
    }
    let mut records = in_window(svc, &key, from, to).await?;
    let qualifier = req.qualifier.filter(|q| !q.is_empty());
    let request_id = req.function_request_id.filter(|r| !r.is_empty());
    if let Some(id) = &request_id
        && !is_request_id(id)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueFunctionRequestId,
            format!("FunctionRequestId `{id}` is not a request id."),
        ));
    }
    let ret_filter = req.filter.and_then(|f| f.ret_code);
    records.retain(|r| {
        qualifier.as_deref().is_none_or(|q| r.qualifier == q)
            && request_id.as_deref().is_none_or(|id| r.request_id == id)
            && ret_filter.is_none_or(|f| f.admits(r.outcome))
    });
    sort(
        &mut records,
        req.order_by.unwrap_or(OrderBy::StartTime),
        Order::descending(req.order, true),
    );
    let total = records.len();
    let data: Vec<Value> = records
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| view(svc, r))
        .collect();
    let mut out = Map::new();
    out.insert("TotalCount".into(), json!(total));
    out.insert("Data".into(), Value::Array(data));
    out.insert(
        "SearchContext".into(),
        json!({"Offset": "", "Limit": 0, "Keyword": "", "Type": ""}),
    );
    Ok(out)
}

/// The function's requests that started in `[from, to]`: those in flight on this node and
/// those in the store (a request in flight may also have its running record there: one of
/// each is kept).
async fn in_window(
    svc: &Service,
    key: &FunctionKey,
    from: i64,
    to: i64,
) -> Result<Vec<RequestRecord>, ApiError> {
    let in_flight = svc.running.list(key, from, to + 1);
    let mut records = svc
        .store
        .list_requests(key, from, to + 1, MAX_WINDOW as usize)
        .await?;
    records.retain(|r| !in_flight.iter().any(|f| f.request_id == r.request_id));
    records.extend(in_flight);
    Ok(records)
}

fn sort(records: &mut [RequestRecord], by: OrderBy, desc: bool) {
    match by {
        OrderBy::FunctionName => records.sort_by(|a, b| a.function.name.cmp(&b.function.name)),
        OrderBy::Duration => records.sort_by(|a, b| a.duration_ms.total_cmp(&b.duration_ms)),
        OrderBy::MemUsage => records.sort_by_key(|r| r.mem_usage_bytes),
        OrderBy::StartTime => records.sort_by_key(|r| r.start_ms),
    }
    if desc {
        records.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Found by `pages_end_within_the_window`: `Offset + Limit` overflowed for an Offset near
    /// `i64::MAX` (a panic in a debug build; in release it wrapped negative and passed).
    #[test]
    fn a_huge_offset_is_over_the_window() {
        for (offset, limit) in [
            (i64::MAX, None),
            (i64::MAX - 5, Some(10)),
            (1, Some(i64::MAX)),
        ] {
            let err = page(Some(offset), limit).expect_err("over the window");
            assert_eq!(err.code, ErrorCode::LimitExceededOffset);
        }
    }

    proptest! {
        /// Offset and Limit as any client may send them: accepted exactly when the Offset is
        /// not negative and the page ends within the first 10000 records, with a Limit of 0 or
        /// less meaning 20; otherwise the code for what is wrong.
        #[test]
        fn pages_end_within_the_window(
            offset in prop_oneof![any::<i64>(), -5..10_005_i64].prop_map(Some),
            limit in prop_oneof![any::<i64>(), -5..10_005_i64].prop_map(Some),
            absent in 0..4_u8,
        ) {
            let offset = if absent & 1 == 0 { offset } else { None };
            let limit = if absent & 2 == 0 { limit } else { None };
            let (o, l) = (offset.unwrap_or(0), limit.unwrap_or(0));
            let want_limit = if l <= 0 { 20 } else { l };
            match page(offset, limit) {
                Ok((got_o, got_l)) => {
                    prop_assert!(o >= 0 && i128::from(o) + i128::from(want_limit) <= 10_000);
                    prop_assert_eq!((got_o as i64, got_l as i64), (o, want_limit));
                }
                Err(e) if o < 0 => {
                    prop_assert_eq!(e.code, ErrorCode::InvalidParameterValueOffset);
                }
                Err(e) => {
                    prop_assert_eq!(e.code, ErrorCode::LimitExceededOffset);
                    prop_assert!(i128::from(o) + i128::from(want_limit) > 10_000);
                }
            }
        }
    }
}
