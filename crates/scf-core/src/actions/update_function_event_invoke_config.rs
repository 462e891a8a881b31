//! UpdateFunctionEventInvokeConfig: async retries (RetryNum 0-2) and message TTL (60-21600 s).

use crate::lookup::load;
use crate::service::{Caller, Service, now_ms};
use scf_derive::Params;
use scf_store::AsyncRetry;
use scf_types::{ApiError, ErrorCode};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub async_trigger_config: AsyncTriggerConfig,
    pub function_name: String,
    pub namespace: Option<String>,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct AsyncTriggerConfig {
    pub retry_config: Vec<RetryConfig>,
    #[serde(rename = "MsgTTL")]
    pub msg_ttl: i64,
}

#[derive(Debug, Deserialize, Params)]
#[serde(rename_all = "PascalCase")]
pub struct RetryConfig {
    pub retry_num: i64,
}

/// GetAccount's limits: RetryNumLimit 2, MinMsgTTL 60, MaxMsgTTL 21600.
const MAX_RETRIES: i64 = 2;
const MSG_TTL_RANGE: std::ops::RangeInclusive<i64> = 60..=21_600;

pub async fn apply(
    svc: &Arc<Service>,
    caller: &Caller,
    req: Request,
) -> Result<Map<String, Value>, ApiError> {
    let mut f = load(svc, caller, req.namespace.as_deref(), &req.function_name).await?;
    let cfg = req.async_trigger_config;
    let Some(first) = cfg.retry_config.first() else {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValueAsyncTriggerConfig,
            "RetryConfig needs one entry.",
        ));
    };
    if !(0..=MAX_RETRIES).contains(&first.retry_num) {
        return Err(ApiError::new(
            ErrorCode::LimitExceededRetryNum,
            format!(
                "RetryNum {} is out of range: use 0 to {MAX_RETRIES}.",
                first.retry_num
            ),
        ));
    }
    if !MSG_TTL_RANGE.contains(&cfg.msg_ttl) {
        return Err(ApiError::new(
            ErrorCode::LimitExceededMsgTtl,
            format!(
                "MsgTTL {} is out of range: use 60 to 21600 seconds.",
                cfg.msg_ttl
            ),
        ));
    }
    f.async_retry = Some(AsyncRetry {
        retry_num: first.retry_num,
        msg_ttl_secs: cfg.msg_ttl,
    });
    f.mod_time_ms = now_ms();
    svc.store.update_function(&f).await?;
    Ok(Map::new())
}
