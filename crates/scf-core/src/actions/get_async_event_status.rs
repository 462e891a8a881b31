//! GetAsyncEventStatus: the state of one async invocation.

use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_store::{AsyncEventRecord, AsyncStatus};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub invoke_request_id: String,
}

/// The API's status word: a queued event (waiting to run or to retry) is `RUNNING`.
pub(crate) fn status_word(s: AsyncStatus) -> &'static str {
    match s {
        AsyncStatus::Queued | AsyncStatus::Running => "RUNNING",
        other => other.as_str(),
    }
}

/// StatusCode: SCF documents none; scfd uses HTTP-like codes (0 while running).
fn status_code(s: AsyncStatus) -> i64 {
    match s {
        AsyncStatus::Queued | AsyncStatus::Running => 0,
        AsyncStatus::Finished => 200,
        AsyncStatus::Failed => 500,
        AsyncStatus::Aborted => 499,
    }
}

pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundAsyncEvent,
        format!("Async event `{id}` does not exist."),
    )
}

pub(crate) fn result(e: &AsyncEventRecord) -> Value {
    json!({"Status": status_word(e.status), "StatusCode": status_code(e.status), "InvokeRequestId": e.request_id})
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let e = svc
        .store
        .get_async(&caller.scope, &req.invoke_request_id)
        .await?
        .ok_or_else(|| not_found(&req.invoke_request_id))?;
    let mut out = Map::new();
    out.insert("Result".into(), result(&e));
    Ok(out)
}
