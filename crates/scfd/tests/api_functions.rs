//! Namespaces and functions through the real router: their lifecycles and validation codes
//! (nothing written on a refusal), code updates and the signed download link, listing with
//! its filters, and that one account (or one region) never sees another's.

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use scf_core::Limits;
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;
use common::calls::code;
use common::signing::{Tc3, account_b};
use common::zips::{hello_zip, noise, zip_b64};
use common::{test_app, test_app_with};

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
    t.assert_codes(&[
        (
            "unknown order",
            "ListNamespaces",
            json!({"Order": "UP"}),
            "InvalidParameterValue.Order",
        ),
        (
            "unknown search key",
            "ListNamespaces",
            json!({"SearchKey": [{"Key": "Tag", "Value": "x"}]}),
            "InvalidParameterValue.SearchKey",
        ),
    ])
    .await;

    t.ok(
        "CreateFunction",
        json!({"FunctionName": "fn", "Namespace": "ns1", "Code": {"ZipFile": hello_zip()}}),
    )
    .await;
    t.assert_codes(&[
        (
            "delete a namespace with a function",
            "DeleteNamespace",
            json!({"Namespace": "ns1"}),
            "ResourceInUse.Namespace",
        ),
        (
            "delete the default namespace",
            "DeleteNamespace",
            json!({"Namespace": "default"}),
            "FailedOperation.DeleteNamespace",
        ),
        (
            "delete an unknown namespace",
            "DeleteNamespace",
            json!({"Namespace": "nope"}),
            "ResourceNotFound.Namespace",
        ),
    ])
    .await;
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
    t.assert_codes(&[
        (
            "runtime changed",
            "UpdateFunctionConfiguration",
            json!({"FunctionName": "hello", "Runtime": "Nodejs16.13"}),
            "InvalidParameterValue.Runtime",
        ),
        (
            "zero timeout",
            "UpdateFunctionConfiguration",
            json!({"FunctionName": "hello", "Timeout": 0}),
            "LimitExceeded.Timeout",
        ),
        (
            "unknown function",
            "UpdateFunctionConfiguration",
            json!({"FunctionName": "ghost"}),
            "ResourceNotFound.Function",
        ),
    ])
    .await;

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
    t.assert_codes(&[
        (
            "unknown order field",
            "ListFunctions",
            json!({"Orderby": "Size"}),
            "InvalidParameterValue.OrderBy",
        ),
        (
            "unknown filter",
            "ListFunctions",
            json!({"Filters": [{"Name": "Color", "Values": ["red"]}]}),
            "InvalidParameterValue.Filters",
        ),
        (
            "unknown namespace",
            "ListFunctions",
            json!({"Namespace": "nope"}),
            "ResourceNotFound.Namespace",
        ),
    ])
    .await;
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
    // Each row: a valid CreateFunction with these fields replaced.
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "name starts with a digit",
            json!({"FunctionName": "1bad"}),
            "InvalidParameterValue.FunctionName",
        ),
        (
            "name ends with a dash",
            json!({"FunctionName": "bad-"}),
            "InvalidParameterValue.FunctionName",
        ),
        (
            "handler without a function",
            json!({"Handler": "index"}),
            "InvalidParameterValue.Handler",
        ),
        (
            "unknown runtime",
            json!({"Runtime": "Cobol1"}),
            "InvalidParameterValue.Runtime",
        ),
        (
            "memory 100 MB (not 64 or a step of 128)",
            json!({"MemorySize": 100}),
            "InvalidParameterValue.MemorySize",
        ),
        (
            "memory over 3072 MB",
            json!({"MemorySize": 4096}),
            "InvalidParameterValue.MemorySize",
        ),
        (
            "timeout over 900 s",
            json!({"Timeout": 901}),
            "LimitExceeded.Timeout",
        ),
        (
            "system environment variable",
            json!({"Environment": {"Variables": [{"Key": "SCF_RUNTIME", "Value": "x"}]}}),
            "InvalidParameterValue.EnvironmentSystemProtect",
        ),
        (
            "empty environment key",
            json!({"Environment": {"Variables": [{"Key": "", "Value": "x"}]}}),
            "InvalidParameterValue.Environment",
        ),
        (
            "environment over 4 KB",
            json!({"Environment": {"Variables": [{"Key": "BIG", "Value": "x".repeat(4100)}]}}),
            "InvalidParameterValue.EnvironmentExceededLimit",
        ),
        (
            "unknown namespace",
            json!({"Namespace": "nope"}),
            "ResourceNotFound.Namespace",
        ),
        (
            "no code source",
            json!({"Code": {}}),
            "InvalidParameterValue.Code",
        ),
        (
            "code from COS",
            json!({"Code": {"CosBucketName": "b", "CosObjectName": "/c.zip"}}),
            "UnsupportedOperation.Cos",
        ),
        (
            "code from git",
            json!({"Code": {"GitUrl": "https://example.invalid/x.git"}}),
            "UnsupportedOperation",
        ),
        (
            "zip not base64",
            json!({"Code": {"ZipFile": "%%%not base64"}}),
            "InvalidParameterValue.ZipFileBase64BinasciiError",
        ),
        (
            "zip not a zip",
            json!({"Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(b"plain text")}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            "zip entry escaping with ..",
            json!({"Code": {"ZipFile": zip_b64(&[("../evil.py", b"x")])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            "zip entry with an absolute path",
            json!({"Code": {"ZipFile": zip_b64(&[("/etc/evil", b"x")])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            "zip with too many entries",
            json!({"Code": {"ZipFile": zip_b64(&[("a", b""), ("b", b""), ("c", b""), ("d", b"")])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            "zip over its size cap (4096 B)",
            json!({"Code": {"ZipFile": zip_b64(&[("noise.bin", &noise(6000))])}}),
            "InvalidParameterValue.ZipFile",
        ),
        (
            "zip unpacking over its cap (8192 B)",
            json!({"Code": {"ZipFile": zip_b64(&[("bomb.bin", &vec![0u8; 100_000])])}}),
            "InvalidParameterValue.ZipFile",
        ),
    ];
    for (name, extra, expected) in cases {
        let req = base(extra);
        let r = t.call("CreateFunction", req).await;
        assert_eq!(code(&r), expected, "{name}: {r}");
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
    let b = account_b();
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
            "{action}: no difference leaks"
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
