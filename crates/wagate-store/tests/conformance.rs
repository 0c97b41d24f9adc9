//! The store conformance suite: every behaviour the layers above rely on, on SQLite and PostgreSQL.

mod support;

use wagate_core::account::{Account, AccountName};
use wagate_core::api_key::{ApiKey, NewKeySecret};
use wagate_core::chat::{ChatQuery, ChatSort, HistoryQuery};
use wagate_core::history::HistoryMessage;
use wagate_core::instance::{InstancePatch, InstanceStatus, NewInstance, Settings};
use wagate_core::message::{Content, Direction, Message, MessageError, MessageStatus, Recipient};
use wagate_core::net::TargetUrl;
use wagate_core::node::Fence;
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::plan::{Plan, RateLimits};
use wagate_core::scope::{Scope, Scopes};
use wagate_core::send::{NewMessage, NewOutbound};
use wagate_core::status_change::StatusChange;
use wagate_core::store::prelude::*;
use wagate_core::store::{
    ConnectionState, CredentialsChange, IdempotencyRequest, InsertInstanceError, MessageStats,
    OutboundInsert,
};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, ChatId, InstanceId, MessageId, Timestamp, UtcDay};
use wagate_store::SqlStore;
use wagate_testkit::{Backend, TestDb, on_both_backends};

async fn open(backend: Backend) -> (TestDb, SqlStore) {
    let db = TestDb::new(backend).await;
    let store = SqlStore::connect(&db.url)
        .await
        .expect("connect and migrate");
    (db, store)
}

async fn account(store: &SqlStore, plan: Plan) -> Account {
    let a = Account {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").unwrap(),
        plan,
        rate_limits: None,
        created_at: Timestamp::now(),
    };
    store.insert_account(&a).await.unwrap();
    a
}

fn new_instance(name: &str) -> NewInstance {
    NewInstance {
        name: AccountName::parse(name).unwrap(),
        webhook_url: Some(TargetUrl::from_trusted("https://myapp.com/hook".into())),
        webhook_events: vec![WebhookEvent::MessageReceived, WebhookEvent::MessageSent],
        settings: Settings::default(),
    }
}

fn page() -> OffsetPage {
    OffsetPage::parse(None, None, 50, 100).unwrap()
}

async fn migrations_are_idempotent(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.migrate().await.expect("second run is a no-op");
    store.ping().await.unwrap();
}

async fn settings_insert_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.get_setting("x").await.unwrap(), None);
    assert!(store.put_setting_if_absent("x", "1").await.unwrap());
    assert!(!store.put_setting_if_absent("x", "2").await.unwrap());
    assert_eq!(store.get_setting("x").await.unwrap().as_deref(), Some("1"));
}

async fn accounts_round_trip(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut a = account(&store, Plan::Free).await;
    assert_eq!(store.get_account(&a.id).await.unwrap(), Some(a.clone()));
    a.plan = Plan::Enterprise;
    a.rate_limits = Some(RateLimits {
        general: Some(7),
        ..RateLimits::UNLIMITED
    });
    assert!(store.update_account(&a).await.unwrap());
    assert_eq!(store.get_account(&a.id).await.unwrap(), Some(a.clone()));
    let (list, total) = store.list_accounts(page()).await.unwrap();
    assert_eq!((list.len(), total), (1, 1));
    assert!(store.delete_account(&a.id).await.unwrap());
    assert_eq!(store.get_account(&a.id).await.unwrap(), None);
    assert!(!store.delete_account(&a.id).await.unwrap());
}

async fn keys_store_hash_and_revoke(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let secret = NewKeySecret::generate();
    let key = ApiKey {
        id: secret.id.clone(),
        account_id: a.id.clone(),
        name: AccountName::parse("ci").unwrap(),
        scopes: Scopes::from_list(vec![Scope::MessagesWrite]),
        secret_hash: secret.secret_hash.clone(),
        created_at: Timestamp::now(),
        expires_at: Some(Timestamp::now().plus_millis(60_000)),
        revoked_at: None,
    };
    store.insert_api_key(&key).await.unwrap();
    assert_eq!(store.get_api_key(&key.id).await.unwrap(), Some(key.clone()));
    assert_eq!(
        store.get_credentials(&key.id).await.unwrap(),
        Some((key.clone(), a.clone()))
    );
    assert_eq!(store.list_api_keys(&a.id).await.unwrap(), vec![key.clone()]);

    let other = account(&store, Plan::Pro).await;
    assert!(
        !store
            .revoke_api_key(&other.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_api_key(&a.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_api_key(&a.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .get_api_key(&key.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

async fn instances_crud_is_per_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let b = account(&store, Plan::Pro).await;
    let inst = new_instance("Sales").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();

    assert_eq!(
        store.get_instance(&a.id, &inst.id).await.unwrap(),
        Some(inst.clone())
    );
    assert_eq!(store.get_instance(&b.id, &inst.id).await.unwrap(), None);

    assert!(!inst.has_session);
    store
        .set_session(
            &Fence::Unheld(inst.id.clone()),
            Some("{\"phone\":\"5511900000001\"}"),
        )
        .await
        .unwrap();
    assert!(
        store
            .get_instance(&a.id, &inst.id)
            .await
            .unwrap()
            .unwrap()
            .has_session
    );
    assert_eq!(
        store.instances_with_session().await.unwrap(),
        vec![inst.id.clone()]
    );
    store
        .set_session(&Fence::Unheld(inst.id.clone()), None)
        .await
        .unwrap();
    assert!(
        !store
            .get_instance(&a.id, &inst.id)
            .await
            .unwrap()
            .unwrap()
            .has_session
    );

    let patch = InstancePatch {
        name: Some(AccountName::parse("Vendas SP").unwrap()),
        webhook_url: Some(None),
        auto_read: Some(true),
        ..Default::default()
    };
    assert_eq!(
        store
            .update_instance(&b.id, &inst.id, &patch)
            .await
            .unwrap(),
        None
    );
    let updated = store
        .update_instance(&a.id, &inst.id, &patch)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.name.as_str(), "Vendas SP");
    assert_eq!(updated.webhook_url, None);
    assert!(updated.settings.auto_read);
    assert!(
        updated.settings.auto_typing,
        "untouched fields keep their value"
    );
    assert_eq!(updated.webhook_events, inst.webhook_events);

    assert!(!store.delete_instance(&b.id, &inst.id).await.unwrap());
    assert!(store.delete_instance(&a.id, &inst.id).await.unwrap());
    assert_eq!(store.get_instance(&a.id, &inst.id).await.unwrap(), None);
}

async fn instance_limit_holds_under_concurrency(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Starter).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let inst = new_instance(&format!("i{i}")).into_instance(a.id.clone(), Timestamp::now());
        tasks.push(tokio::spawn(async move {
            store.insert_instance(&inst, Some(3)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(InsertInstanceError::LimitReached { limit: 3 }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(store.count_instances(&a.id).await.unwrap(), 3);
}

async fn list_filters_and_paginates(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Enterprise).await;
    let mut ids: Vec<InstanceId> = Vec::new();
    for i in 0..5 {
        let inst = new_instance(&format!("i{i}")).into_instance(a.id.clone(), Timestamp::now());
        store.insert_instance(&inst, None).await.unwrap();
        ids.push(inst.id);
    }
    let p = OffsetPage::parse(Some(2), Some(1), 50, 100).unwrap();
    let (list, total) = store.list_instances(&a.id, None, p).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(
        list.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        ids[1..3].to_vec()
    );
    let (list, total) = store
        .list_instances(&a.id, Some(InstanceStatus::Connected), page())
        .await
        .unwrap();
    assert_eq!((list.len(), total), (0, 0));
    let (_, total) = store
        .list_instances(&a.id, Some(InstanceStatus::Disconnected), page())
        .await
        .unwrap();
    assert_eq!(total, 5);
    let counts = store.instance_counts_by_status().await.unwrap();
    assert_eq!(counts, vec![(InstanceStatus::Disconnected, 5)]);
    // A status filter pages and counts only the instances with that status.
    let mut connected = store.find_instance(&ids[3]).await.unwrap().unwrap();
    connected.status = InstanceStatus::Connected;
    store
        .save_connection(
            &Fence::Unheld(connected.id.clone()),
            &ConnectionState::of(&connected),
        )
        .await
        .unwrap();
    let p = OffsetPage::parse(Some(2), Some(1), 50, 100).unwrap();
    let (list, total) = store
        .list_instances(&a.id, Some(InstanceStatus::Disconnected), p)
        .await
        .unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        list.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        [ids[1].clone(), ids[2].clone()]
    );
    let (list, total) = store
        .list_instances(&a.id, Some(InstanceStatus::Connected), page())
        .await
        .unwrap();
    assert_eq!((list.len(), total), (1, 1));
    assert_eq!(list[0].id, ids[3]);
    // The account's total is a stored count: it follows a delete, and not a refused one.
    let other = account(&store, Plan::Enterprise).await;
    assert!(!store.delete_instance(&other.id, &ids[0]).await.unwrap());
    assert!(store.delete_instance(&a.id, &ids[0]).await.unwrap());
    assert!(!store.delete_instance(&a.id, &ids[0]).await.unwrap());
    let (_, total) = store.list_instances(&a.id, None, page()).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(store.count_instances(&a.id).await.unwrap(), 4);
    assert_eq!(store.count_instances(&other.id).await.unwrap(), 0);
}

async fn deleting_an_account_removes_its_keys_and_instances(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let inst = new_instance("x").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    assert!(store.delete_account(&a.id).await.unwrap());
    assert_eq!(store.count_instances(&a.id).await.unwrap(), 0);
}

fn outbound(
    a: &Account,
    instance: &wagate_core::instance::Instance,
    to: &str,
    text: &str,
) -> NewMessage {
    NewMessage {
        account_id: a.id.clone(),
        instance_id: instance.id.clone(),
        send: NewOutbound {
            to: Recipient::parse(to).unwrap(),
            content: Content::Text(text.into()),
            mentions: Vec::new(),
            quoted_message_id: None,
            metadata: None,
        },
        created_at: Timestamp::now(),
    }
}

async fn queue(store: &SqlStore, message: NewMessage) -> Message {
    let insert = OutboundInsert {
        message,
        idempotency: None,
    };
    store.insert_outbound(insert).await.unwrap()
}

async fn outbound_batch_orders_ids_and_honours_keys(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let inst = new_instance("q").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    let key = |k: &str| {
        Some(IdempotencyRequest {
            key: k.into(),
            request_hash: "h".into(),
            expired_before: Timestamp::from_millis(0),
        })
    };
    let batch = vec![
        OutboundInsert {
            message: outbound(&a, &inst, "5511988887777", "one"),
            idempotency: key("k1"),
        },
        OutboundInsert {
            message: outbound(&a, &inst, "5511988887777", "two"),
            idempotency: None,
        },
        OutboundInsert {
            message: outbound(&a, &inst, "5511988887777", "one again"),
            idempotency: key("k1"),
        },
        OutboundInsert {
            message: outbound(&a, &inst, "5511966665555", "another chat"),
            idempotency: None,
        },
    ];
    let results = store.insert_outbound_batch(&batch).await.unwrap();
    let used = results[2].clone().unwrap_err();
    let stored: Vec<Message> = [0, 1, 3]
        .into_iter()
        .map(|i| results[i].clone().unwrap())
        .collect();
    let (one, two, other_chat) = (&stored[0], &stored[1], &stored[2]);
    assert_eq!(used.message_id, one.id, "the key points at the first send");
    assert!(one.id < two.id, "ids follow the batch order");
    assert_eq!(one.chat_id, two.chat_id, "one chat per peer");
    assert_ne!(two.chat_id, other_chat.chat_id);
    assert_eq!(
        (two.content.text(), two.status, other_chat.peer.as_str()),
        ("two".to_owned(), MessageStatus::Queued, "5511966665555"),
        "each answer is its own send, as stored"
    );
    assert_eq!(
        store.get_message(&a.id, &two.id).await.unwrap().as_ref(),
        Some(two)
    );
    // Each chat shows its peer's last stored message of the batch.
    let q = ChatQuery {
        search: None,
        unread_only: false,
        sort: ChatSort::LastMessageAt,
        descending: true,
        limit: 10,
        offset: 0,
    };
    let (chats, total) = store.list_chats(&inst.id, &q).await.unwrap();
    assert_eq!(total, 2);
    let last_of = |peer: &str| {
        let chat = chats.iter().find(|c| c.peer == peer).unwrap();
        (
            chat.id.clone(),
            chat.last_message.as_ref().unwrap().id.clone(),
        )
    };
    assert_eq!(
        last_of("5511988887777"),
        (two.chat_id.clone(), two.id.clone())
    );
    assert_eq!(
        last_of("5511966665555"),
        (other_chat.chat_id.clone(), other_chat.id.clone())
    );
    // The queue's head is the first send; the refused one was never stored.
    let queued = store.next_queued(&inst.id, 10).await.unwrap();
    assert_eq!(queued[0].id, one.id);
    assert!(queued.iter().all(|m| m.content.text() != "one again"));
    let q = HistoryQuery {
        peer: None,
        before: None,
        after: None,
        limit: 50,
    };
    assert_eq!(store.list_messages(&inst.id, &q).await.unwrap().len(), 3);
    // Once its record has expired, a key is taken over by the next send made under it.
    let after_expiry = Timestamp::from_millis(Timestamp::now().millis() + 60_000);
    let again = OutboundInsert {
        message: outbound(&a, &inst, "5511955554444", "one, a day later"),
        idempotency: Some(IdempotencyRequest {
            key: "k1".into(),
            request_hash: "h2".into(),
            expired_before: after_expiry,
        }),
    };
    let fresh = store.insert_outbound_batch(&[again]).await.unwrap()[0]
        .clone()
        .expect("an expired key is free");
    assert_ne!(fresh.id, one.id);
    let rec = store
        .find_idempotency(&a.id, "k1", Timestamp::from_millis(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (rec.message_id, rec.request_hash.as_str()),
        (fresh.id.clone(), "h2")
    );
    assert!(
        store
            .find_idempotency(&a.id, "k1", after_expiry)
            .await
            .unwrap()
            .is_none(),
        "a record older than `since` is not found"
    );
}

async fn receipts_only_move_forward(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let inst = new_instance("r").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    let m = queue(&store, outbound(&a, &inst, "5511988887777", "hi")).await;
    let now = Timestamp::now();
    assert!(
        store
            .change_status(&delivered(&inst.id, "ext-1", now))
            .await
            .unwrap()
            .is_none(),
        "not sent yet"
    );
    store
        .change_status(&sent(&m.id, "ext-1", now))
        .await
        .unwrap()
        .unwrap();
    let read = store
        .change_status(&read(&inst.id, "ext-1", now))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.status, MessageStatus::Read);
    assert!(read.delivered_at.is_some(), "read implies delivered");
    assert!(
        store
            .change_status(&delivered(&inst.id, "ext-1", now))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .get_message(&a.id, &m.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MessageStatus::Read
    );
}

fn sent(id: &MessageId, external_id: &str, at: Timestamp) -> StatusChange {
    StatusChange::Sent {
        id: id.clone(),
        external_id: external_id.into(),
        at,
    }
}

fn delivered(instance: &InstanceId, external_id: &str, at: Timestamp) -> StatusChange {
    StatusChange::Delivered {
        instance: instance.clone(),
        external_id: external_id.into(),
        at,
    }
}

fn read(instance: &InstanceId, external_id: &str, at: Timestamp) -> StatusChange {
    StatusChange::Read {
        instance: instance.clone(),
        external_id: external_id.into(),
        at,
    }
}

/// A batch applies its changes in order, each to the state the previous ones left, and skips
/// (without failing the batch) those that do not apply.
async fn status_changes_apply_in_order_in_one_batch(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let inst = new_instance("b").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    let m1 = queue(&store, outbound(&a, &inst, "5511988887777", "one")).await;
    let m2 = queue(&store, outbound(&a, &inst, "5511988887777", "two")).await;
    let now = Timestamp::now();
    let error = MessageError {
        code: wagate_core::failure::FailureCode::RecipientNotOnWhatsapp,
        message: "no".into(),
    };
    let moved = store
        .change_statuses(&[
            delivered(&inst.id, "ext-1", now), // before its `sent`: nothing to move
            sent(&m1.id, "ext-1", now),
            delivered(&inst.id, "ext-1", now), // after it, in the same batch: moves
            StatusChange::Failed {
                id: m2.id.clone(),
                error: error.clone(),
            },
            sent(&m2.id, "ext-2", now), // failed already: stays failed
        ])
        .await
        .unwrap();
    let statuses: Vec<_> = moved.iter().map(|m| m.as_ref().map(|m| m.status)).collect();
    assert_eq!(
        statuses,
        [
            None,
            Some(MessageStatus::Sent),
            Some(MessageStatus::Delivered),
            Some(MessageStatus::Failed),
            None
        ]
    );
    let m1 = store.get_message(&a.id, &m1.id).await.unwrap().unwrap();
    assert_eq!(m1.status, MessageStatus::Delivered);
    assert_eq!(m1.external_id.as_deref(), Some("ext-1"));
    let m2 = store.get_message(&a.id, &m2.id).await.unwrap().unwrap();
    assert_eq!((m2.status, m2.error), (MessageStatus::Failed, Some(error)));
    assert!(store.next_queued(&inst.id, 10).await.unwrap().is_empty());
}

async fn inbound_redelivery_is_stored_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let inst = new_instance("i").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    let mut m = outbound(&a, &inst, "5511977776666", "oi")
        .into_message(MessageId::generate(), ChatId::generate());
    m.direction = Direction::Inbound;
    m.peer_name = Some("João".into());
    m.external_id = Some("wa-1".into());
    m.status = MessageStatus::Delivered;
    let mut again = m.clone();
    again.id = MessageId::generate();
    assert!(store.insert_inbound(&mut m).await.unwrap());
    assert!(
        !store.insert_inbound(&mut again).await.unwrap(),
        "the same network id is dropped"
    );
    let q = ChatQuery {
        search: Some("joão".into()),
        unread_only: true,
        sort: ChatSort::LastMessageAt,
        descending: true,
        limit: 10,
        offset: 0,
    };
    let (chats, total) = store.list_chats(&inst.id, &q).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(chats[0].unread_count, 1);
    assert_eq!(chats[0].contact_name.as_deref(), Some("João"));
    let (contacts, _) = store
        .list_contacts(&inst.id, Some("5511977"), page())
        .await
        .unwrap();
    assert_eq!(contacts[0].name.as_deref(), Some("João"));
}

/// A message from `from` received at `at`, stored as it arrives.
async fn receive(
    store: &SqlStore,
    a: &Account,
    instance: &wagate_core::instance::Instance,
    from: &str,
    text: &str,
    at: Timestamp,
) {
    let mut m =
        outbound(a, instance, from, text).into_message(MessageId::generate(), ChatId::generate());
    m.direction = Direction::Inbound;
    m.status = MessageStatus::Delivered;
    m.external_id = Some(format!("in-{text}"));
    m.created_at = at;
    assert!(store.insert_inbound(&mut m).await.unwrap());
}

fn synced(peer: &str, from_me: bool, status: MessageStatus, at: Timestamp) -> HistoryMessage {
    HistoryMessage {
        external_id: format!("h-{peer}-{}", at.millis()),
        peer: PhoneNumber::parse(peer).unwrap(),
        peer_name: None,
        from_me,
        content: Content::Text("synced".into()),
        quoted_external_id: None,
        timestamp: at,
        status,
    }
}

/// The status statistics, kept as messages and chats move, equal a count over the instance's
/// messages and chats after a mixed history: sends that fail before or after they leave,
/// receipts in any order, received messages read or not, history from the phone, on either side
/// of midnight UTC.
async fn status_counters_equal_a_full_count(backend: Backend) {
    let (db, store) = open(backend).await;
    let a = account(&store, Plan::Pro).await;
    let inst = new_instance("s").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    let other = new_instance("o").into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&other, None).await.unwrap();

    let to = "5511988887777";
    let mut m = Vec::new();
    for text in ["one", "two", "three", "four", "five", "six"] {
        m.push(queue(&store, outbound(&a, &inst, to, text)).await);
    }
    let today = UtcDay::of(m[0].created_at);
    let midnight = today.start();
    let yesterday = midnight.plus_millis(-60_000);
    let later = midnight.plus_millis(1_000);
    let tomorrow = midnight.plus_millis(86_400_000 + 1_000); // a phone whose clock runs ahead
    let error = MessageError {
        code: wagate_core::failure::FailureCode::RecipientNotOnWhatsapp,
        message: "no".into(),
    };
    store
        .change_statuses(&[
            sent(&m[0].id, "x0", yesterday),
            delivered(&inst.id, "x0", yesterday),
            read(&inst.id, "x0", midnight),
            sent(&m[1].id, "x1", later),
            read(&inst.id, "x1", later), // read with no delivery receipt before it
            StatusChange::Failed {
                id: m[2].id.clone(),
                error: error.clone(),
            },
            sent(&m[3].id, "x3", later),
            delivered(&inst.id, "x3", later),
            StatusChange::FailedAfterSent {
                instance: inst.id.clone(),
                external_id: "x3".into(),
                error: error.clone(),
            },
            sent(&m[4].id, "x4", later),
            StatusChange::Failed {
                id: m[4].id.clone(),
                error,
            },
            delivered(&inst.id, "x4", later), // failed already: stays failed
        ])
        .await
        .unwrap();
    // m[5] stays queued.
    let (b, c, d, e, f) = (
        "5511977770001",
        "5511977770002",
        "5511977770003",
        "5511977770004",
        "5511977770005",
    );
    receive(&store, &a, &inst, b, "b1", yesterday).await;
    receive(&store, &a, &inst, b, "b2", later).await;
    receive(&store, &a, &inst, c, "c1", later).await;
    receive(&store, &a, &inst, d, "d1", tomorrow).await;
    receive(&store, &a, &inst, f, "f1", yesterday).await;
    receive(&store, &a, &other, b, "o1", later).await;
    store.read_received(&inst.id, b, None, later).await.unwrap();
    store.mark_chat_read(&inst.id, c).await.unwrap();
    store
        .import_history(
            &inst.id,
            &[
                synced(
                    e,
                    true,
                    MessageStatus::Delivered,
                    midnight.plus_millis(-3 * 86_400_000),
                ),
                synced(e, false, MessageStatus::Delivered, later),
                synced(e, false, MessageStatus::Read, yesterday),
            ],
        )
        .await
        .unwrap();

    assert_eq!(
        store.message_stats(&inst.id, today).await.unwrap(),
        MessageStats {
            sent_since: 3,      // two, four, five
            received_since: 4,  // b2, c1, d1 and e's unread one
            delivered: 3,       // one, two, and e's synced one
            attempted: 6,       // all but six, which is queued
            active_chats: 5,    // all but f's
            unread_messages: 3  // d1, f1, e's
        }
    );
    for day in [today, UtcDay::of(yesterday)] {
        assert_eq!(
            store.message_stats(&inst.id, day).await.unwrap(),
            support::counted(&db.url, &inst.id, day).await,
            "since the start of day {}",
            day.number()
        );
    }
    assert_eq!(
        store.message_stats(&other.id, today).await.unwrap(),
        MessageStats {
            received_since: 1,
            active_chats: 1,
            unread_messages: 1,
            ..MessageStats::default()
        },
        "each instance has its own counters"
    );
}

/// What a watcher was told, in order.
fn watcher() -> (
    wagate_core::store::CredentialsListener,
    std::sync::Arc<std::sync::Mutex<Vec<CredentialsChange>>>,
) {
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = told.clone();
    let listener = std::sync::Arc::new(move |c: &CredentialsChange| {
        log.lock().unwrap().push(c.clone());
    });
    (listener, told)
}

/// Revocations, account updates and account deletes are told to the watchers of the store that
/// made them as soon as they return, and to the watchers of every other store on the same
/// database (another node, a server beside the CLI): on PostgreSQL each change once its commit's
/// notification arrives, on SQLite "anything may have changed" at the next look at the stamp.
async fn credential_changes_reach_every_watcher(backend: Backend) {
    let (db, store) = open(backend).await;
    let elsewhere = SqlStore::connect(&db.url).await.unwrap();
    let (here, told_here) = watcher();
    let (there, told_there) = watcher();
    store.watch_credentials(here).await.unwrap();
    elsewhere.watch_credentials(there).await.unwrap();

    let mut a = account(&store, Plan::Pro).await;
    let secret = NewKeySecret::generate();
    let key = ApiKey {
        id: secret.id.clone(),
        account_id: a.id.clone(),
        name: AccountName::parse("ci").unwrap(),
        scopes: Scopes::from_list(vec![Scope::MessagesWrite]),
        secret_hash: secret.secret_hash,
        created_at: Timestamp::now(),
        expires_at: None,
        revoked_at: None,
    };
    store.insert_api_key(&key).await.unwrap();
    // Told by the time the call returns (on PostgreSQL its own notification follows).
    let told_now = |c: &CredentialsChange| told_here.lock().unwrap().contains(c);
    assert!(
        store
            .revoke_api_key(&a.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(told_now(&CredentialsChange::Key(key.id.clone())));
    a.plan = Plan::Enterprise;
    assert!(store.update_account(&a).await.unwrap());
    assert!(told_now(&CredentialsChange::Account(a.id.clone())));
    assert!(store.delete_account(&a.id).await.unwrap());
    // Nothing changed, nothing told.
    assert!(
        !store
            .revoke_api_key(&a.id, &key.id, Timestamp::now())
            .await
            .unwrap()
    );
    let expected = vec![
        CredentialsChange::Key(key.id.clone()),
        CredentialsChange::Account(a.id.clone()),
        CredentialsChange::Account(a.id.clone()),
    ];
    match backend {
        Backend::Sqlite => {
            let own: Vec<_> = told_here
                .lock()
                .unwrap()
                .iter()
                .filter(|c| **c != CredentialsChange::Any) // its own stamps, seen later
                .cloned()
                .collect();
            assert_eq!(own, expected);
            for _ in 0..200 {
                if !told_there.lock().unwrap().is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert!(
                told_there
                    .lock()
                    .unwrap()
                    .iter()
                    .all(|c| *c == CredentialsChange::Any)
            );
            assert!(!told_there.lock().unwrap().is_empty(), "nothing heard");
        }
        Backend::Postgres => {
            // Other tests' stores notify on the same database: keep what is about ours, and wait
            // for all of it (not for any notice).
            let ours = |c: &CredentialsChange| {
                *c == expected[0] || matches!(c, CredentialsChange::Account(id) if *id == a.id)
            };
            let heard = || -> Vec<CredentialsChange> {
                told_there
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|c| ours(c))
                    .cloned()
                    .collect()
            };
            for _ in 0..200 {
                if heard().len() >= expected.len() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(heard(), expected);
        }
    }
}

on_both_backends!(
    outbound_batch_orders_ids_and_honours_keys,
    receipts_only_move_forward,
    status_changes_apply_in_order_in_one_batch,
    inbound_redelivery_is_stored_once,
    status_counters_equal_a_full_count,
    migrations_are_idempotent,
    settings_insert_once,
    accounts_round_trip,
    keys_store_hash_and_revoke,
    credential_changes_reach_every_watcher,
    instances_crud_is_per_account,
    instance_limit_holds_under_concurrency,
    list_filters_and_paginates,
    deleting_an_account_removes_its_keys_and_instances,
);
