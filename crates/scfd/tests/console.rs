//! The web console's files through the real router (`scfd::app`): the page, each asset with
//! its content type, and every file the page and its modules refer to.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::collections::BTreeSet;
use tower::ServiceExt;

mod common;
use common::{TestApp, test_app};

struct Answer {
    status: StatusCode,
    content_type: String,
    cache_control: String,
    csp: String,
    body: String,
}

async fn get(app: &TestApp, path: &str) -> Answer {
    let res = app
        .router
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::HOST, "127.0.0.1:9000")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("router answers");
    let header = |name: header::HeaderName| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
            .unwrap_or_default()
    };
    let (status, content_type, cache_control, csp) = (
        res.status(),
        header(header::CONTENT_TYPE),
        header(header::CACHE_CONTROL),
        header(header::CONTENT_SECURITY_POLICY),
    );
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    Answer {
        status,
        content_type,
        cache_control,
        csp,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8 body"),
    }
}

#[tokio::test]
async fn console_page_is_html() {
    let app = test_app();
    for path in ["/console", "/console/", "/console/index.html"] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.content_type, "text/html; charset=utf-8", "{path}");
        assert_eq!(a.cache_control, "no-cache", "{path}");
        assert!(a.csp.contains("script-src 'self'"), "{path}: {}", a.csp);
        assert!(a.csp.contains("connect-src 'self'"), "{path}: {}", a.csp);
        assert!(a.body.starts_with("<!doctype html>"), "{path}");
        assert!(
            a.body
                .contains(r#"<script type="module" src="/console/app.js"></script>"#),
            "{path}"
        );
    }
}

#[tokio::test]
async fn assets_answer_with_their_content_type() {
    let app = test_app();
    for (path, content_type, needle) in [
        (
            "/console/app.js",
            "text/javascript; charset=utf-8",
            "GetFunctionLogs",
        ),
        (
            "/console/tc3.js",
            "text/javascript; charset=utf-8",
            "TC3-HMAC-SHA256",
        ),
        ("/console/console.css", "text/css; charset=utf-8", ":root"),
        ("/console/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.content_type, content_type, "{path}");
        assert!(a.body.contains(needle), "{path} lacks {needle}");
    }
}

#[tokio::test]
async fn unknown_console_files_are_404() {
    let app = test_app();
    for path in [
        "/console/nope.js",
        "/console/..%2Fconsole.rs",
        "/console/app.js/x",
    ] {
        assert_eq!(
            get(&app, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

/// Every file named by the page (`/console/...`) or imported by a module (`./x.js`) is served:
/// a new asset cannot be forgotten in console.rs's table.
#[tokio::test]
async fn every_referenced_file_is_served() {
    let app = test_app();
    let mut seen = BTreeSet::new();
    let mut todo = vec!["index.html".to_string()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let a = get(&app, &format!("/console/{name}")).await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "{name} is referenced but not served"
        );
        for (prefix, end) in [("\"/console/", '"'), ("from './", '\''), ("from \"./", '"')] {
            for (i, _) in a.body.match_indices(prefix) {
                let rest = &a.body[i + prefix.len()..];
                let file = &rest[..rest.find(end).expect("closing quote")];
                todo.push(file.to_string());
            }
        }
    }
    for expected in [
        "index.html",
        "console.css",
        "favicon.svg",
        "app.js",
        "api.js",
        "tc3.js",
        "sha256.js",
        "chart.js",
    ] {
        assert!(seen.contains(expected), "{expected} not reached: {seen:?}");
    }
}
