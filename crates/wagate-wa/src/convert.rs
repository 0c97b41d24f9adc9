//! WhatsApp message bodies ↔ wagate's messages.

use wagate_core::Timestamp;
use wagate_core::engine::InboundMessage;
use wagate_core::message::Content;
use whatsapp_rust::Jid;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::types::events::InboundMessage as WaInbound;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::address::phone_of;

/// The text body of an outbound message, quoting `quoted` (a WhatsApp id in the chat with `to`).
pub fn text_message(text: &str, quoted: Option<&str>, to: &Jid) -> wa::Message {
    match quoted {
        None => wa::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        },
        Some(id) => wa::Message {
            extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
                text: Some(text.to_owned()),
                context_info: MessageField::some(wa::ContextInfo {
                    stanza_id: Some(id.to_owned()),
                    // Replies usually quote the other party's message.
                    participant: Some(to.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

/// What wagate records of a received message; `None` for what is not a chat message (key
/// shares, revokes and other protocol messages, our own messages echoed from the phone) or
/// not supported yet.
pub fn inbound(m: &WaInbound) -> Option<InboundMessage> {
    let info = &m.info;
    let msg = &m.message;
    if info.source.is_from_me || msg.protocol_message.is_set() {
        return None;
    }
    let (text, quoted) = if let Some(t) = &msg.conversation {
        (t.clone(), None)
    } else if let Some(x) = msg.extended_text_message.as_option() {
        let quoted = x.context_info.as_option().and_then(|c| c.stanza_id.clone());
        (x.text.clone()?, quoted)
    } else {
        return None;
    };
    // Phone-number senders are recorded by number; a LID sender by the number WhatsApp gave
    // alongside (`sender_alt`).
    let from = phone_of(&info.source.sender)
        .or_else(|| info.source.sender_alt.as_ref().and_then(phone_of))?;
    let group = info.source.is_group.then(|| info.source.chat.to_string());
    Some(InboundMessage {
        external_id: info.id.to_string(),
        from,
        from_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        group,
        content: Content::Text(text),
        quoted_message_id: quoted,
        timestamp: Timestamp::from_millis(info.timestamp.timestamp_millis()),
    })
}
