//! The host<->instance protocol of the Python and Node.js runtimes.
//!
//! Host to instance: one JSON object a line on the instance's stdin ([`Request`]).
//! Instance to host: lines on its stdout that start with [`MARKER`] and carry a JSON
//! [`Message`]; every other byte on stdout is the function's own stray output (a subprocess, C
//! code writing to fd 1) and is kept as log. A marker cannot be typed by accident (it starts
//! with the ASCII record separator), so user output can never forge an answer. JSON lines over
//! pipes are the cheapest transport measured on this machine (~10 µs a round trip).

use serde::{Deserialize, Serialize};

/// Starts every protocol line the instance writes.
pub const MARKER: &str = "\u{1e}SCF ";

/// Host to instance: load the handler now (the answer is "ready" or "init_error").
pub const INIT_LINE: &[u8] = b"{\"type\":\"init\"}\n";

/// One invocation, host to instance.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    pub id: &'a str,
    /// The event, already JSON (sent as a raw value, not re-encoded).
    pub event: &'a serde_json::value::RawValue,
    pub context: &'a serde_json::Value,
    /// Unix milliseconds by which the handler must finish (for getRemainingTimeInMillis).
    pub deadline_ms: i64,
}

/// What an instance says.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Message {
    /// After loading the handler.
    Init(InitMessage),
    /// The outcome of one invocation.
    Answer(Answer),
}

#[derive(Debug, Deserialize)]
pub struct InitMessage {
    #[serde(rename = "type")]
    pub kind: InitKind,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub log: String,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InitKind {
    /// The interpreter is up; the handler is loaded when the host sends [`INIT_LINE`].
    Standby,
    Ready,
    InitError,
}

#[derive(Debug, Deserialize)]
pub struct Answer {
    pub id: String,
    pub ok: bool,
    /// The return value, JSON-serialized by the runtime.
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub log: String,
    /// The handler's own wall time, measured inside the instance.
    #[serde(default)]
    pub duration_ms: f64,
    /// The instance cannot serve again (the function called exit).
    #[serde(default)]
    pub fatal: bool,
}

/// Splits a line from the instance into stray output and a protocol message, if any.
pub fn split_line(line: &str) -> (&str, Option<&str>) {
    match line.find(MARKER) {
        Some(i) => (&line[..i], Some(&line[i + MARKER.len()..])),
        None => (line, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_and_stray_output() {
        let (stray, msg) = split_line("hello\u{1e}SCF {\"type\":\"ready\",\"log\":\"\"}");
        assert_eq!(stray, "hello");
        let m: Message = serde_json::from_str(msg.expect("a message")).expect("json");
        assert!(matches!(
            m,
            Message::Init(InitMessage {
                kind: InitKind::Ready,
                ..
            })
        ));
        let (stray, msg) = split_line("just output");
        assert_eq!((stray, msg), ("just output", None));
        let a: Message = serde_json::from_str(
            r#"{"id":"r1","ok":false,"error":"boom","log":"x","duration_ms":1.5}"#,
        )
        .expect("json");
        let Message::Answer(a) = a else {
            panic!("an answer")
        };
        assert_eq!(
            (a.id.as_str(), a.ok, a.error.as_str(), a.duration_ms),
            ("r1", false, "boom", 1.5)
        );
    }
}
