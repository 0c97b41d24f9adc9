//! `/v1/messages`: send (§7.1, §15.5), history (§7.2), status (§7.3), chats (§7.4).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::chat::{Chat, ChatQuery, ChatSort, HistoryQuery, search_term};
use wagate_core::content::{ContactCard, Location, PollResult, ReactionBy};
use wagate_core::instance::{ConnectionMethod, Instance};
use wagate_core::message::{Content, Direction, Message, MessageStatus, Recipient};
use wagate_core::scope::Scope;
use wagate_core::send::{ContentFields, NewOutbound, SendFields, SendRules};
use wagate_core::store::{IdempotencyRecord, IdempotencyRequest, InsertMessageError};
use wagate_core::{ChatId, MessageId, Timestamp};

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiQuery, from_json_value};
use crate::routes::instances::{owned_instance, required_instance};
use crate::routes::views::{Data, Page};
use crate::state::AppState;

const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message))
        .routes(routes!(list_messages))
        .routes(routes!(
            get_message,
            crate::routes::message_changes::edit_message,
            crate::routes::message_changes::delete_message
        ))
        .routes(routes!(message_status))
        .routes(routes!(list_chats))
}

/// Marking read needs the connection: the route is carried to the node that holds the instance.
pub fn read_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_messages))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageRequest {
    #[schema(example = "inst_01jd3k9w6q8x2m4v7c5b0n1t2r")]
    pub instance_id: String,
    /// Country code + number, digits only (8–15), or a group id `…@g.us`.
    #[schema(schema_with = crate::openapi::recipient)]
    pub to: String,
    #[serde(flatten)]
    pub content: ContentFields,
    pub quoted_message_id: Option<String>,
    /// Any JSON object up to 4 KB; echoed in webhooks.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// The flat body of `send` (§3's documented exception).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    pub success: bool,
    pub message_id: String,
    pub status: String,
    /// When the message was queued.
    pub timestamp: String,
}

/// Reads the body of a route that sends a message (`T` flattens `ContentFields`): send, the
/// inbound webhook URL and the sandbox's inject.
///
/// serde's `flatten` reads the content part from a buffer, where an error loses its place: a
/// mistyped `message` would be reported as a bad `body`. So the content part is read alone first,
/// and its errors name their field (`details`), exactly as any other field's do.
pub(crate) fn send_body<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    if body.is_object() {
        from_json_value::<ContentFields>(body.clone())?;
    }
    from_json_value(body)
}

/// What `inst` may send: the server's media-URL policy, and templates when it is official.
pub(crate) fn send_rules(state: &AppState, inst: &Instance) -> SendRules {
    SendRules::for_connection(state.config.url_policy, inst.connection_method)
}

/// Sends need a linked session; while it reconnects they queue (§15.5).
pub(crate) fn require_session(inst: &Instance) -> Result<(), ApiError> {
    if inst.has_session {
        Ok(())
    } else {
        Err(ApiError::InstanceNotConnected(
            "The instance has no session; connect it first.".into(),
        ))
    }
}

/// What a send needs beyond its own parse: a connection that has its kind (§17.1), a reacted
/// message of the same account and chat, and a media host that is public.
pub(crate) async fn check_send(
    state: &AppState,
    inst: &Instance,
    send: &NewOutbound,
) -> Result<(), ApiError> {
    if let Some(method) = inst.connection_method
        && !method.sends(&send.content)
    {
        return Err(ApiError::NotSupportedByConnection(format!(
            "Instances connected with method '{}' cannot send a {} message.",
            method.as_str(),
            send.content.type_str()
        )));
    }
    if inst.connection_method == Some(ConnectionMethod::Official) && !send.mentions.is_empty() {
        return Err(ApiError::NotSupportedByConnection(
            "Instances connected with method 'official' cannot mention numbers.".into(),
        ));
    }
    if let Content::Reaction(r) = &send.content {
        let target = state
            .store
            .get_message(&inst.account_id, &r.message_id)
            .await?;
        let same_chat = target
            .as_ref()
            .is_some_and(|t| t.instance_id == inst.id && t.peer == send.to);
        if !same_chat {
            return Err(ApiError::MessageNotFound);
        }
    }
    check_media_host(state, &send.content).await
}

/// A media URL whose name resolves to a private address is refused now, like a webhook URL
/// when it is saved (§15.6); the fetch at send time checks again (a name can change).
pub(crate) async fn check_media_host(state: &AppState, content: &Content) -> Result<(), ApiError> {
    if let Content::Media(m) = content {
        state
            .net
            .parse_target(&m.url)
            .await
            .map_err(|e| ApiError::InvalidMedia(format!("mediaUrl is not valid: {e}.")))?;
    }
    Ok(())
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| ApiError::field("Idempotency-Key", "must be visible ASCII"))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(ApiError::field(
            "Idempotency-Key",
            format!("1 to {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

async fn replay(
    state: &AppState,
    auth: &Auth,
    rec: &IdempotencyRecord,
    hash: &str,
) -> Result<SendResponse, ApiError> {
    if rec.request_hash != hash {
        return Err(ApiError::IdempotencyConflict);
    }
    let at = state
        .store
        .get_message(&auth.account.id, &rec.message_id)
        .await?
        .map_or(rec.created_at, |m| m.created_at);
    Ok(SendResponse {
        success: true,
        message_id: rec.message_id.to_string(),
        status: MessageStatus::Queued.as_str().into(),
        timestamp: at.to_rfc3339(),
    })
}

/// Queue a message. A 200 means it is stored; it leaves in the order accepted.
#[utoipa::path(post, path = "/v1/messages/send", tag = "Messages",
    request_body = SendMessageRequest,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, description = "Same key + same body within 24 h: the first response, nothing new is sent")),
    responses(
        (status = 200, description = "Queued", body = SendResponse),
        (status = 400, description = "invalid_request, invalid_phone_number, missing_content, invalid_media", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found; message_not_found (a reaction to a message of another chat or account)", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected, idempotency_conflict, not_supported_by_connection (a poll on an official instance)", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn send_message(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<axum::Json<SendResponse>, ApiError> {
    auth.require(Scope::MessagesWrite)?;
    let key = idempotency_key(&headers)?;
    // serde_json's maps are sorted, so equal bodies hash equally whatever their key order.
    let hash = hex::encode(Sha256::digest(body.to_string().as_bytes()));
    let expired_before = Timestamp::ago(state.config.idempotency_window);
    if let Some(k) = &key
        && let Some(rec) = state
            .store
            .find_idempotency(&auth.account.id, k, expired_before)
            .await?
    {
        return replay(&state, &auth, &rec, &hash).await.map(axum::Json);
    }
    let req: SendMessageRequest = send_body(body)?;
    let inst = owned_instance(&state, &auth, &req.instance_id).await?;
    let fields = SendFields {
        to: req.to,
        content: req.content,
        quoted_message_id: req.quoted_message_id,
        metadata: req.metadata,
    };
    let send = NewOutbound::parse(fields, &send_rules(&state, &inst))?;
    check_send(&state, &inst, &send).await?;
    require_session(&inst)?;
    let now = Timestamp::now();
    let message = send.of(&inst, now);
    let record = key.map(|k| IdempotencyRequest {
        key: k,
        request_hash: hash.clone(),
        expired_before,
    });
    let message = match state.sends.submit(message, record).await {
        Ok(m) => m,
        Err(InsertMessageError::IdempotencyKeyUsed(rec)) => {
            return replay(&state, &auth, &rec, &hash).await.map(axum::Json);
        }
        Err(InsertMessageError::Store(e)) => return Err(e.into()),
    };
    state.supervisor.wake(&inst.id);
    Ok(axum::Json(SendResponse {
        success: true,
        message_id: message.id.to_string(),
        status: MessageStatus::Queued.as_str().into(),
        timestamp: now.to_rfc3339(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageErrorView {
    pub code: String,
    pub message: String,
}

/// A history item (§5.2).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub message_id: String,
    pub chat_id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `text`, `image`, `video`, `audio`, `voice`, `document`, `sticker`, `location`,
    /// `contacts`, `reaction`, `poll`, `template`, `unsupported`, or `deleted` once deleted for
    /// everyone.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text, the caption, a reaction's emoji, a poll's question, or a short preview such
    /// as `[Location]`.
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// The sender's LID (`…@lid`) when WhatsApp gave no number for it; `from` is the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_lid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub timestamp: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub media: Option<serde_json::Value>,
    /// `{name, language, components}` of a template message.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub template: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<ContactCard>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollView>,
    /// What a `reaction` message reacts to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reaction: Option<ReactionView>,
    /// The numbers a text mentions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// The reactions to this message, one per person.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionBy>,
    /// The replied message's `msg_` id when wagate has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted_message_id: Option<String>,
    /// The network's id of the replied message (received messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted_external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MessageErrorView>,
    /// Its text was edited (§17.2); `editedAt` says when last.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Deleted for everyone: its content is gone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// A poll, with its results so far.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollView {
    pub question: String,
    pub options: Vec<String>,
    pub multiple_answers: bool,
    /// One per option, in order: how many chose it, and who.
    pub results: Vec<PollResult>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReactionView {
    /// The message reacted to.
    pub message_id: String,
    /// Empty when the reaction was taken back.
    pub emoji: String,
}

impl MessageView {
    pub fn new(m: &Message) -> Self {
        let inbound = m.direction == Direction::Inbound;
        Self {
            message_id: m.id.to_string(),
            chat_id: m.chat_id.to_string(),
            direction: m.direction.as_str().into(),
            kind: m.content.type_str().into(),
            content: m.content.text(),
            from: inbound.then(|| m.sender().as_str().to_owned()),
            from_name: if inbound { m.peer_name.clone() } else { None },
            from_lid: m.sender().lid().filter(|_| inbound).map(str::to_owned),
            to: (!inbound).then(|| m.peer.as_str().to_owned()),
            timestamp: m.created_at.to_rfc3339(),
            status: m.status.as_str().into(),
            media: match &m.content {
                Content::Media(media) => serde_json::to_value(media).ok(),
                _ => None,
            },
            template: match &m.content {
                Content::Template(t) => serde_json::to_value(t).ok(),
                _ => None,
            },
            location: match &m.content {
                Content::Location(l) => Some(l.clone()),
                _ => None,
            },
            contacts: match &m.content {
                Content::Contacts(c) => Some(c.clone()),
                _ => None,
            },
            poll: match &m.content {
                Content::Poll(p) => Some(PollView {
                    question: p.question.clone(),
                    options: p.options.clone(),
                    multiple_answers: p.multiple_answers,
                    results: p.results(&m.votes),
                }),
                _ => None,
            },
            reaction: match &m.content {
                Content::Reaction(r) => Some(ReactionView {
                    message_id: r.message_id.to_string(),
                    emoji: r.emoji.clone(),
                }),
                _ => None,
            },
            mentions: m.mentions.iter().map(|p| p.as_str().to_owned()).collect(),
            reactions: m.reactions.clone(),
            quoted_message_id: m.quoted_message_id.clone(),
            quoted_external_id: m.quoted_external_id.clone(),
            metadata: m.metadata.clone(),
            error: m.error.as_ref().map(|e| MessageErrorView {
                code: e.code.to_string(),
                message: e.message.clone(),
            }),
            edited: m.edited_at.is_some(),
            edited_at: m.edited_at.map(|t| t.to_rfc3339()),
            deleted: matches!(m.content, Content::Deleted),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    #[param(required = true)]
    pub instance_id: Option<String>,
    pub chat_id: Option<String>,
    /// A phone number (8–15 digits) or a group id; ignored when `chatId` is given.
    #[param(pattern = r"^([0-9]{8,15}|[0-9-]{1,40}@g\.us)$")]
    pub phone: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// A messageId: the messages before it, newest first. Without `before` or `after` the
    /// newest messages come first, and each page's `nextCursor` is the next `before`.
    #[param(pattern = "^msg_[0-9a-hjkmnp-tv-z]{26}$")]
    pub before: Option<String>,
    /// A messageId: the messages after it, oldest first (catching up). Each page's
    /// `nextCursor` is the next `after`.
    #[param(pattern = "^msg_[0-9a-hjkmnp-tv-z]{26}$")]
    pub after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CursorPagination {
    pub has_more: bool,
    /// The last message of this page, to pass on in the same direction: as `before` when
    /// paging back (the default), as `after` when this page was read with `after`.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    pub success: bool,
    pub data: Vec<MessageView>,
    pub pagination: CursorPagination,
}

fn cursor(field: &str, raw: Option<&str>) -> Result<Option<MessageId>, ApiError> {
    raw.map(|s| MessageId::parse(s).map_err(|e| ApiError::field(field, e)))
        .transpose()
}

/// Message history of an instance, newest first, with cursor pagination.
#[utoipa::path(get, path = "/v1/messages", tag = "Messages",
    params(HistoryParams),
    responses(
        (status = 200, description = "A page of messages", body = HistoryPage),
        (status = 400, description = "invalid_request, invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<HistoryParams>,
) -> Result<axum::Json<HistoryPage>, ApiError> {
    auth.require(Scope::MessagesRead)?;
    let inst = owned_instance(&state, &auth, required_instance(&q.instance_id)?).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "limit must be between 1 and 100"));
    }
    let peer = match (&q.chat_id, &q.phone) {
        (Some(c), _) => {
            let chat = match ChatId::parse(c) {
                Ok(id) => state.store.find_chat(&inst.id, &id).await?,
                Err(_) => None,
            };
            // An unknown chat has no messages: the same answer as for a chat with none, without
            // asking the database.
            let Some(chat) = chat else {
                return Ok(axum::Json(HistoryPage {
                    success: true,
                    data: vec![],
                    pagination: CursorPagination {
                        has_more: false,
                        next_cursor: None,
                    },
                }));
            };
            Some(chat.peer)
        }
        (None, Some(p)) => Some(
            Recipient::parse(p)
                .map_err(|e| ApiError::InvalidPhoneNumber(format!("phone: {e}")))?
                .as_str()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let query = HistoryQuery {
        peer,
        before: cursor("before", q.before.as_deref())?,
        after: cursor("after", q.after.as_deref())?,
        limit,
    };
    let mut list = state.store.list_messages(&inst.id, &query).await?;
    let has_more = list.len() > limit as usize;
    list.truncate(limit as usize);
    let next_cursor = has_more
        .then(|| list.last().map(|m| m.id.to_string()))
        .flatten();
    Ok(axum::Json(HistoryPage {
        success: true,
        data: list.iter().map(MessageView::new).collect(),
        pagination: CursorPagination {
            has_more,
            next_cursor,
        },
    }))
}

/// At most this many ids in one read request.
const MAX_READ_IDS: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadRequest {
    #[schema(example = "inst_01jd3k9w6q8x2m4v7c5b0n1t2r")]
    pub instance_id: String,
    /// The chat, `chat_…` (as `GET /v1/messages/chats` lists it).
    pub chat_id: String,
    /// Only these received messages (`msg_…`, at most 100); every unread one when absent.
    #[schema(max_items = 100)]
    pub message_ids: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadView {
    pub chat_id: String,
    /// How many received messages this marked read (and sent read receipts for).
    pub marked: u64,
    /// Always 0 after a read.
    pub unread_count: u64,
}

/// Mark a chat's received messages read (§17.4): their senders get read receipts, and the
/// chat's `unreadCount` becomes 0.
#[utoipa::path(post, path = "/v1/messages/read", tag = "Messages",
    request_body = ReadRequest,
    responses(
        (status = 200, description = "Marked read", body = Data<ReadView>),
        (status = 404, description = "instance_not_found, chat_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected: receipts need a connection", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn read_messages(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<ReadRequest>,
) -> Result<axum::Json<Data<ReadView>>, ApiError> {
    auth.require(Scope::MessagesWrite)?;
    let inst = owned_instance(&state, &auth, &req.instance_id).await?;
    let only = match req.message_ids {
        Some(ids) if ids.len() > MAX_READ_IDS => {
            return Err(ApiError::field(
                "messageIds",
                format!("at most {MAX_READ_IDS} ids"),
            ));
        }
        Some(ids) => Some(
            ids.iter()
                .map(|s| MessageId::parse(s))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ApiError::field("messageIds", "must be message ids (msg_…)"))?,
        ),
        None => None,
    };
    let chat = match ChatId::parse(&req.chat_id) {
        Ok(id) => state.store.find_chat(&inst.id, &id).await?,
        Err(_) => None,
    }
    .ok_or(ApiError::ChatNotFound)?;
    let handle = state.supervisor.get(&inst.id);
    if handle.is_none()
        && let Some(elsewhere) = crate::routes::live_session::held_elsewhere(&state, &inst).await?
    {
        return Err(elsewhere);
    }
    let connected = match &handle {
        Some(h) => h.connected_session().await.is_some(),
        None => false,
    };
    let Some(handle) = handle.filter(|_| connected) else {
        return Err(ApiError::InstanceNotConnected(
            "Read receipts are sent by a connected instance.".into(),
        ));
    };
    let marked = state
        .store
        .read_received(&inst.id, &chat.peer, only.as_deref(), Timestamp::now())
        .await?;
    let count = marked.len() as u64;
    if !marked.is_empty() {
        handle.mark_read(Recipient::from_trusted(chat.peer.clone()), marked);
    }
    Ok(axum::Json(Data::new(ReadView {
        chat_id: chat.id.to_string(),
        marked: count,
        unread_count: 0,
    })))
}

/// The account's message `raw` (a `msg_` id); anything else, another account's included, is
/// not found.
pub(crate) async fn account_message(
    state: &AppState,
    auth: &Auth,
    raw: &str,
) -> Result<Message, ApiError> {
    let id = MessageId::parse(raw).map_err(|_| ApiError::MessageNotFound)?;
    state
        .store
        .get_message(&auth.account.id, &id)
        .await?
        .ok_or(ApiError::MessageNotFound)
}

/// One message, as history shows it (§17.3), with a poll's results.
#[utoipa::path(get, path = "/v1/messages/{messageId}", tag = "Messages",
    params(("messageId" = String, Path, description = "msg_…")),
    responses(
        (status = 200, description = "The message", body = Data<MessageView>),
        (status = 404, description = "message_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_message(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<MessageView>>, ApiError> {
    auth.require(Scope::MessagesRead)?;
    let m = account_message(&state, &auth, &raw).await?;
    Ok(axum::Json(Data::new(MessageView::new(&m))))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageStatusView {
    pub message_id: String,
    /// `queued`, `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// The recipient; present on outbound messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The sender; present on inbound messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<MessageErrorView>,
}

/// Where a message stands.
#[utoipa::path(get, path = "/v1/messages/{messageId}/status", tag = "Messages",
    params(("messageId" = String, Path, description = "msg_…")),
    responses(
        (status = 200, description = "The status", body = Data<MessageStatusView>),
        (status = 404, description = "message_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn message_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(raw): Path<String>,
) -> Result<axum::Json<Data<MessageStatusView>>, ApiError> {
    auth.require(Scope::MessagesRead)?;
    let m = account_message(&state, &auth, &raw).await?;
    Ok(axum::Json(Data::new(MessageStatusView {
        message_id: m.id.to_string(),
        status: m.status.as_str().into(),
        direction: m.direction.as_str().into(),
        to: (m.direction == Direction::Outbound).then(|| m.peer.as_str().into()),
        from: (m.direction == Direction::Inbound).then(|| m.sender().as_str().into()),
        sent_at: m.sent_at.map(|t| t.to_rfc3339()),
        delivered_at: m.delivered_at.map(|t| t.to_rfc3339()),
        read_at: m.read_at.map(|t| t.to_rfc3339()),
        error: m.error.map(|e| MessageErrorView {
            code: e.code.to_string(),
            message: e.message,
        }),
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChatParams {
    #[param(required = true)]
    pub instance_id: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
    /// Contact name or phone.
    #[param(max_length = 100)]
    pub search: Option<String>,
    pub unread_only: Option<bool>,
    /// `lastMessageAt` (default), `unreadCount` or `contactName`.
    #[param(schema_with = crate::openapi::chat_sort)]
    pub sort_by: Option<String>,
    /// `asc` or `desc` (default).
    #[param(schema_with = crate::openapi::sort_order)]
    pub sort_order: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastMessageView {
    pub message_id: String,
    pub content: String,
    pub timestamp: String,
    pub is_from_me: bool,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    pub chat_id: String,
    pub phone: String,
    pub contact_name: Option<String>,
    pub profile_pic_url: Option<String>,
    pub last_message: Option<LastMessageView>,
    pub unread_count: u64,
    pub is_group: bool,
    pub created_at: String,
}

impl ChatView {
    fn new(c: &Chat) -> Self {
        Self {
            chat_id: c.id.to_string(),
            phone: c.peer.clone(),
            contact_name: c.contact_name.clone(),
            profile_pic_url: c.profile_pic_url.clone(),
            last_message: c.last_message.as_ref().map(|l| LastMessageView {
                message_id: l.id.to_string(),
                content: l.content.preview(),
                timestamp: l.at.to_rfc3339(),
                is_from_me: l.direction == Direction::Outbound,
                kind: l.content.type_str().into(),
            }),
            unread_count: c.unread_count,
            is_group: c.is_group,
            created_at: c.created_at.to_rfc3339(),
        }
    }
}

/// An instance's conversations, with last message and unread count.
#[utoipa::path(get, path = "/v1/messages/chats", tag = "Messages",
    params(ChatParams),
    responses(
        (status = 200, description = "A page of chats", body = Page<ChatView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn list_chats(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ChatParams>,
) -> Result<axum::Json<Page<ChatView>>, ApiError> {
    auth.require(Scope::MessagesRead)?;
    let inst = owned_instance(&state, &auth, required_instance(&q.instance_id)?).await?;
    let page = wagate_core::page::OffsetPage::parse(q.limit, q.offset, 50, 100)
        .map_err(|e| ApiError::field(e.field(), e))?;
    let sort = match q.sort_by.as_deref().unwrap_or("lastMessageAt") {
        "lastMessageAt" => ChatSort::LastMessageAt,
        "unreadCount" => ChatSort::UnreadCount,
        "contactName" => ChatSort::ContactName,
        _ => {
            return Err(ApiError::field(
                "sortBy",
                "must be lastMessageAt, unreadCount or contactName",
            ));
        }
    };
    let descending = match q.sort_order.as_deref().unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => return Err(ApiError::field("sortOrder", "must be asc or desc")),
    };
    let query = ChatQuery {
        search: search_term(q.search).map_err(|e| ApiError::field("search", e))?,
        unread_only: q.unread_only.unwrap_or(false),
        sort,
        descending,
        limit: page.limit,
        offset: page.offset,
    };
    let (chats, total) = state.store.list_chats(&inst.id, &query).await?;
    Ok(axum::Json(Page::new(
        chats.iter().map(ChatView::new).collect(),
        page.pagination(total),
    )))
}
