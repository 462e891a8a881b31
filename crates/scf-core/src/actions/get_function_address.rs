//! GetFunctionAddress: a link on this server from which the account can download its own code
//! zip, signed like a presigned COS URL (HMAC over account, package and expiry with the server's
//! link key), so the download itself needs no API signature.

use super::get_function::{check_qualifier, load};
use crate::service::{Caller, Service, now_ms};
use hmac::{Hmac, KeyInit, Mac};
use scf_types::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub qualifier: Option<String>,
    pub namespace: Option<String>,
}

fn link_mac(key: &[u8], app_id: u64, sha256: &str, expires: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(format!("{app_id}/{sha256}/{expires}").as_bytes());
    mac
}

/// The `sign` of a download link.
pub fn sign_link(key: &[u8], app_id: u64, sha256: &str, expires: u64) -> String {
    hex::encode(
        link_mac(key, app_id, sha256, expires)
            .finalize()
            .into_bytes(),
    )
}

/// Whether `sign` is genuine (constant-time).
pub fn verify_link(key: &[u8], app_id: u64, sha256: &str, expires: u64, sign: &str) -> bool {
    let Ok(bytes) = hex::decode(sign) else {
        return false;
    };
    link_mac(key, app_id, sha256, expires)
        .verify_slice(&bytes)
        .is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_only_unchanged() {
        let s = sign_link(b"k", 1, "ab", 10);
        assert!(verify_link(b"k", 1, "ab", 10, &s));
        assert!(!verify_link(b"k", 2, "ab", 10, &s));
        assert!(!verify_link(b"k", 1, "ac", 10, &s));
        assert!(!verify_link(b"k", 1, "ab", 11, &s));
        assert!(!verify_link(b"other", 1, "ab", 10, &s));
        assert!(!verify_link(b"k", 1, "ab", 10, "zz"));
    }
}
