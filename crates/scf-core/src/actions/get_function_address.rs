//! GetFunctionAddress: a link on this server from which the account can download its own code
//! zip, signed like a presigned COS URL (HMAC over account, package and expiry with the server's
//! link key), so the download itself needs no API signature.

use crate::links::sign_link;
use crate::lookup::{check_qualifier, load};
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_types::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub qualifier: Option<String>,
    pub namespace: Option<String>,
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let latest = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    let f = match check_qualifier(svc, &latest, req.qualifier.as_deref()).await? {
        Some(v) => v.function,
        None => latest,
    };
    let expires = (now_ms() / 1000) as u64 + svc.settings.limits.code_url_ttl_seconds;
    let app_id = caller.scope.app_id;
    let sign = sign_link(&svc.settings.url_key, app_id, &f.code_sha256, expires);
    let base = svc
        .settings
        .public_url
        .as_deref()
        .unwrap_or(&caller.base_url)
        .trim_end_matches('/');
    let url = format!(
        "{base}/code/{app_id}/{}.zip?expires={expires}&sign={sign}",
        f.code_sha256
    );
    let mut out = Map::new();
    out.insert("Url".into(), json!(url));
    out.insert("CodeSha256".into(), json!(f.code_sha256));
    Ok(out)
}
