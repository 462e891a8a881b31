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
        account_id: "1250000000".into(),
        function_id: format!("fn-{}", code.display()),
        version_id: format!("v-{}", code.display()),
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
    assert_eq!(
        b.err(),
        Some(scf_engine::EngineError::Concurrency(
            scf_engine::Limit::Function
        ))
    );
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

/// An event asking SLEEPER to sleep; leaked, so that concurrent calls can borrow it.
fn sleep(secs: f64) -> &'static RawValue {
    Box::leak(event(&format!(r#"{{"sleep": {secs}}}"#)))
}

fn capped_engine(dir: &Path, config: EngineConfig) -> std::sync::Arc<Engine> {
    let sandbox = SandboxConfig {
        enabled: false,
        ..SandboxConfig::default()
    };
    Engine::start(config, sandbox, dir).expect("engine")
}

/// The same function under another account (its own function id and pool).
fn of_account(f: &FunctionSpec, account: &str) -> FunctionSpec {
    FunctionSpec {
        account_id: account.into(),
        function_id: format!("{account}/{}", f.function_id),
        version_id: format!("{account}/{}", f.version_id),
        ..f.clone()
    }
}

const SLEEPER: &str = "import os, time\ndef main_handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return os.getpid()\n";

fn pid_of(out: &scf_engine::Outcome) -> u32 {
    out.run
        .result
        .as_deref()
        .expect("ok")
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn an_account_at_its_share_leaves_the_rest_to_the_others() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = capped_engine(
        dir.path(),
        EngineConfig {
            keep_alive_secs: 60,
            max_instances: 4,
            max_instances_per_account: Some(2),
            ..EngineConfig::default()
        },
    );
    let a = function(dir.path(), "Python3.11", &[("index.py", SLEEPER)], 10);
    let b = of_account(&a, "1250000002");
    let ctx = serde_json::json!({});
    let slow = event(r#"{"sleep": 1.0}"#);
    // Account A queues far more async invocations than the server has slots.
    let queued: Vec<_> = (0..8)
        .map(|i| {
            let (e, a, slow, ctx) = (e.clone(), a.clone(), slow.clone(), ctx.clone());
            tokio::spawn(async move { e.invoke(&a, &format!("a{i}"), &slow, &ctx, true).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = e.stats();
    assert_eq!(stats.busy, 2, "A runs its share only: {stats:?}");
    // A's sync call over its share is refused, naming the account's share...
    assert_eq!(
        e.invoke(&a, "a-sync", &event("{}"), &ctx, false)
            .await
            .err(),
        Some(scf_engine::EngineError::Concurrency(
            scf_engine::Limit::Account
        ))
    );
    // ... while B's sync calls all run, though A's waiters were there first.
    for i in 0..4 {
        let out = e
            .invoke(&b, &format!("b{i}"), &event("{}"), &ctx, false)
            .await
            .expect("B runs");
        assert!(out.run.result.is_ok(), "{:?}", out.run.result);
    }
    let c = of_account(&a, "1250000003");
    let (x, y, z) = tokio::join!(
        e.invoke(&b, "b-x", sleep(0.3), &ctx, false),
        e.invoke(&b, "b-y", sleep(0.3), &ctx, false),
        async {
            // A's two and B's two: the server's four instances are all busy.
            tokio::time::sleep(Duration::from_millis(100)).await;
            e.invoke(&c, "c", &event("{}"), &ctx, false).await
        }
    );
    assert!(x.is_ok() && y.is_ok(), "B has its own share of two");
    assert_eq!(
        z.err(),
        Some(scf_engine::EngineError::Concurrency(
            scf_engine::Limit::Server
        )),
        "a third account within its share meets the server's cap"
    );
    for q in queued {
        let out = q
            .await
            .expect("task")
            .expect("A's async call waits its turn");
        assert!(out.run.result.is_ok(), "{:?}", out.run.result);
    }
    assert_eq!(e.stats().busy, 0);
    assert_eq!(e.stats().waiting, 0);
}

#[tokio::test]
async fn idle_instances_are_capped_per_function_and_per_server_oldest_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = capped_engine(
        dir.path(),
        EngineConfig {
            keep_alive_secs: 60,
            max_idle_per_function: Some(2),
            max_idle_instances: Some(3),
            spares: 0,
            ..EngineConfig::default()
        },
    );
    let f = function(dir.path(), "Python3.11", &[("index.py", SLEEPER)], 10);
    let ctx = serde_json::json!({});
    // Three instances that come back one after the other: the first is the oldest idle.
    let (p1, p2, p3) = tokio::join!(
        e.invoke(&f, "f1", sleep(0.2), &ctx, false),
        e.invoke(&f, "f2", sleep(0.5), &ctx, false),
        e.invoke(&f, "f3", sleep(0.8), &ctx, false)
    );
    let (p1, p2, p3) = (
        pid_of(&p1.expect("f1")),
        pid_of(&p2.expect("f2")),
        pid_of(&p3.expect("f3")),
    );
    assert_eq!(e.idle_instances(), 2, "per function: two idle at most");
    // Another configuration of the same function (a new pool) shares the function's cap.
    let f_changed = FunctionSpec {
        version_id: format!("{}-env2", f.version_id),
        ..f.clone()
    };
    let out = e
        .invoke(&f_changed, "f4", &event("{}"), &ctx, false)
        .await
        .expect("f4");
    assert!(out.cold_start);
    assert_eq!(e.idle_instances(), 2, "all of a function's pools count");
    let (w1, w2) = tokio::join!(
        e.invoke(&f, "f5", sleep(0.2), &ctx, false),
        e.invoke(&f, "f6", sleep(0.2), &ctx, false)
    );
    let (w1, w2) = (w1.expect("f5"), w2.expect("f6"));
    // The oldest went first: f1's and f2's (f2 went when f4's instance came back).
    let warm: Vec<u32> = [&w1, &w2]
        .iter()
        .filter(|o| !o.cold_start)
        .map(|o| pid_of(o))
        .collect();
    assert_eq!(
        warm,
        vec![p3],
        "only the newest of the three stays warm ({p1} {p2} {p3})"
    );
    // Across the server: three idle at most, the oldest (f's) stopped for g's.
    let g = of_account(&f, "1250000002");
    let (g1, g2) = tokio::join!(
        e.invoke(&g, "g1", sleep(0.2), &ctx, false),
        e.invoke(&g, "g2", sleep(0.2), &ctx, false)
    );
    assert!(g1.is_ok() && g2.is_ok());
    assert_eq!(e.idle_instances(), 3, "the server keeps three idle at most");
}

/// Whether a process is gone (or a zombie waiting to be reaped).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn drain_function_stops_idle_and_spares_and_busy_ones_end_with_their_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let e = capped_engine(
        dir.path(),
        EngineConfig {
            keep_alive_secs: 60,
            ..EngineConfig::default()
        },
    );
    let f = function(dir.path(), "Python3.11", &[("index.py", SLEEPER)], 10);
    let other = of_account(&f, "1250000002");
    let ctx = serde_json::json!({});
    // Two instances (the second makes the pool grow: a spare follows), then one more busy.
    let (a, b) = tokio::join!(
        e.invoke(&f, "d1", sleep(0.2), &ctx, false),
        e.invoke(&f, "d2", sleep(0.2), &ctx, false)
    );
    let idle = [pid_of(&a.expect("d1")), pid_of(&b.expect("d2"))];
    e.invoke(&other, "o1", &event("{}"), &ctx, false)
        .await
        .expect("o1");
    spares_reach(&e, 1).await;
    assert_eq!(e.idle_instances(), 3);
    let busy = {
        let e = e.clone();
        let f = f.clone();
        tokio::spawn(async move {
            e.invoke(&f, "d3", sleep(0.6), &serde_json::json!({}), false)
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        e.drain_function(&f.function_id),
        2,
        "two idle and the spare"
    );
    assert_eq!(e.idle_instances(), 1, "the other function's stays");
    assert_eq!(e.spare_instances(), 0);
    for _ in 0..100 {
        if idle.iter().all(|p| gone(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        idle.iter().all(|p| gone(*p)),
        "the idle processes are stopped"
    );
    let out = busy
        .await
        .expect("task")
        .expect("the busy run ends normally");
    assert!(out.run.result.is_ok(), "{:?}", out.run.result);
    assert_eq!(
        e.idle_instances(),
        1,
        "the busy instance does not go back to a drained pool"
    );
    let again = e
        .invoke(&f, "d4", &event("{}"), &ctx, false)
        .await
        .expect("d4");
    assert!(again.cold_start, "a new pool after the drain");
}
