//! Polls on WhatsApp Web: a poll carries a random secret, and every vote on it is encrypted
//! with a key derived from that secret (and the poll's id, its creator and the voter). The
//! secret and options of each poll the instance sends are kept with its session, so that the
//! votes that come back can be read.

use serde::{Deserialize, Serialize};
use wagate_core::content::Poll;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::wacore::poll::{PollVoteCiphertext, compute_option_hash};
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, Jid};

use crate::shared::Shared;
use crate::state::ns::Ns;

/// What is kept of a poll the instance sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OurPoll {
    secret: Vec<u8>,
    options: Vec<String>,
}

/// The poll's message, with a new secret (returned, to keep once the poll is sent).
pub fn creation_message(
    poll: &Poll,
    context: Option<Box<wa::ContextInfo>>,
) -> (wa::Message, Vec<u8>) {
    let secret: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    let body = wa::message::PollCreationMessage {
        name: Some(poll.question.clone()),
        options: poll
            .options
            .iter()
            .map(|o| wa::message::poll_creation_message::Option {
                option_name: Some(o.clone()),
                ..Default::default()
            })
            .collect(),
        // 0: any number of options.
        selectable_options_count: Some(if poll.multiple_answers { 0 } else { 1 }),
        context_info: context.map(|c| MessageField::some(*c)).unwrap_or_default(),
        ..Default::default()
    };
    let mut message = if poll.multiple_answers {
        wa::Message {
            poll_creation_message: MessageField::some(body),
            ..Default::default()
        }
    } else {
        // WhatsApp Web sends single-answer polls as v3.
        wa::Message {
            poll_creation_message_v3: MessageField::some(body),
            ..Default::default()
        }
    };
    message.message_context_info = MessageField::some(wa::MessageContextInfo {
        message_secret: Some(secret.clone()),
        ..Default::default()
    });
    (message, secret)
}

/// Keeps the secret of the poll sent as `id`.
pub async fn remember(
    shared: &Shared,
    id: &str,
    poll: &Poll,
    secret: Vec<u8>,
) -> anyhow::Result<()> {
    let kept = OurPoll {
        secret,
        options: poll.options.clone(),
    };
    shared
        .backend
        .put_own(Ns::OurPoll, id.as_bytes(), serde_json::to_vec(&kept)?)
        .await?;
    Ok(())
}

/// The options `voter` chose on our poll `poll_id`, or None when the poll is not one of ours
/// (its secret is unknown) or the vote does not open.
pub async fn read_vote(
    shared: &Shared,
    client: &Client,
    poll_id: &str,
    voter: &Jid,
    vote: &wa::message::PollEncValue,
) -> anyhow::Result<Option<Vec<String>>> {
    let Some(raw) = shared
        .backend
        .get_own(Ns::OurPoll, poll_id.as_bytes())
        .await?
    else {
        return Ok(None);
    };
    let poll: OurPoll = serde_json::from_slice(&raw)?;
    let (Some(payload), Some(iv)) = (&vote.enc_payload, &vote.enc_iv) else {
        return Ok(None);
    };
    let Some(me) = shared.phone().map(|p| Jid::pn(&p)) else {
        return Ok(None);
    };
    let ciphertext = PollVoteCiphertext {
        enc_payload: payload,
        enc_iv: iv,
    };
    let hashes = match client
        .polls()
        .decrypt_vote(ciphertext, &poll.secret, poll_id, &me, voter)
        .await
    {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(instance = %shared.instance, error = %e, "a poll vote did not decrypt");
            return Ok(None);
        }
    };
    Ok(Some(
        poll.options
            .into_iter()
            .filter(|o| {
                hashes
                    .iter()
                    .any(|h| h.as_slice() == compute_option_hash(o))
            })
            .collect(),
    ))
}
