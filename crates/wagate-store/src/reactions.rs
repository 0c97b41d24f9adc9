//! What others answered to a message (§17.3): reactions, one per person, and a poll's votes,
//! the latest of each voter. Both are written beside the message they are about and read with it.

use std::collections::HashMap;

use sqlx::AssertSqlSafe;
use wagate_core::content::{Content, Reaction, ReactionBy, Vote};
use wagate_core::message::Message;
use wagate_core::store::StoreError;
use wagate_core::{InstanceId, MessageId, Timestamp};

use crate::args::{Arg, arguments, placeholders};
use crate::error::{corrupt, db};

/// `reactor`'s reaction to `target` becomes `reaction` (an empty emoji takes it back).
pub(crate) async fn react(
    conn: &mut sqlx::AnyConnection,
    reaction: &Reaction,
    reactor: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let target = reaction.message_id.as_str();
    if reaction.is_removal() {
        sqlx::query("DELETE FROM message_reactions WHERE message_id = $1 AND reactor = $2")
            .bind(target)
            .bind(reactor)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO message_reactions (message_id, reactor, emoji, reacted_at) \
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM messages WHERE id = $1) \
         ON CONFLICT (message_id, reactor) DO UPDATE SET emoji = excluded.emoji, \
         reacted_at = excluded.reacted_at",
    )
    .bind(target)
    .bind(reactor)
    .bind(reaction.emoji.as_str())
    .bind(at.millis())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Records `vote` on `poll` unless it is the voter's vote already; returns whether it changed.
pub(crate) async fn vote(
    conn: &mut sqlx::AnyConnection,
    poll: &MessageId,
    vote: &Vote,
) -> Result<bool, StoreError> {
    let options = serde_json::to_string(&vote.options).map_err(corrupt)?;
    let done = sqlx::query(
        "INSERT INTO poll_votes (message_id, voter, options, voted_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (message_id, voter) DO UPDATE SET options = excluded.options, \
         voted_at = excluded.voted_at WHERE poll_votes.options <> excluded.options",
    )
    .bind(poll.as_str())
    .bind(vote.voter.as_str())
    .bind(options)
    .bind(vote.at.millis())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

/// The instance's own number: the reactor of its own reactions.
pub(crate) async fn own_phone(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT phone FROM instances WHERE id = $1")
            .bind(instance.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?
            .flatten(),
    )
}

/// Fills in the reactions of `messages` and the votes of the polls among them: two reads,
/// whatever the number of messages.
pub(crate) async fn attach(
    pool: &sqlx::AnyPool,
    messages: &mut [Message],
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<Arg> = messages
        .iter()
        .map(|m| Arg::Text(m.id.to_string()))
        .collect();
    let list = placeholders(1, ids.len());
    let reactions: Vec<(String, String, String)> = sqlx::query_as_with(
        AssertSqlSafe(format!(
            "SELECT message_id, reactor, emoji FROM message_reactions WHERE message_id IN ({list}) \
             ORDER BY reacted_at, reactor"
        )),
        arguments(&ids)?,
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut by_message: HashMap<String, Vec<ReactionBy>> = HashMap::new();
    for (id, from, emoji) in reactions {
        by_message
            .entry(id)
            .or_default()
            .push(ReactionBy { from, emoji });
    }
    let polls: Vec<Arg> = messages
        .iter()
        .filter(|m| matches!(m.content, Content::Poll(_)))
        .map(|m| Arg::Text(m.id.to_string()))
        .collect();
    let mut votes: HashMap<String, Vec<Vote>> = HashMap::new();
    if !polls.is_empty() {
        let list = placeholders(1, polls.len());
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as_with(
            AssertSqlSafe(format!(
                "SELECT message_id, voter, options, voted_at FROM poll_votes \
                 WHERE message_id IN ({list}) ORDER BY voted_at, voter"
            )),
            arguments(&polls)?,
        )
        .fetch_all(pool)
        .await
        .map_err(db)?;
        for (id, voter, options, at) in rows {
            votes.entry(id).or_default().push(Vote {
                voter,
                options: serde_json::from_str(&options).map_err(corrupt)?,
                at: Timestamp::from_millis(at),
            });
        }
    }
    for m in messages {
        m.reactions = by_message.remove(m.id.as_str()).unwrap_or_default();
        m.votes = votes.remove(m.id.as_str()).unwrap_or_default();
    }
    Ok(())
}
