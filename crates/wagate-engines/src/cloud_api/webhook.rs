//! Meta's webhooks: the `X-Hub-Signature-256` check and the `messages` payload, parsed into
//! what wagate acts on (status updates and received messages).
//! Payloads: <https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components>.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use thiserror::Error;
use wagate_core::Timestamp;
use wagate_core::content::{ContactCard, Content, Location, Unsupported};
use wagate_core::message::MediaType;
use wagate_core::phone::PhoneNumber;

use super::credentials::{AppSecret, PhoneNumberId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("X-Hub-Signature-256 is not sha256=<hex>")]
    Malformed,
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
    #[error("no app secret is configured to check X-Hub-Signature-256")]
    NoSecret,
}

impl SignatureError {
    /// A short label for logs and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Mismatch => "mismatch",
            SignatureError::NoSecret => "no_secret",
        }
    }
}

/// The `sha256=<hex>` of the header, decoded.
pub fn parse_signature(header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let value = header.ok_or(SignatureError::Missing)?;
    let hex_part = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    hex::decode(hex_part).map_err(|_| SignatureError::Malformed)
}

/// Checks the HMAC-SHA256 of the raw body under `secret`, in constant time.
pub fn verify(secret: &AppSecret, body: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// A message status Meta reports for a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusKind {
    Sent,
    Delivered,
    Read,
    Failed { meta_code: i64, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub external_id: String,
    pub kind: StatusKind,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IncomingBody {
    /// Content that needs nothing more: text, a location, contact cards, an unknown kind.
    Ready(Content),
    /// To fetch through `GET /{media-id}`.
    Media {
        media_type: MediaType,
        media_id: String,
        mime_type: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
    },
    /// A reaction to the message Meta knows as `target` (an empty emoji takes it back).
    Reaction { target: String, emoji: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncomingMessage {
    pub external_id: String,
    pub from: PhoneNumber,
    pub from_name: Option<String>,
    pub at: Timestamp,
    /// The `wamid` this message replies to.
    pub context_id: Option<String>,
    pub body: IncomingBody,
}

/// What one `change` says about one of our numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub phone_number_id: PhoneNumberId,
    pub statuses: Vec<StatusUpdate>,
    pub messages: Vec<IncomingMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a WhatsApp webhook payload: {0}")]
pub struct PayloadError(String);

// The wire shapes; only what wagate reads.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    entry: Vec<WireEntry>,
}
#[derive(Deserialize)]
struct WireEntry {
    #[serde(default)]
    changes: Vec<WireChange>,
}
#[derive(Deserialize)]
struct WireChange {
    field: String,
    value: WireValue,
}
#[derive(Deserialize)]
struct WireValue {
    metadata: Option<WireMetadata>,
    #[serde(default)]
    contacts: Vec<WireContact>,
    #[serde(default)]
    messages: Vec<WireMessage>,
    #[serde(default)]
    statuses: Vec<WireStatus>,
}
#[derive(Deserialize)]
struct WireMetadata {
    phone_number_id: String,
}
#[derive(Deserialize)]
struct WireContact {
    wa_id: String,
    profile: Option<WireProfile>,
}
#[derive(Deserialize)]
struct WireProfile {
    name: Option<String>,
}
#[derive(Deserialize)]
struct WireMessage {
    id: String,
    from: String,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<WireText>,
    image: Option<WireMedia>,
    video: Option<WireMedia>,
    audio: Option<WireMedia>,
    document: Option<WireMedia>,
    sticker: Option<WireMedia>,
    location: Option<WireLocation>,
    #[serde(default)]
    contacts: Vec<WireCard>,
    reaction: Option<WireReaction>,
    context: Option<WireContext>,
}
#[derive(Deserialize)]
struct WireLocation {
    latitude: f64,
    longitude: f64,
    name: Option<String>,
    address: Option<String>,
}
#[derive(Deserialize)]
struct WireCard {
    name: Option<WireCardName>,
    #[serde(default)]
    phones: Vec<WireCardPhone>,
    org: Option<WireCardOrg>,
    #[serde(default)]
    emails: Vec<WireCardEmail>,
}
#[derive(Deserialize)]
struct WireCardName {
    formatted_name: Option<String>,
}
#[derive(Deserialize)]
struct WireCardPhone {
    phone: Option<String>,
    wa_id: Option<String>,
}
#[derive(Deserialize)]
struct WireCardOrg {
    company: Option<String>,
}
#[derive(Deserialize)]
struct WireCardEmail {
    email: Option<String>,
}
#[derive(Deserialize)]
struct WireReaction {
    message_id: String,
    #[serde(default)]
    emoji: String,
}
#[derive(Deserialize)]
struct WireText {
    body: String,
}
#[derive(Deserialize)]
struct WireMedia {
    id: String,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    /// Audio recorded in the app (a voice note).
    #[serde(default)]
    voice: bool,
}
#[derive(Deserialize)]
struct WireContext {
    id: Option<String>,
}
#[derive(Deserialize)]
struct WireStatus {
    id: String,
    status: String,
    timestamp: String,
    #[serde(default)]
    errors: Vec<WireError>,
}
#[derive(Deserialize)]
struct WireError {
    code: i64,
    title: Option<String>,
    message: Option<String>,
}

/// Meta's timestamps are Unix seconds as a string.
fn timestamp(s: &str) -> Timestamp {
    s.parse::<i64>()
        .ok()
        .and_then(|secs| secs.checked_mul(1000))
        .map_or_else(Timestamp::now, Timestamp::from_millis)
}

/// What wagate keeps of a message it cannot read: its kind, for `type: unsupported`.
fn unsupported(kind: impl Into<String>) -> IncomingBody {
    IncomingBody::Ready(Content::Unsupported(Unsupported { kind: kind.into() }))
}

/// A card as Meta gives it; one without a name is none.
fn card_of(c: WireCard) -> Option<ContactCard> {
    let name = c
        .name
        .and_then(|n| n.formatted_name)
        .filter(|n| !n.is_empty())?;
    let mut phones = Vec::new();
    for p in c.phones {
        if let Some(p) = PhoneNumber::from_written(&p.wa_id.or(p.phone).unwrap_or_default())
            && !phones.contains(&p)
        {
            phones.push(p);
        }
    }
    Some(ContactCard {
        name,
        phones,
        organization: c.org.and_then(|o| o.company).filter(|o| !o.is_empty()),
        email: c.emails.into_iter().find_map(|e| e.email),
    })
}

fn body_of(m: WireMessage) -> IncomingBody {
    let kind = m.kind.clone();
    let media = |media_type, w: Option<WireMedia>| match w {
        Some(w) if !w.id.is_empty() && w.id.bytes().all(|b| b.is_ascii_digit()) => {
            IncomingBody::Media {
                media_type: if media_type == MediaType::Audio && w.voice {
                    MediaType::Voice
                } else {
                    media_type
                },
                media_id: w.id,
                mime_type: w.mime_type,
                caption: w.caption,
                filename: w.filename,
            }
        }
        _ => unsupported(kind.clone()),
    };
    match m.kind.as_str() {
        "text" => match m.text {
            Some(t) => IncomingBody::Ready(Content::Text(t.body)),
            None => unsupported("text"),
        },
        "image" => media(MediaType::Image, m.image),
        "video" => media(MediaType::Video, m.video),
        "audio" => media(MediaType::Audio, m.audio),
        "document" => media(MediaType::Document, m.document),
        "sticker" => media(MediaType::Sticker, m.sticker),
        "location" => match m.location {
            Some(l) => IncomingBody::Ready(Content::Location(Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name.filter(|n| !n.is_empty()),
                address: l.address.filter(|a| !a.is_empty()),
            })),
            None => unsupported("location"),
        },
        "contacts" => {
            let cards: Vec<ContactCard> = m.contacts.into_iter().filter_map(card_of).collect();
            if cards.is_empty() {
                unsupported("contacts")
            } else {
                IncomingBody::Ready(Content::Contacts(cards))
            }
        }
        "reaction" => match m.reaction {
            Some(r) => IncomingBody::Reaction {
                target: r.message_id,
                emoji: r.emoji,
            },
            None => unsupported("reaction"),
        },
        other => unsupported(other),
    }
}

/// Parses a webhook body. Changes of other fields (account updates, templates…) are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<Change>, PayloadError> {
    let wire: Wire = serde_json::from_slice(body).map_err(|e| PayloadError(e.to_string()))?;
    let mut changes = Vec::new();
    for change in wire.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let v = change.value;
        let Some(meta) = v.metadata else {
            return Err(PayloadError("a messages change without metadata".into()));
        };
        let phone_number_id =
            PhoneNumberId::parse(&meta.phone_number_id).map_err(|e| PayloadError(e.to_string()))?;
        let name_of = |wa_id: &str| {
            v.contacts
                .iter()
                .find(|c| c.wa_id == wa_id)
                .and_then(|c| c.profile.as_ref())
                .and_then(|p| p.name.clone())
        };
        let mut messages = Vec::new();
        for m in v.messages {
            let Ok(from) = PhoneNumber::parse(&m.from) else {
                return Err(PayloadError(format!(
                    "sender {:?} is not a phone number",
                    m.from
                )));
            };
            messages.push(IncomingMessage {
                external_id: m.id.clone(),
                from_name: name_of(&m.from),
                from,
                at: timestamp(&m.timestamp),
                context_id: m.context.as_ref().and_then(|c| c.id.clone()),
                body: body_of(m),
            });
        }
        let statuses = v
            .statuses
            .into_iter()
            .filter_map(|s| {
                let kind = match s.status.as_str() {
                    "sent" => StatusKind::Sent,
                    "delivered" => StatusKind::Delivered,
                    "read" => StatusKind::Read,
                    "failed" => {
                        let e = s.errors.first();
                        StatusKind::Failed {
                            meta_code: e.map_or(0, |e| e.code),
                            message: e
                                .and_then(|e| e.message.clone().or_else(|| e.title.clone()))
                                .unwrap_or_else(|| {
                                    "WhatsApp could not deliver the message.".into()
                                }),
                        }
                    }
                    // "deleted", "warning", …: nothing to record.
                    _ => return None,
                };
                Some(StatusUpdate {
                    external_id: s.id,
                    kind,
                    at: timestamp(&s.timestamp),
                })
            })
            .collect();
        changes.push(Change {
            phone_number_id,
            statuses,
            messages,
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret() -> AppSecret {
        AppSecret::parse("0123456789abcdef0123").unwrap()
    }

    fn sign(body: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret().expose().as_bytes()).unwrap();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn signatures_are_checked() {
        let body = br#"{"a":1}"#;
        let header = format!("sha256={}", hex::encode(sign(body)));
        let sig = parse_signature(Some(&header)).unwrap();
        assert_eq!(verify(&secret(), body, &sig), Ok(()));
        assert_eq!(
            verify(&secret(), br#"{"a":2}"#, &sig),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(parse_signature(None), Err(SignatureError::Missing));
        assert_eq!(
            parse_signature(Some("sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            parse_signature(Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn statuses_and_messages_are_parsed() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
              "metadata": {"display_phone_number": "15550001111", "phone_number_id": "777"},
              "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511988887777"}],
              "messages": [
                {"from": "5511988887777", "id": "wamid.in1", "timestamp": "1700000000",
                 "type": "text", "text": {"body": "Oi"}, "context": {"from": "15550001111", "id": "wamid.q"}},
                {"from": "5511988887777", "id": "wamid.in2", "timestamp": "1700000001",
                 "type": "image", "image": {"id": "4242", "mime_type": "image/jpeg", "caption": "look"}},
                {"from": "5511988887777", "id": "wamid.in3", "timestamp": "1700000002",
                 "type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "x"}},
                {"from": "5511988887777", "id": "wamid.in4", "timestamp": "1700000002",
                 "type": "location", "location": {"latitude": -23.5, "longitude": -46.6, "name": "Sé"}},
                {"from": "5511988887777", "id": "wamid.in5", "timestamp": "1700000002",
                 "type": "contacts", "contacts": [{"name": {"formatted_name": "Bia", "first_name": "Bia"},
                   "phones": [{"phone": "+55 11 97777-6666", "wa_id": "5511977776666", "type": "CELL"}],
                   "org": {"company": "Acme"}}]},
                {"from": "5511988887777", "id": "wamid.in6", "timestamp": "1700000002",
                 "type": "audio", "audio": {"id": "4343", "mime_type": "audio/ogg; codecs=opus", "voice": true}},
                {"from": "5511988887777", "id": "wamid.in7", "timestamp": "1700000002",
                 "type": "order", "order": {"catalog_id": "1"}}
              ],
              "statuses": [
                {"id": "wamid.out", "status": "delivered", "timestamp": "1700000003", "recipient_id": "5511988887777"},
                {"id": "wamid.out2", "status": "failed", "timestamp": "1700000004", "recipient_id": "5511988887777",
                 "errors": [{"code": 131047, "title": "Re-engagement message"}]}
              ]}},
            {"field": "account_update", "value": {}}
        ]}]});
        let changes = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(changes.len(), 1);
        let c = &changes[0];
        assert_eq!(c.phone_number_id.as_str(), "777");
        assert_eq!(c.messages[0].from_name.as_deref(), Some("Ana"));
        assert_eq!(
            c.messages[0].body,
            IncomingBody::Ready(Content::Text("Oi".into()))
        );
        assert_eq!(c.messages[0].context_id.as_deref(), Some("wamid.q"));
        assert_eq!(c.messages[0].at, Timestamp::from_millis(1_700_000_000_000));
        assert!(matches!(
            &c.messages[1].body,
            IncomingBody::Media { media_type: MediaType::Image, media_id, .. } if media_id == "4242"
        ));
        assert_eq!(
            c.messages[2].body,
            IncomingBody::Reaction {
                target: "wamid.x".into(),
                emoji: "x".into()
            }
        );
        assert!(matches!(
            &c.messages[3].body,
            IncomingBody::Ready(Content::Location(l)) if l.name.as_deref() == Some("Sé") && l.latitude == -23.5
        ));
        let IncomingBody::Ready(Content::Contacts(cards)) = &c.messages[4].body else {
            panic!("{:?}", c.messages[4].body)
        };
        assert_eq!(cards[0].phones[0].as_str(), "5511977776666");
        assert_eq!(cards[0].organization.as_deref(), Some("Acme"));
        assert!(matches!(
            &c.messages[5].body,
            IncomingBody::Media {
                media_type: MediaType::Voice,
                ..
            }
        ));
        assert_eq!(
            c.messages[6].body,
            IncomingBody::Ready(Content::Unsupported(Unsupported {
                kind: "order".into()
            }))
        );
        assert_eq!(c.statuses[0].kind, StatusKind::Delivered);
        assert_eq!(
            c.statuses[1].kind,
            StatusKind::Failed {
                meta_code: 131047,
                message: "Re-engagement message".into()
            }
        );
        assert!(parse(b"not json").is_err());
    }
}
