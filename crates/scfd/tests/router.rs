//! The API through the real router, without a socket: every request is signed here with the
//! project's own signer, exactly as the SDKs sign.

use axum::body::Body;
use axum::http::{Request, header};
use base64::Engine as _;
use scf_core::Limits;
use scf_types::sign::{self, Tc3Request};
use serde_json::{Value, json};
use std::io::Write;
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:9000";

mod common;
use common::{TestApp, test_app, test_app_with};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Options for one TC3 request; defaults are what the Python SDK sends.
struct Tc3 {
    id: &'static str,
    key: &'static str,
    timestamp: i64,
    version: Option<&'static str>,
    region: Option<&'static str>,
    host: &'static str,
    /// The `host:` value signed, when it differs from the Host header (the Node.js SDK).
    signed_host: Option<&'static str>,
    service: &'static str,
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

fn tc3_post(action: Option<&str>, body: &str, o: &Tc3) -> Request<Body> {
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

fn tc3_get(action: &str, query: &str, o: &Tc3) -> Request<Body> {
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
fn v1(
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

impl TestApp {
    async fn send(&self, req: Request<Body>) -> Value {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        let id = v["Response"]["RequestId"].as_str().expect("RequestId");
        assert_eq!(id.len(), 36, "a uuid");
        v["Response"].clone()
    }

    async fn call_as(&self, o: &Tc3, action: &str, body: Value) -> Value {
        self.send(tc3_post(Some(action), &body.to_string(), o))
            .await
    }

    async fn call(&self, action: &str, body: Value) -> Value {
        self.call_as(&Tc3::default(), action, body).await
    }

    async fn ok(&self, action: &str, body: Value) -> Value {
        let r = self.call(action, body).await;
        assert!(r.get("Error").is_none(), "{action}: {r}");
        r
    }

    async fn wait_active(&self, o: &Tc3, name: &str) -> Value {
        for _ in 0..200 {
            let r = self
                .call_as(o, "GetFunction", json!({"FunctionName": name}))
                .await;
            if r["Status"] != "Creating" && r["Status"] != "Updating" {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{name} never settled");
    }
}

fn code(r: &Value) -> &str {
    r["Error"]["Code"].as_str().unwrap_or("<no error>")
}

fn zip_b64(entries: &[(&str, &[u8])]) -> String {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("start");
        w.write_all(content).expect("write");
    }
    base64::engine::general_purpose::STANDARD.encode(w.finish().expect("zip").into_inner())
}

/// Bytes that do not compress (xorshift), to make a zip over a size cap.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn hello_zip() -> String {
    zip_b64(&[(
        "index.py",
        b"def main_handler(event, context):\n    return 'hi'\n",
    )])
}

#[tokio::test]
async fn protocol_errors_have_exact_codes() {
    let t = test_app();
    // (HEAD gets the same answer, but HTTP gives a HEAD response no body to read.)
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = t
            .send(
                Request::builder()
                    .method(method)
                    .uri("/")
                    .body(Body::empty())
                    .expect("req"),
            )
            .await;
        assert_eq!(code(&r), "UnsupportedProtocol", "{method}");
    }
    let unsigned = Request::post("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .expect("req");
    assert_eq!(
        code(&t.send(unsigned).await),
        "AuthFailure.InvalidAuthorization"
    );
    let mut bad = tc3_post(Some("ListFunctions"), "{}", &Tc3::default());
    bad.headers_mut().insert(
        header::AUTHORIZATION,
        "TC3-HMAC-SHA256 garbage".parse().expect("hv"),
    );
    assert_eq!(code(&t.send(bad).await), "AuthFailure.InvalidAuthorization");

    assert_eq!(
        code(&t.send(tc3_post(None, "{}", &Tc3::default())).await),
        "MissingParameter"
    );
    assert_eq!(code(&t.call("FooBar", json!({})).await), "InvalidAction");
    assert_eq!(
        code(&t.call("CreateTrigger", json!({})).await),
        "UnsupportedOperation"
    );
    let old = Tc3 {
        version: Some("2017-01-01"),
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&old, "ListFunctions", json!({})).await),
        "NoSuchVersion"
    );
    let no_version = Tc3 {
        version: None,
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&no_version, "ListFunctions", json!({})).await),
        "MissingParameter"
    );
    let stranger = Tc3 {
        id: "AKIDnobody",
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&stranger, "ListFunctions", json!({})).await),
        "AuthFailure.SecretIdNotFound"
    );
    let wrong_key = Tc3 {
        key: "nope",
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&wrong_key, "ListFunctions", json!({})).await),
        "AuthFailure.SignatureFailure"
    );
    let stale = Tc3 {
        timestamp: now() - 301,
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&stale, "ListFunctions", json!({})).await),
        "AuthFailure.SignatureExpire"
    );
    let future = Tc3 {
        timestamp: now() + 400,
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&future, "ListFunctions", json!({})).await),
        "AuthFailure.SignatureExpire"
    );
    let nowhere = Tc3 {
        region: Some("xx-nowhere"),
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&nowhere, "ListFunctions", json!({})).await),
        "UnsupportedRegion"
    );

    // A body changed after signing fails the signature.
    let mut tampered = tc3_post(Some("ListFunctions"), r#"{"Limit": 1}"#, &Tc3::default());
    *tampered.body_mut() = Body::from(r#"{"Limit": 2}"#);
    assert_eq!(
        code(&t.send(tampered).await),
        "AuthFailure.SignatureFailure"
    );
}

#[tokio::test]
async fn tccli_style_host_with_scheme_verifies() {
    let t = test_app();
    let o = Tc3 {
        host: "http://127.0.0.1:9000",
        ..Tc3::default()
    };
    let r = t.call_as(&o, "ListNamespaces", json!({})).await;
    assert_eq!(r["TotalCount"], 1, "{r}");
}

/// The Node.js SDK signs `host:` without the port and takes the scope's service from the first
/// label of its endpoint (`127` for 127.0.0.1), while sending `Host: 127.0.0.1:9000`.
#[tokio::test]
async fn nodejs_sdk_style_signature_verifies() {
    let t = test_app();
    let o = Tc3 {
        signed_host: Some("127.0.0.1"),
        service: "127",
        ..Tc3::default()
    };
    let r = t.call_as(&o, "ListNamespaces", json!({})).await;
    assert_eq!(r["TotalCount"], 1, "{r}");
    let wrong = Tc3 {
        signed_host: Some("127.0.0.2"),
        service: "127",
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&wrong, "ListNamespaces", json!({})).await),
        "AuthFailure.SignatureFailure"
    );
    let other_product = Tc3 {
        service: "cvm",
        ..Tc3::default()
    };
    assert_eq!(
        code(&t.call_as(&other_product, "ListNamespaces", json!({})).await),
        "AuthFailure.SignatureFailure"
    );
}

#[tokio::test]
async fn parameter_errors_have_exact_codes() {
    let t = test_app();
    assert_eq!(
        code(&t.call("CreateNamespace", json!({})).await),
        "MissingParameter"
    );
    assert_eq!(
        code(
            &t.call("CreateNamespace", json!({"Namespace": "abc", "Bogus": 1}))
                .await
        ),
        "UnknownParameter"
    );
    assert_eq!(
        code(&t.call("ListFunctions", json!({"Limit": "abc"})).await),
        "InvalidParameter"
    );
    assert_eq!(
        code(
            &t.send(tc3_post(
                Some("ListFunctions"),
                "{not json",
                &Tc3::default()
            ))
            .await
        ),
        "InvalidParameter"
    );
    assert_eq!(
        code(
            &t.send(tc3_post(Some("ListFunctions"), "[1]", &Tc3::default()))
                .await
        ),
        "InvalidParameter"
    );
    let q = "Limit=abc";
    assert_eq!(
        code(&t.send(tc3_get("ListFunctions", q, &Tc3::default())).await),
        "InvalidParameter"
    );
    let big = format!(r#"{{"Namespace": "{}"}}"#, "x".repeat(260 << 10));
    assert_eq!(
        code(
            &t.send(tc3_post(Some("CreateNamespace"), &big, &Tc3::default()))
                .await
        ),
        "RequestSizeLimitExceeded"
    );
    let long_query = format!("SearchKey={}", "x".repeat(33 << 10));
    assert_eq!(
        code(
            &t.send(tc3_get("ListFunctions", &long_query, &Tc3::default()))
                .await
        ),
        "RequestSizeLimitExceeded"
    );
    let big_form = format!("Namespace={}", "x".repeat((1 << 20) + 1));
    let form = Request::post("/")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(big_form))
        .expect("req");
    assert_eq!(code(&t.send(form).await), "RequestSizeLimitExceeded");
}

#[tokio::test]
async fn legacy_v1_and_get_styles_work() {
    let t = test_app();
    t.ok(
        "CreateNamespace",
        json!({"Namespace": "team", "Description": "first"}),
    )
    .await;
    for (method, sig) in [
        ("GET", "HmacSHA1"),
        ("POST", "HmacSHA256"),
        ("POST", "HmacSHA1"),
        ("GET", "HmacSHA256"),
    ] {
        let r = t
            .send(v1(
                method,
                "ListNamespaces",
                &[
                    ("SearchKey.0.Key", "Namespace"),
                    ("SearchKey.0.Value", "tea"),
                    ("Limit", "5"),
                ],
                "keya",
                sig,
            ))
            .await;
        assert_eq!(r["TotalCount"], 1, "{method} {sig}: {r}");
        assert_eq!(r["Namespaces"][0]["Name"], "team");
        let wrong = t
            .send(v1(method, "ListNamespaces", &[], "wrongkey", sig))
            .await;
        assert_eq!(
            code(&wrong),
            "AuthFailure.SignatureFailure",
            "{method} {sig}"
        );
    }
    let r = t
        .send(v1(
            "POST",
            "ListNamespaces",
            &[("Bogus", "1")],
            "keya",
            "HmacSHA256",
        ))
        .await;
    assert_eq!(code(&r), "UnknownParameter");

    // TC3 GET with flattened Filters.
    t.ok(
        "CreateFunction",
        json!({"FunctionName": "pyfn", "Runtime": "Python3.9", "Code": {"ZipFile": hello_zip()}}),
    )
    .await;
    t.ok("CreateFunction", json!({"FunctionName": "nodefn", "Runtime": "Nodejs16.13", "Code": {"ZipFile": hello_zip()}})).await;
    let q = "Filters.0.Name=Runtime&Filters.0.Values.0=Nodejs16.13&Filters.0.Values.1=Go1&Limit=10";
    let r = t.send(tc3_get("ListFunctions", q, &Tc3::default())).await;
    assert_eq!(r["TotalCount"], 1, "{r}");
    assert_eq!(r["Functions"][0]["FunctionName"], "nodefn");
}

#[tokio::test]
async fn rate_limit_per_account_and_action() {
    let t = test_app_with(&[("ListNamespaces", 2)], Limits::default());
    let mut codes = vec![];
    for _ in 0..5 {
        codes.push(code(&t.call("ListNamespaces", json!({})).await).to_string());
    }
    assert_eq!(
        codes
            .iter()
            .filter(|c| *c == "RequestLimitExceeded")
            .count(),
        3,
        "{codes:?}"
    );
    let b = Tc3 {
        id: "AKIDb",
        key: "keyb",
        ..Tc3::default()
    };
    assert!(
        t.call_as(&b, "ListNamespaces", json!({}))
            .await
            .get("Error")
            .is_none(),
        "B has its own bucket"
    );
    assert!(
        t.call("ListFunctions", json!({}))
            .await
            .get("Error")
            .is_none(),
        "other actions are unaffected"
    );
}

#[tokio::test]
async fn namespace_lifecycle_and_rules() {
    let limits = Limits {
        max_namespaces: 3,
        ..Limits::default()
    };
    let t = test_app_with(&[], limits);
    let r = t.ok("ListNamespaces", json!({})).await;
    assert_eq!(r["Namespaces"][0]["Name"], "default");
    assert_eq!(
        code(
            &t.call("CreateNamespace", json!({"Namespace": "default"}))
                .await
        ),
        "InvalidParameterValue.DefaultNamespace"
    );
    for bad in ["a", "1abc", "abc-", "has space", &"n".repeat(31)] {
        assert_eq!(
            code(&t.call("CreateNamespace", json!({"Namespace": bad})).await),
            "InvalidParameterValue.NamespaceInvalid",
            "{bad}"
        );
    }
    assert_eq!(
        code(
            &t.call(
                "CreateNamespace",
                json!({"Namespace": "ns1", "Description": "d".repeat(1001)})
            )
            .await
        ),
        "InvalidParameterValue.Description"
    );
    t.ok("CreateNamespace", json!({"Namespace": "ns1"})).await;
    assert_eq!(
        code(&t.call("CreateNamespace", json!({"Namespace": "ns1"})).await),
        "ResourceInUse.Namespace"
    );
    t.ok("CreateNamespace", json!({"Namespace": "ns2"})).await;
    assert_eq!(
        code(&t.call("CreateNamespace", json!({"Namespace": "ns3"})).await),
        "LimitExceeded.Namespace"
    );
    t.ok(
        "UpdateNamespace",
        json!({"Namespace": "ns1", "Description": "updated"}),
    )
    .await;
    assert_eq!(
        code(
            &t.call(
                "UpdateNamespace",
                json!({"Namespace": "zz", "Description": "x"})
            )
            .await
        ),
        "ResourceNotFound.Namespace"
    );
    let r = t
        .ok(
            "ListNamespaces",
            json!({"Orderby": "Name", "Order": "ASC", "Limit": 2}),
        )
        .await;
    assert_eq!(r["TotalCount"], 3);
    let names: Vec<&str> = r["Namespaces"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["Name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["default", "ns1"]);
    let r = t
        .ok(
            "ListNamespaces",
            json!({"SearchKey": [{"Key": "Description", "Value": "updated"}]}),
        )
        .await;
    assert_eq!(r["Namespaces"][0]["Name"], "ns1");
    assert_eq!(r["TotalCount"], 1);
    assert_eq!(
        code(&t.call("ListNamespaces", json!({"Order": "UP"})).await),
        "InvalidParameterValue.Order"
    );
    assert_eq!(
        code(
            &t.call(
                "ListNamespaces",
                json!({"SearchKey": [{"Key": "Tag", "Value": "x"}]})
            )
            .await
        ),
        "InvalidParameterValue.SearchKey"
    );

    t.ok(
        "CreateFunction",
        json!({"FunctionName": "fn", "Namespace": "ns1", "Code": {"ZipFile": hello_zip()}}),
    )
    .await;
    assert_eq!(
        code(&t.call("DeleteNamespace", json!({"Namespace": "ns1"})).await),
        "ResourceInUse.Namespace"
    );
    assert_eq!(
        code(
            &t.call("DeleteNamespace", json!({"Namespace": "default"}))
                .await
        ),
        "FailedOperation.DeleteNamespace"
    );
    assert_eq!(
        code(
            &t.call("DeleteNamespace", json!({"Namespace": "nope"}))
                .await
        ),
        "ResourceNotFound.Namespace"
    );
    t.ok(
        "DeleteFunction",
        json!({"FunctionName": "fn", "Namespace": "ns1"}),
    )
    .await;
    t.ok("DeleteNamespace", json!({"Namespace": "ns1"})).await;
    assert_eq!(t.ok("ListNamespaces", json!({})).await["TotalCount"], 2);
}

#[tokio::test]
async fn function_lifecycle() {
    let t = test_app();
    let o = Tc3::default();
    t.ok(
        "CreateFunction",
        json!({
            "FunctionName": "hello", "Runtime": "Python3.9", "Handler": "index.main_handler",
            "MemorySize": 256, "Timeout": 10, "Description": "greets",
            "Environment": {"Variables": [{"Key": "GREETING", "Value": "hi"}]},
            "Tags": [{"Key": "team", "Value": "a"}],
            "VpcConfig": {"VpcId": "vpc-1", "SubnetId": "subnet-1"},
            "Code": {"ZipFile": hello_zip()}
        }),
    )
    .await;
    let f = t.wait_active(&o, "hello").await;
    assert_eq!(f["Status"], "Active", "{f}");
    assert_eq!(f["MemorySize"], 256);
    assert_eq!(f["Timeout"], 10);
    assert_eq!(
        f["Environment"]["Variables"][0],
        json!({"Key": "GREETING", "Value": "hi"})
    );
    assert_eq!(
        f["VpcConfig"]["VpcId"], "vpc-1",
        "stored settings come back"
    );
    assert_eq!(f["Qualifier"], "$LATEST");
    assert!(f["FunctionId"].as_str().expect("id").starts_with("lam-"));
    assert!(f["AddTime"].as_str().expect("time").len() == 19);
    assert_eq!(
        code(
            &t.call(
                "CreateFunction",
                json!({"FunctionName": "hello", "Code": {"ZipFile": hello_zip()}})
            )
            .await
        ),
        "ResourceInUse.Function"
    );
    assert_eq!(
        code(
            &t.call(
                "GetFunction",
                json!({"FunctionName": "hello", "Qualifier": "1"})
            )
            .await
        ),
        "ResourceNotFound.Version"
    );
    let shown = t
        .ok(
            "GetFunction",
            json!({"FunctionName": "hello", "ShowCode": "TRUE"}),
        )
        .await;
    assert!(
        shown["CodeInfo"]
            .as_str()
            .expect("code")
            .contains("main_handler")
    );

    t.ok(
        "UpdateFunctionConfiguration",
        json!({"FunctionName": "hello", "MemorySize": 512, "Environment": {"Variables": []}}),
    )
    .await;
    let f = t.ok("GetFunction", json!({"FunctionName": "hello"})).await;
    assert_eq!(f["MemorySize"], 512);
    assert_eq!(f["Environment"]["Variables"], json!([]));
    assert_eq!(f["Timeout"], 10, "untouched settings stay");
    assert_eq!(
        code(
            &t.call(
                "UpdateFunctionConfiguration",
                json!({"FunctionName": "hello", "Runtime": "Nodejs16.13"})
            )
            .await
        ),
        "InvalidParameterValue.Runtime"
    );
    assert_eq!(
        code(
            &t.call(
                "UpdateFunctionConfiguration",
                json!({"FunctionName": "hello", "Timeout": 0})
            )
            .await
        ),
        "LimitExceeded.Timeout"
    );
    assert_eq!(
        code(
            &t.call(
                "UpdateFunctionConfiguration",
                json!({"FunctionName": "ghost"})
            )
            .await
        ),
        "ResourceNotFound.Function"
    );

    let before = t
        .ok("GetFunctionAddress", json!({"FunctionName": "hello"}))
        .await;
    let new_zip = zip_b64(&[("app.py", b"def run(e, c):\n    return 2\n")]);
    t.ok(
        "UpdateFunctionCode",
        json!({"FunctionName": "hello", "Handler": "app.run", "ZipFile": new_zip}),
    )
    .await;
    let f = t.wait_active(&o, "hello").await;
    assert_eq!(
        (f["Status"].as_str(), f["Handler"].as_str()),
        (Some("Active"), Some("app.run"))
    );
    let after = t
        .ok("GetFunctionAddress", json!({"FunctionName": "hello"}))
        .await;
    assert_ne!(before["CodeSha256"], after["CodeSha256"]);
    let url = after["Url"].as_str().expect("url");
    assert!(
        url.starts_with("http://127.0.0.1:9000/code/1250000001/"),
        "{url}"
    );

    // The link downloads exactly the uploaded zip; a tampered one is refused.
    let path = url.trim_start_matches("http://127.0.0.1:9000");
    let resp = t
        .router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(resp.status(), 200);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&bytes),
        new_zip
    );
    let tampered = path.replace("1250000001", "1250000002");
    let resp = t
        .router
        .clone()
        .oneshot(Request::get(tampered).body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(resp.status(), 403);

    let list = t.ok("ListFunctions", json!({"SearchKey": "ell"})).await;
    assert_eq!(list["TotalCount"], 1);
    assert_eq!(list["Functions"][0]["FunctionName"], "hello");
    assert_eq!(
        code(&t.call("ListFunctions", json!({"Orderby": "Size"})).await),
        "InvalidParameterValue.OrderBy"
    );
    assert_eq!(
        code(
            &t.call(
                "ListFunctions",
                json!({"Filters": [{"Name": "Color", "Values": ["red"]}]})
            )
            .await
        ),
        "InvalidParameterValue.Filters"
    );
    assert_eq!(
        code(&t.call("ListFunctions", json!({"Namespace": "nope"})).await),
        "ResourceNotFound.Namespace"
    );
    let acct = t.ok("GetAccount", json!({})).await;
    assert_eq!(
        acct["AccountUsage"]["Namespace"][0]["Functions"],
        json!(["hello"])
    );

    t.ok("DeleteFunction", json!({"FunctionName": "hello"}))
        .await;
    assert_eq!(
        code(
            &t.call("GetFunction", json!({"FunctionName": "hello"}))
                .await
        ),
        "ResourceNotFound.Function"
    );
    assert_eq!(
        code(
            &t.call("DeleteFunction", json!({"FunctionName": "hello"}))
                .await
        ),
        "ResourceNotFound.Function"
    );
}

#[tokio::test]
async fn function_validation_codes_and_nothing_written() {
    let limits = Limits {
        zip_file_bytes: 4096,
        unpacked_bytes: 8192,
        zip_entries: 3,
        ..Limits::default()
    };
    let t = test_app_with(&[], limits);
    let base = |extra: Value| {
        let mut v = json!({"FunctionName": "fn1", "Code": {"ZipFile": hello_zip()}});
        for (k, x) in extra.as_object().expect("obj") {
            v[k] = x.clone();
        }
        v
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"FunctionName": "1bad"}),
            "InvalidParameterValue.FunctionName",
        ),
        (
            json!({"FunctionName": "bad-"}),
            "InvalidParameterValue.FunctionName",
        ),
        (json!({"Handler": "index"}), "InvalidParameterValue.Handler"),
        (
            json!({"Runtime": "Cobol1"}),
            "InvalidParameterValue.Runtime",
        ),
        (
            json!({"MemorySize": 100}),
            "InvalidParameterValue.MemorySize",
        ),
        (
            json!({"MemorySize": 4096}),
            "InvalidParameterValue.MemorySize",
        ),
        (json!({"Timeout": 901}), "LimitExceeded.Timeout"),
        (
            json!({"Environment": {"Variables": [{"Key": "SCF_RUNTIME", "Value": "x"}]}}),
            "InvalidParameterValue.EnvironmentSystemProtect",
        ),
        (
            json!({"Environment": {"Variables": [{"Key": "", "Value": "x"}]}}),
            "InvalidParameterValue.Environment",
        ),
        (
            json!({"Environment": {"Variables": [{"Key": "BIG", "Value": "x".repeat(4100)}]}}),
            "InvalidParameterValue.EnvironmentExceededLimit",
        ),
        (json!({"Namespace": "nope"}), "ResourceNotFound.Namespace"),
        (json!({"Code": {}}), "InvalidParameterValue.Code"),
        (
            json!({"Code": {"CosBucketName": "b", "CosObjectName": "/c.zip"}}),
            "UnsupportedOperation.Cos",
        ),
        (
            json!({"Code": {"GitUrl": "https://example.invalid/x.git"}}),
            "UnsupportedOperation",
        ),
        (
            json!({"Code": {"ZipFile": "%%%not base64"}}),
            "InvalidParameterValue.ZipFileBase64BinasciiError",
        ),
        (
            json!({"Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(b"plain text")}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            json!({"Code": {"ZipFile": zip_b64(&[("../evil.py", b"x")])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            json!({"Code": {"ZipFile": zip_b64(&[("/etc/evil", b"x")])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            json!({"Code": {"ZipFile": zip_b64(&[("a", b""), ("b", b""), ("c", b""), ("d", b"")])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            json!({"Code": {"ZipFile": zip_b64(&[("noise.bin", &noise(6000))])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            json!({"Code": {"ZipFile": zip_b64(&[("bomb.bin", &vec![0u8; 100_000])])}}),
            "InvalidParameterValue.ZipFile",
        ),
    ];
    for (extra, expected) in cases {
        let req = base(extra.clone());
        let r = t.call("CreateFunction", req).await;
        assert_eq!(code(&r), expected, "{extra}");
    }
    assert_eq!(
        t.ok("ListFunctions", json!({})).await["TotalCount"],
        0,
        "nothing was written"
    );
    assert_eq!(
        code(&t.call("GetFunction", json!({"FunctionName": "fn1"})).await),
        "ResourceNotFound.Function"
    );
    assert_eq!(
        code(
            &t.call("CreateFunction", json!({"FunctionName": "fn1"}))
                .await
        ),
        "MissingParameter"
    );
}

#[tokio::test]
async fn accounts_are_isolated() {
    let t = test_app();
    let a = Tc3::default();
    let b = Tc3 {
        id: "AKIDb",
        key: "keyb",
        ..Tc3::default()
    };
    t.call_as(&a, "CreateNamespace", json!({"Namespace": "secret"}))
        .await;
    t.call_as(
        &a,
        "CreateFunction",
        json!({"FunctionName": "private", "Code": {"ZipFile": hello_zip()}}),
    )
    .await;
    t.wait_active(&a, "private").await;

    let ghost = t
        .call_as(&b, "GetFunction", json!({"FunctionName": "never-existed"}))
        .await;
    for action in [
        "GetFunction",
        "DeleteFunction",
        "UpdateFunctionConfiguration",
        "GetFunctionAddress",
    ] {
        let r = t
            .call_as(&b, action, json!({"FunctionName": "private"}))
            .await;
        assert_eq!(code(&r), "ResourceNotFound.Function", "{action}");
        assert_eq!(
            r["Error"]["Message"]
                .as_str()
                .map(|m| m.replace("private", "X")),
            ghost["Error"]["Message"]
                .as_str()
                .map(|m| m.replace("never-existed", "X")),
            "no difference leaks"
        );
    }
    assert_eq!(
        t.call_as(&b, "ListFunctions", json!({})).await["TotalCount"],
        0
    );
    let ns = t.call_as(&b, "ListNamespaces", json!({})).await;
    assert_eq!(ns["TotalCount"], 1, "only B's own default: {ns}");
    assert_eq!(
        code(
            &t.call_as(&b, "ListFunctions", json!({"Namespace": "secret"}))
                .await
        ),
        "ResourceNotFound.Namespace"
    );
    assert_eq!(
        code(
            &t.call_as(&b, "DeleteNamespace", json!({"Namespace": "secret"}))
                .await
        ),
        "ResourceNotFound.Namespace"
    );
    t.call_as(
        &b,
        "CreateFunction",
        json!({"FunctionName": "private", "Code": {"ZipFile": hello_zip()}}),
    )
    .await;
    assert_eq!(t.wait_active(&b, "private").await["Status"], "Active");
    assert_eq!(
        t.call_as(&b, "GetAccount", json!({})).await["AccountUsage"]["Namespace"][0]["FunctionsCount"],
        1
    );
    // A's function is untouched by B's of the same name.
    assert_eq!(
        t.call_as(&a, "ListFunctions", json!({})).await["TotalCount"],
        1
    );
    // Another region of the same account is another world too.
    let a_sh = Tc3 {
        region: Some("ap-shanghai"),
        ..Tc3::default()
    };
    assert_eq!(
        t.call_as(&a_sh, "ListFunctions", json!({})).await["TotalCount"],
        0
    );
}

fn py_zip(code: &str) -> String {
    zip_b64(&[("index.py", code.as_bytes())])
}

async fn deploy(t: &TestApp, name: &str, code: &str, extra: Value) -> Value {
    let mut req = json!({"FunctionName": name, "Runtime": "Python3.11", "Code": {"ZipFile": py_zip(code)}, "Timeout": 2});
    for (k, v) in extra.as_object().expect("obj") {
        req[k] = v.clone();
    }
    t.ok("CreateFunction", req).await;
    t.wait_active(&Tc3::default(), name).await
}

#[tokio::test]
async fn invoke_records_and_request_status() {
    let t = test_app();
    deploy(&t, "echo", "def main_handler(event, context):\n    print('seen', event['n'])\n    if event['n'] < 0:\n        raise ValueError('negative')\n    return {'double': event['n'] * 2}\n", json!({})).await;
    let r = t
        .ok(
            "Invoke",
            json!({"FunctionName": "echo", "ClientContext": "{\"n\": 21}", "LogType": "Tail"}),
        )
        .await;
    let result = &r["Result"];
    assert_eq!(result["RetMsg"], "{\"double\": 42}");
    assert_eq!(result["InvokeResult"], 0);
    assert!(result["MemUsage"].as_u64().expect("bytes") > 0);
    assert!(result["Log"].as_str().expect("log").contains("seen 21"));
    let id = result["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_string();
    let s = t
        .ok(
            "GetRequestStatus",
            json!({"FunctionName": "echo", "FunctionRequestId": id}),
        )
        .await;
    assert_eq!(s["TotalCount"], 1);
    assert_eq!(s["Data"][0]["RetCode"], 0);
    assert_eq!(s["Data"][0]["RetMsg"], "{\"double\": 42}");

    let f = t
        .ok(
            "InvokeFunction",
            json!({"FunctionName": "echo", "Event": "{\"n\": -1}"}),
        )
        .await;
    assert_eq!(f["Result"]["InvokeResult"], -1);
    assert!(
        f["Result"]["ErrMsg"]
            .as_str()
            .expect("err")
            .contains("ValueError: negative")
    );
    let id = f["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_string();
    let s = t
        .ok(
            "GetRequestStatus",
            json!({"FunctionName": "echo", "FunctionRequestId": id}),
        )
        .await;
    assert_eq!(s["Data"][0]["RetCode"], -1);

    let status = |extra: Value| {
        let mut v = json!({"FunctionName": "echo", "FunctionRequestId": "a63607c3-581f-4be9-8c4b-631c75909f07"});
        for (k, x) in extra.as_object().expect("obj") {
            v[k] = x.clone();
        }
        v
    };
    let empty = t.ok("GetRequestStatus", status(json!({}))).await;
    assert_eq!(
        (empty["TotalCount"].clone(), empty["Data"].clone()),
        (json!(0), json!([]))
    );
    assert_eq!(
        code(
            &t.call(
                "GetRequestStatus",
                status(json!({"FunctionRequestId": "nope"}))
            )
            .await
        ),
        "InvalidParameterValue.FunctionRequestId"
    );
    assert_eq!(
        code(
            &t.call("GetRequestStatus", status(json!({"FunctionName": "ghost"})))
                .await
        ),
        "ResourceNotFound.Function"
    );
    assert_eq!(
        code(
            &t.call(
                "GetRequestStatus",
                status(json!({"FunctionName": "bad name!"}))
            )
            .await
        ),
        "InvalidParameterValue.FunctionName"
    );
    assert_eq!(
        code(
            &t.call(
                "GetRequestStatus",
                status(json!({"StartTime": "2024-01-01 00:00:00"}))
            )
            .await
        ),
        "InvalidParameterValue.StartTimeOrEndTime"
    );
    assert_eq!(
        code(
            &t.call(
                "GetRequestStatus",
                status(json!({"StartTime": "yesterday", "EndTime": "today"}))
            )
            .await
        ),
        "InvalidParameterValue.DateTime"
    );
    assert_eq!(
        code(
            &t.call(
                "GetRequestStatus",
                status(
                    json!({"StartTime": "2024-01-02 00:00:00", "EndTime": "2024-01-01 00:00:00"})
                )
            )
            .await
        ),
        "InvalidParameterValue.StartTime"
    );
    assert_eq!(
        code(
            &t.call("GetRequestStatus", json!({"FunctionName": "echo"}))
                .await
        ),
        "MissingParameter"
    );

    assert_eq!(
        code(
            &t.call(
                "Invoke",
                json!({"FunctionName": "echo", "ClientContext": "{nope"})
            )
            .await
        ),
        "InvalidParameterValue.ClientContext"
    );
    assert_eq!(
        code(
            &t.call(
                "InvokeFunction",
                json!({"FunctionName": "echo", "Event": "{nope"})
            )
            .await
        ),
        "InvalidParameterValue.Param"
    );
    assert_eq!(
        code(
            &t.call("Invoke", json!({"FunctionName": "echo", "Qualifier": "7"}))
                .await
        ),
        "ResourceNotFound.Qualifier"
    );
    assert_eq!(
        code(
            &t.call(
                "Invoke",
                json!({"FunctionName": "echo", "InvocationType": "Later"})
            )
            .await
        ),
        "InvalidParameterValue"
    );
    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(130 << 10));
    assert_eq!(
        code(
            &t.call(
                "Invoke",
                json!({"FunctionName": "echo", "InvocationType": "Event", "ClientContext": big})
            )
            .await
        ),
        "InvalidParameter.RequestTooLarge"
    );
    let logs = t
        .ok(
            "GetFunctionLogs",
            json!({"FunctionName": "echo", "Filter": {"RetCode": "not0"}}),
        )
        .await;
    assert_eq!(logs["TotalCount"], 1, "{logs}");
    assert!(
        logs["Data"][0]["Log"]
            .as_str()
            .expect("log")
            .contains("START RequestId")
    );
    assert_eq!(
        code(
            &t.call(
                "GetFunctionLogs",
                json!({"FunctionName": "echo", "Filter": {"RetCode": "odd"}})
            )
            .await
        ),
        "InvalidParameterValue.RetCode"
    );
}

#[tokio::test]
async fn async_retries_terminate_and_versions() {
    let t = test_app();
    deploy(&t, "flaky", "import time\ndef main_handler(event, context):\n    if event.get('sleep'):\n        time.sleep(event['sleep'])\n        return 'slept'\n    raise RuntimeError('always')\n", json!({})).await;
    t.ok("UpdateFunctionEventInvokeConfig", json!({"FunctionName": "flaky", "AsyncTriggerConfig": {"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 60}})).await;
    assert_eq!(
        code(&t.call("UpdateFunctionEventInvokeConfig", json!({"FunctionName": "flaky", "AsyncTriggerConfig": {"RetryConfig": [{"RetryNum": 3}], "MsgTTL": 60}})).await),
        "LimitExceeded.RetryNum"
    );
    let cfg = t
        .ok(
            "GetFunctionEventInvokeConfig",
            json!({"FunctionName": "flaky"}),
        )
        .await;
    assert_eq!(cfg["AsyncTriggerConfig"]["RetryConfig"][0]["RetryNum"], 1);

    let a = t
        .ok(
            "Invoke",
            json!({"FunctionName": "flaky", "InvocationType": "Event"}),
        )
        .await;
    let id = a["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_string();
    let mut last = json!(null);
    for _ in 0..100 {
        last = t
            .ok(
                "GetRequestStatus",
                json!({"FunctionName": "flaky", "FunctionRequestId": id}),
            )
            .await["Data"][0]
            .clone();
        if last["RetCode"] != 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        (last["RetCode"].clone(), last["RetryNum"].clone()),
        (json!(-1), json!(1)),
        "{last}"
    );
    let st = t
        .ok("GetAsyncEventStatus", json!({"InvokeRequestId": id}))
        .await;
    assert_eq!(st["Result"]["Status"], "FAILED");
    assert_eq!(
        code(
            &t.call(
                "TerminateAsyncEvent",
                json!({"FunctionName": "flaky", "InvokeRequestId": id})
            )
            .await
        ),
        "FailedOperation.AsyncEventStatus"
    );

    let slow = t.ok("Invoke", json!({"FunctionName": "flaky", "InvocationType": "Event", "ClientContext": "{\"sleep\": 1.5}"})).await;
    let sid = slow["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let running = t
        .ok(
            "GetRequestStatus",
            json!({"FunctionName": "flaky", "FunctionRequestId": sid}),
        )
        .await;
    assert_eq!(running["Data"][0]["RetCode"], 1, "running while it sleeps");
    t.ok(
        "TerminateAsyncEvent",
        json!({"FunctionName": "flaky", "InvokeRequestId": sid}),
    )
    .await;
    let st = t
        .ok("GetAsyncEventStatus", json!({"InvokeRequestId": sid}))
        .await;
    assert_eq!(st["Result"]["Status"], "ABORTED");
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let after = t
        .ok(
            "GetRequestStatus",
            json!({"FunctionName": "flaky", "FunctionRequestId": sid}),
        )
        .await;
    assert_eq!(
        after["Data"][0]["RetCode"], -1,
        "a terminated request stays failed: {after}"
    );
    let listed = t
        .ok(
            "ListAsyncEvents",
            json!({"FunctionName": "flaky", "Status": ["ABORTED"]}),
        )
        .await;
    assert_eq!(listed["TotalCount"], 1);
    assert_eq!(
        code(
            &t.call(
                "ListAsyncEvents",
                json!({"FunctionName": "flaky", "Status": ["DONE"]})
            )
            .await
        ),
        "InvalidParameterValue.Status"
    );
    assert_eq!(
        code(
            &t.call(
                "GetAsyncEventStatus",
                json!({"InvokeRequestId": "a63607c3-581f-4be9-8c4b-631c75909f07"})
            )
            .await
        ),
        "ResourceNotFound.AsyncEvent"
    );

    // Versions: a snapshot keeps running its own code.
    let v = t
        .ok(
            "PublishVersion",
            json!({"FunctionName": "flaky", "Description": "v1"}),
        )
        .await;
    assert_eq!(v["FunctionVersion"], "1");
    t.ok("UpdateFunctionCode", json!({"FunctionName": "flaky", "ZipFile": py_zip("def main_handler(event, context):\n    return 'new'\n")})).await;
    t.wait_active(&Tc3::default(), "flaky").await;
    let new = t.ok("Invoke", json!({"FunctionName": "flaky"})).await;
    assert_eq!(new["Result"]["RetMsg"], "\"new\"");
    let old = t.ok("Invoke", json!({"FunctionName": "flaky", "Qualifier": "1", "ClientContext": "{\"sleep\": 0.01}"})).await;
    assert_eq!(old["Result"]["RetMsg"], "\"slept\"");
    let versions = t
        .ok("ListVersionByFunction", json!({"FunctionName": "flaky"}))
        .await;
    assert_eq!(versions["FunctionVersion"], json!(["$LATEST", "1"]));
    assert_eq!(
        t.ok(
            "GetFunction",
            json!({"FunctionName": "flaky", "Qualifier": "1"})
        )
        .await["FunctionVersion"],
        "1"
    );
    t.ok(
        "DeleteFunction",
        json!({"FunctionName": "flaky", "Qualifier": "1"}),
    )
    .await;
    assert_eq!(
        code(
            &t.call(
                "GetFunction",
                json!({"FunctionName": "flaky", "Qualifier": "1"})
            )
            .await
        ),
        "ResourceNotFound.Version"
    );
    assert_eq!(
        t.ok("GetFunction", json!({"FunctionName": "flaky"})).await["Status"],
        "Active",
        "$LATEST stays"
    );
}

#[tokio::test]
async fn reserved_concurrency_caps_sync_calls() {
    let t = test_app();
    deploy(
        &t,
        "slow",
        "import time\ndef main_handler(event, context):\n    time.sleep(0.6)\n    return 1\n",
        json!({}),
    )
    .await;
    assert_eq!(
        t.ok(
            "GetReservedConcurrencyConfig",
            json!({"FunctionName": "slow"})
        )
        .await["ReservedMem"],
        json!(null)
    );
    t.ok(
        "PutReservedConcurrencyConfig",
        json!({"FunctionName": "slow", "ReservedConcurrencyMem": 128}),
    )
    .await;
    assert_eq!(
        t.ok(
            "GetReservedConcurrencyConfig",
            json!({"FunctionName": "slow"})
        )
        .await["ReservedMem"],
        128
    );
    assert_eq!(
        code(
            &t.call(
                "PutReservedConcurrencyConfig",
                json!({"FunctionName": "slow", "ReservedConcurrencyMem": 200000})
            )
            .await
        ),
        "LimitExceeded.FunctionReservedConcurrencyMemory"
    );
    let (a, b) = tokio::join!(t.call("Invoke", json!({"FunctionName": "slow"})), async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        t.call("Invoke", json!({"FunctionName": "slow"})).await
    });
    assert_eq!(a["Result"]["InvokeResult"], 0, "{a}");
    assert_eq!(code(&b), "LimitExceeded.Quota");
    t.ok(
        "DeleteReservedConcurrencyConfig",
        json!({"FunctionName": "slow"}),
    )
    .await;
    let (a, b) = tokio::join!(t.call("Invoke", json!({"FunctionName": "slow"})), async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        t.call("Invoke", json!({"FunctionName": "slow"})).await
    });
    assert_eq!(
        (
            a["Result"]["InvokeResult"].clone(),
            b["Result"]["InvokeResult"].clone()
        ),
        (json!(0), json!(0))
    );
}

#[tokio::test]
async fn event_config_async_list_and_version_limit_codes() {
    let t = test_app();
    deploy(
        &t,
        "cfg",
        "def main_handler(event, context):\n    return 1\n",
        json!({}),
    )
    .await;
    let cfg = |retry: Value, ttl: i64| json!({"FunctionName": "cfg", "AsyncTriggerConfig": {"RetryConfig": retry, "MsgTTL": ttl}});
    assert_eq!(
        code(
            &t.call("UpdateFunctionEventInvokeConfig", cfg(json!([]), 60))
                .await
        ),
        "InvalidParameterValue.AsyncTriggerConfig"
    );
    assert_eq!(
        code(
            &t.call(
                "UpdateFunctionEventInvokeConfig",
                cfg(json!([{"RetryNum": 1}]), 10)
            )
            .await
        ),
        "LimitExceeded.MsgTTL"
    );
    assert_eq!(
        code(
            &t.call(
                "ListAsyncEvents",
                json!({"FunctionName": "cfg", "InvokeType": ["BOGUS"]})
            )
            .await
        ),
        "InvalidParameterValue.InvokeType"
    );
    assert_eq!(
        code(
            &t.call(
                "ListAsyncEvents",
                json!({"FunctionName": "cfg", "Limit": 101})
            )
            .await
        ),
        "InvalidParameterValue.Limit"
    );
    for i in 1..=100 {
        let v = t.ok("PublishVersion", json!({"FunctionName": "cfg"})).await;
        assert_eq!(v["FunctionVersion"], i.to_string());
    }
    assert_eq!(
        code(
            &t.call("PublishVersion", json!({"FunctionName": "cfg"}))
                .await
        ),
        "LimitExceeded.FunctionVersions"
    );
}

#[tokio::test]
async fn a_package_missing_from_node_and_store_refuses_the_invoke() {
    let t = test_app();
    deploy(
        &t,
        "lost",
        "def main_handler(event, context):\n    return 1\n",
        json!({}),
    )
    .await;
    // The node's cache of the package is gone and the embedded store keeps no copy.
    for sub in ["packages", "code"] {
        for e in std::fs::read_dir(t._dir.path().join(sub))
            .expect("dir")
            .flatten()
        {
            let p = e.path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).expect("rm");
            } else {
                std::fs::remove_file(&p).expect("rm");
            }
        }
    }
    let r = t.call("Invoke", json!({"FunctionName": "lost"})).await;
    assert_eq!(code(&r), "FailedOperation.FunctionStatusError", "{r}");
}
