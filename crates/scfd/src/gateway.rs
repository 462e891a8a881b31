//! The API endpoint: one handler for every request to `/`.
//!
//! It turns a raw HTTP request into a verified caller and a typed action, in this order (each
//! step answers with its own code, always HTTP 200 in Tencent's envelope):
//! 1. method: only GET and POST (`UnsupportedProtocol`);
//! 2. size: 10 MB TC3 POST, 1 MB v1 POST, 32 KB GET (`RequestSizeLimitExceeded`; a body over
//!    the limit is read and dropped, up to `[http] discard_body_bytes`, so the client reads the
//!    answer); a POST's Content-Type: JSON or a form (`UnsupportedProtocol`);
//! 3. style: an `Authorization` header means TC3 (headers carry Action/Version/Timestamp/Region);
//!    otherwise the parameters must carry a v1 signature (`AuthFailure.InvalidAuthorization`);
//! 4. action and version (`MissingParameter`, `InvalidAction`, `NoSuchVersion`);
//! 5. the signature: key lookup, clock skew, then the HMAC over the raw headers and body as sent
//!    (`AuthFailure.SecretIdNotFound`, `.SignatureExpire`, `.SignatureFailure`); a TC3
//!    signature seen before with another action, region, version or token is refused
//!    (`AuthFailure.SignatureFailure`, see [`crate::replay`]);
//! 6. region (`UnsupportedRegion`), rate (`RequestLimitExceeded`);
//! 7. parameters against the action's schema (`UnknownParameter`, `MissingParameter`,
//!    `InvalidParameter`), then the core applies the action.

use crate::AppState;
use crate::config::Account;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::Response;
use scf_core::{Action, Caller};
use scf_store::Scope;
use scf_types::actions::{SCF_ACTIONS, SERVICE, VERSION};
use scf_types::schema::RawParams;
use scf_types::sign::{self, Tc3Request, V1Method};
use scf_types::{ApiError, ErrorCode, envelope};
use serde_json::{Map, Value};
use std::sync::Arc;
use tracing::Instrument;

/// Common v1 parameters: they sign the request and are not the action's.
const V1_COMMON: &[&str] = &[
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "RequestClient",
    "Language",
    "Token",
];

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn missing(name: &str) -> ApiError {
    err(
        ErrorCode::MissingParameter,
        format!("The request is missing a required parameter `{name}`."),
    )
}

/// An API answer: HTTP 200, exactly `application/json`.
fn answer(body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, envelope::CONTENT_TYPE)
        .body(Body::from(body))
        .expect("a static status and header always build")
}

/// A request whose signature checked out.
struct Verified<'a> {
    account: &'a Account,
    action: String,
    region: Option<String>,
    params: RawParams,
}

/// Handles one API request.
pub async fn api(state: axum::extract::State<Arc<AppState>>, request: Request<Body>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!("api", node = %state.node, request_id = %request_id, action = tracing::field::Empty);
    async move {
        let started = std::time::Instant::now();
        let (mut action, mut close) = (None, false);
        let result = handle(&state, request, &mut close, &mut action).await;
        // Only real SCF action names label the series (any other name would let a caller
        // make series without end).
        let action_label = action
            .filter(|a| scf_types::actions::SCF_ACTIONS.contains(&a.as_str()))
            .unwrap_or_else(|| "-".into());
        let code = match &result {
            Ok(_) => "OK",
            Err(e) => e.code.as_str(),
        };
        metrics::counter!("scf_api_requests_total", "action" => action_label.clone(), "code" => code)
            .increment(1);
        if matches!(&result, Err(e) if e.code == ErrorCode::RequestLimitExceeded) {
            metrics::counter!("scf_rate_limited_total", "action" => action_label).increment(1);
        }
        let body = match &result {
            Ok(fields) => envelope::success(fields.clone(), &request_id),
            Err(e) => envelope::error(e, &request_id),
        };
        match &result {
            Ok(_) => tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "ok"),
            Err(e) => tracing::info!(code = %e.code, message = %e.message, "refused"),
        }
        let mut response = answer(body);
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        response
    }
    .instrument(span)
    .await
}

enum BodyError {
    TooLarge,
    Unreadable(String),
}

/// The body, if it fits in `limit`. A larger one is still read and dropped, up to `discard`
/// bytes and for up to 10 s, so that the client, still sending, gets to read the answer
/// (closing on it mid-send gives the SDK "Broken pipe" instead of the code).
async fn read_body(
    body: Body,
    limit: usize,
    discard: usize,
    declared: Option<usize>,
) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    if declared.is_some_and(|n| n > limit.saturating_add(discard)) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut body = body;
        let mut kept = Vec::with_capacity(declared.unwrap_or(0).min(limit));
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Unreadable(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total = total.saturating_add(data.len());
            if total <= limit {
                kept.extend_from_slice(&data);
            } else if total > limit.saturating_add(discard) {
                break;
            } else {
                kept = Vec::new();
            }
        }
        if total > limit {
            Err(BodyError::TooLarge)
        } else {
            Ok(Bytes::from(kept))
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .unwrap_or(Err(BodyError::TooLarge))
}

async fn handle(
    state: &AppState,
    request: Request<Body>,
    close: &mut bool,
    action: &mut Option<String>,
) -> Result<Map<String, Value>, ApiError> {
    let (parts, body) = request.into_parts();
    let limits = &state.http_limits;
    let is_post = match parts.method {
        Method::POST => true,
        Method::GET => false,
        ref other => {
            return Err(err(
                ErrorCode::UnsupportedProtocol,
                format!("HTTP method {other} is not supported; use GET or POST."),
            ));
        }
    };
    let too_large = |what: &str, limit: usize| {
        err(
            ErrorCode::RequestSizeLimitExceeded,
            format!("The {what} exceeds the limit of {limit} bytes."),
        )
    };
    let query = parts.uri.query().unwrap_or("");
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The media type alone (no parameters), parsed once for the size limit, the style and
    // the check below.
    let media = content_type.split(';').next().unwrap_or("").trim();
    let is_form = media.eq_ignore_ascii_case("application/x-www-form-urlencoded");
    let is_json = media.eq_ignore_ascii_case("application/json");
    let body: Bytes = if is_post {
        let limit = if is_form {
            limits.v1_post_bytes
        } else {
            limits.tc3_post_bytes
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match read_body(body, limit, limits.discard_body_bytes, declared).await {
            Ok(body) => body,
            Err(e) => {
                // Whatever is left of the body is not read: the connection cannot carry
                // another request.
                *close = true;
                return Err(match e {
                    BodyError::TooLarge => too_large("request body", limit),
                    BodyError::Unreadable(why) => err(
                        ErrorCode::InvalidParameter,
                        format!("The request body could not be read: {why}."),
                    ),
                });
            }
        }
    } else {
        let line = parts.uri.path().len() + query.len() + 1;
        if line > limits.get_bytes {
            return Err(too_large("request URL", limits.get_bytes));
        }
        Bytes::new()
    };

    if is_post && !is_json && !is_form {
        // Read in full above, so the client reads this answer.
        return Err(err(
            ErrorCode::UnsupportedProtocol,
            format!(
                "A POST must be `application/json` (signed with TC3) or \
                 `application/x-www-form-urlencoded` (signature v1), not `{content_type}`; SCF's \
                 actions take no multipart bodies."
            ),
        ));
    }
    let verified = if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        verify_tc3(
            state,
            &parts.method,
            &parts.headers,
            auth,
            query,
            &body,
            is_post,
            is_form,
        )?
    } else {
        let raw = if is_post {
            body.as_ref()
        } else {
            query.as_bytes()
        };
        if is_post && !is_form {
            return Err(err(
                ErrorCode::AuthInvalidAuthorization,
                "The request has no Authorization header; a POST without one must be a form signed with signature v1.",
            ));
        }
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw).into_owned().collect();
        verify_v1(state, &parts.method, &parts.headers, pairs)?
    };
    tracing::Span::current().record("action", verified.action.as_str());
    *action = Some(verified.action.clone());

    let region = verified
        .region
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| state.default_region.clone());
    if !state.regions.contains(&region) {
        return Err(err(
            ErrorCode::UnsupportedRegion,
            format!("Region `{region}` is not supported."),
        ));
    }
    let account = verified.account;
    if account.isolated {
        return Err(err(
            ErrorCode::OperationDeniedAccountIsolate,
            "This account is isolated: every action is denied.",
        ));
    }
    if !state.rate_limits.check(&verified.action, account.app_id) {
        return Err(err(
            ErrorCode::RequestLimitExceeded,
            format!(
                "Too many {} requests; slow down and retry.",
                verified.action
            ),
        ));
    }
    let Some(action) = Action::parse(&verified.action, verified.params) else {
        return Err(err(
            ErrorCode::UnsupportedOperation,
            format!("scfd does not implement {} yet.", verified.action),
        ));
    };
    let action = action?;
    let caller = Caller {
        scope: Scope {
            app_id: account.app_id,
            region,
        },
        uin: account.uin.clone(),
        base_url: base_url(&parts.headers),
    };
    action.apply(&state.service, &caller).await
}

/// `scheme://host` the client used, from its Host header (tccli puts the scheme in it).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_string()
    } else {
        format!("http://{host}")
    }
}

/// `host` of `host:port` (also `[v6]:port`), if there is a port.
fn strip_port(host: &str) -> Option<String> {
    let (name, port) = host.rsplit_once(':')?;
    (!port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.ends_with(':'))
    .then(|| name.to_string())
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Action and version checks shared by both signature styles.
fn check_action(
    action: Option<&str>,
    version: Option<&str>,
    action_name: &str,
    version_name: &str,
) -> Result<String, ApiError> {
    let action = action
        .filter(|a| !a.is_empty())
        .ok_or_else(|| missing(action_name))?;
    if !SCF_ACTIONS.contains(&action) {
        return Err(err(
            ErrorCode::InvalidAction,
            format!("The action `{action}` does not exist in SCF."),
        ));
    }
    let version = version
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(version_name))?;
    if version != VERSION {
        return Err(err(
            ErrorCode::NoSuchVersion,
            format!("API version `{version}` does not exist; SCF's is {VERSION}."),
        ));
    }
    Ok(action.to_string())
}

fn check_clock(state: &AppState, timestamp: &str, name: &str) -> Result<i64, ApiError> {
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

fn signature_failure() -> ApiError {
    err(
        ErrorCode::AuthSignatureFailure,
        "The signature does not match: check the SecretKey and how the request was signed.",
    )
}

#[allow(clippy::too_many_arguments)]
fn verify_tc3<'s>(
    state: &'s AppState,
    method: &Method,
    headers: &HeaderMap,
    auth: &axum::http::HeaderValue,
    query: &str,
    body: &[u8],
    is_post: bool,
    is_form: bool,
) -> Result<Verified<'s>, ApiError> {
    let invalid = || {
        err(
            ErrorCode::AuthInvalidAuthorization,
            "The Authorization header is malformed.",
        )
    };
    let auth = auth.to_str().map_err(|_| invalid())?;
    let parsed = sign::parse_tc3_authorization(auth).ok_or_else(invalid)?;
    let signed: Vec<&str> = parsed.signed_headers.split(';').collect();
    if !signed.contains(&"content-type") || !signed.contains(&"host") {
        return Err(err(
            ErrorCode::AuthInvalidAuthorization,
            "SignedHeaders must include content-type and host.",
        ));
    }
    let action = check_action(
        header_str(headers, "x-tc-action"),
        header_str(headers, "x-tc-version"),
        "X-TC-Action",
        "X-TC-Version",
    )?;
    let timestamp =
        header_str(headers, "x-tc-timestamp").ok_or_else(|| missing("X-TC-Timestamp"))?;
    let account = state.accounts.get(parsed.secret_id).ok_or_else(|| {
        err(
            ErrorCode::AuthSecretIdNotFound,
            "The SecretId is not found.",
        )
    })?;
    let ts = check_clock(state, timestamp, "X-TC-Timestamp")?;
    // The scope's service is `scf` for the Python SDK and tccli; the Node.js SDK puts the first
    // label of its endpoint there (`127` for 127.0.0.1:9000), which is the first label of the
    // Host header it sends. Anything else was signed for another product.
    let host_label = header_str(headers, "host").and_then(|h| h.split('.').next());
    let service_ok = parsed.service == SERVICE || Some(parsed.service) == host_label;
    if !service_ok || parsed.date != sign::utc_date(ts) {
        return Err(signature_failure());
    }
    let mut signed_values = Vec::with_capacity(signed.len());
    for name in &signed {
        let value = header_str(headers, name).ok_or_else(signature_failure)?;
        signed_values.push((name.to_string(), value.to_string()));
    }
    let payload_hash = if header_str(headers, "x-tc-content-sha256") == Some("UNSIGNED-PAYLOAD") {
        sign::sha256_hex(b"UNSIGNED-PAYLOAD")
    } else {
        sign::sha256_hex(body)
    };
    let verify = |values: &[(String, String)]| {
        Tc3Request {
            method: method.as_str(),
            query: if is_post { "" } else { query },
            headers: values,
            signed_headers: parsed.signed_headers,
            payload_hash: &payload_hash,
            timestamp,
            date: parsed.date,
            service: parsed.service,
        }
        .verify(&account.secret_key, parsed.signature)
    };
    if !verify(&signed_values) {
        // The Node.js SDK signs `host:` with the host name alone (no port) while sending the
        // port in the Host header: try that form before giving up.
        let host = signed_values.iter_mut().find(|(n, _)| n == "host");
        let Some(without_port) = host.as_ref().and_then(|(_, v)| strip_port(v)) else {
            return Err(signature_failure());
        };
        if let Some((_, v)) = host {
            *v = without_port;
        }
        if !verify(&signed_values) {
            return Err(signature_failure());
        }
    }
    let region = header_str(headers, "x-tc-region");
    let bound = [
        action.as_str(),
        region.unwrap_or(""),
        header_str(headers, "x-tc-version").unwrap_or(""),
        header_str(headers, "x-tc-token").unwrap_or(""),
    ];
    if !state
        .seen_signatures
        .check(account.app_id, parsed.signature, &bound)
    {
        return Err(err(
            ErrorCode::AuthSignatureFailure,
            "This signature was already used with another X-TC-Action, X-TC-Region, \
             X-TC-Version or X-TC-Token: a signed request can be repeated, not changed. Sign \
             each request afresh.",
        ));
    }
    let params = if !is_post {
        RawParams::Pairs(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    } else if is_form {
        RawParams::Pairs(form_urlencoded::parse(body).into_owned().collect())
    } else {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            err(
                ErrorCode::InvalidParameter,
                format!("The request body is not valid JSON: {e}."),
            )
        })?;
        match value {
            Value::Object(map) => RawParams::Json(map),
            _ => {
                return Err(err(
                    ErrorCode::InvalidParameter,
                    "The request body must be a JSON object.",
                ));
            }
        }
    };
    Ok(Verified {
        account,
        action,
        region: region.map(str::to_string),
        params,
    })
}

fn verify_v1<'s>(
    state: &'s AppState,
    method: &Method,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<Verified<'s>, ApiError> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(secret_id), Some(signature)) = (get("SecretId"), get("Signature")) else {
        if get("SecretId").is_some() || get("Signature").is_some() {
            return Err(missing(if get("SecretId").is_none() {
                "SecretId"
            } else {
                "Signature"
            }));
        }
        return Err(err(
            ErrorCode::AuthInvalidAuthorization,
            "The request is not signed: send a TC3 Authorization header or a v1 Signature.",
        ));
    };
    let action = check_action(get("Action"), get("Version"), "Action", "Version")?;
    let timestamp = get("Timestamp").ok_or_else(|| missing("Timestamp"))?;
    if get("Nonce").is_none() {
        return Err(missing("Nonce"));
    }
    let account = state.accounts.get(secret_id).ok_or_else(|| {
        err(
            ErrorCode::AuthSecretIdNotFound,
            "The SecretId is not found.",
        )
    })?;
    check_clock(state, timestamp, "Timestamp")?;
    let host = header_str(headers, "host").unwrap_or("");
    let sign_string = sign::v1_sign_string(
        method.as_str(),
        host,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let method = V1Method::from_param(get("SignatureMethod"));
    if !sign::v1_verify(&account.secret_key, &sign_string, method, signature) {
        return Err(signature_failure());
    }
    let region = get("Region").map(str::to_string);
    let params = pairs
        .into_iter()
        .filter(|(k, _)| !V1_COMMON.contains(&k.as_str()))
        .collect();
    Ok(Verified {
        account,
        action,
        region,
        params: RawParams::Pairs(params),
    })
}
