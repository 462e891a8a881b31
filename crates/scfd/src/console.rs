//! The web console at `/console`: a few static files (HTML, CSS, vanilla JavaScript modules)
//! compiled into the binary, so a deployment is still one file and needs no internet.
//!
//! The console has no server side of its own. The page asks for a SecretId and SecretKey,
//! keeps them in the tab's `sessionStorage` and signs every call to the API at `/` itself with
//! TC3-HMAC-SHA256, exactly as the SDKs do: the key never leaves the browser, and the console
//! can see only what the signed API answers to that account.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file, served at `/console/{name}`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// Every file of the console (folder `crates/scfd/console/`). A new file needs a line here.
const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../console/index.html"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../console/console.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../console/app.js"),
    },
    Asset {
        name: "api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../console/api.js"),
    },
    Asset {
        name: "tc3.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../console/tc3.js"),
    },
    Asset {
        name: "sha256.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../console/sha256.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../console/chart.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../console/favicon.svg"),
    },
];

/// The page handles a secret key: only our own scripts and styles run, nothing loads from
/// elsewhere, API calls go to this origin only, and no other site may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The console's routes; they need no state, so they merge into any router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/{file}", get(file))
}

async fn index() -> Response {
    serve("index.html")
}

async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file in the console\n").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            // Small files that change with the binary: revalidating each time is cheap and
            // never leaves an old script next to a new page after an upgrade.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        asset.body,
    )
        .into_response()
}
