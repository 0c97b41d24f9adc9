//! Operations endpoints (§15.9): liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::error::{ApiError, ErrorEnvelope};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    pub status: String,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "Operations",
    responses((status = 200, description = "Alive", body = HealthView)))]
pub async fn healthz() -> axum::Json<HealthView> {
    axum::Json(HealthView {
        status: "ok".into(),
    })
}

/// The database answers and this node holds a valid heartbeat (§19): not while it drains at
/// shutdown, nor once it has failed to heartbeat for as long as a lease lasts.
#[utoipa::path(get, path = "/readyz", tag = "Operations",
    responses(
        (status = 200, description = "Ready", body = HealthView),
        (status = 503, description = "service_unavailable", body = ErrorEnvelope),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<HealthView>, ApiError> {
    if !state.ownership.ready() {
        return Err(ApiError::ServiceUnavailable);
    }
    state.store.ping().await?;
    Ok(axum::Json(HealthView {
        status: "ready".into(),
    }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "Operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = state.store.instance_counts_by_status().await?;
    state.metrics.set_instance_counts(&counts);
    state.metrics.set_broker_statuses(state.brokers.statuses());
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    ))
}
