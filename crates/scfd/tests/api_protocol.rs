//! The gateway in front of every action, through the real router without a socket: HTTP
//! methods, TC3 signatures as each SDK signs them (tccli, Node.js), the legacy v1 and GET
//! styles, the envelope's parameter errors and size caps, and per-account rate limits.

use axum::body::Body;
use axum::http::{Request, header};
use scf_core::Limits;
use serde_json::json;

mod common;
use common::calls::code;
use common::signing::{Tc3, account_b, now, post, tc3_get, tc3_post, v1};
use common::test_app;
use common::test_app_with;
use common::zips::hello_zip;

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
    let mut garbage = tc3_post(Some("ListFunctions"), "{}", &Tc3::default());
    garbage.headers_mut().insert(
        header::AUTHORIZATION,
        "TC3-HMAC-SHA256 garbage".parse().expect("hv"),
    );
    // A body changed after signing fails the signature.
    let mut tampered = tc3_post(Some("ListFunctions"), r#"{"Limit": 1}"#, &Tc3::default());
    *tampered.body_mut() = Body::from(r#"{"Limit": 2}"#);
    // ListFunctions with an empty body, signed with these options.
    let list = |o: Tc3| tc3_post(Some("ListFunctions"), "{}", &o);
    let rows: Vec<(&str, Request<Body>, &str)> = vec![
        ("unsigned", unsigned, "AuthFailure.InvalidAuthorization"),
        (
            "garbage Authorization",
            garbage,
            "AuthFailure.InvalidAuthorization",
        ),
        (
            "no X-TC-Action",
            tc3_post(None, "{}", &Tc3::default()),
            "MissingParameter",
        ),
        ("unknown action", post("FooBar", json!({})), "InvalidAction"),
        (
            "action not served",
            post("CreateTrigger", json!({})),
            "UnsupportedOperation",
        ),
        (
            "old API version",
            list(Tc3 {
                version: Some("2017-01-01"),
                ..Tc3::default()
            }),
            "NoSuchVersion",
        ),
        (
            "no X-TC-Version",
            list(Tc3 {
                version: None,
                ..Tc3::default()
            }),
            "MissingParameter",
        ),
        (
            "unknown SecretId",
            list(Tc3 {
                id: "AKIDnobody",
                ..Tc3::default()
            }),
            "AuthFailure.SecretIdNotFound",
        ),
        (
            "wrong key",
            list(Tc3 {
                key: "nope",
                ..Tc3::default()
            }),
            "AuthFailure.SignatureFailure",
        ),
        (
            "timestamp 301 s old",
            list(Tc3 {
                timestamp: now() - 301,
                ..Tc3::default()
            }),
            "AuthFailure.SignatureExpire",
        ),
        (
            "timestamp 400 s ahead",
            list(Tc3 {
                timestamp: now() + 400,
                ..Tc3::default()
            }),
            "AuthFailure.SignatureExpire",
        ),
        (
            "unknown region",
            list(Tc3 {
                region: Some("xx-nowhere"),
                ..Tc3::default()
            }),
            "UnsupportedRegion",
        ),
        (
            "body changed after signing",
            tampered,
            "AuthFailure.SignatureFailure",
        ),
    ];
    for (name, req, expected) in rows {
        let r = t.send(req).await;
        assert_eq!(code(&r), expected, "{name}: {r}");
    }
}

/// A body over the limit is read and dropped, answered, and the connection closed after it;
/// a refusal that read the whole request keeps the connection.
#[tokio::test]
async fn only_an_unread_body_closes_the_connection() {
    use tower::ServiceExt;
    let t = test_app();
    let answer = |req: Request<Body>| {
        let router = t.router.clone();
        async move {
            let r = router.oneshot(req).await.expect("infallible");
            let close = r.headers().get(header::CONNECTION).cloned();
            let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .expect("body");
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            (v["Response"]["Error"]["Code"].clone(), close)
        }
    };
    // The test app's TC3 limit is 256 KB.
    let big = format!(r#"{{"Pad": "{}"}}"#, "x".repeat(300 << 10));
    let (code, close) = answer(tc3_post(Some("ListFunctions"), &big, &Tc3::default())).await;
    assert_eq!(code, "RequestSizeLimitExceeded");
    assert_eq!(close.as_ref().map(|v| v.as_bytes()), Some(&b"close"[..]));
    let (code, close) = answer(tc3_post(Some("FooBar"), "{}", &Tc3::default())).await;
    assert_eq!(code, "InvalidAction");
    assert_eq!(close, None);
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
    let big = format!(r#"{{"Namespace": "{}"}}"#, "x".repeat(260 << 10));
    let long_query = format!("SearchKey={}", "x".repeat(33 << 10));
    let big_form = format!("Namespace={}", "x".repeat((1 << 20) + 1));
    let form = Request::post("/")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(big_form))
        .expect("req");
    let rows: Vec<(&str, Request<Body>, &str)> = vec![
        (
            "required parameter missing",
            post("CreateNamespace", json!({})),
            "MissingParameter",
        ),
        (
            "unknown parameter",
            post("CreateNamespace", json!({"Namespace": "abc", "Bogus": 1})),
            "UnknownParameter",
        ),
        (
            "Limit not a number",
            post("ListFunctions", json!({"Limit": "abc"})),
            "InvalidParameter",
        ),
        (
            "body not JSON",
            tc3_post(Some("ListFunctions"), "{not json", &Tc3::default()),
            "InvalidParameter",
        ),
        (
            "body not an object",
            tc3_post(Some("ListFunctions"), "[1]", &Tc3::default()),
            "InvalidParameter",
        ),
        (
            "GET: Limit not a number",
            tc3_get("ListFunctions", "Limit=abc", &Tc3::default()),
            "InvalidParameter",
        ),
        (
            "JSON body over 256 KiB",
            tc3_post(Some("CreateNamespace"), &big, &Tc3::default()),
            "RequestSizeLimitExceeded",
        ),
        (
            "GET query over 32 KiB",
            tc3_get("ListFunctions", &long_query, &Tc3::default()),
            "RequestSizeLimitExceeded",
        ),
        ("form body over 1 MiB", form, "RequestSizeLimitExceeded"),
    ];
    for (name, req, expected) in rows {
        let r = t.send(req).await;
        assert_eq!(code(&r), expected, "{name}: {r}");
    }
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
        assert_eq!(r["Namespaces"][0]["Name"], "team", "{method} {sig}");
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
    assert!(
        t.call_as(&account_b(), "ListNamespaces", json!({}))
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
