//! WhatsApp addresses and ids as wagate spells them: phone numbers and group ids ↔ JIDs, and
//! the WhatsApp message id a wagate message is sent under.

use wagate_core::MessageId;
use wagate_core::message::Recipient;
use wagate_core::phone::PhoneNumber;
use whatsapp_rust::{Jid, Server};

/// The JID a message to `to` goes to.
pub fn jid_of(to: &Recipient) -> Option<Jid> {
    match to {
        Recipient::Phone(p) => Some(Jid::pn(p.as_str())),
        Recipient::Group(g) | Recipient::Lid(g) => g.parse().ok(),
    }
}

/// The phone number behind a JID, when it is a phone-number JID (`…@s.whatsapp.net`).
pub fn phone_of(jid: &Jid) -> Option<PhoneNumber> {
    (jid.server == Server::Pn)
        .then(|| PhoneNumber::parse(jid.user.as_str()).ok())
        .flatten()
}

/// The WhatsApp id of a wagate message: fixed by its id, so a resend after a crash or a lost
/// ack carries the same id and WhatsApp drops the duplicate. `3EB0` + 20 hex digits is the
/// shape WhatsApp Web uses.
pub fn wa_message_id(id: &MessageId) -> String {
    // The last 10 characters of a ULID are 50 of its random bits.
    let ulid = id.ulid_part();
    let tail = &ulid[ulid.len().saturating_sub(10)..];
    let hex: String = tail.bytes().map(|b| format!("{b:02X}")).collect();
    format!("3EB0{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_groups_map_to_jids() {
        let p = Recipient::parse("5511999999999").unwrap();
        let jid = jid_of(&p).unwrap();
        assert_eq!(jid.to_string(), "5511999999999@s.whatsapp.net");
        assert_eq!(phone_of(&jid).unwrap().as_str(), "5511999999999");
        let g = Recipient::parse("120363025246125486@g.us").unwrap();
        let gj = jid_of(&g).unwrap();
        assert_eq!(gj.server, Server::Group);
        assert!(phone_of(&gj).is_none());
    }

    #[test]
    fn message_ids_are_stable_and_shaped_like_whatsapp_web() {
        let id = MessageId::generate();
        let a = wa_message_id(&id);
        assert_eq!(a, wa_message_id(&id));
        assert_eq!(a.len(), 24);
        assert!(a.starts_with("3EB0"));
        assert_ne!(a, wa_message_id(&MessageId::generate()));
    }
}
