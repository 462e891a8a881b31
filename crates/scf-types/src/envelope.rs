//! The response envelope: `{"Response": {..fields.., "RequestId": id}}` for success,
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId": id}}` for failure. Always HTTP 200
//! and exactly `Content-Type: application/json` (the Python SDK ignores errors under any other
//! content type, reference §2.6).

use crate::error::ApiError;
use serde::Serialize;
use serde_json::{Map, Value};

/// The only content type scfd answers the API with.
pub const CONTENT_TYPE: &str = "application/json";

/// The success body for `fields` (an action's response object), serialized straight from the
/// map into the body: an Invoke's answer holds a RetMsg of up to 6 MB, which is written once
/// and never copied into another value first.
pub fn success(mut fields: Map<String, Value>, request_id: &str) -> Vec<u8> {
    fields.insert("RequestId".into(), Value::String(request_id.to_string()));
    wrap(&fields)
}

/// `{"Response": inner}`.
fn wrap(inner: &impl Serialize) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"Response\":";
    let mut body = Vec::with_capacity(128);
    body.extend_from_slice(HEAD);
    // Writing into a Vec fails only if `inner` refuses to serialize, which a JSON map or
    // plain strings never do.
    if serde_json::to_writer(&mut body, inner).is_err() {
        body.truncate(HEAD.len());
        body.extend_from_slice(b"{}");
    }
    body.push(b'}');
    body
}

/// An error's `Response`, borrowing the error's text (fields in the order a JSON map sorts
/// them, as the body always had).
#[derive(Serialize)]
struct ErrorResponse<'a> {
    #[serde(rename = "Error")]
    error: ErrorFields<'a>,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorFields<'a> {
    #[serde(rename = "Code")]
    code: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
}

/// The error body for `err`.
pub fn error(err: &ApiError, request_id: &str) -> Vec<u8> {
    wrap(&ErrorResponse {
        error: ErrorFields {
            code: err.code.as_str(),
            message: &err.message,
        },
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    #[test]
    fn shapes() {
        let mut m = Map::new();
        m.insert("TotalCount".into(), json!(0));
        let ok: Value = serde_json::from_slice(&success(m, "r1")).expect("json");
        assert_eq!(
            ok,
            json!({"Response": {"TotalCount": 0, "RequestId": "r1"}})
        );
        let e = ApiError::new(ErrorCode::InvalidAction, "no");
        let err: Value = serde_json::from_slice(&error(&e, "r2")).expect("json");
        assert_eq!(
            err,
            json!({"Response": {"Error": {"Code": "InvalidAction", "Message": "no"}, "RequestId": "r2"}})
        );
    }

    #[test]
    fn bytes_are_as_a_json_map_writes_them() {
        let mut m = Map::new();
        m.insert("Zeta".into(), json!("a\"b"));
        m.insert("Alpha".into(), json!({"Y": 1, "X": [true]}));
        let mut expected = m.clone();
        expected.insert("RequestId".into(), json!("r1"));
        let expected = serde_json::to_vec(&json!({ "Response": expected })).expect("json");
        assert_eq!(success(m, "r1"), expected);
        let e = ApiError::new(ErrorCode::InvalidAction, "say \"no\"\n");
        let expected = serde_json::to_vec(&json!({"Response": {
            "Error": {"Code": "InvalidAction", "Message": "say \"no\"\n"},
            "RequestId": "r2",
        }}))
        .expect("json");
        assert_eq!(error(&e, "r2"), expected);
    }
}
