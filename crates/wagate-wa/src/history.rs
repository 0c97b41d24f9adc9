//! The phone's history, synced when a device is linked (whatsapp-rust's `Event::HistorySync`):
//! the text messages of its one-to-one chats inside the configured window, and the names the
//! phone knows its contacts by. Media in history is not downloaded, and group chats are not
//! modelled yet; both are left out.

use std::collections::HashMap;

use wagate_core::Timestamp;
use wagate_core::contact::ContactReport;
use wagate_core::history::HistoryMessage;
use wagate_core::message::{Content, MessageStatus};
use wagate_core::phone::PhoneNumber;
use whatsapp_rust::Jid;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::address::phone_of;

/// What one history chunk holds for wagate.
#[derive(Debug, Default, PartialEq)]
pub struct Synced {
    pub messages: Vec<HistoryMessage>,
    pub contacts: Vec<ContactReport>,
}

fn phone_in(jid: &str) -> Option<PhoneNumber> {
    phone_of(&jid.parse::<Jid>().ok()?)
}

/// The text of a message body, and the id it quotes.
fn text_of(m: &wa::Message) -> Option<(String, Option<String>)> {
    if let Some(t) = &m.conversation {
        return Some((t.clone(), None));
    }
    let x = m.extended_text_message.as_option()?;
    let quoted = x.context_info.as_option().and_then(|c| c.stanza_id.clone());
    Some((x.text.clone()?, quoted))
}

fn status_of(from_me: bool, s: Option<wa::web_message_info::Status>) -> MessageStatus {
    use wa::web_message_info::Status;
    match (from_me, s) {
        (_, Some(Status::Read | Status::Played)) => MessageStatus::Read,
        (true, Some(Status::DeliveryAck)) => MessageStatus::Delivered,
        (true, _) => MessageStatus::Sent,
        // Received: read on the phone or not; everything received was delivered.
        (false, _) => MessageStatus::Delivered,
    }
}

/// The chunk's messages written at or after `since`, and its contacts' names (the phone's
/// address book name of each chat, else the contact's push name).
pub fn read(sync: &wa::HistorySync, since: Timestamp) -> Synced {
    let push_names: HashMap<PhoneNumber, String> = sync
        .pushnames
        .iter()
        .filter_map(|p| Some((phone_in(p.id.as_deref()?)?, p.pushname.clone()?)))
        .filter(|(_, n)| !n.is_empty())
        .collect();
    let mut out = Synced::default();
    let mut named = std::collections::HashSet::new();
    for chat in &sync.conversations {
        let Some(peer) = phone_in(&chat.id) else {
            continue;
        };
        let name = chat
            .name
            .clone()
            .or_else(|| chat.display_name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| push_names.get(&peer).cloned());
        if let Some(n) = &name {
            named.insert(peer.clone());
            out.contacts
                .push(ContactReport::named(peer.clone(), n.clone()));
        }
        for item in &chat.messages {
            let Some(info) = item.message.as_option() else {
                continue;
            };
            let Some(key) = info.key.as_option() else {
                continue;
            };
            let (Some(id), Some(body)) = (key.id.clone(), info.message.as_option()) else {
                continue;
            };
            let Some((text, quoted)) = text_of(body) else {
                continue;
            };
            let at = Timestamp::from_millis(
                i64::try_from(info.message_timestamp.unwrap_or(0))
                    .unwrap_or(0)
                    .saturating_mul(1000),
            );
            if at < since {
                continue;
            }
            let from_me = key.from_me.unwrap_or(false);
            out.messages.push(HistoryMessage {
                external_id: id,
                peer: peer.clone(),
                peer_name: name.clone(),
                from_me,
                content: Content::Text(text),
                quoted_external_id: quoted,
                timestamp: at,
                status: status_of(from_me, info.status),
            });
        }
    }
    // Push names of people with no chat in this chunk still name them.
    for (phone, n) in push_names {
        if !named.contains(&phone) {
            out.contacts.push(ContactReport::named(phone, n));
        }
    }
    // Oldest first, so that each chat's last message is the newest one.
    out.messages.sort_by_key(|m| m.timestamp);
    out
}
