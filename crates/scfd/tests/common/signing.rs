//! Requests signed here with the project's own signer, exactly as the SDKs sign: TC3 by POST
//! (JSON) and GET (query), and the legacy v1 signature (GET query or POST form).

use axum::body::Body;
use axum::http::{Request, header};
use scf_types::sign::{self, Tc3Request};
use serde_json::Value;

pub const HOST: &str = "127.0.0.1:9000";

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Options for one TC3 request; defaults are what the Python SDK sends.
pub struct Tc3 {
    pub id: &'static str,
    pub key: &'static str,
    pub timestamp: i64,
    pub version: Option<&'static str>,
    pub region: Option<&'static str>,
    pub host: &'static str,
    /// The `host:` value signed, when it differs from the Host header (the Node.js SDK).
    pub signed_host: Option<&'static str>,
    pub service: &'static str,
}

impl Default for Tc3 {
    fn default() -> Self {
        Tc3 {
            id: "AKIDa",
            key: "keya",
            timestamp: now(),
            version: Some("2018-04-16"),
            region: Some("ap-guangzhou"),
            host: HOST,
            signed_host: None,
            service: "scf",
        }
    }
}

/// Account B (`AKIDb`), otherwise the defaults.
pub fn account_b() -> Tc3 {
    Tc3 {
        id: "AKIDb",
        key: "keyb",
        ..Tc3::default()
    }
}

pub fn tc3_post(action: Option<&str>, body: &str, o: &Tc3) -> Request<Body> {
    let ts = o.timestamp.to_string();
    let date = sign::utc_date(o.timestamp);
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            "host".to_string(),
            o.signed_host.unwrap_or(o.host).to_string(),
        ),
    ];
    let hash = sign::sha256_hex(body.as_bytes());
    let sig = Tc3Request {
        method: "POST",
        query: "",
        headers: &headers,
        signed_headers: "content-type;host",
        payload_hash: &hash,
        timestamp: &ts,
        date: &date,
        service: o.service,
    }
    .signature(o.key, false);
    let service = o.service;
    let mut b = Request::post("/")
        .header(header::HOST, o.host)
        .header(header::CONTENT_TYPE, "application/json")
        .header("X-TC-Timestamp", &ts)
        .header(
            header::AUTHORIZATION,
            format!("TC3-HMAC-SHA256 Credential={}/{date}/{service}/tc3_request, SignedHeaders=content-type;host, Signature={sig}", o.id),
        );
    if let Some(a) = action {
        b = b.header("X-TC-Action", a);
    }
    if let Some(v) = o.version {
        b = b.header("X-TC-Version", v);
    }
    if let Some(r) = o.region {
        b = b.header("X-TC-Region", r);
    }
    b.body(Body::from(body.to_string())).expect("request")
}

/// What `TestApp::call` sends: `action` with `body` as JSON, signed with the defaults.
pub fn post(action: &str, body: Value) -> Request<Body> {
    tc3_post(Some(action), &body.to_string(), &Tc3::default())
}

pub fn tc3_get(action: &str, query: &str, o: &Tc3) -> Request<Body> {
    let ts = o.timestamp.to_string();
    let date = sign::utc_date(o.timestamp);
    let headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("host".to_string(), o.host.to_string()),
    ];
    let hash = sign::sha256_hex(b"");
    let sig = Tc3Request {
        method: "GET",
        query,
        headers: &headers,
        signed_headers: "content-type;host",
        payload_hash: &hash,
        timestamp: &ts,
        date: &date,
        service: "scf",
    }
    .signature(o.key, false);
    Request::get(format!("/?{query}"))
        .header(header::HOST, o.host)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("X-TC-Timestamp", &ts)
        .header("X-TC-Action", action)
        .header("X-TC-Version", "2018-04-16")
        .header("X-TC-Region", "ap-guangzhou")
        .header(
            header::AUTHORIZATION,
            format!("TC3-HMAC-SHA256 Credential={}/{date}/scf/tc3_request, SignedHeaders=content-type;host, Signature={sig}", o.id),
        )
        .body(Body::empty())
        .expect("request")
}

/// A legacy v1 request (GET query or POST form), signed like `_build_req_with_old_signature`.
pub fn v1(
    method: &str,
    action: &str,
    params: &[(&str, &str)],
    key: &str,
    sig_method: &str,
) -> Request<Body> {
    let ts = now().to_string();
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in [
        ("Action", action),
        ("Nonce", "12345"),
        ("Timestamp", ts.as_str()),
        ("Version", "2018-04-16"),
        ("Region", "ap-guangzhou"),
        ("SecretId", "AKIDa"),
        ("SignatureMethod", sig_method),
        ("Language", "zh-CN"),
    ] {
        all.push((k.into(), v.into()));
    }
    let s = sign::v1_sign_string(
        method,
        HOST,
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let signature = sign::v1_signature(key, &s, sign::V1Method::from_param(Some(sig_method)));
    all.push(("Signature".into(), signature));
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&all)
        .finish();
    let b = Request::builder()
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if method == "GET" {
        b.method("GET")
            .uri(format!("/?{encoded}"))
            .body(Body::empty())
    } else {
        b.method("POST").uri("/").body(Body::from(encoded))
    }
    .expect("request")
}
