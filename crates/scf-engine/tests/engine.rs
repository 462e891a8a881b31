//! The engine with real python3, node and a bash custom runtime, unsandboxed (the sandbox has
//! its own tests in scf-sandbox and the end-to-end suite).

use scf_engine::sandbox::SandboxConfig;
use scf_engine::{Engine, EngineConfig, FunctionSpec};
use serde_json::value::RawValue;
use std::path::Path;
use std::time::Duration;

fn engine(dir: &Path, keep_alive_secs: u64) -> std::sync::Arc<Engine> {
    let config = EngineConfig {
        keep_alive_secs,
        ..EngineConfig::default()
    };
    let sandbox = SandboxConfig {
        enabled: false,
        ..SandboxConfig::default()
    };
    Engine::start(config, sandbox, dir).expect("engine")
}

fn function(dir: &Path, runtime: &str, files: &[(&str, &str)], timeout_s: u64) -> FunctionSpec {
    let code = dir.join(format!(
        "code-{}",
        files.iter().map(|(n, c)| n.len() + c.len()).sum::<usize>()
    ));
    std::fs::create_dir_all(&code).expect("code dir");
    for (name, content) in files {
        let p = code.join(name);
        std::fs::write(&p, content).expect("write");
        if *name == "bootstrap" {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    FunctionSpec {
        function_id: format!("fn-{}", code.display()),
        pool_key: format!("pool-{}", code.display()),
        runtime: runtime.into(),
        handler: "index.main_handler".into(),
        memory_mb: 128,
        timeout: Duration::from_secs(timeout_s),
        init_timeout: Duration::from_secs(10),
        code_dir: code,
        env: vec![
            ("_HANDLER".into(), "index.main_handler".into()),
            ("GREETING".into(), "hi".into()),
        ],
        max_concurrency: None,
    }
}

fn event(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_string()).expect("raw json")
}

#[tokio::test]
async fn python_warm_reuse_errors_and_timeout() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = engine(dir.path(), 60);
    let f = function(
        dir.path(),
        "Python3.9",
        &[(
            "index.py",
            "import os, time\nCOUNT = 0\ndef main_handler(event, context):\n    global COUNT\n    COUNT += 1\n    print('visit', COUNT)\n    if event.get('fail'):\n        raise ValueError('boom')\n    if event.get('sleep'):\n        time.sleep(event['sleep'])\n    return {'count': COUNT, 'greeting': os.environ['GREETING'], 'rid': context['request_id']}\n",
        )],
        1,
    );
    let ctx = serde_json::json!({"request_id": "r1"});
    let first = e
        .invoke(&f, "r1", &event("{}"), &ctx, false)
        .await
        .expect("runs");
    assert!(first.cold_start);
    assert!(first.init_ms > 0.0);
    let v: serde_json::Value =
        serde_json::from_str(first.run.result.as_ref().expect("ok")).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"count": 1, "greeting": "hi", "rid": "r1"})
    );
    assert!(first.run.log.contains("visit 1"), "{}", first.run.log);
    assert!(
        first.run.mem_bytes > 1 << 20,
        "peak memory measured: {}",
        first.run.mem_bytes
    );
    let second = e
        .invoke(&f, "r2", &event("{}"), &ctx, false)
        .await
        .expect("runs");
    assert!(!second.cold_start, "warm");
    assert!(
        second
            .run
            .result
            .as_ref()
            .expect("ok")
            .contains("\"count\": 2"),
        "same process"
    );
    let failed = e
        .invoke(&f, "r3", &event(r#"{"fail": true}"#), &ctx, false)
        .await
        .expect("runs");
    let err = failed.run.result.expect_err("fails");
    assert!(
        err.contains("ValueError: boom") && err.contains("Traceback"),
        "{err}"
    );
    assert!(err.contains("index.py"), "{err}");
    assert!(
        failed.run.reusable,
        "an exception does not kill the instance"
    );
    let slow = e
        .invoke(&f, "r4", &event(r#"{"sleep": 5}"#), &ctx, false)
        .await
        .expect("runs");
    assert_eq!(
        slow.run.result.expect_err("times out"),
        "Invoking task timed out after 1 seconds"
    );
    assert!(!slow.run.reusable);
    let after = e
        .invoke(&f, "r5", &event("{}"), &ctx, false)
        .await
        .expect("runs");
    assert!(after.cold_start, "a timed-out instance is replaced");
}

#[tokio::test]
async fn python_crash_and_init_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = engine(dir.path(), 60);
    let ctx = serde_json::json!({});
    let crash = function(
        dir.path(),
        "Python3.11",
        &[(
            "index.py",
            "import os\ndef main_handler(event, context):\n    os._exit(3)\n",
        )],
        3,
    );
    let out = e
        .invoke(&crash, "c1", &event("{}"), &ctx, false)
        .await
        .expect("runs");
    let err = out.run.result.expect_err("crash");
    assert!(err.contains("crashed") && err.contains("code 3"), "{err}");
    let broken = function(
        dir.path(),
        "Python3.11",
        &[("index.py", "import no_such_module\n")],
        3,
    );
    let out = e
        .invoke(&broken, "c2", &event("{}"), &ctx, false)
        .await
        .expect("runs");
    let err = out.run.result.expect_err("init fails");
    assert!(err.contains("No module named 'no_such_module'"), "{err}");
}

#[tokio::test]
async fn node_async_and_callback_styles() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = engine(dir.path(), 60);
    let ctx = serde_json::json!({"function_name": "n"});
    let f = function(
        dir.path(),
        "Nodejs18.15",
        &[(
            "index.js",
            "exports.main_handler = async (event, context) => { console.log('hello', event.x); return { x: event.x * 2, left: context.getRemainingTimeInMillis() > 0 }; };\n",
        )],
        3,
    );
    let out = e
        .invoke(&f, "n1", &event(r#"{"x": 21}"#), &ctx, false)
        .await
        .expect("runs");
    assert_eq!(out.run.result.as_deref(), Ok(r#"{"x":42,"left":true}"#));
    assert!(out.run.log.contains("hello 21"), "{}", out.run.log);
    let cb = function(
        dir.path(),
        "Nodejs16.13",
        &[(
            "index.js",
            "exports.main_handler = (event, context, callback) => { if (event.fail) { callback(new Error('nope')); } else { callback(null, 'done'); } };\n",
        )],
        3,
    );
    let out = e
        .invoke(&cb, "n2", &event("{}"), &ctx, false)
        .await
        .expect("runs");
    assert_eq!(out.run.result.as_deref(), Ok("\"done\""));
    let out = e
        .invoke(&cb, "n3", &event(r#"{"fail": true}"#), &ctx, false)
        .await
        .expect("runs");
    assert!(out.run.result.expect_err("fails").contains("Error: nope"));
}

#[tokio::test]
async fn custom_runtime_speaks_the_http_api() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = engine(dir.path(), 60);
    let bootstrap = r#"#!/bin/bash
set -euo pipefail
API="http://$SCF_RUNTIME_API:$SCF_RUNTIME_API_PORT"
echo "starting up"
curl -s -d " " -X POST "$API/runtime/init/ready" > /dev/null
while true; do
  HEADERS=$(mktemp)
  EVENT=$(curl -s -D "$HEADERS" "$API/runtime/invocation/next")
  RID=$(grep -i '^request_id:' "$HEADERS" | cut -d' ' -f2 | tr -d '\r')
  echo "handling $RID"
  if echo "$EVENT" | grep -q fail; then
    curl -s -X POST -d "failed on purpose" "$API/runtime/invocation/error" > /dev/null
  else
    curl -s -X POST -d "{\"echo\": $EVENT, \"rid\": \"$RID\"}" "$API/runtime/invocation/response" > /dev/null
  fi
done
"#;
    let f = function(dir.path(), "CustomRuntime", &[("bootstrap", bootstrap)], 5);
    let ctx = serde_json::json!({});
    let out = e
        .invoke(&f, "cr1", &event(r#"{"a": 1}"#), &ctx, false)
        .await
        .expect("runs");
    let v: serde_json::Value =
        serde_json::from_str(out.run.result.as_ref().expect("ok")).expect("json");
    assert_eq!(v, serde_json::json!({"echo": {"a": 1}, "rid": "cr1"}));
    let out2 = e
        .invoke(&f, "cr2", &event(r#"{"fail": 1}"#), &ctx, false)
        .await
        .expect("runs");
    assert!(!out2.cold_start);
    assert_eq!(out2.run.result.expect_err("fails"), "failed on purpose");
}

#[tokio::test]
async fn sync_calls_over_the_cap_fail_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = engine(dir.path(), 60);
    let mut f = function(
        dir.path(),
        "Python3.11",
        &[(
            "index.py",
            "import time\ndef main_handler(event, context):\n    time.sleep(0.5)\n    return 1\n",
        )],
        3,
    );
    f.max_concurrency = Some(1);
    let ctx = serde_json::json!({});
    let ev = event("{}");
    let (a, b) = tokio::join!(e.invoke(&f, "s1", &ev, &ctx, false), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        e.invoke(&f, "s2", &ev, &ctx, false).await
    });
    assert!(a.is_ok());
    assert_eq!(b.err(), Some(scf_engine::EngineError::Concurrency));
    let (c, d) = tokio::join!(e.invoke(&f, "s3", &ev, &ctx, true), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        e.invoke(&f, "s4", &ev, &ctx, true).await
    });
    assert!(c.is_ok() && d.is_ok(), "an async call waits for the slot");
}

#[tokio::test]
async fn keep_alive_zero_means_a_fresh_instance_each_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = engine(dir.path(), 0);
    let f = function(
        dir.path(),
        "Python3.11",
        &[(
            "index.py",
            "def main_handler(event, context):\n    return 1\n",
        )],
        3,
    );
    let ctx = serde_json::json!({});
    for id in ["k1", "k2"] {
        let out = e
            .invoke(&f, id, &event("{}"), &ctx, false)
            .await
            .expect("runs");
        assert!(out.cold_start, "{id}");
    }
    assert_eq!(e.idle_instances(), 0);
}

/// Waits (bounded) until the engine holds `n` spare instances.
async fn spares_reach(e: &Engine, n: usize) {
    for _ in 0..200 {
        if e.spare_instances() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("spares: {} instead of {n}", e.spare_instances());
}

#[tokio::test]
async fn spares_are_fresh_instances_that_load_the_handler_on_demand() {
    let ctx = serde_json::json!({});
    for (runtime, file, code) in [
        (
            "Python3.11",
            "index.py",
            "import os\nCALLS = [0]\nprint('init', os.environ['GREETING'])\n\
             def main_handler(event, context):\n    CALLS[0] += 1\n    return [os.getpid(), CALLS[0]]\n",
        ),
        (
            "Nodejs20.x",
            "index.js",
            "let calls = 0;\nconsole.log('init', process.env.GREETING);\n\
             exports.main_handler = async () => { calls += 1; return [process.pid, calls]; };\n",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let e = engine(dir.path(), 0);
        let f = function(dir.path(), runtime, &[(file, code)], 5);
        let mut pids = Vec::new();
        for i in 0..3 {
            if i > 0 {
                // After the first invocation with keep-alive 0, one spare waits.
                spares_reach(&e, 1).await;
            }
            let out = e
                .invoke(&f, &format!("{runtime}-{i}"), &event("{}"), &ctx, false)
                .await
                .expect("runs");
            assert!(out.cold_start, "{runtime} {i}");
            let v: serde_json::Value =
                serde_json::from_str(out.run.result.as_deref().expect("ok")).expect("json");
            assert_eq!(v[1], 1, "{runtime}: a fresh instance each time: {v}");
            assert!(
                out.run.log.contains("init hi"),
                "{runtime}: init output: {}",
                out.run.log
            );
            pids.push(v[0].as_u64().expect("pid"));
        }
        pids.dedup();
        assert_eq!(pids.len(), 3, "{runtime}: three processes");
        // A spare whose handler fails to load fails the request as a direct start would.
        let broken = function(
            dir.path(),
            runtime,
            &[(file, "this is not valid code at all (\n")],
            5,
        );
        for i in 0..2 {
            if i > 0 {
                spares_reach(&e, 2).await;
            }
            let out = e
                .invoke(
                    &broken,
                    &format!("{runtime}-broken-{i}"),
                    &event("{}"),
                    &ctx,
                    false,
                )
                .await
                .expect("runs");
            let err = out.run.result.expect_err("init fails");
            assert!(err.contains("SyntaxError"), "{runtime} {i}: {err}");
        }
    }
}

#[tokio::test]
async fn spares_count_against_max_instances() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = EngineConfig {
        keep_alive_secs: 0,
        max_instances: 1,
        ..EngineConfig::default()
    };
    let sandbox = SandboxConfig {
        enabled: false,
        ..SandboxConfig::default()
    };
    let e = Engine::start(config, sandbox, dir.path()).expect("engine");
    let ctx = serde_json::json!({});
    for (i, body) in ["return 1", "return 2"].iter().enumerate() {
        let f = function(
            dir.path(),
            "Python3.11",
            &[(
                "index.py",
                &format!("def main_handler(event, context):\n    {body}\n"),
            )],
            5,
        );
        let out = e
            .invoke(&f, &format!("cap-{i}"), &event("{}"), &ctx, false)
            .await
            .expect("runs");
        assert!(out.run.result.is_ok(), "{:?}", out.run.result);
        // The first function's spare is up before the second one asks for its own.
        spares_reach(&e, 1).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        e.spare_instances(),
        1,
        "one spare at most with max_instances = 1"
    );
}
