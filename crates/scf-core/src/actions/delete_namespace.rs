//! DeleteNamespace: refuses `default`, and any namespace that still holds functions.

use super::update_namespace::not_found;
use crate::service::{Caller, DEFAULT_NAMESPACE, Service};
use scf_store::StoreError;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub namespace: String,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    if req.namespace == DEFAULT_NAMESPACE {
        return Err(ApiError::new(
            ErrorCode::FailedOperationDeleteNamespace,
            "The default namespace cannot be deleted.",
        ));
    }
    match svc
        .store
        .delete_namespace(&caller.scope, &req.namespace)
        .await
    {
        Ok(()) => Ok(Map::new()),
        Err(StoreError::NotFound) => Err(not_found(&req.namespace)),
        Err(StoreError::NamespaceNotEmpty) => Err(ApiError::new(
            ErrorCode::ResourceInUseNamespace,
            format!(
                "Namespace `{}` still holds functions; delete them first.",
                req.namespace
            ),
        )),
        Err(e) => Err(e.into()),
    }
}
