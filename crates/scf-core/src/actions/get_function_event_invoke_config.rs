//! GetFunctionEventInvokeConfig: the async retry settings, SCF's defaults when never set.

use crate::lookup::{check_qualifier, load};
use crate::invocation::async_settings;
use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub namespace: Option<String>,
    pub qualifier: Option<String>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    check_qualifier(svc, &f, req.qualifier.as_deref()).await?;
    let (retries, ttl) = async_settings(&f);
    let mut out = Map::new();
    out.insert(
        "AsyncTriggerConfig".into(),
        json!({"RetryConfig": [{"RetryNum": retries}], "MsgTTL": ttl}),
    );
    Ok(out)
}
