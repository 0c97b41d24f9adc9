//! The router: which middleware guards which routes.
//!
//! Outermost first: request id → tracing (the request's span, with that id) → request context
//! (error envelope, `X-Request-Id`, metrics) → admission (a place among the requests in flight, the
//! body's deadline) → panic catcher → body limit → per-group guards (API key + rate limit on `/v1`, admin token on
//! `/admin/v1`; `/webhook/{token}` checks its token itself) → handler.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn_with_state, map_request};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::http::admin_auth::require_admin;
use crate::http::admission::admit;
use crate::http::auth::authenticate;
use crate::http::error::ApiError;
use crate::http::forward::carry_to_holder;
use crate::http::request_context::request_context;
use crate::http::request_span::{assign_request_id, log_response, request_span};
use crate::openapi::ApiDoc;
use crate::routes;
use crate::state::AppState;

/// The OpenAPI document and the router it describes, built from the same route list.
pub fn api_routes(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // The routes that need an instance's connection: carried to the node that holds it.
    let carried = from_fn_with_state(state.clone(), carry_to_holder);
    let v1 = OpenApiRouter::new()
        .merge(routes::instances::router())
        .merge(routes::account::router())
        .merge(routes::account_keys::router())
        .merge(routes::connection::router())
        .merge(routes::messages::router())
        .merge(routes::contacts::router().route_layer(carried.clone()))
        .merge(routes::groups::router().route_layer(carried.clone()))
        .merge(routes::presence::router().route_layer(carried.clone()))
        .merge(routes::profile::router().route_layer(carried.clone()))
        .merge(routes::sandbox::router().route_layer(carried.clone()))
        .merge(routes::messages::read_router().route_layer(carried))
        .merge(routes::webhooks::router())
        .merge(routes::event_stream::router())
        .merge(routes::event_socket::router())
        .merge(routes::inbound_webhooks::router())
        .merge(routes::media::router());
    let admin =
        routes::admin::router().route_layer(from_fn_with_state(state.clone(), require_admin));
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1)
        .merge(admin)
        .merge(routes::inbound_webhooks::public_router())
        .merge(routes::health::router())
        .merge(routes::meta::router())
        .split_for_parts();
    crate::openapi::complete(&mut doc);
    (router, doc)
}

pub fn build_router(state: AppState) -> Router {
    let (api, doc) = api_routes(&state);
    let doc_json = doc.clone();
    api.route(
        "/openapi.json",
        get(move || async move { axum::Json(doc_json) }),
    )
    .merge(crate::api_docs::router(doc))
    .merge(crate::dashboard::router())
    .fallback(|| async { ApiError::NotFound })
    // Outside routing, so unknown paths and methods of the keyed API are authenticated and
    // carry rate-limit headers too.
    .layer(from_fn_with_state(state.clone(), authenticate))
    .layer(DefaultBodyLimit::max(state.config.body_limit))
    .layer(CatchPanicLayer::new())
    .layer(from_fn_with_state(state.clone(), admit))
    .layer(from_fn_with_state(state.clone(), request_context))
    .layer(
        TraceLayer::new_for_http()
            .make_span_with(request_span)
            .on_response(log_response)
            // A 5xx is already the error-level "request finished" line.
            .on_failure(()),
    )
    .layer(map_request(assign_request_id))
    .with_state(state)
}
