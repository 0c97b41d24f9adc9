//! A received WhatsApp message → the engine event wagate records: media downloaded and kept,
//! a vote decrypted, a reaction pointed at the message it is about. Both ways messages reach
//! wagate (the durability hook, and the event stream for what bypassed it) go through here.

use wagate_core::content::Content;
use wagate_core::engine::{EngineEvent, InboundMessage, InboundReaction, InboundVote};
use whatsapp_rust::Client;
use whatsapp_rust::types::events::InboundMessage as WaInbound;

use crate::convert::{self, Body};
use crate::shared::Shared;
use crate::{media, polls};

/// None for what is not recorded (protocol messages, echoes of our own, votes on polls that
/// are not ours). An error means it must not be acknowledged: WhatsApp delivers it again.
pub async fn event_of(
    shared: &Shared,
    client: &Client,
    m: &WaInbound,
) -> anyhow::Result<Option<EngineEvent>> {
    let Some(r) = convert::inbound(m) else {
        return Ok(None);
    };
    let message = |content| InboundMessage {
        external_id: r.external_id.clone(),
        from: r.from.clone(),
        from_name: r.from_name.clone(),
        group: r.group.clone(),
        content,
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
        Body::Reaction { target, emoji } => EngineEvent::Reaction(InboundReaction {
            external_id: r.external_id,
            from: r.from,
            from_name: r.from_name,
            group: r.group,
            target_external_id: target,
            emoji,
            timestamp: r.timestamp,
        }),
        Body::Vote { poll, vote } => {
            let voter = &m.info.source.sender;
            match polls::read_vote(shared, client, &poll, voter, vote).await? {
                Some(selected_options) => EngineEvent::PollVote(InboundVote {
                    poll_external_id: poll,
                    from: r.from,
                    selected_options,
                    timestamp: r.timestamp,
                }),
                None => return Ok(None),
            }
        }
    }))
}
