//! TC3-HMAC-SHA256: the Authorization header, the scope, the signature over the headers and
//! body as sent, and the replay check.

use super::body::{Carried, ReadBody};
use super::checks::{self, check_action, check_clock, signature_failure};
use super::{Signed, err, header_str, missing};
use crate::AppState;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use scf_types::actions::SERVICE;
use scf_types::schema::RawParams;
use scf_types::sign::{self, Tc3Authorization, Tc3Request};
use scf_types::{ApiError, ErrorCode};
use serde_json::Value;

/// What TC3 verification reads of a request: its head, the Authorization header in it, and the
/// body as the body step read it.
pub(super) struct Tc3Parts<'a> {
    pub(super) parts: &'a Parts,
    pub(super) authorization: &'a HeaderValue,
    pub(super) body: &'a ReadBody,
}

impl Tc3Parts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.parts.headers, name)
    }

    /// The query string as signed: a POST's is empty.
    fn signed_query(&self) -> &str {
        match self.body.carried {
            Carried::Query => self.parts.uri.query().unwrap_or(""),
            Carried::Json | Carried::Form => "",
        }
    }
}

/// The checks in the order of the gateway's docs, up to the parameters decoded.
pub(super) fn verify<'s>(state: &'s AppState, req: &Tc3Parts<'_>) -> Result<Signed<'s>, ApiError> {
    let auth = parse_authorization(req.authorization)?;
    let action = check_action(
        req.header("x-tc-action"),
        req.header("x-tc-version"),
        "X-TC-Action",
        "X-TC-Version",
    )?;
    let timestamp = req
        .header("x-tc-timestamp")
        .ok_or_else(|| missing("X-TC-Timestamp"))?;
    let account = checks::account(state, auth.secret_id)?;
    let ts = check_clock(state, timestamp, "X-TC-Timestamp")?;
    check_scope(req, &auth, ts)?;
    check_signature(req, &auth, &account.secret_key, timestamp)?;
    let region = req.header("x-tc-region");
    let bound = [
        action,
        region.unwrap_or(""),
        req.header("x-tc-version").unwrap_or(""),
        req.header("x-tc-token").unwrap_or(""),
    ];
    if !state
        .seen_signatures
        .check(account.app_id, auth.signature, &bound)
    {
        return Err(err(
            ErrorCode::AuthSignatureFailure,
            "This signature was already used with another X-TC-Action, X-TC-Region, \
             X-TC-Version or X-TC-Token: a signed request can be repeated, not changed. Sign \
             each request afresh.",
        ));
    }
    Ok(Signed {
        account,
        action,
        region: region.map(str::to_string),
        params: params(req)?,
    })
}

/// The parsed header, which must sign at least content-type and host.
fn parse_authorization(value: &HeaderValue) -> Result<Tc3Authorization<'_>, ApiError> {
    let invalid = || {
        err(
            ErrorCode::AuthInvalidAuthorization,
            "The Authorization header is malformed.",
        )
    };
    let value = value.to_str().map_err(|_| invalid())?;
    let auth = sign::parse_tc3_authorization(value).ok_or_else(invalid)?;
    let signs = |name: &str| auth.signed_headers.split(';').any(|n| n == name);
    if !signs("content-type") || !signs("host") {
        return Err(err(
            ErrorCode::AuthInvalidAuthorization,
            "SignedHeaders must include content-type and host.",
        ));
    }
    Ok(auth)
}

/// The credential scope: its date is the timestamp's, its service SCF's.
///
/// The service is `scf` for the Python SDK and tccli; the Node.js SDK puts the first label of
/// its endpoint there (`127` for 127.0.0.1:9000), which is the first label of the Host header
/// it sends. Anything else was signed for another product.
fn check_scope(req: &Tc3Parts<'_>, auth: &Tc3Authorization<'_>, ts: i64) -> Result<(), ApiError> {
    let host_label = req.header("host").and_then(|h| h.split('.').next());
    let service_ok = auth.service == SERVICE || Some(auth.service) == host_label;
    if !service_ok || auth.date != sign::utc_date(ts) {
        return Err(signature_failure());
    }
    Ok(())
}

/// The HMAC over the signed headers' values as sent and the body's hash.
fn check_signature(
    req: &Tc3Parts<'_>,
    auth: &Tc3Authorization<'_>,
    secret_key: &str,
    timestamp: &str,
) -> Result<(), ApiError> {
    let mut values = auth
        .signed_headers
        .split(';')
        .map(|name| {
            let value = req.header(name).ok_or_else(signature_failure)?;
            Ok((name.to_string(), value.to_string()))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let payload_hash = if req.header("x-tc-content-sha256") == Some("UNSIGNED-PAYLOAD") {
        sign::sha256_hex(b"UNSIGNED-PAYLOAD")
    } else {
        sign::sha256_hex(&req.body.bytes)
    };
    let verify = |values: &[(String, String)]| {
        Tc3Request {
            method: req.parts.method.as_str(),
            query: req.signed_query(),
            headers: values,
            signed_headers: auth.signed_headers,
            payload_hash: &payload_hash,
            timestamp,
            date: auth.date,
            service: auth.service,
        }
        .verify(secret_key, auth.signature)
    };
    if verify(&values) {
        return Ok(());
    }
    // The Node.js SDK signs `host:` with the host name alone (no port) while sending the port
    // in the Host header: try that form before giving up.
    let host = values.iter_mut().find(|(n, _)| n == "host");
    let Some((_, value)) = host else {
        return Err(signature_failure());
    };
    let Some(without_port) = strip_port(value) else {
        return Err(signature_failure());
    };
    *value = without_port;
    if verify(&values) {
        Ok(())
    } else {
        Err(signature_failure())
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

/// The parameters: a GET's query or a form's pairs, or a JSON body's object.
fn params(req: &Tc3Parts<'_>) -> Result<RawParams, ApiError> {
    let body = &req.body.bytes;
    let json = match req.body.carried {
        Carried::Query => return Ok(pairs(req.parts.uri.query().unwrap_or("").as_bytes())),
        Carried::Form => return Ok(pairs(body)),
        Carried::Json => serde_json::from_slice(body),
    };
    match json {
        Ok(Value::Object(map)) => Ok(RawParams::Json(map)),
        Ok(_) => Err(err(
            ErrorCode::InvalidParameter,
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(err(
            ErrorCode::InvalidParameter,
            format!("The request body is not valid JSON: {e}."),
        )),
    }
}

fn pairs(raw: &[u8]) -> RawParams {
    RawParams::Pairs(form_urlencoded::parse(raw).into_owned().collect())
}
