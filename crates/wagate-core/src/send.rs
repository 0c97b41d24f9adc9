//! The send use case (§7.1, §9.10, §15.5, §16): what a request asks to send, parsed once.
//!
//! Three routes take a message's content: `POST /v1/messages/send`, `POST /webhook/{token}` and
//! the sandbox's `POST /sandbox/v1/messages`. Each request type flattens the one [`ContentFields`]
//! (`#[serde(flatten)]`), and each parses it here, with §15.5's limits, into a [`Content`]; the
//! two that send wrap it with its recipient and metadata in a [`NewOutbound`]. A new kind of
//! message is a field of `ContentFields`, a variant of `Content` and a branch of
//! [`ContentFields::parse`]: all three routes then take it, with the same errors.
//!
//! Nothing here has an id: the store makes a message's ids when it queues a [`NewMessage`].

use serde::Deserialize;
use thiserror::Error;

use crate::content::{
    ContactCard, ContactCardFields, KindError, Location, Poll, Reaction, ReactionFields,
};
use crate::instance::{ConnectionMethod, Instance};
use crate::message::{
    Content, Direction, Media, MediaType, Message, MessageStatus, Recipient, Template,
};
use crate::net::{TargetUrl, UrlPolicy};
use crate::phone::{PhoneError, PhoneNumber};
use crate::{AccountId, ChatId, InstanceId, MessageId, Timestamp};

/// §15.5: a text message is at most this many characters,
pub const MAX_TEXT: usize = 65_536;
/// a caption at most this many,
pub const MAX_CAPTION: usize = 1_024;
/// and `metadata` a JSON object of at most this many bytes.
pub const MAX_METADATA: usize = 4 * 1024;
/// A document's file name is at most this many characters (what file systems keep),
pub const MAX_FILENAME: usize = 255;
/// and a quoted message's id at most this many (a `msg_` id, or the network's own).
pub const MAX_QUOTED_ID: usize = 128;

/// A short text of the request that is shown or matched as it is (a file name, an id): at most
/// `max` characters and no control characters.
fn short_text(field: &'static str, s: &str, max: usize) -> Result<(), SendError> {
    if s.chars().count() > max {
        return Err(SendError::field(field, format!("at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(SendError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// `quotedMessageId`, where a send or a sandbox contact gives one.
pub fn quoted_message_id(given: Option<String>) -> Result<Option<String>, SendError> {
    if let Some(id) = &given {
        short_text("quotedMessageId", id, MAX_QUOTED_ID)?;
    }
    Ok(given.filter(|id| !id.is_empty()))
}

/// The content of a message, as a request sends it: the part every send route shares.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContentFields {
    /// Text (at most 65,536 characters). Exactly one of `message`, `mediaUrl` (with
    /// `mediaType`), `location`, `contacts`, `reaction`, `poll` or `template`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 65536))]
    pub message: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = "uri", max_length = 2048))]
    pub media_url: Option<String>,
    /// `image`, `video`, `audio`, `document` or `sticker` (WebP, at most 500 KB).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(image|video|audio|document|sticker)$")
    )]
    pub media_type: Option<String>,
    /// With `mediaType: audio`: send it as a push-to-talk voice note (OGG/Opus).
    pub voice_note: Option<bool>,
    /// File name for documents (at most 255 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 255, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")
    )]
    pub filename: Option<String>,
    /// At most 1,024 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 1024))]
    pub caption: Option<String>,
    /// A message template (instances connected with `method: official` only), instead of
    /// `message` or `mediaUrl`: the way to write first, or again after 24 hours of silence.
    pub template: Option<TemplateFields>,
    /// A place: latitude −90..90, longitude −180..180.
    pub location: Option<Location>,
    /// One to ten contact cards.
    pub contacts: Option<Vec<ContactCardFields>>,
    /// A reaction to a message of the same chat; `emoji: ""` takes it back.
    pub reaction: Option<ReactionFields>,
    /// A poll: a question and 2 to 12 distinct options.
    pub poll: Option<Poll>,
    /// With `message`: the numbers it mentions (in groups), at most 256.
    #[cfg_attr(feature = "openapi", schema(max_items = 256))]
    pub mentions: Option<Vec<String>>,
}

/// Meta's template message: `components` are passed to Meta as given.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// The name the OpenAPI document has always given it.
#[cfg_attr(feature = "openapi", schema(as = TemplateRequest))]
pub struct TemplateFields {
    #[cfg_attr(feature = "openapi", schema(example = "order_update"))]
    pub name: String,
    /// Language code, e.g. `en_US` or `pt_BR`.
    #[cfg_attr(feature = "openapi", schema(example = "pt_BR"))]
    pub language: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub components: Option<serde_json::Value>,
}

/// What the circumstances of a send allow, beyond the content's own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRules {
    /// Which media URLs the server may fetch (the static part; names are resolved by the server).
    pub url_policy: UrlPolicy,
    /// Templates exist only on Meta's Cloud API.
    pub templates: bool,
}

impl SendRules {
    /// A send by an instance connected with `connection`.
    pub fn for_connection(url_policy: UrlPolicy, connection: Option<ConnectionMethod>) -> Self {
        Self {
            url_policy,
            templates: connection == Some(ConnectionMethod::Official),
        }
    }

    /// A message written by a contact of the sandbox network (§16): a phone cannot send a
    /// template.
    pub fn for_contact(url_policy: UrlPolicy) -> Self {
        Self {
            url_policy,
            templates: false,
        }
    }
}

/// Why a send was refused. Each variant is one error code of §15.2, and names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// No content, or more than one kind (`missing_content`).
    #[error(
        "Send exactly one of 'message', 'mediaUrl' with 'mediaType', 'location', 'contacts', 'reaction', 'poll' or 'template'."
    )]
    MissingContent,
    /// Media that cannot be sent as given (`invalid_media`).
    #[error("{message}")]
    InvalidMedia {
        field: &'static str,
        message: String,
    },
    /// A recipient that is neither a phone number nor a group (`invalid_phone_number`).
    #[error("{field}: {error}")]
    InvalidRecipient {
        field: &'static str,
        error: PhoneError,
    },
    /// A value outside its limits (`invalid_request`, with `details: [{field, issue}]`).
    #[error("Invalid value for '{field}': {issue}")]
    Field { field: &'static str, issue: String },
}

impl SendError {
    fn field(field: &'static str, issue: impl ToString) -> Self {
        SendError::Field {
            field,
            issue: issue.to_string(),
        }
    }

    fn media(field: &'static str, message: String) -> Self {
        SendError::InvalidMedia { field, message }
    }

    /// The request field the error is about (`None`: the content as a whole).
    pub fn field_name(&self) -> Option<&'static str> {
        match self {
            SendError::MissingContent => None,
            SendError::InvalidMedia { field, .. }
            | SendError::InvalidRecipient { field, .. }
            | SendError::Field { field, .. } => Some(field),
        }
    }
}

impl From<KindError> for SendError {
    fn from(e: KindError) -> Self {
        SendError::Field {
            field: e.field,
            issue: e.issue,
        }
    }
}

impl ContentFields {
    /// How many kinds of content are given (media counts once, with or without its type).
    fn kinds(&self) -> usize {
        [
            self.message.is_some(),
            self.media_url.is_some() || self.media_type.is_some(),
            self.template.is_some(),
            self.location.is_some(),
            self.contacts.is_some(),
            self.reaction.is_some(),
            self.poll.is_some(),
        ]
        .into_iter()
        .filter(|given| *given)
        .count()
    }

    /// Exactly one kind of content, within §15.5's and §17.1's limits: what every send route
    /// accepts.
    pub fn parse(self, rules: &SendRules) -> Result<Content, SendError> {
        if self.kinds() > 1 {
            return Err(SendError::MissingContent);
        }
        if let Some(l) = self.location {
            return Ok(Content::Location(Location::parse(l)?));
        }
        if let Some(cards) = self.contacts {
            return Ok(Content::Contacts(ContactCard::parse_all(cards)?));
        }
        if let Some(r) = self.reaction {
            return Ok(Content::Reaction(Reaction::parse(r)?));
        }
        if let Some(p) = self.poll {
            return Ok(Content::Poll(Poll::parse(p)?));
        }
        if let Some(t) = self.template {
            if !rules.templates {
                return Err(SendError::field(
                    "template",
                    "templates are sent by instances connected with method 'official'",
                ));
            }
            return Template::parse(t.name, t.language, t.components)
                .map(Content::Template)
                .map_err(|e| SendError::field("template", e));
        }
        if let Some(f) = &self.filename {
            short_text("filename", f, MAX_FILENAME)?;
        }
        if let Some(c) = &self.caption
            && c.chars().count() > MAX_CAPTION
        {
            return Err(SendError::field(
                "caption",
                format!("at most {MAX_CAPTION} characters"),
            ));
        }
        match (self.message, self.media_url, self.media_type) {
            (Some(text), None, None) => {
                if text.is_empty() {
                    return Err(SendError::MissingContent);
                }
                if text.chars().count() > MAX_TEXT {
                    return Err(SendError::field(
                        "message",
                        format!("at most {MAX_TEXT} characters"),
                    ));
                }
                Ok(Content::Text(text))
            }
            (None, Some(url), Some(kind)) => {
                let media_type = match (MediaType::parse_requested(&kind), self.voice_note) {
                    (Some(MediaType::Audio), Some(true)) => MediaType::Voice,
                    (Some(_), Some(true)) => {
                        return Err(SendError::field(
                            "voiceNote",
                            "a voice note is sent with mediaType 'audio'",
                        ));
                    }
                    (Some(t), _) => t,
                    (None, _) => {
                        return Err(SendError::media(
                            "mediaType",
                            format!(
                                "mediaType '{kind}' is not one of image, video, audio, document, sticker."
                            ),
                        ));
                    }
                };
                let url = TargetUrl::parse(&url, rules.url_policy).map_err(|e| {
                    SendError::media("mediaUrl", format!("mediaUrl is not valid: {e}."))
                })?;
                Ok(Content::Media(Media {
                    media_type,
                    url: url.as_str().to_owned(),
                    caption: self.caption,
                    filename: self.filename,
                    mime_type: None,
                    size: None,
                }))
            }
            (None, Some(_), None) => Err(SendError::media(
                "mediaType",
                "Media needs both 'mediaUrl' and 'mediaType'.".into(),
            )),
            (None, None, Some(_)) => Err(SendError::media(
                "mediaUrl",
                "Media needs both 'mediaUrl' and 'mediaType'.".into(),
            )),
            _ => Err(SendError::MissingContent),
        }
    }
}

/// At most this many numbers are mentioned in one message.
pub const MAX_MENTIONS: usize = 256;

impl ContentFields {
    /// The numbers a text mentions, each once, in the order given.
    pub fn mentions(&self) -> Result<Vec<PhoneNumber>, SendError> {
        let Some(list) = &self.mentions else {
            return Ok(Vec::new());
        };
        if self.message.is_none() {
            return Err(SendError::field("mentions", "mentions go with 'message'"));
        }
        if list.len() > MAX_MENTIONS {
            return Err(SendError::field(
                "mentions",
                format!("at most {MAX_MENTIONS} numbers"),
            ));
        }
        let mut out: Vec<PhoneNumber> = Vec::with_capacity(list.len());
        for raw in list {
            let p = PhoneNumber::parse(raw).map_err(|_| {
                SendError::field("mentions", format!("'{raw}' is not a phone number"))
            })?;
            if !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }
}

/// The fields of a send request besides its content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendFields {
    pub to: String,
    pub content: ContentFields,
    pub quoted_message_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// A message to send, parsed: who gets what. It has no ids and no instance yet
/// ([`NewOutbound::of`] adds the instance; the store makes the ids).
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbound {
    pub to: Recipient,
    pub content: Content,
    /// Numbers a text mentions.
    pub mentions: Vec<PhoneNumber>,
    pub quoted_message_id: Option<String>,
    /// A JSON object of at most [`MAX_METADATA`] bytes, echoed in webhooks.
    pub metadata: Option<serde_json::Value>,
}

impl NewOutbound {
    /// Checks in the order a client meets them: the recipient, the content, the metadata.
    pub fn parse(fields: SendFields, rules: &SendRules) -> Result<Self, SendError> {
        let to = Recipient::parse(&fields.to)
            .map_err(|error| SendError::InvalidRecipient { field: "to", error })?;
        let mentions = fields.content.mentions()?;
        let content = fields.content.parse(rules)?;
        if let Some(m) = &fields.metadata {
            if !m.is_object() {
                return Err(SendError::field("metadata", "must be a JSON object"));
            }
            if m.to_string().len() > MAX_METADATA {
                return Err(SendError::field("metadata", "at most 4 KB"));
            }
        }
        Ok(Self {
            to,
            content,
            mentions,
            quoted_message_id: quoted_message_id(fields.quoted_message_id)?,
            metadata: fields.metadata,
        })
    }

    /// The send of `inst`, accepted at `now`.
    pub fn of(self, inst: &Instance, now: Timestamp) -> NewMessage {
        NewMessage {
            account_id: inst.account_id.clone(),
            instance_id: inst.id.clone(),
            send: self,
            created_at: now,
        }
    }
}

/// An accepted send of an instance, to be queued: everything of its `Message` but the ids.
///
/// The store makes them (`MessageStore::insert_outbound_batch`), rather than the core making them
/// here, once: the message id has to be made inside the write transaction, under the instance's
/// lock, for id order to be commit order (the send queue's and the history cursors' order), and
/// the chat id is the id of the peer's chat, which only that transaction knows. Ids made here
/// would have to be overwritten there, which is what this type is for not doing.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub account_id: AccountId,
    pub instance_id: InstanceId,
    pub send: NewOutbound,
    pub created_at: Timestamp,
}

impl NewMessage {
    /// The message as stored, `queued`, with the ids the store made for it: the one place an
    /// outbound `Message` is made.
    pub fn into_message(self, id: MessageId, chat_id: ChatId) -> Message {
        Message {
            id,
            account_id: self.account_id,
            instance_id: self.instance_id,
            chat_id,
            direction: Direction::Outbound,
            peer: self.send.to,
            peer_name: None,
            author: None,
            content: self.send.content,
            mentions: self.send.mentions,
            quoted_message_id: self.send.quoted_message_id,
            quoted_external_id: None,
            metadata: self.send.metadata,
            external_id: None,
            status: MessageStatus::Queued,
            error: None,
            created_at: self.created_at,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            edited_at: None,
            reactions: Vec::new(),
            votes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };

    fn rules() -> SendRules {
        SendRules::for_connection(STRICT, Some(ConnectionMethod::Qrcode))
    }

    fn official() -> SendRules {
        SendRules::for_connection(STRICT, Some(ConnectionMethod::Official))
    }

    /// The content fields of a JSON body, as a request type that flattens them reads them.
    fn fields(body: serde_json::Value) -> ContentFields {
        serde_json::from_value(body).unwrap()
    }

    fn parse(body: serde_json::Value) -> Result<Content, SendError> {
        fields(body).parse(&rules())
    }

    fn field_of(r: Result<Content, SendError>) -> Option<&'static str> {
        r.unwrap_err().field_name()
    }

    #[test]
    fn text_is_one_to_65536_characters() {
        assert_eq!(
            parse(json!({"message": "olá"})),
            Ok(Content::Text("olá".into()))
        );
        // Characters, not bytes.
        assert!(parse(json!({"message": "é".repeat(MAX_TEXT)})).is_ok());
        let long = parse(json!({"message": "x".repeat(MAX_TEXT + 1)}));
        assert_eq!(
            long,
            Err(SendError::Field {
                field: "message",
                issue: "at most 65536 characters".into()
            })
        );
        assert_eq!(
            long.unwrap_err().to_string(),
            "Invalid value for 'message': at most 65536 characters"
        );
        assert_eq!(
            parse(json!({"message": ""})),
            Err(SendError::MissingContent)
        );
    }

    #[test]
    fn exactly_one_kind_of_content() {
        for body in [
            json!({}),
            json!({"caption": "only a caption"}),
            json!({"message": "x", "mediaUrl": "https://e.com/a.jpg", "mediaType": "image"}),
            json!({"message": "x", "mediaType": "image"}),
        ] {
            assert_eq!(
                parse(body.clone()),
                Err(SendError::MissingContent),
                "{body}"
            );
        }
        for two in [
            json!({"message": "x", "template": {"name": "t", "language": "en"}}),
            json!({"message": "x", "location": {"latitude": 1.0, "longitude": 2.0}}),
            json!({"poll": {"question": "q", "options": ["a", "b"]},
                "reaction": {"messageId": "msg_01jd3k9w6q8x2m4v7c5b0n1t2r", "emoji": "x"}}),
            json!({"mediaUrl": "https://e.com/a.jpg", "mediaType": "image",
                "contacts": [{"name": "Ana", "phones": ["5511988887777"]}]}),
        ] {
            assert_eq!(parse(two.clone()), Err(SendError::MissingContent), "{two}");
        }
    }

    #[test]
    fn each_kind_parses_and_names_its_bad_field() {
        let Ok(Content::Location(l)) =
            parse(json!({"location": {"latitude": -23.5, "longitude": -46.6, "name": "Sé"}}))
        else {
            panic!("a location")
        };
        assert_eq!(l.name.as_deref(), Some("Sé"));
        assert!(matches!(
            parse(json!({"contacts": [{"name": "Ana", "phones": ["5511988887777"]}]})),
            Ok(Content::Contacts(c)) if c.len() == 1
        ));
        assert!(matches!(
            parse(json!({"poll": {"question": "Lunch?", "options": ["Yes", "No"]}})),
            Ok(Content::Poll(p)) if !p.multiple_answers
        ));
        for (body, field) in [
            (
                json!({"location": {"latitude": 91, "longitude": 0}}),
                "location.latitude",
            ),
            (json!({"contacts": []}), "contacts"),
            (
                json!({"poll": {"question": "q", "options": ["a"]}}),
                "poll.options",
            ),
            (json!({"reaction": {"emoji": "x"}}), "reaction.messageId"),
            (
                json!({"mediaUrl": "https://e.com/a.jpg", "mediaType": "image", "voiceNote": true}),
                "voiceNote",
            ),
        ] {
            assert_eq!(field_of(parse(body.clone())), Some(field), "{body}");
        }
        let Ok(Content::Media(voice)) = parse(
            json!({"mediaUrl": "https://e.com/a.ogg", "mediaType": "audio", "voiceNote": true}),
        ) else {
            panic!("a voice note")
        };
        assert_eq!(voice.media_type, MediaType::Voice);
        // `voice` is a type of history, not of a request.
        assert_eq!(
            field_of(parse(
                json!({"mediaUrl": "https://e.com/a.ogg", "mediaType": "voice"})
            )),
            Some("mediaType")
        );
    }

    #[test]
    fn media_needs_a_known_type_and_an_allowed_url() {
        let ok = parse(
            json!({"mediaUrl": "https://e.com/a.pdf", "mediaType": "document",
            "filename": "a.pdf", "caption": "the invoice"}),
        )
        .unwrap();
        let Content::Media(m) = ok else {
            panic!("{ok:?}")
        };
        assert_eq!(m.media_type, MediaType::Document);
        assert_eq!(m.url, "https://e.com/a.pdf");
        assert_eq!(m.filename.as_deref(), Some("a.pdf"));
        assert_eq!(m.caption.as_deref(), Some("the invoice"));

        let gif = parse(json!({"mediaUrl": "https://e.com/a.gif", "mediaType": "gif"}));
        assert_eq!(
            gif.clone().unwrap_err().to_string(),
            "mediaType 'gif' is not one of image, video, audio, document, sticker."
        );
        assert_eq!(field_of(gif), Some("mediaType"));
        for (url, why) in [
            ("https://127.0.0.1/a.jpg", "private"),
            ("http://e.com/a.jpg", "https"),
            ("not a url", "absolute"),
            ("ftp://e.com/a.jpg", "http and https"),
        ] {
            let r = parse(json!({"mediaUrl": url, "mediaType": "image"}));
            let e = r.clone().unwrap_err();
            assert!(
                matches!(&e, SendError::InvalidMedia { message, .. }
                    if message.starts_with("mediaUrl is not valid: ") && message.contains(why)),
                "{url}: {e:?}"
            );
            assert_eq!(field_of(r), Some("mediaUrl"));
        }
        // The server's policy decides about private addresses.
        let loose = SendRules::for_connection(
            UrlPolicy {
                allow_private: true,
            },
            None,
        );
        assert!(
            fields(json!({"mediaUrl": "http://127.0.0.1:9000/a.jpg", "mediaType": "image"}))
                .parse(&loose)
                .is_ok()
        );
        assert_eq!(
            field_of(parse(json!({"mediaUrl": "https://e.com/a.jpg"}))),
            Some("mediaType")
        );
        assert_eq!(
            field_of(parse(json!({"mediaType": "image"}))),
            Some("mediaUrl")
        );
    }

    #[test]
    fn captions_are_at_most_1024_characters() {
        let body = |caption: String| {
            let url = "https://e.com/a.jpg";
            json!({"mediaUrl": url, "mediaType": "image", "caption": caption})
        };
        assert!(parse(body("c".repeat(MAX_CAPTION))).is_ok());
        assert_eq!(
            parse(body("c".repeat(MAX_CAPTION + 1))),
            Err(SendError::Field {
                field: "caption",
                issue: "at most 1024 characters".into()
            })
        );
    }

    #[test]
    fn templates_only_where_the_connection_has_them() {
        let body = json!({"template": {"name": "order_update", "language": "pt_BR",
            "components": [{"type": "body"}]}});
        let Ok(Content::Template(t)) = fields(body.clone()).parse(&official()) else {
            panic!("an official instance sends templates")
        };
        assert_eq!((t.name.as_str(), t.components.len()), ("order_update", 1));
        for rules in [rules(), SendRules::for_contact(STRICT)] {
            assert_eq!(
                fields(body.clone()).parse(&rules),
                Err(SendError::Field {
                    field: "template",
                    issue: "templates are sent by instances connected with method 'official'"
                        .into()
                })
            );
        }
        let bad = fields(json!({"template": {"name": "Bad Name", "language": "en"}}));
        assert_eq!(
            bad.parse(&official()).unwrap_err().field_name(),
            Some("template")
        );
    }

    fn send(body: serde_json::Value) -> Result<NewOutbound, SendError> {
        let metadata = body.get("metadata").cloned();
        NewOutbound::parse(
            SendFields {
                to: body["to"].as_str().unwrap_or_default().to_owned(),
                content: fields(body),
                quoted_message_id: None,
                metadata,
            },
            &rules(),
        )
    }

    #[test]
    fn a_send_has_a_recipient_content_and_small_metadata() {
        let ok = send(json!({"to": "5511999999999", "message": "hi", "metadata": {"order": 7}}))
            .unwrap();
        assert_eq!(ok.to.as_str(), "5511999999999");
        assert_eq!(ok.content, Content::Text("hi".into()));
        assert_eq!(ok.metadata, Some(json!({"order": 7})));
        assert!(
            send(json!({"to": "120363025246125486@g.us", "message": "hi"}))
                .unwrap()
                .to
                .is_group()
        );

        let bad_to = send(json!({"to": "+5511999999999", "message": "hi"})).unwrap_err();
        assert!(matches!(
            bad_to,
            SendError::InvalidRecipient { field: "to", .. }
        ));
        assert!(bad_to.to_string().starts_with("to: phone numbers are"));
        for metadata in [json!([1]), json!({"k": "v".repeat(MAX_METADATA)})] {
            let e = send(json!({"to": "5511999999999", "message": "hi", "metadata": metadata}))
                .unwrap_err();
            assert_eq!(e.field_name(), Some("metadata"), "{e:?}");
        }
        // The recipient is checked first, the content next, the metadata last.
        assert!(matches!(
            send(json!({"to": "1", "metadata": [1]})),
            Err(SendError::InvalidRecipient { .. })
        ));
        assert_eq!(
            send(json!({"to": "5511999999999", "metadata": [1]})),
            Err(SendError::MissingContent)
        );
    }
}
