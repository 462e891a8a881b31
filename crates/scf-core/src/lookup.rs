//! Finding what a request names, with the answers SCF gives when it is not there: the
//! caller's function (a stranger's name gets the same not-found), a Qualifier's version, and
//! the one rule for an omitted namespace. Used by the actions and by the invocation paths.

use crate::rules;
use crate::service::{Caller, Service, namespace_or_default};
use scf_store::{FunctionRecord, VersionRecord};
use scf_types::{ApiError, ErrorCode};
use std::sync::Arc;

pub(crate) fn function_not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceNotFoundFunction,
        format!("Function `{name}` does not exist."),
    )
}

/// The published version a Qualifier names: `None` for `$LATEST` (or none given).
pub(crate) async fn check_qualifier(
    svc: &Arc<Service>,
    f: &FunctionRecord,
    qualifier: Option<&str>,
) -> Result<Option<VersionRecord>, ApiError> {
    match qualifier {
        None | Some("") | Some("$LATEST") => Ok(None),
        Some(q) => match svc.store.get_version(&f.key, q).await? {
            Some(v) => Ok(Some(v)),
            None => Err(ApiError::new(
                ErrorCode::ResourceNotFoundVersion,
                format!("Version `{q}` of function `{}` does not exist.", f.key.name),
            )),
        },
    }
}

/// The caller's function, or the not-found error a stranger's name gets too.
pub(crate) async fn load(
    svc: &Arc<Service>,
    caller: &Caller,
    namespace: Option<&str>,
    name: &str,
) -> Result<FunctionRecord, ApiError> {
    let namespace = namespace_or_default(namespace);
    if rules::plausible_name(name) && rules::plausible_name(namespace) {
        let key = caller.function_key(Some(namespace), name);
        if let Some(f) = svc.store.get_function(&key).await? {
            return Ok(f);
        }
    }
    svc.require_namespace(&caller.scope, namespace).await?;
    Err(function_not_found(name))
}
