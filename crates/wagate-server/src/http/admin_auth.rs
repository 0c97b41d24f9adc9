//! The operator's admin token guards `/admin/v1` (§15.3).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wagate_core::api_key::{hash_secret, secrets_equal};

use crate::http::auth::bearer_token;
use crate::http::error::ApiError;
use crate::state::AppState;

pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = match bearer_token(req.headers()) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    if !secrets_equal(&hash_secret(token), &state.admin_token_hash) {
        return ApiError::InvalidApiKey.into_response();
    }
    next.run(req).await
}
