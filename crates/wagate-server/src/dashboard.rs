//! The dashboard (§20) at `/`: one page of plain HTML, CSS and JavaScript modules kept in
//! `assets/dashboard/` and built into the binary, so it needs no build step, no CDN and no
//! internet. It talks to the same API as everyone else, with the key the user signs in with.
//! The Content-Security-Policy lets the page reach nothing but this server.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;
use wagate_core::scope::Scope;
use wagate_core::webhook_event::WebhookEvent;

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
    asset!("api_keys.js"),
    asset!("app.js"),
    asset!("chats.js"),
    asset!("commands.js"),
    asset!("dom.js"),
    asset!("events.js"),
    asset!("instance.js"),
    asset!("instances.js"),
    asset!("keys.js"),
    asset!("operator_account.js"),
    asset!("operator_accounts.js"),
    asset!("session.js"),
    asset!("signin.js"),
    asset!("status.js"),
    asset!("style.css"),
    asset!("webhook.js"),
    asset!("webhooks.js"),
];

/// `vocabulary.js`: the names the dashboard offers (webhook events, key scopes, and which of
/// them a new subscription or key gets unless told otherwise), made from the server's own lists
/// so that the page never offers a name the API refuses, nor misses a new one.
static VOCABULARY: LazyLock<String> = LazyLock::new(|| {
    fn list<T: Copy>(items: &[T], name: fn(T) -> &'static str) -> String {
        let names: Vec<&str> = items.iter().map(|&i| name(i)).collect();
        serde_json::to_string(&names).unwrap_or_default()
    }
    format!(
        "// Made by the server (src/dashboard.rs) from its own lists.\n\
         export const EVENTS = {};\n\
         export const DEFAULT_EVENTS = {};\n\
         export const SCOPES = {};\n\
         export const DEFAULT_SCOPES = {};\n",
        list(&WebhookEvent::ALL, WebhookEvent::as_str),
        list(&WebhookEvent::DEFAULT, WebhookEvent::as_str),
        list(&Scope::ALL, Scope::as_str),
        list(&Scope::DEFAULT, Scope::as_str),
    )
});

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/vocabulary.js", get(vocabulary))
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

async fn vocabulary() -> Response {
    with_policy("text/javascript; charset=utf-8", VOCABULARY.as_bytes())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `from './name.js'` and `src="/dashboard/name"`/`href="/dashboard/name"` in a file.
    fn references(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (marker, end) in [("from './", '\''), ("\"/dashboard/", '"')] {
            for part in text.split(marker).skip(1) {
                if let Some(name) = part.split(end).next() {
                    found.push(name.to_owned());
                }
            }
        }
        found
    }

    #[test]
    fn every_file_the_pages_load_is_served() {
        let served = |name: &str| name == "vocabulary.js" || ASSETS.iter().any(|(n, _)| *n == name);
        let mut files = vec![("index.html", INDEX)];
        files.extend(ASSETS.iter().copied());
        let mut checked = 0;
        for (file, body) in files {
            let text = std::str::from_utf8(body).expect("the dashboard's files are UTF-8");
            for name in references(text) {
                assert!(served(&name), "{file} loads {name}, which is not served");
                checked += 1;
            }
        }
        // app.js alone imports a dozen modules: the scan found them.
        assert!(checked > 20, "only {checked} references found");
    }

    #[test]
    fn the_vocabulary_is_the_servers_own() {
        let text = VOCABULARY.as_str();
        let line = |name: &str| {
            let start = format!("export const {name} = ");
            let json = text
                .lines()
                .find_map(|l| l.strip_prefix(&start))
                .unwrap_or_else(|| panic!("no {name} in {text}"));
            serde_json::from_str::<Vec<String>>(json.trim_end_matches(';')).expect("a JSON list")
        };
        let names = |list: &[WebhookEvent]| {
            list.iter()
                .map(|e| e.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(line("EVENTS"), names(&WebhookEvent::ALL));
        assert_eq!(line("DEFAULT_EVENTS"), names(&WebhookEvent::DEFAULT));
        let scopes = |list: &[Scope]| {
            list.iter()
                .map(|s| s.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(line("SCOPES"), scopes(&Scope::ALL));
        assert_eq!(line("DEFAULT_SCOPES"), scopes(&Scope::DEFAULT));
        assert!(line("SCOPES").contains(&"keys:write".to_owned()));
    }
}
