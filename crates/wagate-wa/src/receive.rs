//! A received WhatsApp message → the engine event wagate records: media downloaded and kept, a
//! vote decrypted, a reaction, edit or delete pointed at the message it is about, a LID sender
//! resolved to its number when whatsapp-rust knows it. Both ways messages reach wagate (the
//! durability hook, and the event stream for what bypassed it) go through here.

use wagate_core::content::Content;
use wagate_core::engine::{
    EngineEvent, InboundChange, InboundMessage, InboundReaction, InboundVote,
};
use wagate_core::message::Recipient;
use whatsapp_rust::Client;
use whatsapp_rust::types::events::InboundMessage as WaInbound;

use crate::convert::{self, Body};
use crate::driver::phone_for;
use crate::shared::Shared;
use crate::{media, polls};

/// None for what is not recorded (protocol messages, echoes of our own, votes on polls that
/// are not ours, and reactions, votes or changes from a sender known only by its LID). An error
/// means it must not be acknowledged: WhatsApp delivers it again.
pub async fn event_of(
    shared: &Shared,
    client: &Client,
    m: &WaInbound,
) -> anyhow::Result<Option<EngineEvent>> {
    let Some(mut r) = convert::inbound(m) else {
        return Ok(None);
    };
    // A LID sender's number, when whatsapp-rust has learnt it (its LID↔PN mapping).
    if let Recipient::Lid(_) = r.from
        && let Some(p) = phone_for(client, &m.info.source.sender).await
    {
        r.from = Recipient::Phone(p);
    }
    // What is about another message is recorded by its sender's number.
    let phone = match &r.from {
        Recipient::Phone(p) => Some(p.clone()),
        _ => None,
    };
    let message = |content| InboundMessage {
        external_id: r.external_id.clone(),
        from: r.from.clone(),
        from_name: r.from_name.clone(),
        group: r.group.clone(),
        content,
        mentions: r.mentions.clone(),
        quoted_external_id: r.quoted.clone(),
        timestamp: r.timestamp,
    };
    Ok(Some(match r.body {
        Body::Ready(content) => EngineEvent::Inbound(message(content)),
        Body::Media {
            file,
            media_type,
            caption,
            filename,
            mime_type,
        } => {
            let kept = media::keep(
                shared, client, file, media_type, caption, filename, mime_type,
            )
            .await?;
            EngineEvent::Inbound(message(Content::Media(kept)))
        }
        Body::Reaction { target, emoji } => {
            let Some(from) = phone else {
                return Ok(lid_only("reaction"));
            };
            EngineEvent::Reaction(InboundReaction {
                external_id: r.external_id,
                from,
                from_name: r.from_name,
                group: r.group,
                target_external_id: target,
                emoji,
                timestamp: r.timestamp,
            })
        }
        Body::Change { target, change } => {
            let Some(from) = phone else {
                return Ok(lid_only(change.as_str()));
            };
            EngineEvent::Changed(InboundChange {
                external_id: r.external_id,
                from,
                target_external_id: target,
                change,
                timestamp: r.timestamp,
            })
        }
        Body::Vote { poll, vote } => {
            let Some(from) = phone else {
                return Ok(lid_only("vote"));
            };
            let voter = &m.info.source.sender;
            match polls::read_vote(shared, client, &poll, voter, vote).await? {
                Some(selected_options) => EngineEvent::PollVote(InboundVote {
                    poll_external_id: poll,
                    from,
                    selected_options,
                    timestamp: r.timestamp,
                }),
                None => return Ok(None),
            }
        }
    }))
}

/// A reaction, vote or change from a sender known only by its LID: acknowledged, not kept.
fn lid_only(what: &str) -> Option<EngineEvent> {
    tracing::info!(what, "from a sender known only by its LID; not kept");
    None
}
