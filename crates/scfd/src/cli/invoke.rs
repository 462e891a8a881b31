//! `scfd invoke`: the event from a flag, a file or stdin; the return value on stdout.

use super::client::{Client, INVOKE_TIMEOUT, MANAGEMENT_TIMEOUT};
use super::function::function_params;
use super::output::{integer, text};
use super::{CliError, InvokeArgs, line, note, print};
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;

/// The event to send, checked to be JSON (the API takes it as a JSON string, ClientContext).
/// No source at all is the empty event `{}`, as in the console's test button.
pub fn event(args: &InvokeArgs, stdin: &mut dyn Read) -> Result<String, CliError> {
    let read_stdin = |stdin: &mut dyn Read| {
        let mut s = String::new();
        stdin
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("cannot read the event from stdin: {e}")))?;
        Ok::<_, CliError>((s, "stdin".to_string()))
    };
    let (raw, origin) = if let Some(e) = &args.event {
        (e.clone(), "--event".to_string())
    } else if let Some(path) = &args.event_file {
        if path == Path::new("-") {
            read_stdin(stdin)?
        } else {
            let s = std::fs::read_to_string(path).map_err(|e| {
                CliError::Usage(format!(
                    "cannot read the event file {}: {e}",
                    path.display()
                ))
            })?;
            (s, path.display().to_string())
        }
    } else if args.stdin.is_some() {
        read_stdin(stdin)?
    } else {
        return Ok("{}".to_string());
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok("{}".to_string());
    }
    serde_json::from_str::<Value>(trimmed)
        .map_err(|e| CliError::Usage(format!("the event from {origin} is not JSON: {e}")))?;
    Ok(trimmed.to_string())
}

pub fn invoke(client: &Client, args: &InvokeArgs, event: &str) -> Result<(), CliError> {
    let mut p = function_params(&args.name, args.namespace.as_deref());
    p.insert("ClientContext".into(), json!(event));
    if let Some(q) = &args.qualifier {
        p.insert("Qualifier".into(), json!(q));
    }
    if args.is_async {
        p.insert("InvocationType".into(), json!("Event"));
        let answer = client.call_with("Invoke", &Value::Object(p), MANAGEMENT_TIMEOUT, None)?;
        let id = answer
            .pointer("/Result/FunctionRequestId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return print(&format!("{id}\n"));
    }
    p.insert("InvocationType".into(), json!("RequestResponse"));
    if args.tail {
        p.insert("LogType".into(), json!("Tail"));
    }
    let answer = client.call_with("Invoke", &Value::Object(p), INVOKE_TIMEOUT, None)?;
    let result = answer.get("Result").cloned().unwrap_or(Value::Null);
    if args.tail {
        let log = text(&result, "Log");
        if !log.is_empty() {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line(&log).as_bytes());
        }
    }
    let id = text(&result, "FunctionRequestId");
    if integer(&result, "InvokeResult") != 0 {
        let mut message = text(&result, "ErrMsg");
        if message.is_empty() {
            message = text(&result, "RetMsg");
        }
        return Err(CliError::Failed(format!(
            "the function failed (RequestId {id}): {}",
            message.trim_end()
        )));
    }
    if args.tail {
        note(&format!("RequestId {id}"));
    }
    print(&line(&text(&result, "RetMsg")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Connection, Stdin};
    use std::path::PathBuf;

    fn args() -> InvokeArgs {
        InvokeArgs {
            name: "hello".into(),
            stdin: None,
            event: None,
            event_file: None,
            is_async: false,
            tail: false,
            qualifier: None,
            namespace: None,
            connection: Connection::default(),
        }
    }

    fn from(args: &InvokeArgs, stdin: &str) -> Result<String, CliError> {
        event(args, &mut stdin.as_bytes())
    }

    #[test]
    fn events_from_each_source() {
        assert_eq!(from(&args(), "ignored").expect("default"), "{}");
        let inline = InvokeArgs {
            event: Some(" {\"a\": 1} ".into()),
            ..args()
        };
        assert_eq!(from(&inline, "ignored").expect("inline"), "{\"a\": 1}");
        let piped = InvokeArgs {
            stdin: Some(Stdin),
            ..args()
        };
        assert_eq!(from(&piped, "[1, 2]\n").expect("stdin"), "[1, 2]");
        assert_eq!(from(&piped, "  \n").expect("empty stdin"), "{}");
        let dash_file = InvokeArgs {
            event_file: Some(PathBuf::from("-")),
            ..args()
        };
        assert_eq!(from(&dash_file, "\"s\"").expect("stdin"), "\"s\"");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("event.json");
        std::fs::write(&path, "{\"from\": \"file\"}\n").expect("write");
        let file = InvokeArgs {
            event_file: Some(path),
            ..args()
        };
        assert_eq!(from(&file, "").expect("file"), "{\"from\": \"file\"}");
    }

    #[test]
    fn bad_events_are_usage_errors() {
        let bad = InvokeArgs {
            event: Some("{not json".into()),
            ..args()
        };
        let err = from(&bad, "").expect_err("not JSON");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--event is not JSON"), "{err}");
        let missing = InvokeArgs {
            event_file: Some(PathBuf::from("/nonexistent/event.json")),
            ..args()
        };
        assert!(matches!(from(&missing, ""), Err(CliError::Usage(_))));
    }
}
