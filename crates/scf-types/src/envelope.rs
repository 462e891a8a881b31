//! The response envelope: `{"Response": {..fields.., "RequestId": id}}` for success,
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId": id}}` for failure. Always HTTP 200
//! and exactly `Content-Type: application/json` (the Python SDK ignores errors under any other
//! content type, reference §2.6).

use crate::error::ApiError;
use serde_json::{Map, Value, json};

/// The only content type scfd answers the API with.
pub const CONTENT_TYPE: &str = "application/json";

/// The success body for `fields` (an action's response object).
pub fn success(mut fields: Map<String, Value>, request_id: &str) -> Vec<u8> {
    fields.insert("RequestId".into(), Value::String(request_id.to_string()));
    let mut body = Map::with_capacity(1);
    body.insert("Response".into(), Value::Object(fields));
    serde_json::to_vec(&body).expect("a JSON map always serializes")
}

/// The error body for `err`.
pub fn error(err: &ApiError, request_id: &str) -> Vec<u8> {
    let body = json!({"Response": {
        "Error": {"Code": err.code.as_str(), "Message": err.message},
        "RequestId": request_id,
    }});
    serde_json::to_vec(&body).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

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
}
