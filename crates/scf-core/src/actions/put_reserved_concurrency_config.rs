//! Put/Get/DeleteReservedConcurrencyConfig: a function's reserved concurrency, in MB of
//! instance memory; its cap in instances is ReservedConcurrencyMem / MemorySize.

use crate::lookup::load;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub reserved_concurrency_mem: u64,
    pub namespace: Option<String>,
}

/// The account quota (128,000 MB) less the 12,800 MB SCF keeps unreserved (reference §9).
pub const MAX_RESERVED_MEM: u64 = 128_000 - 12_800;

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let mut f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    if req.reserved_concurrency_mem > MAX_RESERVED_MEM {
        return Err(ApiError::new(
            ErrorCode::LimitExceededFunctionReservedConcurrencyMemory,
            format!(
                "ReservedConcurrencyMem {} exceeds the {MAX_RESERVED_MEM} MB that can be reserved.",
                req.reserved_concurrency_mem
            ),
        ));
    }
    f.reserved_concurrency_mem = Some(req.reserved_concurrency_mem);
    f.mod_time_ms = now_ms();
    svc.store.update_function(&f).await?;
    Ok(Map::new())
}
