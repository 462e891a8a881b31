//! Invoke: runs a function synchronously (`RequestResponse`, the default) or accepts it for
//! asynchronous running (`Event`).

use crate::invocation::{self, MAX_ASYNC_EVENT_BYTES, MAX_SYNC_EVENT_BYTES};
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub invocation_type: Option<String>,
    pub qualifier: Option<String>,
    pub client_context: Option<String>,
    pub log_type: Option<String>,
    pub namespace: Option<String>,
    /// Alias traffic routing: no aliases are served, so it has nothing to route.
    pub routing_key: Option<String>,
}

/// `None` or `Tail`.
pub(crate) fn wants_tail(log_type: Option<&str>) -> Result<bool, ApiError> {
    match log_type {
        None | Some("") | Some("None") => Ok(false),
        Some("Tail") => Ok(true),
        Some(other) => Err(ApiError::new(
            ErrorCode::InvalidParameterValue,
            format!("LogType `{other}` is invalid: use None or Tail."),
        )),
    }
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let is_async = match req.invocation_type.as_deref() {
        None | Some("") | Some("RequestResponse") => false,
        Some("Event") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!("InvocationType `{other}` is invalid: use RequestResponse or Event."),
            ));
        }
    };
    let tail = wants_tail(req.log_type.as_deref())?;
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
