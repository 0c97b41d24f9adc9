//! Where an instance's engine events land. `emit` returns only after the event's effect is
//! committed, so an engine that acknowledges inbound traffic after `emit` never acknowledges
//! something that a crash could still lose.

use std::sync::Arc;

use async_trait::async_trait;
use wagate_core::engine::{EngineEvent, EventSink, InboundMessage, NotRecorded};
use wagate_core::event::Event;
use wagate_core::instance::{ConnectionMethod, Instance, InstanceStatus, LastError};
use wagate_core::message::{Direction, Message, MessageError, MessageStatus, Recipient};
use wagate_core::status_change::StatusChange;
use wagate_core::store::{ConnectionState, Store, StoreError};
use wagate_core::{ChatId, MessageId, Timestamp};

use crate::runtime::instance::InstanceRuntime;
use crate::runtime::qr::png_data_uri;

pub struct RuntimeSink {
    pub runtime: Arc<InstanceRuntime>,
    pub store: Arc<dyn Store>,
    pub method: ConnectionMethod,
}

#[async_trait]
impl EventSink for RuntimeSink {
    async fn emit(&self, event: EngineEvent) -> Result<(), NotRecorded> {
        if self.runtime.is_stopped() {
            return Err(NotRecorded("the instance's connection was closed".into()));
        }
        // Reported to the engine, which then does not acknowledge the traffic: the network
        // delivers it again.
        self.apply(event).await.map_err(|e| {
            tracing::error!(instance = %self.runtime.id, error = %e, "recording an engine event failed");
            NotRecorded(e.to_string())
        })
    }
}

impl RuntimeSink {
    async fn instance(&self) -> Result<Option<Instance>, StoreError> {
        self.store.find_instance(&self.runtime.id).await
    }

    async fn save(&self, f: impl FnOnce(&mut ConnectionState)) -> Result<(), StoreError> {
        let Some(inst) = self.instance().await? else {
            return Ok(()); // deleted meanwhile
        };
        let mut state = ConnectionState::of(&inst);
        f(&mut state);
        state.last_seen_at = Some(Timestamp::now());
        self.store.save_connection(&inst.id, &state).await?;
        let status = state.status;
        self.runtime.update_live(|l| l.status = Some(status));
        Ok(())
    }

    async fn apply(&self, event: EngineEvent) -> Result<(), StoreError> {
        let method = self.method;
        match event {
            // The status is saved before the code is shown, so whoever sees the code also
            // sees `qr_pending`.
            EngineEvent::Qr { code, expires_at } => {
                let uri = png_data_uri(&code);
                self.save(|s| {
                    s.status = InstanceStatus::QrPending;
                    s.connection_method = Some(method);
                })
                .await?;
                // Announced, then shown: the event is committed before any answer of the API can
                // carry the code (so `instance.qr_updated` comes before `instance.connected`), and
                // the code is live a moment later, long before a webhook receiver could scan it.
                if let (Some(inst), Some(uri)) = (self.instance().await?, &uri) {
                    let event = Event::qr_updated(&inst.account_id, &inst.id, uri, expires_at);
                    self.store.record_event(&event).await?;
                }
                self.runtime.update_live(|l| {
                    l.qr_raw = Some(code);
                    l.qr_data_uri = uri;
                    l.code_expires_at = Some(expires_at);
                });
                Ok(())
            }
            EngineEvent::PairingCode { code, expires_at } => {
                self.save(|s| {
                    s.status = InstanceStatus::QrPending;
                    s.connection_method = Some(method);
                })
                .await?;
                self.runtime.update_live(|l| {
                    l.pairing_code = Some(code);
                    l.code_expires_at = Some(expires_at);
                });
                Ok(())
            }
            EngineEvent::Connected {
                phone,
                profile_name,
                session,
            } => {
                self.store
                    .set_session(&self.runtime.id, Some(&session))
                    .await?;
                self.runtime.update_live(|l| {
                    l.qr_raw = None;
                    l.qr_data_uri = None;
                    l.pairing_code = None;
                    l.code_expires_at = None;
                });
                self.save(|s| {
                    s.status = InstanceStatus::Connected;
                    s.phone = Some(phone);
                    s.profile_name = profile_name;
                    s.last_error = None;
                    s.connection_method = Some(method);
                    s.connected_at = Some(Timestamp::now());
                })
                .await
            }
            EngineEvent::Reconnecting { code, message } => {
                self.save(|s| {
                    s.status = InstanceStatus::Connecting;
                    s.last_error = Some(LastError {
                        code,
                        message,
                        at: Timestamp::now(),
                    });
                })
                .await
            }
            EngineEvent::LoggedOut { code, message } => {
                self.store.set_session(&self.runtime.id, None).await?;
                self.runtime.set_session(None);
                // A code shown before (e.g. the last QR before `qr_timeout`) is dead now.
                self.runtime.update_live(|l| {
                    l.qr_raw = None;
                    l.qr_data_uri = None;
                    l.pairing_code = None;
                    l.code_expires_at = None;
                });
                self.save(|s| {
                    s.status = InstanceStatus::Disconnected;
                    s.phone = None;
                    s.connected_at = None;
                    s.last_error = Some(LastError {
                        code: code.clone(),
                        message: message.clone(),
                        at: Timestamp::now(),
                    });
                })
                .await?;
                self.runtime
                    .fail_queued(&code, "The session ended before the message could be sent.")
                    .await;
                Ok(())
            }
            EngineEvent::Inbound(m) => self.inbound(m).await,
            EngineEvent::Receipt {
                external_id,
                status,
                at,
            } => {
                let instance = self.runtime.id.clone();
                let change = match status {
                    MessageStatus::Delivered => StatusChange::Delivered {
                        instance,
                        external_id,
                        at,
                    },
                    MessageStatus::Read => StatusChange::Read {
                        instance,
                        external_id,
                        at,
                    },
                    // Only delivered and read come back from a recipient.
                    MessageStatus::Queued | MessageStatus::Sent | MessageStatus::Failed => {
                        return Ok(());
                    }
                };
                self.runtime.apply_reported(change).await
            }
            EngineEvent::SendFailed {
                external_id,
                code,
                message,
            } => {
                let change = StatusChange::FailedAfterSent {
                    instance: self.runtime.id.clone(),
                    external_id,
                    error: MessageError { code, message },
                };
                self.runtime.apply_reported(change).await
            }
        }
    }

    async fn inbound(&self, m: InboundMessage) -> Result<(), StoreError> {
        let Some(inst) = self.instance().await? else {
            return Ok(());
        };
        let peer = match &m.group {
            Some(g) => Recipient::Group(g.clone()),
            None => Recipient::Phone(m.from.clone()),
        };
        let auto_read = inst.settings.auto_read;
        let mut msg = Message {
            id: MessageId::generate(),
            account_id: inst.account_id.clone(),
            instance_id: inst.id.clone(),
            chat_id: ChatId::generate(),
            direction: Direction::Inbound,
            peer: peer.clone(),
            peer_name: m.from_name.clone(),
            content: m.content,
            quoted_message_id: m.quoted_message_id,
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
        };
        let fresh = self.store.insert_inbound(&mut msg).await?;
        if fresh && auto_read {
            self.store.mark_chat_read(&inst.id, peer.as_str()).await?;
            if let Some(session) = self.runtime.session() {
                let _ = session.mark_read(&peer, &[m.external_id]).await;
            }
        }
        Ok(())
    }
}
