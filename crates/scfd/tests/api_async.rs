//! Asynchronous invocation and versions through the real router: retries, termination and the
//! async-event records (GetAsyncEventStatus, ListAsyncEvents), the event-invoke config and its
//! limits, and published versions (each runs its own code; listing, deletion, the cap of 100).

use serde_json::json;

mod common;
use common::calls::{code, deploy};
use common::signing::Tc3;
use common::test_app;
use common::zips::py_zip;

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

    let id = invoke_event(&t, "flaky").await;
    let last = poll_status(&t, "flaky", &id, |s| s["RetCode"] != 1).await;
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
    t.assert_codes(&[
        (
            "unknown event status",
            "ListAsyncEvents",
            json!({"FunctionName": "flaky", "Status": ["DONE"]}),
            "InvalidParameterValue.Status",
        ),
        (
            "unknown async event",
            "GetAsyncEventStatus",
            json!({"InvokeRequestId": "a63607c3-581f-4be9-8c4b-631c75909f07"}),
            "ResourceNotFound.AsyncEvent",
        ),
    ])
    .await;

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
async fn event_config_async_list_and_version_limit_codes() {
    let t = test_app();
    deploy(
        &t,
        "cfg",
        "def main_handler(event, context):\n    return 1\n",
        json!({}),
    )
    .await;
    let cfg = |retry: serde_json::Value, ttl: i64| json!({"FunctionName": "cfg", "AsyncTriggerConfig": {"RetryConfig": retry, "MsgTTL": ttl}});
    t.assert_codes(&[
        (
            "no retry config",
            "UpdateFunctionEventInvokeConfig",
            cfg(json!([]), 60),
            "InvalidParameterValue.AsyncTriggerConfig",
        ),
        (
            "MsgTTL under its floor",
            "UpdateFunctionEventInvokeConfig",
            cfg(json!([{"RetryNum": 1}]), 10),
            "LimitExceeded.MsgTTL",
        ),
        (
            "unknown invoke type",
            "ListAsyncEvents",
            json!({"FunctionName": "cfg", "InvokeType": ["BOGUS"]}),
            "InvalidParameterValue.InvokeType",
        ),
        (
            "page over 100",
            "ListAsyncEvents",
            json!({"FunctionName": "cfg", "Limit": 101}),
            "InvalidParameterValue.Limit",
        ),
    ])
    .await;
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

/// GetRequestStatus of `id` from three hours before the (stepped) wall clock to one after.
async fn status_of(t: &common::TestApp, name: &str, id: &str) -> serde_json::Value {
    let now = scf_core::clock::wall_ms();
    let at = |ms| scf_types::time::format_datetime(ms, 8 * 3600);
    t.ok(
        "GetRequestStatus",
        json!({"FunctionName": name, "FunctionRequestId": id,
               "StartTime": at(now - 3 * 3_600_000), "EndTime": at(now + 3_600_000)}),
    )
    .await["Data"][0]
        .clone()
}

/// Invokes `name` asynchronously and returns its request id.
async fn invoke_event(t: &common::TestApp, name: &str) -> String {
    let a = t
        .ok(
            "Invoke",
            json!({"FunctionName": name, "InvocationType": "Event"}),
        )
        .await;
    a["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_string()
}

/// [`status_of`] every 25 ms until `done` says so (for at most 5 s); the last status read.
async fn poll_status(
    t: &common::TestApp,
    name: &str,
    id: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = status_of(t, name, id).await;
    for _ in 0..200 {
        if done(&last) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        last = status_of(t, name, id).await;
    }
    last
}

/// A failed event's retry waits its interval on the steady clock: with an hour between runs
/// it is still pending (RetCode 1) after its first run, and runs again (and fails for good,
/// RetryNum 1) once the hour is stepped past, without the test waiting for it.
#[tokio::test]
async fn a_retry_comes_due_when_its_interval_has_passed() {
    let hour = std::time::Duration::from_secs(3600);
    let t = common::test_app_configured(&[], |s| s.async_retry_interval = hour);
    deploy(
        &t,
        "fails",
        "def main_handler(event, context):\n    raise RuntimeError('always')\n",
        json!({}),
    )
    .await;
    t.ok("UpdateFunctionEventInvokeConfig", json!({"FunctionName": "fails", "AsyncTriggerConfig": {"RetryConfig": [{"RetryNum": 1}], "MsgTTL": 7200}})).await;
    let id = invoke_event(&t, "fails").await;
    // The first run ends (its log is written) while the request stays pending for the retry.
    let first = poll_status(&t, "fails", &id, |s| {
        s["RetMsg"].as_str().is_some_and(|m| m.contains("always"))
    })
    .await;
    assert_eq!(
        (first["RetCode"].clone(), first["RetryNum"].clone()),
        (json!(1), json!(0)),
        "{first}"
    );
    // Well past any look of the dispatcher, the retry is still an hour away.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(status_of(&t, "fails", &id).await["RetCode"], 1);

    scf_core::clock::advance_for_tests(hour.as_millis() as i64 + 1000);
    let last = poll_status(&t, "fails", &id, |s| s["RetCode"] != 1).await;
    assert_eq!(
        (last["RetCode"].clone(), last["RetryNum"].clone()),
        (json!(-1), json!(1)),
        "{last}"
    );
}

/// The retention purge deletes what is older than the retention, judged on the settled clock:
/// a request is kept while it is young, and when the wall clock alone jumps, and purged once
/// the retention is stepped past.
#[tokio::test]
async fn the_purge_takes_requests_once_the_retention_has_passed() {
    let t = common::test_app_configured(&[], |s| {
        s.retention = std::time::Duration::from_secs(3600);
        s.purge_interval = std::time::Duration::from_millis(100);
    });
    deploy(
        &t,
        "quick",
        "def main_handler(event, context):\n    return 1\n",
        json!({}),
    )
    .await;
    let r = t.ok("Invoke", json!({"FunctionName": "quick"})).await;
    let id = r["Result"]["FunctionRequestId"]
        .as_str()
        .expect("id")
        .to_string();
    // Several purges run meanwhile; the young request stays.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        status_of(&t, "quick", &id).await["RetCode"],
        0,
        "kept while young"
    );
    // A wall clock set two hours forward by hand does not age it (issue 11's settled clock).
    scf_core::clock::shift_wall_for_tests(2 * 3600 * 1000);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        status_of(&t, "quick", &id).await["RetCode"],
        0,
        "a clock jump ages nothing"
    );

    scf_core::clock::advance_for_tests(2 * 3600 * 1000);
    let last = poll_status(&t, "quick", &id, serde_json::Value::is_null).await;
    assert!(
        last.is_null(),
        "purged once older than the retention: {last}"
    );
}
