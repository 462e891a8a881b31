//! GetReservedConcurrencyConfig: `ReservedMem`, null when none is reserved.

use crate::lookup::load;
use crate::service::{Caller, Service};
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
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    let mut out = Map::new();
    out.insert(
        "ReservedMem".into(),
        f.reserved_concurrency_mem.map_or(Value::Null, Value::from),
    );
    Ok(out)
}
