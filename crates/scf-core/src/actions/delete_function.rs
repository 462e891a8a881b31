//! DeleteFunction: the function and, if nothing else uses it, its package.

use crate::lookup::function_not_found;
use crate::lookup::{check_qualifier, load};
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_store::StoreError;
use scf_types::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
    /// Without one (or `$LATEST`), the function and every version go (SCF's rule).
    pub qualifier: Option<String>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    if let Some(v) = check_qualifier(svc, &f, req.qualifier.as_deref()).await? {
        // A Qualifier names one version: only it goes.
        svc.store.delete_version(&f.key, &v.version).await?;
        crate::invocation::drain_instances(svc, &f.key);
        svc.release_package(&v.function.code_sha256).await;
        return Ok(Map::new());
    }
    match svc.store.delete_function(&f.key).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(function_not_found(&req.function_name)),
        Err(e) => return Err(e.into()),
    }
    crate::invocation::drain_instances(svc, &f.key);
    svc.release_package(&f.code_sha256).await;
    Ok(Map::new())
}
