//! WhatsApp message bodies ↔ wagate's messages (no I/O: media is moved by `media.rs`).

use wagate_core::Timestamp;
use wagate_core::message::MediaType;
use wagate_core::phone::PhoneNumber;
use whatsapp_rust::Jid;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::download::Downloadable;
use whatsapp_rust::types::events::InboundMessage as WaInbound;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::address::phone_of;

/// The reply context quoting `quoted` (a WhatsApp id in the chat with `to`).
pub fn quote(quoted: Option<&str>, to: &Jid) -> Option<Box<wa::ContextInfo>> {
    quoted.map(|id| {
        Box::new(wa::ContextInfo {
            stanza_id: Some(id.to_owned()),
            // Replies usually quote the other party's message.
            participant: Some(to.to_string()),
            ..Default::default()
        })
    })
}

/// The text body of an outbound message, quoting `quoted` (a WhatsApp id in the chat with `to`).
pub fn text_message(text: &str, quoted: Option<&str>, to: &Jid) -> wa::Message {
    match quote(quoted, to) {
        None => wa::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        },
        Some(context) => wa::Message {
            extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
                text: Some(text.to_owned()),
                context_info: MessageField::some(*context),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

/// A received chat message, before its media (if any) is downloaded.
pub struct Received<'a> {
    pub external_id: String,
    pub from: PhoneNumber,
    pub from_name: Option<String>,
    pub group: Option<String>,
    pub body: Body<'a>,
    pub quoted_message_id: Option<String>,
    pub timestamp: Timestamp,
}

pub enum Body<'a> {
    Text(String),
    /// An encrypted file on WhatsApp's CDN, described by the message.
    Media {
        file: &'a dyn Downloadable,
        media_type: MediaType,
        caption: Option<String>,
        filename: Option<String>,
        mime_type: Option<String>,
    },
}

/// What wagate records of a received message; `None` for what is not a chat message (key
/// shares, revokes and other protocol messages, our own messages echoed from the phone) or
/// not supported yet (stickers, locations, contacts, polls…).
pub fn inbound(m: &WaInbound) -> Option<Received<'_>> {
    let info = &m.info;
    let msg = &m.message;
    if info.source.is_from_me || msg.protocol_message.is_set() {
        return None;
    }
    let context =
        |c: &MessageField<wa::ContextInfo>| c.as_option().and_then(|c| c.stanza_id.clone());
    let (body, quoted) = if let Some(t) = &msg.conversation {
        (Body::Text(t.clone()), None)
    } else if let Some(x) = msg.extended_text_message.as_option() {
        (Body::Text(x.text.clone()?), context(&x.context_info))
    } else if let Some(x) = msg.image_message.as_option() {
        let body = media(
            x,
            MediaType::Image,
            x.caption.clone(),
            None,
            x.mimetype.clone(),
        );
        (body, context(&x.context_info))
    } else if let Some(x) = msg.video_message.as_option() {
        let body = media(
            x,
            MediaType::Video,
            x.caption.clone(),
            None,
            x.mimetype.clone(),
        );
        (body, context(&x.context_info))
    } else if let Some(x) = msg.audio_message.as_option() {
        let body = media(x, MediaType::Audio, None, None, x.mimetype.clone());
        (body, context(&x.context_info))
    } else if let Some(x) = msg.document_message.as_option() {
        let body = media(
            x,
            MediaType::Document,
            x.caption.clone(),
            x.file_name.clone(),
            x.mimetype.clone(),
        );
        (body, context(&x.context_info))
    } else {
        return None;
    };
    // Phone-number senders are recorded by number; a LID sender by the number WhatsApp gave
    // alongside (`sender_alt`).
    let from = phone_of(&info.source.sender)
        .or_else(|| info.source.sender_alt.as_ref().and_then(phone_of))?;
    let group = info.source.is_group.then(|| info.source.chat.to_string());
    Some(Received {
        external_id: info.id.to_string(),
        from,
        from_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        group,
        body,
        quoted_message_id: quoted,
        timestamp: Timestamp::from_millis(info.timestamp.timestamp_millis()),
    })
}

fn media<'a>(
    file: &'a dyn Downloadable,
    media_type: MediaType,
    caption: Option<String>,
    filename: Option<String>,
    mime_type: Option<String>,
) -> Body<'a> {
    Body::Media {
        file,
        media_type,
        caption: caption.filter(|c| !c.is_empty()),
        filename,
        mime_type,
    }
}
