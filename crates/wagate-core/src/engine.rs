//! The engine port: how the runtime drives a WhatsApp connection, whatever carries it (the
//! sandbox network, WhatsApp Web through whatsapp-rust, Meta's Cloud API).
//!
//! Commands go in through `Engine::connect` and the `Session` it returns; what happens on the
//! network comes out as `EngineEvent`s through an `EventSink`. The sink is async and the engine
//! awaits it: an engine that must acknowledge inbound traffic does so only after `emit` returned,
//! and by then the runtime has committed the message (nothing acknowledged is lost).

use async_trait::async_trait;
use thiserror::Error;

use crate::change::Change;
use crate::contact::{ContactReport, FetchedProfile};
use crate::failure::FailureCode;
use crate::group::{
    Group, GroupError, GroupId, GroupNotice, GroupUpdate, NewGroup, ParticipantAction,
    ParticipantOutcome,
};
use crate::history::HistoryMessage;
use crate::media::FetchedMedia;
use crate::message::{Content, MessageStatus, Recipient};
use crate::node::Tenure;
use crate::phone::PhoneNumber;
use crate::presence::{ContactPresence, PresenceChange};
use crate::{InstanceId, MessageId, Timestamp};

/// How a new device is linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMethod {
    /// Show QR codes to scan.
    Qr,
    /// Show an 8-character code to type on the phone with this number.
    PairingCode(PhoneNumber),
}

#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub instance_id: InstanceId,
    /// The session saved at the last `Connected`, to resume without linking again.
    pub session: Option<String>,
    pub link: LinkMethod,
    /// While this holds, the node may act for the instance (§19); an engine that keeps state
    /// writes none once it has ended.
    pub tenure: Tenure,
}

/// A message received from the network.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundMessage {
    /// The network's id, used to drop redeliveries.
    pub external_id: String,
    /// A phone number, or a LID when that is all the network gave (never a group: `group`).
    pub from: Recipient,
    pub from_name: Option<String>,
    /// The group it was written in, if any (then `from` is the member who wrote).
    pub group: Option<GroupId>,
    pub content: Content,
    /// The numbers it mentions.
    pub mentions: Vec<PhoneNumber>,
    /// The network's id of the message replied to.
    pub quoted_external_id: Option<String>,
    pub timestamp: Timestamp,
}

/// A reaction received: to the message the network knows as `target_external_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReaction {
    pub external_id: String,
    pub from: PhoneNumber,
    pub from_name: Option<String>,
    pub group: Option<GroupId>,
    pub target_external_id: String,
    /// Empty when the reaction was taken back.
    pub emoji: String,
    pub timestamp: Timestamp,
}

/// A vote on a poll (decrypted, for WhatsApp Web): the options chosen, by their text. It
/// replaces the voter's earlier vote; no options takes the vote back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundVote {
    pub poll_external_id: String,
    pub from: PhoneNumber,
    pub selected_options: Vec<String>,
    pub timestamp: Timestamp,
}

/// A call ringing the instance (WhatsApp's call offer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundCall {
    /// The network's id of the call, to reject it by.
    pub call_id: String,
    pub from: PhoneNumber,
    pub is_video: bool,
    /// The network's addresses a rejection must name: where the call came from, and who made
    /// it (they differ for a call from a companion device).
    pub reply_to: String,
    pub creator: String,
    pub timestamp: Timestamp,
}

/// An edit or delete for everyone, by the sender of the message the network knows as
/// `target_external_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundChange {
    /// The network's id of the change itself, used to drop redeliveries.
    pub external_id: String,
    pub from: PhoneNumber,
    pub target_external_id: String,
    pub change: Change,
    pub timestamp: Timestamp,
}

/// What `PATCH /v1/instances/{id}/profile` changes of the instance's own profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfileChange {
    /// The name contacts see (WhatsApp's push name).
    pub name: Option<String>,
    pub about: Option<String>,
    /// The picture, fetched from the URL given (JPEG or PNG).
    pub picture: Option<FetchedMedia>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A QR code to show; each new one replaces the last.
    Qr {
        code: String,
        expires_at: Timestamp,
    },
    /// A pairing code to type on the phone.
    PairingCode {
        code: String,
        expires_at: Timestamp,
    },
    /// Linked and online. `session` is what to save to resume later without linking.
    Connected {
        phone: PhoneNumber,
        profile_name: Option<String>,
        session: String,
    },
    /// The connection dropped; the engine is reconnecting by itself.
    Reconnecting {
        code: FailureCode,
        message: String,
    },
    /// The session ended for good (logged out, unlinked, banned): the saved session is void.
    LoggedOut {
        code: FailureCode,
        message: String,
    },
    Inbound(InboundMessage),
    Reaction(InboundReaction),
    PollVote(InboundVote),
    Changed(InboundChange),
    Call(InboundCall),
    /// A contact's presence or chat state (reported only to subscriptions that ask for it).
    Presence(ContactPresence),
    /// The instance's own name changed (it set a new one).
    OwnName(String),
    /// A group the instance is in changed, or the instance joined or left one.
    Group(GroupNotice),
    /// The recipient's device reported a sent message delivered or read.
    Receipt {
        external_id: String,
        status: MessageStatus,
        at: Timestamp,
    },
    /// What the network told about contacts (push names, about texts, names the phone synced).
    Contacts(Vec<ContactReport>),
    /// The numbers the account has blocked: all of them, so the others are not.
    Blocklist(Vec<PhoneNumber>),
    /// Messages the phone already had, synced at link time.
    History(Vec<HistoryMessage>),
    /// The network accepted a message but later reported it undeliverable (Meta's `failed`
    /// status webhook).
    SendFailed {
        external_id: String,
        code: FailureCode,
        message: String,
    },
}

/// The sink could not record an event. Whatever the event reports must not be acknowledged to
/// the network, which then delivers it again: that is how a failed write loses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the event was not recorded: {0}")]
pub struct NotRecorded(pub String);

/// Where an engine reports events. `emit` returns `Ok` once the event is committed.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    async fn emit(&self, event: EngineEvent) -> Result<(), NotRecorded>;
}

/// Media an engine downloaded from the network, to be kept for the account to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaBlob {
    pub bytes: Vec<u8>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("keeping media failed: {0}")]
pub struct MediaVaultError(pub String);

/// Where engines keep inbound media whose network URL the account cannot reach itself (Meta's
/// media URLs need the instance's access token).
#[async_trait]
pub trait MediaVault: Send + Sync + 'static {
    /// Keeps `blob` for the account owning `instance`; returns the URL to download it from.
    async fn keep(&self, instance: &InstanceId, blob: MediaBlob)
    -> Result<String, MediaVaultError>;
}

/// A message to send, already accepted and stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundMessage {
    pub id: MessageId,
    pub to: Recipient,
    pub content: Content,
    /// The numbers a text mentions.
    pub mentions: Vec<PhoneNumber>,
    /// The network id of the message replied to.
    pub quoted_external_id: Option<String>,
    /// The message a reaction is about, as the network knows it.
    pub target: Option<TargetMessage>,
    /// For media content: the bytes fetched from its URL, checked against §15.5 (the content
    /// keeps the URL, for engines that send by link).
    pub media: Option<FetchedMedia>,
}

/// An edit or delete of a message the instance sent, already accepted and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundChange {
    /// The chat of the message changed.
    pub to: Recipient,
    pub target: TargetMessage,
    pub change: Change,
}

/// A message another one refers to (a reaction's), as the network knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetMessage {
    pub external_id: String,
    /// Whether the instance sent it (WhatsApp keys a message by its sender).
    pub from_me: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}: {message}")]
pub struct SendError {
    /// The `error.code` the message fails with, e.g. `recipient_not_on_whatsapp`.
    pub code: FailureCode,
    pub message: String,
    /// True when trying again later may succeed (connection lost mid-send).
    pub transient: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EngineError {
    #[error("not connected")]
    NotConnected,
    /// The connection's network has no such thing (Meta's Cloud API has no contact profiles).
    #[error("not supported by this connection")]
    Unsupported,
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberCheck {
    pub phone: PhoneNumber,
    pub exists: bool,
    /// The WhatsApp address, when it exists.
    pub jid: Option<String>,
}

/// One live connection of one instance.
#[async_trait]
pub trait Session: Send + Sync {
    /// Sends and returns the network's id once the network accepted it (status `sent`).
    /// Receipts for the message may be emitted at any time, but from another task: the runtime
    /// applies them only after it has recorded the send, so awaiting one here would deadlock.
    async fn send(&self, message: &OutboundMessage) -> Result<String, SendError>;
    /// Edits or deletes for everyone a message the instance sent (§17.2).
    async fn change(&self, _change: &OutboundChange) -> Result<(), SendError> {
        Err(SendError {
            code: FailureCode::UnsupportedContent,
            message: "This connection cannot edit or delete messages.".into(),
            transient: false,
        })
    }
    /// Blocks (or unblocks) a contact.
    async fn block(&self, _phone: &PhoneNumber, _blocked: bool) -> Result<(), EngineError> {
        Err(EngineError::Unsupported)
    }
    /// Changes the instance's own name, about text or picture.
    async fn set_profile(&self, _change: &ProfileChange) -> Result<(), EngineError> {
        Err(EngineError::Unsupported)
    }
    /// The groups the instance is in.
    async fn groups(&self) -> Result<Vec<Group>, GroupError> {
        Err(EngineError::Unsupported.into())
    }
    /// One group the instance is in, as the network has it now.
    async fn group(&self, _id: &GroupId) -> Result<Group, GroupError> {
        Err(EngineError::Unsupported.into())
    }
    /// Creates a group with the instance as its owner; the outcome of each number asked for.
    async fn create_group(
        &self,
        _group: &NewGroup,
    ) -> Result<(Group, Vec<ParticipantOutcome>), GroupError> {
        Err(EngineError::Unsupported.into())
    }
    async fn update_group(&self, _id: &GroupId, _update: &GroupUpdate) -> Result<(), GroupError> {
        Err(EngineError::Unsupported.into())
    }
    /// Adds, removes, promotes or demotes members; the outcome of each number.
    async fn change_participants(
        &self,
        _id: &GroupId,
        _action: ParticipantAction,
        _phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantOutcome>, GroupError> {
        Err(EngineError::Unsupported.into())
    }
    /// The group's invite code; with `revoke`, a new one (the old one stops working).
    async fn group_invite(&self, _id: &GroupId, _revoke: bool) -> Result<String, GroupError> {
        Err(EngineError::Unsupported.into())
    }
    /// Joins the group an invite code is for.
    async fn join_group(&self, _code: &str) -> Result<GroupId, GroupError> {
        Err(EngineError::Unsupported.into())
    }
    async fn leave_group(&self, _id: &GroupId) -> Result<(), GroupError> {
        Err(EngineError::Unsupported.into())
    }
    /// Declines a ringing call.
    async fn reject_call(&self, _call: &InboundCall) -> Result<(), EngineError> {
        Err(EngineError::Unsupported)
    }
    /// Shows "typing…" to `to` (the runtime waits before sending).
    async fn typing(&self, to: &Recipient) -> Result<(), EngineError>;
    /// Marks received messages (by network id) as read.
    async fn mark_read(&self, from: &Recipient, external_ids: &[String])
    -> Result<(), EngineError>;
    async fn check_numbers(&self, phones: &[PhoneNumber]) -> Result<Vec<NumberCheck>, EngineError>;
    /// Asks the network for a contact's about text, picture, business flag and whether it is
    /// blocked; `None` when the number is not on WhatsApp.
    async fn contact_profile(
        &self,
        _phone: &PhoneNumber,
    ) -> Result<Option<FetchedProfile>, EngineError> {
        Err(EngineError::Unsupported)
    }
    /// Shows the instance online or offline, or a chat state in one chat.
    async fn presence(&self, _change: &PresenceChange) -> Result<(), EngineError> {
        Err(EngineError::Unsupported)
    }
    /// Unlinks the device; the saved session is void afterwards.
    async fn logout(&self) -> Result<(), EngineError>;
    /// Closes the connection, keeping the session for a later resume.
    async fn close(&self);
    /// Whether media must be fetched and handed over as bytes (to upload them). An engine that
    /// sends media by link (Meta's Cloud API fetches the URL itself) says no.
    fn fetches_media_itself(&self) -> bool {
        false
    }
}

#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Starts connecting; progress and the outcome arrive as events on `sink`.
    async fn connect(
        &self,
        request: ConnectRequest,
        sink: std::sync::Arc<dyn EventSink>,
    ) -> Result<Box<dyn Session>, EngineError>;
}
