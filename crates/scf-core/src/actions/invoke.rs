//! Invoke: runs a function synchronously (`RequestResponse`, the default) or accepts it for
//! asynchronous running (`Event`).

use crate::invocation::{self, MAX_ASYNC_EVENT_BYTES, MAX_SYNC_EVENT_BYTES};
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::choices::{InvocationType, LogType};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub invocation_type: Option<InvocationType>,
    pub qualifier: Option<String>,
    pub client_context: Option<String>,
    pub log_type: Option<LogType>,
    pub namespace: Option<String>,
    /// Alias traffic routing: no aliases are served, so it has nothing to route.
    pub routing_key: Option<String>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let is_async = req.invocation_type == Some(InvocationType::Event);
    let tail = req.log_type == Some(LogType::Tail);
    let max = if is_async {
        MAX_ASYNC_EVENT_BYTES
    } else {
        MAX_SYNC_EVENT_BYTES
    };
    let event = invocation::parse_event(
        req.client_context.as_deref(),
        ErrorCode::InvalidParameterValueClientContext,
        "ClientContext",
        max,
    )?;
    let target = invocation::resolve(
        svc,
        caller,
        req.namespace.as_deref(),
        &req.function_name,
        req.qualifier.as_deref(),
    )
    .await?;
    if is_async {
        invocation::invoke_async(svc, target, event).await
    } else {
        invocation::invoke_sync(svc, caller, target, event, tail).await
    }
}
