//! One live instance: its connection, what it shows now (QR, status), and its send loop.
//!
//! The send loop takes the instance's `queued` messages in id order (the order the API accepted
//! them), one at a time, and only while connected: a message is never sent twice by this node and
//! never skipped. A transient failure (connection lost mid-send) leaves it queued for the next
//! connection; a permanent one fails it with its code. Media is fetched just before its message
//! is sent (`media_fetch`); media that cannot be fetched or used fails the message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use wagate_core::engine::{OutboundMessage, Session};
use wagate_core::instance::InstanceStatus;
use wagate_core::media::MediaError;
use wagate_core::message::{Content, Message, MessageError};
use wagate_core::store::Store;
use wagate_core::{InstanceId, MessageId, Timestamp};

use crate::runtime::media_fetch::MediaFetcher;

/// What the instance shows right now (kept in memory: QR codes are short-lived).
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub status: Option<InstanceStatus>,
    pub qr_raw: Option<String>,
    pub qr_data_uri: Option<String>,
    pub pairing_code: Option<String>,
    pub code_expires_at: Option<Timestamp>,
    /// Milliseconds the network took to accept the last message.
    pub latency_ms: Option<u64>,
}

pub struct InstanceRuntime {
    pub id: InstanceId,
    store: Arc<dyn Store>,
    media: MediaFetcher,
    live: Mutex<Live>,
    session: Mutex<Option<Arc<dyn Session>>>,
    wake: Notify,
    changed: Notify,
    stopped: AtomicBool,
    /// Held from handing a message to the network until its `sent` is committed. Receipts take
    /// it too: the network may report "delivered" before we recorded "sent", and a receipt
    /// applied in between would find nothing to move.
    send_lock: tokio::sync::Mutex<()>,
}

impl InstanceRuntime {
    pub fn new(id: InstanceId, store: Arc<dyn Store>, media: MediaFetcher) -> Arc<Self> {
        Arc::new(Self {
            id,
            store,
            media,
            live: Mutex::new(Live::default()),
            session: Mutex::new(None),
            wake: Notify::new(),
            changed: Notify::new(),
            stopped: AtomicBool::new(false),
            send_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a change to the live state and wakes whoever waits for one.
    pub fn update_live(&self, f: impl FnOnce(&mut Live)) {
        f(&mut self.live());
        self.changed.notify_waiters();
        self.wake.notify_one();
    }

    pub fn set_session(&self, s: Option<Arc<dyn Session>>) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = s;
    }

    pub fn session(&self) -> Option<Arc<dyn Session>> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A new message is queued: let the send loop look.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        self.changed.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Waits until `pred` holds for the live state, or `timeout` passes.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&Live) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if pred(&self.live()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return pred(&self.live());
            }
        }
    }

    fn connected_session(&self) -> Option<Arc<dyn Session>> {
        (self.live().status == Some(InstanceStatus::Connected))
            .then(|| self.session())
            .flatten()
    }

    /// The send loop; runs until `stop`.
    pub async fn run_sender(self: Arc<Self>) {
        while !self.is_stopped() {
            let Some(session) = self.connected_session() else {
                self.idle().await;
                continue;
            };
            match self.store.next_queued(&self.id).await {
                Ok(Some(m)) => self.send_one(session.as_ref(), m).await,
                Ok(None) => self.idle().await,
                Err(e) => {
                    tracing::warn!(instance = %self.id, error = %e, "reading the send queue failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Sleeps until woken; the periodic look is a safety net, not the mechanism.
    async fn idle(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.wake.notified()).await;
    }

    async fn send_one(&self, session: &dyn Session, m: Message) {
        let auto_typing = match self.store.find_instance(&self.id).await {
            Ok(Some(i)) => i.settings.auto_typing,
            _ => false,
        };
        if auto_typing
            && let Content::Text(text) = &m.content
            && session.typing(&m.peer).await.is_ok()
        {
            tokio::time::sleep(typing_duration(text)).await;
        }
        let quoted_external_id = match &m.quoted_message_id {
            Some(q) => match wagate_core::MessageId::parse(q) {
                Ok(qid) => self
                    .store
                    .get_message(&m.account_id, &qid)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|q| q.external_id),
                Err(_) => Some(q.clone()),
            },
            None => None,
        };
        let (content, media) = match &m.content {
            Content::Media(media) if !session.fetches_media_itself() => {
                match self.media.fetch(media).await {
                    Ok(fetched) => (Content::Media(fetched.describe(media)), Some(fetched)),
                    Err(e) => return self.fail(&m.id, e).await,
                }
            }
            _ => (m.content.clone(), None),
        };
        let out = OutboundMessage {
            id: m.id.clone(),
            to: m.peer.clone(),
            content,
            quoted_external_id,
            media,
        };
        let _sending = self.send_lock.lock().await;
        let started = Instant::now();
        match session.send(&out).await {
            Ok(external_id) => {
                let took = started.elapsed().as_millis() as u64;
                self.update_live(|l| l.latency_ms = Some(took));
                if let Err(e) = self
                    .store
                    .mark_sent(&m.id, &external_id, Timestamp::now())
                    .await
                {
                    tracing::error!(message = %m.id, error = %e, "recording a sent message failed");
                }
            }
            Err(e) if e.transient => {
                // Stays queued; the loop resumes when the connection is back.
                tracing::info!(message = %m.id, error = %e, "send interrupted; will retry");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                let error = MessageError {
                    code: e.code,
                    message: e.message,
                };
                if let Err(e) = self.store.mark_failed(&m.id, &error).await {
                    tracing::error!(message = %m.id, error = %e, "recording a failed message failed");
                }
            }
        }
    }

    async fn fail(&self, id: &MessageId, e: MediaError) {
        tracing::info!(message = %id, error = %e, "media refused; the message fails");
        if let Err(e) = self.store.mark_failed(id, &e.into()).await {
            tracing::error!(message = %id, error = %e, "recording a failed message failed");
        }
    }

    /// Waits until no send is between the network and its `sent` record.
    pub async fn send_settled(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.send_lock.lock().await
    }

    /// Fails every message still queued (the session ended for good).
    pub async fn fail_queued(&self, code: &str, message: &str) {
        let error = MessageError {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        while let Ok(Some(m)) = self.store.next_queued(&self.id).await {
            if self.store.mark_failed(&m.id, &error).await.is_err() {
                break;
            }
        }
    }
}

/// "Typing…" grows with the text: about 1 s, up to 3 s for long texts (§15.5).
pub fn typing_duration(text: &str) -> Duration {
    let chars = text.chars().count() as u64;
    Duration::from_millis((1000 + chars * 20).min(3000))
}
