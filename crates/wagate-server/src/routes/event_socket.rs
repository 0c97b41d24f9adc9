//! `GET /v1/events/ws` (§21): the frames of `/v1/events/stream` over a WebSocket. Each event is
//! one text message holding its §15.6 envelope (whose `id` and `event` the SSE frame repeats);
//! the same filters, and `lastEventId` or `Last-Event-ID` to resume.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::event_feed::StreamReader;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiQuery;
use crate::routes::event_stream::{StreamQuery, open_reader};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(event_socket))
}

/// The account's events, live, over a WebSocket.
///
/// One text message per event: its webhook envelope. The request is checked (key, scope,
/// filters) before the upgrade, so a refusal is the usual JSON error.
#[utoipa::path(get, path = "/v1/events/ws", tag = "Webhooks",
    params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The last `evt_` id received: resume after it")),
    responses(
        (status = 101, description = "Switching to the WebSocket"),
        (status = 400, description = "invalid_request (not a WebSocket upgrade), invalid_webhook_events", body = ErrorEnvelope),
        (status = 401, description = "missing_api_key, invalid_api_key, expired_api_key", body = ErrorEnvelope),
        (status = 403, description = "insufficient_permissions (webhooks:read)", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = ["webhooks:read"])))]
pub async fn event_socket(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let reader = open_reader(&state, &auth, &headers, q).await?;
    let upgrade =
        upgrade.map_err(|e| ApiError::field("Upgrade", format!("not a WebSocket upgrade: {e}")))?;
    Ok(upgrade.on_upgrade(move |socket| pump(socket, reader)))
}

/// Sends events until either side ends: the client closes (or goes away), or the server stops.
async fn pump(mut socket: WebSocket, mut reader: StreamReader) {
    loop {
        // `StreamReader::next` is cancel-safe: it moves its cursor only together with the
        // events it keeps, so a message from the client in between loses nothing.
        tokio::select! {
            event = reader.next() => match event {
                Some(e) => {
                    if socket.send(Message::Text(e.body.into())).await.is_err() {
                        return;
                    }
                }
                None => {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                // Pings are answered by the WebSocket layer; anything else is ignored.
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
