//! The host<->instance protocol of the Python and Node.js runtimes.
//!
//! One JSON object a line, both ways, over a Unix socket pair that is the instance's stdin and
//! nothing else: host to instance [`Request`] (and [`INIT_LINE`]), instance to host
//! [`Message`]. The instance's stdout and stderr are pipes the host only ever keeps as log, so
//! nothing a function prints, or a subprocess writes, can be taken for an answer. Lines over
//! a socket cost about what they did over pipes (~10 µs a round trip on this machine).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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

/// What an instance says: a start-up message (with `type`) or the answer to one invocation
/// (with `id`). One flat struct rather than an untagged enum: serde buffers an untagged
/// value whole before trying each variant, which for a 6 MB answer is a second pass over it,
/// and a buffered value cannot hold the raw `result`.
#[derive(Debug, Deserialize)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: Option<InitKind>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub ok: bool,
    /// The return value as the runtime serialized it, sent as JSON in place (not escaped into
    /// a string: a 6 MB result stays a 6 MB line, and nothing is unescaped here).
    #[serde(default, deserialize_with = "present")]
    pub result: Option<Box<RawValue>>,
    /// The return value escaped into a string, for what is not strict JSON (Python writes
    /// `NaN` and `Infinity`).
    pub result_text: Option<String>,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub log: String,
    /// The instance cannot serve again (the function called exit).
    #[serde(default)]
    pub fatal: bool,
}

impl Request<'_> {
    /// The request as one protocol line, ending in `\n`. The event goes as the client wrote
    /// it, and JSON may break lines between its tokens (a pretty-printed event): such breaks
    /// become spaces, or the instance would read the request as several lines (Python splits
    /// at `\n`, Node.js's readline at `\r` too). Inside a JSON string a line break is always
    /// escaped, so no value changes.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("a request always serializes");
        for b in &mut line {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
        line.push(b'\n');
        line
    }
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum InitKind {
    /// The interpreter is up; the handler is loaded when the host sends [`INIT_LINE`].
    Standby,
    Ready,
    InitError,
}

/// The outcome of one invocation, as the engine keeps it (from a [`Message`], or from the
/// custom runtime's HTTP API).
#[derive(Debug)]
pub struct Answer {
    pub id: String,
    pub ok: bool,
    /// The return value, JSON-serialized by the runtime.
    pub result: String,
    pub error: String,
    pub log: String,
    pub fatal: bool,
}

/// A field that is there, `null` included (plain `Option` reads `null` as absent, and `None`
/// would lose a handler's `None`/`undefined`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

impl Message {
    /// The answer it carries, if it is one.
    pub fn into_answer(self) -> Option<Answer> {
        if self.kind.is_some() {
            return None;
        }
        Some(Answer {
            id: self.id,
            ok: self.ok,
            result: match (self.result, self.result_text) {
                (Some(raw), _) => raw.get().to_string(),
                (None, text) => text.unwrap_or_default(),
            },
            error: self.error,
            log: self.log,
            fatal: self.fatal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages() {
        let m: Message = serde_json::from_str(r#"{"type":"ready","log":""}"#).expect("json");
        assert_eq!(m.kind, Some(InitKind::Ready));
        assert!(m.into_answer().is_none());
        // The result is JSON in place; a figure the instance adds is ignored: the host measures.
        let m: Message = serde_json::from_str(
            r#"{"id":"r1","ok":true,"result":{"a":[1,"\""]},"log":"x","duration_ms":1.5}"#,
        )
        .expect("json");
        let a = m.into_answer().expect("an answer");
        assert_eq!(
            (a.id.as_str(), a.ok, a.result.as_str(), a.log.as_str()),
            ("r1", true, r#"{"a":[1,"\""]}"#, "x")
        );
        let m: Message =
            serde_json::from_str(r#"{"id":"r0","ok":true,"result":null}"#).expect("json");
        assert_eq!(m.into_answer().expect("an answer").result, "null");
        let m: Message =
            serde_json::from_str(r#"{"id":"r2","ok":false,"error":"boom"}"#).expect("json");
        let a = m.into_answer().expect("an answer");
        assert_eq!(
            (a.ok, a.result.as_str(), a.error.as_str()),
            (false, "", "boom")
        );
    }

    /// Found by the `protocol` fuzz target: a pretty-printed event (tccli or the SDK pass the
    /// client's JSON through as written) went into the request line with its line breaks, and
    /// the instance read the first fragment as the request ("The event cannot be decoded"),
    /// then choked on the next.
    #[test]
    fn a_request_is_one_line_whatever_the_event_looks_like() {
        let event =
            RawValue::from_string("{\r\n  \"a\": [\n    1\n  ],\n  \"b\": \"x\\ny\"\n}\n".into())
                .expect("json");
        let context = serde_json::json!({});
        let req = Request {
            id: "r1",
            event: &event,
            context: &context,
            deadline_ms: 0,
        };
        let line = req.to_line();
        let (last, body) = line.split_last().expect("not empty");
        assert_eq!(*last, b'\n');
        assert!(!body.contains(&b'\n') && !body.contains(&b'\r'));
        assert!(line.starts_with(br#"{"id":"r1""#));
        let back: serde_json::Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(back["event"], serde_json::json!({"a": [1], "b": "x\ny"}));
    }
}
