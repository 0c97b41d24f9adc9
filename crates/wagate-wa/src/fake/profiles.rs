//! What the fake network knows about people beyond their keys: each contact's profile (about
//! text, picture, business) and each account's blocklist, answered the way WhatsApp answers the
//! profile-picture IQ, the usync `status`/`picture`/`business` protocols and the blocklist IQ.

use std::collections::HashMap;

use whatsapp_rust::wacore_binary::Node;
use whatsapp_rust::wacore_binary::builder::NodeBuilder;

/// A contact's profile as the fake network shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeProfile {
    pub about: Option<String>,
    pub picture_url: Option<String>,
    pub business: bool,
}

#[derive(Default)]
pub struct Profiles {
    by_phone: HashMap<String, FakeProfile>,
    /// Blocked numbers, by the account that blocked them.
    blocked: HashMap<String, Vec<String>>,
}

/// The picture id of a picture URL (stable, as WhatsApp's ids are per picture).
fn picture_id(url: &str) -> String {
    let sum = url
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    (sum % 1_000_000_000).to_string()
}

impl Profiles {
    pub fn set(&mut self, phone: &str, profile: FakeProfile) {
        self.by_phone.insert(phone.to_owned(), profile);
    }

    pub fn set_blocked(&mut self, account: &str, blocked: &[&str]) {
        self.blocked.insert(
            account.to_owned(),
            blocked.iter().map(|b| (*b).to_owned()).collect(),
        );
    }

    fn of(&self, phone: &str) -> FakeProfile {
        self.by_phone.get(phone).cloned().unwrap_or_default()
    }

    /// The `<picture>` answer of `w:profile:picture` for `target`'s user.
    pub fn picture(&self, target_user: &str) -> Node {
        match self.of(target_user).picture_url {
            Some(url) => NodeBuilder::new("picture")
                .attr("id", picture_id(&url))
                .attr("type", "image")
                .attr("direct_path", "/v/t61.24694-24/fake")
                .attr("url", url)
                .build(),
            None => NodeBuilder::new("picture")
                .children([NodeBuilder::new("error")
                    .attr("code", "404")
                    .attr("text", "item-not-found")
                    .build()])
                .build(),
        }
    }

    /// The usync children of `user` for the profile protocols in `query`.
    pub fn usync(&self, user: &str, query: &[String]) -> Vec<Node> {
        let p = self.of(user);
        let mut out = Vec::new();
        for q in query {
            match q.as_str() {
                "status" => {
                    if let Some(about) = &p.about {
                        out.push(
                            NodeBuilder::new("status")
                                .attr("t", "1700000000")
                                .string_content(about.clone())
                                .build(),
                        );
                    }
                }
                "picture" => {
                    if let Some(url) = &p.picture_url {
                        out.push(
                            NodeBuilder::new("picture")
                                .attr("id", picture_id(url))
                                .build(),
                        );
                    }
                }
                "business" if p.business => out.push(NodeBuilder::new("business").build()),
                _ => {}
            }
        }
        out
    }

    /// The `<list>` answer of the blocklist IQ of `account`.
    pub fn blocklist(&self, account: &str) -> Node {
        let items = self.blocked.get(account).into_iter().flatten().map(|b| {
            NodeBuilder::new("item")
                .attr("jid", format!("{b}@s.whatsapp.net"))
                .build()
        });
        NodeBuilder::new("list").children(items).build()
    }
}
