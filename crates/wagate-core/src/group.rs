//! Groups (§17.5): WhatsApp's group chats, as the network describes them, what the API asks of
//! them, and what the network reports about them. A group is also a chat (`isGroup: true`); its
//! id (`…@g.us`) is the `to` of a message to it.

use std::fmt;

use thiserror::Error;

use crate::Timestamp;
use crate::account::DisplayName;
use crate::engine::EngineError;
use crate::message::Recipient;
use crate::phone::PhoneNumber;

/// WhatsApp's limit for a subject (a display name's too).
pub const MAX_SUBJECT: usize = DisplayName::MAX_CHARS;
/// WhatsApp's limit for a description.
pub const MAX_DESCRIPTION: usize = 2048;
/// WhatsApp's limit for a group's size, and so for one request's numbers.
pub const MAX_PARTICIPANTS: usize = 1024;

/// A group's id, `digits@g.us` (older groups: `creator-created@g.us`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a group id is digits (or digits-digits) followed by @g.us")]
pub struct GroupIdError;

impl GroupId {
    pub fn parse(s: &str) -> Result<Self, GroupIdError> {
        match Recipient::parse(s) {
            Ok(Recipient::Group(g)) => Ok(Self(g)),
            _ => Err(GroupIdError),
        }
    }

    /// For ids the network or our own database gave.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The group as the `to` of a message, and as a chat's peer.
    pub fn recipient(&self) -> Recipient {
        Recipient::Group(self.0.clone())
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupTextError {
    #[error("1 to {MAX_SUBJECT} characters, no control or bidirectional-override characters")]
    Subject,
    #[error("at most {MAX_DESCRIPTION} characters")]
    Description,
}

/// A subject: what a display name may be (1–100 characters once trimmed, no control or
/// bidirectional-override characters), so one schema describes both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSubject(String);

impl GroupSubject {
    pub fn parse(s: &str) -> Result<Self, GroupTextError> {
        DisplayName::parse(s)
            .map(|n| Self(n.as_str().to_owned()))
            .map_err(|_| GroupTextError::Subject)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An invite code, given alone or as the whole `https://chat.whatsapp.com/{code}` link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCode(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("an invite code (1 to 64 letters and digits) or its https://chat.whatsapp.com/ link")]
pub struct InviteCodeError;

impl InviteCode {
    pub const LINK_PREFIX: &str = "https://chat.whatsapp.com/";

    pub fn parse(s: &str) -> Result<Self, InviteCodeError> {
        let s = s.trim();
        let code = s.strip_prefix(Self::LINK_PREFIX).unwrap_or(s);
        let code = code.strip_suffix('/').unwrap_or(code);
        if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(InviteCodeError);
        }
        Ok(Self(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description: at most 2,048 characters (line breaks allowed); empty removes it.
pub fn parse_description(s: &str) -> Result<Option<String>, GroupTextError> {
    if s.chars().count() > MAX_DESCRIPTION {
        return Err(GroupTextError::Description);
    }
    Ok((!s.is_empty()).then(|| s.to_owned()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Member,
    Admin,
    /// The group's creator (or whom WhatsApp made its owner).
    Superadmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Superadmin => "superadmin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Role::Member, Role::Admin, Role::Superadmin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn is_admin(self) -> bool {
        self != Role::Member
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub phone: PhoneNumber,
    pub role: Role,
}

/// A group as the network describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub subject: String,
    pub description: Option<String>,
    pub owner: Option<PhoneNumber>,
    pub participants: Vec<Participant>,
    /// Only admins may send messages.
    pub announce: bool,
    /// Only admins may change the subject, description and picture.
    pub locked: bool,
    pub created_at: Timestamp,
}

impl Group {
    pub fn role_of(&self, phone: &PhoneNumber) -> Option<Role> {
        self.participants
            .iter()
            .find(|p| &p.phone == phone)
            .map(|p| p.role)
    }

    pub fn is_admin(&self, phone: &PhoneNumber) -> bool {
        self.role_of(phone).is_some_and(Role::is_admin)
    }

    /// `changes` made: what the group reads afterwards.
    pub fn apply_update(&mut self, changes: &GroupUpdate) {
        if let Some(s) = &changes.subject {
            self.subject = s.as_str().to_owned();
        }
        if let Some(d) = &changes.description {
            self.description = d.clone();
        }
        if let Some(a) = changes.announce {
            self.announce = a;
        }
        if let Some(l) = changes.locked {
            self.locked = l;
        }
    }

    /// `action` done to `phones`: members added (as members), removed, promoted or demoted.
    pub fn apply_participants(&mut self, action: ParticipantAction, phones: &[PhoneNumber]) {
        match action {
            ParticipantAction::Add => {
                for phone in phones {
                    if self.role_of(phone).is_none() {
                        self.participants.push(Participant {
                            phone: phone.clone(),
                            role: Role::Member,
                        });
                    }
                }
            }
            ParticipantAction::Remove => self.participants.retain(|p| !phones.contains(&p.phone)),
            ParticipantAction::Promote | ParticipantAction::Demote => {
                let role = if action == ParticipantAction::Promote {
                    Role::Admin
                } else {
                    Role::Member
                };
                for p in &mut self.participants {
                    // The owner stays the owner.
                    if phones.contains(&p.phone) && p.role != Role::Superadmin {
                        p.role = role;
                    }
                }
            }
        }
    }
}

/// A group to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub subject: GroupSubject,
    pub description: Option<String>,
    pub participants: Vec<PhoneNumber>,
}

/// What `PATCH /v1/groups/{groupId}` changes; `None` leaves a field as it is. A description of
/// `Some(None)` removes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupUpdate {
    pub subject: Option<GroupSubject>,
    pub description: Option<Option<String>>,
    pub announce: Option<bool>,
    pub locked: Option<bool>,
}

impl GroupUpdate {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Whether only an admin may make it: the settings always, the texts when the group is
    /// locked.
    pub fn needs_admin(&self, group: &Group) -> bool {
        self.announce.is_some()
            || self.locked.is_some()
            || (group.locked && (self.subject.is_some() || self.description.is_some()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantAction {
    Add,
    Remove,
    Promote,
    Demote,
}

impl ParticipantAction {
    pub const ALL: [ParticipantAction; 4] = [
        ParticipantAction::Add,
        ParticipantAction::Remove,
        ParticipantAction::Promote,
        ParticipantAction::Demote,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantAction::Add => "add",
            ParticipantAction::Remove => "remove",
            ParticipantAction::Promote => "promote",
            ParticipantAction::Demote => "demote",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Why one number of a request was not added, removed, promoted or demoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantRefusal {
    InvalidPhone,
    NotOnWhatsapp,
    AlreadyParticipant,
    NotParticipant,
    /// The number's privacy settings allow being added only by an invite.
    NeedsInvite,
    /// Not done for another reason the network gave.
    Refused,
}

impl ParticipantRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            ParticipantRefusal::InvalidPhone => "invalid_phone",
            ParticipantRefusal::NotOnWhatsapp => "not_on_whatsapp",
            ParticipantRefusal::AlreadyParticipant => "already_participant",
            ParticipantRefusal::NotParticipant => "not_participant",
            ParticipantRefusal::NeedsInvite => "needs_invite",
            ParticipantRefusal::Refused => "refused",
        }
    }
}

/// One number's outcome: `phone` as the request wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantOutcome {
    pub phone: String,
    pub refused: Option<ParticipantRefusal>,
}

impl ParticipantOutcome {
    pub fn refused(phone: impl Into<String>, why: ParticipantRefusal) -> Self {
        Self {
            phone: phone.into(),
            refused: Some(why),
        }
    }
}

/// What the network reported about a group the instance is (or was) in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupNotice {
    /// The instance is in a group: added, created it, or joined by invite (`group.joined`).
    Joined(Group),
    /// Its subject, description or settings changed (`group.updated`).
    Updated {
        group: GroupId,
        changes: GroupUpdate,
        by: Option<PhoneNumber>,
    },
    /// Members added, removed, promoted or demoted (`group.participants`). The instance's own
    /// number removed means it left, or was removed.
    Participants {
        group: GroupId,
        action: ParticipantAction,
        participants: Vec<PhoneNumber>,
        by: Option<PhoneNumber>,
    },
}

impl GroupNotice {
    pub fn group_id(&self) -> &GroupId {
        match self {
            GroupNotice::Joined(g) => &g.id,
            GroupNotice::Updated { group, .. } | GroupNotice::Participants { group, .. } => group,
        }
    }

    /// The group after the notice, from what was stored of it; `None` when the instance
    /// (`me`) is no longer in it, or nothing is known of it.
    pub fn applied_to(&self, stored: Option<Group>, me: Option<&PhoneNumber>) -> Option<Group> {
        match self {
            GroupNotice::Joined(g) => Some(g.clone()),
            GroupNotice::Updated { changes, .. } => stored.map(|mut g| {
                g.apply_update(changes);
                g
            }),
            GroupNotice::Participants {
                action,
                participants,
                ..
            } => {
                if *action == ParticipantAction::Remove
                    && me.is_some_and(|me| participants.contains(me))
                {
                    return None;
                }
                stored.map(|mut g| {
                    g.apply_participants(*action, participants);
                    g
                })
            }
        }
    }
}

/// Why a group operation was not done.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GroupError {
    /// No such group, or the instance is not in it (or an invite code unknown or revoked).
    #[error("no such group")]
    NotFound,
    /// Only an admin of the group may do it.
    #[error("only a group admin may do that")]
    NotAdmin,
    /// The connection could not do it (not connected, not supported, failed).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The link that joins a group by its invite code.
pub fn invite_url(code: &str) -> String {
    format!("{}{code}", InviteCode::LINK_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    fn group() -> Group {
        Group {
            id: GroupId::parse("120363000000000001@g.us").unwrap(),
            subject: "Team".into(),
            description: None,
            owner: Some(phone("15550001111")),
            participants: vec![
                Participant {
                    phone: phone("15550001111"),
                    role: Role::Superadmin,
                },
                Participant {
                    phone: phone("15550002222"),
                    role: Role::Member,
                },
            ],
            announce: false,
            locked: false,
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn ids_are_whatsapps_group_addresses() {
        assert!(GroupId::parse("120363000000000001@g.us").is_ok());
        assert!(GroupId::parse("5511999999999-1600000000@g.us").is_ok());
        for bad in ["15550001111", "@g.us", "abc@g.us", "1@s.whatsapp.net"] {
            assert_eq!(GroupId::parse(bad), Err(GroupIdError), "{bad}");
        }
    }

    #[test]
    fn an_invite_is_a_code_or_its_link() {
        for ok in ["AbC123", " https://chat.whatsapp.com/AbC123/ "] {
            assert_eq!(InviteCode::parse(ok).unwrap().as_str(), "AbC123", "{ok}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "https://chat.whatsapp.com/",
            "not a code!",
            "http://x/AbC",
            long.as_str(),
        ] {
            assert_eq!(InviteCode::parse(bad), Err(InviteCodeError), "{bad}");
        }
    }

    #[test]
    fn a_subject_is_one_to_a_hundred_characters() {
        assert!(GroupSubject::parse("Suporte 🛟").is_ok());
        assert!(GroupSubject::parse(&"é".repeat(100)).is_ok());
        assert_eq!(GroupSubject::parse(" Team ").unwrap().as_str(), "Team");
        for bad in [
            String::new(),
            "   ".into(),
            "é".repeat(101),
            "a\nb".into(),
            "a\u{202E}b".into(),
        ] {
            assert_eq!(
                GroupSubject::parse(&bad),
                Err(GroupTextError::Subject),
                "{bad:?}"
            );
        }
        assert_eq!(parse_description(""), Ok(None));
        assert!(parse_description(&"x".repeat(2049)).is_err());
    }

    #[test]
    fn participants_follow_each_action_and_the_owner_keeps_its_role() {
        let mut g = group();
        let new = phone("15550003333");
        g.apply_participants(ParticipantAction::Add, std::slice::from_ref(&new));
        g.apply_participants(ParticipantAction::Add, std::slice::from_ref(&new));
        assert_eq!(g.participants.len(), 3, "added once");
        g.apply_participants(
            ParticipantAction::Promote,
            &[new.clone(), phone("15550001111")],
        );
        assert_eq!(g.role_of(&new), Some(Role::Admin));
        assert_eq!(g.role_of(&phone("15550001111")), Some(Role::Superadmin));
        g.apply_participants(ParticipantAction::Demote, std::slice::from_ref(&new));
        assert!(!g.is_admin(&new));
        g.apply_participants(ParticipantAction::Remove, std::slice::from_ref(&new));
        assert_eq!(g.role_of(&new), None);
    }

    #[test]
    fn settings_need_an_admin_and_texts_only_when_locked() {
        let mut g = group();
        let subject = GroupUpdate {
            subject: Some(GroupSubject::parse("New").unwrap()),
            ..GroupUpdate::default()
        };
        assert!(!subject.needs_admin(&g));
        let announce = GroupUpdate {
            announce: Some(true),
            ..GroupUpdate::default()
        };
        assert!(announce.needs_admin(&g));
        g.locked = true;
        assert!(subject.needs_admin(&g));
    }

    #[test]
    fn being_removed_forgets_the_group() {
        let me = phone("15550002222");
        let removed = GroupNotice::Participants {
            group: group().id,
            action: ParticipantAction::Remove,
            participants: vec![me.clone()],
            by: Some(phone("15550001111")),
        };
        assert_eq!(removed.applied_to(Some(group()), Some(&me)), None);
        let renamed = GroupNotice::Updated {
            group: group().id,
            changes: GroupUpdate {
                subject: Some(GroupSubject::parse("Renamed").unwrap()),
                ..GroupUpdate::default()
            },
            by: None,
        };
        let after = renamed.applied_to(Some(group()), Some(&me)).unwrap();
        assert_eq!(after.subject, "Renamed");
        assert_eq!(
            renamed.applied_to(None, Some(&me)),
            None,
            "nothing to apply to"
        );
    }
}
