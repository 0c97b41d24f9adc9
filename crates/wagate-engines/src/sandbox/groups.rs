//! Groups on the sandbox network (§17.5, §18): groups of its instances and virtual contacts,
//! kept by the network as WhatsApp's servers keep them. What one member does reaches the
//! other members that are instances online at that moment (as `EngineEvent::Group`, and their
//! messages as inbound ones in the group); a virtual member acknowledges a group message as it
//! does a direct one. An instance offline at that moment misses it (WhatsApp would keep it).

use std::sync::Arc;

use wagate_core::Timestamp;
use wagate_core::engine::{EngineError, EngineEvent, EventSink, OutboundMessage, SendError};
use wagate_core::failure::FailureCode;
use wagate_core::group::{
    Group, GroupError, GroupId, GroupNotice, GroupUpdate, NewGroup, Participant, ParticipantAction,
    ParticipantOutcome, ParticipantRefusal, Role,
};
use wagate_core::message::MessageStatus;
use wagate_core::phone::PhoneNumber;

use super::{
    CONTACT_DELIVERED_AFTER, CONTACT_READ_AFTER, Net, SandboxError, SandboxNetwork, SandboxSession,
    not_on_whatsapp, random_code, received_copy, report,
};

/// A group as the network keeps it: the group, and the code that joins it.
pub(super) struct NetGroup {
    group: Group,
    invite: String,
}

/// Events to hand to members' sinks once the network's lock is released.
type Deliveries = Vec<(Arc<dyn EventSink>, EngineEvent)>;

async fn deliver(deliveries: Deliveries) {
    for (sink, event) in deliveries {
        report(&sink, event).await;
    }
}

fn new_group_id() -> GroupId {
    GroupId::from_trusted(format!("120363{}@g.us", random_code(b"0123456789", 12)))
}

fn new_invite() -> String {
    random_code(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        22,
    )
}

fn member(phone: &PhoneNumber, role: Role) -> Participant {
    Participant {
        phone: phone.clone(),
        role,
    }
}

impl Net {
    /// The sinks of the group's members that are instances online now, but `except`'s.
    fn member_sinks(&self, group: &Group, except: &PhoneNumber) -> Vec<Arc<dyn EventSink>> {
        group
            .participants
            .iter()
            .filter(|p| &p.phone != except)
            .filter_map(|p| self.online_by_phone(p.phone.as_str()))
            .map(|(_, sink)| sink)
            .collect()
    }

    /// `notice` for every member instance of `group` online now, but `except`.
    fn notify(&self, group: &Group, except: &PhoneNumber, notice: GroupNotice) -> Deliveries {
        let event = EngineEvent::Group(notice);
        self.member_sinks(group, except)
            .into_iter()
            .map(|sink| (sink, event.clone()))
            .collect()
    }

    fn insert_group(&mut self, group: Group) {
        let invite = new_invite();
        self.groups
            .insert(group.id.clone(), NetGroup { group, invite });
    }

    /// `me`'s group `id`: not found unless `me` is in it.
    fn group_of(&mut self, id: &GroupId, me: &PhoneNumber) -> Result<&mut NetGroup, GroupError> {
        self.groups
            .get_mut(id)
            .filter(|g| g.group.role_of(me).is_some())
            .ok_or(GroupError::NotFound)
    }

    /// `me`'s group `id`, when `me` is one of its admins.
    fn admin_group(&mut self, id: &GroupId, me: &PhoneNumber) -> Result<&mut NetGroup, GroupError> {
        let g = self.group_of(id, me)?;
        if !g.group.is_admin(me) {
            return Err(GroupError::NotAdmin);
        }
        Ok(g)
    }
}

impl SandboxNetwork {
    /// A virtual contact `from` creates a group with the connected instance linked as `to`
    /// (and `others`) in it; the instance is told it joined (`group.joined`).
    pub async fn contact_creates_group(
        &self,
        to: &PhoneNumber,
        from: PhoneNumber,
        subject: String,
        others: Vec<PhoneNumber>,
    ) -> Result<Group, SandboxError> {
        let (group, deliveries) = {
            let mut net = self.lock();
            if net.online_by_phone(to.as_str()).is_none() {
                return Err(SandboxError::NoSuchPhone(to.to_string()));
            }
            let mut participants = vec![member(&from, Role::Superadmin), member(to, Role::Member)];
            for p in others {
                if !participants.iter().any(|m| m.phone == p) && !not_on_whatsapp(p.as_str()) {
                    participants.push(member(&p, Role::Member));
                }
            }
            let group = Group {
                id: new_group_id(),
                subject,
                description: None,
                owner: Some(from.clone()),
                participants,
                announce: false,
                locked: false,
                created_at: Timestamp::now(),
            };
            let deliveries = net.notify(&group, &from, GroupNotice::Joined(group.clone()));
            net.insert_group(group.clone());
            (group, deliveries)
        };
        deliver(deliveries).await;
        Ok(group)
    }

    /// A virtual contact `from` writes `event` in group `id`: the member instance linked as
    /// `to` has stored it when this returns, and every other member instance online gets it.
    pub(super) async fn inject_in_group(
        &self,
        to: &PhoneNumber,
        id: &GroupId,
        from: &PhoneNumber,
        event: EngineEvent,
    ) -> Result<(), SandboxError> {
        let (target, others) = {
            let net = self.lock();
            let group = net
                .groups
                .get(id)
                .map(|g| &g.group)
                .filter(|g| g.role_of(from).is_some() && g.role_of(to).is_some())
                .ok_or_else(|| SandboxError::NotInGroup(id.to_string()))?;
            let Some((_, target)) = net.online_by_phone(to.as_str()) else {
                return Err(SandboxError::NoSuchPhone(to.to_string()));
            };
            let others: Deliveries = net
                .member_sinks(group, from)
                .into_iter()
                .filter(|s| !Arc::ptr_eq(s, &target))
                .map(|s| (s, event.clone()))
                .collect();
            (target, others)
        };
        target.emit(event).await?;
        deliver(others).await;
        Ok(())
    }

    /// The group `id` as the network has it (tests look at what the other members see).
    pub fn group(&self, id: &GroupId) -> Option<Group> {
        self.lock().groups.get(id).map(|g| g.group.clone())
    }
}

fn not_connected(_: SendError) -> GroupError {
    GroupError::Engine(EngineError::NotConnected)
}

impl SandboxSession {
    fn my_phone(&self) -> Result<PhoneNumber, GroupError> {
        self.me()
            .map(PhoneNumber::from_trusted)
            .map_err(not_connected)
    }

    pub(super) fn my_groups(&self) -> Result<Vec<Group>, GroupError> {
        let me = self.my_phone()?;
        let net = self.net.lock();
        let mut groups: Vec<Group> = net
            .groups
            .values()
            .filter(|g| g.group.role_of(&me).is_some())
            .map(|g| g.group.clone())
            .collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(groups)
    }

    pub(super) fn my_group(&self, id: &GroupId) -> Result<Group, GroupError> {
        let me = self.my_phone()?;
        Ok(self.net.lock().group_of(id, &me)?.group.clone())
    }

    pub(super) async fn create(
        &self,
        new: &NewGroup,
    ) -> Result<(Group, Vec<ParticipantOutcome>), GroupError> {
        let me = self.my_phone()?;
        let (group, outcomes, deliveries) = {
            let mut net = self.net.lock();
            let mut participants = vec![member(&me, Role::Superadmin)];
            let mut outcomes = Vec::with_capacity(new.participants.len());
            for p in &new.participants {
                let refused = if not_on_whatsapp(p.as_str()) {
                    Some(ParticipantRefusal::NotOnWhatsapp)
                } else if participants.iter().any(|m| &m.phone == p) {
                    Some(ParticipantRefusal::AlreadyParticipant)
                } else {
                    participants.push(member(p, Role::Member));
                    None
                };
                outcomes.push(ParticipantOutcome {
                    phone: p.to_string(),
                    refused,
                });
            }
            let group = Group {
                id: new_group_id(),
                subject: new.subject.as_str().to_owned(),
                description: new.description.clone(),
                owner: Some(me.clone()),
                participants,
                announce: false,
                locked: false,
                created_at: Timestamp::now(),
            };
            let deliveries = net.notify(&group, &me, GroupNotice::Joined(group.clone()));
            net.insert_group(group.clone());
            (group, outcomes, deliveries)
        };
        deliver(deliveries).await;
        Ok((group, outcomes))
    }

    pub(super) async fn update(
        &self,
        id: &GroupId,
        update: &GroupUpdate,
    ) -> Result<(), GroupError> {
        let me = self.my_phone()?;
        let deliveries = {
            let mut net = self.net.lock();
            let g = net.group_of(id, &me)?;
            if update.needs_admin(&g.group) && !g.group.is_admin(&me) {
                return Err(GroupError::NotAdmin);
            }
            g.group.apply_update(update);
            let group = g.group.clone();
            let notice = GroupNotice::Updated {
                group: id.clone(),
                changes: update.clone(),
                by: Some(me.clone()),
            };
            net.notify(&group, &me, notice)
        };
        deliver(deliveries).await;
        Ok(())
    }

    pub(super) async fn participants(
        &self,
        id: &GroupId,
        action: ParticipantAction,
        phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantOutcome>, GroupError> {
        let me = self.my_phone()?;
        let (outcomes, deliveries) = {
            let mut net = self.net.lock();
            let g = net.admin_group(id, &me)?;
            let mut done: Vec<PhoneNumber> = Vec::new();
            let mut outcomes = Vec::with_capacity(phones.len());
            for p in phones {
                let role = g.group.role_of(p);
                let refused = match action {
                    ParticipantAction::Add if not_on_whatsapp(p.as_str()) => {
                        Some(ParticipantRefusal::NotOnWhatsapp)
                    }
                    ParticipantAction::Add if role.is_some() || done.contains(p) => {
                        Some(ParticipantRefusal::AlreadyParticipant)
                    }
                    ParticipantAction::Add => None,
                    _ if role.is_none() => Some(ParticipantRefusal::NotParticipant),
                    // The owner is neither removed nor demoted by others.
                    _ if role == Some(Role::Superadmin) => Some(ParticipantRefusal::Refused),
                    _ => None,
                };
                if refused.is_none() {
                    done.push(p.clone());
                }
                outcomes.push(ParticipantOutcome {
                    phone: p.to_string(),
                    refused,
                });
            }
            if done.is_empty() {
                return Ok(outcomes);
            }
            let before = g.group.clone();
            g.group.apply_participants(action, &done);
            let after = g.group.clone();
            let changed = GroupNotice::Participants {
                group: id.clone(),
                action,
                participants: done.clone(),
                by: Some(me.clone()),
            };
            // Who was in it before hears of the change (the removed too); who was added
            // hears it joined.
            let mut deliveries = net.notify(&before, &me, changed);
            if action == ParticipantAction::Add {
                let joined = EngineEvent::Group(GroupNotice::Joined(after));
                deliveries.extend(
                    done.iter()
                        .filter_map(|p| net.online_by_phone(p.as_str()))
                        .map(|(_, s)| (s, joined.clone())),
                );
            }
            (outcomes, deliveries)
        };
        deliver(deliveries).await;
        Ok(outcomes)
    }

    pub(super) fn invite(&self, id: &GroupId, revoke: bool) -> Result<String, GroupError> {
        let me = self.my_phone()?;
        let mut net = self.net.lock();
        let g = net.admin_group(id, &me)?;
        if revoke {
            g.invite = new_invite();
        }
        Ok(g.invite.clone())
    }

    pub(super) async fn join(&self, code: &str) -> Result<GroupId, GroupError> {
        let me = self.my_phone()?;
        let (id, deliveries) = {
            let mut net = self.net.lock();
            let g = net
                .groups
                .values_mut()
                .find(|g| g.invite == code)
                .ok_or(GroupError::NotFound)?;
            if g.group.role_of(&me).is_some() {
                return Ok(g.group.id.clone());
            }
            g.group
                .apply_participants(ParticipantAction::Add, std::slice::from_ref(&me));
            let group = g.group.clone();
            let notice = GroupNotice::Participants {
                group: group.id.clone(),
                action: ParticipantAction::Add,
                participants: vec![me.clone()],
                by: Some(me.clone()),
            };
            let deliveries = net.notify(&group, &me, notice);
            (group.id, deliveries)
        };
        deliver(deliveries).await;
        Ok(id)
    }

    pub(super) async fn leave(&self, id: &GroupId) -> Result<(), GroupError> {
        let me = self.my_phone()?;
        let deliveries = {
            let mut net = self.net.lock();
            let g = net.group_of(id, &me)?;
            g.group
                .apply_participants(ParticipantAction::Remove, std::slice::from_ref(&me));
            let group = g.group.clone();
            if group.participants.is_empty() {
                net.groups.remove(id);
            }
            let notice = GroupNotice::Participants {
                group: id.clone(),
                action: ParticipantAction::Remove,
                participants: vec![me.clone()],
                by: Some(me.clone()),
            };
            net.notify(&group, &me, notice)
        };
        deliver(deliveries).await;
        Ok(())
    }

    /// A message to group `id`: every other member instance online stores it (in send
    /// order: each has committed it when `emit` returns); delivered at the first member's
    /// receipt, and read when a virtual member reads it.
    pub(super) async fn send_to_group(
        &self,
        m: &OutboundMessage,
        id: &GroupId,
        me: PhoneNumber,
    ) -> Result<String, SendError> {
        let refused = |code, message: String| SendError {
            code,
            message,
            transient: false,
        };
        let (my_sink, peers, virtual_members) = {
            let net = self.net.lock();
            let Some(my_sink) = net.devices.get(&self.id).map(|d| d.sink.clone()) else {
                return Err(SendError {
                    code: FailureCode::ConnectionLost,
                    message: "Not connected to the sandbox network.".into(),
                    transient: true,
                });
            };
            let (group, role) = net
                .groups
                .get(id)
                .and_then(|g| Some((&g.group, g.group.role_of(&me)?)))
                .ok_or_else(|| {
                    refused(
                        FailureCode::NotGroupMember,
                        format!("The instance is not in the group {id}."),
                    )
                })?;
            if group.announce && !role.is_admin() {
                return Err(refused(
                    FailureCode::GroupAdminsOnly,
                    "Only the group's admins may send in it.".into(),
                ));
            }
            let virtual_members = group
                .participants
                .iter()
                .any(|p| p.phone != me && !net.directory.contains(p.phone.as_str()));
            (my_sink, net.member_sinks(group, &me), virtual_members)
        };
        let external_id = m.id.to_string();
        let event = received_copy(m, me.clone(), Some(id.clone()));
        // A member that did not take it makes the send fail for now; when it is tried again,
        // the members that had it drop the repeat by its id.
        let delivered = !peers.is_empty();
        for peer in peers {
            peer.emit(event.clone()).await.map_err(|e| SendError {
                code: FailureCode::RecipientUnavailable,
                message: format!("A member's sandbox instance did not take it: {e}."),
                transient: true,
            })?;
        }
        let ext = external_id.clone();
        tokio::spawn(async move {
            let receipt = |status| EngineEvent::Receipt {
                external_id: ext.clone(),
                status,
                at: Timestamp::now(),
            };
            if delivered {
                report(&my_sink, receipt(MessageStatus::Delivered)).await;
            }
            if virtual_members {
                tokio::time::sleep(CONTACT_DELIVERED_AFTER).await;
                if !delivered {
                    report(&my_sink, receipt(MessageStatus::Delivered)).await;
                }
                tokio::time::sleep(CONTACT_READ_AFTER - CONTACT_DELIVERED_AFTER).await;
                report(&my_sink, receipt(MessageStatus::Read)).await;
            }
        });
        Ok(external_id)
    }

    /// The online member instances of group `id` but this one (for changes and read receipts).
    pub(super) fn group_peers(&self, id: &GroupId) -> Vec<Arc<dyn EventSink>> {
        let Ok(me) = self.my_phone() else {
            return Vec::new();
        };
        let net = self.net.lock();
        net.groups
            .get(id)
            .map(|g| net.member_sinks(&g.group, &me))
            .unwrap_or_default()
    }
}
