//! One signed API call: a JSON POST with the TC3-HMAC-SHA256 headers the official SDKs send,
//! and the answer's `Response` object, or its `Error` as a [`CliError::Api`].
//!
//! HTTP is `ureq` with its default features off but `rustls`: blocking (a command makes one call
//! at a time), chunked bodies, timeouts and `NO_PROXY` handled; http:// as scfd serves it, and
//! https:// for a server behind a TLS proxy. TLS is rustls on ring (ureq's choice with that
//! feature; aws-lc-rs would need cmake and a long C build). Trust: the CA bundle the settings
//! name (`--ca-bundle`, see [`super::credentials`]) replaces the default, which is Mozilla's
//! roots compiled in (webpki-roots, the cheapest way ureq offers: a data crate, where the
//! platform verifier would add crates and a read of the system store at every start).

use super::CliError;
use super::credentials::Settings;
use super::progress::Progress;
use scf_types::sign::{Tc3Request, sha256_hex, utc_date};
use serde_json::Value;
use std::io::Read;
use std::time::Duration;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// The service and API version every call names.
pub const SERVICE: &str = "scf";
pub const VERSION: &str = "2018-04-16";

/// Timeouts by kind of call. A sync Invoke waits for the function: SCF's longest function
/// timeout is 900 s, so give it that and a margin.
pub const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(60);
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(930);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a GetFunctionLogs page of long logs stays far below).
const MAX_RESPONSE_BYTES: u64 = 256 << 20;
/// Uploads at least this large show a percentage on a terminal.
const PROGRESS_MIN_BYTES: usize = 1 << 20;

/// Where the API is: the URL requests go to and the `Host` header that is sent and signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// As the user gave it (after defaults), for messages.
    pub shown: String,
    pub url: String,
    pub host: String,
    pub https: bool,
}

impl Endpoint {
    /// `http://HOST[:PORT][/PATH]`, `https://...` alike, or `HOST[:PORT]` (http is implied).
    pub fn parse(endpoint: &str) -> Result<Endpoint, CliError> {
        let trimmed = endpoint.trim();
        let (https, rest) = match trimmed.split_once("://") {
            None => (false, trimmed),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, _)) => {
                return Err(CliError::Usage(format!(
                    "endpoint `{trimmed}`: unknown scheme `{scheme}` (use http://HOST:PORT or \
                     https://HOST[:PORT])"
                )));
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains(['@', ' ', '?', '#']) {
            return Err(CliError::Usage(format!(
                "endpoint `{trimmed}` is not an address like http://127.0.0.1:9000"
            )));
        }
        let scheme = if https { "https" } else { "http" };
        Ok(Endpoint {
            shown: trimmed.to_string(),
            url: format!("{scheme}://{authority}{path}"),
            host: authority.to_string(),
            https,
        })
    }
}

/// The roots to trust: every certificate of the PEM file at `path`.
fn ca_bundle(path: &str) -> Result<RootCerts, CliError> {
    let bad = |why: String| CliError::Usage(format!("CA bundle {path}: {why}"));
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("not a PEM file: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// Why a TLS handshake failed, when `io` says it did: rustls hands its error up inside the
/// I/O error of the read or write that met it.
fn tls_failure(io: &std::io::Error) -> Option<String> {
    use rustls::{CertificateError, Error};
    let error = io.get_ref()?.downcast_ref::<Error>()?;
    Some(match error {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "invalid peer certificate: unknown issuer (give the CA's certificate with \
             --ca-bundle FILE or SCFD_CA_BUNDLE)"
                .to_string()
        }
        Error::InvalidMessage(_) => {
            format!("{error} (is it plain HTTP? then use an http:// endpoint)")
        }
        other => other.to_string(),
    })
}

/// The headers of one TC3-signed JSON POST, in the order the Python SDK sends them.
pub fn signed_headers(
    settings: &Settings,
    host: &str,
    action: &str,
    body: &[u8],
    timestamp: i64,
) -> Vec<(&'static str, String)> {
    const CONTENT_TYPE: &str = "application/json";
    let signed = [
        ("content-type".to_string(), CONTENT_TYPE.to_string()),
        ("host".to_string(), host.to_string()),
    ];
    let date = utc_date(timestamp);
    let payload_hash = sha256_hex(body);
    let ts = timestamp.to_string();
    let request = Tc3Request {
        method: "POST",
        query: "",
        headers: &signed,
        signed_headers: "content-type;host",
        payload_hash: &payload_hash,
        timestamp: &ts,
        date: &date,
        service: SERVICE,
    };
    let signature = request.signature(&settings.secret_key, false);
    let authorization = format!(
        "{} Credential={}/{date}/{SERVICE}/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
        scf_types::sign::TC3_ALGORITHM,
        settings.secret_id,
    );
    let mut headers = vec![
        ("Host", host.to_string()),
        ("Content-Type", CONTENT_TYPE.to_string()),
        ("X-TC-Action", action.to_string()),
        ("X-TC-Version", VERSION.to_string()),
        ("X-TC-Timestamp", ts),
    ];
    if !settings.region.is_empty() {
        headers.push(("X-TC-Region", settings.region.clone()));
    }
    headers.push((
        "X-TC-RequestClient",
        format!("SCFD_CLI_{}", env!("CARGO_PKG_VERSION")),
    ));
    headers.push(("Authorization", authorization));
    headers
}

/// The `Response` object of an API answer, or its error.
pub fn parse_answer(endpoint: &str, status: u16, body: &[u8]) -> Result<Value, CliError> {
    let not_api = || {
        let text = String::from_utf8_lossy(body);
        let snippet: String = text.trim().chars().take(200).collect();
        CliError::Failed(format!(
            "{endpoint} answered HTTP {status} with something other than an SCF API response: {snippet:?}"
        ))
    };
    let mut envelope: Value = serde_json::from_slice(body).map_err(|_| not_api())?;
    let Some(response) = envelope.get_mut("Response").map(Value::take) else {
        return Err(not_api());
    };
    if let Some(error) = response.get("Error") {
        let field = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        return Err(CliError::Api {
            code: field(error.get("Code")),
            message: field(error.get("Message")),
            request_id: field(response.get("RequestId")),
        });
    }
    if !response.is_object() {
        return Err(not_api());
    }
    Ok(response)
}

/// A signed client of one endpoint and key.
pub struct Client {
    pub endpoint: Endpoint,
    settings: Settings,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(settings: Settings) -> Result<Client, CliError> {
        let endpoint = Endpoint::parse(&settings.endpoint)?;
        let mut tls = TlsConfig::builder();
        // Read for https only: a stray SSL_CERT_FILE must not break a plain-HTTP call.
        if let Some(path) = settings.ca_bundle.as_deref().filter(|_| endpoint.https) {
            tls = tls.root_certs(ca_bundle(path)?);
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            // Every API answer is HTTP 200 with its error in the body; anything else is read
            // and reported as what it is.
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .user_agent(format!("scfd/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            endpoint,
            settings,
            agent: config.into(),
        })
    }

    /// A management call (60 s timeout).
    pub fn call(&self, action: &str, params: &Value) -> Result<Value, CliError> {
        self.call_with(action, params, MANAGEMENT_TIMEOUT, None)
    }

    /// A call with its own timeout; `progress` labels a percentage on stderr while a large body
    /// uploads.
    pub fn call_with(
        &self,
        action: &str,
        params: &Value,
        timeout: Duration,
        progress: Option<&str>,
    ) -> Result<Value, CliError> {
        let body = serde_json::to_vec(params)
            .map_err(|e| CliError::Failed(format!("cannot encode the request: {e}")))?;
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let mut request = self
            .agent
            .post(&self.endpoint.url)
            .config()
            .timeout_global(Some(timeout))
            .build();
        for (name, value) in signed_headers(
            &self.settings,
            &self.endpoint.host,
            action,
            &body,
            timestamp,
        ) {
            request = request.header(name, value);
        }
        let len = body.len();
        let sent = match progress.filter(|_| len >= PROGRESS_MIN_BYTES) {
            Some(label) => {
                let mut reader = ProgressReader {
                    inner: std::io::Cursor::new(body),
                    progress: Progress::new(label, len as u64),
                };
                let answer = request
                    .header("Content-Length", len.to_string())
                    .send(ureq::SendBody::from_reader(&mut reader));
                reader.progress.finish();
                answer
            }
            None => request.send(&body),
        };
        let response = sent.map_err(|e| self.transport_error(e, timeout))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport_error(e, timeout))?;
        parse_answer(&self.endpoint.shown, status, &bytes)
    }

    fn transport_error(&self, e: ureq::Error, timeout: Duration) -> CliError {
        let endpoint = &self.endpoint.shown;
        CliError::Failed(match e {
            ureq::Error::Timeout(ureq::Timeout::Connect) => {
                format!("cannot reach scfd at {endpoint}: no connection within {CONNECT_TIMEOUT:?}")
            }
            ureq::Error::Timeout(_) => {
                format!("no answer from {endpoint} within {} s", timeout.as_secs())
            }
            ureq::Error::HostNotFound => {
                format!("cannot reach scfd at {endpoint}: the host name does not resolve")
            }
            ureq::Error::Io(io) => match tls_failure(&io) {
                Some(why) => format!("TLS with {endpoint} failed: {why}"),
                None => format!("cannot reach scfd at {endpoint}: {io}"),
            },
            ureq::Error::ConnectionFailed => {
                format!("cannot reach scfd at {endpoint}: the connection failed")
            }
            other => format!("cannot talk to scfd at {endpoint}: {other}"),
        })
    }
}

/// Reports the share of a body read so far.
struct ProgressReader {
    inner: std::io::Cursor<Vec<u8>>,
    progress: Progress,
}

impl Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.set(self.inner.position());
        Ok(n)
    }
}

/// A stand-in server for unit tests: answers each connection with the next canned `Response`
/// object, and hands back what it was sent (action, headers, JSON body).
#[cfg(test)]
pub(crate) mod fake {
    use super::Settings;
    use serde_json::Value;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    pub struct Received {
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Received {
        pub fn header(&self, name: &str) -> &str {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or("", |(_, v)| v.as_str())
        }
        pub fn action(&self) -> &str {
            self.header("x-tc-action")
        }
        pub fn json(&self) -> Value {
            serde_json::from_slice(&self.body).expect("a JSON body")
        }
    }

    pub fn serve(answers: Vec<Value>) -> (Settings, std::thread::JoinHandle<Vec<Received>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let handle = std::thread::spawn(move || {
            let mut received = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().expect("accept");
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut headers = Vec::new();
                let mut request_line = String::new();
                reader.read_line(&mut request_line).expect("request line");
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("header");
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let (k, v) = line.split_once(':').expect("a header");
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().expect("a length"));
                let mut body = vec![0; len];
                reader.read_exact(&mut body).expect("body");
                let text = serde_json::json!({ "Response": answer }).to_string();
                let mut stream = stream;
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                )
                .expect("answer");
                received.push(Received { headers, body });
            }
            received
        });
        let settings = Settings {
            endpoint: format!("http://{addr}"),
            secret_id: "AKIDtest".into(),
            secret_key: "test".into(),
            region: "ap-guangzhou".into(),
            ca_bundle: None,
        };
        (settings, handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: &str) -> Settings {
        Settings {
            endpoint: "http://127.0.0.1:9000".into(),
            secret_id: "AKIDtest".into(),
            secret_key: key.into(),
            region: "ap-guangzhou".into(),
            ca_bundle: None,
        }
    }

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:9000").expect("valid");
        assert_eq!(e.url, "http://127.0.0.1:9000/");
        assert_eq!(e.host, "127.0.0.1:9000");
        let e = Endpoint::parse("scf.internal:8080").expect("scheme implied");
        assert_eq!(e.url, "http://scf.internal:8080/");
        assert_eq!(e.host, "scf.internal:8080");
        let e = Endpoint::parse("HTTP://gw.example/scf/").expect("path kept");
        assert_eq!(e.url, "http://gw.example/scf/");
        assert_eq!(e.host, "gw.example");
        assert!(!e.https);
        let e = Endpoint::parse("HTTPS://gw.example/scf").expect("https");
        assert_eq!(e.url, "https://gw.example/scf");
        assert_eq!(e.host, "gw.example");
        assert!(e.https);
        for bad in ["https://", "ftp://x", "http://", "", "http://a b"] {
            assert!(
                matches!(Endpoint::parse(bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }

    /// The reference's test vector A: the same body, key and time give the SDK's signature.
    #[test]
    fn signs_like_the_sdk() {
        let body = br#"{"FunctionName": "hello", "FunctionRequestId": "a63607c3-581f-4be9-8c4b-631c75909f07", "Namespace": "default"}"#;
        let headers = signed_headers(
            &settings("test"),
            "127.0.0.1:9000",
            "GetRequestStatus",
            body,
            1_700_000_000,
        );
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("Host"), Some("127.0.0.1:9000"));
        assert_eq!(get("Content-Type"), Some("application/json"));
        assert_eq!(get("X-TC-Action"), Some("GetRequestStatus"));
        assert_eq!(get("X-TC-Version"), Some("2018-04-16"));
        assert_eq!(get("X-TC-Timestamp"), Some("1700000000"));
        assert_eq!(get("X-TC-Region"), Some("ap-guangzhou"));
        assert_eq!(
            get("Authorization"),
            Some(
                "TC3-HMAC-SHA256 Credential=AKIDtest/2023-11-14/scf/tc3_request, \
                 SignedHeaders=content-type;host, \
                 Signature=a55ccbbcea04c6b713d5fb37e6c9a5e9273c6e5ad36f71b6f2376a97fd1c04df"
            )
        );
        // And the server's verifier accepts it.
        let auth = get("Authorization").unwrap_or_default();
        let parsed = scf_types::sign::parse_tc3_authorization(auth).expect("well formed");
        assert_eq!(parsed.secret_id, "AKIDtest");
        let other = signed_headers(
            &settings("wrong"),
            "127.0.0.1:9000",
            "GetRequestStatus",
            body,
            1_700_000_000,
        );
        assert_ne!(other.last(), headers.last());
    }

    #[test]
    fn answers() {
        let ok = parse_answer(
            "e",
            200,
            br#"{"Response":{"TotalCount":0,"RequestId":"r1"}}"#,
        )
        .expect("success");
        assert_eq!(ok["TotalCount"], 0);
        match parse_answer(
            "e",
            200,
            br#"{"Response":{"Error":{"Code":"ResourceNotFound.Function","Message":"no such function"},"RequestId":"r2"}}"#,
        ) {
            Err(e @ CliError::Api { .. }) => assert_eq!(
                e.to_string(),
                "ResourceNotFound.Function: no such function (RequestId r2)"
            ),
            other => panic!("expected an API error, got {other:?}"),
        }
        match parse_answer("http://x", 404, b"<html>not found</html>") {
            Err(CliError::Failed(m)) => {
                assert!(m.contains("http://x answered HTTP 404"), "{m}");
                assert!(m.contains("not found"), "{m}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(parse_answer("e", 200, br#"{"Other":1}"#).is_err());
    }

    /// Over a real socket: the headers arrive as signed and the server's verifier accepts them.
    #[test]
    fn a_call_over_the_wire_verifies() {
        let (settings, server) = fake::serve(vec![
            serde_json::json!({"Functions": [], "TotalCount": 0, "RequestId": "r"}),
            serde_json::json!({"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "m"}, "RequestId": "r2"}),
        ]);
        let client = Client::new(settings.clone()).expect("client");
        let params = serde_json::json!({"Namespace": "default", "Limit": 5});
        let answer = client.call("ListFunctions", &params).expect("answer");
        assert_eq!(answer["TotalCount"], 0);
        let err = client
            .call("ListFunctions", &params)
            .expect_err("an API error");
        assert_eq!(err.exit_code(), 1);
        assert!(
            err.to_string()
                .starts_with("AuthFailure.SignatureFailure: m")
        );

        let sent = server.join().expect("the fake server");
        let first = &sent[0];
        assert_eq!(first.action(), "ListFunctions");
        assert_eq!(first.json(), params);
        let host = settings.endpoint.trim_start_matches("http://");
        assert_eq!(first.header("host"), host);
        assert_eq!(first.header("x-tc-version"), VERSION);
        assert_eq!(first.header("x-tc-region"), "ap-guangzhou");
        let auth = scf_types::sign::parse_tc3_authorization(first.header("authorization"))
            .expect("a TC3 header");
        let signed = [
            (
                "content-type".to_string(),
                first.header("content-type").to_string(),
            ),
            ("host".to_string(), first.header("host").to_string()),
        ];
        let hash = sha256_hex(&first.body);
        let request = Tc3Request {
            method: "POST",
            query: "",
            headers: &signed,
            signed_headers: auth.signed_headers,
            payload_hash: &hash,
            timestamp: first.header("x-tc-timestamp"),
            date: auth.date,
            service: auth.service,
        };
        assert!(request.verify("test", auth.signature));
        assert!(!request.verify("other", auth.signature));
    }

    #[test]
    fn ca_bundles_are_checked_for_https_only() {
        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let with = |endpoint: &str, bundle: &std::path::Path| {
            Client::new(Settings {
                endpoint: endpoint.into(),
                ca_bundle: Some(bundle.display().to_string()),
                ..settings("k")
            })
        };
        match with("https://127.0.0.1:1", &empty) {
            Err(e @ CliError::Usage(_)) => {
                assert!(e.to_string().contains("no PEM certificate"), "{e}")
            }
            other => panic!("expected a usage error, got {:?}", other.err()),
        }
        match with("https://127.0.0.1:1", &dir.path().join("missing.pem")) {
            Err(e @ CliError::Usage(_)) => {
                assert!(e.to_string().contains("missing.pem: cannot read"), "{e}")
            }
            other => panic!("expected a usage error, got {:?}", other.err()),
        }
        assert!(with("http://127.0.0.1:1", &empty).is_ok());
    }

    /// rustls's reason comes through the I/O error: here, plain HTTP answering a ClientHello.
    #[test]
    fn a_tls_failure_is_named() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        });
        let client = Client::new(Settings {
            endpoint: format!("https://{addr}"),
            ..settings("k")
        })
        .expect("client");
        let err = client
            .call("ListFunctions", &serde_json::json!({}))
            .expect_err("not TLS");
        server.join().expect("the server");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("TLS with https://{addr} failed: ")),
            "{text}"
        );
        assert!(text.contains("use an http:// endpoint"), "{text}");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn an_unreachable_endpoint_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let client = Client::new(Settings {
            endpoint: format!("http://127.0.0.1:{port}"),
            ..settings("k")
        })
        .expect("client");
        let err = client
            .call("ListFunctions", &serde_json::json!({}))
            .expect_err("nobody listens");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach scfd at http://127.0.0.1:{port}")),
            "{err}"
        );
    }
}
