//! The storage port: everything wagate keeps, behind one trait so the layers above never see SQL.
//! `wagate-store` implements it for SQLite and PostgreSQL, and one conformance suite checks both.

use async_trait::async_trait;
use thiserror::Error;

use crate::account::{Account, AccountName};
use crate::api_key::ApiKey;
use crate::broker::{BrokerKind, OutboundEvent};
use crate::change::{ChangeOutcome, QueuedChange};
use crate::chat::{Chat, ChatQuery, Contact, HistoryQuery};
use crate::contact::{ContactReport, FetchedProfile};
use crate::content::Vote;
use crate::delivery::{
    AccountRoom, AttemptOutcome, AttemptResult, Attempted, Delivery, DeliveryLog, DueDelivery,
    Recorded,
};
use crate::engine::InboundChange;
use crate::event::Event;
use crate::event_stream::{StreamCursor, StreamFilter, StreamStart, StreamedEvent};
use crate::group::{Group, GroupId, GroupNotice};
use crate::history::HistoryMessage;
use crate::inbound_webhook::InboundWebhook;
use crate::instance::{ConnectionMethod, Instance, InstancePatch, InstanceStatus, LastError};
use crate::message::Message;
use crate::node::{Fence, Fenced, Lease, Node, NodeCommand, NodeId, NodeState};
use crate::page::OffsetPage;
use crate::phone::PhoneNumber;
use crate::retention::{Cutoffs, Pruned};
use crate::sandbox_reach::{ConnectionClaim, Whereabouts};
use crate::send::NewMessage;
use crate::status_change::StatusChange;
use crate::webhook::Subscription;
use crate::{
    AccountId, ApiKeyId, ChangeId, ChatId, DeliveryId, DeliveryLogId, InboundWebhookId, InstanceId,
    MessageId, Timestamp, UtcDay, WebhookId,
};

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be reached or refused the operation; callers answer 503/500.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row broke an invariant the code relies on (should never happen; logged, answered 500).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A uniqueness rule was violated (e.g. the same id twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database refused a value of the statement (PostgreSQL's class 22, data exception):
    /// the fault is in the row, not the database, so a batch retries its rows one by one.
    #[error("value refused: {0}")]
    Rejected(String),
    /// A write of an instance's session or connection state whose fence no longer holds:
    /// another node drives the instance now, or this node's lease ran out (§19).
    #[error(transparent)]
    Fenced(#[from] Fenced),
}

#[derive(Debug, Error)]
pub enum InsertInstanceError {
    #[error("the account has reached its plan's instance limit ({limit})")]
    LimitReached { limit: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything wagate keeps. Split by resource so each storage module implements one concept.
#[async_trait]
pub trait Store:
    SettingsStore
    + AccountStore
    + ApiKeyStore
    + InstanceStore
    + MessageStore
    + ChangeStore
    + ContactStore
    + GroupStore
    + HistoryStore
    + SubscriptionStore
    + DeliveryStore
    + EventStreamStore
    + BrokerStore
    + OwnershipStore
    + NodeCommandStore
    + SandboxReachStore
    + InboundWebhookStore
    + RetentionStore
{
    /// Answers when the database answers (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes the connections (at shutdown, and between tests that start many servers).
    async fn close(&self);
}

/// Node-wide settings (bootstrap marker, admin token hash).
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Writes `value` unless the setting exists; true when this call wrote it. Lets exactly one
    /// of several starting nodes perform the first-start bootstrap.
    async fn put_setting_if_absent(&self, name: &str, value: &str) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError>;
    async fn list_accounts(&self, page: OffsetPage) -> Result<(Vec<Account>, u64), StoreError>;
    /// The accounts called `name` (names are not unique), oldest first.
    async fn accounts_named(&self, name: &AccountName) -> Result<Vec<Account>, StoreError>;
    /// Replaces name, plan and limits; false when the account does not exist.
    async fn update_account(&self, account: &Account) -> Result<bool, StoreError>;
    /// Deletes the account with its keys and instances; false when it did not exist.
    async fn delete_account(&self, id: &AccountId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;
    async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError>;
    /// The key with its account, in one read (every authenticated request needs both).
    async fn get_credentials(&self, id: &ApiKeyId)
    -> Result<Option<(ApiKey, Account)>, StoreError>;
    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError>;
    /// Marks the key revoked; false when the account has no such live key.
    async fn revoke_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Tells `listener` of every later change that leaves credentials read before it stale
    /// (revocations, account updates and deletes): of those this process commits, right after
    /// the commit; on PostgreSQL of every other process's too, through `NOTIFY wagate_keys` sent
    /// in the changing transaction. Returns once the listener hears them.
    async fn watch_credentials(&self, listener: CredentialsListener) -> Result<(), StoreError>;
}

/// A change that leaves credentials read before it stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsChange {
    /// This key was revoked.
    Key(ApiKeyId),
    /// This account changed (name, plan, limits) or was deleted with its keys.
    Account(AccountId),
    /// Anything may have changed (a notification that could not be read).
    Any,
    /// Changes made by other processes may go unheard until `Hearing` (the connection that
    /// listens for them was lost): trust nothing read before or meanwhile.
    Deaf,
    /// Changes made by other processes are heard again.
    Hearing,
}

pub type CredentialsListener = std::sync::Arc<dyn Fn(&CredentialsChange) + Send + Sync>;

#[async_trait]
pub trait InstanceStore: Send + Sync + 'static {
    /// Inserts the instance unless the account already has `limit` instances; the count and the
    /// insert are atomic, so concurrent creates cannot exceed the plan.
    async fn insert_instance(
        &self,
        instance: &Instance,
        limit: Option<u32>,
    ) -> Result<(), InsertInstanceError>;
    async fn get_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
    ) -> Result<Option<Instance>, StoreError>;
    async fn list_instances(
        &self,
        account: &AccountId,
        status: Option<InstanceStatus>,
        page: OffsetPage,
    ) -> Result<(Vec<Instance>, u64), StoreError>;
    async fn count_instances(&self, account: &AccountId) -> Result<u64, StoreError>;
    /// Applies the patch atomically and returns the updated instance (None: no such instance).
    async fn update_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
        patch: &InstancePatch,
    ) -> Result<Option<Instance>, StoreError>;
    async fn delete_instance(
        &self,
        account: &AccountId,
        id: &InstanceId,
    ) -> Result<bool, StoreError>;
    /// Instances per status over all accounts (the `/metrics` gauge).
    async fn instance_counts_by_status(&self) -> Result<Vec<(InstanceStatus, u64)>, StoreError>;

    // --- the runtime's side: connection state and saved sessions ---
    /// Any account's instance (the runtime acts for the owner).
    async fn find_instance(&self, id: &InstanceId) -> Result<Option<Instance>, StoreError>;
    /// Writes the connection fields; the instance's actor is their only writer. Becoming
    /// `connected`, or leaving it, writes `instance.connected` / `instance.disconnected` in the
    /// same transaction. Refused with `Fenced` when `fence` no longer holds.
    async fn save_connection(
        &self,
        fence: &Fence,
        state: &ConnectionState,
    ) -> Result<(), StoreError>;
    /// `save_connection` for several instances (a node resuming hundreds at once): one
    /// transaction on SQLite, whose every commit is a sync to disk; one each on PostgreSQL, where
    /// one transaction holding many lease rows could deadlock with another node's claim. One
    /// answer each, in order: saved, or refused by its fence. `Err`: none was saved.
    async fn save_connections(
        &self,
        batch: &[(Fence, ConnectionState)],
    ) -> Result<Vec<Result<(), Fenced>>, StoreError>;
    async fn get_session(&self, id: &InstanceId) -> Result<Option<String>, StoreError>;
    /// Refused with `Fenced` when `fence` no longer holds.
    async fn set_session(&self, fence: &Fence, session: Option<&str>) -> Result<(), StoreError>;
    /// Instances that have a saved session: the ones to reconnect at start-up.
    async fn instances_with_session(&self) -> Result<Vec<InstanceId>, StoreError>;
    /// Instances that read anything but `disconnected` without a saved session: at start-up,
    /// links that a stopped server was driving and nothing drives now.
    async fn instances_linking_without_session(&self) -> Result<Vec<InstanceId>, StoreError>;
}

/// Several nodes on one database (§19): the node registry and the instances' leases. Times are
/// the caller's clock, in milliseconds; a lease is live while `now < expires_at`.
#[async_trait]
pub trait OwnershipStore: Send + Sync + 'static {
    /// Registers a starting process as `node` (`incarnation` names the process), taking the
    /// name over from an earlier process, and gives back every lease the name held: a restarted
    /// node drives nothing its previous life started, so each instance is claimed anew, under
    /// a new epoch.
    async fn register_node(
        &self,
        node: &NodeId,
        incarnation: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Records a heartbeat; false when another process has registered under the same name
    /// since (this one must stop driving instances).
    async fn heartbeat(
        &self,
        node: &NodeId,
        incarnation: &str,
        state: NodeState,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Every node that has registered, with the live leases each holds at `now`, by name.
    async fn list_nodes(&self, now: Timestamp) -> Result<Vec<Node>, StoreError>;
    /// Extends until `until` the leases `node` holds that are still live at `now`, and answers
    /// them: a lease missing from the answer (or under another epoch) is lost.
    async fn renew_leases(
        &self,
        node: &NodeId,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Lease>, StoreError>;
    /// Takes for `node`, until `until`, at most `limit` instances that should be connected (they
    /// have a saved session) and that no node holds at `now`, oldest first. Several nodes may
    /// claim at once: each instance goes to one of them.
    async fn claim_unheld(
        &self,
        node: &NodeId,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Lease>, StoreError>;
    /// Takes `instance` for `node` unless another node holds a live lease on it (`Err` names
    /// that node). A lease `node` holds already is extended under the same epoch.
    async fn claim_instance(
        &self,
        instance: &InstanceId,
        node: &NodeId,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Result<Lease, NodeId>, StoreError>;
    /// Gives `lease` back, if it is still the current one: any node may take the instance.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;
    /// Gives back every lease `node` holds (a node shutting down).
    async fn release_leases(&self, node: &NodeId) -> Result<u64, StoreError>;
    /// Instances that should be connected, over all accounts: those with a saved session.
    async fn count_should_be_connected(&self) -> Result<u64, StoreError>;
    /// Tells the node that drives `instance` that something was queued for it (a send or a
    /// change accepted by another node); best effort, as the actor also looks by itself.
    async fn announce_queued(&self, instance: &InstanceId) -> Result<(), StoreError>;
    /// The node that holds a live lease on `instance` at `now`, if any.
    async fn holder_of(
        &self,
        instance: &InstanceId,
        now: Timestamp,
    ) -> Result<Option<NodeId>, StoreError>;
}

/// Commands for an instance held by another node (§19), and their answers.
#[async_trait]
pub trait NodeCommandStore: Send + Sync + 'static {
    /// Writes `command` and tells the node it is for.
    async fn post_command(&self, command: &NodeCommand, now: Timestamp) -> Result<(), StoreError>;
    /// The command `id` for `node`, once: a second take (a repeated notice) finds nothing.
    async fn take_command(
        &self,
        id: &str,
        node: &NodeId,
        now: Timestamp,
    ) -> Result<Option<NodeCommand>, StoreError>;
    /// Writes the answer to a taken command and tells the node that asked.
    async fn answer_command(&self, command: &NodeCommand, answer: &str) -> Result<(), StoreError>;
    /// The answer to `id`, if there is one yet; the command is gone once it is read.
    async fn take_answer(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// Forgets a command whose answer is no longer awaited (the asking node gave up).
    async fn drop_command(&self, id: &str) -> Result<(), StoreError>;
}

/// The sandbox network's connections across nodes (§19, `wagate_core::sandbox_reach`). A node
/// is live while its heartbeat is (`node::is_live`) and it has not stopped; `incarnation` names
/// the process, so a connection recorded by a node's previous life is not taken for live.
#[async_trait]
pub trait SandboxReachStore: Send + Sync + 'static {
    /// Records that `instance` is connected on `node` (process `incarnation`), unless another
    /// live process holds a connection of it.
    async fn sandbox_connect(
        &self,
        instance: &InstanceId,
        node: &NodeId,
        incarnation: &str,
        now: Timestamp,
    ) -> Result<ConnectionClaim, StoreError>;
    /// Forgets `instance`'s connection, if this process (`incarnation`) holds it.
    async fn sandbox_disconnect(
        &self,
        instance: &InstanceId,
        incarnation: &str,
    ) -> Result<(), StoreError>;
    /// Where the instance linked as `phone` is at `now`.
    async fn sandbox_whereabouts(
        &self,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> Result<Whereabouts, StoreError>;
}

/// Retention (§21.1, `wagate_core::retention`): what is past the retention period, deleted a
/// batch at a time.
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Deletes up to `batch` of each kind made before its cut-off in `before`: events whose deliveries have all
    /// ended and that every broker output has published (never the newest event, which numbers
    /// the next), delivery logs, idempotency records.
    async fn prune(&self, before: Cutoffs, batch: u32) -> Result<Pruned, StoreError>;
}

/// The connection fields of an instance, as its actor last saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionState {
    pub status: InstanceStatus,
    pub phone: Option<PhoneNumber>,
    pub profile_name: Option<String>,
    pub last_error: Option<LastError>,
    pub connection_method: Option<ConnectionMethod>,
    pub connected_at: Option<Timestamp>,
    pub last_seen_at: Option<Timestamp>,
}

impl ConnectionState {
    pub fn of(i: &Instance) -> Self {
        Self {
            status: i.status,
            phone: i.phone.clone(),
            profile_name: i.profile_name.clone(),
            last_error: i.last_error.clone(),
            connection_method: i.connection_method,
            connected_at: i.connected_at,
            last_seen_at: i.last_seen_at,
        }
    }
}

/// One send of a group commit: the message without its ids (the store makes them), and its
/// idempotency key.
#[derive(Debug, Clone)]
pub struct OutboundInsert {
    pub message: NewMessage,
    pub idempotency: Option<IdempotencyRequest>,
}

/// The `Idempotency-Key` of a send and the hash of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRequest {
    pub key: String,
    pub request_hash: String,
    /// A record of the key made before this has expired: the key is free again.
    pub expired_before: Timestamp,
}

/// A send accepted under an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is a conflict.
    pub request_hash: String,
    pub message_id: MessageId,
    pub created_at: Timestamp,
}

#[derive(Debug, Error)]
pub enum InsertMessageError {
    /// The key was used before; carries the earlier record.
    #[error("idempotency key already used")]
    IdempotencyKeyUsed(IdempotencyRecord),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts for the status endpoint (§6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageStats {
    pub sent_since: u64,
    pub received_since: u64,
    pub active_chats: u64,
    pub unread_messages: u64,
    /// Outbound messages that reached `delivered`/`read`, and all that left (`sent` or later, or failed).
    pub delivered: u64,
    pub attempted: u64,
}

#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Stores an accepted outbound message (`queued`) with its chat, and the idempotency key when
    /// given, in one transaction, and returns it as stored. The store makes its ids: the message
    /// id inside the transaction, under the instance's write lock, so that id order (the send
    /// queue's order) is the order in which sends were committed; the chat id is the peer's chat's.
    async fn insert_outbound(&self, insert: OutboundInsert) -> Result<Message, InsertMessageError> {
        let stored = self
            .insert_outbound_batch(std::slice::from_ref(&insert))
            .await?;
        match stored.into_iter().next() {
            Some(Ok(message)) => Ok(message),
            Some(Err(used)) => Err(InsertMessageError::IdempotencyKeyUsed(used)),
            None => Err(StoreError::Corrupt("a batch of one answered nothing".into()).into()),
        }
    }
    /// The same for many sends in one transaction (group commit), in order: ids are made in
    /// slice order. Each entry answers its stored message, or `Err(record)` when its idempotency
    /// key was used before (then nothing of it is stored).
    async fn insert_outbound_batch(
        &self,
        batch: &[OutboundInsert],
    ) -> Result<Vec<Result<Message, IdempotencyRecord>>, StoreError>;
    /// The record of `key` made at `since` or later (an older one has expired).
    async fn find_idempotency(
        &self,
        account: &AccountId,
        key: &str,
        since: Timestamp,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// The oldest `queued` messages of an instance, at most `limit`, oldest first: the head of
    /// its FIFO queue.
    async fn next_queued(
        &self,
        instance: &InstanceId,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;
    /// Applies status changes in order, in one transaction, each with its webhook event
    /// (`message.sent`, `.failed`, `.delivered`, `.read`) when a target wants it: the outbox.
    /// A change that does not apply (the message is not where the move starts) is skipped.
    /// Returns, per change, the message when it moved.
    async fn change_statuses(
        &self,
        changes: &[StatusChange],
    ) -> Result<Vec<Option<Message>>, StoreError>;
    /// One change (see `change_statuses`).
    async fn change_status(&self, change: &StatusChange) -> Result<Option<Message>, StoreError> {
        let moved = self.change_statuses(std::slice::from_ref(change)).await?;
        Ok(moved.into_iter().next().flatten())
    }
    /// Stores an inbound message with its chat (unread + 1) and contact, and its event
    /// (`message.received`; `message.reaction` for a reaction, which also becomes the sender's
    /// reaction on the message it is about and adds no unread). A `quoted_external_id` of a
    /// message stored here becomes its `quoted_message_id`. False when the network redelivered
    /// one already stored (same external id): nothing is written twice.
    async fn insert_inbound(&self, message: &mut Message) -> Result<bool, StoreError>;
    /// The message of an instance the network knows as `external_id`.
    async fn find_external(
        &self,
        instance: &InstanceId,
        external_id: &str,
    ) -> Result<Option<Message>, StoreError>;
    /// Records `vote` on the instance's poll `poll_external_id`, with its `poll.vote` event
    /// when it changed the voter's vote. None when there is no such poll; else whether it
    /// changed anything.
    async fn record_vote(
        &self,
        instance: &InstanceId,
        poll_external_id: &str,
        vote: &Vote,
    ) -> Result<Option<bool>, StoreError>;
    async fn get_message(
        &self,
        account: &AccountId,
        id: &MessageId,
    ) -> Result<Option<Message>, StoreError>;
    /// Newest first; returns at most `limit + 1` so the caller knows whether there is more.
    async fn list_messages(
        &self,
        instance: &InstanceId,
        q: &HistoryQuery,
    ) -> Result<Vec<Message>, StoreError>;
    async fn find_chat(
        &self,
        instance: &InstanceId,
        id: &ChatId,
    ) -> Result<Option<Chat>, StoreError>;
    async fn list_chats(
        &self,
        instance: &InstanceId,
        q: &ChatQuery,
    ) -> Result<(Vec<Chat>, u64), StoreError>;
    async fn mark_chat_read(&self, instance: &InstanceId, peer: &str) -> Result<(), StoreError>;
    /// Marks received messages of the chat with `peer` read at `at` (only `only` of them when
    /// given, else every one not read yet) and sets its unread count to 0, in one transaction.
    /// Returns the network ids of the messages it marked, for the read receipts.
    async fn read_received(
        &self,
        instance: &InstanceId,
        peer: &str,
        only: Option<&[MessageId]>,
        at: Timestamp,
    ) -> Result<Vec<String>, StoreError>;
    /// The instance's statistics, "since" meaning since the start of `today`. Kept as messages
    /// and chats move, so this reads a few rows whatever the size of the history.
    async fn message_stats(
        &self,
        instance: &InstanceId,
        today: UtcDay,
    ) -> Result<MessageStats, StoreError>;
}

/// Edits and deletes (§17.2, §17.3): ours queued with the sends, a contact's as they arrive.
#[async_trait]
pub trait ChangeStore: Send + Sync + 'static {
    /// Queues a change of one of the instance's messages, behind what is queued before it.
    async fn queue_change(&self, change: &QueuedChange) -> Result<(), StoreError>;
    /// The oldest queued changes of an instance, at most `limit`, oldest first.
    async fn next_changes(
        &self,
        instance: &InstanceId,
        limit: u32,
    ) -> Result<Vec<QueuedChange>, StoreError>;
    /// Ends a queued change. `Done` applies it to the message and records `message.edited` or
    /// `message.deleted`, in one transaction. A change no longer queued is left as it is (None);
    /// else the message as it is now.
    async fn finish_change(
        &self,
        id: &ChangeId,
        outcome: &ChangeOutcome,
    ) -> Result<Option<Message>, StoreError>;
    /// A contact's edit or delete of its message, with its event. None when wagate does not have
    /// the message (or the change does not fit it), or has seen this change before.
    async fn apply_received_change(
        &self,
        instance: &InstanceId,
        change: &InboundChange,
    ) -> Result<Option<Message>, StoreError>;
}

/// The groups each instance is in, as the network last described them (§17.5). A group's
/// chat is named after its subject.
#[async_trait]
pub trait GroupStore: Send + Sync + 'static {
    /// Stores `groups` as the network gave them; with `complete`, they are all the instance's
    /// groups and any other stored one is forgotten. No events: nothing happened, it was read.
    async fn save_groups(
        &self,
        instance: &InstanceId,
        groups: &[Group],
        complete: bool,
    ) -> Result<(), StoreError>;
    /// Applies what the network reported (to `latest` when the network also said what the
    /// group is now) and writes its `group.*` event, in one transaction; a group the instance
    /// is no longer in is forgotten.
    async fn record_group_notice(
        &self,
        instance: &Instance,
        notice: &GroupNotice,
        latest: Option<&Group>,
    ) -> Result<(), StoreError>;
    async fn get_group(
        &self,
        instance: &InstanceId,
        id: &GroupId,
    ) -> Result<Option<Group>, StoreError>;
    /// A page of the instance's groups, oldest first, and how many there are.
    async fn list_groups(
        &self,
        instance: &InstanceId,
        page: OffsetPage,
    ) -> Result<(Vec<Group>, u64), StoreError>;
}

/// Each instance's contacts: who wrote or was written to, and what the network says about them.
#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    async fn list_contacts(
        &self,
        instance: &InstanceId,
        search: Option<&str>,
        page: OffsetPage,
    ) -> Result<(Vec<Contact>, u64), StoreError>;
    async fn get_contact(
        &self,
        instance: &InstanceId,
        phone: &PhoneNumber,
    ) -> Result<Option<Contact>, StoreError>;
    /// Applies what the network reported, creating contacts it names for the first time.
    async fn report_contacts(
        &self,
        instance: &InstanceId,
        reports: &[ContactReport],
    ) -> Result<(), StoreError>;
    /// The blocked numbers are exactly `blocked`.
    async fn replace_blocklist(
        &self,
        instance: &InstanceId,
        blocked: &[PhoneNumber],
    ) -> Result<(), StoreError>;
    /// Caches a profile fetched at `at`; returns the contact as stored.
    async fn save_profile(
        &self,
        instance: &InstanceId,
        phone: &PhoneNumber,
        profile: &FetchedProfile,
        at: Timestamp,
    ) -> Result<Contact, StoreError>;
    /// The instance blocked (or unblocked) `phone`, which becomes a contact if it was not one.
    async fn set_blocked(
        &self,
        instance: &InstanceId,
        phone: &PhoneNumber,
        blocked: bool,
    ) -> Result<Contact, StoreError>;
}

/// History synced from the phone.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Stores the messages not stored yet (by external id) with their chats and contacts, and
    /// no events. Returns how many were new.
    async fn import_history(
        &self,
        instance: &InstanceId,
        messages: &[HistoryMessage],
    ) -> Result<u64, StoreError>;
}

/// Webhook subscriptions.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    async fn insert_subscription(&self, s: &Subscription) -> Result<(), StoreError>;
    async fn get_subscription(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<Option<Subscription>, StoreError>;
    async fn list_subscriptions(
        &self,
        account: &AccountId,
        instance: Option<&InstanceId>,
        page: OffsetPage,
    ) -> Result<(Vec<Subscription>, u64), StoreError>;
    /// Replaces name, url, events, secret and status; false when it does not exist.
    async fn update_subscription(&self, s: &Subscription) -> Result<bool, StoreError>;
    /// Deletes it with its pending deliveries and logs; false when it did not exist.
    async fn delete_subscription(
        &self,
        account: &AccountId,
        id: &WebhookId,
    ) -> Result<bool, StoreError>;
}

/// Called after a commit that made deliveries due, so this node's worker need not wait for its
/// next poll (other nodes still find them by polling).
pub type DueListener = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The event outbox's deliveries and their logs.
#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// Registers `listener` for every later commit that writes deliveries.
    fn on_deliveries_due(&self, listener: DueListener);
    /// Writes an event that no other row change carries (`instance.qr_updated`) with its
    /// deliveries. An event that no target wants is not kept.
    async fn record_event(&self, event: &Event) -> Result<(), StoreError>;
    /// Takes up to `limit` due deliveries for `lease_ms`, marked with `claim` (which starts with
    /// the node id and a colon, and unique per call), at most `room` of each account, taking
    /// the accounts in turn (each one's oldest first, then each one's second…), so one account's
    /// backlog never comes before another's first delivery. A lane's first attempts are handed
    /// out one at a time, in order. A delivery whose lease ran out can be claimed again; from
    /// then on only the new claim can record its outcome.
    async fn claim_deliveries(
        &self,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: u32,
        room: &AccountRoom,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Makes each first attempt held by `claim` the head of a run: its lane's next pending
    /// first attempts, in order, up to `run` in all, are claimed under `claim` too (the claim
    /// attempts them one after another, so the lane's order holds). No other claim takes them
    /// meanwhile: only a lane's head is ever a candidate. Answers everything `claim` holds, in
    /// id order.
    async fn lengthen_claim(
        &self,
        claim: &str,
        now: Timestamp,
        lease_ms: i64,
        run: u32,
    ) -> Result<Vec<DueDelivery>, StoreError>;
    /// Frees the deliveries of `ids` that `claim` still holds and has not attempted (a run cut
    /// short), so that they are due again at once.
    async fn release_deliveries(&self, claim: &str, ids: &[DeliveryId]) -> Result<u64, StoreError>;
    /// Frees the claims of a node that restarted (nothing it claimed is in flight any more).
    async fn release_claims(&self, node: &str) -> Result<u64, StoreError>;
    /// Records the outcome of the attempt `delivery` was claimed for, only while that claim
    /// still holds (`delivery.claim` still marks the row, expired or not): in one transaction the
    /// delivery moves to `outcome` (done, due again at its time, or failed for good) with one
    /// more attempt counted, and the attempt is logged (its success and next retry as `outcome`
    /// says). When the claim no longer holds, or the delivery is gone, nothing is written at all
    /// and the answer says which.
    async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        result: &AttemptResult,
        outcome: AttemptOutcome,
    ) -> Result<Recorded, StoreError> {
        let attempted = Attempted {
            delivery,
            result,
            outcome,
        };
        let mut one = self.record_attempts(&[attempted]).await?;
        one.pop()
            .ok_or_else(|| StoreError::Corrupt("no answer for the attempt recorded".into()))
    }
    /// `record_attempt` for each of `attempts`, all in one transaction (one commit for the
    /// outcomes a worker has ready together); one answer each, in order. `Err`: nothing of the
    /// batch was written (the leases run out and the deliveries are attempted again).
    async fn record_attempts(
        &self,
        attempts: &[Attempted<'_>],
    ) -> Result<Vec<Recorded>, StoreError>;
    /// A delivery as it is now (None: no such delivery).
    async fn get_delivery(&self, id: &DeliveryId) -> Result<Option<Delivery>, StoreError>;
    /// Newest first.
    async fn list_logs(
        &self,
        webhook: &WebhookId,
        success: Option<bool>,
        limit: u32,
    ) -> Result<Vec<DeliveryLog>, StoreError>;
    /// Makes the delivery of a log entry due now, unclaimed; false when there is no such entry
    /// with a delivery (a test delivery has none). An attempt of it in flight loses its claim:
    /// its outcome is not recorded, the next claim attempts it anew.
    async fn retry_log(
        &self,
        webhook: &WebhookId,
        log: &DeliveryLogId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Logs an attempt that belongs to no delivery (the test endpoint).
    async fn insert_log(&self, instance: &InstanceId, log: &DeliveryLog) -> Result<(), StoreError>;
}

/// An account's events in commit order (§21), kept whether or not a webhook wanted them.
#[async_trait]
pub trait EventStreamStore: Send + Sync + 'static {
    /// Registers `listener` for every later commit on this node that writes an event.
    fn on_events_written(&self, listener: DueListener);
    /// The cursor a stream of `account` starts from.
    async fn stream_cursor(
        &self,
        account: &AccountId,
        start: &StreamStart,
    ) -> Result<StreamCursor, StoreError>;
    /// Up to `limit` of the account's events after `after` that `filter` wants, in stream
    /// order. Only events no earlier commit can still come before are answered, so reading on
    /// from the last one's cursor never skips one.
    async fn read_stream(
        &self,
        account: &AccountId,
        after: StreamCursor,
        filter: &StreamFilter,
        limit: u32,
    ) -> Result<Vec<StreamedEvent>, StoreError>;
}

/// The broker outputs' places in the stream of all events (§21). A target is published to by
/// the node that holds it; its place moves only under that hold, so a node that lost it (it
/// stalled past the hold, and another node took over) cannot move it back or past the other's.
#[async_trait]
pub trait BrokerStore: Send + Sync + 'static {
    /// Holds `target` for `node` until `until` when no other node holds it (or its hold ran out
    /// before `now`), and answers the target's place; `None` while another node holds it. A
    /// target seen for the first time starts at the end of the stream: it is sent what is
    /// written from then on.
    async fn hold_broker_target(
        &self,
        target: BrokerKind,
        node: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<StreamCursor>, StoreError>;
    /// Moves the target's place to `to` and keeps the hold until `until`, only while `node`
    /// holds it; false when it no longer does (nothing written).
    async fn advance_broker_target(
        &self,
        target: BrokerKind,
        node: &str,
        to: StreamCursor,
        until: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Lets go of the target (at shutdown), so that another node takes it at once.
    async fn release_broker_target(&self, target: BrokerKind, node: &str)
    -> Result<(), StoreError>;
    /// Up to `limit` events of every account after `after`, in stream order; only events no
    /// earlier commit can still come before (as `EventStreamStore::read_stream`).
    async fn read_all_events(
        &self,
        after: StreamCursor,
        limit: u32,
    ) -> Result<Vec<OutboundEvent>, StoreError>;
    /// How many events follow `after`, counted up to `cap` (a target's backlog).
    async fn count_events_after(&self, after: StreamCursor, cap: u32) -> Result<u64, StoreError>;
}

/// Inbound webhook URLs (§15.7).
#[async_trait]
pub trait InboundWebhookStore: Send + Sync + 'static {
    async fn insert_inbound_webhook(&self, w: &InboundWebhook) -> Result<(), StoreError>;
    async fn list_inbound_webhooks(
        &self,
        account: &AccountId,
    ) -> Result<Vec<InboundWebhook>, StoreError>;
    async fn delete_inbound_webhook(
        &self,
        account: &AccountId,
        id: &InboundWebhookId,
    ) -> Result<bool, StoreError>;
    async fn find_inbound_webhook(
        &self,
        token_hash: &str,
    ) -> Result<Option<InboundWebhook>, StoreError>;
}

/// All store traits, for `use wagate_core::store::prelude::*`.
pub mod prelude {
    pub use super::{
        AccountStore, ApiKeyStore, BrokerStore, ContactStore, DeliveryStore, EventStreamStore,
        HistoryStore, InboundWebhookStore, InstanceStore, MessageStore, NodeCommandStore,
        OwnershipStore, RetentionStore, SandboxReachStore, SettingsStore, Store, SubscriptionStore,
    };
}
