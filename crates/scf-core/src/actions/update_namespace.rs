//! UpdateNamespace: a namespace's description.

use crate::rules;
use crate::service::{Caller, Service, namespace_not_found, now_ms};
use scf_derive::Params;
use scf_store::StoreError;
use scf_types::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub namespace: String,
    pub description: String,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    rules::description(&req.description)?;
    svc.ensure_default_namespace(&caller.scope).await?;
    match svc
        .store
        .update_namespace(&caller.scope, &req.namespace, &req.description, now_ms())
        .await
    {
        Ok(()) => Ok(Map::new()),
        Err(StoreError::NotFound) => Err(namespace_not_found(&req.namespace)),
        Err(e) => Err(e.into()),
    }
}
