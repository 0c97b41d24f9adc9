//! WhatsApp message bodies ↔ wagate's messages (no I/O: media is moved by `media.rs`).

use wagate_core::Timestamp;
use wagate_core::change::Change;
use wagate_core::content::{ContactCard, Content, Location, Poll, Unsupported};
use wagate_core::engine::TargetMessage;
use wagate_core::group::GroupId;
use wagate_core::message::{MediaType, Recipient};
use wagate_core::phone::PhoneNumber;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::download::Downloadable;
use whatsapp_rust::types::events::InboundMessage as WaInbound;
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Jid, Server};

use crate::address::phone_of;
use crate::vcard;

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

/// The text body of an outbound message, quoting `quoted` (a WhatsApp id in the chat with `to`)
/// and mentioning `mentions`.
pub fn text_message(
    text: &str,
    quoted: Option<&str>,
    mentions: &[PhoneNumber],
    to: &Jid,
) -> wa::Message {
    let mut context = quote(quoted, to);
    if !mentions.is_empty() {
        context.get_or_insert_default().mentioned_jid = mentions
            .iter()
            .map(|p| Jid::pn(p.as_str()).to_string())
            .collect();
    }
    match context {
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

pub fn location_message(l: &Location, context: Option<Box<wa::ContextInfo>>) -> wa::Message {
    wa::Message {
        location_message: MessageField::some(wa::message::LocationMessage {
            degrees_latitude: Some(l.latitude),
            degrees_longitude: Some(l.longitude),
            name: l.name.clone(),
            address: l.address.clone(),
            context_info: context.map(|c| MessageField::some(*c)).unwrap_or_default(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One card is a contact message; several, a contacts array.
pub fn contacts_message(
    cards: &[ContactCard],
    context: Option<Box<wa::ContextInfo>>,
) -> wa::Message {
    let context_info = context.map(|c| MessageField::some(*c)).unwrap_or_default();
    let contact = |c: &ContactCard| wa::message::ContactMessage {
        display_name: Some(c.name.clone()),
        vcard: Some(vcard::write(c)),
        ..Default::default()
    };
    match cards {
        [one] => wa::Message {
            contact_message: MessageField::some(wa::message::ContactMessage {
                context_info,
                ..contact(one)
            }),
            ..Default::default()
        },
        many => wa::Message {
            contacts_array_message: MessageField::some(wa::message::ContactsArrayMessage {
                display_name: Some(format!("{} contacts", many.len())),
                contacts: many.iter().map(contact).collect(),
                context_info,
            }),
            ..Default::default()
        },
    }
}

/// A reaction to `target` in the chat with `to`; an empty emoji takes it back.
pub fn reaction_message(to: &Jid, target: &TargetMessage, emoji: &str) -> wa::Message {
    wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage {
            key: MessageField::some(wa::MessageKey {
                remote_jid: Some(to.to_string()),
                from_me: Some(target.from_me),
                id: Some(target.external_id.clone()),
                participant: None,
            }),
            text: Some(emoji.to_owned()),
            sender_timestamp_ms: Some(Timestamp::now().millis()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A received chat message, before its media (if any) is downloaded or its vote decrypted.
pub struct Received<'a> {
    pub external_id: String,
    /// The number, or the LID when the network gave no number alongside.
    pub from: Recipient,
    pub from_name: Option<String>,
    pub group: Option<GroupId>,
    pub body: Body<'a>,
    /// The network id of the message it replies to.
    pub quoted: Option<String>,
    /// The numbers a text mentions.
    pub mentions: Vec<PhoneNumber>,
    pub timestamp: Timestamp,
}

pub enum Body<'a> {
    /// Content that needs nothing more: text, a location, cards, a poll, an unknown kind.
    Ready(Content),
    /// An encrypted file on WhatsApp's CDN, described by the message.
    Media {
        file: &'a dyn Downloadable,
        media_type: MediaType,
        caption: Option<String>,
        filename: Option<String>,
        mime_type: Option<String>,
    },
    /// A reaction to the message the network knows as `target`.
    Reaction { target: String, emoji: String },
    /// An encrypted vote on the poll `poll` (one of ours, if wagate can read it).
    Vote {
        poll: String,
        vote: &'a wa::message::PollEncValue,
    },
    /// An edit or delete for everyone of the sender's message `target`.
    Change { target: String, change: Change },
}

/// The keys of a `wa::Message` that are not content: a message with only these (or with
/// none) is of a kind wagate does not know.
const NOT_CONTENT: [&str; 2] = ["message_context_info", "device_sent_message"];

/// What wagate records of a received message (out of its disappearing, view-once or edit
/// wrappers); `None` for what is not a chat message (key shares, protocol messages other than
/// edits and revokes, our own messages echoed from the phone). A kind wagate does not model is
/// `Content::Unsupported`, named by its protobuf field.
pub fn inbound(m: &WaInbound) -> Option<Received<'_>> {
    let info = &m.info;
    let msg = m.message.get_base_message();
    if info.source.is_from_me || msg.sender_key_distribution_message.is_set() {
        return None;
    }
    let context =
        |c: &MessageField<wa::ContextInfo>| c.as_option().and_then(|c| c.stanza_id.clone());
    let ready = |c: Content, q: Option<String>| (Body::Ready(c), q);
    let mut mentions = Vec::new();
    let (body, quoted) = if let Some(p) = msg.protocol_message.as_option() {
        (change_of(p)?, None)
    } else if let Some(t) = &msg.conversation {
        ready(Content::Text(t.clone()), None)
    } else if let Some(x) = msg.extended_text_message.as_option() {
        mentions = x
            .context_info
            .as_option()
            .map(|c| {
                c.mentioned_jid
                    .iter()
                    .filter_map(|j| j.parse::<Jid>().ok().and_then(|j| phone_of(&j)))
                    .collect()
            })
            .unwrap_or_default();
        ready(Content::Text(x.text.clone()?), context(&x.context_info))
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
        let kind = if x.ptt == Some(true) {
            MediaType::Voice
        } else {
            MediaType::Audio
        };
        (
            media(x, kind, None, None, x.mimetype.clone()),
            context(&x.context_info),
        )
    } else if let Some(x) = msg.document_message.as_option() {
        let body = media(
            x,
            MediaType::Document,
            x.caption.clone(),
            x.file_name.clone(),
            x.mimetype.clone(),
        );
        (body, context(&x.context_info))
    } else if let Some(x) = msg.sticker_message.as_option() {
        let body = media(x, MediaType::Sticker, None, None, x.mimetype.clone());
        (body, context(&x.context_info))
    } else if let Some(x) = msg.location_message.as_option() {
        ready(Content::Location(location(x)), context(&x.context_info))
    } else if let Some(x) = msg.contact_message.as_option() {
        let card = vcard::read(x.vcard.as_deref().unwrap_or(""), x.display_name.as_deref());
        ready(cards(card.into_iter().collect()), context(&x.context_info))
    } else if let Some(x) = msg.contacts_array_message.as_option() {
        let list = x
            .contacts
            .iter()
            .filter_map(|c| {
                vcard::read(c.vcard.as_deref().unwrap_or(""), c.display_name.as_deref())
            })
            .collect();
        ready(cards(list), context(&x.context_info))
    } else if let Some(x) = msg.reaction_message.as_option() {
        let target = x.key.as_option().and_then(|k| k.id.clone())?;
        let emoji = x.text.clone().unwrap_or_default();
        (Body::Reaction { target, emoji }, None)
    } else if let Some(x) = poll_of(msg) {
        let poll = Poll {
            question: x.name.clone().unwrap_or_default(),
            options: x
                .options
                .iter()
                .filter_map(|o| o.option_name.clone())
                .collect(),
            multiple_answers: x.selectable_options_count != Some(1),
        };
        ready(Content::Poll(poll), context(&x.context_info))
    } else if let Some(x) = msg.poll_update_message.as_option() {
        let key = x.poll_creation_message_key.as_option()?;
        let body = Body::Vote {
            poll: key.id.clone()?,
            vote: x.vote.as_option()?,
        };
        (body, None)
    } else {
        ready(
            Content::Unsupported(Unsupported { kind: kind_of(msg) }),
            None,
        )
    };
    // Phone-number senders are recorded by number; a LID sender by the number WhatsApp gave
    // alongside (`sender_alt`), or else by its LID.
    let sender = &info.source.sender;
    let from = match phone_of(sender).or_else(|| info.source.sender_alt.as_ref().and_then(phone_of))
    {
        Some(p) => Recipient::Phone(p),
        None if sender.server == Server::Lid => Recipient::Lid(sender.to_non_ad().to_string()),
        None => return None,
    };
    let group = info
        .source
        .is_group
        .then(|| GroupId::from_trusted(info.source.chat.to_non_ad().to_string()));
    Some(Received {
        external_id: info.id.to_string(),
        from,
        from_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        group,
        body,
        quoted,
        mentions,
        timestamp: Timestamp::from_millis(info.timestamp.timestamp_millis()),
    })
}

/// An edit (of a text or a caption) or a revoke; None for the other protocol messages.
fn change_of(p: &wa::message::ProtocolMessage) -> Option<Body<'static>> {
    use wa::message::protocol_message::Type;
    let target = p.key.as_option()?.id.clone()?;
    let change = match p.r#type? {
        Type::Revoke => Change::Delete,
        Type::MessageEdit => {
            let edited = p.edited_message.as_option()?;
            let text = edited.text_content().or_else(|| edited.get_caption())?;
            Change::Edit(text.to_owned())
        }
        _ => return None,
    };
    Some(Body::Change { target, change })
}

/// A poll of any of WhatsApp's versions (v3 is single answer, v1 multiple).
fn poll_of(msg: &wa::Message) -> Option<&wa::message::PollCreationMessage> {
    msg.poll_creation_message_v3
        .as_option()
        .or(msg.poll_creation_message.as_option())
        .or(msg.poll_creation_message_v2.as_option())
}

fn location(x: &wa::message::LocationMessage) -> Location {
    Location {
        latitude: x.degrees_latitude.unwrap_or_default(),
        longitude: x.degrees_longitude.unwrap_or_default(),
        name: x.name.clone().filter(|n| !n.is_empty()),
        address: x.address.clone().filter(|a| !a.is_empty()),
    }
}

/// Cards that could not be read leave nothing to show: the message is kept as unsupported.
fn cards(list: Vec<ContactCard>) -> Content {
    if list.is_empty() {
        Content::Unsupported(Unsupported {
            kind: "contactMessage".into(),
        })
    } else {
        Content::Contacts(list)
    }
}

/// The protobuf field name of the content of a message wagate does not model
/// (`event_message`), from its JSON form.
fn kind_of(msg: &wa::Message) -> String {
    serde_json::to_value(msg)
        .ok()
        .and_then(|v| {
            v.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, v)| !v.is_null() && !NOT_CONTENT.contains(&k.as_str()))
                    .map(|(k, _)| k.clone())
            })
        })
        .unwrap_or_else(|| "unknown".into())
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
