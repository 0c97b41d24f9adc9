//! The operator's admin token guards `/admin/v1` (§15.3).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use wagate_core::api_key::{hash_secret, secrets_equal};

use crate::http::auth::{bearer_token, refused};
use crate::http::error::ApiError;
use crate::state::AppState;

/// Wrong or missing tokens spend the client address's quota of refusals, like refused API keys,
/// so guessing the token is slowed to 429s.
pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = bearer_token(req.headers()).map(hash_secret);
    match presented {
        Ok(hash) if secrets_equal(&hash, &state.admin_token_hash) => next.run(req).await,
        Ok(_) => refused(&state, &req, ApiError::InvalidApiKey),
        Err(e) => refused(&state, &req, e),
    }
}
