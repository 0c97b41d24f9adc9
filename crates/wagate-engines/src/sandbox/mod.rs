//! The sandbox network (§16): a simulated WhatsApp inside the process, for trying the API and for
//! tests, with no phone and no internet. Everything above the engine is the real code path.
//!
//! - A new link shows QR codes (rotating) or a pairing code; `scan` plays the phone.
//! - A message to the phone of another connected sandbox instance arrives there as inbound; it is
//!   `delivered` once the receiver committed it and `read` when the receiver marks it read.
//! - Every kind of message travels between instances as it is; a reaction arrives as a reaction
//!   to the receiver's copy of the message. Virtual contacts react and vote through
//!   `react` and `vote`, and edit or delete what they wrote through `change`; an instance's
//!   edits and deletes reach the other instance's copy. A virtual contact's `call` rings the
//!   instance, which may reject it.
//! - Any other number is a virtual contact that acknowledges: `delivered` after ~100 ms, `read`
//!   after ~1 s. Numbers beginning with 999 are not on WhatsApp. A virtual contact's profile has
//!   the about text `Sandbox contact` and no picture.
//! - `drop` cuts a connection (it comes back by itself); `unlink` logs the device out.
//! - Groups of instances and virtual contacts live in [`groups`].
//! - With several nodes, instances on different nodes reach each other through
//!   [`other_nodes`].

mod groups;
mod other_nodes;

pub use other_nodes::{Crossing, OtherNodes};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use wagate_core::change::Change;
use wagate_core::contact::FetchedProfile;
use wagate_core::engine::{
    ConnectRequest, Engine, EngineError, EngineEvent, EventSink, InboundCall, InboundChange,
    InboundMessage, InboundReaction, InboundVote, LinkMethod, NotRecorded, NumberCheck,
    OutboundChange, OutboundMessage, ProfileChange, SendError, Session,
};
use wagate_core::failure::FailureCode;
use wagate_core::group::{
    Group, GroupError, GroupId, GroupUpdate, NewGroup, ParticipantAction, ParticipantOutcome,
};
use wagate_core::message::{Content, MessageStatus, Recipient};
use wagate_core::phone::PhoneNumber;
use wagate_core::presence::{ContactPresence, ContactState, Presence, PresenceChange};
use wagate_core::sandbox_reach::{ConnectionClaim, Whereabouts};
use wagate_core::{InstanceId, Timestamp};

/// The about text of every virtual contact.
pub const VIRTUAL_ABOUT: &str = "Sandbox contact";

/// How long each QR code stays valid by default, and how many are shown before giving up.
pub const QR_TTL: Duration = Duration::from_secs(20);
const QR_ROUNDS: u32 = 6;
const PAIRING_TTL: Duration = Duration::from_secs(180);
const CONTACT_DELIVERED_AFTER: Duration = Duration::from_millis(100);
const CONTACT_READ_AFTER: Duration = Duration::from_millis(1000);
const RECONNECT_AFTER: Duration = Duration::from_millis(300);
/// How often a connection refused for another live one ("stream replaced") tries again.
const REPLACED_RETRY: Duration = Duration::from_secs(1);

/// What the sandbox saves as an instance's session: who it is linked as.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedSession {
    phone: String,
    profile_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SandboxError {
    #[error("unknown or expired code")]
    UnknownCode,
    #[error("no connected sandbox instance has phone {0}")]
    NoSuchPhone(String),
    #[error("the instance is not on the sandbox network")]
    NotOnNetwork,
    #[error("the contact or the instance is not in the group {0}")]
    NotInGroup(String),
    #[error(transparent)]
    NotRecorded(#[from] NotRecorded),
}

/// Reports a change the sandbox need not see recorded (it has nothing to deliver again); the
/// sink logs a failure.
async fn report(sink: &Arc<dyn EventSink>, event: EngineEvent) {
    let _ = sink.emit(event).await;
}

struct Link {
    instance: InstanceId,
    expires_at: Timestamp,
}

/// One instance's presence on the network.
struct Device {
    sink: Arc<dyn EventSink>,
    /// Bumped on every connect/close/unlink, so stale background tasks know to stop.
    generation: u64,
    linked: Option<SavedSession>,
    online: bool,
}

#[derive(Default)]
struct Net {
    /// Every number linked to a sandbox instance, online or not. A message to one of these is
    /// never taken for a virtual contact's: it waits (in the sender's queue) for the device.
    directory: HashSet<String>,
    links: HashMap<String, Link>,
    devices: HashMap<InstanceId, Device>,
    next_generation: u64,
    /// Calls an instance declined, by call id, until the caller asks.
    rejected_calls: HashSet<String>,
    /// The numbers each instance blocked.
    blocked: HashSet<(InstanceId, String)>,
    groups: HashMap<GroupId, groups::NetGroup>,
}

impl Net {
    fn online_by_phone(&self, phone: &str) -> Option<(InstanceId, Arc<dyn EventSink>)> {
        self.devices.iter().find_map(|(id, d)| {
            let linked = d.linked.as_ref()?;
            (d.online && linked.phone == phone).then(|| (id.clone(), d.sink.clone()))
        })
    }
}

/// What a virtual contact writes (`SandboxNetwork::inject`).
pub struct Injected {
    pub from: PhoneNumber,
    pub from_name: Option<String>,
    /// The group it writes in, if any.
    pub group: Option<GroupId>,
    pub content: Content,
    pub mentions: Vec<PhoneNumber>,
    pub quoted_external_id: Option<String>,
}

/// What bringing a device online came to.
enum Attempt {
    Online(Arc<dyn EventSink>),
    /// Refused: another live connection of the session (on that node), or the record failed.
    Refused(Arc<dyn EventSink>, Option<wagate_core::node::NodeId>),
    /// The device was closed or linked anew meanwhile.
    Gone,
}

/// The whole simulated network. One per server; cheap to clone.
#[derive(Clone)]
pub struct SandboxNetwork {
    net: Arc<Mutex<Net>>,
    qr_ttl: Duration,
    /// The rest of the network on other nodes, when the server has any (`reach`).
    others: Arc<OnceLock<Arc<dyn OtherNodes>>>,
}

impl Default for SandboxNetwork {
    fn default() -> Self {
        Self::with_qr_ttl(QR_TTL)
    }
}

fn random_code(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

impl SandboxNetwork {
    pub fn new() -> Self {
        Self::default()
    }

    /// A network whose QR codes each last `qr_ttl` (tests shorten it to watch them rotate).
    pub fn with_qr_ttl(qr_ttl: Duration) -> Self {
        Self {
            net: Arc::default(),
            qr_ttl,
            others: Arc::default(),
        }
    }

    /// Spans the network over other nodes (§19): from now on connections are recorded there,
    /// and what is not found here is looked for there.
    pub fn reach(&self, others: Arc<dyn OtherNodes>) {
        let _ = self.others.set(others);
    }

    /// The device of `id` is gone from this node: so is its connection's record.
    async fn released(&self, id: &InstanceId) {
        if let Some(others) = self.others.get() {
            others.release(id).await;
        }
    }

    /// Where the instance linked as `phone` is on the other nodes: `None` when there are none,
    /// or it is no instance's number. Asked whenever a number is not an instance's here, even
    /// with no other node live at the last look: a node may have started since, and a number
    /// taken for a virtual contact by mistake would swallow what is sent to it.
    async fn elsewhere(&self, phone: &str) -> Result<Option<Whereabouts>, SendError> {
        let Some(others) = self.others.get() else {
            return Ok(None);
        };
        let found = others
            .whereabouts(&PhoneNumber::from_trusted(phone.to_owned()))
            .await
            .map_err(|e| SendError {
                code: FailureCode::RecipientUnavailable,
                message: format!("Could not find {phone} on the sandbox network: {e}."),
                transient: true,
            })?;
        Ok(match found {
            Whereabouts::Nowhere => None,
            // Recorded on this node but not online here: between connections.
            Whereabouts::Connected { node, .. } if others.is_me(&node) => {
                Some(Whereabouts::Offline)
            }
            w => Some(w),
        })
    }

    /// Gives the events `make` makes (given the time) to the instance linked as `phone` on
    /// another node, if it is connected there; in the background, as a phone's receipts and
    /// chat states go (nobody waits on them).
    fn elsewhere_in_background(
        &self,
        phone: &str,
        make: impl FnOnce(Timestamp) -> Vec<EngineEvent>,
    ) {
        if self.others.get().is_none() {
            return;
        }
        let events = make(Timestamp::now());
        let (net, phone) = (self.clone(), phone.to_owned());
        tokio::spawn(async move {
            let Ok(Some(Whereabouts::Connected { instance, node })) = net.elsewhere(&phone).await
            else {
                return;
            };
            for event in events {
                if let Err(e) = net.hand(&node, &instance, &event).await {
                    tracing::debug!(error = %e, "a receipt or chat state did not reach the other node");
                }
            }
        });
    }

    /// Gives `event` to `instance`'s device on `node`.
    async fn hand(
        &self,
        node: &wagate_core::node::NodeId,
        instance: &InstanceId,
        event: &EngineEvent,
    ) -> Result<(), NotRecorded> {
        let (Some(others), Some(crossing)) = (self.others.get(), Crossing::of(event)) else {
            return Err(NotRecorded("not reachable from this node".into()));
        };
        others.hand(node, instance, crossing).await
    }

    /// What another node handed to `instance`'s device here: given to it if it is online on
    /// this node, else refused (the sender keeps it and tries again).
    pub async fn take(&self, instance: &InstanceId, crossing: Crossing) -> Result<(), NotRecorded> {
        let sink = {
            let net = self.lock();
            match net.devices.get(instance) {
                Some(d) if d.online && d.linked.is_some() => d.sink.clone(),
                _ => {
                    return Err(NotRecorded(
                        "the instance is not connected on this node".into(),
                    ));
                }
            }
        };
        sink.emit(crossing.into_event().map_err(NotRecorded)?).await
    }

    /// Brings a linked device online (generation `generation`) and reports it connected. Its
    /// connection is first recorded for the other nodes, where a live connection of the same
    /// session elsewhere refuses it: that is reported ("stream replaced"), and it tries again
    /// every `REPLACED_RETRY` until it is taken or the device is closed.
    async fn come_online(
        &self,
        id: InstanceId,
        generation: u64,
        session: SavedSession,
    ) -> Result<(), NotRecorded> {
        match self.try_online(&id, generation).await {
            Attempt::Online(sink) => sink.emit(connected_event(&session)).await,
            Attempt::Gone => Ok(()),
            Attempt::Refused(sink, holder) => {
                if let Some(node) = holder {
                    tracing::error!(instance = %id, %node, "a second connection of a linked sandbox session was refused");
                    report(
                        &sink,
                        EngineEvent::Reconnecting {
                            code: FailureCode::StreamReplaced,
                            message: format!(
                                "Another connection of this linked session is live on node {node}; this one was refused."
                            ),
                        },
                    )
                    .await;
                }
                let net = self.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(REPLACED_RETRY).await;
                        match net.try_online(&id, generation).await {
                            Attempt::Online(sink) => {
                                return report(&sink, connected_event(&session)).await;
                            }
                            Attempt::Gone => return,
                            Attempt::Refused(..) => {}
                        }
                    }
                });
                Ok(())
            }
        }
    }

    async fn try_online(&self, id: &InstanceId, generation: u64) -> Attempt {
        let claim = match self.others.get() {
            Some(o) => o.claim(id).await,
            None => Ok(ConnectionClaim::Taken),
        };
        let attempt = {
            let mut net = self.lock();
            match net.devices.get_mut(id) {
                Some(d) if d.generation == generation && d.linked.is_some() => match claim {
                    Ok(ConnectionClaim::Taken) => {
                        d.online = true;
                        Attempt::Online(d.sink.clone())
                    }
                    Ok(ConnectionClaim::LiveOn(node)) => {
                        Attempt::Refused(d.sink.clone(), Some(node))
                    }
                    Err(e) => {
                        tracing::warn!(instance = %id, error = %e, "could not record a sandbox connection");
                        Attempt::Refused(d.sink.clone(), None)
                    }
                },
                _ => Attempt::Gone,
            }
        };
        // Closed meanwhile: the record just made must not outlive it (unless the instance
        // connected again here since, whose own record it now is).
        if matches!(attempt, Attempt::Gone) && !self.lock().devices.contains_key(id) {
            self.released(id).await;
        }
        attempt
    }

    fn lock(&self) -> MutexGuard<'_, Net> {
        self.net.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The phone scans a QR code (or types a pairing code): the instance that showed it is linked
    /// as `phone`. Returns once the instance has recorded the connection.
    pub async fn scan(
        &self,
        code: &str,
        phone: PhoneNumber,
        profile_name: Option<String>,
    ) -> Result<InstanceId, SandboxError> {
        let (instance, generation, session) = {
            let mut net = self.lock();
            let link = net.links.remove(code).ok_or(SandboxError::UnknownCode)?;
            if link.expires_at < Timestamp::now() {
                return Err(SandboxError::UnknownCode);
            }
            // A code is for one scan: the instance's other codes die with it.
            net.links.retain(|_, l| l.instance != link.instance);
            let device = net
                .devices
                .get_mut(&link.instance)
                .ok_or(SandboxError::UnknownCode)?;
            let session = SavedSession {
                phone: phone.to_string(),
                profile_name: profile_name.clone(),
            };
            device.linked = Some(session.clone());
            let generation = device.generation;
            net.directory.insert(session.phone.clone());
            (link.instance, generation, session)
        };
        self.come_online(instance.clone(), generation, session)
            .await?;
        Ok(instance)
    }

    /// A virtual contact `from` writes to the connected instance whose phone is `to`, or in
    /// `group` (then every member instance online gets it). Returns the network id of the
    /// message once the instance linked as `to` has stored it.
    pub async fn inject(
        &self,
        to: &PhoneNumber,
        message: Injected,
    ) -> Result<String, SandboxError> {
        let external_id = new_external_id();
        let Injected {
            from,
            from_name,
            group,
            content,
            mentions,
            quoted_external_id,
        } = message;
        let event = EngineEvent::Inbound(InboundMessage {
            external_id: external_id.clone(),
            from: Recipient::Phone(from.clone()),
            from_name,
            group: group.clone(),
            content,
            mentions,
            quoted_external_id,
            timestamp: Timestamp::now(),
        });
        self.hand_over(to, group, &from, event).await?;
        Ok(external_id)
    }

    /// Hands what virtual contact `from` did to the instance linked as `to`, alone or in
    /// `group` (then to the group's other member instances too).
    async fn hand_over(
        &self,
        to: &PhoneNumber,
        group: Option<GroupId>,
        from: &PhoneNumber,
        event: EngineEvent,
    ) -> Result<(), SandboxError> {
        match group {
            Some(id) => self.inject_in_group(to, &id, from, event).await,
            None => Ok(self.sink_of(to)?.emit(event).await?),
        }
    }

    /// A virtual contact `from` reacts to the message the instance linked as `to` has as
    /// `target_external_id` (an empty emoji takes the reaction back), alone or in `group`.
    pub async fn react(
        &self,
        to: &PhoneNumber,
        from: PhoneNumber,
        group: Option<GroupId>,
        target_external_id: String,
        emoji: String,
    ) -> Result<String, SandboxError> {
        let external_id = new_external_id();
        let event = EngineEvent::Reaction(InboundReaction {
            external_id: external_id.clone(),
            from: from.clone(),
            from_name: None,
            group: group.clone(),
            target_external_id,
            emoji,
            timestamp: Timestamp::now(),
        });
        self.hand_over(to, group, &from, event).await?;
        Ok(external_id)
    }

    /// A virtual contact `from` votes `options` on the poll the instance linked as `to` sent
    /// as `poll_external_id`.
    pub async fn vote(
        &self,
        to: &PhoneNumber,
        from: PhoneNumber,
        poll_external_id: String,
        selected_options: Vec<String>,
    ) -> Result<(), SandboxError> {
        let sink = self.sink_of(to)?;
        sink.emit(EngineEvent::PollVote(InboundVote {
            poll_external_id,
            from,
            selected_options,
            timestamp: Timestamp::now(),
        }))
        .await?;
        Ok(())
    }

    /// A virtual contact `from` edits or deletes for everyone its message that the instance
    /// linked as `to` has as `target_external_id`.
    pub async fn change(
        &self,
        to: &PhoneNumber,
        from: PhoneNumber,
        target_external_id: String,
        change: Change,
    ) -> Result<(), SandboxError> {
        let sink = self.sink_of(to)?;
        sink.emit(EngineEvent::Changed(InboundChange {
            external_id: new_external_id(),
            from,
            target_external_id,
            change,
            timestamp: Timestamp::now(),
        }))
        .await?;
        Ok(())
    }

    /// A virtual contact `from` shows `state` to the instance linked as `to`.
    pub async fn presence(
        &self,
        to: &PhoneNumber,
        from: PhoneNumber,
        state: ContactState,
    ) -> Result<(), SandboxError> {
        let sink = self.sink_of(to)?;
        sink.emit(EngineEvent::Presence(contact_presence(from, state)))
            .await?;
        Ok(())
    }

    /// A virtual contact `from` calls the instance linked as `to`; returns the call's id and
    /// whether the instance rejected it.
    pub async fn call(
        &self,
        to: &PhoneNumber,
        from: PhoneNumber,
        is_video: bool,
    ) -> Result<(String, bool), SandboxError> {
        let sink = self.sink_of(to)?;
        let call_id = new_external_id();
        sink.emit(EngineEvent::Call(InboundCall {
            call_id: call_id.clone(),
            reply_to: from.to_string(),
            creator: from.to_string(),
            from,
            is_video,
            timestamp: Timestamp::now(),
        }))
        .await?;
        let rejected = self.lock().rejected_calls.remove(&call_id);
        Ok((call_id, rejected))
    }

    fn sink_of(&self, phone: &PhoneNumber) -> Result<Arc<dyn EventSink>, SandboxError> {
        self.lock()
            .online_by_phone(phone.as_str())
            .map(|(_, sink)| sink)
            .ok_or_else(|| SandboxError::NoSuchPhone(phone.to_string()))
    }

    /// Cuts the instance's connection; it reconnects by itself shortly after.
    pub async fn drop_connection(&self, id: &InstanceId) -> Result<(), SandboxError> {
        let (sink, generation, session) = {
            let mut net = self.lock();
            let device = net.devices.get_mut(id).ok_or(SandboxError::NotOnNetwork)?;
            let session = device.linked.clone().ok_or(SandboxError::NotOnNetwork)?;
            device.online = false;
            (device.sink.clone(), device.generation, session)
        };
        report(
            &sink,
            EngineEvent::Reconnecting {
                code: FailureCode::ConnectionLost,
                message: "The connection to the sandbox network dropped; reconnecting.".into(),
            },
        )
        .await;
        let net = self.clone();
        let id = id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RECONNECT_AFTER).await;
            let sink = {
                let mut guard = net.lock();
                match guard.devices.get_mut(&id) {
                    Some(d) if d.generation == generation && d.linked.is_some() => {
                        d.online = true;
                        d.sink.clone()
                    }
                    _ => return,
                }
            };
            report(&sink, connected_event(&session)).await;
        });
        Ok(())
    }

    /// The phone removes the linked device: the instance is logged out for good.
    pub async fn unlink(&self, id: &InstanceId) -> Result<(), SandboxError> {
        let sink = {
            let mut net = self.lock();
            let device = net.devices.get_mut(id).ok_or(SandboxError::NotOnNetwork)?;
            let linked = device.linked.take().ok_or(SandboxError::NotOnNetwork)?;
            device.online = false;
            device.generation += 1;
            let sink = device.sink.clone();
            net.directory.remove(&linked.phone);
            sink
        };
        self.released(id).await;
        report(
            &sink,
            EngineEvent::LoggedOut {
                code: FailureCode::LoggedOut,
                message: "The device was unlinked from the phone.".into(),
            },
        )
        .await;
        Ok(())
    }

    fn start_linking(
        &self,
        id: InstanceId,
        link: LinkMethod,
        generation: u64,
        sink: Arc<dyn EventSink>,
    ) {
        let net = self.clone();
        let qr_ttl = self.qr_ttl;
        tokio::spawn(async move {
            let rounds = if matches!(link, LinkMethod::Qr) {
                QR_ROUNDS
            } else {
                1
            };
            for _ in 0..rounds {
                let (code, ttl, event) = match &link {
                    LinkMethod::Qr => {
                        let code = format!(
                            "2@{},{}",
                            random_code(
                                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                                64
                            ),
                            id.ulid_part()
                        );
                        let expires_at = Timestamp::now().plus_millis(qr_ttl.as_millis() as i64);
                        (code.clone(), qr_ttl, EngineEvent::Qr { code, expires_at })
                    }
                    LinkMethod::PairingCode(_) => {
                        let code = random_code(b"ABCDEFGHJKLMNPQRSTVWXYZ23456789", 8);
                        let expires_at =
                            Timestamp::now().plus_millis(PAIRING_TTL.as_millis() as i64);
                        (
                            code.clone(),
                            PAIRING_TTL,
                            EngineEvent::PairingCode { code, expires_at },
                        )
                    }
                };
                {
                    let mut guard = net.lock();
                    match guard.devices.get(&id) {
                        Some(d) if d.generation == generation && d.linked.is_none() => {}
                        _ => return, // linked, closed or reconnected meanwhile
                    }
                    let expires_at = Timestamp::now().plus_millis(ttl.as_millis() as i64);
                    guard.links.insert(
                        code,
                        Link {
                            instance: id.clone(),
                            expires_at,
                        },
                    );
                }
                report(&sink, event).await;
                tokio::time::sleep(ttl).await;
            }
            let still_waiting = {
                let mut guard = net.lock();
                guard.links.retain(|_, l| l.instance != id);
                matches!(guard.devices.get(&id), Some(d) if d.generation == generation && d.linked.is_none())
            };
            if still_waiting {
                report(
                    &sink,
                    EngineEvent::LoggedOut {
                        code: FailureCode::QrTimeout,
                        message: "No phone linked the device in time.".into(),
                    },
                )
                .await;
            }
        });
    }
}

/// The id a virtual contact's phone gives what it sends.
fn new_external_id() -> String {
    format!("sbx_{}", ulid::Ulid::new().to_string().to_lowercase())
}

fn connected_event(s: &SavedSession) -> EngineEvent {
    EngineEvent::Connected {
        phone: PhoneNumber::from_trusted(s.phone.clone()),
        profile_name: s.profile_name.clone(),
        session: serde_json::to_string(s).unwrap_or_default(),
    }
}

#[async_trait]
impl Engine for SandboxNetwork {
    async fn connect(
        &self,
        req: ConnectRequest,
        sink: Arc<dyn EventSink>,
    ) -> Result<Box<dyn Session>, EngineError> {
        let saved = req
            .session
            .as_deref()
            .map(serde_json::from_str::<SavedSession>)
            .transpose()
            .map_err(|e| EngineError::Failed(format!("unreadable sandbox session: {e}")))?;
        let generation = {
            let mut net = self.lock();
            net.next_generation += 1;
            let generation = net.next_generation;
            net.links.retain(|_, l| l.instance != req.instance_id);
            // A session linked on another node (§19) is a linked number here too.
            if let Some(s) = &saved {
                net.directory.insert(s.phone.clone());
            }
            net.devices.insert(
                req.instance_id.clone(),
                Device {
                    sink: sink.clone(),
                    generation,
                    // With other nodes, online once its connection is recorded (`come_online`).
                    online: saved.is_some() && self.others.get().is_none(),
                    linked: saved.clone(),
                },
            );
            generation
        };
        match saved {
            Some(s) if self.others.get().is_some() => {
                let (net, id) = (self.clone(), req.instance_id.clone());
                tokio::spawn(async move {
                    if let Err(e) = net.come_online(id, generation, s).await {
                        tracing::warn!(error = %e, "the sandbox connection was not recorded");
                    }
                });
            }
            Some(s) => {
                let sink = sink.clone();
                tokio::spawn(async move { report(&sink, connected_event(&s)).await });
            }
            None => self.start_linking(req.instance_id.clone(), req.link, generation, sink),
        }
        Ok(Box::new(SandboxSession {
            net: self.clone(),
            id: req.instance_id,
            generation,
        }))
    }
}

struct SandboxSession {
    net: SandboxNetwork,
    id: InstanceId,
    generation: u64,
}

impl SandboxSession {
    /// This session's device, if it is still the current, online one.
    fn me(&self) -> Result<String, SendError> {
        let net = self.net.lock();
        match net.devices.get(&self.id) {
            Some(d) if d.generation == self.generation => match (&d.linked, d.online) {
                (Some(s), true) => Ok(s.phone.clone()),
                _ => Err(SendError {
                    code: FailureCode::ConnectionLost,
                    message: "Not connected to the sandbox network.".into(),
                    transient: true,
                }),
            },
            _ => Err(SendError {
                code: FailureCode::ConnectionLost,
                message: "Not connected to the sandbox network.".into(),
                transient: true,
            }),
        }
    }
}

/// What another sandbox instance receives of `m`, sent by `from` (in `group`, if any): the
/// message, or the reaction to its copy of the target (both keep the sender's id).
fn received_copy(m: &OutboundMessage, from: PhoneNumber, group: Option<GroupId>) -> EngineEvent {
    let external_id = m.id.to_string();
    match (&m.content, &m.target) {
        (Content::Reaction(r), Some(target)) => EngineEvent::Reaction(InboundReaction {
            external_id,
            from,
            from_name: None,
            group,
            target_external_id: target.external_id.clone(),
            emoji: r.emoji.clone(),
            timestamp: Timestamp::now(),
        }),
        _ => EngineEvent::Inbound(InboundMessage {
            external_id,
            from: Recipient::Phone(from),
            from_name: None,
            group,
            content: m.content.clone(),
            mentions: m.mentions.clone(),
            quoted_external_id: m.quoted_external_id.clone(),
            timestamp: Timestamp::now(),
        }),
    }
}

/// The receiving instance did not record it: the message stays queued at the sender.
fn not_taken(e: NotRecorded) -> SendError {
    SendError {
        code: FailureCode::RecipientUnavailable,
        message: format!("The receiving sandbox instance did not take it: {e}."),
        transient: true,
    }
}

/// Another instance has the message: the sender hears it was delivered.
fn delivered_to(sink: Arc<dyn EventSink>, external_id: String) {
    tokio::spawn(async move {
        report(
            &sink,
            EngineEvent::Receipt {
                external_id,
                status: MessageStatus::Delivered,
                at: Timestamp::now(),
            },
        )
        .await;
    });
}

/// What a phone shows; going offline tells when it was last seen.
fn contact_presence(from: PhoneNumber, state: ContactState) -> ContactPresence {
    let last_seen = (state == ContactState::Online(Presence::Unavailable)).then(Timestamp::now);
    ContactPresence {
        from,
        state,
        last_seen,
    }
}

fn not_on_whatsapp(phone: &str) -> bool {
    phone.starts_with("999")
}

#[async_trait]
impl Session for SandboxSession {
    async fn send(&self, m: &OutboundMessage) -> Result<String, SendError> {
        let my_phone = self.me()?;
        // Like WhatsApp Web, the sandbox needs the file itself, not a link to it.
        if matches!(m.content, Content::Media(_)) && m.media.is_none() {
            return Err(SendError {
                code: FailureCode::MediaFetchFailed,
                message: "The media was not fetched before sending.".into(),
                transient: false,
            });
        }
        if let Recipient::Group(id) = &m.to {
            let me = PhoneNumber::from_trusted(my_phone);
            return self
                .send_to_group(m, &GroupId::from_trusted(id.clone()), me)
                .await;
        }
        let to = m.to.as_str().to_owned();
        if not_on_whatsapp(&to) {
            return Err(SendError {
                code: FailureCode::RecipientNotOnWhatsapp,
                message: format!("{to} is not on WhatsApp."),
                transient: false,
            });
        }
        let external_id = m.id.to_string();
        let (my_sink, peer, linked) = {
            let net = self.net.lock();
            let my_sink = net.devices.get(&self.id).map(|d| d.sink.clone());
            (
                my_sink,
                net.online_by_phone(&to),
                net.directory.contains(&to),
            )
        };
        let offline = || SendError {
            code: FailureCode::RecipientOffline,
            message: format!("The sandbox device {to} is offline; the message waits for it."),
            transient: true,
        };
        if peer.is_none() && linked {
            return Err(offline());
        }
        let Some(my_sink) = my_sink else {
            return Err(SendError {
                code: FailureCode::ConnectionLost,
                message: "Not connected to the sandbox network.".into(),
                transient: true,
            });
        };
        if peer.is_none() {
            match self.net.elsewhere(&to).await? {
                Some(Whereabouts::Connected { instance, node }) => {
                    let event = received_copy(m, PhoneNumber::from_trusted(my_phone), None);
                    self.net
                        .hand(&node, &instance, &event)
                        .await
                        .map_err(not_taken)?;
                    delivered_to(my_sink, external_id.clone());
                    return Ok(external_id);
                }
                Some(_) => return Err(offline()),
                None => {}
            }
        }
        let ext = external_id.clone();
        match peer {
            // Another sandbox instance: delivered in send order (the receiver has committed it
            // when `emit` returns), then reported delivered to the sender.
            Some((_, peer_sink)) => {
                let from = PhoneNumber::from_trusted(my_phone);
                let event = received_copy(m, from, None);
                // Not recorded by the receiver: the message stays queued at the sender.
                peer_sink.emit(event).await.map_err(not_taken)?;
                delivered_to(my_sink, ext);
            }
            // A virtual contact that acknowledges by itself.
            None => {
                tokio::spawn(async move {
                    tokio::time::sleep(CONTACT_DELIVERED_AFTER).await;
                    report(
                        &my_sink,
                        EngineEvent::Receipt {
                            external_id: ext.clone(),
                            status: MessageStatus::Delivered,
                            at: Timestamp::now(),
                        },
                    )
                    .await;
                    tokio::time::sleep(CONTACT_READ_AFTER - CONTACT_DELIVERED_AFTER).await;
                    report(
                        &my_sink,
                        EngineEvent::Receipt {
                            external_id: ext,
                            status: MessageStatus::Read,
                            at: Timestamp::now(),
                        },
                    )
                    .await;
                });
            }
        }
        Ok(external_id)
    }

    /// Another sandbox instance gets the change on its copy (the same external id); a virtual
    /// contact takes it silently.
    async fn change(&self, c: &OutboundChange) -> Result<(), SendError> {
        let my_phone = self.me()?;
        let event = EngineEvent::Changed(InboundChange {
            external_id: new_external_id(),
            from: PhoneNumber::from_trusted(my_phone),
            target_external_id: c.target.external_id.clone(),
            change: c.change.clone(),
            timestamp: Timestamp::now(),
        });
        let unavailable = |e: NotRecorded| SendError {
            code: FailureCode::RecipientUnavailable,
            message: format!("The receiving sandbox instance did not take it: {e}."),
            transient: true,
        };
        if let Recipient::Group(id) = &c.to {
            for sink in self.group_peers(&GroupId::from_trusted(id.clone())) {
                sink.emit(event.clone()).await.map_err(unavailable)?;
            }
            return Ok(());
        }
        let to = c.to.as_str();
        let (peer, linked) = {
            let net = self.net.lock();
            (net.online_by_phone(to), net.directory.contains(to))
        };
        let offline = || SendError {
            code: FailureCode::RecipientOffline,
            message: format!("The sandbox device {to} is offline; the change waits for it."),
            transient: true,
        };
        match peer {
            Some((_, sink)) => sink.emit(event).await.map_err(unavailable),
            None if linked => Err(offline()),
            None => match self.net.elsewhere(to).await? {
                Some(Whereabouts::Connected { instance, node }) => self
                    .net
                    .hand(&node, &instance, &event)
                    .await
                    .map_err(unavailable),
                Some(_) => Err(offline()),
                None => Ok(()),
            },
        }
    }

    async fn block(&self, phone: &PhoneNumber, blocked: bool) -> Result<(), EngineError> {
        self.me().map_err(|_| EngineError::NotConnected)?;
        let key = (self.id.clone(), phone.to_string());
        let mut net = self.net.lock();
        if blocked {
            net.blocked.insert(key);
        } else {
            net.blocked.remove(&key);
        }
        Ok(())
    }

    /// The sandbox keeps the new name (it is the linked session's from now on) and reports it.
    async fn set_profile(&self, change: &ProfileChange) -> Result<(), EngineError> {
        self.me().map_err(|_| EngineError::NotConnected)?;
        let Some(name) = &change.name else {
            return Ok(());
        };
        let sink = {
            let mut net = self.net.lock();
            let device = net.devices.get_mut(&self.id);
            device.map(|d| {
                if let Some(s) = d.linked.as_mut() {
                    s.profile_name = Some(name.clone());
                }
                d.sink.clone()
            })
        };
        if let Some(sink) = sink {
            report(&sink, EngineEvent::OwnName(name.clone())).await;
        }
        Ok(())
    }

    async fn groups(&self) -> Result<Vec<Group>, GroupError> {
        self.my_groups()
    }

    async fn group(&self, id: &GroupId) -> Result<Group, GroupError> {
        self.my_group(id)
    }

    async fn create_group(
        &self,
        group: &NewGroup,
    ) -> Result<(Group, Vec<ParticipantOutcome>), GroupError> {
        self.create(group).await
    }

    async fn update_group(&self, id: &GroupId, update: &GroupUpdate) -> Result<(), GroupError> {
        self.update(id, update).await
    }

    async fn change_participants(
        &self,
        id: &GroupId,
        action: ParticipantAction,
        phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantOutcome>, GroupError> {
        self.participants(id, action, phones).await
    }

    async fn group_invite(&self, id: &GroupId, revoke: bool) -> Result<String, GroupError> {
        self.invite(id, revoke)
    }

    async fn join_group(&self, code: &str) -> Result<GroupId, GroupError> {
        self.join(code).await
    }

    async fn leave_group(&self, id: &GroupId) -> Result<(), GroupError> {
        self.leave(id).await
    }

    async fn reject_call(&self, call: &InboundCall) -> Result<(), EngineError> {
        self.me().map_err(|_| EngineError::NotConnected)?;
        self.net.lock().rejected_calls.insert(call.call_id.clone());
        Ok(())
    }

    async fn typing(&self, _to: &Recipient) -> Result<(), EngineError> {
        self.me().map(|_| ()).map_err(|_| EngineError::NotConnected)
    }

    async fn mark_read(
        &self,
        from: &Recipient,
        external_ids: &[String],
    ) -> Result<(), EngineError> {
        self.me().map_err(|_| EngineError::NotConnected)?;
        // Read receipts travel back to a sender that is itself a sandbox instance; in a group,
        // to every member instance (only the one that sent a message has it as its own).
        let peers = match from {
            Recipient::Group(id) => self.group_peers(&GroupId::from_trusted(id.clone())),
            _ => Vec::from_iter(
                self.net
                    .lock()
                    .online_by_phone(from.as_str())
                    .map(|(_, sink)| sink),
            ),
        };
        if peers.is_empty() && !matches!(from, Recipient::Group(_)) {
            self.net.elsewhere_in_background(from.as_str(), |at| {
                external_ids
                    .iter()
                    .map(|external_id| EngineEvent::Receipt {
                        external_id: external_id.clone(),
                        status: MessageStatus::Read,
                        at,
                    })
                    .collect()
            });
        }
        for sink in peers {
            let ids = external_ids.to_vec();
            tokio::spawn(async move {
                for external_id in ids {
                    report(
                        &sink,
                        EngineEvent::Receipt {
                            external_id,
                            status: MessageStatus::Read,
                            at: Timestamp::now(),
                        },
                    )
                    .await;
                }
            });
        }
        Ok(())
    }

    async fn check_numbers(&self, phones: &[PhoneNumber]) -> Result<Vec<NumberCheck>, EngineError> {
        self.me().map_err(|_| EngineError::NotConnected)?;
        Ok(phones
            .iter()
            .map(|p| {
                let exists = !not_on_whatsapp(p.as_str());
                NumberCheck {
                    phone: p.clone(),
                    exists,
                    jid: exists.then(|| format!("{p}@s.whatsapp.net")),
                }
            })
            .collect())
    }

    async fn contact_profile(
        &self,
        phone: &PhoneNumber,
    ) -> Result<Option<FetchedProfile>, EngineError> {
        self.me().map_err(|_| EngineError::NotConnected)?;
        if not_on_whatsapp(phone.as_str()) {
            return Ok(None);
        }
        // Another sandbox instance is a person with no about text; anyone else is virtual.
        let (here, is_blocked) = {
            let net = self.net.lock();
            (
                net.directory.contains(phone.as_str()),
                net.blocked.contains(&(self.id.clone(), phone.to_string())),
            )
        };
        let is_instance = here
            || self
                .net
                .elsewhere(phone.as_str())
                .await
                .map_err(|e| EngineError::Failed(e.message))?
                .is_some();
        Ok(Some(FetchedProfile {
            about: (!is_instance).then(|| VIRTUAL_ABOUT.to_owned()),
            is_blocked,
            ..FetchedProfile::default()
        }))
    }

    /// A chat state reaches another sandbox instance's chat (as `presence.updated`); virtual
    /// contacts see nothing.
    async fn presence(&self, change: &PresenceChange) -> Result<(), EngineError> {
        let me = self.me().map_err(|_| EngineError::NotConnected)?;
        if let PresenceChange::Chat { to, state } = change {
            let shown =
                contact_presence(PhoneNumber::from_trusted(me), ContactState::InChat(*state));
            let here = self.net.lock().online_by_phone(to.as_str());
            match here {
                Some((_, sink)) => {
                    tokio::spawn(async move { report(&sink, EngineEvent::Presence(shown)).await });
                }
                None => self
                    .net
                    .elsewhere_in_background(to.as_str(), |_| vec![EngineEvent::Presence(shown)]),
            }
        }
        Ok(())
    }

    async fn logout(&self) -> Result<(), EngineError> {
        {
            let mut net = self.net.lock();
            net.links.retain(|_, l| l.instance != self.id);
            if let Some(phone) = net
                .devices
                .remove(&self.id)
                .and_then(|d| d.linked)
                .map(|s| s.phone)
            {
                net.directory.remove(&phone);
            }
        }
        self.net.released(&self.id).await;
        Ok(())
    }

    async fn close(&self) {
        let closed = {
            let mut net = self.net.lock();
            net.links.retain(|_, l| l.instance != self.id);
            let current = net
                .devices
                .get(&self.id)
                .is_some_and(|d| d.generation == self.generation);
            if current {
                net.devices.remove(&self.id);
            }
            current
        };
        if closed {
            self.net.released(&self.id).await;
        }
    }
}

impl SandboxNetwork {
    /// Records a saved session's number as linked, before its instance reconnects (at start-up,
    /// so that instances resuming first do not mistake it for a virtual contact).
    pub fn remember(&self, session: &str) {
        if let Ok(s) = serde_json::from_str::<SavedSession>(session) {
            self.lock().directory.insert(s.phone);
        }
    }

    /// The connected instance linked as `phone`.
    pub fn instance_with_phone(&self, phone: &PhoneNumber) -> Option<InstanceId> {
        self.lock()
            .online_by_phone(phone.as_str())
            .map(|(id, _)| id)
    }
}
