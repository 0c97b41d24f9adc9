//! The fake network's groups: who is in each and with what role, its subject, description,
//! settings and invite code, and the `w:g2` IQs that read and change them, answered and
//! refused the way WhatsApp does (404 for a group one is not in or an unknown invite, 403 for a
//! member doing an admin's work). Each change also says what the other members are told: the
//! action node of a `w:gp2` notification.

use std::collections::HashMap;

use whatsapp_rust::wacore_binary::builder::NodeBuilder;
use whatsapp_rust::wacore_binary::{Jid, Node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeRole {
    Member,
    Admin,
    Superadmin,
}

impl FakeRole {
    fn wire(self) -> Option<&'static str> {
        match self {
            FakeRole::Member => None,
            FakeRole::Admin => Some("admin"),
            FakeRole::Superadmin => Some("superadmin"),
        }
    }
}

/// A group as the network holds it (what every member sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeGroup {
    /// `digits@g.us`
    pub jid: String,
    pub subject: String,
    pub description: Option<String>,
    description_id: u32,
    pub creator: String,
    pub created: i64,
    /// Phone numbers with their roles, in the order they joined.
    pub members: Vec<(String, FakeRole)>,
    pub announce: bool,
    pub locked: bool,
    pub invite: String,
}

impl FakeGroup {
    pub fn role_of(&self, phone: &str) -> Option<FakeRole> {
        self.members.iter().find(|(p, _)| p == phone).map(|m| m.1)
    }

    fn is_admin(&self, phone: &str) -> bool {
        self.role_of(phone)
            .is_some_and(|r| matches!(r, FakeRole::Admin | FakeRole::Superadmin))
    }

    fn digits(&self) -> &str {
        self.jid.trim_end_matches("@g.us")
    }

    /// The `<group>` node of a query, create or participating answer.
    pub fn node(&self) -> Node {
        let mut kids: Vec<Node> = self
            .members
            .iter()
            .map(|(phone, role)| {
                let mut p = NodeBuilder::new("participant").attr("jid", pn(phone));
                if let Some(t) = role.wire() {
                    p = p.attr("type", t);
                }
                p.build()
            })
            .collect();
        if let Some(d) = &self.description {
            kids.push(
                NodeBuilder::new("description")
                    .attr("id", format!("{:08X}", self.description_id))
                    .children([NodeBuilder::new("body").string_content(d.clone()).build()])
                    .build(),
            );
        }
        if self.locked {
            kids.push(NodeBuilder::new("locked").build());
        }
        if self.announce {
            kids.push(NodeBuilder::new("announcement").build());
        }
        NodeBuilder::new("group")
            .attr("id", self.digits().to_owned())
            .attr("subject", self.subject.clone())
            .attr("creation", self.created.to_string())
            .attr("creator", pn(&self.creator))
            .attr("s_t", self.created.to_string())
            .attr("s_o", pn(&self.creator))
            .children(kids)
            .build()
    }
}

fn pn(phone: &str) -> String {
    format!("{phone}@s.whatsapp.net")
}

fn participants(tag: &'static str, phones: &[String]) -> Node {
    NodeBuilder::new(tag)
        .children(
            phones
                .iter()
                .map(|p| NodeBuilder::new("participant").attr("jid", pn(p)).build()),
        )
        .build()
}

const KNOWN: [&str; 15] = [
    "query",
    "add",
    "remove",
    "promote",
    "demote",
    "subject",
    "description",
    "locked",
    "unlocked",
    "announcement",
    "not_announcement",
    "invite",
    "participating",
    "create",
    "leave",
];

/// A refusal: the IQ's `<error code text/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such group, not a member of it, or an unknown invite code.
    NotFound,
    /// Only an admin may do that.
    Forbidden,
    BadRequest,
}

impl Refusal {
    pub fn node(self) -> Node {
        let (code, text) = match self {
            Refusal::NotFound => ("404", "item-not-found"),
            Refusal::Forbidden => ("403", "forbidden"),
            Refusal::BadRequest => ("400", "bad-request"),
        };
        NodeBuilder::new("error")
            .attr("code", code)
            .attr("text", text)
            .build()
    }
}

/// What a `w:g2` IQ did: the answer's children, and what the group's members are told.
pub struct Done {
    pub answer: Vec<Node>,
    /// The group, its action node for a `w:gp2` notification, and who else must hear of it
    /// besides the members (those just removed).
    pub notice: Option<(String, Node, Vec<String>)>,
}

impl Done {
    fn answer(answer: Vec<Node>) -> Self {
        Self {
            answer,
            notice: None,
        }
    }
}

#[derive(Default)]
pub struct Groups {
    by_jid: HashMap<String, FakeGroup>,
    next: u64,
}

/// Who `jid` (a participant or a `to`) names: its user, for phone-number JIDs.
fn phone_in(n: &Node) -> Option<String> {
    let jid: Jid = n.attrs().optional_string("jid")?.parse().ok()?;
    Some(jid.user.to_string())
}

fn listed(n: &Node) -> Vec<String> {
    n.get_children_by_tag("participant")
        .filter_map(phone_in)
        .collect()
}

impl Groups {
    pub fn get(&self, jid: &str) -> Option<&FakeGroup> {
        self.by_jid.get(jid)
    }

    /// The groups `phone` is in.
    pub fn of(&self, phone: &str) -> Vec<&FakeGroup> {
        self.by_jid
            .values()
            .filter(|g| g.role_of(phone).is_some())
            .collect()
    }

    fn fresh_code(&mut self) -> String {
        self.next += 1;
        format!("FakeInvite{:08}", self.next * 7919 % 100_000_000)
    }

    /// `creator` makes a group with those of `asked` the network knows (`known`).
    pub fn create(
        &mut self,
        creator: &str,
        subject: &str,
        description: Option<String>,
        asked: &[String],
        known: impl Fn(&str) -> bool,
        now: i64,
    ) -> &FakeGroup {
        self.next += 1;
        let jid = format!("1203630{:011}@g.us", self.next);
        let mut members = vec![(creator.to_owned(), FakeRole::Superadmin)];
        for p in asked {
            if known(p) && !members.iter().any(|(m, _)| m == p) {
                members.push((p.clone(), FakeRole::Member));
            }
        }
        let invite = self.fresh_code();
        let group = FakeGroup {
            jid: jid.clone(),
            subject: subject.to_owned(),
            description,
            description_id: 1,
            creator: creator.to_owned(),
            created: now,
            members,
            announce: false,
            locked: false,
            invite,
        };
        self.by_jid.entry(jid).or_insert(group)
    }

    /// A `w:g2` IQ from `actor` to `to` (a group's JID, or `g.us` for create, join and leave).
    pub fn on_iq(
        &mut self,
        actor: &str,
        to: &str,
        iq: &Node,
        known: impl Fn(&str) -> bool,
        now: i64,
    ) -> Result<Done, Refusal> {
        let first = iq
            .children()
            .and_then(|c| c.first())
            .ok_or(Refusal::BadRequest)?;
        // Tags the network knows, as the static names nodes are built with.
        let tag: &'static str = KNOWN
            .iter()
            .find(|t| **t == first.tag.as_ref())
            .ok_or(Refusal::BadRequest)?;
        if !to.contains('@') || to.starts_with('@') {
            return self.on_server_iq(actor, tag, first, known, now);
        }
        let member = self
            .by_jid
            .get(to)
            .is_some_and(|g| g.role_of(actor).is_some());
        // `participating` goes to g.us, everything else to a group the actor is in.
        if !member {
            return Err(Refusal::NotFound);
        }
        let mut invite = None;
        if tag == "invite" && iq.attrs().optional_string("type").as_deref() == Some("set") {
            invite = Some(self.fresh_code());
        }
        let g = self.by_jid.get_mut(to).ok_or(Refusal::NotFound)?;
        let admin = g.is_admin(actor);
        let done = match tag {
            "query" => Done::answer(vec![g.node()]),
            "add" | "remove" | "promote" | "demote" => {
                if !admin {
                    return Err(Refusal::Forbidden);
                }
                change_members(g, tag, &listed(first), known)
            }
            "subject" | "description" if g.locked && !admin => return Err(Refusal::Forbidden),
            "subject" => {
                let subject = first.content_as_string().unwrap_or_default().to_string();
                g.subject = subject.clone();
                let n = NodeBuilder::new("subject")
                    .attr("subject", subject)
                    .attr("s_o", pn(actor))
                    .attr("s_t", now.to_string())
                    .build();
                told(g, n)
            }
            "description" => {
                let deleted = first.attrs().optional_string("delete").is_some();
                g.description = (!deleted)
                    .then(|| {
                        first
                            .get_optional_child("body")
                            .and_then(|b| b.content_as_string())
                            .map(|b| b.to_string())
                    })
                    .flatten();
                g.description_id += 1;
                let mut n =
                    NodeBuilder::new("description").attr("id", format!("{:08X}", g.description_id));
                n = match &g.description {
                    Some(d) => {
                        n.children([NodeBuilder::new("body").string_content(d.clone()).build()])
                    }
                    None => n.children([NodeBuilder::new("delete").build()]),
                };
                told(g, n.build())
            }
            "locked" | "unlocked" | "announcement" | "not_announcement" => {
                if !admin {
                    return Err(Refusal::Forbidden);
                }
                match tag {
                    "locked" => g.locked = true,
                    "unlocked" => g.locked = false,
                    "announcement" => g.announce = true,
                    _ => g.announce = false,
                }
                told(g, NodeBuilder::new(tag).build())
            }
            "invite" => {
                if !admin {
                    return Err(Refusal::Forbidden);
                }
                if let Some(code) = invite {
                    g.invite = code;
                }
                Done::answer(vec![
                    NodeBuilder::new("invite")
                        .attr("code", g.invite.clone())
                        .build(),
                ])
            }
            _ => return Err(Refusal::BadRequest),
        };
        Ok(done)
    }

    fn on_server_iq(
        &mut self,
        actor: &str,
        tag: &str,
        first: &Node,
        known: impl Fn(&str) -> bool,
        now: i64,
    ) -> Result<Done, Refusal> {
        match tag {
            "participating" => {
                let groups = self.of(actor).into_iter().map(FakeGroup::node);
                Ok(Done::answer(vec![
                    NodeBuilder::new("groups").children(groups).build(),
                ]))
            }
            "create" => {
                let subject = first
                    .attrs()
                    .optional_string("subject")
                    .unwrap_or_default()
                    .to_string();
                let description = first
                    .get_optional_child("description")
                    .and_then(|d| d.get_optional_child("body"))
                    .and_then(|b| b.content_as_string())
                    .map(|b| b.to_string());
                let g = self.create(actor, &subject, description, &listed(first), known, now);
                let created = NodeBuilder::new("create").children([g.node()]).build();
                Ok(Done {
                    answer: vec![g.node()],
                    notice: Some((g.jid.clone(), created, vec![])),
                })
            }
            "invite" => {
                let code = first.attrs().optional_string("code").unwrap_or_default();
                let g = self
                    .by_jid
                    .values_mut()
                    .find(|g| g.invite == code)
                    .ok_or(Refusal::NotFound)?;
                if g.role_of(actor).is_none() {
                    g.members.push((actor.to_owned(), FakeRole::Member));
                }
                let joined = NodeBuilder::new("group").attr("jid", g.jid.clone()).build();
                let add = participants("add", &[actor.to_owned()]);
                Ok(Done {
                    answer: vec![joined],
                    notice: Some((g.jid.clone(), add, vec![])),
                })
            }
            "leave" => {
                let jid = first
                    .get_optional_child("group")
                    .and_then(|g| g.attrs().optional_string("id"))
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let g = self
                    .by_jid
                    .get_mut(&jid)
                    .filter(|g| g.role_of(actor).is_some())
                    .ok_or(Refusal::NotFound)?;
                g.members.retain(|(p, _)| p != actor);
                let removed = participants("remove", &[actor.to_owned()]);
                Ok(Done {
                    answer: vec![],
                    notice: Some((g.jid.clone(), removed, vec![actor.to_owned()])),
                })
            }
            _ => Err(Refusal::BadRequest),
        }
    }

    /// What `by` (a contact's phone, an admin) does to `phones` in `jid`, as the network tells
    /// the members: the notice to send, or None when `by` may not or nothing changed.
    pub fn contact_changes(
        &mut self,
        by: &str,
        jid: &str,
        action: &'static str,
        phones: &[String],
        known: impl Fn(&str) -> bool,
    ) -> Option<(String, Node, Vec<String>)> {
        let g = self.by_jid.get_mut(jid).filter(|g| g.is_admin(by))?;
        change_members(g, action, phones, known).notice
    }

    /// `by` renames `jid`.
    pub fn contact_renames(
        &mut self,
        by: &str,
        jid: &str,
        subject: &str,
        now: i64,
    ) -> Option<(String, Node, Vec<String>)> {
        let g = self
            .by_jid
            .get_mut(jid)
            .filter(|g| g.role_of(by).is_some())?;
        g.subject = subject.to_owned();
        let n = NodeBuilder::new("subject")
            .attr("subject", subject.to_owned())
            .attr("s_o", pn(by))
            .attr("s_t", now.to_string())
            .build();
        told(g, n).notice
    }
}

fn told(g: &FakeGroup, action: Node) -> Done {
    Done {
        answer: vec![],
        notice: Some((g.jid.clone(), action, vec![])),
    }
}

/// Adds, removes, promotes or demotes: each number's `<participant>` answer (with WhatsApp's
/// error code when it was not done), and the notice of those that were.
fn change_members(
    g: &mut FakeGroup,
    action: &'static str,
    phones: &[String],
    known: impl Fn(&str) -> bool,
) -> Done {
    let mut answers = Vec::new();
    let mut done = Vec::new();
    for phone in phones {
        let role = g.role_of(phone);
        let error = match (action, role) {
            ("add", Some(_)) => Some("409"),
            ("add", None) if !known(phone) => Some("404"),
            ("add", None) => {
                g.members.push((phone.clone(), FakeRole::Member));
                None
            }
            (_, None) => Some("404"),
            // The owner stays in, and stays the owner.
            (_, Some(FakeRole::Superadmin)) => Some("406"),
            ("remove", Some(_)) => {
                g.members.retain(|(p, _)| p != phone);
                None
            }
            (_, Some(_)) => {
                let to = if action == "promote" {
                    FakeRole::Admin
                } else {
                    FakeRole::Member
                };
                for m in g.members.iter_mut().filter(|(p, _)| p == phone) {
                    m.1 = to;
                }
                None
            }
        };
        let mut n = NodeBuilder::new("participant").attr("jid", pn(phone));
        match error {
            Some(code) => n = n.attr("error", code),
            None => done.push(phone.clone()),
        }
        answers.push(n.build());
    }
    let answer = vec![NodeBuilder::new(action).children(answers).build()];
    let notice = (!done.is_empty()).then(|| {
        let gone = if action == "remove" {
            done.clone()
        } else {
            vec![]
        };
        (g.jid.clone(), participants(action, &done), gone)
    });
    Done { answer, notice }
}
