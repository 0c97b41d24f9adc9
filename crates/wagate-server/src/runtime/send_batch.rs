//! One pass of an instance's send loop, run as its own task while the actor goes on taking
//! commands: it takes the head of the send queue (`queued` messages and changes of sent ones, in
//! the order the API accepted them), hands them to the network one after the other and commits
//! their outcomes.
//!
//! Outcomes of consecutive quick sends are committed together (`StatusWriter`); before a slow
//! step (typing, a media fetch) what was sent so far is committed, so no message shows `queued`
//! for long after it left. A transient failure (connection lost mid-send) leaves the message
//! queued for the next pass; a permanent one fails it with its code. The pass ends with every
//! outcome committed, which is what lets the actor apply receipts that arrived meanwhile after
//! the `sent` they follow.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wagate_core::change::{ChangeOutcome, QueuedChange};
use wagate_core::engine::{OutboundChange, OutboundMessage, Session, TargetMessage};
use wagate_core::failure::FailureCode;
use wagate_core::media::MediaError;
use wagate_core::message::{Content, Direction, Message, MessageError};
use wagate_core::node::Tenure;
use wagate_core::status_change::StatusChange;
use wagate_core::store::Store;
use wagate_core::{InstanceId, MessageId, Timestamp};

use crate::runtime::media_fetch::MediaFetcher;
use crate::runtime::send_queue::{Work, in_order};
use crate::runtime::status_writer::StatusWriter;

/// At most this many queued messages are taken from the queue at a time.
pub const SEND_BATCH: u32 = 64;

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassEnd {
    /// Nothing was queued.
    Empty,
    /// Messages were sent (or failed for good); more may be queued.
    Sent { latency_ms: Option<u64> },
    /// A send was interrupted (the connection is going); the message stays queued.
    Interrupted,
    /// Asked to stop between two messages.
    Cancelled,
    /// The queue could not be read.
    QueueUnreadable,
}

/// What a pass needs; cheap clones of the actor's parts.
pub struct SendBatch {
    pub instance: InstanceId,
    pub store: Arc<dyn Store>,
    pub statuses: StatusWriter,
    pub media: MediaFetcher,
    pub session: Arc<dyn Session>,
    pub cancel: CancellationToken,
    /// A message accepted longer ago than this is failed (`expired`) instead of sent.
    pub deadline: Duration,
    /// Nothing is sent, nor any outcome written, once this node's lease may have run out.
    pub tenure: Tenure,
}

impl SendBatch {
    #[tracing::instrument(name = "send_pass", skip_all, fields(instance = %self.instance))]
    pub async fn run(self) -> PassEnd {
        let heads = tokio::try_join!(
            self.store.next_queued(&self.instance, SEND_BATCH),
            self.store.next_changes(&self.instance, SEND_BATCH),
        );
        let batch = match heads {
            Ok((messages, changes)) => in_order(messages, changes, SEND_BATCH as usize),
            Err(e) => {
                tracing::warn!(error = %e, "reading the send queue failed");
                return PassEnd::QueueUnreadable;
            }
        };
        if batch.is_empty() {
            return PassEnd::Empty;
        }
        let auto_typing = match self.store.find_instance(&self.instance).await {
            Ok(Some(i)) => i.settings.auto_typing,
            _ => false,
        };
        let session = self.session.as_ref();
        let mut outcomes = Vec::new();
        let mut latency_ms = None;
        for work in batch {
            if self.cancel.is_cancelled() {
                self.commit(outcomes).await;
                return PassEnd::Cancelled;
            }
            if !self.tenure.holds() {
                tracing::warn!("the lease on the instance ran out: the rest stays queued");
                return PassEnd::Interrupted;
            }
            let m = match work {
                Work::Send(m) => *m,
                Work::Change(c) => {
                    // What went before is recorded first: the change applies to it.
                    self.commit(std::mem::take(&mut outcomes)).await;
                    let outcome = if c.created_at < Timestamp::ago(self.deadline) {
                        ChangeOutcome::Failed(expired_error())
                    } else {
                        match self.change_one(&c).await {
                            Some(outcome) => outcome,
                            None => return PassEnd::Interrupted,
                        }
                    };
                    if let Err(e) = self.store.finish_change(&c.id, &outcome).await {
                        tracing::error!(error = %e, "recording a sent change failed");
                    }
                    continue;
                }
            };
            if m.created_at < Timestamp::ago(self.deadline) {
                outcomes.push(expired(m.id));
                continue;
            }
            let slow = (auto_typing && matches!(m.content, Content::Text(_)))
                || (matches!(m.content, Content::Media(_)) && !session.fetches_media_itself());
            if slow {
                self.commit(std::mem::take(&mut outcomes)).await;
            }
            match self.send_one(m, auto_typing).await {
                Some((outcome, took)) => {
                    latency_ms = took.or(latency_ms);
                    outcomes.push(outcome);
                }
                None => {
                    self.commit(outcomes).await;
                    return PassEnd::Interrupted;
                }
            }
        }
        self.commit(outcomes).await;
        PassEnd::Sent { latency_ms }
    }

    /// Sends one message; returns its outcome (with the milliseconds the network took to accept
    /// it), or `None` when the send was interrupted (a transient failure: it stays queued).
    #[tracing::instrument(skip_all, fields(message = %m.id))]
    async fn send_one(&self, m: Message, auto_typing: bool) -> Option<(StatusChange, Option<u64>)> {
        let session = self.session.as_ref();
        if auto_typing
            && let Content::Text(text) = &m.content
            && session.typing(&m.peer).await.is_ok()
        {
            tokio::time::sleep(typing_duration(text)).await;
        }
        let quoted_external_id = self.quoted_external_id(&m).await;
        let target = match &m.content {
            Content::Reaction(r) => match self.target(&m, &r.message_id).await {
                Some(t) => Some(t),
                None => return Some((unsent_target(m.id), None)),
            },
            _ => None,
        };
        let (content, media) = match &m.content {
            Content::Media(media) if !session.fetches_media_itself() => {
                match self.media.fetch(media).await {
                    Ok(fetched) => (Content::Media(fetched.describe(media)), Some(fetched)),
                    Err(e) => return Some((media_refused(m.id, e), None)),
                }
            }
            _ => (m.content.clone(), None),
        };
        let out = OutboundMessage {
            id: m.id,
            to: m.peer,
            content,
            mentions: m.mentions.clone(),
            quoted_external_id,
            target,
            media,
        };
        // Typing and fetching take time: the lease may have run out meanwhile (a stall).
        if !self.tenure.holds() {
            tracing::warn!("the lease on the instance ran out: not sent, it stays queued");
            return None;
        }
        let started = Instant::now();
        match session.send(&out).await {
            Ok(external_id) => {
                let sent = StatusChange::Sent {
                    id: out.id,
                    external_id,
                    at: Timestamp::now(),
                };
                Some((sent, Some(started.elapsed().as_millis() as u64)))
            }
            Err(e) if e.transient => {
                tracing::info!(error = %e, "send interrupted; will retry");
                None
            }
            Err(e) => {
                let failed = StatusChange::Failed {
                    id: out.id,
                    error: MessageError {
                        code: e.code,
                        message: e.message,
                    },
                };
                Some((failed, None))
            }
        }
    }

    /// Hands an edit or delete to the network; its outcome, or `None` when it was interrupted (it
    /// stays queued).
    #[tracing::instrument(skip_all, fields(change = %c.id, message = %c.message_id))]
    async fn change_one(&self, c: &QueuedChange) -> Option<ChangeOutcome> {
        let target = self
            .store
            .get_message(&c.account_id, &c.message_id)
            .await
            .ok()?;
        let Some((to, external_id)) = target.and_then(|t| Some((t.peer, t.external_id?))) else {
            return Some(ChangeOutcome::Failed(MessageError {
                code: FailureCode::InvalidRequest,
                message: "The message changed never reached WhatsApp.".into(),
            }));
        };
        let out = OutboundChange {
            to,
            target: TargetMessage {
                external_id,
                from_me: true,
            },
            change: c.change.clone(),
        };
        match self.session.change(&out).await {
            Ok(()) => Some(ChangeOutcome::Done {
                at: Timestamp::now(),
            }),
            Err(e) if e.transient => {
                tracing::info!(error = %e, "change interrupted; will retry");
                None
            }
            Err(e) => Some(ChangeOutcome::Failed(MessageError {
                code: e.code,
                message: e.message,
            })),
        }
    }

    /// The network id of the message `m` replies to: ours by `msg_…` id, or one given as is.
    async fn quoted_external_id(&self, m: &Message) -> Option<String> {
        let q = m.quoted_message_id.as_ref()?;
        match MessageId::parse(q) {
            Ok(qid) => self
                .store
                .get_message(&m.account_id, &qid)
                .await
                .ok()
                .flatten()
                .and_then(|q| q.external_id),
            Err(_) => Some(q.clone()),
        }
    }

    /// The message `id` a reaction is about, as the network knows it; None when it never
    /// reached the network (it failed, or is still queued).
    async fn target(&self, m: &Message, id: &MessageId) -> Option<TargetMessage> {
        let t = self.store.get_message(&m.account_id, id).await.ok()??;
        Some(TargetMessage {
            external_id: t.external_id?,
            from_me: t.direction == Direction::Outbound,
        })
    }

    /// Records outcomes. Should it fail, a sent message stays `queued` and is sent again: the
    /// network has its id, so a resend is recognisable as one.
    async fn commit(&self, outcomes: Vec<StatusChange>) {
        if outcomes.is_empty() {
            return;
        }
        if !self.tenure.holds() {
            // The node that holds the instance now sends them again, under the same network
            // ids, which the network deduplicates.
            tracing::warn!(
                messages = outcomes.len(),
                "the lease ran out before the outcomes were written: they stay queued"
            );
            return;
        }
        if let Err(e) = self.statuses.apply_all(outcomes).await {
            tracing::error!(error = %e, "recording sent messages failed");
        }
    }
}

/// The failure of a message that could not be sent in time (§15.5).
pub fn expired(id: MessageId) -> StatusChange {
    StatusChange::Failed {
        id,
        error: expired_error(),
    }
}

fn expired_error() -> MessageError {
    MessageError {
        code: FailureCode::Expired,
        message: "The message could not be sent in time: it waited in the queue past its deadline."
            .into(),
    }
}

/// Fails every message and change still queued (the session ended for good).
pub async fn fail_queued(
    store: &dyn Store,
    statuses: &StatusWriter,
    instance: &InstanceId,
    code: FailureCode,
    message: &str,
) {
    let error = MessageError {
        code,
        message: message.to_owned(),
    };
    while let Ok(queued) = store.next_queued(instance, SEND_BATCH).await
        && !queued.is_empty()
    {
        let failed = queued
            .into_iter()
            .map(|m| StatusChange::Failed {
                id: m.id,
                error: error.clone(),
            })
            .collect();
        if statuses.apply_all(failed).await.is_err() {
            break;
        }
    }
    while let Ok(changes) = store.next_changes(instance, SEND_BATCH).await
        && !changes.is_empty()
    {
        for c in changes {
            let failed = ChangeOutcome::Failed(error.clone());
            if store.finish_change(&c.id, &failed).await.is_err() {
                return;
            }
        }
    }
}

/// A reaction to a message the network does not have fails (it cannot be sent later either:
/// the queue is in order, so the message reacted to was tried first).
fn unsent_target(id: MessageId) -> StatusChange {
    StatusChange::Failed {
        id,
        error: MessageError {
            code: FailureCode::InvalidRequest,
            message: "The message reacted to was never sent, so there is nothing to react to."
                .into(),
        },
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
