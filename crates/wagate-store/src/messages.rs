//! Messages and chats. The `queued` rows of an instance, in id (= acceptance) order,
//! are its send queue: a message is on disk before the API answers, and nothing else holds it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use wagate_core::chat::{Chat, ChatQuery, ChatSort, HistoryQuery, LastMessage};
use wagate_core::content::{Content, Vote};
use wagate_core::event::Event;
use wagate_core::message::{Direction, Message, Recipient};
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::send::NewMessage;
use wagate_core::status_change::StatusChange;
use wagate_core::store::{
    IdempotencyRecord, MessageStats, MessageStore, OutboundInsert, StoreError,
};
use wagate_core::{AccountId, ChatId, InstanceId, MessageId, Timestamp, UtcDay};

use crate::args::{Arg, arguments, placeholders};
use crate::error::{corrupt, db};
use crate::outbox::Appended;
use crate::paged::PagedQuery;
use crate::stats::Tally;
use crate::status_changes::apply_change;
use crate::{Dialect, SqlStore};

/// The `media` column holds the JSON of the content's own object (its media, location, cards,
/// poll, reaction or template; `Content::object`).
fn content_of(kind: &str, text: String, media: Option<String>) -> Result<Content, StoreError> {
    Content::from_parts(kind, text, media.as_deref()).map_err(corrupt)
}

fn media_json(c: &Content) -> Option<String> {
    c.object().map(|o| o.to_string())
}

/// The JSON list of mentioned numbers; NULL for none (most messages).
fn mentions_json(mentions: &[PhoneNumber]) -> Option<String> {
    (!mentions.is_empty())
        .then(|| {
            serde_json::to_string(&mentions.iter().map(|p| p.as_str()).collect::<Vec<_>>()).ok()
        })
        .flatten()
}

fn direction_of(s: &str) -> Result<Direction, StoreError> {
    match s {
        "inbound" => Ok(Direction::Inbound),
        "outbound" => Ok(Direction::Outbound),
        other => Err(corrupt(format!("direction {other}"))),
    }
}

fn json_of<T: serde::de::DeserializeOwned>(s: Option<String>) -> Result<Option<T>, StoreError> {
    s.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(corrupt)
}

/// A `messages` row.
#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: String,
    account_id: String,
    instance_id: String,
    chat_id: String,
    direction: String,
    peer: String,
    peer_name: Option<String>,
    author: Option<String>,
    #[sqlx(rename = "type")]
    kind: String,
    content: String,
    media: Option<String>,
    mentions: Option<String>,
    quoted_message_id: Option<String>,
    quoted_external_id: Option<String>,
    metadata: Option<String>,
    external_id: Option<String>,
    status: String,
    error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    delivered_at: Option<i64>,
    read_at: Option<i64>,
    edited_at: Option<i64>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            id: MessageId::from_trusted(r.id),
            account_id: AccountId::from_trusted(r.account_id),
            instance_id: InstanceId::from_trusted(r.instance_id),
            chat_id: ChatId::from_trusted(r.chat_id),
            direction: direction_of(&r.direction)?,
            peer: Recipient::from_trusted(r.peer),
            peer_name: r.peer_name,
            author: r.author.map(Recipient::from_trusted),
            content: content_of(&r.kind, r.content, r.media)?,
            mentions: json_of::<Vec<String>>(r.mentions)?
                .unwrap_or_default()
                .into_iter()
                .map(PhoneNumber::from_trusted)
                .collect(),
            quoted_message_id: r.quoted_message_id,
            quoted_external_id: r.quoted_external_id,
            metadata: json_of(r.metadata)?,
            external_id: r.external_id,
            status: r.status.parse().map_err(corrupt)?,
            error: json_of(r.error)?,
            created_at: Timestamp::from_millis(r.created_at),
            sent_at: r.sent_at.map(Timestamp::from_millis),
            delivered_at: r.delivered_at.map(Timestamp::from_millis),
            read_at: r.read_at.map(Timestamp::from_millis),
            edited_at: r.edited_at.map(Timestamp::from_millis),
            reactions: Vec::new(),
            votes: Vec::new(),
        })
    }
}

/// The columns of a `MessageRow`.
pub(crate) const MESSAGE_COLUMNS: &str = "id, account_id, instance_id, chat_id, direction, peer, \
     peer_name, type, content, media, quoted_message_id, quoted_external_id, metadata, external_id, \
     status, error, created_at, sent_at, delivered_at, read_at, edited_at, mentions, author";

/// A `chats` row joined with its last message's content (`lm_*`).
#[derive(sqlx::FromRow)]
struct ChatRow {
    id: String,
    peer: String,
    contact_name: Option<String>,
    is_group: i64,
    unread_count: i64,
    last_message_id: Option<String>,
    last_message_at: Option<i64>,
    created_at: i64,
    lm_type: Option<String>,
    lm_content: Option<String>,
    lm_media: Option<String>,
    lm_direction: Option<String>,
    profile_pic_url: Option<String>,
}

impl TryFrom<ChatRow> for Chat {
    type Error = StoreError;
    fn try_from(r: ChatRow) -> Result<Self, StoreError> {
        let last_message = match (r.last_message_id, r.lm_type, r.lm_direction) {
            (Some(id), Some(kind), Some(direction)) => Some(LastMessage {
                id: MessageId::from_trusted(id),
                content: content_of(&kind, r.lm_content.unwrap_or_default(), r.lm_media)?,
                at: Timestamp::from_millis(r.last_message_at.unwrap_or(0)),
                direction: direction_of(&direction)?,
            }),
            _ => None,
        };
        Ok(Chat {
            id: ChatId::from_trusted(r.id),
            peer: r.peer,
            contact_name: r.contact_name,
            profile_pic_url: r.profile_pic_url,
            is_group: r.is_group != 0,
            unread_count: u64::try_from(r.unread_count).unwrap_or(0),
            last_message,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

/// An `idempotency_keys` row.
#[derive(sqlx::FromRow)]
struct IdempotencyRow {
    key: String,
    request_hash: String,
    message_id: String,
    created_at: i64,
}

impl From<IdempotencyRow> for IdempotencyRecord {
    fn from(r: IdempotencyRow) -> Self {
        IdempotencyRecord {
            key: r.key,
            request_hash: r.request_hash,
            message_id: MessageId::from_trusted(r.message_id),
            created_at: Timestamp::from_millis(r.created_at),
        }
    }
}

const IDEMPOTENCY_SELECT: &str = "SELECT key, request_hash, message_id, created_at \
     FROM idempotency_keys WHERE account_id = $1 AND key = $2";

const CHAT_COLUMNS: &str = "c.id, c.peer, c.contact_name, c.is_group, c.unread_count, \
     c.last_message_id, c.last_message_at, c.created_at, m.type AS lm_type, m.content AS lm_content, m.media AS lm_media, \
     m.direction AS lm_direction, ct.profile_pic_url";
/// A chat with its last message and, for a contact's chat, the contact's cached picture.
const CHAT_FROM: &str = "chats c LEFT JOIN messages m ON m.id = c.last_message_id \
     LEFT JOIN contacts ct ON ct.instance_id = c.instance_id AND ct.phone = c.peer";

const INSERT_MESSAGE: &str = "INSERT INTO messages (id, account_id, instance_id, chat_id, direction, peer, \
     peer_name, type, content, media, quoted_message_id, quoted_external_id, metadata, external_id, status, \
     error, created_at, sent_at, delivered_at, read_at, mentions, author) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)";

/// The `msg_` id of the instance's message the network knows as `external_id`.
pub(crate) async fn stored_id(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
    external_id: &str,
) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT id FROM messages WHERE instance_id = $1 AND external_id = $2")
        .bind(instance.as_str())
        .bind(external_id)
        .fetch_optional(conn)
        .await
        .map_err(db)
}

pub(crate) async fn insert_message_row(
    conn: &mut sqlx::AnyConnection,
    m: &Message,
) -> Result<(), StoreError> {
    sqlx::query(INSERT_MESSAGE)
        .bind(m.id.as_str())
        .bind(m.account_id.as_str())
        .bind(m.instance_id.as_str())
        .bind(m.chat_id.as_str())
        .bind(m.direction.as_str())
        .bind(m.peer.as_str())
        .bind(m.peer_name.clone())
        .bind(m.content.type_str())
        .bind(m.content.text())
        .bind(media_json(&m.content))
        .bind(m.quoted_message_id.clone())
        .bind(m.quoted_external_id.clone())
        .bind(m.metadata.as_ref().map(|v| v.to_string()))
        .bind(m.external_id.clone())
        .bind(m.status.as_str())
        .bind(m.error.as_ref().and_then(|e| serde_json::to_string(e).ok()))
        .bind(m.created_at.millis())
        .bind(m.sent_at.map(Timestamp::millis))
        .bind(m.delivered_at.map(Timestamp::millis))
        .bind(m.read_at.map(Timestamp::millis))
        .bind(mentions_json(&m.mentions))
        .bind(m.author.as_ref().map(|a| a.as_str().to_owned()))
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// What a new message changes in its chat: the chat with `peer` gets it as its last message.
/// The `LIKE` pattern (with `ESCAPE '\'`) of a case-insensitive search for `term` anywhere: its
/// `%` and `_` are matched as themselves, not as wildcards.
pub(crate) fn contains(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub(crate) struct ChatUpdate<'a> {
    instance_id: &'a InstanceId,
    peer: &'a Recipient,
    /// The contact's name, from an inbound message or the phone's history.
    name: Option<&'a str>,
    /// The message adds one unread.
    unread: bool,
    /// Synced from the phone's history: its name does not replace one traffic gave.
    synced: bool,
    message_id: &'a MessageId,
    at: Timestamp,
}

impl<'a> ChatUpdate<'a> {
    fn of(m: &'a Message) -> Self {
        let inbound = m.direction == Direction::Inbound;
        Self {
            instance_id: &m.instance_id,
            peer: &m.peer,
            // A group's chat is named after its subject, not after who wrote in it.
            name: if inbound && m.author.is_none() {
                m.peer_name.as_deref()
            } else {
                None
            },
            // A reaction is not something to read.
            unread: inbound && !matches!(m.content, Content::Reaction(_)),
            synced: false,
            message_id: &m.id,
            at: m.created_at,
        }
    }

    /// A message synced from the phone: `unread` when it was received and not read there.
    pub(crate) fn synced(m: &'a Message, name: Option<&'a str>, unread: bool) -> Self {
        Self {
            instance_id: &m.instance_id,
            peer: &m.peer,
            name,
            unread,
            synced: true,
            message_id: &m.id,
            at: m.created_at,
        }
    }

    /// An outbound send, about to be stored as `id`.
    fn outbound(m: &'a NewMessage, id: &'a MessageId) -> Self {
        Self {
            instance_id: &m.instance_id,
            peer: &m.send.to,
            name: None,
            unread: false,
            synced: false,
            message_id: id,
            at: m.created_at,
        }
    }
}

/// Creates or refreshes the chat (counting its new unread in `tally`) and returns its id. The
/// chat's last message is the newest (history arrives in any order, and after live traffic).
pub(crate) async fn upsert_chat(
    conn: &mut sqlx::AnyConnection,
    c: ChatUpdate<'_>,
    tally: &mut Tally,
) -> Result<ChatId, StoreError> {
    let id: String = sqlx::query_scalar(
        "INSERT INTO chats (id, instance_id, peer, contact_name, is_group, unread_count, last_message_id, \
         last_message_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
         ON CONFLICT (instance_id, peer) DO UPDATE SET \
           last_message_id = CASE WHEN excluded.last_message_at >= COALESCE(chats.last_message_at, 0) \
             THEN excluded.last_message_id ELSE chats.last_message_id END, \
           last_message_at = CASE WHEN excluded.last_message_at >= COALESCE(chats.last_message_at, 0) \
             THEN excluded.last_message_at ELSE chats.last_message_at END, \
           unread_count = chats.unread_count + excluded.unread_count, \
           contact_name = CASE WHEN $9 = 1 THEN COALESCE(chats.contact_name, excluded.contact_name) \
             ELSE COALESCE(excluded.contact_name, chats.contact_name) END \
         RETURNING id",
    )
    .bind(ChatId::generate().as_str())
    .bind(c.instance_id.as_str())
    .bind(c.peer.as_str())
    .bind(c.name.map(str::to_owned))
    .bind(i64::from(c.peer.is_group()))
    .bind(i64::from(c.unread))
    .bind(c.message_id.as_str())
    .bind(c.at.millis())
    .bind(i64::from(c.synced))
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    tally.unread(c.instance_id, i64::from(c.unread));
    Ok(ChatId::from_trusted(id))
}

/// Sets the unread count of the chat with `peer` to 0 and takes what it had off the instance's
/// total in `tally`.
async fn clear_unread(
    conn: &mut sqlx::AnyConnection,
    instance: &InstanceId,
    peer: &str,
    tally: &mut Tally,
) -> Result<(), StoreError> {
    // On PostgreSQL the chat is locked before it is read, so an unread another transaction adds
    // meanwhile waits and is counted after ours. SQLite has one writer.
    let lock = match Dialect::of(conn) {
        Dialect::Postgres => " FOR UPDATE",
        Dialect::Sqlite => "",
    };
    let had: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT unread_count FROM chats WHERE instance_id = $1 AND peer = $2{lock}"
    )))
    .bind(instance.as_str())
    .bind(peer)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(had) = had.filter(|n| *n != 0) else {
        return Ok(());
    };
    sqlx::query("UPDATE chats SET unread_count = 0 WHERE instance_id = $1 AND peer = $2")
        .bind(instance.as_str())
        .bind(peer)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    tally.unread(instance, -had);
    Ok(())
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn insert_outbound_batch(
        &self,
        batch: &[OutboundInsert],
    ) -> Result<Vec<Result<Message, IdempotencyRecord>>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // SQLite has one writer connection; on PostgreSQL the instance rows are locked (in a
        // fixed order, so two nodes' batches cannot deadlock). Either way the ids made below
        // order the commits of each instance.
        if self.dialect == Dialect::Postgres {
            let mut instances: Vec<&str> = batch
                .iter()
                .map(|b| b.message.instance_id.as_str())
                .collect();
            instances.sort_unstable();
            instances.dedup();
            for id in instances {
                sqlx::query("SELECT id FROM instances WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        // Each send's id, or the earlier send of its idempotency key.
        let mut ids = Vec::with_capacity(batch.len());
        for item in batch {
            let m = &item.message;
            let id = MessageId::generate();
            if let Some(k) = &item.idempotency {
                // A key whose record has expired is taken over by this send.
                let done = sqlx::query(
                    "INSERT INTO idempotency_keys (account_id, key, request_hash, message_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, key) DO UPDATE SET \
                     request_hash = excluded.request_hash, message_id = excluded.message_id, \
                     created_at = excluded.created_at WHERE idempotency_keys.created_at < $6",
                )
                .bind(m.account_id.as_str())
                .bind(&k.key)
                .bind(&k.request_hash)
                .bind(id.as_str())
                .bind(m.created_at.millis())
                .bind(k.expired_before.millis())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                if done.rows_affected() == 0 {
                    let row: IdempotencyRow = sqlx::query_as(IDEMPOTENCY_SELECT)
                        .bind(m.account_id.as_str())
                        .bind(&k.key)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db)?;
                    ids.push(Err(row.into()));
                    continue;
                }
            }
            ids.push(Ok(id));
        }
        // One chat upsert per peer, with the peer's last message of the batch (outbound sends
        // add no unread), then the messages: under load most of a batch goes to few chats.
        let chat_of = |m: &NewMessage| (m.instance_id.to_string(), m.send.to.as_str().to_owned());
        let mut last = BTreeMap::new();
        for (i, (item, id)) in batch.iter().zip(&ids).enumerate() {
            if let Ok(id) = id {
                last.insert(chat_of(&item.message), (i, id));
            }
        }
        let mut tally = Tally::default();
        let mut chat_ids = BTreeMap::new();
        for (chat, (i, id)) in last {
            let chat_id = upsert_chat(
                &mut tx,
                ChatUpdate::outbound(&batch[i].message, id),
                &mut tally,
            )
            .await?;
            chat_ids.insert(chat, chat_id);
        }
        let mut stored = Vec::with_capacity(batch.len());
        for (item, id) in batch.iter().zip(ids) {
            stored.push(match id {
                Ok(id) => {
                    let chat_id = chat_ids[&chat_of(&item.message)].clone();
                    let m = item.message.clone().into_message(id, chat_id);
                    insert_message_row(&mut tx, &m).await?;
                    tally.inserted(&m);
                    Ok(m)
                }
                Err(used) => Err(used),
            });
        }
        tally.write(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(stored)
    }

    async fn find_idempotency(
        &self,
        account: &AccountId,
        key: &str,
        since: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row: Option<IdempotencyRow> = sqlx::query_as(AssertSqlSafe(format!(
            "{IDEMPOTENCY_SELECT} AND created_at >= $3"
        )))
        .bind(account.as_str())
        .bind(key)
        .bind(since.millis())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(row.map(IdempotencyRecord::from))
    }

    async fn next_queued(
        &self,
        instance: &InstanceId,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let rows: Vec<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE instance_id = $1 AND status = 'queued' ORDER BY id LIMIT $2"
        )))
        .bind(instance.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(Message::try_from).collect()
    }

    async fn change_statuses(
        &self,
        changes: &[StatusChange],
    ) -> Result<Vec<Option<Message>>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut moved = Vec::with_capacity(changes.len());
        let mut wrote_any = Appended::Nothing;
        let mut tally = Tally::default();
        for change in changes {
            let (m, wrote) = apply_change(&mut tx, change, &mut tally).await?;
            moved.push(m);
            wrote_any = wrote_any.max(wrote);
        }
        tally.write(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        self.appended(wrote_any);
        Ok(moved)
    }

    async fn insert_inbound(&self, m: &mut Message) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        if let Some(ext) = &m.external_id {
            let seen: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM messages WHERE instance_id = $1 AND external_id = $2",
            )
            .bind(m.instance_id.as_str())
            .bind(ext)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if seen.is_some() {
                return Ok(false);
            }
        }
        if m.quoted_message_id.is_none()
            && let Some(q) = &m.quoted_external_id
        {
            m.quoted_message_id = stored_id(&mut tx, &m.instance_id, q).await?;
        }
        let mut tally = Tally::default();
        m.chat_id = upsert_chat(&mut tx, ChatUpdate::of(m), &mut tally).await?;
        if let Recipient::Phone(p) = m.sender() {
            crate::contacts::seen(&mut tx, &m.instance_id, p.as_str(), m.peer_name.as_deref())
                .await?;
        }
        insert_message_row(&mut tx, m).await?;
        tally.inserted(m);
        let event = match &m.content {
            Content::Reaction(r) => {
                crate::reactions::react(&mut tx, r, m.sender().as_str(), m.created_at).await?;
                Event::message_reaction(m, r)
            }
            _ => {
                let own_phone = crate::reactions::own_phone(&mut tx, &m.instance_id).await?;
                Event::message_received(m, own_phone.as_deref())
            }
        };
        let wrote = crate::outbox::append(&mut tx, &event).await?;
        tally.write(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(true)
    }

    async fn get_message(
        &self,
        account: &AccountId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError> {
        let row: Option<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND account_id = $2"
        )))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        let mut found: Vec<Message> = row
            .map(Message::try_from)
            .transpose()?
            .into_iter()
            .collect();
        crate::reactions::attach(&self.reader, &mut found).await?;
        Ok(found.pop())
    }

    async fn find_external(
        &self,
        instance: &InstanceId,
        external_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let row: Option<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE instance_id = $1 AND external_id = $2"
        )))
        .bind(instance.as_str())
        .bind(external_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Message::try_from).transpose()
    }

    async fn record_vote(
        &self,
        instance: &InstanceId,
        poll_external_id: &str,
        vote: &Vote,
    ) -> Result<Option<bool>, StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let row: Option<MessageRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE instance_id = $1 AND external_id = $2 \
             AND type = 'poll'"
        )))
        .bind(instance.as_str())
        .bind(poll_external_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(poll) = row.map(Message::try_from).transpose()? else {
            return Ok(None);
        };
        if !crate::reactions::vote(&mut tx, &poll.id, vote).await? {
            return Ok(Some(false));
        }
        let wrote = crate::outbox::append(&mut tx, &Event::poll_vote(&poll, vote)).await?;
        tx.commit().await.map_err(db)?;
        self.appended(wrote);
        Ok(Some(true))
    }

    async fn list_messages(
        &self,
        instance: &InstanceId,
        q: &HistoryQuery,
    ) -> Result<Vec<Message>, StoreError> {
        // `after` reads forward (oldest first, to catch up); otherwise newest first.
        let order = if q.after.is_some() { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE instance_id = $1 AND peer = COALESCE($2, peer) \
             AND id < COALESCE($3, 'msg_~') AND id > COALESCE($4, '') ORDER BY id {order} LIMIT $5"
        );
        let rows: Vec<MessageRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(instance.as_str())
            .bind(q.peer.clone())
            .bind(q.before.as_ref().map(|i| i.as_str().to_owned()))
            .bind(q.after.as_ref().map(|i| i.as_str().to_owned()))
            .bind(i64::from(q.limit) + 1)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        let mut list = rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        crate::reactions::attach(&self.reader, &mut list).await?;
        Ok(list)
    }

    async fn find_chat(
        &self,
        instance: &InstanceId,
        id: &ChatId,
    ) -> Result<Option<Chat>, StoreError> {
        let row: Option<ChatRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CHAT_COLUMNS} FROM {CHAT_FROM} WHERE c.instance_id = $1 AND c.id = $2"
        )))
        .bind(instance.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.map(Chat::try_from).transpose()
    }

    async fn list_chats(
        &self,
        instance: &InstanceId,
        q: &ChatQuery,
    ) -> Result<(Vec<Chat>, u64), StoreError> {
        let column = match q.sort {
            ChatSort::LastMessageAt => "c.last_message_at",
            ChatSort::UnreadCount => "c.unread_count",
            ChatSort::ContactName => "LOWER(COALESCE(c.contact_name, c.peer))",
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let search = q.search.as_deref().map(contains).unwrap_or_default();
        let filter = "c.instance_id = $1 \
             AND ($2 = '' OR LOWER(c.peer) LIKE $2 ESCAPE '\\' \
                  OR LOWER(COALESCE(c.contact_name, '')) LIKE $2 ESCAPE '\\') \
             AND c.unread_count >= $3";
        let order = format!("{column} {dir}, c.id {dir}");
        let (rows, total) = PagedQuery {
            columns: CHAT_COLUMNS,
            from: CHAT_FROM,
            filter,
            order: &order,
            args: vec![
                instance.as_str().into(),
                search.into(),
                i64::from(q.unread_only).into(),
            ],
        }
        .fetch::<ChatRow>(
            &self.reader,
            OffsetPage {
                limit: q.limit,
                offset: q.offset,
            },
        )
        .await?;
        let chats = rows
            .into_iter()
            .map(Chat::try_from)
            .collect::<Result<_, _>>()?;
        Ok((chats, total))
    }

    async fn mark_chat_read(&self, instance: &InstanceId, peer: &str) -> Result<(), StoreError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut tally = Tally::default();
        clear_unread(&mut tx, instance, peer, &mut tally).await?;
        tally.write(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn read_received(
        &self,
        instance: &InstanceId,
        peer: &str,
        only: Option<&[MessageId]>,
        at: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let mut args = vec![
            Arg::from(instance.as_str()),
            Arg::from(peer),
            Arg::Int(at.millis()),
        ];
        let only_these = match only {
            Some(ids) => {
                let first = args.len() + 1;
                args.extend(ids.iter().map(|id| Arg::from(id.as_str())));
                format!("AND id IN ({})", placeholders(first, ids.len()))
            }
            None => String::new(),
        };
        let mut tx = self.writer.begin().await.map_err(db)?;
        let marked: Vec<Option<String>> = sqlx::query_scalar_with(
            AssertSqlSafe(format!(
                "UPDATE messages SET status = 'read', read_at = $3 WHERE instance_id = $1 \
                 AND peer = $2 AND direction = 'inbound' AND status = 'delivered' {only_these} \
                 RETURNING external_id"
            )),
            arguments(&args)?,
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut tally = Tally::default();
        clear_unread(&mut tx, instance, peer, &mut tally).await?;
        tally.write(&mut tx).await?;
        tx.commit().await.map_err(db)?;
        Ok(marked.into_iter().flatten().collect())
    }

    async fn message_stats(
        &self,
        instance: &InstanceId,
        today: UtcDay,
    ) -> Result<MessageStats, StoreError> {
        crate::stats::read(&self.reader, instance, today).await
    }
}
