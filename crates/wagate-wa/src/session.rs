//! `Session` on a running whatsapp-rust client: send (sent only on the server's ack), typing,
//! read marks, number checks, logout.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wagate_core::change::Change;
use wagate_core::contact::FetchedProfile;
use wagate_core::engine::{
    EngineError, EngineEvent, InboundCall, NumberCheck, OutboundChange, OutboundMessage,
    ProfileChange, SendError, Session,
};
use wagate_core::failure::FailureCode;
use wagate_core::group::{
    Group, GroupError, GroupId, GroupUpdate, NewGroup, ParticipantAction, ParticipantOutcome,
};
use wagate_core::message::{Content, Recipient};
use wagate_core::phone::PhoneNumber;
use wagate_core::presence::{ChatState, Presence, PresenceChange};
use whatsapp_rust::send::SendOptions;
use whatsapp_rust::{Client, Jid, RevokeType};

use crate::address::{jid_of, phone_of, wa_message_id};
use crate::convert::{contacts_message, location_message, quote, reaction_message, text_message};
use crate::shared::Shared;
use crate::{groups, media, polls};

/// How long a send waits for the server's ack before it counts as interrupted (it is then
/// resent under the same id, which WhatsApp deduplicates).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

pub struct WaSession {
    shared: Arc<Shared>,
    client: Arc<Client>,
}

impl WaSession {
    pub fn new(shared: Arc<Shared>, client: Arc<Client>) -> Self {
        Self { shared, client }
    }
}

fn interrupted(message: String) -> SendError {
    SendError {
        code: FailureCode::ConnectionLost,
        message,
        transient: true,
    }
}

fn permanent(code: FailureCode, message: String) -> SendError {
    SendError {
        code,
        message,
        transient: false,
    }
}

impl WaSession {
    /// Asks WhatsApp for a contact's presence once it has been written to, as WhatsApp Web does
    /// for an open chat: its `presence.updated` events follow.
    fn follow_presence(&self, to: &Recipient) {
        let Some(jid) = jid_of(to).filter(|_| matches!(to, Recipient::Phone(_))) else {
            return;
        };
        if self.shared.ask_presence_once(&jid.to_string()) {
            let client = self.client.clone();
            tokio::spawn(async move {
                if let Err(e) = client.presence().subscribe(jid).await {
                    tracing::debug!(error = %e, "subscribing to a contact's presence failed");
                }
            });
        }
    }
}

#[async_trait]
impl Session for WaSession {
    /// WhatsApp blocks by LID: the contact's mapping must be known (a number check or a
    /// message from it teaches it).
    async fn block(&self, phone: &PhoneNumber, blocked: bool) -> Result<(), EngineError> {
        let jid = Jid::pn(phone.as_str());
        let done = if blocked {
            self.client.blocking().block(&jid).await
        } else {
            self.client.blocking().unblock(&jid).await
        };
        done.map_err(|e| EngineError::Failed(e.to_string()))
    }

    async fn set_profile(&self, change: &ProfileChange) -> Result<(), EngineError> {
        let failed = |e: whatsapp_rust::features::ProfileError| EngineError::Failed(e.to_string());
        let profile = self.client.profile();
        if let Some(name) = &change.name {
            profile.set_push_name(name).await.map_err(failed)?;
            // Recorded as the instance's profileName before the answer goes out.
            let _ = self
                .shared
                .sink
                .emit(EngineEvent::OwnName(name.clone()))
                .await;
        }
        if let Some(about) = &change.about {
            profile.set_status_text(about).await.map_err(failed)?;
        }
        if let Some(picture) = &change.picture {
            profile
                .set_profile_picture(picture.bytes.to_vec())
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    async fn groups(&self) -> Result<Vec<Group>, GroupError> {
        groups::all(&self.client).await
    }

    async fn group(&self, id: &GroupId) -> Result<Group, GroupError> {
        groups::one(&self.client, id).await
    }

    async fn create_group(
        &self,
        group: &NewGroup,
    ) -> Result<(Group, Vec<ParticipantOutcome>), GroupError> {
        groups::create(&self.client, group).await
    }

    async fn update_group(&self, id: &GroupId, update: &GroupUpdate) -> Result<(), GroupError> {
        groups::update(&self.client, id, update).await
    }

    async fn change_participants(
        &self,
        id: &GroupId,
        action: ParticipantAction,
        phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantOutcome>, GroupError> {
        groups::change(&self.client, id, action, phones).await
    }

    async fn group_invite(&self, id: &GroupId, revoke: bool) -> Result<String, GroupError> {
        groups::invite(&self.client, id, revoke).await
    }

    async fn join_group(&self, code: &str) -> Result<GroupId, GroupError> {
        groups::join(&self.client, code).await
    }

    async fn leave_group(&self, id: &GroupId) -> Result<(), GroupError> {
        groups::leave(&self.client, id).await
    }

    async fn reject_call(&self, call: &InboundCall) -> Result<(), EngineError> {
        let (Ok(peer), Ok(creator)) = (call.reply_to.parse::<Jid>(), call.creator.parse::<Jid>())
        else {
            return Err(EngineError::Failed(
                "the call's addresses do not parse".into(),
            ));
        };
        self.client
            .voip()
            .reject_call(&call.call_id, &peer, &creator)
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))
    }

    /// Done once written to WhatsApp: whatsapp-rust gives an edit or revoke a stanza id of its
    /// own, so there is no ack to wait for.
    async fn change(&self, c: &OutboundChange) -> Result<(), SendError> {
        let to = jid_of(&c.to).ok_or_else(|| {
            permanent(
                FailureCode::InvalidRecipient,
                format!("{} is not a WhatsApp address.", c.to.as_str()),
            )
        })?;
        if !self.client.is_logged_in() {
            return Err(interrupted("Not connected to WhatsApp.".into()));
        }
        let id = c.target.external_id.clone();
        let sent = match &c.change {
            Change::Edit(text) => self
                .client
                .edit_message(to.clone(), id, text_message(text, None, &[], &to))
                .await
                .map(|_| ()),
            Change::Delete => self.client.revoke_message(to, id, RevokeType::Sender).await,
        };
        sent.map_err(|e| match e {
            whatsapp_rust::send::SendError::InvalidRequest(r) => permanent(
                FailureCode::InvalidRequest,
                format!("WhatsApp cannot change this message: {r}"),
            ),
            other => interrupted(format!("Sending the change to WhatsApp failed: {other}")),
        })
    }

    async fn send(&self, m: &OutboundMessage) -> Result<String, SendError> {
        let to = jid_of(&m.to).ok_or_else(|| {
            permanent(
                FailureCode::InvalidRecipient,
                format!("{} is not a WhatsApp address.", m.to.as_str()),
            )
        })?;
        let body = match &m.content {
            Content::Text(t) => text_message(t, m.quoted_external_id.as_deref(), &m.mentions, &to),
            Content::Media(media) => {
                if !self.client.is_logged_in() {
                    return Err(interrupted("Not connected to WhatsApp.".into()));
                }
                let context = quote(m.quoted_external_id.as_deref(), &to);
                media::outbound(&self.client, media, m.media.as_ref(), context).await?
            }
            Content::Location(l) => {
                location_message(l, quote(m.quoted_external_id.as_deref(), &to))
            }
            Content::Contacts(cards) => {
                contacts_message(cards, quote(m.quoted_external_id.as_deref(), &to))
            }
            Content::Reaction(r) => {
                let Some(target) = &m.target else {
                    return Err(permanent(
                        FailureCode::InvalidRequest,
                        "The message reacted to is not known to WhatsApp.".into(),
                    ));
                };
                reaction_message(&to, target, &r.emoji)
            }
            Content::Poll(p) => {
                let (message, secret) =
                    polls::creation_message(p, quote(m.quoted_external_id.as_deref(), &to));
                // Kept before sending: a vote may come back before the ack does.
                polls::remember(&self.shared, &wa_message_id(&m.id), p, secret)
                    .await
                    .map_err(|e| interrupted(format!("Keeping the poll's secret failed: {e}")))?;
                message
            }
            // The API accepts templates only for official instances; one that reached a
            // WhatsApp Web session (the instance was relinked meanwhile) cannot be sent.
            Content::Template(_) | Content::Unsupported(_) | Content::Deleted => {
                return Err(permanent(
                    FailureCode::UnsupportedContent,
                    format!(
                        "A {} message cannot be sent over WhatsApp Web.",
                        m.content.type_str()
                    ),
                ));
            }
        };
        if !self.client.is_logged_in() {
            return Err(interrupted("Not connected to WhatsApp.".into()));
        }
        let id = wa_message_id(&m.id);
        let ack = self.shared.expect_ack(&id);
        let options = SendOptions::default().with_message_id(id.clone());
        if let Err(e) = self
            .client
            .send_message_with_options(to, body, options)
            .await
        {
            self.shared.forget_ack(&id);
            return Err(match e {
                whatsapp_rust::send::SendError::InvalidRequest(r) => permanent(
                    FailureCode::InvalidRequest,
                    format!("WhatsApp cannot send this: {r}"),
                ),
                other => interrupted(format!("Sending to WhatsApp failed: {other}")),
            });
        }
        match tokio::time::timeout(ACK_TIMEOUT, ack).await {
            Ok(Ok(None)) => {
                self.follow_presence(&m.to);
                Ok(id)
            }
            Ok(Ok(Some(code))) => Err(permanent(
                // WhatsApp's nack codes are numbers; 0 stands for one that is not.
                FailureCode::WhatsappNack(code.parse().unwrap_or(0)),
                format!("WhatsApp refused the message (error {code})."),
            )),
            Ok(Err(_)) | Err(_) => {
                self.shared.forget_ack(&id);
                Err(interrupted(
                    "WhatsApp did not acknowledge the message in time.".into(),
                ))
            }
        }
    }

    async fn typing(&self, to: &Recipient) -> Result<(), EngineError> {
        let jid = jid_of(to).ok_or(EngineError::Failed("not a WhatsApp address".into()))?;
        self.client
            .chatstate()
            .send_composing(&jid)
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))
    }

    async fn presence(&self, change: &PresenceChange) -> Result<(), EngineError> {
        if !self.client.is_logged_in() {
            return Err(EngineError::NotConnected);
        }
        let failed = |e: String| EngineError::Failed(e);
        match change {
            PresenceChange::Own(Presence::Available) => self
                .client
                .presence()
                .set_available()
                .await
                .map_err(|e| failed(e.to_string())),
            PresenceChange::Own(Presence::Unavailable) => self
                .client
                .presence()
                .set_unavailable()
                .await
                .map_err(|e| failed(e.to_string())),
            PresenceChange::Chat { to, state } => {
                let jid = jid_of(to).ok_or(EngineError::Failed("not a WhatsApp address".into()))?;
                let chat = self.client.chatstate();
                match state {
                    ChatState::Composing => chat.send_composing(&jid).await,
                    ChatState::Recording => chat.send_recording(&jid).await,
                    ChatState::Paused => chat.send_paused(&jid).await,
                }
                .map_err(|e| failed(e.to_string()))
            }
        }
    }

    async fn mark_read(
        &self,
        from: &Recipient,
        external_ids: &[String],
    ) -> Result<(), EngineError> {
        let jid = jid_of(from).ok_or(EngineError::Failed("not a WhatsApp address".into()))?;
        let ids: Vec<&str> = external_ids.iter().map(String::as_str).collect();
        self.client
            .mark_as_read(&jid, None, &ids)
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))
    }

    async fn check_numbers(&self, phones: &[PhoneNumber]) -> Result<Vec<NumberCheck>, EngineError> {
        if !self.client.is_logged_in() {
            return Err(EngineError::NotConnected);
        }
        let jids: Vec<_> = phones
            .iter()
            .filter_map(|p| jid_of(&Recipient::Phone(p.clone())))
            .collect();
        let found = self
            .client
            .contacts()
            .is_on_whatsapp(&jids)
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))?;
        Ok(phones
            .iter()
            .map(|p| {
                let hit = found.iter().find(|r| {
                    r.is_registered
                        && (phone_of(&r.jid).as_ref() == Some(p)
                            || r.pn_jid.as_ref().and_then(phone_of).as_ref() == Some(p))
                });
                NumberCheck {
                    phone: p.clone(),
                    exists: hit.is_some(),
                    jid: hit.map(|_| format!("{p}@s.whatsapp.net")),
                }
            })
            .collect())
    }

    async fn contact_profile(
        &self,
        phone: &PhoneNumber,
    ) -> Result<Option<FetchedProfile>, EngineError> {
        let exists = self
            .check_numbers(std::slice::from_ref(phone))
            .await?
            .first()
            .is_some_and(|c| c.exists);
        if !exists {
            return Ok(None);
        }
        let failed = |e: &dyn std::fmt::Display| EngineError::Failed(e.to_string());
        let jid = whatsapp_rust::Jid::pn(phone.as_str());
        let contacts = self.client.contacts();
        // Keyed by the JID WhatsApp answered for (the number's, or its LID): one was asked.
        let info = contacts
            .get_user_info(std::slice::from_ref(&jid))
            .await
            .map_err(|e| failed(&e))?
            .into_values()
            .next();
        let picture = contacts
            .get_profile_picture(&jid, false)
            .await
            .map_err(|e| failed(&e))?;
        let is_blocked = self
            .client
            .blocking()
            .is_blocked(&jid)
            .await
            .map_err(|e| failed(&e))?;
        Ok(Some(FetchedProfile {
            about: info
                .as_ref()
                .and_then(|i| i.status.clone())
                .filter(|s| !s.is_empty()),
            profile_pic_url: picture.map(|p| p.url),
            is_business: info.is_some_and(|i| i.is_business),
            is_blocked,
        }))
    }

    async fn logout(&self) -> Result<(), EngineError> {
        self.client.logout().await;
        // Stop the bot first: its last flush would otherwise write the device back.
        self.shared.shutdown().await;
        self.shared
            .backend
            .wipe()
            .await
            .map_err(|e| EngineError::Failed(format!("wiping session state: {e}")))
    }

    async fn close(&self) {
        self.shared.shutdown().await;
    }
}
