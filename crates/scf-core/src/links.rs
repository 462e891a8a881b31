//! Code download links (GetFunctionAddress): signed like a presigned COS URL, an HMAC over
//! account, package and expiry with the server's link key, so the download itself needs no API
//! signature; and the download they lead to.

use crate::service::{Service, now_ms};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::path::PathBuf;

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

/// Where the zip behind a signed download link is, if the link is genuine and fresh.
/// The link stops working once the account no longer has a function with that package.
pub async fn code_download(
    svc: &Service,
    app_id: u64,
    sha256: &str,
    expires: u64,
    sign: &str,
) -> Option<PathBuf> {
    let now = (now_ms() / 1000) as u64;
    if expires < now || !verify_link(&svc.settings.url_key, app_id, sha256, expires, sign) {
        return None;
    }
    if !svc
        .store
        .code_in_use(sha256, Some(app_id))
        .await
        .unwrap_or(false)
    {
        return None;
    }
    let path = svc.packages.zip_path(sha256);
    if !path.exists() {
        // Taken in by another node: fetch it into this node's cache first.
        let zip = svc.store.get_package(sha256).await.ok().flatten()?;
        let _guard = svc.packages.lock.lock().await;
        svc.packages.store_zip(sha256, &zip).ok()?;
    }
    path.exists().then_some(path)
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
