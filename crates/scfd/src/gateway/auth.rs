//! The [`Verified`] extractor: which signature style, then that style's checks.

use super::body::ReadBody;
use super::outcome::ApiFailure;
use super::tc3::{self, Tc3Parts};
use super::{Signed, Signer, Verified, v1};
use crate::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use scf_types::{ApiError, ErrorCode};
use std::sync::Arc;

impl FromRequest<Arc<AppState>> for Verified {
    type Rejection = ApiFailure;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, ApiFailure> {
        let (mut parts, _) = request.into_parts();
        let Some(body) = parts.extensions.remove::<ReadBody>() else {
            return Err(ApiError::new(
                ErrorCode::InternalError,
                "Internal error; the server log has the details.",
            )
            .with_source("the API handler ran without the respond layer (which reads the body) in front of it")
            .into());
        };
        // An Authorization header means TC3; without one the parameters carry a v1 signature.
        let signed = match parts.headers.get(header::AUTHORIZATION) {
            Some(authorization) => tc3::verify(
                state,
                &Tc3Parts {
                    parts: &parts,
                    authorization,
                    body: &body,
                },
            ),
            None => v1::verify(state, &parts, &body),
        }?;
        Ok(verified(signed, &parts.headers))
    }
}

fn verified(signed: Signed<'_>, headers: &HeaderMap) -> Verified {
    Verified {
        account: Signer {
            app_id: signed.account.app_id,
            uin: signed.account.uin.clone(),
            isolated: signed.account.isolated,
        },
        action: signed.action,
        region: signed.region,
        params: signed.params,
        base_url: base_url(headers),
    }
}

/// `scheme://host` the client used, from its Host header (tccli puts the scheme in it).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_string()
    } else {
        format!("http://{host}")
    }
}
