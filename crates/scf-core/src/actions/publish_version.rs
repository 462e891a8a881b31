//! PublishVersion: an immutable, numbered snapshot of the function's code and configuration.

use crate::lookup::load;
use crate::rules;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_store::{StoreError, FunctionStatus};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub description: Option<String>,
    pub namespace: Option<String>,
}

/// Versions kept per function; SCF documents a limit without its number.
pub const MAX_VERSIONS: u32 = 100;

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    let description = req.description.unwrap_or_default();
    rules::description(&description)?;
    if f.status != FunctionStatus::Active {
        return Err(ApiError::new(
            ErrorCode::FailedOperationFunctionStatusError,
            format!(
                "Function `{}` is {}; publish once it is Active.",
                f.key.name, f.status
            ),
        ));
    }
    let v = match svc
        .store
        .publish_version(&f.key, &description, now_ms(), MAX_VERSIONS)
        .await
    {
        Ok(v) => v,
        Err(StoreError::LimitExceeded(max)) => {
            return Err(ApiError::new(
                ErrorCode::LimitExceededFunctionVersions,
                format!("The function already has {max} versions."),
            ));
        }
        Err(StoreError::NotFound) => {
            return Err(crate::lookup::function_not_found(
                &req.function_name,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let g = &v.function;
    let mut out = Map::new();
    for (k, val) in [
        ("FunctionVersion", json!(v.version)),
        ("CodeSize", json!(g.code_size)),
        ("MemorySize", json!(g.memory_size)),
        ("Description", json!(v.description)),
        ("Handler", json!(g.handler)),
        ("Timeout", json!(g.timeout)),
        ("Runtime", json!(g.runtime)),
        ("Namespace", json!(g.key.namespace)),
    ] {
        out.insert(k.into(), val);
    }
    Ok(out)
}
