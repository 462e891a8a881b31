//! The checks both signature styles make: action and version, the key, the clock.

use super::{err, missing};
use crate::AppState;
use crate::config::Account;
use scf_types::actions::{SCF_ACTIONS, VERSION};
use scf_types::{ApiError, ErrorCode};

/// The action, as SCF's own name for it (so that it can label metrics), and the version.
pub(super) fn check_action(
    action: Option<&str>,
    version: Option<&str>,
    action_name: &str,
    version_name: &str,
) -> Result<&'static str, ApiError> {
    let action = action
        .filter(|a| !a.is_empty())
        .ok_or_else(|| missing(action_name))?;
    let Some(action) = SCF_ACTIONS.iter().copied().find(|a| *a == action) else {
        return Err(err(
            ErrorCode::InvalidAction,
            format!("The action `{action}` does not exist in SCF."),
        ));
    };
    let version = version
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(version_name))?;
    if version != VERSION {
        return Err(err(
            ErrorCode::NoSuchVersion,
            format!("API version `{version}` does not exist; SCF's is {VERSION}."),
        ));
    }
    Ok(action)
}

/// The account whose SecretId signed.
pub(super) fn account<'s>(state: &'s AppState, secret_id: &str) -> Result<&'s Account, ApiError> {
    state.accounts.get(secret_id).ok_or_else(|| {
        err(
            ErrorCode::AuthSecretIdNotFound,
            "The SecretId is not found.",
        )
    })
}

/// The request's timestamp, if within `[http] max_clock_skew_seconds` of the server's clock.
pub(super) fn check_clock(state: &AppState, timestamp: &str, name: &str) -> Result<i64, ApiError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| {
        err(
            ErrorCode::InvalidParameter,
            format!("`{name}` must be Unix seconds."),
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    if now.abs_diff(ts) > state.http_limits.max_clock_skew_seconds.unsigned_abs() {
        return Err(err(
            ErrorCode::AuthSignatureExpire,
            format!(
                "The signature expired: timestamp {ts} is more than {} s from the server's clock {now}.",
                state.http_limits.max_clock_skew_seconds
            ),
        ));
    }
    Ok(ts)
}

pub(super) fn signature_failure() -> ApiError {
    err(
        ErrorCode::AuthSignatureFailure,
        "The signature does not match: check the SecretKey and how the request was signed.",
    )
}
