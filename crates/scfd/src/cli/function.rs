//! `scfd function deploy|list|get|delete`.

use super::client::{Client, UPLOAD_TIMEOUT};
use super::output::{Table, details, integer, size, text};
use super::package::{Package, zip_folder};
use super::progress::Progress;
use super::{CliError, DeployArgs, line, note, print};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// Packages this large show a zipping percentage on a terminal.
const PROGRESS_MIN_BYTES: u64 = 1 << 20;
/// Unpacking a package takes seconds; a function still not Active after this is stuck.
const WAIT_LIMIT: Duration = Duration::from_secs(300);
const POLL_EVERY: Duration = Duration::from_millis(250);
/// ListFunctions/ListNamespaces page size (the API allows up to 1000; 100 keeps answers small).
pub(super) const PAGE: i64 = 100;

/// `{"FunctionName": name, "Namespace": ns}` without an absent namespace.
pub(super) fn function_params(name: &str, namespace: Option<&str>) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("FunctionName".into(), json!(name));
    if let Some(ns) = namespace {
        p.insert("Namespace".into(), json!(ns));
    }
    p
}

fn environment(pairs: &[(String, String)]) -> Value {
    let vars: Vec<Value> = pairs
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    json!({ "Variables": vars })
}

/// The CreateFunction parameters of a deployment.
pub(super) fn create_params(args: &DeployArgs, runtime: Option<&str>, zip_b64: &str) -> Value {
    let mut p = function_params(&args.name, args.namespace.as_deref());
    p.insert("Code".into(), json!({ "ZipFile": zip_b64 }));
    if let Some(r) = runtime {
        p.insert("Runtime".into(), json!(r));
    }
    if let Some(h) = &args.handler {
        p.insert("Handler".into(), json!(h));
    }
    p.extend(config_params(args));
    Value::Object(p)
}

/// The settings UpdateFunctionConfiguration takes, those given only.
pub(super) fn config_params(args: &DeployArgs) -> Map<String, Value> {
    let mut p = Map::new();
    if let Some(m) = args.memory {
        p.insert("MemorySize".into(), json!(m));
    }
    if let Some(t) = args.timeout {
        p.insert("Timeout".into(), json!(t));
    }
    if let Some(d) = &args.description {
        p.insert("Description".into(), json!(d));
    }
    if !args.env.is_empty() {
        p.insert("Environment".into(), environment(&args.env));
    }
    p
}

fn reasons(f: &Value) -> String {
    let listed: Vec<String> = f
        .get("StatusReasons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let (code, message) = (text(r, "ErrorCode"), text(r, "ErrorMessage"));
            if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            }
        })
        .collect();
    if listed.is_empty() {
        text(f, "StatusDesc")
    } else {
        listed.join("; ")
    }
}

/// Polls GetFunction until the function is Active; a `...Failed` status fails with its
/// reasons.
fn wait_active(client: &Client, name: &str, namespace: Option<&str>) -> Result<Value, CliError> {
    let params = Value::Object(function_params(name, namespace));
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let f = client.call("GetFunction", &params)?;
        let status = text(&f, "Status");
        if status == "Active" {
            return Ok(f);
        }
        if status.ends_with("Failed") {
            return Err(CliError::Failed(format!(
                "function {name} is {status}: {}",
                reasons(&f)
            )));
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "function {name} is still {status} after {} s",
                WAIT_LIMIT.as_secs()
            )));
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// What the request carries besides the zip (the other parameters, the JSON around them).
const REQUEST_OVERHEAD: usize = 16 << 10;

/// Refuses, before uploading, a package the server would refuse for the request's size.
fn check_request_size(zip_b64_bytes: usize, limit: usize) -> Result<(), CliError> {
    if zip_b64_bytes + REQUEST_OVERHEAD <= limit {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "the package is {} once base64-encoded, and the API takes requests of at most {} (SCF's \
         limit for a signed JSON request; the zip travels base64-encoded inside it, so it must \
         stay under about {}). Leave out what the function does not need (tests, caches, \
         build output), or raise the server's [http] tc3_post_bytes and pass --request-limit",
        size(zip_b64_bytes as u64),
        size(limit as u64),
        size(((limit - REQUEST_OVERHEAD.min(limit)) / 4 * 3) as u64),
    )))
}

/// `scfd function deploy`: the folder zipped, then the function created or its code (and
/// configuration) updated, waiting until it is Active.
pub fn deploy(client: &Client, args: &DeployArgs) -> Result<(), CliError> {
    let package = package(args)?;
    let zip_b64 = base64::engine::general_purpose::STANDARD.encode(&package.zip);
    check_request_size(zip_b64.len(), args.request_limit)?;
    let namespace = args.namespace.as_deref();
    let get = Value::Object(function_params(&args.name, namespace));
    let existing = match client.call("GetFunction", &get) {
        Ok(f) => Some(f),
        Err(CliError::Api { code, .. }) if code == "ResourceNotFound.Function" => None,
        Err(e) => return Err(e),
    };
    let function = match existing {
        None => create(client, args, &zip_b64)?,
        Some(current) => update(client, args, &current, zip_b64)?,
    };
    print(&format!(
        "{} is Active: {}, handler {}, {} MB, timeout {} s, namespace {}\n",
        args.name,
        text(&function, "Runtime"),
        text(&function, "Handler"),
        integer(&function, "MemorySize"),
        integer(&function, "Timeout"),
        text(&function, "Namespace"),
    ))
}

/// The folder zipped (with a progress bar when it is large), and what went in said.
fn package(args: &DeployArgs) -> Result<Package, CliError> {
    let shown = args.dir.display().to_string();
    let mut bar: Option<Progress> = None;
    let package = zip_folder(&args.dir, &mut |done, total| {
        if total >= PROGRESS_MIN_BYTES {
            bar.get_or_insert_with(|| Progress::new(&format!("zipping {shown}"), total))
                .set(done);
        }
    })?;
    if let Some(bar) = bar.as_mut() {
        bar.finish();
    }
    note(&format!(
        "packaged {shown}: {} file{}, {} ({} zipped)",
        package.files,
        if package.files == 1 { "" } else { "s" },
        size(package.unpacked_bytes),
        size(package.zip.len() as u64)
    ));
    if !package.skipped.is_empty() {
        note(&format!(
            "left out (neither file, folder nor link): {}",
            package.skipped.join(", ")
        ));
    }
    Ok(package)
}

/// The upload's progress label.
fn uploading(zip_b64: &str) -> String {
    format!("uploading {}", size(zip_b64.len() as u64))
}

/// A new function: CustomRuntime when the folder holds a `bootstrap` and no runtime is named.
fn create(client: &Client, args: &DeployArgs, zip_b64: &str) -> Result<Value, CliError> {
    let runtime = args.runtime.clone().or_else(|| {
        args.dir.join("bootstrap").is_file().then(|| {
            note(&format!(
                "found {}: runtime CustomRuntime (--runtime picks another)",
                args.dir.join("bootstrap").display()
            ));
            "CustomRuntime".to_string()
        })
    });
    client.call_with(
        "CreateFunction",
        &create_params(args, runtime.as_deref(), zip_b64),
        UPLOAD_TIMEOUT,
        Some(&uploading(zip_b64)),
    )?;
    note(&format!(
        "created function {}, waiting until it is Active",
        args.name
    ));
    wait_active(client, &args.name, args.namespace.as_deref())
}

/// An existing function: its code (and handler) replaced, then its configuration when any is
/// given. Its runtime cannot change.
fn update(
    client: &Client,
    args: &DeployArgs,
    current: &Value,
    zip_b64: String,
) -> Result<Value, CliError> {
    let (name, namespace) = (&args.name, args.namespace.as_deref());
    let runtime = text(current, "Runtime");
    if let Some(wanted) = args.runtime.as_deref()
        && wanted != runtime
    {
        return Err(CliError::Failed(format!(
            "function {name} runs {runtime}, not {wanted}: a function's runtime is set \
             when it is created (delete it and deploy again to change it)"
        )));
    }
    let upload = uploading(&zip_b64);
    let mut p = function_params(name, namespace);
    p.insert("ZipFile".into(), Value::String(zip_b64));
    if let Some(h) = &args.handler {
        p.insert("Handler".into(), json!(h));
    }
    client.call_with(
        "UpdateFunctionCode",
        &Value::Object(p),
        UPLOAD_TIMEOUT,
        Some(&upload),
    )?;
    note(&format!(
        "updated the code of {name}, waiting until it is Active"
    ));
    let f = wait_active(client, name, namespace)?;
    let config = config_params(args);
    if config.is_empty() {
        return Ok(f);
    }
    let mut p = function_params(name, namespace);
    p.extend(config);
    client.call("UpdateFunctionConfiguration", &Value::Object(p))?;
    note(&format!("updated the configuration of {name}"));
    wait_active(client, name, namespace)
}

/// Every page of a list action: the items under `field`, and the total.
pub(super) fn list_all(
    client: &Client,
    action: &str,
    field: &str,
    params: Map<String, Value>,
) -> Result<Vec<Value>, CliError> {
    let mut items = Vec::new();
    loop {
        let mut p = params.clone();
        p.insert("Offset".into(), json!(items.len()));
        p.insert("Limit".into(), json!(PAGE));
        let page = client.call(action, &Value::Object(p))?;
        let batch = page
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = integer(&page, "TotalCount").max(0) as usize;
        let done = batch.is_empty();
        items.extend(batch);
        if done || items.len() >= total {
            return Ok(items);
        }
    }
}

pub fn list(client: &Client, namespace: Option<&str>, json: bool) -> Result<(), CliError> {
    let mut params = Map::new();
    if let Some(ns) = namespace {
        params.insert("Namespace".into(), json!(ns));
    }
    let functions = list_all(client, "ListFunctions", "Functions", params)?;
    if json {
        return print(&pretty(
            &json!({"Functions": functions, "TotalCount": functions.len()}),
        ));
    }
    let mut table = Table::new(&["NAME", "RUNTIME", "STATUS", "MODIFIED", "DESCRIPTION"]);
    for f in &functions {
        table.row(vec![
            text(f, "FunctionName"),
            text(f, "Runtime"),
            text(f, "Status"),
            text(f, "ModTime"),
            text(f, "Description"),
        ]);
    }
    if table.is_empty() {
        note(&format!(
            "no functions in namespace {}",
            namespace.unwrap_or("default")
        ));
        return Ok(());
    }
    print(&table.render())
}

pub(super) fn pretty(v: &Value) -> String {
    line(&serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()))
}

pub fn get(
    client: &Client,
    name: &str,
    namespace: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let f = client.call(
        "GetFunction",
        &Value::Object(function_params(name, namespace)),
    )?;
    if json {
        return print(&pretty(&f));
    }
    let mut status = text(&f, "Status");
    let desc = text(&f, "StatusDesc");
    if !desc.is_empty() && desc != status {
        status = format!("{status} ({desc})");
    }
    let env: Vec<String> = f
        .pointer("/Environment/Variables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| format!("{}={}", text(v, "Key"), text(v, "Value")))
        .collect();
    let mut rows = vec![
        ("Name", text(&f, "FunctionName")),
        ("Namespace", text(&f, "Namespace")),
        ("Status", status),
    ];
    let why = reasons(&f);
    if f.get("StatusReasons")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty())
    {
        rows.push(("Reasons", why));
    }
    rows.extend([
        ("Runtime", text(&f, "Runtime")),
        ("Handler", text(&f, "Handler")),
        ("Memory", format!("{} MB", integer(&f, "MemorySize"))),
        ("Timeout", format!("{} s", integer(&f, "Timeout"))),
        ("Code size", size(integer(&f, "CodeSize").max(0) as u64)),
        ("Environment", env.join("\n")),
        ("Description", text(&f, "Description")),
        ("Created", text(&f, "AddTime")),
        ("Modified", text(&f, "ModTime")),
    ]);
    print(&details(&rows))
}

pub fn delete(client: &Client, name: &str, namespace: Option<&str>) -> Result<(), CliError> {
    client.call(
        "DeleteFunction",
        &Value::Object(function_params(name, namespace)),
    )?;
    print(&format!("deleted function {name}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args() -> DeployArgs {
        DeployArgs {
            dir: PathBuf::from("."),
            name: "hello".into(),
            runtime: None,
            handler: None,
            memory: None,
            timeout: None,
            env: Vec::new(),
            namespace: None,
            description: None,
            request_limit: 10 << 20,
        }
    }

    #[test]
    fn a_package_too_large_for_one_request_is_refused_before_uploading() {
        let limit = 10 << 20;
        assert!(check_request_size(7 << 20, limit).is_ok());
        let Err(CliError::Failed(why)) = check_request_size(10 << 20, limit) else {
            panic!("a 10 MB base64 zip cannot fit a 10 MB request");
        };
        assert!(
            why.contains("tc3_post_bytes") && why.contains("--request-limit"),
            "{why}"
        );
        assert!(check_request_size(10 << 20, 20 << 20).is_ok());
    }

    #[test]
    fn create_sends_only_what_was_given() {
        assert_eq!(
            create_params(&args(), None, "UEsFBg=="),
            json!({"FunctionName": "hello", "Code": {"ZipFile": "UEsFBg=="}})
        );
        let full = DeployArgs {
            handler: Some("app.handler".into()),
            memory: Some(256),
            timeout: Some(10),
            env: vec![("A".into(), "1".into()), ("B".into(), "x=y".into())],
            namespace: Some("team".into()),
            description: Some("d".into()),
            ..args()
        };
        assert_eq!(
            create_params(&full, Some("Python3.10"), "Zg=="),
            json!({
                "FunctionName": "hello", "Namespace": "team", "Code": {"ZipFile": "Zg=="},
                "Runtime": "Python3.10", "Handler": "app.handler", "MemorySize": 256,
                "Timeout": 10, "Description": "d",
                "Environment": {"Variables": [{"Key": "A", "Value": "1"}, {"Key": "B", "Value": "x=y"}]},
            })
        );
        assert!(config_params(&args()).is_empty());
    }

    #[test]
    fn waiting_ends_with_the_status_reasons_of_a_failure() {
        let (settings, server) = crate::cli::client::fake::serve(vec![
            json!({"Status": "Creating", "RequestId": "r1"}),
            json!({"Status": "CreateFailed", "StatusDesc": "failed", "RequestId": "r2",
                "StatusReasons": [{"ErrorCode": "InvalidParameterValue.ZipFile",
                    "ErrorMessage": "The code package could not be unpacked: disk full"}]}),
        ]);
        let client = Client::new(settings).expect("client");
        let err = wait_active(&client, "hello", Some("team")).expect_err("CreateFailed");
        assert_eq!(
            err.to_string(),
            "function hello is CreateFailed: InvalidParameterValue.ZipFile: The code package \
             could not be unpacked: disk full"
        );
        assert_eq!(err.exit_code(), 1);
        let sent = server.join().expect("fake server");
        assert_eq!(sent.len(), 2);
        assert_eq!(
            sent[1].json(),
            json!({"FunctionName": "hello", "Namespace": "team"})
        );
    }

    /// An existing function: code first, wait, then configuration, wait; never CreateFunction.
    #[test]
    fn a_redeploy_updates_code_then_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("index.py"), "x = 1\n").expect("write");
        let active = json!({"Status": "Active", "Runtime": "Python3.9", "Handler": "index.main_handler",
            "MemorySize": 256, "Timeout": 3, "Namespace": "default", "RequestId": "r"});
        let (settings, server) = crate::cli::client::fake::serve(vec![
            active.clone(),
            json!({"RequestId": "r"}),
            json!({"Status": "Updating", "RequestId": "r"}),
            active.clone(),
            json!({"RequestId": "r"}),
            active,
        ]);
        let client = Client::new(settings).expect("client");
        let deploy_args = DeployArgs {
            dir: dir.path().to_path_buf(),
            memory: Some(256),
            runtime: Some("Python3.9".into()),
            ..args()
        };
        deploy(&client, &deploy_args).expect("deployed");
        let sent = server.join().expect("fake server");
        let actions: Vec<&str> = sent.iter().map(|r| r.action()).collect();
        assert_eq!(
            actions,
            [
                "GetFunction",
                "UpdateFunctionCode",
                "GetFunction",
                "GetFunction",
                "UpdateFunctionConfiguration",
                "GetFunction"
            ]
        );
        let code = sent[1].json();
        let zip_b64 = code["ZipFile"].as_str().expect("ZipFile");
        let zip = base64::engine::general_purpose::STANDARD
            .decode(zip_b64)
            .expect("base64");
        let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
        let names: Vec<String> = archive
            .file_names()
            .map(|n| n.expect("a name").into_owned())
            .collect();
        assert_eq!(names, ["index.py"]);
        assert_eq!(
            sent[4].json(),
            json!({"FunctionName": "hello", "MemorySize": 256})
        );
    }

    #[test]
    fn failure_reasons() {
        let f = json!({"Status": "CreateFailed", "StatusDesc": "failed",
            "StatusReasons": [{"ErrorCode": "InvalidParameterValue.ZipFile", "ErrorMessage": "bad zip"}]});
        assert_eq!(reasons(&f), "InvalidParameterValue.ZipFile: bad zip");
        assert_eq!(
            reasons(&json!({"StatusDesc": "something", "StatusReasons": []})),
            "something"
        );
    }
}
