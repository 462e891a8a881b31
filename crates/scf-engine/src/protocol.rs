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
}
