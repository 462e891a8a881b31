//! UpdateFunctionCode: a new package (and optionally handler); the function is `Updating` until
//! the package is unpacked, then `Active` (or `UpdateFailed`).

use super::code_source::{self, Code};
use crate::lookup::load;
use crate::rules;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use crate::zip_guard::Inspected;
use scf_store::{FunctionRecord, FunctionStatus, StoreError};
use scf_types::ApiError;
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

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    mut req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    rules::refuse_publish(req.publish.as_deref())?;
    let handler = match req.handler.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => {
            rules::handler(&f.runtime, h)?;
            h.to_string()
        }
        None => f.handler.clone(),
    };
    let zip_b64 = code_source::zip_base64(&merged_code(&mut req), req.code_source.as_deref())?;
    let (bytes, inspected) =
        code_source::decode_and_inspect(svc, zip_b64, svc.settings.limits.update_zip_file_bytes)
            .await?;
    let change = Change {
        handler,
        inspected: &inspected,
        install_dependency: req.install_dependency.as_deref(),
    };
    let (f, old_sha) = match commit(svc, caller, f, &change, bytes).await? {
        Ok(committed) => committed,
        Err(StoreError::NotFound) => {
            svc.release_package(&inspected.sha256).await;
            return Err(crate::lookup::function_not_found(&req.function_name));
        }
        Err(e) => return Err(e.into()),
    };
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

/// The top-level COS/ZipFile fields and the Code structure describe the same thing: merged,
/// so that one rule decides.
fn merged_code(req: &mut Request) -> Code {
    let mut code = req.code.take().unwrap_or_default();
    code.zip_file = code.zip_file.or(req.zip_file.take());
    code.cos_bucket_name = code.cos_bucket_name.or(req.cos_bucket_name.take());
    code.cos_object_name = code.cos_object_name.or(req.cos_object_name.take());
    code.cos_bucket_region = code.cos_bucket_region.or(req.cos_bucket_region.take());
    code
}

/// What the update does to the function's record.
struct Change<'a> {
    handler: String,
    inspected: &'a Inspected,
    install_dependency: Option<&'a str>,
}

impl Change<'_> {
    fn apply_to(&self, f: &mut FunctionRecord) {
        f.handler.clone_from(&self.handler);
        f.code_sha256.clone_from(&self.inspected.sha256);
        f.code_size = self.inspected.zip_bytes;
        f.unpacked_size = self.inspected.unpacked_bytes;
        f.status = FunctionStatus::Updating;
        f.status_desc = String::new();
        f.status_reasons.clear();
        f.mod_time_ms = now_ms();
        if let Some(dep) = self.install_dependency {
            f.extra
                .insert("InstallDependency".into(), Value::String(dep.to_string()));
        }
    }
}

/// Stores the package durably and the changed record, under the packages lock (the account's
/// room is checked there). The zip's inspection takes a while, and the previous update's
/// unpacking may have settled its status meanwhile: on a conflict the same change is applied
/// to the fresh record, up to five times. `Ok(Ok)` has the record written and the package it
/// replaced; `Ok(Err)` the store's refusal.
async fn commit(
    svc: &Arc<Service>,
    caller: &Caller,
    mut f: FunctionRecord,
    change: &Change<'_>,
    bytes: Vec<u8>,
) -> Result<Result<(FunctionRecord, String), StoreError>, ApiError> {
    let mut old_sha = f.code_sha256.clone();
    change.apply_to(&mut f);
    let sha256 = &change.inspected.sha256;
    let updated = {
        let _guard = svc.packages.lock.lock().await;
        code_source::check_account_room(svc, &caller.scope, Some(&f.key), change.inspected)
            .await?;
        let bytes = code_source::store(svc, sha256.clone(), bytes).await?;
        let mut result = svc.store.update_function(&f).await;
        for _ in 0..5 {
            if result != Err(StoreError::Conflict) {
                break;
            }
            match svc.store.get_function(&f.key).await? {
                Some(fresh) => {
                    old_sha = fresh.code_sha256.clone();
                    f = fresh;
                    change.apply_to(&mut f);
                    result = svc.store.update_function(&f).await;
                }
                None => result = Err(StoreError::NotFound),
            }
        }
        result.map(|()| bytes)
    };
    Ok(match updated {
        Ok(bytes) => {
            code_source::store_again(svc, sha256, &bytes).await;
            Ok((f, old_sha))
        }
        Err(e) => Err(e),
    })
}
