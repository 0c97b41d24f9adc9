//! The official engine: Meta's WhatsApp Cloud API.
//!
//! - `connect` (method `official`): the server checks the credentials with `verify` (Graph
//!   `GET /{phone-number-id}`), seals them into the instance's saved session, and connects. The
//!   engine opens the sealed session and reports `Connected` at once: the Cloud API has no
//!   connection to keep, so a restart resumes without calling Meta.
//! - Sending is one `POST /{phone-number-id}/messages` per message; throttling is retried with
//!   backoff, other errors map to `error.code`s (`errors.rs`).
//! - Meta reports statuses and received messages by webhook; the server hands each request to
//!   `handle_webhook`, which checks the signature under the number's app secret and emits the
//!   events to the sink of the instance registered for that `phone_number_id`.

pub mod credentials;
pub mod errors;
pub mod graph;
pub mod outbound;
pub mod webhook;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use wagate_core::InstanceId;
use wagate_core::engine::{
    ConnectRequest, Engine, EngineError, EngineEvent, EventSink, InboundMessage, InboundReaction,
    MediaBlob, MediaVault, NotRecorded, NumberCheck, OutboundMessage, SendError, Session,
};
use wagate_core::failure::FailureCode;
use wagate_core::message::{Content, Media, MessageStatus, Recipient};
use wagate_core::phone::PhoneNumber;

use credentials::{AppSecret, Credentials, PhoneNumberId, SavedSession, Sealer, SecretKey};
use errors::{Disposition, map_meta_error};
use graph::{GraphClient, GraphError};
use outbound::OutboundError;
use webhook::{Change, IncomingBody, IncomingMessage, SignatureError, StatusKind};

/// The Graph API version wagate is written against.
pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com/v21.0";

/// How throttled or failing sends are retried before the message fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The wait after the first try; it doubles after each.
    pub first: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            attempts: 4,
            first: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CloudApiConfig {
    pub graph_url: String,
    /// `WAGATE_META_APP_SECRET`: checks webhooks of numbers connected without an `appSecret`.
    pub app_secret: Option<AppSecret>,
    pub backoff: Backoff,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// Meta refused the credentials (bad token, unknown number, no permission).
    #[error("{0}")]
    Rejected(String),
    /// Meta could not be asked.
    #[error("{0}")]
    Unavailable(String),
}

/// Who a phone number id is, according to Meta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub phone: PhoneNumber,
    pub verified_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Payload(#[from] webhook::PayloadError),
    /// Something to fetch failed; Meta should deliver the webhook again.
    #[error("{0}")]
    Retry(String),
}

fn not_recorded(e: NotRecorded) -> WebhookError {
    WebhookError::Retry(e.to_string())
}

/// What a webhook request changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookOutcome {
    /// Changes for numbers connected here.
    pub routed: usize,
    /// Changes for numbers unknown here (acknowledged, ignored).
    pub ignored: usize,
}

#[derive(Clone)]
struct Registered {
    instance: InstanceId,
    credentials: Arc<Credentials>,
    sink: Arc<dyn EventSink>,
    generation: u64,
}

struct Inner {
    graph: GraphClient,
    sealer: Sealer,
    app_secret: Option<AppSecret>,
    backoff: Backoff,
    vault: Arc<dyn MediaVault>,
    /// The connected numbers, by Meta's phone number id: where webhooks are routed.
    numbers: Mutex<HashMap<PhoneNumberId, Registered>>,
    generations: AtomicU64,
}

/// The engine; one per server, cheap to clone.
#[derive(Clone)]
pub struct CloudApi {
    inner: Arc<Inner>,
}

impl CloudApi {
    pub fn new(
        config: CloudApiConfig,
        key: &SecretKey,
        vault: Arc<dyn MediaVault>,
    ) -> Result<Self, GraphError> {
        Ok(Self {
            inner: Arc::new(Inner {
                graph: GraphClient::new(&config.graph_url)?,
                sealer: Sealer::new(key),
                app_secret: config.app_secret,
                backoff: config.backoff,
                vault,
                numbers: Mutex::new(HashMap::new()),
                generations: AtomicU64::new(0),
            }),
        })
    }

    fn numbers(&self) -> MutexGuard<'_, HashMap<PhoneNumberId, Registered>> {
        self.inner
            .numbers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The instance connected here with this phone number id, if any.
    pub fn instance_of(&self, number: &PhoneNumberId) -> Option<InstanceId> {
        self.numbers().get(number).map(|r| r.instance.clone())
    }

    /// Checks the credentials with Meta: the number they give access to.
    pub async fn verify(&self, credentials: &Credentials) -> Result<Profile, VerifyError> {
        let info = self
            .inner
            .graph
            .phone_number(&credentials.phone_number_id, &credentials.access_token)
            .await
            .map_err(|e| match e {
                // Meta's message is useful to the user; the token is cut out in case it echoes.
                GraphError::Api { code, message, .. } => VerifyError::Rejected(format!(
                    "Meta refused the credentials (error {code}): {}",
                    message.replace(credentials.access_token.expose(), "<redacted>")
                )),
                other => VerifyError::Unavailable(other.to_string()),
            })?;
        let digits: String = info
            .display_phone_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let phone = PhoneNumber::parse(&digits).map_err(|_| {
            VerifyError::Rejected(format!(
                "Meta gave the number '{}', which is not a phone number",
                info.display_phone_number
            ))
        })?;
        Ok(Profile {
            phone,
            verified_name: info.verified_name,
        })
    }

    /// The session to save for an official instance: its credentials, sealed.
    pub fn seal(
        &self,
        instance: &InstanceId,
        credentials: Credentials,
        profile: &Profile,
    ) -> String {
        self.inner.sealer.seal(
            instance,
            &SavedSession {
                credentials,
                phone: profile.phone.to_string(),
                verified_name: profile.verified_name.clone(),
            },
        )
    }

    /// Handles one webhook request from Meta: `signature` is the `X-Hub-Signature-256` header.
    /// Nothing is applied unless the signature holds for every connected number it concerns.
    pub async fn handle_webhook(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookOutcome, WebhookError> {
        let sig = webhook::parse_signature(signature)?;
        let global = self.inner.app_secret.as_ref();
        let changes = match webhook::parse(body) {
            Ok(c) => c,
            Err(e) => {
                // Whoever sends garbage learns only that it is unsigned, unless it is signed.
                webhook::verify(global.ok_or(SignatureError::NoSecret)?, body, &sig)?;
                return Err(e.into());
            }
        };
        let mut outcome = WebhookOutcome::default();
        let mut work = Vec::new();
        for change in changes {
            let registered = self.numbers().get(&change.phone_number_id).cloned();
            match registered {
                Some(r) => {
                    let secret = r
                        .credentials
                        .app_secret
                        .as_ref()
                        .or(global)
                        .ok_or(SignatureError::NoSecret)?;
                    webhook::verify(secret, body, &sig)?;
                    work.push((r, change));
                }
                None => {
                    if let Some(g) = global {
                        webhook::verify(g, body, &sig)?;
                    }
                    outcome.ignored += 1;
                }
            }
        }
        for (r, change) in work {
            self.apply(&r, change).await?;
            outcome.routed += 1;
        }
        Ok(outcome)
    }

    async fn apply(&self, r: &Registered, change: Change) -> Result<(), WebhookError> {
        for s in change.statuses {
            let event = match s.kind {
                // `sent` is recorded when Meta accepts the request.
                StatusKind::Sent => continue,
                StatusKind::Delivered => EngineEvent::Receipt {
                    external_id: s.external_id,
                    status: MessageStatus::Delivered,
                    at: s.at,
                },
                StatusKind::Read => EngineEvent::Receipt {
                    external_id: s.external_id,
                    status: MessageStatus::Read,
                    at: s.at,
                },
                StatusKind::Failed { meta_code, message } => EngineEvent::SendFailed {
                    external_id: s.external_id,
                    code: map_meta_error(meta_code).code,
                    message: format!(
                        "WhatsApp could not deliver it (error {meta_code}): {message}"
                    ),
                },
            };
            // Not recorded: answered 503 below, so Meta sends the notification again.
            r.sink.emit(event).await.map_err(not_recorded)?;
        }
        for m in change.messages {
            let event = self.inbound(r, m).await?;
            r.sink.emit(event).await.map_err(not_recorded)?;
        }
        Ok(())
    }

    /// The event to record for a received message; media is downloaded and kept first.
    async fn inbound(
        &self,
        r: &Registered,
        m: IncomingMessage,
    ) -> Result<EngineEvent, WebhookError> {
        let content = match m.body {
            IncomingBody::Ready(content) => content,
            IncomingBody::Reaction { target, emoji } => {
                return Ok(EngineEvent::Reaction(InboundReaction {
                    external_id: m.external_id,
                    from: m.from,
                    from_name: m.from_name,
                    group: None,
                    target_external_id: target,
                    emoji,
                    timestamp: m.at,
                }));
            }
            IncomingBody::Media {
                media_type,
                media_id,
                mime_type,
                caption,
                filename,
            } => {
                let token = &r.credentials.access_token;
                let retry = |e: GraphError| WebhookError::Retry(format!("media {media_id}: {e}"));
                let info = self
                    .inner
                    .graph
                    .media(&media_id, token)
                    .await
                    .map_err(retry)?;
                let bytes = self
                    .inner
                    .graph
                    .download(&info.url, token, media_type.max_bytes())
                    .await
                    .map_err(retry)?;
                let size = bytes.len() as u64;
                let mime_type = mime_type.or(info.mime_type);
                let url = self
                    .inner
                    .vault
                    .keep(
                        &r.instance,
                        MediaBlob {
                            bytes,
                            mime_type: mime_type.clone(),
                            filename: filename.clone(),
                        },
                    )
                    .await
                    .map_err(|e| WebhookError::Retry(e.to_string()))?;
                Content::Media(Media {
                    media_type,
                    url,
                    caption,
                    filename,
                    mime_type,
                    size: Some(size),
                })
            }
        };
        Ok(EngineEvent::Inbound(InboundMessage {
            external_id: m.external_id,
            from: Recipient::Phone(m.from),
            from_name: m.from_name,
            group: None,
            content,
            mentions: Vec::new(),
            quoted_external_id: m.context_id,
            timestamp: m.at,
        }))
    }

    fn unregister(&self, number: &PhoneNumberId, generation: u64) {
        let mut numbers = self.numbers();
        if numbers
            .get(number)
            .is_some_and(|r| r.generation == generation)
        {
            numbers.remove(number);
        }
    }
}

#[async_trait]
impl Engine for CloudApi {
    async fn connect(
        &self,
        request: ConnectRequest,
        sink: Arc<dyn EventSink>,
    ) -> Result<Box<dyn Session>, EngineError> {
        let sealed = request.session.ok_or_else(|| {
            EngineError::Failed("an official instance connects with its credentials".into())
        })?;
        let saved = self
            .inner
            .sealer
            .open(&request.instance_id, &sealed)
            .map_err(|e| EngineError::Failed(format!("the saved credentials: {e}")))?;
        let phone = PhoneNumber::parse(&saved.phone)
            .map_err(|_| EngineError::Failed("the saved phone number is not valid".into()))?;
        let credentials = Arc::new(saved.credentials);
        let generation = self.inner.generations.fetch_add(1, Ordering::Relaxed);
        let number = credentials.phone_number_id.clone();
        self.numbers().insert(
            number.clone(),
            Registered {
                instance: request.instance_id.clone(),
                credentials: credentials.clone(),
                sink: sink.clone(),
                generation,
            },
        );
        let connected = sink
            .emit(EngineEvent::Connected {
                phone,
                profile_name: saved.verified_name,
                session: sealed,
            })
            .await;
        if let Err(e) = connected {
            self.numbers().remove(&number);
            return Err(EngineError::Failed(e.to_string()));
        }
        Ok(Box::new(CloudSession {
            api: self.clone(),
            credentials,
            generation,
        }))
    }
}

struct CloudSession {
    api: CloudApi,
    credentials: Arc<Credentials>,
    generation: u64,
}

impl CloudSession {
    fn graph(&self) -> &GraphClient {
        &self.api.inner.graph
    }
}

#[async_trait]
impl Session for CloudSession {
    async fn send(&self, m: &OutboundMessage) -> Result<String, SendError> {
        let body = outbound::message_body(m).map_err(|e| SendError {
            code: match e {
                OutboundError::NoPhoneNumber => FailureCode::UnsupportedRecipient,
                OutboundError::NoSuchKind(_) => FailureCode::UnsupportedContent,
                OutboundError::UnknownTarget => FailureCode::InvalidRequest,
            },
            message: e.to_string(),
            transient: false,
        })?;
        let backoff = self.api.inner.backoff;
        let mut wait = backoff.first;
        let mut attempt = 1;
        loop {
            let result = self
                .graph()
                .send(
                    &self.credentials.phone_number_id,
                    &self.credentials.access_token,
                    &body,
                )
                .await;
            let (error, retry) = match result {
                Ok(wamid) => return Ok(wamid),
                Err(GraphError::Api { code, message, .. }) => {
                    let mapped = map_meta_error(code);
                    let error = SendError {
                        code: mapped.code,
                        message: format!("Meta refused the message (error {code}): {message}"),
                        transient: false,
                    };
                    (error, mapped.disposition == Disposition::RetryThenFail)
                }
                // Meta may have the message: failing it for good could be wrong, so it stays
                // queued and goes again when Meta answers.
                Err(e @ GraphError::Network(_)) => (
                    SendError {
                        code: FailureCode::NetworkError,
                        message: e.to_string(),
                        transient: true,
                    },
                    true,
                ),
                Err(e) => (
                    SendError {
                        code: FailureCode::OfficialApiError,
                        message: e.to_string(),
                        transient: false,
                    },
                    true,
                ),
            };
            if !retry || attempt >= backoff.attempts {
                return Err(error);
            }
            tracing::info!(message = %m.id, code = %error.code, attempt, "Graph API send failed; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
            attempt += 1;
        }
    }

    async fn typing(&self, _to: &Recipient) -> Result<(), EngineError> {
        // The Cloud API shows typing only as an answer to a received message; the send loop
        // skips its wait when typing fails.
        Err(EngineError::Failed(
            "the Cloud API has no stand-alone typing indicator".into(),
        ))
    }

    async fn mark_read(
        &self,
        _from: &Recipient,
        external_ids: &[String],
    ) -> Result<(), EngineError> {
        for id in external_ids {
            self.graph()
                .post_messages(
                    &self.credentials.phone_number_id,
                    &self.credentials.access_token,
                    &outbound::read_body(id),
                )
                .await
                .map_err(|e| EngineError::Failed(e.to_string()))?;
        }
        Ok(())
    }

    async fn check_numbers(
        &self,
        _phones: &[PhoneNumber],
    ) -> Result<Vec<NumberCheck>, EngineError> {
        Err(EngineError::Failed(
            "the Cloud API does not tell whether a number has WhatsApp".into(),
        ))
    }

    async fn logout(&self) -> Result<(), EngineError> {
        self.api
            .unregister(&self.credentials.phone_number_id, self.generation);
        Ok(())
    }

    async fn close(&self) {
        self.api
            .unregister(&self.credentials.phone_number_id, self.generation);
    }

    /// Media goes to Meta as a link; Meta fetches it.
    fn fetches_media_itself(&self) -> bool {
        true
    }
}
