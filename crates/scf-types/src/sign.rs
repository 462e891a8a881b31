//! The two signature schemes of Tencent Cloud API 3.0, for both sides of the wire.
//!
//! * TC3-HMAC-SHA256 (reference §2.4): a canonical request built from the method, the query, the
//!   headers named in `SignedHeaders` and the SHA-256 of the payload, signed with a key chain
//!   derived from the secret key, the UTC date and the service name.
//! * Legacy v1 (reference §2.5): `base64(HMAC-SHA1|SHA256(key, METHOD + host + "/?" + sorted k=v))`.
//!
//! The verifier takes the raw header values as the client sent them (tccli sends
//! `Host: http://127.0.0.1:9000` and signs exactly that), and compares in constant time.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The algorithm name that opens a TC3 `Authorization` header.
pub const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";

/// Hex SHA-256 of `data`, lower case.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The parts of a request that a TC3 signature covers.
#[derive(Debug, Clone)]
pub struct Tc3Request<'a> {
    pub method: &'a str,
    /// The query string exactly as sent (without `?`); empty for POST.
    pub query: &'a str,
    /// `(lower-case name, value)` for each header named in `SignedHeaders`, in that order.
    pub headers: &'a [(String, String)],
    /// `SignedHeaders` as sent, e.g. `content-type;host`.
    pub signed_headers: &'a str,
    /// Hex SHA-256 of the payload (or of the literal `UNSIGNED-PAYLOAD`).
    pub payload_hash: &'a str,
    /// `X-TC-Timestamp`, as sent.
    pub timestamp: &'a str,
    /// The date of the credential scope, `YYYY-MM-DD`.
    pub date: &'a str,
    /// The service of the credential scope (`scf`).
    pub service: &'a str,
}

impl Tc3Request<'_> {
    /// The canonical request of §2.4 step 1. Header values are trimmed; when `lower_values` is
    /// set they are also lower-cased, as the signing doc prescribes (the SDK does not).
    pub fn canonical_request(&self, lower_values: bool) -> String {
        let mut canonical_headers = String::new();
        for (name, value) in self.headers {
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            let v = value.trim();
            if lower_values {
                canonical_headers.push_str(&v.to_ascii_lowercase());
            } else {
                canonical_headers.push_str(v);
            }
            canonical_headers.push('\n');
        }
        format!(
            "{}\n/\n{}\n{}\n{}\n{}",
            self.method, self.query, canonical_headers, self.signed_headers, self.payload_hash
        )
    }

    /// The string to sign of §2.4 step 3.
    pub fn string_to_sign(&self, canonical_request: &str) -> String {
        format!(
            "{TC3_ALGORITHM}\n{}\n{}/{}/tc3_request\n{}",
            self.timestamp,
            self.date,
            self.service,
            sha256_hex(canonical_request.as_bytes())
        )
    }

    /// The lower-case hex signature for `secret_key`.
    pub fn signature(&self, secret_key: &str, lower_values: bool) -> String {
        let key = tc3_signing_key(secret_key, self.date, self.service);
        let sts = self.string_to_sign(&self.canonical_request(lower_values));
        hex::encode(hmac_sha256(&key, sts.as_bytes()))
    }

    /// Whether `signature` (hex, as sent) is right for `secret_key`. Tries the values as sent
    /// first (what every SDK signs), then lower-cased (what the signing doc describes).
    pub fn verify(&self, secret_key: &str, signature: &str) -> bool {
        let sent = signature.as_bytes();
        let key = tc3_signing_key(secret_key, self.date, self.service);
        let check = |lower: bool| {
            let sts = self.string_to_sign(&self.canonical_request(lower));
            let ours = hex::encode(hmac_sha256(&key, sts.as_bytes()));
            bool::from(ours.as_bytes().ct_eq(sent))
        };
        check(false)
            || (self
                .headers
                .iter()
                .any(|(_, v)| v.trim() != v.trim().to_ascii_lowercase())
                && check(true))
    }
}

/// `kSigning` of §2.4 step 4.
pub fn tc3_signing_key(secret_key: &str, date: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    hmac_sha256(&k_service, b"tc3_request")
}

/// A parsed TC3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Authorization<'a> {
    pub secret_id: &'a str,
    pub date: &'a str,
    pub service: &'a str,
    pub signed_headers: &'a str,
    pub signature: &'a str,
}

/// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=a;b, Signature=hex`.
/// `None` when any part is missing or malformed.
pub fn parse_tc3_authorization(header: &str) -> Option<Tc3Authorization<'_>> {
    let rest = header.strip_prefix(TC3_ALGORITHM)?;
    if !rest.starts_with(' ') {
        return None;
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    let mut scope = credential?.rsplitn(4, '/');
    let terminator = scope.next()?;
    let service = scope.next()?;
    let date = scope.next()?;
    let secret_id = scope.next()?;
    let signed_headers = signed_headers?;
    let signature = signature?;
    let well_formed = terminator == "tc3_request"
        && !secret_id.is_empty()
        && date.len() == 10
        && !signed_headers.is_empty()
        && signed_headers.split(';').all(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-' || b.is_ascii_digit())
        })
        && signature.len() == 64
        && signature.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(Tc3Authorization {
        secret_id,
        date,
        service,
        signed_headers,
        signature,
    })
}

/// The legacy v1 signature methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Method {
    HmacSha1,
    HmacSha256,
}

impl V1Method {
    /// §2.5 step 5: HMAC-SHA256 only when `SignatureMethod` is exactly `HmacSHA256`.
    pub fn from_param(value: Option<&str>) -> Self {
        match value {
            Some("HmacSHA256") => V1Method::HmacSha256,
            _ => V1Method::HmacSha1,
        }
    }
}

/// The v1 string to sign: `METHOD + host + "/?" + k=v&...`, keys sorted by bytes after `_` became
/// `.`, values raw (decoded), `Signature` left out.
pub fn v1_sign_string<'a>(
    method: &str,
    host: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut pairs: Vec<(String, &str)> = params
        .into_iter()
        .filter(|(k, _)| *k != "Signature")
        .map(|(k, v)| (k.replace('_', "."), v))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = format!("{method}{host}/?");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        s.push_str(v);
    }
    s
}

/// The base64 v1 signature of `sign_string`.
pub fn v1_signature(secret_key: &str, sign_string: &str, method: V1Method) -> String {
    let raw: Vec<u8> = match method {
        V1Method::HmacSha256 => hmac_sha256(secret_key.as_bytes(), sign_string.as_bytes()).to_vec(),
        V1Method::HmacSha1 => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret_key.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(sign_string.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Whether the v1 `signature` (base64, as sent) is right.
pub fn v1_verify(secret_key: &str, sign_string: &str, method: V1Method, signature: &str) -> bool {
    let ours = v1_signature(secret_key, sign_string, method);
    bool::from(ours.as_bytes().ct_eq(signature.as_bytes()))
}

pub use crate::time::utc_date;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str, host: &str) -> Vec<(String, String)> {
        vec![
            ("content-type".to_string(), ct.to_string()),
            ("host".to_string(), host.to_string()),
        ]
    }

    const BODY_A: &str = r#"{"FunctionName": "hello", "FunctionRequestId": "a63607c3-581f-4be9-8c4b-631c75909f07", "Namespace": "default"}"#;

    #[test]
    fn vector_a_post() {
        let h = headers("application/json", "127.0.0.1:9000");
        let hash = sha256_hex(BODY_A.as_bytes());
        assert_eq!(
            hash,
            "e792bd905d15535d5c31ca26375f57524fabb931711ec1e9b642a2f37196ceb4"
        );
        let req = Tc3Request {
            method: "POST",
            query: "",
            headers: &h,
            signed_headers: "content-type;host",
            payload_hash: &hash,
            timestamp: "1700000000",
            date: &utc_date(1_700_000_000),
            service: "scf",
        };
        assert_eq!(req.date, "2023-11-14");
        let cr = req.canonical_request(false);
        let sts = req.string_to_sign(&cr);
        assert!(sts.ends_with("d00a0bfc9f6518b9f80a88cee057e8cedd82f3207ecf132f826f32297f4aff48"));
        assert_eq!(
            hex::encode(tc3_signing_key("test", "2023-11-14", "scf")),
            "0c950130ce2178b211f7f52711bbbf42fa5b7e0dea0596bcd230598500f77eb6"
        );
        let sig = "a55ccbbcea04c6b713d5fb37e6c9a5e9273c6e5ad36f71b6f2376a97fd1c04df";
        assert_eq!(req.signature("test", false), sig);
        assert!(req.verify("test", sig));
        assert!(!req.verify("wrong", sig));
    }

    #[test]
    fn vector_a_get() {
        let h = headers("application/x-www-form-urlencoded", "127.0.0.1:9000");
        let hash = sha256_hex(b"");
        let req = Tc3Request {
            method: "GET",
            query: "FunctionName=hello&FunctionRequestId=a63607c3-581f-4be9-8c4b-631c75909f07&Namespace=default",
            headers: &h,
            signed_headers: "content-type;host",
            payload_hash: &hash,
            timestamp: "1700000000",
            date: "2023-11-14",
            service: "scf",
        };
        assert!(req.verify(
            "test",
            "002ccf8dc6f297f22089f75afd5ffd56b406823329bc9530131ce2861a3c657d"
        ));
    }

    #[test]
    fn vector_b_official_doc() {
        let body = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let hash = sha256_hex(body.as_bytes());
        assert_eq!(
            hash,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let h = headers("application/json; charset=utf-8", "cvm.tencentcloudapi.com");
        let req = Tc3Request {
            method: "POST",
            query: "",
            headers: &h,
            signed_headers: "content-type;host",
            payload_hash: &hash,
            timestamp: "1551113065",
            date: &utc_date(1_551_113_065),
            service: "cvm",
        };
        assert_eq!(req.date, "2019-02-25");
        assert_eq!(
            sha256_hex(req.canonical_request(false).as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            req.signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", false),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn lower_cased_header_values_also_verify() {
        let h = headers("Application/JSON", "Example.COM");
        let hash = sha256_hex(b"{}");
        let req = Tc3Request {
            method: "POST",
            query: "",
            headers: &h,
            signed_headers: "content-type;host",
            payload_hash: &hash,
            timestamp: "1700000000",
            date: "2023-11-14",
            service: "scf",
        };
        let doc_style = req.signature("k", true);
        let sdk_style = req.signature("k", false);
        assert_ne!(doc_style, sdk_style);
        assert!(req.verify("k", &doc_style));
        assert!(req.verify("k", &sdk_style));
    }

    fn vector_v1_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("FunctionName", "hello"),
            ("FunctionRequestId", "a63607c3-581f-4be9-8c4b-631c75909f07"),
            ("Namespace", "default"),
            ("Action", "GetRequestStatus"),
            ("RequestClient", "SDK_PYTHON_3.1.100"),
            ("Nonce", "12345"),
            ("Timestamp", "1700000000"),
            ("Version", "2018-04-16"),
            ("Region", "ap-guangzhou"),
            ("SecretId", "AKIDtest"),
            ("SignatureMethod", "HmacSHA256"),
            ("Language", "zh-CN"),
        ]
    }

    #[test]
    fn v1_vector_hmac_sha256() {
        let s = v1_sign_string("POST", "127.0.0.1:9000", vector_v1_params());
        assert_eq!(
            s,
            "POST127.0.0.1:9000/?Action=GetRequestStatus&FunctionName=hello&FunctionRequestId=a63607c3-581f-4be9-8c4b-631c75909f07&Language=zh-CN&Namespace=default&Nonce=12345&Region=ap-guangzhou&RequestClient=SDK_PYTHON_3.1.100&SecretId=AKIDtest&SignatureMethod=HmacSHA256&Timestamp=1700000000&Version=2018-04-16"
        );
        let m = V1Method::from_param(Some("HmacSHA256"));
        assert_eq!(
            v1_signature("test", &s, m),
            "F2X34jzBHinV7cmN9sCo1gYa+sgY3zbdp+FsPLsJD40="
        );
        assert!(v1_verify(
            "test",
            &s,
            m,
            "F2X34jzBHinV7cmN9sCo1gYa+sgY3zbdp+FsPLsJD40="
        ));
        assert!(!v1_verify(
            "nope",
            &s,
            m,
            "F2X34jzBHinV7cmN9sCo1gYa+sgY3zbdp+FsPLsJD40="
        ));
    }

    /// The HmacSHA1 capture of reference §3.1 (D): a GET signed by the Python SDK, key `test`.
    #[test]
    fn v1_vector_hmac_sha1_captured_get() {
        let params = [
            ("FunctionName", "hello"),
            ("FunctionRequestId", "ok"),
            ("Namespace", "default"),
            ("Action", "GetRequestStatus"),
            ("RequestClient", "SDK_PYTHON_3.1.100"),
            ("Nonce", "6892112118548076893"),
            ("Timestamp", "1795840563"),
            ("Version", "2018-04-16"),
            ("Region", "ap-guangzhou"),
            ("SecretId", "AKIDtest"),
            ("SignatureMethod", "HmacSHA1"),
            ("Language", "zh-CN"),
            ("Signature", "ignored"),
        ];
        let s = v1_sign_string("GET", "127.0.0.1:18080", params);
        assert!(!s.contains("Signature="), "Signature itself is not signed");
        let m = V1Method::from_param(Some("HmacSHA1"));
        assert!(v1_verify("test", &s, m, "jXiwH228asXgmXVuHX8/ZOFLuyo="));
    }

    #[test]
    fn v1_underscore_keys_sign_as_dots_and_default_is_sha1() {
        let s = v1_sign_string("GET", "h", [("B_x", "1"), ("A", "2")]);
        assert_eq!(s, "GETh/?A=2&B.x=1");
        assert_eq!(V1Method::from_param(None), V1Method::HmacSha1);
        assert_eq!(V1Method::from_param(Some("hmacsha256")), V1Method::HmacSha1);
    }

    #[test]
    fn parses_authorization_and_rejects_malformed() {
        let a = parse_tc3_authorization(
            "TC3-HMAC-SHA256 Credential=AKIDtest/2026-11-28/scf/tc3_request, SignedHeaders=content-type;host, Signature=14c2cb7401f1b1743814c5d0af1d3de7c8e5589c207ed7cb8a4c20116f6fd3aa",
        )
        .expect("well formed");
        assert_eq!(a.secret_id, "AKIDtest");
        assert_eq!(a.date, "2026-11-28");
        assert_eq!(a.service, "scf");
        assert_eq!(a.signed_headers, "content-type;host");
        for bad in [
            "",
            "TC3-HMAC-SHA256",
            "TC3-HMAC-SHA256 garbage",
            "TC3-HMAC-SHA256 Credential=AKIDtest/2026-11-28/scf/tc3_request, SignedHeaders=content-type;host",
            "TC3-HMAC-SHA256 Credential=AKIDtest/2026-11-28/scf/other, SignedHeaders=content-type;host, Signature=14c2cb7401f1b1743814c5d0af1d3de7c8e5589c207ed7cb8a4c20116f6fd3aa",
            "TC3-HMAC-SHA256 Credential=/2026-11-28/scf/tc3_request, SignedHeaders=content-type;host, Signature=14c2cb7401f1b1743814c5d0af1d3de7c8e5589c207ed7cb8a4c20116f6fd3aa",
            "TC3-HMAC-SHA256 Credential=AKIDtest/2026-11-28/scf/tc3_request, SignedHeaders=content-type;host, Signature=zz",
            "HMAC-SHA1 Credential=AKIDtest/2026-11-28/scf/tc3_request, SignedHeaders=content-type;host, Signature=14c2cb7401f1b1743814c5d0af1d3de7c8e5589c207ed7cb8a4c20116f6fd3aa",
        ] {
            assert!(parse_tc3_authorization(bad).is_none(), "{bad}");
        }
    }
}
