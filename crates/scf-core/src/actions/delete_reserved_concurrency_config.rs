//! DeleteReservedConcurrencyConfig: the function goes back to the server-wide cap only.

use crate::lookup::load;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_types::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let mut f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    if f.reserved_concurrency_mem.take().is_some() {
        f.mod_time_ms = now_ms();
        svc.store.update_function(&f).await?;
    }
    Ok(Map::new())
}
