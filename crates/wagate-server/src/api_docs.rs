//! `/docs`: the API reference, rendered by Scalar from a copy inside the binary, so that it
//! works on a machine with no internet (utoipa-scalar's own page loads Scalar from a CDN).
//! The copy is `@scalar/api-reference`'s browser bundle (`assets/scalar/`, MIT), fonts off:
//! the page uses the browser's own.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa_scalar::{Scalar, Servable};

use crate::state::AppState;

/// `@scalar/api-reference` 1.76.0, `dist/browser/standalone.js`.
const SCALAR_JS: &[u8] = include_bytes!("../assets/scalar/standalone.js");

/// The page: the document inline (`$spec`), and the bundle from this server.
const PAGE: &str = r#"<!doctype html>
<html>
<head>
  <title>wagate API reference</title>
  <meta charset="utf-8"/>
  <meta name="viewport" content="width=device-width, initial-scale=1"/>
</head>
<body>
<script id="api-reference" type="application/json" data-configuration='{"withDefaultFonts":false}'>
$spec
</script>
<script src="/docs/scalar.js"></script>
</body>
</html>
"#;

pub fn router(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::new()
        .merge(Scalar::with_url("/docs", doc).custom_html(PAGE))
        .route("/docs/scalar.js", get(script))
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCALAR_JS,
    )
}
