//! Where an instance's engine events land. `emit` returns only after the event's effect is
//! committed, so an engine that acknowledges inbound traffic after `emit` never acknowledges
//! something that a crash could still lose.
//!
//! Inbound messages, contact reports and synced history are stored here, in the engine's task,
//! because they change nothing the actor owns (and many can commit at once); every other event
//! goes to the actor.

use std::sync::Arc;

use async_trait::async_trait;
use wagate_core::content::{Content, Reaction, Vote};
use wagate_core::engine::{
    EngineEvent, EventSink, InboundChange, InboundMessage, InboundReaction, InboundVote,
    NotRecorded,
};
use wagate_core::event::Event;
use wagate_core::group::GroupNotice;
use wagate_core::message::{Direction, Message, MessageStatus, Recipient};
use wagate_core::presence::ContactPresence;
use wagate_core::store::{Store, StoreError};
use wagate_core::{ChatId, MessageId, Timestamp};

use crate::runtime::handle::{Gone, InstanceHandle};

pub struct RuntimeSink {
    pub handle: InstanceHandle,
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl EventSink for RuntimeSink {
    #[tracing::instrument(name = "engine_event", skip_all, fields(instance = %self.handle.id))]
    async fn emit(&self, event: EngineEvent) -> Result<(), NotRecorded> {
        if self.handle.is_gone() {
            return Err(NotRecorded(Gone.to_string()));
        }
        // A node whose lease ran out stores nothing more for the instance: the network delivers
        // it again, to the node that holds the instance now.
        if !self.handle.tenure.holds() {
            return Err(NotRecorded("the lease on the instance ran out".into()));
        }
        // Reported to the engine, which then does not acknowledge the traffic: the network
        // delivers it again.
        match event {
            EngineEvent::Inbound(m) => self.inbound(m).await.map_err(|e| {
                tracing::error!(error = %e, "recording a received message failed");
                NotRecorded(e.to_string())
            }),
            EngineEvent::Reaction(r) => self.reaction(r).await.map_err(|e| {
                tracing::error!(error = %e, "recording a received reaction failed");
                NotRecorded(e.to_string())
            }),
            EngineEvent::PollVote(v) => self.vote(v).await.map_err(not_recorded("a poll vote")),
            EngineEvent::Changed(c) => self.changed(c).await.map_err(not_recorded("a change")),
            EngineEvent::Presence(p) => self.presence(p).await.map_err(not_recorded("a presence")),
            EngineEvent::Group(n) => self.group(n).await.map_err(not_recorded("a group notice")),
            EngineEvent::Contacts(reports) => self
                .store
                .report_contacts(&self.handle.id, &reports)
                .await
                .map_err(not_recorded("contact reports")),
            EngineEvent::Blocklist(blocked) => self
                .store
                .replace_blocklist(&self.handle.id, &blocked)
                .await
                .map_err(not_recorded("the blocklist")),
            EngineEvent::History(messages) => {
                let count = messages.len();
                match self.store.import_history(&self.handle.id, &messages).await {
                    Ok(new) => {
                        tracing::info!(synced = count, new, "history synced from the phone");
                        Ok(())
                    }
                    Err(e) => Err(not_recorded("synced history")(e)),
                }
            }
            other => self.handle.report(other).await,
        }
    }
}

/// Logs a failed write of `what` and reports it unrecorded.
fn not_recorded(what: &'static str) -> impl Fn(StoreError) -> NotRecorded {
    move |e| {
        tracing::error!(error = %e, "recording {what} failed");
        NotRecorded(e.to_string())
    }
}

impl RuntimeSink {
    /// A reaction is stored as a message of its sender (in its chat) and on the message it is
    /// about. One to a message wagate does not have (older than the link) is acknowledged and
    /// not kept: there is nothing to show it on.
    #[tracing::instrument(skip_all, fields(external_id = %r.external_id))]
    async fn reaction(&self, r: InboundReaction) -> Result<(), StoreError> {
        let Some(target) = self
            .store
            .find_external(&self.handle.id, &r.target_external_id)
            .await?
        else {
            tracing::info!(target = %r.target_external_id, "a reaction to an unknown message; not kept");
            return Ok(());
        };
        self.inbound(InboundMessage {
            external_id: r.external_id,
            from: Recipient::Phone(r.from),
            from_name: r.from_name,
            group: r.group,
            content: Content::Reaction(Reaction {
                message_id: target.id,
                emoji: r.emoji,
            }),
            mentions: Vec::new(),
            quoted_external_id: None,
            timestamp: r.timestamp,
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(poll = %v.poll_external_id))]
    async fn vote(&self, v: InboundVote) -> Result<(), StoreError> {
        let vote = Vote {
            voter: v.from.to_string(),
            options: v.selected_options,
            at: v.timestamp,
        };
        if self
            .store
            .record_vote(&self.handle.id, &v.poll_external_id, &vote)
            .await?
            .is_none()
        {
            tracing::info!("a vote on an unknown poll; not kept");
        }
        Ok(())
    }

    /// Written only for the targets that ask for `presence.updated` (the outbox's rule).
    #[tracing::instrument(skip_all, fields(state = p.state.as_str()))]
    async fn presence(&self, p: ContactPresence) -> Result<(), StoreError> {
        let Some(inst) = self.store.find_instance(&self.handle.id).await? else {
            return Ok(());
        };
        let event = Event::presence_updated(&inst.account_id, &inst.id, &p);
        self.store.record_event(&event).await
    }

    /// A group the instance is in changed (or it joined or left one): the stored group
    /// follows, with its `group.*` event.
    #[tracing::instrument(skip_all, fields(group = %n.group_id()))]
    async fn group(&self, n: GroupNotice) -> Result<(), StoreError> {
        let Some(inst) = self.store.find_instance(&self.handle.id).await? else {
            return Ok(());
        };
        self.store.record_group_notice(&inst, &n, None).await
    }

    /// An edit or delete of a message wagate does not have (older than the link) is acknowledged
    /// and not kept: there is nothing to change.
    #[tracing::instrument(skip_all, fields(target = %c.target_external_id, change = c.change.as_str()))]
    async fn changed(&self, c: InboundChange) -> Result<(), StoreError> {
        if self
            .store
            .apply_received_change(&self.handle.id, &c)
            .await?
            .is_none()
        {
            tracing::info!("a change of an unknown message, or seen before; not kept");
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(external_id = %m.external_id))]
    async fn inbound(&self, m: InboundMessage) -> Result<(), StoreError> {
        let Some(inst) = self.store.find_instance(&self.handle.id).await? else {
            return Ok(()); // deleted meanwhile
        };
        // In a group the chat is the group's, and the member who wrote is its author.
        let (peer, author) = match m.group {
            Some(g) => (g.recipient(), Some(m.from)),
            None => (m.from, None),
        };
        let auto_read = inst.settings.auto_read;
        let mut msg = Message {
            id: MessageId::generate(),
            account_id: inst.account_id.clone(),
            instance_id: inst.id.clone(),
            chat_id: ChatId::generate(),
            direction: Direction::Inbound,
            peer: peer.clone(),
            // A sender's name is theirs to choose, and PostgreSQL's `text` cannot hold NUL: a
            // refused row would be refused again at every redelivery, so the name is mended.
            peer_name: m.from_name.map(|n| n.replace('\0', "\u{FFFD}")),
            author,
            content: m.content,
            mentions: m.mentions,
            quoted_message_id: None,
            quoted_external_id: m.quoted_external_id,
            metadata: None,
            external_id: Some(m.external_id.clone()),
            status: if auto_read {
                MessageStatus::Read
            } else {
                MessageStatus::Delivered
            },
            error: None,
            created_at: Timestamp::now(),
            sent_at: None,
            delivered_at: Some(m.timestamp),
            read_at: auto_read.then(Timestamp::now),
            edited_at: None,
            reactions: Vec::new(),
            votes: Vec::new(),
        };
        let fresh = self.store.insert_inbound(&mut msg).await?;
        if fresh && auto_read {
            self.store.mark_chat_read(&inst.id, peer.as_str()).await?;
            self.handle.mark_read(peer, vec![m.external_id]);
        }
        Ok(())
    }
}
