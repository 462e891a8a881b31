//! Micro-benchmarks of the pure steps every API request goes through:
//! `cargo bench -p scf-bench --bench hot_paths`.

use criterion::{Criterion, criterion_group, criterion_main};
use scf_store::{FunctionKey, RequestRecord, Scope};
use scf_types::schema::{check_object, unflatten};
use scf_types::sign::{Tc3Request, sha256_hex};
use serde_json::{Value, json};
use std::hint::black_box;

const SECRET_KEY: &str = "scfbenchsecretkeyscfbenchsecret1";

/// A served action's parameters, as the gateway checks them.
fn schema(action: &str) -> &'static [scf_types::schema::Field] {
    scf_core::Action::schema(action).expect("a served action")
}

/// TC3 verification of an Invoke body, as the gateway does it (values as sent, matching).
fn tc3_verify(c: &mut Criterion) {
    let body = br#"{"FunctionName":"py-hello","ClientContext":"{}"}"#;
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("host".to_string(), "127.0.0.1:9000".to_string()),
    ];
    let payload_hash = sha256_hex(body);
    let request = Tc3Request {
        method: "POST",
        query: "",
        headers: &headers,
        signed_headers: "content-type;host",
        payload_hash: &payload_hash,
        timestamp: "1764312000",
        date: "2025-11-28",
        service: "scf",
    };
    let signature = request.signature(SECRET_KEY, false);
    assert!(request.verify(SECRET_KEY, &signature));
    c.bench_function("tc3_verify (Tc3Request::verify, Invoke body)", |b| {
        b.iter(|| black_box(&request).verify(black_box(SECRET_KEY), black_box(&signature)))
    });
    c.bench_function("tc3_verify + payload sha256", |b| {
        b.iter(|| {
            let hash = sha256_hex(black_box(body));
            Tc3Request {
                payload_hash: &hash,
                ..request.clone()
            }
            .verify(SECRET_KEY, &signature)
        })
    });
}

/// Rebuilding flattened ListFunctions parameters (TC3 GET / v1 style).
fn flattened(c: &mut Criterion) {
    let pairs: Vec<(&str, &str)> = vec![
        ("Offset", "0"),
        ("Limit", "20"),
        ("Order", "DESC"),
        ("Orderby", "AddTime"),
        ("SearchKey", "hello"),
        ("Namespace", "default"),
        ("Filters.0.Name", "Status"),
        ("Filters.0.Values.0", "Active"),
        ("Filters.0.Values.1", "Creating"),
        ("Filters.1.Name", "Runtime"),
        ("Filters.1.Values.0", "Python3.11"),
    ];
    assert!(unflatten(schema("ListFunctions"), pairs.iter().copied()).is_ok());
    c.bench_function("unflatten (ListFunctions, 11 pairs)", |b| {
        b.iter(|| unflatten(schema("ListFunctions"), black_box(&pairs).iter().copied()))
    });
}

/// Checking JSON bodies against a schema.
fn json_params(c: &mut Criterion) {
    let invoke: Value =
        json!({"FunctionName": "py-hello", "ClientContext": "{}", "InvocationType": "Event"});
    let invoke = invoke.as_object().expect("an object").clone();
    assert!(check_object(schema("Invoke"), &invoke, "").is_ok());
    c.bench_function("check_object (Invoke)", |b| {
        b.iter(|| check_object(schema("Invoke"), black_box(&invoke), ""))
    });
    let list: Value = json!({
        "Offset": 0, "Limit": 20, "Order": "DESC", "Orderby": "AddTime", "Namespace": "default",
        "Filters": [{"Name": "Status", "Values": ["Active", "Creating"]},
                    {"Name": "Runtime", "Values": ["Python3.11"]}]
    });
    let list = list.as_object().expect("an object").clone();
    assert!(check_object(schema("ListFunctions"), &list, "").is_ok());
    c.bench_function("check_object (ListFunctions with Filters)", |b| {
        b.iter(|| check_object(schema("ListFunctions"), black_box(&list), ""))
    });
}

/// Encoding a finished request record, as the store writes it.
fn record_encoding(c: &mut Criterion) {
    let id = "a63607c3-581f-4be9-8c4b-631c75909f07";
    let mut record = RequestRecord::accepted(
        FunctionKey {
            scope: Scope {
                app_id: 1_250_000_000,
                region: "ap-guangzhou".into(),
            },
            namespace: "default".into(),
            name: "py-hello".into(),
        },
        id.into(),
        "$LATEST".into(),
        false,
        1_764_312_000_000,
    );
    record.outcome = scf_store::RequestOutcome::Succeeded;
    record.ret_msg = "{\"ok\": true}".into();
    record.duration_ms = 0.05;
    record.mem_usage_bytes = 9_830_400;
    record.end_ms = Some(1_764_312_000_001);
    record.log = format!(
        "START RequestId: {id}\nEvent RequestId: {id}\nEND RequestId: {id}\n\
         Report RequestId: {id} Duration:0.05ms Memory:128MB MemUsage:9.38MB\n"
    );
    c.bench_function("serde_json::to_string(RequestRecord)", |b| {
        b.iter(|| serde_json::to_string(black_box(&record)))
    });
}

/// The engine's pool key of a warm invocation: the spec the core builds for a Python function
/// with its 16 built-in variables and two of its own (computed on every invocation).
fn pool_key(c: &mut Criterion) {
    let mut env: Vec<(String, String)> = [
        ("SCF_FUNCTIONNAME", "py-hello"),
        ("SCF_FUNCTIONVERSION", "$LATEST"),
        ("SCF_NAMESPACE", "default"),
        ("SCF_RUNTIME", "Python3.9"),
        ("SCF_MEMORY_SIZE", "128"),
        ("SCF_TIMEOUT", "3"),
        ("TENCENTCLOUD_REGION", "ap-guangzhou"),
        ("TENCENTCLOUD_APPID", "1250000000"),
        ("TENCENTCLOUD_UIN", "100000000001"),
        ("TENCENTCLOUD_TZ", "UTC"),
        ("TENCENTCLOUD_RUNENV", "SCF"),
        ("_HANDLER", "index.main_handler"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("LANG", "C.UTF-8"),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("GREETING", "hello"),
        ("DB_URL", "postgres://db.internal:5432/app"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.shrink_to_fit();
    let spec = scf_engine::FunctionSpec {
        account_id: "1250000000".into(),
        function_id: "1250000000/ap-guangzhou/default/py-hello".into(),
        version_id: "lam-bcrxav2w@$LATEST".into(),
        runtime: "Python3.9".into(),
        handler: "index.main_handler".into(),
        memory_mb: 128,
        timeout: std::time::Duration::from_secs(3),
        init_timeout: std::time::Duration::from_secs(65),
        code_dir:
            "/var/lib/scfd/code/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                .into(),
        env,
        max_concurrency: None,
    };
    c.bench_function("FunctionSpec::pool_key (18 variables)", |b| {
        b.iter(|| black_box(&spec).pool_key())
    });
}

/// The success envelope of an Invoke whose function returned 6 MB (SCF's largest RetMsg): the
/// gateway's last step before the bytes go out.
fn envelope_answer(c: &mut Criterion) {
    let ret_msg = "{\"k\": \"".to_string() + &"x".repeat(6 * 1024 * 1024 - 12) + "\"}";
    let fields = json!({"Result": {
        "RetMsg": ret_msg, "ErrMsg": "", "Log": "", "BillDuration": 1, "Duration": 0.5,
        "MemUsage": 9_830_400, "InvokeResult": 0,
        "FunctionRequestId": "a63607c3-581f-4be9-8c4b-631c75909f07",
    }});
    let fields = fields.as_object().expect("an object").clone();
    let id = "a63607c3-581f-4be9-8c4b-631c75909f07";
    let mut group = c.benchmark_group("envelope");
    group.sample_size(20);
    group.bench_function("clone + success (Invoke, 6 MB RetMsg)", |b| {
        b.iter(|| scf_types::envelope::success(black_box(&fields).clone(), id))
    });
    group.bench_function("success, moved (Invoke, 6 MB RetMsg)", |b| {
        b.iter_batched(
            || fields.clone(),
            |f| scf_types::envelope::success(f, id),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(
    hot_paths,
    tc3_verify,
    envelope_answer,
    flattened,
    json_params,
    record_encoding,
    pool_key
);
criterion_main!(hot_paths);
