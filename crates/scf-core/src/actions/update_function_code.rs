//! UpdateFunctionCode: a new package (and optionally handler); the function is `Updating` until
//! the package is unpacked, then `Active` (or `UpdateFailed`).

use super::code_source::{self, Code};
use crate::lookup::load;
use crate::rules;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_store::{FunctionRecord, FunctionStatus, StoreError};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub handler: Option<String>,
    pub cos_bucket_name: Option<String>,
    pub cos_object_name: Option<String>,
    pub zip_file: Option<String>,
    pub namespace: Option<String>,
    pub cos_bucket_region: Option<String>,
    pub install_dependency: Option<String>,
    pub env_id: Option<String>,
    pub publish: Option<String>,
    pub code: Option<Code>,
    pub code_source: Option<String>,
}

/// `Publish=TRUE` asks for a version; versions are not served yet, and silently not publishing
/// would mislead the caller.
pub(crate) fn refuse_publish(publish: Option<&str>) -> Result<(), ApiError> {
    if publish.is_some_and(|p| p.eq_ignore_ascii_case("TRUE")) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedOperation,
            "Publish=TRUE is not supported yet: scfd serves $LATEST only.",
        ));
    }
    Ok(())
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let mut f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    refuse_publish(req.publish.as_deref())?;
    if let Some(h) = req.handler.as_deref().filter(|h| !h.is_empty()) {
        rules::handler(&f.runtime, h)?;
        f.handler = h.to_string();
    }
    // The top-level COS/ZipFile fields and the Code structure describe the same thing; merge
    // them so one rule decides.
    let mut code = req.code.unwrap_or_default();
    code.zip_file = code.zip_file.or(req.zip_file);
    code.cos_bucket_name = code.cos_bucket_name.or(req.cos_bucket_name);
    code.cos_object_name = code.cos_object_name.or(req.cos_object_name);
    code.cos_bucket_region = code.cos_bucket_region.or(req.cos_bucket_region);
    let zip_b64 = code_source::zip_base64(&code, req.code_source.as_deref())?;
    let (bytes, inspected) =
        code_source::decode_and_inspect(svc, zip_b64, svc.settings.limits.update_zip_file_bytes)
            .await?;

    let handler = f.handler.clone();
    let apply = |f: &mut FunctionRecord| {
        f.handler = handler.clone();
        f.code_sha256 = inspected.sha256.clone();
        f.code_size = inspected.zip_bytes;
        f.unpacked_size = inspected.unpacked_bytes;
        f.status = FunctionStatus::Updating;
        f.status_desc = String::new();
        f.status_reasons.clear();
        f.mod_time_ms = now_ms();
        if let Some(dep) = &req.install_dependency {
            f.extra
                .insert("InstallDependency".into(), Value::String(dep.clone()));
        }
    };
    let mut old_sha = f.code_sha256.clone();
    apply(&mut f);
    let updated = {
        let _guard = svc.packages.lock.lock().await;
        code_source::check_account_room(svc, &caller.scope, Some(&f.key), &inspected).await?;
        let bytes = code_source::store(svc, inspected.sha256.clone(), bytes).await?;
        let mut result = svc.store.update_function(&f).await;
        // The zip's inspection takes a while; the previous update's unpacking may have
        // settled its status meanwhile. Apply the same change to the fresh record.
        for _ in 0..5 {
            if result != Err(StoreError::Conflict) {
                break;
            }
            match svc.store.get_function(&f.key).await? {
                Some(fresh) => {
                    old_sha = fresh.code_sha256.clone();
                    f = fresh;
                    apply(&mut f);
                    result = svc.store.update_function(&f).await;
                }
                None => result = Err(StoreError::NotFound),
            }
        }
        result.map(|()| bytes)
    };
    match updated {
        Ok(bytes) => code_source::store_again(svc, &inspected.sha256, &bytes).await,
        Err(StoreError::NotFound) => {
            svc.release_package(&inspected.sha256).await;
            return Err(crate::lookup::function_not_found(
                &req.function_name,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    crate::invocation::drain_instances(svc, &f.key);
    if old_sha != inspected.sha256 {
        svc.release_package(&old_sha).await;
    }
    svc.spawn_unpack(
        f.key,
        inspected.sha256,
        FunctionStatus::Active,
        FunctionStatus::UpdateFailed,
    );
    Ok(Map::new())
}
