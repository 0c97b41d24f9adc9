//! The dashboard (§20) at `/`: one page of plain HTML, CSS and JavaScript modules kept in
//! `assets/dashboard/` and built into the binary, so it needs no build step, no CDN and no
//! internet. It talks to the same API as everyone else, with the key the user signs in with.
//! The Content-Security-Policy lets the page reach nothing but this server.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::error::ApiError;
use crate::state::AppState;

/// Nothing but this server: scripts, styles, fetches and images (QR codes are `data:` URLs).
const CSP: &str = "default-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const INDEX: &[u8] = include_bytes!("../assets/dashboard/index.html");

/// The files under `/dashboard/`.
macro_rules! asset {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../assets/dashboard/", $name)) as &[u8],
        )
    };
}
const ASSETS: &[(&str, &[u8])] = &[
    asset!("api.js"),
    asset!("app.js"),
    asset!("chats.js"),
    asset!("commands.js"),
    asset!("dom.js"),
    asset!("events.js"),
    asset!("instance.js"),
    asset!("instances.js"),
    asset!("session.js"),
    asset!("signin.js"),
    asset!("status.js"),
    asset!("style.css"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/{file}", get(asset))
}

fn with_policy(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut res = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

async fn index() -> Response {
    with_policy("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    let (name, body) = ASSETS
        .iter()
        .find(|(name, _)| *name == file)
        .ok_or(ApiError::NotFound)?;
    let content_type = if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    };
    Ok(with_policy(content_type, body))
}
