//! One live instance: its connection, what it shows now (QR, status), and its send loop.
//!
//! The send loop takes the instance's `queued` messages in id order (the order the API accepted
//! them), hands them to the network one after the other, and only while connected: a message is
//! never sent twice by this node and never skipped. Outcomes are committed in groups
//! (`StatusWriter`), so a busy instance costs a commit per batch, not per message. A transient failure (connection lost mid-send) leaves it queued for the next
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
use wagate_core::status_change::StatusChange;
use wagate_core::store::{Store, StoreError};
use wagate_core::{InstanceId, MessageId, Timestamp};

use crate::runtime::media_fetch::MediaFetcher;
use crate::runtime::status_writer::StatusWriter;

/// At most this many queued messages are taken from the queue at a time.
const SEND_BATCH: u32 = 64;

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
    statuses: StatusWriter,
    media: MediaFetcher,
    live: Mutex<Live>,
    session: Mutex<Option<Arc<dyn Session>>>,
    wake: Notify,
    changed: Notify,
    stopped: AtomicBool,
    /// Held from handing messages to the network until their `sent` is committed (see
    /// `apply_reported`).
    send_lock: tokio::sync::Mutex<()>,
}

impl InstanceRuntime {
    pub fn new(
        id: InstanceId,
        store: Arc<dyn Store>,
        statuses: StatusWriter,
        media: MediaFetcher,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            store,
            statuses,
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
            match self.store.next_queued(&self.id, SEND_BATCH).await {
                Ok(batch) if batch.is_empty() => self.idle().await,
                Ok(batch) => self.send_batch(session.as_ref(), batch).await,
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

    /// Sends the head of the queue in order. The outcomes (`sent`, `failed`) of consecutive
    /// quick sends are committed together; before a slow step (typing, a media fetch) what was
    /// sent so far is committed, so no message shows `queued` for long after it left.
    async fn send_batch(&self, session: &dyn Session, batch: Vec<Message>) {
        let auto_typing = match self.store.find_instance(&self.id).await {
            Ok(Some(i)) => i.settings.auto_typing,
            _ => false,
        };
        // Held from handing a message to the network until its outcome is committed.
        let _sending = self.send_lock.lock().await;
        let mut outcomes = Vec::new();
        for m in batch {
            if self.is_stopped() {
                break;
            }
            let slow = (auto_typing && matches!(m.content, Content::Text(_)))
                || (matches!(m.content, Content::Media(_)) && !session.fetches_media_itself());
            if slow {
                self.commit(std::mem::take(&mut outcomes)).await;
            }
            match self.send_one(session, m, auto_typing).await {
                Some(outcome) => outcomes.push(outcome),
                None => {
                    // Stays queued; the loop resumes when the connection is back.
                    self.commit(outcomes).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return;
                }
            }
        }
        self.commit(outcomes).await;
    }

    /// Sends one message; returns its outcome, or `None` when the send was interrupted (a
    /// transient failure: the message stays queued).
    async fn send_one(
        &self,
        session: &dyn Session,
        m: Message,
        auto_typing: bool,
    ) -> Option<StatusChange> {
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
                    Err(e) => return Some(media_refused(m.id, e)),
                }
            }
            _ => (m.content.clone(), None),
        };
        let out = OutboundMessage {
            id: m.id,
            to: m.peer,
            content,
            quoted_external_id,
            media,
        };
        let started = Instant::now();
        match session.send(&out).await {
            Ok(external_id) => {
                let took = started.elapsed().as_millis() as u64;
                self.update_live(|l| l.latency_ms = Some(took));
                Some(StatusChange::Sent {
                    id: out.id,
                    external_id,
                    at: Timestamp::now(),
                })
            }
            Err(e) if e.transient => {
                tracing::info!(message = %out.id, error = %e, "send interrupted; will retry");
                None
            }
            Err(e) => Some(StatusChange::Failed {
                id: out.id,
                error: MessageError {
                    code: e.code,
                    message: e.message,
                },
            }),
        }
    }

    /// Records outcomes. Should it fail, a sent message stays `queued` and is sent again: the
    /// network has its id, so a resend is recognisable as one.
    async fn commit(&self, outcomes: Vec<StatusChange>) {
        if outcomes.is_empty() {
            return;
        }
        if let Err(e) = self.statuses.apply_all(outcomes).await {
            tracing::error!(instance = %self.id, error = %e, "recording sent messages failed");
        }
    }

    /// Fails every message still queued (the session ended for good).
    pub async fn fail_queued(&self, code: &str, message: &str) {
        let error = MessageError {
            code: code.to_owned(),
            message: message.to_owned(),
        };
        while let Ok(queued) = self.store.next_queued(&self.id, SEND_BATCH).await
            && !queued.is_empty()
        {
            let failed = queued
                .into_iter()
                .map(|m| StatusChange::Failed {
                    id: m.id,
                    error: error.clone(),
                })
                .collect();
            if self.statuses.apply_all(failed).await.is_err() {
                break;
            }
        }
    }

    /// Applies a status change reported by the network (a receipt, a late failure), after any
    /// send in flight recorded its `sent`: the network may report "delivered" before we did,
    /// and a receipt applied in between would find nothing to move.
    pub async fn apply_reported(&self, change: StatusChange) -> Result<(), StoreError> {
        drop(self.send_lock.lock().await);
        self.statuses.apply(change).await.map(drop)
    }
}

fn media_refused(id: MessageId, e: MediaError) -> StatusChange {
    tracing::info!(message = %id, error = %e, "media refused; the message fails");
    StatusChange::Failed {
        id,
        error: e.into(),
    }
}

/// "Typing…" grows with the text: about 1 s, up to 3 s for long texts (§15.5).
pub fn typing_duration(text: &str) -> Duration {
    let chars = text.chars().count() as u64;
    Duration::from_millis((1000 + chars * 20).min(3000))
}
