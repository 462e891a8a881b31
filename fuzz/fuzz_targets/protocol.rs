//! The host<->instance protocol (`scf_engine::protocol`): one JSON object a line.
//!
//! Input: one line as an instance could write it (invalid UTF-8 replaced, as the host reads
//! lines). Properties:
//! * decoding: whatever decodes as a `Message` is a start-up message (no answer) or an answer
//!   that carries the message's fields unchanged; its result is the `result` JSON exactly as
//!   written (and so JSON), else `result_text`, else empty;
//! * an answer written as the Python runtime writes one, `{"id":...,"ok":true,"log":...,
//!   "result":LINE}`, gives back LINE as its result, byte for byte, when LINE is JSON on one
//!   line;
//! * encoding: with LINE as an invocation's event (when it is JSON), the request the host
//!   sends is a single line (no `\n` but the last, no `\r`: Python splits on the first,
//!   Node.js's readline on both), starts with the id (the runtimes read it from there when the
//!   rest cannot be decoded), and decodes to the same event.
//!
//! The raw event `7e2222` once failed the last check: serde_json's raw values take numbers
//! past f64's range that its `Value` refuses; the runtimes read them as infinity, so the check
//! now holds such events to being JSON only.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scf_engine::protocol::{Message, Request};
use serde_json::Value;
use serde_json::value::RawValue;

const ID: &str = "01a2216a-a847-7683-b323-0b8df080549d";

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    decode(&line);
    if let Ok(event) = RawValue::from_string(line.to_string()) {
        if !line.contains('\n') {
            answer_in_place(event.get());
        }
        encode(&event);
    }
});

fn decode(line: &str) {
    let Ok(m) = serde_json::from_str::<Message>(line) else {
        return;
    };
    let kind = m.kind;
    let (id, ok, error, log, fatal) = (m.id.clone(), m.ok, m.error.clone(), m.log.clone(), m.fatal);
    let raw = m.result.as_ref().map(|r| r.get().to_string());
    let text = m.result_text.clone();
    match m.into_answer() {
        None => assert!(kind.is_some(), "{line:?}"),
        Some(a) => {
            assert!(kind.is_none(), "{line:?}");
            assert_eq!(
                (&a.id, a.ok, &a.error, &a.log, a.fatal),
                (&id, ok, &error, &log, fatal)
            );
            match raw {
                Some(raw) => {
                    assert_eq!(a.result, raw);
                    serde_json::from_str::<serde::de::IgnoredAny>(&a.result)
                        .expect("a result in place is JSON");
                }
                None => assert_eq!(a.result, text.unwrap_or_default()),
            }
        }
    }
}

fn answer_in_place(result: &str) {
    let line = format!(r#"{{"id":"{ID}","ok":true,"log":"","result":{result}}}"#);
    let m: Message = serde_json::from_str(&line).expect("the Python runtime's answer decodes");
    let a = m.into_answer().expect("an answer");
    assert_eq!((a.id.as_str(), a.ok), (ID, true));
    assert_eq!(a.result, result.trim());
}

fn encode(event: &RawValue) {
    let context = serde_json::json!({"request_id": ID});
    let req = Request {
        id: ID,
        event,
        context: &context,
        deadline_ms: 1_700_000_000_000,
    };
    let line = req.to_line();
    let (last, body) = line.split_last().expect("not empty");
    assert_eq!(*last, b'\n');
    assert!(
        !body.contains(&b'\n') && !body.contains(&b'\r'),
        "the request for event {:?} is not one line",
        event.get()
    );
    assert!(line.starts_with(format!(r#"{{"id":"{ID}""#).as_bytes()));
    // A number too large for an f64 (`7e999`) is JSON that a `Value` cannot hold; the
    // runtimes read it as infinity. Then the line need only be JSON as the event was.
    match serde_json::from_str::<Value>(event.get()) {
        Ok(want) => {
            let back: Value = serde_json::from_slice(&line).expect("the request is JSON");
            assert_eq!(back["event"], want);
        }
        Err(_) => {
            serde_json::from_slice::<serde::de::IgnoredAny>(&line).expect("the request is JSON");
        }
    }
}
