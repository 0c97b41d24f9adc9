//! The API's one error type (§15.2): every failure a client can meet, with its status and code.
//!
//! A handler returns `ApiError`; its response carries the error as an extension and the
//! `request_context` middleware renders the envelope, because only it knows the request id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use wagate_core::scope::Scope;
use wagate_core::send::SendError;
use wagate_core::store::StoreError;

/// One problem with one field of a 400.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldIssue {
    pub field: String,
    pub issue: String,
}

impl FieldIssue {
    pub fn new(field: impl Into<String>, issue: impl ToString) -> Self {
        Self {
            field: field.into(),
            issue: issue.to_string(),
        }
    }
}

/// `ApiErrorKind` is the same list without the values: one per code, so `docs/ERRORS.md` can
/// be checked against every one of them (`ApiErrorKind::iter()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, strum::EnumDiscriminants)]
#[strum_discriminants(name(ApiErrorKind), derive(strum::EnumIter))]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest {
        message: String,
        details: Vec<FieldIssue>,
    },
    #[error("{0}")]
    InvalidPhoneNumber(String),
    #[error("{0}")]
    InvalidWebhookUrl(String),
    #[error("{0}")]
    InvalidWebhookEvents(String),
    #[error("{0}")]
    InvalidMedia(String),
    #[error(
        "Send exactly one of 'message', 'mediaUrl' with 'mediaType', 'location', 'contacts', 'reaction', 'poll' or 'template'."
    )]
    MissingContent,
    #[error("{0}")]
    InvalidOfficialCredentials(String),
    #[error("Message not found.")]
    MessageNotFound,
    #[error("Webhook not found.")]
    WebhookNotFound,
    #[error("No chat with this id on the instance.")]
    ChatNotFound,
    #[error("No contact with this number is known, and WhatsApp has none.")]
    ContactNotFound,
    /// §17.5: no such group, or the instance's number is not in it.
    #[error("No group with this id that the instance is in.")]
    GroupNotFound,
    /// §17.5: the group operation needs an admin.
    #[error("Only the group's admins can do this.")]
    NotGroupAdmin,
    #[error("The instance is already connected.")]
    AlreadyConnected,
    #[error("{0}")]
    InstanceNotConnected(String),
    #[error("This instance uses the official API; it has no QR code.")]
    OfficialApiInstance,
    /// §17: the instance's connection cannot do this (a poll on an `official` instance).
    #[error("{0}")]
    NotSupportedByConnection(String),
    /// §17.2: an edit of an inbound or non-text message, or after 15 minutes.
    #[error("{0}")]
    MessageNotEditable(String),
    /// §17.2: a delete of an inbound message.
    #[error("{0}")]
    MessageNotDeletable(String),
    #[error("The instance has no saved session; connect it with a QR code first.")]
    NoSavedSession,
    #[error("This Idempotency-Key was used with a different request body.")]
    IdempotencyConflict,
    #[error("No API key was sent. Use 'Authorization: Bearer <api-key>'.")]
    MissingApiKey,
    #[error("The API key is invalid or has been revoked.")]
    InvalidApiKey,
    #[error("The API key has expired.")]
    ExpiredApiKey,
    #[error("This API key lacks the '{0}' scope.")]
    InsufficientPermissions(Scope),
    #[error("Your plan allows {0} instance(s); delete one or upgrade the plan.")]
    InstanceLimitReached(u32),
    #[error("Instance not found.")]
    InstanceNotFound,
    #[error("Not found.")]
    NotFound,
    #[error("Method not allowed on this route.")]
    MethodNotAllowed,
    #[error("The request body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("The request body did not arrive within {0} seconds.")]
    RequestTimeout(u64),
    #[error("The request URI is longer than {0} bytes.")]
    UriTooLong(usize),
    #[error("The request has more than {0} headers or more than {1} bytes of them.")]
    HeadersTooLarge(usize, usize),
    #[error("The request body must be JSON (Content-Type: application/json).")]
    UnsupportedContentType,
    #[error("Rate limit exceeded. Please retry after {retry_after} seconds.")]
    RateLimited { retry_after: u64 },
    /// A Meta webhook whose `X-Hub-Signature-256` is missing or wrong.
    #[error("The X-Hub-Signature-256 header is missing or does not match the body.")]
    InvalidSignature,
    /// Meta's subscription handshake with the wrong verify token.
    #[error("The verify token does not match.")]
    InvalidVerifyToken,
    #[error("Internal error.")]
    Internal,
    #[error("The service is unavailable; try again shortly.")]
    ServiceUnavailable,
    /// The call needs the instance's connection, which another node holds: the request is
    /// carried there (`http/forward.rs`); answered as `service_unavailable` when it cannot be.
    #[error("The service is unavailable; try again shortly.")]
    HeldElsewhere(wagate_core::node::NodeId, wagate_core::InstanceId),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        ApiErrorKind::from(self).code()
    }

    pub fn status(&self) -> StatusCode {
        ApiErrorKind::from(self).status()
    }
}

impl ApiErrorKind {
    /// When a client meets it, for `docs/ERRORS.md`.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::InvalidRequest => {
                "Malformed JSON, a missing or mistyped field, or a value out of its limits; `details` names each field."
            }
            Self::InvalidPhoneNumber => "A number that is not 8 to 15 digits (no `+`, no spaces).",
            Self::InvalidWebhookUrl => "A webhook URL that is not public `https` (or is too long).",
            Self::InvalidWebhookEvents => "An event name that does not exist.",
            Self::InvalidMedia => "`mediaUrl` without a valid `mediaType`, or the reverse.",
            Self::MissingContent => "None, or more than one, of the content fields.",
            Self::InvalidOfficialCredentials => "Meta refused the official credentials.",
            Self::MessageNotFound => "No message with this id in the account.",
            Self::WebhookNotFound => "No webhook subscription with this id in the account.",
            Self::ChatNotFound => "No chat with this id on the instance.",
            Self::ContactNotFound => "No contact with this number is known, and WhatsApp has none.",
            Self::GroupNotFound => {
                "No group with this id, the instance's number is not in it, or an unknown or revoked invite code."
            }
            Self::NotGroupAdmin => {
                "A group operation only its admins may do (members, invites, settings, the texts of a locked group)."
            }
            Self::AlreadyConnected => "`connect` on an instance that is connected.",
            Self::InstanceNotConnected => "The operation needs a connected instance.",
            Self::OfficialApiInstance => {
                "A QR code or pairing code asked of an `official` instance."
            }
            Self::NotSupportedByConnection => {
                "The instance's connection method cannot do this (e.g. a poll on an `official` instance)."
            }
            Self::MessageNotEditable => {
                "`PATCH /v1/messages/{id}` of a received, non-text, failed or deleted message, or more than 15 minutes after it was sent."
            }
            Self::MessageNotDeletable => {
                "`DELETE /v1/messages/{id}` of a received, failed or already deleted message."
            }
            Self::NoSavedSession => "`restart` of an instance that was never linked.",
            Self::IdempotencyConflict => {
                "An `Idempotency-Key` reused with another body within 24 h."
            }
            Self::MissingApiKey => "No `Authorization: Bearer` header.",
            Self::InvalidApiKey => "An unknown or revoked key.",
            Self::ExpiredApiKey => "A key past its `expiresAt`.",
            Self::InsufficientPermissions => "The key lacks the route's scope.",
            Self::InstanceLimitReached => "The plan's number of instances is reached.",
            Self::InstanceNotFound => {
                "No instance with this id in the account (another account's included)."
            }
            Self::NotFound => "No such route.",
            Self::MethodNotAllowed => "The route exists, not with this method.",
            Self::PayloadTooLarge => "A body over 1 MiB.",
            Self::RequestTimeout => "The body did not arrive within 30 s.",
            Self::UriTooLong => "A path and query over 8 KiB.",
            Self::HeadersTooLarge => "More than 100 headers, or more than 32 KiB of them.",
            Self::UnsupportedContentType => "A body that is not `application/json`.",
            Self::RateLimited => {
                "The key's per-minute limit is reached; `retryAfter` says when to retry."
            }
            Self::InvalidSignature => {
                "A Meta webhook whose `X-Hub-Signature-256` is missing or wrong."
            }
            Self::InvalidVerifyToken => {
                "Meta's subscription handshake with the wrong verify token."
            }
            Self::Internal => "A fault of the server (logged with the request id).",
            Self::ServiceUnavailable | Self::HeldElsewhere => {
                "The database is unreachable, the node is draining, too many requests are in flight, or the instance is held by another node for a command that must run there (with `Retry-After`)."
            }
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidPhoneNumber => "invalid_phone_number",
            Self::InvalidWebhookUrl => "invalid_webhook_url",
            Self::InvalidWebhookEvents => "invalid_webhook_events",
            Self::InvalidMedia => "invalid_media",
            Self::MissingContent => "missing_content",
            Self::InvalidOfficialCredentials => "invalid_official_credentials",
            Self::MessageNotFound => "message_not_found",
            Self::WebhookNotFound => "webhook_not_found",
            Self::ChatNotFound => "chat_not_found",
            Self::ContactNotFound => "contact_not_found",
            Self::GroupNotFound => "group_not_found",
            Self::NotGroupAdmin => "not_group_admin",
            Self::AlreadyConnected => "already_connected",
            Self::InstanceNotConnected => "instance_not_connected",
            Self::OfficialApiInstance => "official_api_instance",
            Self::NotSupportedByConnection => "not_supported_by_connection",
            Self::MessageNotEditable => "message_not_editable",
            Self::MessageNotDeletable => "message_not_deletable",
            Self::NoSavedSession => "no_saved_session",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::MissingApiKey => "missing_api_key",
            Self::InvalidApiKey => "invalid_api_key",
            Self::ExpiredApiKey => "expired_api_key",
            Self::InsufficientPermissions => "insufficient_permissions",
            Self::InstanceLimitReached => "instance_limit_reached",
            Self::InstanceNotFound => "instance_not_found",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::UnsupportedContentType => "unsupported_content_type",
            Self::RateLimited => "rate_limit_exceeded",
            Self::InvalidSignature => "invalid_signature",
            Self::InvalidVerifyToken => "invalid_verify_token",
            Self::Internal => "internal_error",
            Self::ServiceUnavailable | Self::HeldElsewhere => "service_unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::InvalidPhoneNumber
            | Self::InvalidWebhookUrl
            | Self::InvalidWebhookEvents
            | Self::InvalidMedia
            | Self::MissingContent
            | Self::InvalidOfficialCredentials => StatusCode::BAD_REQUEST,
            Self::MissingApiKey
            | Self::InvalidApiKey
            | Self::ExpiredApiKey
            | Self::InvalidSignature => StatusCode::UNAUTHORIZED,
            Self::InsufficientPermissions
            | Self::InstanceLimitReached
            | Self::InvalidVerifyToken
            | Self::NotGroupAdmin => StatusCode::FORBIDDEN,
            Self::InstanceNotFound
            | Self::MessageNotFound
            | Self::WebhookNotFound
            | Self::ChatNotFound
            | Self::ContactNotFound
            | Self::GroupNotFound
            | Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyConnected
            | Self::InstanceNotConnected
            | Self::OfficialApiInstance
            | Self::NotSupportedByConnection
            | Self::MessageNotEditable
            | Self::MessageNotDeletable
            | Self::NoSavedSession
            | Self::IdempotencyConflict => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable | Self::HeldElsewhere => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl ApiError {
    /// A 400 about one field.
    pub fn field(field: &str, issue: impl ToString) -> Self {
        let issue = FieldIssue::new(field, issue);
        ApiError::InvalidRequest {
            message: format!("Invalid value for '{}': {}", issue.field, issue.issue),
            details: vec![issue],
        }
    }

    /// The error for a response status produced outside our handlers (the router's 404/405,
    /// a panic caught as 500), so that every failure still gets the envelope.
    pub fn for_bare_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(1024 * 1024),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedContentType,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => {
                ApiError::ServiceUnavailable
            }
            s if s.is_client_error() => ApiError::InvalidRequest {
                message: s.canonical_reason().unwrap_or("Bad request").to_owned(),
                details: vec![],
            },
            _ => ApiError::Internal,
        }
    }
}

/// The send parse's errors, one code each: a limit is an `invalid_request` naming its field in
/// `details`; media, recipient and missing content have their own codes (and no `details`).
impl From<SendError> for ApiError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::MissingContent => ApiError::MissingContent,
            SendError::InvalidMedia { message, .. } => ApiError::InvalidMedia(message),
            SendError::InvalidRecipient { .. } => ApiError::InvalidPhoneNumber(e.to_string()),
            SendError::Field { field, issue } => ApiError::field(field, issue),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let api = match e {
            // Another node took the instance over while this request acted on it.
            StoreError::Unavailable(_) | StoreError::Fenced(_) => ApiError::ServiceUnavailable,
            StoreError::Corrupt(_) | StoreError::Conflict(_) => ApiError::Internal,
            // The request's parse should have refused the value; say so rather than blame the
            // database.
            StoreError::Rejected(_) => ApiError::InvalidRequest {
                message: "A value of the request cannot be stored.".into(),
                details: vec![],
            },
        };
        // The cause is logged here, once, inside the request's span (so with its `requestId`);
        // the client's envelope only says that the failure was ours.
        tracing::error!(error = %e, code = api.code(), "store error");
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = self.status().into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// The error envelope of §15.2 (for the OpenAPI document and for rendering).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Machine-readable code, e.g. `instance_not_found`.
    pub code: String,
    pub message: String,
    /// The `req_…` id also sent as `X-Request-Id`.
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldIssue>,
    /// Seconds to wait; only on 429.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ErrorEnvelope {
    pub fn new(err: &ApiError, request_id: &str) -> Self {
        let (details, retry_after) = match err {
            ApiError::InvalidRequest { details, .. } => (details.clone(), None),
            ApiError::RateLimited { retry_after } => (vec![], Some(*retry_after)),
            _ => (vec![], None),
        };
        Self {
            success: false,
            error: ErrorBody {
                code: err.code().to_owned(),
                message: err.to_string(),
                request_id: request_id.to_owned(),
                details,
                retry_after,
            },
        }
    }
}
