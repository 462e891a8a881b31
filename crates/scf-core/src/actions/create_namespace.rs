//! CreateNamespace: a new namespace in the caller's account and region.

use crate::rules;
use crate::service::{Caller, DEFAULT_NAMESPACE, Service, now_ms};
use scf_derive::Params;
use scf_store::{NamespaceRecord, StoreError};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub namespace: String,
    pub description: Option<String>,
    /// TKE/offline resource pools: accepted and ignored (scfd runs everything locally).
    #[params(schema = ResourceEnv)]
    pub resource_env: Option<Value>,
}

/// The shape of `ResourceEnv`, which is accepted and ignored.
#[allow(dead_code)]
#[derive(Deserialize, Params)]
pub struct ResourceEnv {
    #[serde(rename = "TKE")]
    tke: Option<Map<String, Value>>,
    #[serde(rename = "OFFLINE")]
    offline: Option<bool>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    if req.namespace == DEFAULT_NAMESPACE {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueDefaultNamespace,
            "The default namespace always exists and cannot be created.",
        ));
    }
    rules::namespace_name(&req.namespace)?;
    let description = req.description.unwrap_or_default();
    rules::description(&description)?;
    svc.ensure_default_namespace(&caller.scope).await?;
    let now = now_ms();
    let ns = NamespaceRecord {
        name: req.namespace.clone(),
        description,
        kind: "default".into(),
        add_time_ms: now,
        mod_time_ms: now,
    };
    match svc
        .store
        .create_namespace(&caller.scope, &ns, svc.settings.limits.max_namespaces)
        .await
    {
        Ok(()) => Ok(Map::new()),
        Err(StoreError::AlreadyExists) => Err(ApiError::new(
            ErrorCode::ResourceInUseNamespace,
            format!("Namespace `{}` already exists.", req.namespace),
        )),
        Err(StoreError::LimitExceeded(max)) => Err(ApiError::new(
            ErrorCode::LimitExceededNamespace,
            format!("This account already has {max} namespaces in this region, the limit."),
        )),
        Err(e) => Err(e.into()),
    }
}
