//! DeleteNamespace: refuses `default`, and any namespace that still holds functions.

use crate::service::{Caller, DEFAULT_NAMESPACE, Service, namespace_not_found};
use scf_derive::Params;
use scf_store::StoreError;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
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
        Err(StoreError::NotFound) => Err(namespace_not_found(&req.namespace)),
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
