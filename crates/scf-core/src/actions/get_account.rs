//! GetAccount: real usage counts of the caller's namespaces and functions, and the limits.

use crate::service::{Caller, Service};
use scf_derive::Params;
use scf_types::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
pub struct Request {}

/// SCF's per-region concurrency memory quota for the large regions (reference §9), in MB.
const TOTAL_CONCURRENCY_MEM: u64 = 128_000;

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    _req: Request,
) -> Result<Map<String, Value>, ApiError> {
    svc.ensure_default_namespace(&caller.scope).await?;
    let namespaces = svc.store.list_namespaces(&caller.scope).await?;
    let functions = svc.store.list_functions(&caller.scope, None).await?;
    let limits = &svc.settings.limits;
    let usage: Vec<Value> = namespaces
        .iter()
        .map(|ns| {
            let names: Vec<&str> = functions
                .iter()
                .filter(|f| f.key.namespace == ns.name)
                .map(|f| f.key.name.as_str())
                .collect();
            json!({
                "Namespace": ns.name,
                "Functions": names,
                "FunctionsCount": names.len(),
                "TotalConcurrencyMem": 0,
                "TotalAllocatedConcurrencyMem": 0,
                "TotalAllocatedProvisionedMem": 0,
            })
        })
        .collect();
    let limit: Vec<Value> = namespaces
        .iter()
        .map(|ns| {
            json!({
                "Namespace": ns.name,
                "FunctionsCount": limits.max_functions_per_namespace,
                "Trigger": {"Cos": 10, "Timer": 10, "Cmq": 10, "Total": 110, "Ckafka": 10, "Apigw": 10,
                            "Cls": 10, "Clb": 10, "Mps": 10, "Cm": 10, "Vod": 10, "Eb": 10},
                "ConcurrentExecutions": 100,
                "TimeoutLimit": 900,
                "TestModelLimit": 20,
                "InitTimeoutLimit": 300,
                "RetryNumLimit": 2,
                "MinMsgTTL": 60,
                "MaxMsgTTL": 21600,
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert(
        "AccountUsage".into(),
        json!({
            "NamespacesCount": namespaces.len(),
            "Namespace": usage,
            "TotalConcurrencyMem": TOTAL_CONCURRENCY_MEM,
            "TotalAllocatedConcurrencyMem": 0,
            "UserConcurrencyMemLimit": TOTAL_CONCURRENCY_MEM,
        }),
    );
    out.insert(
        "AccountLimit".into(),
        json!({"NamespacesCount": limits.max_namespaces, "Namespace": limit}),
    );
    Ok(out)
}
