//! CreateFunction: checks everything, stores the package durably, records the function as
//! `Creating`, answers, and unpacks in the background (`Active`, or `CreateFailed` with a reason).

use super::code_source::{self, Code};
use super::function_view::{Environment, Tag, env_pairs};
use crate::rules;
use crate::service::{Caller, DEFAULT_NAMESPACE, Service, namespace_not_found, now_ms};
use scf_derive::Params;
use crate::zip_guard::Inspected;
use scf_store::{FunctionKey, FunctionRecord, FunctionStatus, StoreError};
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub function_name: String,
    pub code: Code,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub memory_size: Option<i64>,
    pub timeout: Option<i64>,
    pub environment: Option<Environment>,
    pub runtime: Option<String>,
    pub namespace: Option<String>,
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    pub code_source: Option<String>,
    pub init_timeout: Option<i64>,
    pub tags: Option<Vec<Tag>>,
    /// Everything else the schema allows (VpcConfig, Role, CLS, CFS, ...): stored, not acted on.
    #[serde(flatten)]
    #[params(schema = Stored)]
    pub extra: Map<String, Value>,
}

/// What CreateFunction stores as sent without acting on it (see [`super::wire`]).
#[allow(dead_code)]
#[derive(Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Stored {
    #[serde(flatten)]
    common: super::wire::StoredConfig,
    async_run_enable: Option<String>,
    trace_enable: Option<String>,
    auto_deploy_cls_topic_index: Option<String>,
    auto_create_cls_topic: Option<String>,
    protocol_type: Option<String>,
}

pub const DEFAULT_HANDLER: &str = "index.main_handler";

fn function_id() -> String {
    // SCF's ids look like `lam-bcrxav2w`: eight base-36 characters.
    let mut n = uuid::Uuid::new_v4().as_u128();
    let mut id = String::from("lam-");
    for _ in 0..8 {
        let d = (n % 36) as u32;
        id.push(char::from_digit(d, 36).expect("a base-36 digit"));
        n /= 36;
    }
    id
}

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    mut req: Request,
) -> Result<Map<String, Value>, ApiError> {
    rules::function_name(&req.function_name)?;
    let namespace = req
        .namespace
        .take()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.into());
    let config = Config::checked(svc, &mut req)?;
    let zip_b64 = code_source::zip_base64(&req.code, req.code_source.as_deref())?;

    let key = caller.function_key(Some(&namespace), &req.function_name);
    svc.require_namespace(&caller.scope, &namespace).await?;
    if svc.store.get_function(&key).await?.is_some() {
        return Err(in_use(&req.function_name));
    }
    let (bytes, inspected) =
        code_source::decode_and_inspect(svc, zip_b64, svc.settings.limits.zip_file_bytes).await?;
    let name = std::mem::take(&mut req.function_name);
    let record = config.into_record(key.clone(), req, &inspected);
    create(svc, caller, &record, bytes, &inspected)
        .await?
        .map_err(|e| match e {
            StoreError::AlreadyExists => in_use(&name),
            StoreError::NamespaceNotFound => namespace_not_found(&namespace),
            StoreError::LimitExceeded(max) => ApiError::new(
                ErrorCode::LimitExceededFunction,
                format!("Namespace `{namespace}` already holds {max} functions, the limit."),
            ),
            other => other.into(),
        })?;
    svc.spawn_unpack(
        key,
        inspected.sha256,
        FunctionStatus::Active,
        FunctionStatus::CreateFailed,
    );
    Ok(Map::new())
}

/// The function's settings, each defaulted and checked by SCF's rules.
struct Config {
    runtime: String,
    handler: String,
    memory_size: i64,
    timeout: i64,
    init_timeout: i64,
    kind: String,
    description: String,
    environment: Vec<(String, String)>,
}

impl Config {
    fn checked(svc: &Service, req: &mut Request) -> Result<Config, ApiError> {
        let runtime = req
            .runtime
            .take()
            .unwrap_or_else(|| svc.settings.default_runtime.clone());
        rules::runtime(&runtime)?;
        if let Err(message) = svc.engine.check_runtime(&runtime) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameterValueRuntime,
                message,
            ));
        }
        let handler = req
            .handler
            .take()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HANDLER.into());
        rules::handler(&runtime, &handler)?;
        let memory_size = req.memory_size.unwrap_or(128);
        rules::memory_size(memory_size)?;
        let timeout = req.timeout.unwrap_or(3);
        rules::timeout(timeout)?;
        let init_timeout = req.init_timeout.unwrap_or(65);
        rules::init_timeout(init_timeout)?;
        let kind = req.kind.take().unwrap_or_else(|| "Event".into());
        rules::function_type(&kind)?;
        let description = req.description.take().unwrap_or_default();
        rules::description(&description)?;
        let environment = env_pairs(req.environment.take().unwrap_or_default())?;
        Ok(Config {
            runtime,
            handler,
            memory_size,
            timeout,
            init_timeout,
            kind,
            description,
            environment,
        })
    }

    /// The new function's record, `Creating`, with the package `inspected`.
    fn into_record(self, key: FunctionKey, req: Request, inspected: &Inspected) -> FunctionRecord {
        let now = now_ms();
        FunctionRecord {
            key,
            function_id: function_id(),
            runtime: self.runtime,
            handler: self.handler,
            description: self.description,
            memory_size: self.memory_size,
            timeout: self.timeout,
            init_timeout: self.init_timeout,
            kind: self.kind,
            environment: self.environment,
            tags: req
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key, t.value))
                .collect(),
            code_sha256: inspected.sha256.clone(),
            code_size: inspected.zip_bytes,
            unpacked_size: inspected.unpacked_bytes,
            status: FunctionStatus::Creating,
            status_desc: String::new(),
            status_reasons: vec![],
            extra: req.extra,
            reserved_concurrency_mem: None,
            async_retry: None,
            add_time_ms: now,
            mod_time_ms: now,
            revision: 0,
        }
    }
}

/// Stores the package durably and the function's record, under the packages lock (the
/// account's room is checked there). A refusal of the record (`Ok(Err)`) releases the package
/// and is returned for the caller to name.
async fn create(
    svc: &Arc<Service>,
    caller: &Caller,
    record: &FunctionRecord,
    bytes: Vec<u8>,
    inspected: &Inspected,
) -> Result<Result<(), StoreError>, ApiError> {
    let created = {
        let _guard = svc.packages.lock.lock().await;
        code_source::check_account_room(svc, &caller.scope, None, inspected).await?;
        let bytes = code_source::store(svc, inspected.sha256.clone(), bytes).await?;
        svc.store
            .create_function(record, svc.settings.limits.max_functions_per_namespace)
            .await
            .map(|()| bytes)
    };
    Ok(match created {
        Ok(bytes) => {
            code_source::store_again(svc, &inspected.sha256, &bytes).await;
            Ok(())
        }
        Err(e) => {
            svc.release_package(&inspected.sha256).await;
            Err(e)
        }
    })
}

fn in_use(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ResourceInUseFunction,
        format!("Function `{name}` already exists."),
    )
}
