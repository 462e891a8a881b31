//! TerminateAsyncEvent: ends a queued or running async invocation (ABORTED); a running handler
//! is killed.

use super::get_async_event_status::not_found;
use crate::lookup::load;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_store::AbortOutcome;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub invoke_request_id: String,
    pub namespace: Option<String>,
    /// SIGTERM instead of SIGKILL: scfd always ends the instance at once.
    pub grace_shutdown: Option<bool>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    // One transaction decides: the abort and the run's outcome cannot both win.
    match svc
        .store
        .abort_async(
            &f.key,
            &req.invoke_request_id,
            now_ms(),
            "The request was terminated (TerminateAsyncEvent).",
        )
        .await?
    {
        AbortOutcome::NotFound => Err(not_found(&req.invoke_request_id)),
        AbortOutcome::AlreadyEnded(status) => Err(ApiError::new(
            ErrorCode::FailedOperationAsyncEventStatus,
            format!(
                "Async event `{}` has already ended ({}).",
                req.invoke_request_id,
                status.as_str()
            ),
        )),
        AbortOutcome::Aborted => {
            svc.engine.terminate(&req.invoke_request_id);
            Ok(Map::new())
        }
    }
}
