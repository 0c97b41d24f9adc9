//! The actor's effect of each engine event, one function per event. Each returns once its
//! writes are committed: the engine acknowledges traffic only after that.

use wagate_core::Timestamp;
use wagate_core::engine::{EngineEvent, InboundCall};
use wagate_core::event::Event;
use wagate_core::failure::FailureCode;
use wagate_core::instance::{InstanceStatus, LastError};
use wagate_core::message::{Content, MessageError, MessageStatus, Recipient};
use wagate_core::phone::PhoneNumber;
use wagate_core::send::NewOutbound;
use wagate_core::status_change::StatusChange;
use wagate_core::store::{InsertMessageError, OutboundInsert, StoreError};

use super::InstanceActor;
use crate::runtime::command::Done;
use crate::runtime::qr::png_data_uri;

impl InstanceActor {
    pub(super) async fn on_engine_event(&mut self, event: EngineEvent, done: Done) {
        let result = match event {
            EngineEvent::Qr { code, expires_at } => self.on_qr(code, expires_at).await,
            EngineEvent::PairingCode { code, expires_at } => {
                self.on_pairing_code(code, expires_at).await
            }
            EngineEvent::Connected {
                phone,
                profile_name,
                session,
            } => self.on_connected(phone, profile_name, session).await,
            EngineEvent::Reconnecting { code, message } => {
                self.on_reconnecting(code, message).await
            }
            EngineEvent::LoggedOut { code, message } => self.on_logged_out(code, message).await,
            EngineEvent::Call(call) => self.on_call(call).await,
            EngineEvent::OwnName(name) => self.save(|s| s.profile_name = Some(name)).await,
            EngineEvent::Receipt {
                external_id,
                status,
                at,
            } => match self.receipt(external_id, status, at) {
                Some(change) => return self.apply_reported(change, done).await,
                None => Ok(()),
            },
            EngineEvent::SendFailed {
                external_id,
                code,
                message,
            } => {
                let change = StatusChange::FailedAfterSent {
                    instance: self.id.clone(),
                    external_id,
                    error: MessageError { code, message },
                };
                return self.apply_reported(change, done).await;
            }
            // The sink stores these itself; they change nothing the actor owns.
            EngineEvent::Inbound(_)
            | EngineEvent::Reaction(_)
            | EngineEvent::PollVote(_)
            | EngineEvent::Changed(_)
            | EngineEvent::Presence(_)
            | EngineEvent::Contacts(_)
            | EngineEvent::Blocklist(_)
            | EngineEvent::History(_)
            | EngineEvent::Group(_) => Ok(()),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "recording an engine event failed");
        }
        let _ = done.send(result);
    }

    /// The status is saved and the event committed before the code is shown, so whoever sees
    /// the code also sees `qr_pending`, and `instance.qr_updated` comes before
    /// `instance.connected`. The code is live a moment later, long before anyone could scan it.
    async fn on_qr(&mut self, code: String, expires_at: Timestamp) -> Result<(), StoreError> {
        let uri = png_data_uri(&code);
        let method = self.method;
        self.save(|s| {
            s.status = InstanceStatus::QrPending;
            s.connection_method = Some(method);
        })
        .await?;
        if let (Some(inst), Some(uri)) = (self.parts.store.find_instance(&self.id).await?, &uri) {
            let event = Event::qr_updated(&inst.account_id, &inst.id, uri, expires_at);
            self.parts.store.record_event(&event).await?;
        }
        self.live.send_modify(|l| {
            l.qr_raw = Some(code);
            l.qr_data_uri = uri;
            l.code_expires_at = Some(expires_at);
        });
        Ok(())
    }

    async fn on_pairing_code(
        &mut self,
        code: String,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let method = self.method;
        self.save(|s| {
            s.status = InstanceStatus::QrPending;
            s.connection_method = Some(method);
        })
        .await?;
        self.live.send_modify(|l| {
            l.pairing_code = Some(code);
            l.code_expires_at = Some(expires_at);
        });
        Ok(())
    }

    async fn on_connected(
        &mut self,
        phone: PhoneNumber,
        profile_name: Option<String>,
        session: String,
    ) -> Result<(), StoreError> {
        self.set_session(Some(&session)).await?;
        self.live.send_modify(|l| l.clear_codes());
        let method = self.method;
        self.save(|s| {
            s.status = InstanceStatus::Connected;
            s.phone = Some(phone);
            s.profile_name = profile_name;
            s.last_error = None;
            s.connection_method = Some(method);
            s.connected_at = Some(Timestamp::now());
        })
        .await?;
        // What was queued while disconnected goes out now.
        self.maybe_queued = true;
        Ok(())
    }

    async fn on_reconnecting(
        &mut self,
        code: FailureCode,
        message: String,
    ) -> Result<(), StoreError> {
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

    /// The session ended for good: its saved state is void, a code shown before (e.g. the last
    /// QR before `qr_timeout`) is dead, and what is queued fails.
    async fn on_logged_out(
        &mut self,
        code: FailureCode,
        message: String,
    ) -> Result<(), StoreError> {
        self.set_session(None).await?;
        self.session = None;
        self.live.send_modify(|l| l.clear_codes());
        self.save(|s| {
            s.status = InstanceStatus::Disconnected;
            s.phone = None;
            s.connected_at = None;
            s.last_error = Some(LastError {
                code,
                message,
                at: Timestamp::now(),
            });
        })
        .await?;
        self.end_pass().await;
        self.fail_queued(code, "The session ended before the message could be sent.")
            .await;
        Ok(())
    }

    /// A call rings: with `rejectCalls` the session declines it and the caller is sent
    /// `rejectCallMessage` (queued like any send); `call.received` reports it either way.
    async fn on_call(&mut self, call: InboundCall) -> Result<(), StoreError> {
        let Some(inst) = self.parts.store.find_instance(&self.id).await? else {
            return Ok(());
        };
        let rejected = match (&self.session, inst.settings.reject_calls) {
            (Some(session), true) => match session.reject_call(&call).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "rejecting a call failed");
                    false
                }
            },
            _ => false,
        };
        let event = Event::call_received(
            &inst.account_id,
            &inst.id,
            call.from.as_str(),
            call.is_video,
            rejected,
            call.timestamp,
        );
        self.parts.store.record_event(&event).await?;
        if rejected && let Some(text) = &inst.settings.reject_call_message {
            let send = NewOutbound {
                to: Recipient::Phone(call.from),
                content: Content::Text(text.as_str().to_owned()),
                mentions: Vec::new(),
                quoted_message_id: None,
                metadata: None,
            };
            let insert = OutboundInsert {
                message: send.of(&inst, Timestamp::now()),
                idempotency: None,
            };
            match self.parts.store.insert_outbound(insert).await {
                Ok(_) => self.maybe_queued = true,
                Err(InsertMessageError::Store(e)) => return Err(e),
                // There is no key to have been used.
                Err(InsertMessageError::IdempotencyKeyUsed(_)) => {}
            }
        }
        Ok(())
    }

    /// A recipient's receipt as a status change; only delivered and read come back from one.
    fn receipt(
        &self,
        external_id: String,
        status: MessageStatus,
        at: Timestamp,
    ) -> Option<StatusChange> {
        let instance = self.id.clone();
        match status {
            MessageStatus::Delivered => Some(StatusChange::Delivered {
                instance,
                external_id,
                at,
            }),
            MessageStatus::Read => Some(StatusChange::Read {
                instance,
                external_id,
                at,
            }),
            MessageStatus::Queued | MessageStatus::Sent | MessageStatus::Failed => None,
        }
    }
}
