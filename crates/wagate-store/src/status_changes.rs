//! Status changes of outbound messages (`StatusChange`) as SQL: each is a forward-only `UPDATE`
//! from one status at a time (so the statistics know what it left), and writes its event in the
//! same transaction.

use sqlx::AssertSqlSafe;
use wagate_core::content::Content;
use wagate_core::event::Event;
use wagate_core::message::{Message, MessageError, MessageStatus};
use wagate_core::status_change::StatusChange;
use wagate_core::store::StoreError;

use crate::args::{Arg, arguments};
use crate::error::{corrupt, db};
use crate::messages::{MESSAGE_COLUMNS, MessageRow};
use crate::outbox::Appended;
use crate::stats::Tally;

/// The `UPDATE messages … WHERE …` of a change (without its status condition and `RETURNING`),
/// the statuses it moves from, most likely first, and its parameters.
type Update = (&'static str, &'static [MessageStatus], Vec<Arg>);

fn status_update(change: &StatusChange) -> Result<Update, StoreError> {
    use MessageStatus::{Delivered, Queued, Sent};
    let error_json = |e: &MessageError| serde_json::to_string(e).map_err(corrupt);
    Ok(match change {
        StatusChange::Sent {
            id,
            external_id,
            at,
        } => (
            "UPDATE messages SET status = 'sent', external_id = $2, sent_at = $3 \
             WHERE id = $1",
            &[Queued],
            vec![
                Arg::Text(id.to_string()),
                Arg::Text(external_id.clone()),
                Arg::Int(at.millis()),
            ],
        ),
        StatusChange::Failed { id, error } => (
            "UPDATE messages SET status = 'failed', error = $2 \
             WHERE id = $1",
            &[Queued, Sent],
            vec![Arg::Text(id.to_string()), Arg::Text(error_json(error)?)],
        ),
        StatusChange::Delivered {
            instance,
            external_id,
            at,
        } => (
            // The phone's clock is not ours: a receipt stamped before we recorded the send
            // shows the send's time, so sent ≤ delivered ≤ read always holds.
            "UPDATE messages SET status = 'delivered', \
             delivered_at = CASE WHEN sent_at > $3 THEN sent_at ELSE $3 END \
             WHERE instance_id = $1 AND external_id = $2 AND direction = 'outbound'",
            &[Sent],
            vec![
                Arg::Text(instance.to_string()),
                Arg::Text(external_id.clone()),
                Arg::Int(at.millis()),
            ],
        ),
        StatusChange::Read {
            instance,
            external_id,
            at,
        } => (
            "UPDATE messages SET status = 'read', \
             read_at = CASE WHEN COALESCE(delivered_at, sent_at) > $3 THEN COALESCE(delivered_at, sent_at) ELSE $3 END, \
             delivered_at = COALESCE(delivered_at, CASE WHEN sent_at > $3 THEN sent_at ELSE $3 END) \
             WHERE instance_id = $1 AND external_id = $2 AND direction = 'outbound'",
            &[Delivered, Sent],
            vec![
                Arg::Text(instance.to_string()),
                Arg::Text(external_id.clone()),
                Arg::Int(at.millis()),
            ],
        ),
        StatusChange::FailedAfterSent {
            instance,
            external_id,
            error,
        } => (
            "UPDATE messages SET status = 'failed', error = $3 \
             WHERE instance_id = $1 AND external_id = $2 AND direction = 'outbound'",
            &[Sent, Delivered],
            vec![
                Arg::Text(instance.to_string()),
                Arg::Text(external_id.clone()),
                Arg::Text(error_json(error)?),
            ],
        ),
    })
}

/// A reaction of the instance is on the message it is about once it is sent.
async fn own_reaction_sent(
    conn: &mut sqlx::AnyConnection,
    change: &StatusChange,
    m: &Message,
) -> Result<(), StoreError> {
    if let (StatusChange::Sent { at, .. }, Content::Reaction(r)) = (change, &m.content)
        && let Some(me) = crate::reactions::own_phone(conn, &m.instance_id).await?
    {
        crate::reactions::react(conn, r, &me, *at).await?;
    }
    Ok(())
}

/// Applies one change on `conn` (inside the caller's transaction), counts it in `tally` and
/// writes the event of the status it reached. Returns the message when it moved, and what the
/// outbox wrote.
pub(crate) async fn apply_change(
    conn: &mut sqlx::AnyConnection,
    change: &StatusChange,
    tally: &mut Tally,
) -> Result<(Option<Message>, Appended), StoreError> {
    let (update, from_statuses, params) = status_update(change)?;
    let mut moved = None;
    for from in from_statuses {
        let row: Option<MessageRow> = sqlx::query_as_with(
            AssertSqlSafe(format!(
                "{update} AND status = '{}' RETURNING {MESSAGE_COLUMNS}",
                from.as_str()
            )),
            arguments(&params)?,
        )
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if let Some(row) = row {
            moved = Some((*from, Message::try_from(row)?));
            break;
        }
    }
    let Some((from, m)) = moved else {
        return Ok((None, Appended::Nothing));
    };
    tally.moved(from, &m);
    own_reaction_sent(conn, change, &m).await?;
    let wrote = match Event::message_status(&m) {
        Some(event) => crate::outbox::append(conn, &event).await?,
        None => Appended::Nothing,
    };
    Ok((Some(m), wrote))
}
