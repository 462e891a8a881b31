//! InvokeFunction: the synchronous-only invoke API (Qualifier defaults to `$DEFAULT`).

use crate::invocation::{self, MAX_SYNC_EVENT_BYTES};
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::choices::LogType;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub qualifier: Option<String>,
    pub event: Option<String>,
    pub log_type: Option<LogType>,
    pub namespace: Option<String>,
    pub routing_key: Option<String>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let tail = req.log_type == Some(LogType::Tail);
    let event = invocation::parse_event(
        req.event.as_deref(),
        ErrorCode::InvalidParameterValueParam,
        "Event",
        MAX_SYNC_EVENT_BYTES,
    )?;
    let qualifier = req
        .qualifier
        .as_deref()
        .filter(|q| !q.is_empty())
        .unwrap_or("$DEFAULT");
    let target = invocation::resolve(
        svc,
        caller,
        req.namespace.as_deref(),
        &req.function_name,
        Some(qualifier),
    )
    .await?;
    invocation::invoke_sync(svc, caller, target, event, tail).await
}
