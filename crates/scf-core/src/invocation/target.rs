//! What an Invoke runs, and how the engine is to run it.

use super::*;

/// What an Invoke will run: a version of a function.
pub(crate) struct Target {
    pub record: FunctionRecord,
    /// `$LATEST` or a version number.
    pub version: String,
}

/// Resolves `qualifier` (`$LATEST`, `$DEFAULT`, or a published version number).
pub(crate) async fn resolve(
    svc: &Arc<Service>,
    caller: &Caller,
    namespace: Option<&str>,
    name: &str,
    qualifier: Option<&str>,
) -> Result<Target, ApiError> {
    let latest = crate::lookup::load(svc, caller, namespace, name).await?;
    match qualifier.filter(|q| !q.is_empty()) {
        // No aliases are served: $DEFAULT points at $LATEST, as it does for a new function.
        None | Some("$LATEST") | Some("$DEFAULT") => Ok(Target {
            record: latest,
            version: "$LATEST".into(),
        }),
        Some(q) => match svc.store.get_version(&latest.key, q).await? {
            Some(v) => Ok(Target {
                record: v.function,
                version: v.version,
            }),
            None => Err(ApiError::new(
                ErrorCode::ResourceNotFoundQualifier,
                format!("Version or alias `{q}` of function `{name}` does not exist."),
            )),
        },
    }
}

/// The reserved concurrency of a function, as a count of instances.
pub(crate) fn max_concurrency(f: &FunctionRecord) -> Option<u32> {
    let reserved = f.reserved_concurrency_mem?;
    Some((reserved / (f.memory_size.max(64) as u64)) as u32)
}

pub(super) fn spec(svc: &Service, caller_scope: &Scope, uin: &str, t: &Target) -> FunctionSpec {
    let f = &t.record;
    let k = &f.key;
    let mut env: Vec<(String, String)> = vec![
        ("SCF_FUNCTIONNAME".into(), k.name.clone()),
        ("SCF_FUNCTIONVERSION".into(), t.version.clone()),
        ("SCF_NAMESPACE".into(), k.namespace.clone()),
        ("SCF_RUNTIME".into(), f.runtime.clone()),
        ("SCF_MEMORY_SIZE".into(), f.memory_size.to_string()),
        ("SCF_TIMEOUT".into(), f.timeout.to_string()),
        ("TENCENTCLOUD_REGION".into(), caller_scope.region.clone()),
        ("TENCENTCLOUD_APPID".into(), caller_scope.app_id.to_string()),
        ("TENCENTCLOUD_UIN".into(), uin.to_string()),
        ("TENCENTCLOUD_TZ".into(), "UTC".into()),
        ("TENCENTCLOUD_RUNENV".into(), "SCF".into()),
        ("_HANDLER".into(), f.handler.clone()),
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("HOME".into(), "/tmp".into()),
        ("TMPDIR".into(), "/tmp".into()),
    ];
    env.extend(f.environment.iter().cloned());
    FunctionSpec {
        account_id: k.scope.app_id.to_string(),
        function_id: engine_function_id(k),
        // The function's id too: a function deleted and made again under the same name, with
        // the same package, must not get the old one's instances (their code folder is gone).
        version_id: format!("{}@{}", f.function_id, t.version),
        runtime: f.runtime.clone(),
        handler: f.handler.clone(),
        memory_mb: f.memory_size as u64,
        timeout: Duration::from_secs(f.timeout.max(1) as u64),
        init_timeout: Duration::from_secs(f.init_timeout.max(1) as u64),
        code_dir: svc.packages.code_dir(&f.code_sha256),
        env,
        max_concurrency: max_concurrency(f),
    }
}

/// The engine's name for a function (all its versions): its concurrency cap, its idle cap and
/// [`drain_instances`] go by it.
pub(super) fn engine_function_id(k: &FunctionKey) -> String {
    format!(
        "{}/{}/{}/{}",
        k.scope.app_id, k.scope.region, k.namespace, k.name
    )
}

/// Stops this node's idle and spare instances of a function that was deleted or changed
/// (DeleteFunction, UpdateFunctionCode, UpdateFunctionConfiguration), rather than leaving
/// them warm until their keep-alive; its busy ones end with their invocation. Other nodes of
/// a cluster are not told: theirs go at their keep-alive.
pub(crate) fn drain_instances(svc: &Service, k: &FunctionKey) {
    let stopped = svc.engine.drain_function(&engine_function_id(k));
    if stopped > 0 {
        tracing::debug!(function = %k.name, stopped, "stopped the instances of a replaced function");
    }
}

/// SCF's `context` (reference §8.2).
pub(super) fn context(request_id: &str, t: &Target, scope: &Scope, uin: &str) -> Value {
    let f = &t.record;
    let mut environment: Map<String, Value> = f
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    environment.insert("SCF_NAMESPACE".into(), json!(f.key.namespace));
    let environ = environment
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(";");
    json!({
        "request_id": request_id,
        "function_name": f.key.name,
        "function_version": t.version,
        "namespace": f.key.namespace,
        "memory_limit_in_mb": f.memory_size,
        "time_limit_in_ms": f.timeout * 1000,
        "tencentcloud_region": scope.region,
        "tencentcloud_appid": scope.app_id.to_string(),
        "tencentcloud_uin": uin,
        "environment": Value::Object(environment).to_string(),
        "environ": environ,
    })
}

/// Parses an event given as a JSON string; `None` (absent or empty) is `{}`.
pub(crate) fn parse_event(
    text: Option<&str>,
    code: ErrorCode,
    what: &str,
    max: usize,
) -> Result<Box<RawValue>, ApiError> {
    let text = text.filter(|t| !t.trim().is_empty()).unwrap_or("{}");
    if text.len() > max {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterRequestTooLarge,
            format!("{what} is {} bytes; the limit is {max} bytes.", text.len()),
        ));
    }
    RawValue::from_string(text.to_string())
        .map_err(|e| ApiError::new(code, format!("{what} is not valid JSON: {e}.")))
}

pub(super) fn require_active(t: &Target) -> Result<(), ApiError> {
    if t.record.status == FunctionStatus::Active {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::FailedOperationFunctionStatusError,
            format!(
                "Function `{}` is {}, not Active; it cannot run yet.",
                t.record.key.name, t.record.status
            ),
        ))
    }
}

/// The function's async retry settings: (retries after a failed run, MsgTTL seconds).
pub(crate) fn async_settings(f: &FunctionRecord) -> (i64, i64) {
    f.async_retry
        .map_or((DEFAULT_RETRY_NUM, DEFAULT_MSG_TTL_SECS), |r| {
            (r.retry_num, r.msg_ttl_secs)
        })
}
