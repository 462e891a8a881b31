//! Where a function's code comes from. scfd takes code inline (`ZipFile`, base64); COS buckets,
//! Git, demos, TempCos and images live in Tencent's cloud and cannot be reached from here.

use crate::service::Service;
use crate::zip_guard::{self, Inspected};
use base64::Engine as _;
use scf_derive::Params;
use scf_store::{FunctionKey, FunctionRecord, Scope};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The `Code` structure (reference §6), as far as scfd reads it.
#[derive(Debug, Default, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Code {
    pub zip_file: Option<String>,
    pub cos_bucket_name: Option<String>,
    pub cos_object_name: Option<String>,
    pub cos_bucket_region: Option<String>,
    pub demo_id: Option<String>,
    pub temp_cos_object_name: Option<String>,
    pub git_url: Option<String>,
    #[params(schema = super::wire::ImageConfig)]
    pub image_config: Option<serde_json::Value>,
    /// The other Git settings, which only matter with `GitUrl`.
    #[serde(flatten)]
    #[params(schema = super::wire::GitSettings)]
    pub other_git: serde_json::Map<String, serde_json::Value>,
}

const SUPPORTED: &str = "scfd takes code inline only: pass the zip, base64-encoded, as Code.ZipFile (or ZipFile in UpdateFunctionCode)";

fn unsupported(code: ErrorCode, what: &str) -> ApiError {
    ApiError::new(
        code,
        format!("{what} cannot be reached from scfd. {SUPPORTED}."),
    )
}

/// The base64 zip the request carries, or the error for a source scfd cannot use.
pub fn zip_base64(code: &Code, code_source: Option<&str>) -> Result<String, ApiError> {
    match code_source {
        None | Some("") | Some("ZipFile") => {}
        Some("Cos") => {
            return Err(unsupported(
                ErrorCode::UnsupportedOperationCos,
                "Code in COS",
            ));
        }
        Some(other) => {
            return Err(unsupported(
                ErrorCode::UnsupportedOperation,
                &format!("CodeSource `{other}`"),
            ));
        }
    }
    let has_cos = code.cos_bucket_name.is_some()
        || code.cos_object_name.is_some()
        || code.cos_bucket_region.is_some();
    let others = [
        (code.demo_id.is_some(), "A demo (DemoId)"),
        (code.temp_cos_object_name.is_some(), "Code in TempCos"),
        (
            code.git_url.is_some() || !code.other_git.is_empty(),
            "Code in Git",
        ),
        (
            code.image_config.is_some(),
            "A container image (ImageConfig)",
        ),
    ];
    match (&code.zip_file, has_cos) {
        (Some(zip), false) if others.iter().all(|(set, _)| !set) => Ok(zip.clone()),
        (Some(_), _) => Err(ApiError::new(
            ErrorCode::InvalidParameterValueCode,
            "Code.ZipFile cannot be combined with another code source.",
        )),
        (None, true) => Err(unsupported(
            ErrorCode::UnsupportedOperationCos,
            "Code in COS",
        )),
        (None, false) => match others.iter().find(|(set, _)| *set) {
            Some((_, what)) => Err(unsupported(ErrorCode::UnsupportedOperation, what)),
            None => Err(ApiError::new(
                ErrorCode::InvalidParameterValueCode,
                format!("Code is empty. {SUPPORTED}."),
            )),
        },
    }
}

/// Decodes and inspects a package off the async runtime; nothing is written.
pub async fn decode_and_inspect(
    svc: &Arc<Service>,
    b64: String,
    max_zip_bytes: u64,
) -> Result<(Vec<u8>, Inspected), ApiError> {
    let limits = svc.zip_limits(max_zip_bytes);
    tokio::task::spawn_blocking(move || {
        let compact: Vec<u8> = b64.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidParameterValueZipFileBase64,
                    format!("ZipFile is not valid base64: {e}."),
                )
            })?;
        let inspected = zip_guard::inspect(&bytes, &limits)?;
        Ok((bytes, inspected))
    })
    .await
    .map_err(crate::service::internal)?
}

/// Refuses a package that would take the account past `[limits] account_unpacked_bytes`: the
/// sum, unpacked, of the distinct packages its functions and published versions use, with this
/// one instead of the `$LATEST` code of `replacing`. Call it under the packages lock, so two
/// uploads on this node cannot both fit the same room (two nodes of a cluster can, by one
/// package at most each).
pub async fn check_account_room(
    svc: &Arc<Service>,
    scope: &Scope,
    replacing: Option<&FunctionKey>,
    inspected: &Inspected,
) -> Result<(), ApiError> {
    let cap = svc.settings.limits.account_unpacked_bytes;
    if cap == 0 {
        return Ok(());
    }
    // Records from before scfd kept the unpacked size count with their zip's.
    let size = |f: &FunctionRecord| f.unpacked_size.max(f.code_size);
    let mut used: HashMap<String, u64> = HashMap::new();
    for f in svc.store.list_functions(scope, None).await? {
        for v in svc.store.list_versions(&f.key).await? {
            used.insert(v.function.code_sha256.clone(), size(&v.function));
        }
        if replacing != Some(&f.key) {
            used.insert(f.code_sha256.clone(), size(&f));
        }
    }
    used.insert(inspected.sha256.clone(), inspected.unpacked_bytes);
    let total: u64 = used.values().sum();
    if total > cap {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueZipFile,
            format!(
                "This package unpacks to {} bytes; with it the account's code would take {total} \
                 bytes, over its limit of {cap} bytes ([limits] account_unpacked_bytes). Delete \
                 functions or versions it no longer needs.",
                inspected.unpacked_bytes
            ),
        ));
    }
    Ok(())
}

/// Writes the package durably (before the API acknowledges it): on this node's disk, and in
/// the store where every node can fetch it (a shared store keeps packages; the embedded one
/// does not need to). Returns the bytes for [`store_again`].
pub async fn store(
    svc: &Arc<Service>,
    sha256: String,
    bytes: Vec<u8>,
) -> Result<Arc<Vec<u8>>, ApiError> {
    let svc2 = Arc::clone(svc);
    let bytes = Arc::new(bytes);
    let (sha, zip) = (sha256.clone(), Arc::clone(&bytes));
    tokio::task::spawn_blocking(move || svc2.packages.store_zip(&sha, &zip))
        .await
        .map_err(crate::service::internal)?
        .map_err(crate::service::io_failure)?;
    svc.store.put_package(&sha256, &bytes).await?;
    Ok(bytes)
}

/// Writes the package to the store once more after the function that uses it is committed:
/// another node that found it unused just before that commit may have removed it.
pub async fn store_again(svc: &Arc<Service>, sha256: &str, bytes: &[u8]) {
    if let Err(e) = svc.store.put_package(sha256, bytes).await {
        tracing::warn!(sha256, error = %e, "could not write a package to the store again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(json: serde_json::Value) -> Code {
        serde_json::from_value(json).expect("code")
    }

    #[test]
    fn sources() {
        let err = |c: Code, s: Option<&str>| zip_base64(&c, s).expect_err("refused").code;
        assert_eq!(
            zip_base64(&code_of(serde_json::json!({"ZipFile": "UEs="})), None).expect("ok"),
            "UEs="
        );
        assert_eq!(
            err(code_of(serde_json::json!({})), None),
            ErrorCode::InvalidParameterValueCode
        );
        assert_eq!(
            err(
                code_of(serde_json::json!({"CosBucketName": "b", "CosObjectName": "/o.zip"})),
                None
            ),
            ErrorCode::UnsupportedOperationCos
        );
        assert_eq!(
            err(code_of(serde_json::json!({"ZipFile": "UEs="})), Some("Cos")),
            ErrorCode::UnsupportedOperationCos
        );
        assert_eq!(
            err(code_of(serde_json::json!({"DemoId": "d"})), None),
            ErrorCode::UnsupportedOperation
        );
        assert_eq!(
            err(code_of(serde_json::json!({"GitUrl": "g"})), None),
            ErrorCode::UnsupportedOperation
        );
        assert_eq!(
            err(code_of(serde_json::json!({"GitBranch": "main"})), None),
            ErrorCode::UnsupportedOperation
        );
        assert_eq!(
            err(
                code_of(
                    serde_json::json!({"ImageConfig": {"ImageType": "personal", "ImageUri": "x"}})
                ),
                None
            ),
            ErrorCode::UnsupportedOperation
        );
        assert_eq!(
            err(
                code_of(serde_json::json!({"ZipFile": "UEs=", "DemoId": "d"})),
                None
            ),
            ErrorCode::InvalidParameterValueCode
        );
        assert_eq!(
            err(
                code_of(serde_json::json!({"ZipFile": "UEs="})),
                Some("Inline")
            ),
            ErrorCode::UnsupportedOperation
        );
    }
}
