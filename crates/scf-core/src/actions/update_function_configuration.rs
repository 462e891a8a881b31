//! UpdateFunctionConfiguration: settings other than code. Each given field replaces the stored
//! one (Environment as a whole, as SCF does); the runtime is fixed at creation.

use super::function_view::{Environment, env_pairs};
use crate::lookup::load;
use crate::rules;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_store::StoreError;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub description: Option<String>,
    pub memory_size: Option<i64>,
    pub timeout: Option<i64>,
    pub runtime: Option<String>,
    pub environment: Option<Environment>,
    pub namespace: Option<String>,
    pub publish: Option<String>,
    pub init_timeout: Option<i64>,
    /// VpcConfig, Role, CLS, CFS, ...: stored, not acted on.
    #[serde(flatten)]
    #[params(schema = Stored)]
    pub extra: Map<String, Value>,
}

/// What UpdateFunctionConfiguration stores as sent without acting on it (see [`super::wire`]).
#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Stored {
    #[serde(flatten)]
    common: super::wire::StoredConfig,
    l5_enable: Option<String>,
    ignore_sys_log: Option<bool>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let mut f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    rules::refuse_publish(req.publish.as_deref())?;
    if let Some(runtime) = req.runtime.as_deref().filter(|r| !r.is_empty())
        && runtime != f.runtime
    {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueRuntime,
            format!(
                "The runtime is set at creation ({}) and cannot be changed.",
                f.runtime
            ),
        ));
    }
    if let Some(d) = req.description {
        rules::description(&d)?;
        f.description = d;
    }
    if let Some(m) = req.memory_size {
        rules::memory_size(m)?;
        f.memory_size = m;
    }
    if let Some(t) = req.timeout {
        rules::timeout(t)?;
        f.timeout = t;
    }
    if let Some(t) = req.init_timeout {
        rules::init_timeout(t)?;
        f.init_timeout = t;
    }
    if let Some(env) = req.environment {
        f.environment = env_pairs(env)?;
    }
    for (k, v) in req.extra {
        f.extra.insert(k, v);
    }
    f.mod_time_ms = now_ms();
    match svc.store.update_function(&f).await {
        Ok(()) => {
            crate::invocation::drain_instances(svc, &f.key);
            Ok(Map::new())
        }
        Err(StoreError::NotFound) => Err(crate::lookup::function_not_found(
            &req.function_name,
        )),
        Err(e) => Err(e.into()),
    }
}
