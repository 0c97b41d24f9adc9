//! The request bodies of `POST /{phone-number-id}/messages`, as Meta documents them
//! (<https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages>).

use serde_json::{Value, json};
use thiserror::Error;
use wagate_core::content::ContactCard;
use wagate_core::engine::OutboundMessage;
use wagate_core::message::{Content, MediaType, Recipient};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OutboundError {
    #[error("the Cloud API engine sends to phone numbers, not to groups or LIDs")]
    NoPhoneNumber,
    #[error("the Cloud API has no {0} messages")]
    NoSuchKind(&'static str),
    #[error("the message reacted to is not known to Meta")]
    UnknownTarget,
}

/// A contact card as Meta's `contacts` message takes it.
fn card(c: &ContactCard) -> Value {
    let mut v = json!({
        "name": {"formatted_name": c.name, "first_name": c.name},
        "phones": c.phones.iter().map(|p| json!({"phone": format!("+{p}"), "wa_id": p.as_str(), "type": "CELL"})).collect::<Vec<_>>(),
    });
    if let Some(org) = &c.organization {
        v["org"] = json!({"company": org});
    }
    if let Some(email) = &c.email {
        v["emails"] = json!([{"email": email, "type": "WORK"}]);
    }
    v
}

/// The body that sends `m`. Media goes by link: Meta fetches it, not us.
pub fn message_body(m: &OutboundMessage) -> Result<Value, OutboundError> {
    let to = match &m.to {
        Recipient::Phone(p) => p.as_str().to_owned(),
        Recipient::Group(_) | Recipient::Lid(_) => return Err(OutboundError::NoPhoneNumber),
    };
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    });
    let (kind, part) = match &m.content {
        Content::Text(text) => ("text", json!({"preview_url": false, "body": text})),
        Content::Media(media) => {
            let mut part = json!({"link": media.url});
            // Audio and stickers take no caption; only documents carry a file name.
            let captioned = !matches!(
                media.media_type,
                MediaType::Audio | MediaType::Voice | MediaType::Sticker
            );
            if captioned && let Some(c) = &media.caption {
                part["caption"] = json!(c);
            }
            if media.media_type == MediaType::Document
                && let Some(f) = &media.filename
            {
                part["filename"] = json!(f);
            }
            // A voice note is audio to Meta (an OGG/Opus file plays as one).
            let kind = match media.media_type {
                MediaType::Voice => "audio",
                other => other.as_str(),
            };
            (kind, part)
        }
        Content::Location(l) => {
            let mut part = json!({"latitude": l.latitude, "longitude": l.longitude});
            if let Some(n) = &l.name {
                part["name"] = json!(n);
            }
            if let Some(a) = &l.address {
                part["address"] = json!(a);
            }
            ("location", part)
        }
        Content::Contacts(cards) => (
            "contacts",
            json!(cards.iter().map(card).collect::<Vec<_>>()),
        ),
        Content::Reaction(r) => {
            let target = m.target.as_ref().ok_or(OutboundError::UnknownTarget)?;
            (
                "reaction",
                json!({"message_id": target.external_id, "emoji": r.emoji}),
            )
        }
        Content::Poll(_) => return Err(OutboundError::NoSuchKind("poll")),
        Content::Unsupported(_) => return Err(OutboundError::NoSuchKind("unsupported")),
        Content::Deleted => return Err(OutboundError::NoSuchKind("deleted")),
        Content::Template(t) => {
            let mut part = json!({"name": t.name, "language": {"code": t.language}});
            if !t.components.is_empty() {
                part["components"] = json!(t.components);
            }
            ("template", part)
        }
    };
    body["type"] = json!(kind);
    body[kind] = part;
    if let Some(q) = &m.quoted_external_id {
        body["context"] = json!({"message_id": q});
    }
    Ok(body)
}

/// Marks a received message (and everything before it in the chat) as read.
pub fn read_body(external_id: &str) -> Value {
    json!({"messaging_product": "whatsapp", "status": "read", "message_id": external_id})
}

#[cfg(test)]
mod tests {
    use super::*;
    use wagate_core::MessageId;
    use wagate_core::message::{Media, Template};

    fn out(content: Content, quoted: Option<&str>) -> OutboundMessage {
        OutboundMessage {
            id: MessageId::generate(),
            to: Recipient::parse("5511999999999").unwrap(),
            content,
            mentions: Vec::new(),
            quoted_external_id: quoted.map(str::to_owned),
            target: None,
            media: None,
        }
    }

    fn media(t: MediaType) -> Content {
        Content::Media(Media {
            media_type: t,
            url: "https://cdn.example.com/f".into(),
            caption: Some("cap".into()),
            filename: Some("f.pdf".into()),
            mime_type: None,
            size: None,
        })
    }

    #[test]
    fn text_reply() {
        let b = message_body(&out(Content::Text("hi".into()), Some("wamid.Q"))).unwrap();
        assert_eq!(
            b,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": "5511999999999", "type": "text",
                   "text": {"preview_url": false, "body": "hi"},
                   "context": {"message_id": "wamid.Q"}})
        );
    }

    #[test]
    fn media_fields_follow_each_type() {
        let doc = message_body(&out(media(MediaType::Document), None)).unwrap();
        assert_eq!(
            doc["document"],
            json!({"link": "https://cdn.example.com/f", "caption": "cap", "filename": "f.pdf"})
        );
        let img = message_body(&out(media(MediaType::Image), None)).unwrap();
        assert_eq!(
            img["image"],
            json!({"link": "https://cdn.example.com/f", "caption": "cap"})
        );
        let audio = message_body(&out(media(MediaType::Audio), None)).unwrap();
        assert_eq!(audio["audio"], json!({"link": "https://cdn.example.com/f"}));
    }

    #[test]
    fn template_and_groups() {
        let t = Template::parse("hello_world".into(), "en_US".into(), None).unwrap();
        let b = message_body(&out(Content::Template(t), None)).unwrap();
        assert_eq!(
            b["template"],
            json!({"name": "hello_world", "language": {"code": "en_US"}})
        );
        let mut g = out(Content::Text("x".into()), None);
        g.to = Recipient::parse("1203630252@g.us").unwrap();
        assert_eq!(message_body(&g), Err(OutboundError::NoPhoneNumber));
    }
}
