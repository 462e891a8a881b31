//! The API endpoint: every request to `/`, in small parts, layer → extractor → checks →
//! core. Each step refuses with its own code (always HTTP 200 in Tencent's envelope), in this
//! order:
//!
//! 1. the body step (`body::read`, first in the one layer): the method, only GET and POST (`UnsupportedProtocol`);
//!    the size, 10 MB TC3 POST, 1 MB v1 POST, 32 KB GET URL (`RequestSizeLimitExceeded`; a
//!    body over the limit is read and dropped, up to `[http] discard_body_bytes`, so the client
//!    reads the answer, and the connection is closed after it); then a POST's Content-Type,
//!    JSON or a form (`UnsupportedProtocol`). It hands the body on, read, in the request's
//!    extensions;
//! 2. the `Verified` extractor (`auth`, `tc3`, `v1`, `checks`): the style, an `Authorization`
//!    header meaning TC3 (headers carry Action/Version/Timestamp/Region), otherwise the
//!    parameters must carry a v1 signature (`AuthFailure.InvalidAuthorization`); the action and
//!    version (`MissingParameter`, `InvalidAction`, `NoSuchVersion`); the signature: key lookup,
//!    clock skew, then the HMAC over the raw headers and body as sent
//!    (`AuthFailure.SecretIdNotFound`, `.SignatureExpire`, `.SignatureFailure`); a TC3 signature
//!    seen before with another action, region, version or token is refused
//!    (`AuthFailure.SignatureFailure`, see [`crate::replay`]); a TC3 JSON body must be an object
//!    (`InvalidParameter`);
//! 3. the handler's checks (`api`): region (`UnsupportedRegion`), an isolated account
//!    (`OperationDenied.AccountIsolate`), rate (`RequestLimitExceeded`);
//! 4. the core: the parameters against the action's schema (`UnknownParameter`,
//!    `MissingParameter`, `InvalidParameter`, ...), then the action applied.
//!
//! One way out, around all of them: the respond layer (`outcome::respond`, outermost) gives
//! the request its RequestId and log span, and at the end turns the outcome each part leaves
//! on its response (an answer or an `ApiFailure`) into the envelope, counts it
//! (`scf_api_requests_total`, `scf_rate_limited_total`, labelled by SCF action once the
//! signature checked out) and logs it once: a refusal at info, `ServiceUnavailable` at warn,
//! an internal or store failure at error with the cause the core attached
//! ([`scf_types::ApiError::with_source`]). The answer is moved from the core into the envelope
//! and serialized once (an Invoke's RetMsg can be 6 MB).

mod auth;
mod body;
mod checks;
mod outcome;
mod tc3;
mod v1;

use crate::AppState;
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, any};
use outcome::{Answer, ApiFailure};
use scf_core::{Action, Caller};
use scf_store::Scope;
use scf_types::schema::RawParams;
use scf_types::{ApiError, ErrorCode};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The route of `/`: every method reaches the one layer, so the wrong ones are refused in
/// Tencent's envelope (the respond layer reads the body, then `api` runs).
pub fn endpoint(state: &Arc<AppState>) -> MethodRouter<Arc<AppState>> {
    use axum::middleware::from_fn_with_state;
    any(api).layer(from_fn_with_state(Arc::clone(state), outcome::respond))
}

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn missing(name: &str) -> ApiError {
    err(
        ErrorCode::MissingParameter,
        format!("The request is missing a required parameter `{name}`."),
    )
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What a signature style's checks yield: the account that signed, the action, the region
/// named, the parameters.
struct Signed<'s> {
    account: &'s crate::config::Account,
    action: &'static str,
    region: Option<String>,
    params: RawParams,
}

/// Who signed a request, as the checks after the signature need it.
struct Signer {
    app_id: u64,
    uin: String,
    isolated: bool,
}

/// A request whose signature checked out: who sent it, the action (one of SCF's), the region
/// it names, its parameters, and the `scheme://host` it came to.
struct Verified {
    account: Signer,
    action: &'static str,
    region: Option<String>,
    params: RawParams,
    base_url: String,
}

/// The handler: the checks after the signature, then the core.
async fn api(
    state: axum::extract::State<Arc<AppState>>,
    verified: Verified,
) -> Result<Answer, ApiFailure> {
    let action = verified.action;
    tracing::Span::current().record("action", action);
    match apply(&state, verified).await {
        Ok(fields) => Ok(Answer { action, fields }),
        Err(error) => Err(ApiFailure::after(action, error)),
    }
}

/// Region, isolation and rate, then the action parsed and applied.
async fn apply(state: &AppState, verified: Verified) -> Result<Map<String, Value>, ApiError> {
    let Verified {
        account,
        action,
        region,
        params,
        base_url,
    } = verified;
    let region = served_region(state, region)?;
    admit(state, &account, action)?;
    let Some(parsed) = Action::parse(action, params) else {
        return Err(err(
            ErrorCode::UnsupportedOperation,
            format!("scfd does not implement {action} yet."),
        ));
    };
    let caller = Caller {
        scope: Scope {
            app_id: account.app_id,
            region,
        },
        uin: account.uin,
        base_url,
    };
    parsed?.apply(&state.service, &caller).await
}

/// The region named (the default when none or empty), if this server serves it.
fn served_region(state: &AppState, region: Option<String>) -> Result<String, ApiError> {
    let region = region
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| state.default_region.clone());
    if !state.regions.contains(&region) {
        return Err(err(
            ErrorCode::UnsupportedRegion,
            format!("Region `{region}` is not supported."),
        ));
    }
    Ok(region)
}

/// An isolated account is denied everything; any other within its action's rate goes on.
fn admit(state: &AppState, account: &Signer, action: &str) -> Result<(), ApiError> {
    if account.isolated {
        return Err(err(
            ErrorCode::OperationDeniedAccountIsolate,
            "This account is isolated: every action is denied.",
        ));
    }
    if !state.rate_limits.check(action, account.app_id) {
        return Err(err(
            ErrorCode::RequestLimitExceeded,
            format!("Too many {action} requests; slow down and retry."),
        ));
    }
    Ok(())
}
