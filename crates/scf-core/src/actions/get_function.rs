//! GetFunction: one function's settings and state.

use super::function_view;
use crate::lookup::{check_qualifier, load};
use crate::service::{Caller, Service};
use scf_store::FunctionRecord;
use scf_derive::Params;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: Option<String>,
    pub qualifier: Option<String>,
    pub namespace: Option<String>,
    pub show_code: Option<String>,
}

/// Entry files larger than this are not shown in CodeInfo (reference §5 GetFunction).
const MAX_CODE_INFO: u64 = 1 << 20;

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let Some(name) = req.function_name.filter(|n| !n.is_empty()) else {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request is missing a required parameter `FunctionName`.",
        ));
    };
    let latest = load(svc, caller, req.namespace.as_deref(), &name).await?;
    let (f, version) = match check_qualifier(svc, &latest, req.qualifier.as_deref()).await? {
        Some(v) => (v.function, v.version),
        None => (latest, "$LATEST".to_string()),
    };
    let code_info = if req.show_code.as_deref() == Some("TRUE") {
        entry_file(svc, &f).await
    } else {
        String::new()
    };
    let mut out = function_view::detail(svc, &f, code_info, &version);
    if let Ok(Some(note)) = svc.engine.check_runtime(&f.runtime) {
        // The runtime runs on another interpreter version than it names: say so.
        if let Some(Value::Array(reasons)) = out.get_mut("StatusReasons") {
            reasons.push(
                serde_json::json!({"ErrorCode": "RuntimeVersionFallback", "ErrorMessage": note}),
            );
        }
    }
    Ok(out)
}

/// The handler's entry file, if it is unpacked, UTF-8 and at most 1 MB.
async fn entry_file(svc: &Arc<Service>, f: &FunctionRecord) -> String {
    let Some((file, _)) = f.handler.rsplit_once('.') else {
        return String::new();
    };
    let dir = svc.packages.code_dir(&f.code_sha256);
    for ext in ["py", "js", "mjs", "cjs"] {
        let path = dir.join(format!("{file}.{ext}"));
        if let Ok(meta) = tokio::fs::metadata(&path).await
            && meta.len() <= MAX_CODE_INFO
            && let Ok(text) = tokio::fs::read_to_string(&path).await
        {
            return text;
        }
    }
    String::new()
}
