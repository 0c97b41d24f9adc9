//! The content model (§17.1, §17.3): every kind of message wagate sends, receives and stores, as
//! one closed set. A value of each kind is within its limits: the parsers below are the only way
//! a request makes one, and what the store reads back was one of them.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::MessageId;
use crate::message::{Media, MediaType, Template};
use crate::phone::PhoneNumber;

/// Exactly one kind of content, so "neither" and "both" cannot be represented.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Text(String),
    /// Image, video, audio, voice note, document or sticker.
    Media(Media),
    Location(Location),
    /// One to ten contact cards (vCards on WhatsApp).
    Contacts(Vec<ContactCard>),
    Reaction(Reaction),
    Poll(Poll),
    Template(Template),
    /// A kind wagate does not model; `kind` is the network's name for it.
    Unsupported(Unsupported),
    /// Deleted for everyone (§17.2): what it held is gone; the item stays.
    Deleted,
}

impl Content {
    /// `type` in history and events.
    pub fn type_str(&self) -> &'static str {
        match self {
            Content::Text(_) => "text",
            Content::Media(m) => m.media_type.as_str(),
            Content::Location(_) => "location",
            Content::Contacts(_) => "contacts",
            Content::Reaction(_) => "reaction",
            Content::Poll(_) => "poll",
            Content::Template(_) => "template",
            Content::Unsupported(_) => "unsupported",
            Content::Deleted => "deleted",
        }
    }

    /// The `content` field: the text, the caption (empty when there is none), the emoji of a
    /// reaction, a poll's question, or a short preview such as `[Location]`.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Media(m) => m.caption.clone().unwrap_or_default(),
            Content::Location(l) => l.name.clone().unwrap_or_else(|| "[Location]".into()),
            Content::Contacts(c) => match c.as_slice() {
                [one] => one.name.clone(),
                many => format!("[{} contacts]", many.len()),
            },
            Content::Reaction(r) => r.emoji.clone(),
            Content::Poll(p) => p.question.clone(),
            Content::Template(t) => t.name.clone(),
            Content::Unsupported(_) => "[Unsupported]".into(),
            Content::Deleted => String::new(),
        }
    }

    /// What a chat list shows for it.
    pub fn preview(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Media(m) => m.media_type.preview().to_owned(),
            Content::Location(_) => "[Location]".into(),
            Content::Contacts(_) => "[Contact]".into(),
            Content::Reaction(r) => r.emoji.clone(),
            Content::Poll(p) => format!("[Poll] {}", p.question),
            Content::Template(_) => "[Template]".into(),
            Content::Unsupported(_) => "[Unsupported]".into(),
            Content::Deleted => "[Deleted]".into(),
        }
    }

    /// The kind's own object, as stored and as history and events show it (`location`,
    /// `contacts`, `poll`, `reaction`, `media`, `template`); `None` for text.
    pub fn object(&self) -> Option<serde_json::Value> {
        self.named_object().map(|(_, o)| o)
    }

    /// [`Content::object`] with the field it goes in, in history items and events.
    pub fn named_object(&self) -> Option<(&'static str, serde_json::Value)> {
        let (field, v) = match self {
            Content::Text(_) | Content::Deleted => return None,
            Content::Media(m) => ("media", serde_json::to_value(m)),
            Content::Location(l) => ("location", serde_json::to_value(l)),
            Content::Contacts(c) => ("contacts", serde_json::to_value(c)),
            Content::Reaction(r) => ("reaction", serde_json::to_value(r)),
            Content::Poll(p) => ("poll", serde_json::to_value(p)),
            Content::Template(t) => ("template", serde_json::to_value(t)),
            Content::Unsupported(u) => ("unsupported", serde_json::to_value(u)),
        };
        v.ok().map(|o| (field, o))
    }

    /// The content again from what [`Content::type_str`], [`Content::text`] and
    /// [`Content::object`] gave (as the store keeps it).
    pub fn from_parts(
        kind: &str,
        text: String,
        object: Option<&str>,
    ) -> Result<Self, StoredContentError> {
        fn read<T: serde::de::DeserializeOwned>(
            kind: &str,
            object: Option<&str>,
        ) -> Result<T, StoredContentError> {
            let json =
                object.ok_or_else(|| StoredContentError(format!("{kind} without its object")))?;
            serde_json::from_str(json).map_err(|e| StoredContentError(format!("{kind}: {e}")))
        }
        Ok(match kind {
            "text" => Content::Text(text),
            "deleted" => Content::Deleted,
            "location" => Content::Location(read(kind, object)?),
            "contacts" => Content::Contacts(read(kind, object)?),
            "reaction" => Content::Reaction(read(kind, object)?),
            "poll" => Content::Poll(read(kind, object)?),
            "template" => Content::Template(read(kind, object)?),
            "unsupported" => Content::Unsupported(read(kind, object)?),
            other => match (MediaType::parse(other), object) {
                (Some(_), Some(_)) => Content::Media(read(kind, object)?),
                // Rows written before media kept its object: the caption alone.
                (Some(media_type), None) => Content::Media(Media {
                    media_type,
                    url: String::new(),
                    caption: Some(text),
                    filename: None,
                    mime_type: None,
                    size: None,
                }),
                (None, _) => return Err(StoredContentError(format!("message type {other}"))),
            },
        })
    }
}

/// A stored content that none of the kinds reads.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unreadable stored content: {0}")]
pub struct StoredContentError(pub String);

/// Why a kind's fields were refused: the field (`location.latitude`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {issue}")]
pub struct KindError {
    pub field: &'static str,
    pub issue: String,
}

fn refuse<T>(field: &'static str, issue: impl Into<String>) -> Result<T, KindError> {
    Err(KindError {
        field,
        issue: issue.into(),
    })
}

/// A short text of a kind: within `max` characters, with no control characters.
fn short(field: &'static str, s: &str, max: usize) -> Result<(), KindError> {
    if s.chars().count() > max {
        return refuse(field, format!("at most {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return refuse(field, "must not contain control characters");
    }
    Ok(())
}

fn optional(
    field: &'static str,
    s: Option<String>,
    max: usize,
) -> Result<Option<String>, KindError> {
    match s {
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => short(field, &s, max).map(|()| Some(s)),
        None => Ok(None),
    }
}

/// A place on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[cfg_attr(feature = "openapi", schema(minimum = -90, maximum = 90, example = -23.5505))]
    pub latitude: f64,
    #[cfg_attr(feature = "openapi", schema(minimum = -180, maximum = 180, example = -46.6333))]
    pub longitude: f64,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub address: Option<String>,
}

impl Location {
    pub fn parse(l: Location) -> Result<Self, KindError> {
        if !(-90.0..=90.0).contains(&l.latitude) {
            return refuse("location.latitude", "must be between -90 and 90");
        }
        if !(-180.0..=180.0).contains(&l.longitude) {
            return refuse("location.longitude", "must be between -180 and 180");
        }
        Ok(Self {
            name: optional("location.name", l.name, 256)?,
            address: optional("location.address", l.address, 256)?,
            ..l
        })
    }
}

/// At most this many contact cards in one message.
pub const MAX_CARDS: usize = 10;

/// A contact card: who, and how to reach them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContactCard {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, example = "Ana Souza")
    )]
    pub name: String,
    /// One or more numbers, country code first, digits only.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, min_items = 1, max_items = 10))]
    pub phones: Vec<PhoneNumber>,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub organization: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub email: Option<String>,
}

/// A contact card as a request gives it: its numbers not yet parsed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = NewContactCard))]
#[serde(rename_all = "camelCase")]
pub struct ContactCardFields {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, example = "Ana Souza")
    )]
    pub name: String,
    /// One to ten numbers, country code first, digits only.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 10))]
    pub phones: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub organization: Option<String>,
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub email: Option<String>,
}

impl ContactCard {
    /// One to ten cards, each with a name and one to ten valid numbers.
    pub fn parse_all(cards: Vec<ContactCardFields>) -> Result<Vec<Self>, KindError> {
        if cards.is_empty() || cards.len() > MAX_CARDS {
            return refuse("contacts", format!("send 1 to {MAX_CARDS} contact cards"));
        }
        cards.into_iter().map(Self::parse).collect()
    }

    fn parse(c: ContactCardFields) -> Result<Self, KindError> {
        if c.name.trim().is_empty() {
            return refuse("contacts.name", "every card needs a name");
        }
        short("contacts.name", &c.name, 256)?;
        if c.phones.is_empty() || c.phones.len() > 10 {
            return refuse("contacts.phones", "every card needs 1 to 10 phone numbers");
        }
        let phones = c
            .phones
            .iter()
            .map(|p| PhoneNumber::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KindError {
                field: "contacts.phones",
                issue: e.to_string(),
            })?;
        Ok(Self {
            name: c.name,
            phones,
            organization: optional("contacts.organization", c.organization, 256)?,
            email: optional("contacts.email", c.email, 256)?,
        })
    }
}

/// A reaction to a message of the same chat; an empty emoji takes the reaction back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    /// The message reacted to (ours, `msg_…`).
    pub message_id: MessageId,
    pub emoji: String,
}

/// A reaction as a request gives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReactionFields {
    /// The message reacted to, `msg_…`, of the same chat.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "msg_01jd3k9w6q8x2m4v7c5b0n1t2r")
    )]
    pub message_id: Option<String>,
    /// One emoji; `""` removes the reaction.
    #[cfg_attr(feature = "openapi", schema(max_length = 16, example = "👍"))]
    pub emoji: String,
}

impl Reaction {
    pub fn parse(r: ReactionFields) -> Result<Self, KindError> {
        let Some(raw) = r.message_id else {
            return refuse("reaction.messageId", "the message reacted to is required");
        };
        let message_id = MessageId::parse(&raw).map_err(|_| KindError {
            field: "reaction.messageId",
            issue: "must be a message id (msg_…)".into(),
        })?;
        short("reaction.emoji", &r.emoji, 16)?;
        if r.emoji.trim() != r.emoji {
            return refuse("reaction.emoji", "must be one emoji, with no spaces");
        }
        Ok(Self {
            message_id,
            emoji: r.emoji,
        })
    }

    /// Whether it takes a reaction back.
    pub fn is_removal(&self) -> bool {
        self.emoji.is_empty()
    }
}

/// A poll has 2 to 12 options.
pub const POLL_OPTIONS: std::ops::RangeInclusive<usize> = 2..=12;

/// A question with 2 to 12 distinct options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Poll {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 255, example = "Lunch?")
    )]
    pub question: String,
    /// Distinct from one another.
    #[cfg_attr(feature = "openapi", schema(min_items = 2, max_items = 12))]
    pub options: Vec<String>,
    #[serde(default)]
    pub multiple_answers: bool,
}

impl Poll {
    pub fn parse(p: Poll) -> Result<Self, KindError> {
        if p.question.trim().is_empty() {
            return refuse("poll.question", "must not be empty");
        }
        short("poll.question", &p.question, 255)?;
        if !POLL_OPTIONS.contains(&p.options.len()) {
            return refuse("poll.options", "send 2 to 12 options");
        }
        for (i, o) in p.options.iter().enumerate() {
            if o.trim().is_empty() {
                return refuse("poll.options", "options must not be empty");
            }
            short("poll.options", o, 100)?;
            if p.options[..i].contains(o) {
                return refuse("poll.options", format!("'{o}' is given twice"));
            }
        }
        Ok(p)
    }
}

/// Who reacted to a message with what.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionBy {
    /// The number that reacted (the instance's own for its reactions).
    pub from: String,
    pub emoji: String,
}

/// One voter's choice in a poll: their latest vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub voter: String,
    /// The options chosen, by their text; none when the vote was taken back.
    pub options: Vec<String>,
    pub at: crate::Timestamp,
}

/// How many chose an option, and who.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResult {
    pub option: String,
    pub votes: u32,
    pub voters: Vec<String>,
}

impl Poll {
    /// The results of `votes`, one per option in the poll's order (votes for options the poll
    /// does not have are not counted).
    pub fn results(&self, votes: &[Vote]) -> Vec<PollResult> {
        self.options
            .iter()
            .map(|option| {
                let voters: Vec<String> = votes
                    .iter()
                    .filter(|v| v.options.contains(option))
                    .map(|v| v.voter.clone())
                    .collect();
                PollResult {
                    option: option.clone(),
                    votes: voters.len() as u32,
                    voters,
                }
            })
            .collect()
    }
}

/// A kind wagate does not model, kept so that nothing received is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unsupported {
    /// The network's name for the kind (e.g. `event_message`, Meta's `order`).
    pub kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(latitude: f64, longitude: f64) -> Location {
        Location {
            latitude,
            longitude,
            name: None,
            address: None,
        }
    }

    #[test]
    fn every_kind_reads_back_as_it_was_stored() {
        let kinds = [
            Content::Text("oi".into()),
            Content::Location(place(1.5, 2.5)),
            Content::Contacts(
                ContactCard::parse_all(vec![card("Ana", &["5511988887777"])]).unwrap(),
            ),
            Content::Reaction(Reaction {
                message_id: MessageId::generate(),
                emoji: "❤️".into(),
            }),
            Content::Poll(Poll {
                question: "Q".into(),
                options: vec!["a".into(), "b".into()],
                multiple_answers: true,
            }),
            Content::Unsupported(Unsupported {
                kind: "eventMessage".into(),
            }),
        ];
        for c in kinds {
            let json = c.object().map(|o| o.to_string());
            let back = Content::from_parts(c.type_str(), c.text(), json.as_deref()).unwrap();
            assert_eq!(back, c);
        }
        assert!(Content::from_parts("gif", String::new(), None).is_err());
        assert!(Content::from_parts("poll", String::new(), None).is_err());
    }

    #[test]
    fn a_location_is_on_the_globe() {
        assert!(Location::parse(place(-23.55, -46.63)).is_ok());
        assert!(Location::parse(place(90.0, 180.0)).is_ok());
        assert_eq!(
            Location::parse(place(90.1, 0.0)).unwrap_err().field,
            "location.latitude"
        );
        assert_eq!(
            Location::parse(place(0.0, -180.5)).unwrap_err().field,
            "location.longitude"
        );
        assert_eq!(
            Location::parse(place(f64::NAN, 0.0)).unwrap_err().field,
            "location.latitude"
        );
    }

    fn card(name: &str, phones: &[&str]) -> ContactCardFields {
        ContactCardFields {
            name: name.into(),
            phones: phones.iter().map(|p| p.to_string()).collect(),
            organization: None,
            email: None,
        }
    }

    #[test]
    fn contact_cards_have_names_and_valid_numbers() {
        let ok = ContactCard::parse_all(vec![card("Ana", &["5511988887777"])]).unwrap();
        assert_eq!(ok[0].phones[0].as_str(), "5511988887777");
        for (cards, field) in [
            (vec![], "contacts"),
            (vec![card("Ana", &["5511988887777"]); 11], "contacts"),
            (vec![card(" ", &["5511988887777"])], "contacts.name"),
            (vec![card("Ana", &[])], "contacts.phones"),
            (vec![card("Ana", &["+55 11"])], "contacts.phones"),
        ] {
            assert_eq!(ContactCard::parse_all(cards).unwrap_err().field, field);
        }
    }

    #[test]
    fn a_poll_has_a_question_and_2_to_12_distinct_options() {
        let poll = |q: &str, options: &[&str]| Poll {
            question: q.into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            multiple_answers: false,
        };
        assert!(Poll::parse(poll("Lunch?", &["Yes", "No"])).is_ok());
        assert_eq!(
            Poll::parse(poll("", &["Yes", "No"])).unwrap_err().field,
            "poll.question"
        );
        for options in [
            &["Yes"][..],
            &["o"; 13][..],
            &["Yes", "Yes"][..],
            &["Yes", ""][..],
        ] {
            assert_eq!(
                Poll::parse(poll("Q", options)).unwrap_err().field,
                "poll.options",
                "{options:?}"
            );
        }
    }

    #[test]
    fn a_reaction_names_our_message_and_one_emoji() {
        let r = |id: Option<&str>, emoji: &str| ReactionFields {
            message_id: id.map(Into::into),
            emoji: emoji.into(),
        };
        let id = MessageId::generate();
        let ok = Reaction::parse(r(Some(id.as_str()), "👍")).unwrap();
        assert_eq!(ok.message_id, id);
        assert!(
            Reaction::parse(r(Some(id.as_str()), ""))
                .unwrap()
                .is_removal()
        );
        assert_eq!(
            Reaction::parse(r(None, "👍")).unwrap_err().field,
            "reaction.messageId"
        );
        assert_eq!(
            Reaction::parse(r(Some("3EB0ABC"), "👍")).unwrap_err().field,
            "reaction.messageId"
        );
        assert_eq!(
            Reaction::parse(r(Some(id.as_str()), &"👍".repeat(17)))
                .unwrap_err()
                .field,
            "reaction.emoji"
        );
    }
}
