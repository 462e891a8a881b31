//! The one way out of the API: every part inside leaves an [`Outcome`] on its response, and
//! [`respond`] turns it into the envelope, counts it and logs it, once (after axum's
//! error-handling example: the error rides the response's extensions to one middleware).

use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scf_types::{ApiError, ErrorCode, envelope};
use serde_json::{Map, Value};
use std::sync::Arc;
use tracing::Instrument;

/// What became of a request, for [`respond`] to answer with.
#[derive(Clone)]
pub(super) struct Outcome {
    /// The action, once the signature checked out (it labels the metrics).
    action: Option<&'static str>,
    result: Result<Map<String, Value>, ApiError>,
    /// The body was not read to its end: the connection cannot carry another request.
    close: bool,
}

/// An action's response object.
pub(super) struct Answer {
    pub(super) action: &'static str,
    pub(super) fields: Map<String, Value>,
}

/// A request refused or failed, from any part of the gateway or the core.
#[derive(Debug)]
pub(super) struct ApiFailure {
    error: ApiError,
    action: Option<&'static str>,
    close: bool,
}

impl ApiFailure {
    /// A failure once the action is known.
    pub(super) fn after(action: &'static str, error: ApiError) -> Self {
        ApiFailure {
            error,
            action: Some(action),
            close: false,
        }
    }

    /// A failure that leaves the body unread: the connection is closed after the answer.
    pub(super) fn closing(error: ApiError) -> Self {
        ApiFailure {
            error,
            action: None,
            close: true,
        }
    }
}

/// A failure before the action is known (the body step, the signature).
impl From<ApiError> for ApiFailure {
    fn from(error: ApiError) -> Self {
        ApiFailure {
            error,
            action: None,
            close: false,
        }
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        Outcome {
            action: Some(self.action),
            result: Ok(self.fields),
            close: false,
        }
        .into_response()
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        Outcome {
            action: self.action,
            result: Err(self.error),
            close: self.close,
        }
        .into_response()
    }
}

/// The outer layer: the request's id and span around everything inside, then its
/// [`Outcome`] counted, logged once and answered in the envelope.
pub(super) async fn respond(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::info_span!("api", node = %state.node, request_id = %request_id, action = tracing::field::Empty);
    async move {
        let started = std::time::Instant::now();
        let mut response = match super::body::read(&state.http_limits, request).await {
            Ok(request) => next.run(request).await,
            Err(refused) if refused.close => ApiFailure::closing(refused.error).into_response(),
            Err(refused) => ApiFailure::from(refused.error).into_response(),
        };
        let outcome = response
            .extensions_mut()
            .remove::<Outcome>()
            .unwrap_or_else(no_outcome);
        outcome.count();
        outcome.log(started);
        outcome.answer(&request_id)
    }
    .instrument(span)
    .await
}

/// Every part answers with an [`Outcome`]; a response without one is a bug, answered as an
/// internal error rather than passed on outside the envelope.
fn no_outcome() -> Outcome {
    Outcome {
        action: None,
        result: Err(ApiError::new(
            ErrorCode::InternalError,
            "Internal error; the server log has the details.",
        )
        .with_source("the API route answered without an outcome")),
        close: false,
    }
}

/// How much a failed request says about the server, and so the level it is logged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    /// The caller's mistake or limit: info.
    Refusal,
    /// The store out of reach, for the moment: warn.
    Unavailable,
    /// Something broke inside (the store, the disk, a task): error, with the cause.
    Failure,
}

impl Severity {
    fn of(e: &ApiError) -> Self {
        if e.code == ErrorCode::ServiceUnavailable {
            Severity::Unavailable
        } else if e.cause().is_some()
            || matches!(
                e.code,
                ErrorCode::InternalError | ErrorCode::InternalErrorSystem
            )
        {
            Severity::Failure
        } else {
            Severity::Refusal
        }
    }
}

impl Outcome {
    fn code(&self) -> &'static str {
        match &self.result {
            Ok(_) => "OK",
            Err(e) => e.code.as_str(),
        }
    }

    /// `scf_api_requests_total` by action and code, and `scf_rate_limited_total`. Only SCF's
    /// action names label the series (any other name would let a caller make series without
    /// end): the action is known only once [`check_action`](super::checks::check_action)
    /// found it among them.
    fn count(&self) {
        let action = self.action.unwrap_or("-");
        metrics::counter!("scf_api_requests_total", "action" => action, "code" => self.code())
            .increment(1);
        if matches!(&self.result, Err(e) if e.code == ErrorCode::RequestLimitExceeded) {
            metrics::counter!("scf_rate_limited_total", "action" => action).increment(1);
        }
    }

    /// The one log line of a request, at its [`Severity`].
    fn log(&self, started: std::time::Instant) {
        let e = match &self.result {
            Ok(_) => {
                tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "ok");
                return;
            }
            Err(e) => e,
        };
        let cause = e.cause().map(tracing::field::display);
        match Severity::of(e) {
            Severity::Refusal => {
                tracing::info!(code = %e.code, message = %e.message, "refused")
            }
            Severity::Unavailable => {
                tracing::warn!(code = %e.code, message = %e.message, error = cause, "unavailable")
            }
            Severity::Failure => {
                tracing::error!(code = %e.code, message = %e.message, error = cause, "failed")
            }
        }
    }

    /// The envelope (HTTP 200, exactly `application/json`), the response moved into it.
    fn answer(self, request_id: &str) -> Response {
        let body = match self.result {
            Ok(fields) => envelope::success(fields, request_id),
            Err(e) => envelope::error(&e, request_id),
        };
        // A new response is HTTP 200.
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(envelope::CONTENT_TYPE),
        );
        if self.close {
            headers.insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_is_logged_at_its_severity() {
        let refusal = ApiError::new(ErrorCode::InvalidAction, "no");
        assert_eq!(Severity::of(&refusal), Severity::Refusal);
        let store: ApiError = scf_store::StoreError::Backend("disk I/O error".into()).into();
        assert_eq!(Severity::of(&store), Severity::Failure);
        let full: ApiError = scf_store::StoreError::DiskFull("full".into()).into();
        assert_eq!(full.code, ErrorCode::FailedOperationInsufficientResources);
        assert_eq!(Severity::of(&full), Severity::Failure);
        let down: ApiError = scf_store::StoreError::Unavailable("refused".into()).into();
        assert_eq!(Severity::of(&down), Severity::Unavailable);
        let bare = ApiError::new(ErrorCode::InternalError, "x");
        assert_eq!(Severity::of(&bare), Severity::Failure);
    }

    #[test]
    fn the_answer_moves_the_fields_into_the_envelope() {
        let mut fields = Map::new();
        fields.insert("TotalCount".into(), Value::from(3));
        let outcome = Outcome {
            action: Some("ListFunctions"),
            result: Ok(fields),
            close: true,
        };
        let r = outcome.answer("r1");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[header::CONTENT_TYPE], envelope::CONTENT_TYPE);
        assert_eq!(r.headers()[header::CONNECTION], "close");
    }
}
