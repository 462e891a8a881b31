//! Calling actions through the router: the envelope every answer must have, error codes,
//! table-driven refusals, and deploying a Python function.

use super::TestApp;
use super::signing::{Tc3, tc3_post};
use super::zips::py_zip;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use tower::ServiceExt;

impl TestApp {
    /// The `Response` of an answer, after checking the envelope (200, JSON, a uuid RequestId).
    pub async fn send(&self, req: Request<Body>) -> Value {
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

    pub async fn call_as(&self, o: &Tc3, action: &str, body: Value) -> Value {
        self.send(tc3_post(Some(action), &body.to_string(), o))
            .await
    }

    pub async fn call(&self, action: &str, body: Value) -> Value {
        self.call_as(&Tc3::default(), action, body).await
    }

    pub async fn ok(&self, action: &str, body: Value) -> Value {
        let r = self.call(action, body).await;
        assert!(r.get("Error").is_none(), "{action}: {r}");
        r
    }

    /// Calls each row's action with its body, in order, and checks the error code it answers;
    /// rows are `(name, action, body, expected code)` and a failure names its row.
    pub async fn assert_codes(&self, rows: &[(&str, &str, Value, &str)]) {
        for (name, action, body, expected) in rows {
            let r = self.call(action, body.clone()).await;
            assert_eq!(code(&r), *expected, "{name} ({action}): {r}");
        }
    }

    pub async fn wait_active(&self, o: &Tc3, name: &str) -> Value {
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

pub fn code(r: &Value) -> &str {
    r["Error"]["Code"].as_str().unwrap_or("<no error>")
}

/// Creates a Python 3.11 function from `code` (index.main_handler, 2 s timeout, `extra` merged
/// into the request) and waits until it settles.
pub async fn deploy(t: &TestApp, name: &str, code: &str, extra: Value) -> Value {
    let mut req = json!({"FunctionName": name, "Runtime": "Python3.11", "Code": {"ZipFile": py_zip(code)}, "Timeout": 2});
    for (k, v) in extra.as_object().expect("obj") {
        req[k] = v.clone();
    }
    t.ok("CreateFunction", req).await;
    t.wait_active(&Tc3::default(), name).await
}
