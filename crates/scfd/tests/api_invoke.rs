//! Running functions through the real router: synchronous Invoke and InvokeFunction, the
//! request records they leave (GetRequestStatus) and their logs (GetFunctionLogs), the
//! reserved-concurrency cap on synchronous calls, and a package lost from node and store.

use serde_json::{Value, json};

mod common;
use common::calls::{code, deploy};
use common::test_app;

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
    t.assert_codes(&[
        (
            "request id not a uuid",
            "GetRequestStatus",
            status(json!({"FunctionRequestId": "nope"})),
            "InvalidParameterValue.FunctionRequestId",
        ),
        (
            "unknown function",
            "GetRequestStatus",
            status(json!({"FunctionName": "ghost"})),
            "ResourceNotFound.Function",
        ),
        (
            "invalid function name",
            "GetRequestStatus",
            status(json!({"FunctionName": "bad name!"})),
            "InvalidParameterValue.FunctionName",
        ),
        (
            "start time without an end time",
            "GetRequestStatus",
            status(json!({"StartTime": "2024-01-01 00:00:00"})),
            "InvalidParameterValue.StartTimeOrEndTime",
        ),
        (
            "times not dates",
            "GetRequestStatus",
            status(json!({"StartTime": "yesterday", "EndTime": "today"})),
            "InvalidParameterValue.DateTime",
        ),
        (
            "start after end",
            "GetRequestStatus",
            status(json!({"StartTime": "2024-01-02 00:00:00", "EndTime": "2024-01-01 00:00:00"})),
            "InvalidParameterValue.StartTime",
        ),
        (
            "no request id",
            "GetRequestStatus",
            json!({"FunctionName": "echo"}),
            "MissingParameter",
        ),
    ])
    .await;

    let big = format!("{{\"x\": \"{}\"}}", "a".repeat(130 << 10));
    t.assert_codes(&[
        (
            "ClientContext not JSON",
            "Invoke",
            json!({"FunctionName": "echo", "ClientContext": "{nope"}),
            "InvalidParameterValue.ClientContext",
        ),
        (
            "Event not JSON",
            "InvokeFunction",
            json!({"FunctionName": "echo", "Event": "{nope"}),
            "InvalidParameterValue.Param",
        ),
        (
            "unknown version",
            "Invoke",
            json!({"FunctionName": "echo", "Qualifier": "7"}),
            "ResourceNotFound.Qualifier",
        ),
        (
            "unknown invocation type",
            "Invoke",
            json!({"FunctionName": "echo", "InvocationType": "Later"}),
            "InvalidParameterValue",
        ),
        (
            "async event over 128 KiB",
            "Invoke",
            json!({"FunctionName": "echo", "InvocationType": "Event", "ClientContext": big}),
            "InvalidParameter.RequestTooLarge",
        ),
        (
            "unknown log type",
            "Invoke",
            json!({"FunctionName": "echo", "LogType": "Full"}),
            "InvalidParameterValue",
        ),
        (
            "unknown log type (InvokeFunction)",
            "InvokeFunction",
            json!({"FunctionName": "echo", "LogType": "tail"}),
            "InvalidParameterValue",
        ),
        (
            "logs sorted by an unknown field",
            "GetFunctionLogs",
            json!({"FunctionName": "echo", "OrderBy": "size"}),
            "InvalidParameterValue.OrderBy",
        ),
        (
            "logs in an unknown order",
            "GetFunctionLogs",
            json!({"FunctionName": "echo", "Order": "up"}),
            "InvalidParameterValue.Order",
        ),
    ])
    .await;
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
