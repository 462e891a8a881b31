//! Signature v1 (HmacSHA1 / HmacSHA256 over the sorted parameters), from a GET's query or a
//! form body.

use super::body::{Carried, ReadBody};
use super::checks::{self, check_action, check_clock, signature_failure};
use super::{Signed, err, header_str, missing};
use crate::AppState;
use axum::http::request::Parts;
use scf_types::schema::RawParams;
use scf_types::sign::{self, V1Method};
use scf_types::{ApiError, ErrorCode};

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

/// A request without an Authorization header: its parameters must carry the v1 signature.
pub(super) fn verify<'s>(
    state: &'s AppState,
    parts: &Parts,
    body: &ReadBody,
) -> Result<Signed<'s>, ApiError> {
    let raw = match body.carried {
        Carried::Query => parts.uri.query().unwrap_or("").as_bytes(),
        Carried::Form => &body.bytes,
        Carried::Json => {
            return Err(err(
                ErrorCode::AuthInvalidAuthorization,
                "The request has no Authorization header; a POST without one must be a form signed with signature v1.",
            ));
        }
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw).into_owned().collect();
    verify_pairs(state, parts, pairs)
}

/// The signed parameters' checks, in the order of the gateway's docs.
fn verify_pairs<'s>(
    state: &'s AppState,
    parts: &Parts,
    pairs: Vec<(String, String)>,
) -> Result<Signed<'s>, ApiError> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (secret_id, signature) = credentials(get("SecretId"), get("Signature"))?;
    let action = check_action(get("Action"), get("Version"), "Action", "Version")?;
    let timestamp = get("Timestamp").ok_or_else(|| missing("Timestamp"))?;
    if get("Nonce").is_none() {
        return Err(missing("Nonce"));
    }
    let account = checks::account(state, secret_id)?;
    check_clock(state, timestamp, "Timestamp")?;
    let host = header_str(&parts.headers, "host").unwrap_or("");
    let sign_string = sign::v1_sign_string(
        parts.method.as_str(),
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
    Ok(Signed {
        account,
        action,
        region,
        params: RawParams::Pairs(params),
    })
}

/// SecretId and Signature, both or neither (then the request is not signed at all).
fn credentials<'p>(
    secret_id: Option<&'p str>,
    signature: Option<&'p str>,
) -> Result<(&'p str, &'p str), ApiError> {
    match (secret_id, signature) {
        (Some(id), Some(signature)) => Ok((id, signature)),
        (None, Some(_)) => Err(missing("SecretId")),
        (Some(_), None) => Err(missing("Signature")),
        (None, None) => Err(err(
            ErrorCode::AuthInvalidAuthorization,
            "The request is not signed: send a TC3 Authorization header or a v1 Signature.",
        )),
    }
}
