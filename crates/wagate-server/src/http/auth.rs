//! API-key authentication (§2, §15.3) and the per-key rate limit, for every request of the
//! keyed API (`/v1`, `/sandbox`), routed or not.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wagate_core::account::Account;
use wagate_core::api_key::{ApiKey, KeyRefusal, PresentedKey};
use wagate_core::scope::Scope;
use wagate_core::{ApiKeyId, Timestamp};

use crate::http::error::ApiError;
use crate::http::forward::Carried;
use crate::http::rate_limit::{
    Caller, Outcome, REFUSED_CREDENTIALS, group_for_path, too_many_requests,
};
use crate::state::AppState;

/// The authenticated caller, available to handlers as an extractor.
#[derive(Debug, Clone)]
pub struct Auth {
    pub account: Account,
    pub key: ApiKey,
}

impl Auth {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.key.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientPermissions(scope))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or(ApiError::MissingApiKey)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(ApiError::MissingApiKey)?
        .to_str()
        .map_err(|_| ApiError::InvalidApiKey)?
        .trim();
    if value.is_empty() {
        return Err(ApiError::MissingApiKey);
    }
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::InvalidApiKey)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::InvalidApiKey);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::MissingApiKey);
    }
    Ok(token)
}

/// The caller of a request: its key and account as held in memory (`key_cache.rs`) or, the
/// first time, as read from the database; the presented secret is checked either way.
async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Auth, ApiError> {
    let token = bearer_token(headers)?;
    let presented = PresentedKey::parse(token).ok_or(ApiError::InvalidApiKey)?;
    let verify = |key: &ApiKey| {
        key.verify(&presented.secret, Timestamp::now())
            .map_err(|r| match r {
                KeyRefusal::Invalid => ApiError::InvalidApiKey,
                KeyRefusal::Expired => ApiError::ExpiredApiKey,
            })
    };
    let seen = match state.keys.get(&presented.id) {
        Ok((key, account)) => {
            verify(&key)?;
            return Ok(Auth { account, key });
        }
        Err(seen) => seen,
    };
    let (key, account) = state
        .store
        .get_credentials(&presented.id)
        .await?
        .ok_or(ApiError::InvalidApiKey)?;
    verify(&key)?;
    state.keys.remember(seen, &key, &account);
    Ok(Auth { account, key })
}

async fn carried_caller(state: &AppState, key: &ApiKeyId) -> Result<Auth, ApiError> {
    let (key, account) = state
        .store
        .get_credentials(key)
        .await?
        .ok_or(ApiError::InvalidApiKey)?;
    key.usable(Timestamp::now()).map_err(|r| match r {
        KeyRefusal::Invalid => ApiError::InvalidApiKey,
        KeyRefusal::Expired => ApiError::ExpiredApiKey,
    })?;
    Ok(Auth { account, key })
}

/// Whether a path is the keyed API: `/v1/…` and the sandbox's `/sandbox/v1/…`, routes or not
/// (an unknown path is answered 404 with the key's rate-limit headers, like any other).
fn takes_a_key(path: &str) -> bool {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    under("/v1") || under("/sandbox")
}

/// Authenticates every request of the keyed API and spends its rate limit; the headers of
/// §4 go on every answer, refusals included. Refused credentials spend the client address's
/// `REFUSED_CREDENTIALS` quota instead of a key's.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if !takes_a_key(req.uri().path()) {
        return next.run(req).await;
    }
    // A request another node authenticated and carried here (§19) names its key, never its
    // secret; the key is checked again for revocation and expiry, and its rate limit was spent
    // there.
    if let Some(Carried { key }) = req.extensions().get::<Carried>().cloned() {
        return match carried_caller(&state, &key).await {
            Ok(auth) => {
                req.extensions_mut().insert(auth);
                next.run(req).await
            }
            Err(e) => e.into_response(),
        };
    }
    let auth = match resolve(&state, req.headers()).await {
        Ok(a) => a,
        Err(e) => return refused(&state, &req, e),
    };
    let group = group_for_path(req.uri().path());
    let outcome = state.limiter.check(
        &Caller::Key(auth.key.id.clone()),
        auth.account.effective_rate_limits(),
        group,
    );
    match outcome {
        Outcome::Limited {
            retry_after,
            window,
        } => too_many_requests(retry_after, window),
        Outcome::Allowed(window) => {
            req.extensions_mut().insert(auth);
            let mut res = next.run(req).await;
            if let Some(w) = window {
                w.write_headers(res.headers_mut());
            }
            res
        }
    }
}

/// The answer to refused credentials (an API key, or the admin token), counted against the
/// client's address.
pub(crate) fn refused(state: &AppState, req: &Request, e: ApiError) -> Response {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return e.into_response();
    };
    match state
        .limiter
        .check(&Caller::Address(peer.ip()), REFUSED_CREDENTIALS, None)
    {
        Outcome::Limited {
            retry_after,
            window,
        } => too_many_requests(retry_after, window),
        Outcome::Allowed(window) => {
            let mut res = e.into_response();
            if let Some(w) = window {
                w.write_headers(res.headers_mut());
            }
            res
        }
    }
}
