//! Migrations that change rows, run against rows made the way the code before them made them.

mod support;

use wagate_core::account::{Account, AccountName};
use wagate_core::api_key::{ApiKey, NewKeySecret};
use wagate_core::instance::{NewInstance, Settings};
use wagate_core::message::{Content, Direction, MessageStatus, Recipient};
use wagate_core::plan::Plan;
use wagate_core::scope::{Scope, Scopes};
use wagate_core::send::{NewMessage, NewOutbound};
use wagate_core::status_change::StatusChange;
use wagate_core::store::prelude::*;
use wagate_core::store::{MessageStats, OutboundInsert};
use wagate_core::{AccountId, ChatId, MessageId, Timestamp, UtcDay};
use wagate_store::SqlStore;
use wagate_testkit::{Backend, TestDb, on_both_backends};

const KEYS_WRITE: &str = include_str!("../migrations/sqlite/0013_keys_write.sql");

async fn key(store: &SqlStore, account: &AccountId, scopes: Scopes, at: i64) -> ApiKey {
    let secret = NewKeySecret::generate();
    let k = ApiKey {
        id: secret.id,
        account_id: account.clone(),
        name: AccountName::parse("k").unwrap(),
        scopes,
        secret_hash: secret.secret_hash,
        created_at: Timestamp::from_millis(at),
        expires_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&k).await.unwrap();
    k
}

/// 0013: an account's first key, made with every scope there was, gets `keys:write`; a later
/// key, or a first key made narrower, does not.
async fn keys_write_goes_to_each_accounts_first_full_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = SqlStore::connect(&db.url).await.unwrap();
    let old_default = Scopes::from_list(Vec::new()); // what every key got before 0013
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let a = Account {
            id: AccountId::generate(),
            name: AccountName::parse("Acme").unwrap(),
            plan: Plan::Pro,
            rate_limits: None,
            created_at: Timestamp::now(),
        };
        store.insert_account(&a).await.unwrap();
        accounts.push(a.id);
    }
    let first = key(&store, &accounts[0], old_default.clone(), 1_000).await;
    let later = key(&store, &accounts[0], old_default.clone(), 2_000).await;
    let narrow = Scopes::from_list(vec![Scope::MessagesRead]);
    let narrow_first = key(&store, &accounts[1], narrow.clone(), 1_000).await;

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(KEYS_WRITE).execute(&pool).await.unwrap();
    pool.close().await;

    let scopes_of = |keys: &[ApiKey], id| {
        keys.iter()
            .find(|k| k.id == id)
            .map(|k| k.scopes.clone())
            .unwrap()
    };
    let keys = store.list_api_keys(&accounts[0]).await.unwrap();
    assert_eq!(scopes_of(&keys, first.id), Scopes::all());
    assert_eq!(scopes_of(&keys, later.id), old_default);
    let keys = store.list_api_keys(&accounts[1]).await.unwrap();
    assert_eq!(scopes_of(&keys, narrow_first.id), narrow);
}

/// 0017: the status counters start from a count of the messages and chats stored before it.
async fn status_counters_start_from_the_stored_history(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = SqlStore::connect(&db.url).await.unwrap();
    let a = Account {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").unwrap(),
        plan: Plan::Pro,
        rate_limits: None,
        created_at: Timestamp::now(),
    };
    store.insert_account(&a).await.unwrap();
    let new = NewInstance {
        name: AccountName::parse("i").unwrap(),
        webhook_url: None,
        webhook_events: Vec::new(),
        settings: Settings::default(),
    };
    let inst = new.into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    let send = |text: &str| NewMessage {
        account_id: a.id.clone(),
        instance_id: inst.id.clone(),
        send: NewOutbound {
            to: Recipient::parse("5511988887777").unwrap(),
            content: Content::Text(text.into()),
            mentions: Vec::new(),
            quoted_message_id: None,
            metadata: None,
        },
        created_at: Timestamp::now(),
    };
    let mut sends = Vec::new();
    for text in ["one", "two"] {
        let insert = OutboundInsert {
            message: send(text),
            idempotency: None,
        };
        sends.push(store.insert_outbound(insert).await.unwrap());
    }
    let now = Timestamp::now();
    store
        .change_statuses(&[
            StatusChange::Sent {
                id: sends[0].id.clone(),
                external_id: "x".into(),
                at: now,
            },
            StatusChange::Delivered {
                instance: inst.id.clone(),
                external_id: "x".into(),
                at: now,
            },
        ])
        .await
        .unwrap();
    let mut received = send("hi").into_message(MessageId::generate(), ChatId::generate());
    received.direction = Direction::Inbound;
    received.peer = Recipient::parse("5511977776666").unwrap();
    received.status = MessageStatus::Delivered;
    store.insert_inbound(&mut received).await.unwrap();

    // As before 0017: no counters.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "DROP TABLE message_days; DROP TABLE message_totals; DROP INDEX chats_by_last_message; \
         DROP INDEX instances_by_account_status;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let fast_reads = match backend {
        Backend::Sqlite => include_str!("../migrations/sqlite/0017_fast_reads.sql"),
        Backend::Postgres => include_str!("../migrations/postgres/0017_fast_reads.sql"),
    };
    sqlx::raw_sql(fast_reads).execute(&pool).await.unwrap();
    pool.close().await;

    let today = UtcDay::of(now);
    let stats = store.message_stats(&inst.id, today).await.unwrap();
    assert_eq!(
        stats,
        MessageStats {
            sent_since: 1,
            received_since: 1,
            active_chats: 2,
            unread_messages: 1,
            delivered: 1,
            attempted: 1,
        }
    );
    assert_eq!(stats, support::counted(&db.url, &inst.id, today).await);
}

on_both_backends!(
    keys_write_goes_to_each_accounts_first_full_key,
    status_counters_start_from_the_stored_history,
);
