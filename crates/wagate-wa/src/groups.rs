//! Groups on whatsapp-rust (`client.groups()`): WhatsApp's group metadata as wagate's `Group`,
//! each operation's answers as per-number outcomes, its refusals as `GroupError`, and the
//! network's `w:gp2` notifications as `GroupNotice`s.

use std::collections::HashSet;

use wagate_core::Timestamp;
use wagate_core::engine::EngineError;
use wagate_core::group::{
    Group, GroupError, GroupId, GroupNotice, GroupUpdate, NewGroup, Participant, ParticipantAction,
    ParticipantOutcome, ParticipantRefusal, Role,
};
use wagate_core::phone::PhoneNumber;
use whatsapp_rust::features::{
    GroupCreateOptions, GroupDescription, GroupError as WaGroupError, GroupMetadata,
    GroupParticipantOptions, GroupSubject, ParticipantChangeResponse, ParticipantType,
    PreviousDescription,
};
use whatsapp_rust::types::events::GroupUpdate as WaGroupUpdate;
use whatsapp_rust::wacore::stanza::groups::{GroupNotificationAction, GroupParticipantInfo};
use whatsapp_rust::{Client, IqError, Jid};

use crate::address::phone_of;
use crate::driver::phone_for;

/// How WhatsApp refuses: 404 for a group one is not in (or an unknown or revoked invite), 403
/// or 401 for a member doing an admin's work.
fn refused(e: WaGroupError) -> GroupError {
    match e {
        WaGroupError::Iq(IqError::ServerError {
            code: 404 | 406 | 410,
            ..
        }) => GroupError::NotFound,
        WaGroupError::Iq(IqError::ServerError {
            code: 401 | 403, ..
        }) => GroupError::NotAdmin,
        WaGroupError::Iq(IqError::NotConnected) => GroupError::Engine(EngineError::NotConnected),
        other => GroupError::Engine(EngineError::Failed(other.to_string())),
    }
}

fn jid_of_group(id: &GroupId) -> Result<Jid, GroupError> {
    id.as_str().parse().map_err(|_| GroupError::NotFound)
}

/// The number behind a participant: its phone-number JID, or the number WhatsApp gave beside
/// its LID.
fn participant_phone(jid: &Jid, phone_number: Option<&Jid>) -> Option<PhoneNumber> {
    phone_of(jid).or_else(|| phone_number.and_then(phone_of))
}

/// WhatsApp's metadata as wagate's group (members known only by a LID are left out: wagate
/// names members by number).
pub fn group_of(m: &GroupMetadata) -> Group {
    let participants = m
        .participants
        .iter()
        .filter_map(|p| {
            let phone = participant_phone(&p.jid, p.phone_number.as_ref())?;
            let role = match p.participant_type {
                ParticipantType::SuperAdmin => Role::Superadmin,
                t if t.is_admin() => Role::Admin,
                _ => Role::Member,
            };
            Some(Participant { phone, role })
        })
        .collect();
    let owner = m
        .creator
        .as_ref()
        .and_then(|c| participant_phone(c, m.creator_pn.as_ref()));
    Group {
        id: GroupId::from_trusted(m.id.to_non_ad().to_string()),
        subject: m.subject.clone(),
        description: m.description.clone().filter(|d| !d.is_empty()),
        owner,
        participants,
        announce: m.is_announcement,
        locked: m.is_locked,
        created_at: Timestamp::from_millis(m.creation_time.unwrap_or(0) as i64 * 1000),
    }
}

pub async fn all(client: &Client) -> Result<Vec<Group>, GroupError> {
    let groups = client.groups().get_participating().await.map_err(refused)?;
    let mut list: Vec<Group> = groups.values().map(group_of).collect();
    list.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(list)
}

pub async fn one(client: &Client, id: &GroupId) -> Result<Group, GroupError> {
    let jid = jid_of_group(id)?;
    let meta = client.groups().get_metadata(&jid).await.map_err(refused)?;
    Ok(group_of(&meta))
}

/// Each number asked for, in order: added when the new group has it, a repeat refused as
/// already in it, any other refused as not on WhatsApp (WhatsApp leaves those out).
pub async fn create(
    client: &Client,
    new: &NewGroup,
) -> Result<(Group, Vec<ParticipantOutcome>), GroupError> {
    let subject = GroupSubject::new(new.subject.as_str())
        .map_err(|e| GroupError::Engine(EngineError::Failed(e.to_string())))?;
    let mut options = GroupCreateOptions::new(subject.as_str()).with_participants(
        new.participants
            .iter()
            .map(|p| GroupParticipantOptions::new(Jid::pn(p.as_str())))
            .collect(),
    );
    options.description = new
        .description
        .as_deref()
        .map(GroupDescription::new)
        .transpose()
        .map_err(|e| GroupError::Engine(EngineError::Failed(e.to_string())))?;
    let created = client
        .groups()
        .create_group(options)
        .await
        .map_err(refused)?;
    let group = group_of(&created.metadata);
    let mut seen = HashSet::new();
    let outcomes = new
        .participants
        .iter()
        .map(|p| {
            let refused = if !seen.insert(p.clone()) {
                Some(ParticipantRefusal::AlreadyParticipant)
            } else if group.role_of(p).is_none() {
                Some(ParticipantRefusal::NotOnWhatsapp)
            } else {
                None
            };
            ParticipantOutcome {
                phone: p.to_string(),
                refused,
            }
        })
        .collect();
    Ok((group, outcomes))
}

pub async fn update(client: &Client, id: &GroupId, u: &GroupUpdate) -> Result<(), GroupError> {
    let jid = jid_of_group(id)?;
    let groups = client.groups();
    let failed = |e: anyhow::Error| GroupError::Engine(EngineError::Failed(e.to_string()));
    if let Some(s) = &u.subject {
        let subject = GroupSubject::new(s.as_str()).map_err(failed)?;
        groups
            .set_subject(jid.clone(), subject)
            .await
            .map_err(refused)?;
    }
    if let Some(d) = &u.description {
        let description = d
            .as_deref()
            .map(GroupDescription::new)
            .transpose()
            .map_err(failed)?;
        groups
            .set_description(jid.clone(), description, PreviousDescription::Resolve)
            .await
            .map_err(refused)?;
    }
    if let Some(a) = u.announce {
        groups.set_announce(jid.clone(), a).await.map_err(refused)?;
    }
    if let Some(l) = u.locked {
        groups.set_locked(jid, l).await.map_err(refused)?;
    }
    Ok(())
}

/// WhatsApp's per-number answer as a refusal: 409 already in, 404 unknown (to add) or not in
/// (the rest), 403 takes invites only; anything else refused.
fn refusal(action: ParticipantAction, r: &ParticipantChangeResponse) -> Option<ParticipantRefusal> {
    let code = r.error.as_deref()?;
    Some(match (code, action) {
        ("409", ParticipantAction::Add) => ParticipantRefusal::AlreadyParticipant,
        ("404", ParticipantAction::Add) => ParticipantRefusal::NotOnWhatsapp,
        ("404", _) => ParticipantRefusal::NotParticipant,
        ("403", ParticipantAction::Add) => ParticipantRefusal::NeedsInvite,
        _ => ParticipantRefusal::Refused,
    })
}

pub async fn change(
    client: &Client,
    id: &GroupId,
    action: ParticipantAction,
    phones: &[PhoneNumber],
) -> Result<Vec<ParticipantOutcome>, GroupError> {
    let jid = jid_of_group(id)?;
    let jids: Vec<Jid> = phones.iter().map(|p| Jid::pn(p.as_str())).collect();
    let groups = client.groups();
    let answers = match action {
        ParticipantAction::Add => groups.add_participants(jid, &jids).await,
        ParticipantAction::Remove => groups.remove_participants(jid, &jids).await,
        ParticipantAction::Promote => groups.promote_participants(jid, &jids).await,
        ParticipantAction::Demote => groups.demote_participants(jid, &jids).await,
    }
    .map_err(refused)?;
    Ok(phones
        .iter()
        .map(|p| {
            let answer = answers
                .iter()
                .find(|r| participant_phone(&r.jid, r.phone_number.as_ref()).as_ref() == Some(p));
            ParticipantOutcome {
                phone: p.to_string(),
                refused: match answer {
                    Some(r) => refusal(action, r),
                    None => Some(ParticipantRefusal::Refused),
                },
            }
        })
        .collect())
}

pub async fn invite(client: &Client, id: &GroupId, revoke: bool) -> Result<String, GroupError> {
    let jid = jid_of_group(id)?;
    let link = client
        .groups()
        .get_invite_link(jid, revoke)
        .await
        .map_err(refused)?;
    Ok(link.rsplit('/').next().unwrap_or(link.as_str()).to_owned())
}

pub async fn join(client: &Client, code: &str) -> Result<GroupId, GroupError> {
    let joined = client
        .groups()
        .join_with_invite_code(code)
        .await
        .map_err(refused)?;
    Ok(GroupId::from_trusted(
        joined.group_jid().to_non_ad().to_string(),
    ))
}

pub async fn leave(client: &Client, id: &GroupId) -> Result<(), GroupError> {
    let jid = jid_of_group(id)?;
    client.groups().leave(jid).await.map_err(refused)
}

async fn phones(client: &Client, list: &[GroupParticipantInfo]) -> Vec<PhoneNumber> {
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let phone = match participant_phone(&p.jid, p.phone_number.as_ref()) {
            Some(phone) => Some(phone),
            None => phone_for(client, &p.jid).await,
        };
        out.extend(phone);
    }
    out
}

/// A `w:gp2` notification as a notice; one that adds the instance's own number (`me`), or
/// creates a group with it, is a join, read whole from the network.
pub async fn notice_of(
    client: &Client,
    me: Option<&PhoneNumber>,
    u: &WaGroupUpdate,
) -> Option<GroupNotice> {
    let group = GroupId::from_trusted(u.group_jid.to_non_ad().to_string());
    let by = match (&u.participant, &u.participant_pn) {
        (Some(p), pn) => participant_phone(p, pn.as_ref()),
        (None, _) => None,
    };
    let updated = |changes: GroupUpdate| {
        Some(GroupNotice::Updated {
            group: group.clone(),
            changes,
            by: by.clone(),
        })
    };
    let (action, list) = match &u.action {
        GroupNotificationAction::Add { participants, .. } => (ParticipantAction::Add, participants),
        GroupNotificationAction::Remove { participants, .. } => {
            (ParticipantAction::Remove, participants)
        }
        GroupNotificationAction::Promote { participants } => {
            (ParticipantAction::Promote, participants)
        }
        GroupNotificationAction::Demote { participants } => {
            (ParticipantAction::Demote, participants)
        }
        GroupNotificationAction::Create { .. } => {
            return Some(GroupNotice::Joined(one(client, &group).await.ok()?));
        }
        GroupNotificationAction::Subject { subject, .. } => {
            return updated(GroupUpdate {
                subject: wagate_core::group::GroupSubject::parse(subject).ok(),
                ..Default::default()
            });
        }
        GroupNotificationAction::Description { description, .. } => {
            return updated(GroupUpdate {
                description: Some(description.clone().filter(|d| !d.is_empty())),
                ..Default::default()
            });
        }
        GroupNotificationAction::Locked { .. } | GroupNotificationAction::Unlocked => {
            return updated(GroupUpdate {
                locked: Some(matches!(u.action, GroupNotificationAction::Locked { .. })),
                ..Default::default()
            });
        }
        GroupNotificationAction::Announce | GroupNotificationAction::NotAnnounce => {
            return updated(GroupUpdate {
                announce: Some(matches!(u.action, GroupNotificationAction::Announce)),
                ..Default::default()
            });
        }
        _ => return None,
    };
    let participants = phones(client, list).await;
    if action == ParticipantAction::Add && me.is_some_and(|me| participants.contains(me)) {
        return Some(GroupNotice::Joined(one(client, &group).await.ok()?));
    }
    (!participants.is_empty()).then_some(GroupNotice::Participants {
        group,
        action,
        participants,
        by,
    })
}
