//! TerminateAsyncEvent: ends a queued or running async invocation (ABORTED); a running handler
//! is killed.

use super::get_async_event_status::not_found;
use super::get_function::load;
use crate::service::{Caller, Service, now_ms};
use scf_store::AsyncStatus;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
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
    let mut e = svc
        .store
        .get_async(&caller.scope, &req.invoke_request_id)
        .await?
        .filter(|e| e.function == f.key)
        .ok_or_else(|| not_found(&req.invoke_request_id))?;
    if e.status.is_final() {
        return Err(ApiError::new(
            ErrorCode::FailedOperationAsyncEventStatus,
            format!(
                "Async event `{}` has already ended ({}).",
                e.request_id,
                e.status.as_str()
            ),
        ));
    }
    e.status = AsyncStatus::Aborted;
    e.end_ms = Some(now_ms());
    svc.store.update_async(&e).await?;
    if let Some(mut r) = svc.store.get_request(&f.key, &e.request_id).await? {
        r.ret_code = -1;
        r.ret_msg = "The request was terminated (TerminateAsyncEvent).".into();
        r.err_msg = r.ret_msg.clone();
        r.end_ms = e.end_ms;
        r.error_kind = "PlatformError".into();
        svc.store.update_request(&r).await?;
    }
    svc.engine.terminate(&e.request_id);
    Ok(Map::new())
}
