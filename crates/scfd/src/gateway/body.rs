//! The body step (the first of the respond layer): method, size and Content-Type, and the body read once, before anything
//! looks at the signature.

use super::{err, header_str};
use crate::config::HttpLimits;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{Method, header};
use scf_types::ErrorCode;

/// Where a request's parameters came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carried {
    /// A GET's query string.
    Query,
    /// A POST of `application/json` (TC3).
    Json,
    /// A POST of `application/x-www-form-urlencoded` (signature v1, or TC3).
    Form,
}

/// What the body step hands on, in the request's extensions: the body as read (empty for a
/// GET) and how it came.
#[derive(Clone)]
pub(super) struct ReadBody {
    pub(super) bytes: Bytes,
    pub(super) carried: Carried,
}

/// The body step of the one layer (`outcome::respond`): the request with its body read and
/// put in its extensions as a [`ReadBody`], or the refusal ([`Refused`], which the layer answers
/// through the same way out as every other). It was a layer of its own; one layer instead of
/// two is a boxed future and a service clone less per request (`cargo bench -p scf-bench
/// --bench api_router`).
pub(super) async fn read(limits: &HttpLimits, request: Request) -> Result<Request, Refused> {
    let (mut parts, body) = request.into_parts();
    let read = match parts.method {
        Method::POST => read_post(limits, &parts, body).await?,
        Method::GET => {
            check_url(limits, &parts)?;
            ReadBody {
                bytes: Bytes::new(),
                carried: Carried::Query,
            }
        }
        ref other => {
            return Err(err(
                ErrorCode::UnsupportedProtocol,
                format!("HTTP method {other} is not supported; use GET or POST."),
            )
            .into());
        }
    };
    parts.extensions.insert(read);
    Ok(Request::from_parts(parts, Body::empty()))
}

/// A request the body step refuses; `close` when its body was not read to the end (the
/// connection cannot carry another request).
pub(super) struct Refused {
    pub(super) error: scf_types::ApiError,
    pub(super) close: bool,
}

impl From<scf_types::ApiError> for Refused {
    fn from(error: scf_types::ApiError) -> Self {
        Refused {
            error,
            close: false,
        }
    }
}

fn too_large(what: &str, limit: usize) -> scf_types::ApiError {
    err(
        ErrorCode::RequestSizeLimitExceeded,
        format!("The {what} exceeds the limit of {limit} bytes."),
    )
}

/// A GET carries everything in its URL: the request line is bounded instead of a body.
fn check_url(limits: &HttpLimits, parts: &Parts) -> Result<(), Refused> {
    let query = parts.uri.query().unwrap_or("");
    let line = parts.uri.path().len() + query.len() + 1;
    if line > limits.get_bytes {
        return Err(too_large("request URL", limits.get_bytes).into());
    }
    Ok(())
}

/// A POST's body within its style's limit (a form is v1's 1 MB, anything else TC3's 10 MB),
/// then its Content-Type: checked after the read, so the client reads this answer too.
async fn read_post(limits: &HttpLimits, parts: &Parts, body: Body) -> Result<ReadBody, Refused> {
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE.as_str()).unwrap_or("");
    // The media type alone (no parameters).
    let media = content_type.split(';').next().unwrap_or("").trim();
    let carried = if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(Carried::Form)
    } else if media.eq_ignore_ascii_case("application/json") {
        Some(Carried::Json)
    } else {
        None
    };
    let limit = if carried == Some(Carried::Form) {
        limits.v1_post_bytes
    } else {
        limits.tc3_post_bytes
    };
    let declared = header_str(&parts.headers, header::CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = read_body(body, limit, limits.discard_body_bytes, declared)
        .await
        // Whatever is left of the body is not read: the connection cannot carry another
        // request.
        .map_err(|e| Refused {
            error: e.refusal(limit),
            close: true,
        })?;
    let Some(carried) = carried else {
        return Err(err(
            ErrorCode::UnsupportedProtocol,
            format!(
                "A POST must be `application/json` (signed with TC3) or \
                 `application/x-www-form-urlencoded` (signature v1), not `{content_type}`; SCF's \
                 actions take no multipart bodies."
            ),
        )
        .into());
    };
    Ok(ReadBody { bytes, carried })
}

enum BodyError {
    TooLarge,
    Unreadable(String),
}

impl BodyError {
    fn refusal(self, limit: usize) -> scf_types::ApiError {
        match self {
            BodyError::TooLarge => too_large("request body", limit),
            BodyError::Unreadable(why) => err(
                ErrorCode::InvalidParameter,
                format!("The request body could not be read: {why}."),
            ),
        }
    }
}

/// The body, if it fits in `limit`. A larger one is still read and dropped, up to `discard`
/// bytes and for up to 10 s, so that the client, still sending, gets to read the answer
/// (closing on it mid-send gives the SDK "Broken pipe" instead of the code).
async fn read_body(
    body: Body,
    limit: usize,
    discard: usize,
    declared: Option<usize>,
) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    if declared.is_some_and(|n| n > limit.saturating_add(discard)) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        let mut body = body;
        let mut kept = Vec::with_capacity(declared.unwrap_or(0).min(limit));
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Unreadable(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total = total.saturating_add(data.len());
            if total <= limit {
                kept.extend_from_slice(&data);
            } else if total > limit.saturating_add(discard) {
                break;
            } else {
                kept = Vec::new();
            }
        }
        if total > limit {
            Err(BodyError::TooLarge)
        } else {
            Ok(Bytes::from(kept))
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .unwrap_or(Err(BodyError::TooLarge))
}
