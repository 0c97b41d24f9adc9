//! `GET /v1/events/stream` (§21): the account's events as Server-Sent Events, each with the
//! §15.6 envelope as `data`, the event's name as `event` and its `evt_` id as `id`. A client
//! that reconnects with `Last-Event-ID` gets every event after that one, once.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::EventId;
use wagate_core::event_stream::{StreamFilter, StreamStart};
use wagate_core::scope::Scope;
use wagate_core::webhook_event::WebhookEvent;

use crate::event_feed::StreamReader;
use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::ApiQuery;
use crate::routes::instances::owned_instance;
use crate::state::AppState;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(event_stream))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only this instance's events.
    #[param(example = "inst_01jd3k9w6q8x2m4v7c5b0n1t2r")]
    pub instance_id: Option<String>,
    /// Only these events, comma-separated (`message.received,message.read`).
    pub events: Option<String>,
    /// Where to resume, for clients that cannot send `Last-Event-ID` (the header wins).
    pub last_event_id: Option<String>,
}

/// The request's filter and start, parsed: an unknown instance (or another account's) is 404,
/// an unknown event name or a malformed id 400.
pub(crate) async fn parse_stream_request(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    q: StreamQuery,
) -> Result<(StreamFilter, StreamStart), ApiError> {
    auth.require(Scope::WebhooksRead)?;
    let instance = match &q.instance_id {
        Some(raw) => Some(owned_instance(state, auth, raw).await?.id),
        None => None,
    };
    let events = match q.events.as_deref() {
        None => Vec::new(),
        Some(csv) => {
            let names: Vec<&str> = csv.split(',').map(str::trim).collect();
            WebhookEvent::parse_list(&names).map_err(|e| {
                ApiError::InvalidWebhookEvents(format!("Invalid query parameter 'events': {e}"))
            })?
        }
    };
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::field("Last-Event-ID", "is not an event id"))
        })
        .transpose()?;
    let start = match header.or(q.last_event_id.as_deref()).map(str::trim) {
        None | Some("") => StreamStart::Now,
        Some(raw) => StreamStart::After(
            EventId::parse(raw).map_err(|e| ApiError::field("Last-Event-ID", e))?,
        ),
    };
    Ok((StreamFilter { instance, events }, start))
}

/// A reader of the caller's stream, from where the request says.
pub(crate) async fn open_reader(
    state: &AppState,
    auth: &Auth,
    headers: &HeaderMap,
    q: StreamQuery,
) -> Result<StreamReader, ApiError> {
    let (filter, start) = parse_stream_request(state, auth, headers, q).await?;
    let cursor = state.store.stream_cursor(&auth.account.id, &start).await?;
    Ok(state
        .events
        .reader(state.store.clone(), auth.account.id.clone(), filter, cursor))
}

/// The account's events, live, as Server-Sent Events.
///
/// Each event is `id: evt_…`, `event: <name>`, `data: <the webhook envelope>`. Reconnect with
/// `Last-Event-ID` to get every event after that one (events are kept with their instance).
#[utoipa::path(get, path = "/v1/events/stream", tag = "Webhooks",
    params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The last `evt_` id received: resume after it")),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "invalid_request, invalid_webhook_events", body = ErrorEnvelope),
        (status = 401, description = "missing_api_key, invalid_api_key, expired_api_key", body = ErrorEnvelope),
        (status = 403, description = "insufficient_permissions (webhooks:read)", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = ["webhooks:read"])))]
pub async fn event_stream(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let reader = open_reader(&state, &auth, &headers, q).await?;
    let events = futures_util::stream::unfold(reader, |mut reader| async move {
        let e = reader.next().await?;
        let frame = SseEvent::default()
            .id(e.id.as_str())
            .event(e.kind.as_str())
            .data(e.body);
        Some((Ok(frame), reader))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
