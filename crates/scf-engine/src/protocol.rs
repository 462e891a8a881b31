//! The host<->instance protocol of the Python and Node.js runtimes.
//!
//! One JSON object a line, both ways, over a Unix socket pair that is the instance's stdin and
//! nothing else: host to instance [`Request`] (and [`INIT_LINE`]), instance to host
//! [`Message`]. The instance's stdout and stderr are pipes the host only ever keeps as log, so
//! nothing a function prints, or a subprocess writes, can be taken for an answer. Lines over
//! a socket cost about what they did over pipes (~10 µs a round trip on this machine).

use serde::{Deserialize, Serialize};

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
    /// The instance cannot serve again (the function called exit).
    #[serde(default)]
    pub fatal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages() {
        let m: Message = serde_json::from_str("{\"type\":\"ready\",\"log\":\"\"}").expect("json");
        assert!(matches!(
            m,
            Message::Init(InitMessage {
                kind: InitKind::Ready,
                ..
            })
        ));
        // A figure the instance adds is ignored: the host measures.
        let a: Message = serde_json::from_str(
            r#"{"id":"r1","ok":false,"error":"boom","log":"x","duration_ms":1.5}"#,
        )
        .expect("json");
        let Message::Answer(a) = a else {
            panic!("an answer")
        };
        assert_eq!(
            (a.id.as_str(), a.ok, a.error.as_str()),
            ("r1", false, "boom")
        );
    }
}
