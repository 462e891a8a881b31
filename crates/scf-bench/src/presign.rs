//! Pre-signed API requests: the exact bytes of an HTTP/1.1 POST, signed once with the project's
//! own TC3-HMAC-SHA256 signer and replayed as-is. scfd accepts a signature for
//! `max_clock_skew_seconds` (300 s by default), so a scenario signs its requests when it starts
//! and never runs longer than that; this is what `wrk` with a pre-signed request measures, and
//! what the targets of issue 4 mean.

use scf_types::sign::{Tc3Request, sha256_hex};
use serde_json::Value;

/// The account the suite writes into every config it starts scfd with.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub secret_id: String,
    pub secret_key: String,
    pub app_id: u64,
    pub uin: String,
}

impl Credentials {
    pub fn bench() -> Self {
        Credentials {
            secret_id: "AKIDscfbenchscfbenchscfbench0001".into(),
            secret_key: "scfbenchsecretkeyscfbenchsecret1".into(),
            app_id: 1_250_000_000,
            uin: "100000000001".into(),
        }
    }
}

/// The region every request names (scfd's default).
pub const REGION: &str = "ap-guangzhou";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The bytes of one signed `POST /` carrying `action` with `params` as its JSON body, for a
/// server at `host` (`127.0.0.1:PORT`).
pub fn signed_request(creds: &Credentials, host: &str, action: &str, params: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(params).expect("a JSON value always serializes");
    let timestamp = unix_now().to_string();
    let date = scf_types::time::utc_date(unix_now());
    let content_type = "application/json";
    let headers = [
        ("content-type".to_string(), content_type.to_string()),
        ("host".to_string(), host.to_string()),
    ];
    let payload_hash = sha256_hex(&body);
    let signature = Tc3Request {
        method: "POST",
        query: "",
        headers: &headers,
        signed_headers: "content-type;host",
        payload_hash: &payload_hash,
        timestamp: &timestamp,
        date: &date,
        service: "scf",
    }
    .signature(&creds.secret_key, false);
    let mut out = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         X-TC-Action: {action}\r\nX-TC-Version: 2018-04-16\r\nX-TC-Timestamp: {timestamp}\r\n\
         X-TC-Region: {REGION}\r\n\
         Authorization: TC3-HMAC-SHA256 Credential={}/{date}/scf/tc3_request, \
         SignedHeaders=content-type;host, Signature={signature}\r\n\
         Content-Length: {}\r\n\r\n",
        creds.secret_id,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The same fixed body to `POST /` without any signature, for the fixed-JSON ceiling.
pub fn plain_post(host: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
