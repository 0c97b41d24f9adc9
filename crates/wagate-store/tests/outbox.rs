//! The event outbox and its deliveries, on SQLite and PostgreSQL: events exist exactly when their
//! change does, lanes hand out first attempts in order, retries wait, paused and deleted
//! subscriptions get nothing.

use wagate_core::account::{Account, AccountName};
use wagate_core::delivery::{AttemptResult, DueDelivery, Target};
use wagate_core::instance::{Instance, NewInstance, Settings};
use wagate_core::message::{Content, Direction, Message, MessageStatus, Recipient};
use wagate_core::net::TargetUrl;
use wagate_core::plan::Plan;
use wagate_core::status_change::StatusChange;
use wagate_core::store::prelude::*;
use wagate_core::webhook::{Subscription, SubscriptionStatus, WebhookSecret};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, ChatId, DeliveryLogId, MessageId, Timestamp, WebhookId};
use wagate_store::SqlStore;
use wagate_testkit::{Backend, TestDb, on_both_backends};

async fn open(backend: Backend) -> (TestDb, SqlStore) {
    let db = TestDb::new(backend).await;
    let store = SqlStore::connect(&db.url).await.expect("connect");
    (db, store)
}

/// An account with one instance whose own webhookUrl wants `events`.
async fn instance(store: &SqlStore, events: Vec<WebhookEvent>) -> Instance {
    let a = Account {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").unwrap(),
        plan: Plan::Pro,
        rate_limits: None,
        created_at: Timestamp::now(),
    };
    store.insert_account(&a).await.unwrap();
    let inst = NewInstance {
        name: AccountName::parse("i").unwrap(),
        webhook_url: (!events.is_empty())
            .then(|| TargetUrl::from_trusted("https://own.example/hook".into())),
        webhook_events: events,
        settings: Settings::default(),
    }
    .into_instance(a.id.clone(), Timestamp::now());
    store.insert_instance(&inst, None).await.unwrap();
    inst
}

async fn subscription(
    store: &SqlStore,
    inst: &Instance,
    events: Vec<WebhookEvent>,
) -> Subscription {
    let now = Timestamp::now();
    let s = Subscription {
        id: WebhookId::generate(),
        account_id: inst.account_id.clone(),
        instance_id: inst.id.clone(),
        name: Some("main".into()),
        url: TargetUrl::from_trusted("https://sub.example/hook".into()),
        events,
        secret: WebhookSecret::generate(),
        status: SubscriptionStatus::Active,
        created_at: now,
        updated_at: now,
    };
    store.insert_subscription(&s).await.unwrap();
    s
}

async fn sent_message(store: &SqlStore, inst: &Instance, ext: &str) -> Message {
    let mut m = Message {
        id: MessageId::generate(),
        account_id: inst.account_id.clone(),
        instance_id: inst.id.clone(),
        chat_id: ChatId::generate(),
        direction: Direction::Outbound,
        peer: Recipient::parse("5511988887777").unwrap(),
        peer_name: None,
        content: Content::Text("hi".into()),
        quoted_message_id: None,
        metadata: Some(serde_json::json!({"order": 1})),
        external_id: None,
        status: MessageStatus::Queued,
        error: None,
        created_at: Timestamp::now(),
        sent_at: None,
        delivered_at: None,
        read_at: None,
    };
    store.insert_outbound(&mut m, None).await.unwrap();
    store
        .change_status(&StatusChange::Sent {
            id: m.id.clone(),
            external_id: ext.into(),
            at: Timestamp::now(),
        })
        .await
        .unwrap()
        .unwrap()
}

async fn claim(store: &SqlStore) -> Vec<DueDelivery> {
    store
        .claim_deliveries(
            &format!("node-t:{}", ulid::Ulid::new()),
            Timestamp::now(),
            60_000,
            100,
        )
        .await
        .unwrap()
}

fn ok() -> AttemptResult {
    AttemptResult {
        log_id: DeliveryLogId::generate(),
        at: Timestamp::now(),
        status_code: Some(200),
        response_ms: 3,
        error: None,
    }
}

fn failed(code: u16) -> AttemptResult {
    AttemptResult {
        status_code: Some(code),
        error: Some(format!("HTTP {code}")),
        ..ok()
    }
}

async fn a_change_writes_its_event_for_each_target_that_wants_it(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![WebhookEvent::MessageSent]).await;
    let sub = subscription(&store, &inst, vec![WebhookEvent::MessageSent]).await;
    subscription(&store, &inst, vec![WebhookEvent::MessageRead]).await; // not interested
    let m = sent_message(&store, &inst, "ext-1").await;
    let due = claim(&store).await;
    assert_eq!(due.len(), 2, "own webhookUrl and one subscription");
    assert_eq!(
        due[0].event_id, due[1].event_id,
        "one event, two deliveries"
    );
    let targets: Vec<_> = due.iter().map(|d| d.target.clone()).collect();
    assert!(targets.contains(&Target::Instance));
    assert!(targets.contains(&Target::Subscription(sub.id.clone())));
    let own = due.iter().find(|d| d.target == Target::Instance).unwrap();
    assert_eq!(
        own.url.as_ref().unwrap().as_str(),
        "https://own.example/hook"
    );
    assert_eq!(own.secret.expose(), inst.webhook_secret);
    let body: serde_json::Value = serde_json::from_str(&own.body).unwrap();
    assert_eq!(body["id"], own.event_id.as_str());
    assert_eq!(body["event"], "message.sent");
    assert_eq!(body["data"]["messageId"], m.id.as_str());
    assert_eq!(body["data"]["metadata"]["order"], 1);
    assert!(claim(&store).await.is_empty(), "claimed rows are leased");
}

async fn no_target_no_event(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    sent_message(&store, &inst, "ext-1").await;
    assert!(claim(&store).await.is_empty());
}

async fn a_lane_hands_out_first_attempts_in_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![WebhookEvent::MessageSent]).await;
    for i in 0..3 {
        sent_message(&store, &inst, &format!("ext-{i}")).await;
    }
    let first = claim(&store).await;
    assert_eq!(first.len(), 1, "the lane's head only");
    assert!(claim(&store).await.is_empty(), "the head is in flight");
    // A failed first attempt goes to retry and no longer holds the lane.
    let later = Timestamp::now().plus_millis(60_000);
    store
        .finish_attempt(&first[0], &failed(500), Some(later))
        .await
        .unwrap();
    let second = claim(&store).await;
    assert_eq!(second.len(), 1);
    assert!(second[0].id > first[0].id, "the next event of the lane");
    store.finish_attempt(&second[0], &ok(), None).await.unwrap();
    let third = claim(&store).await;
    assert_eq!(third.len(), 1);
    assert!(third[0].event_id > second[0].event_id);
    store.finish_attempt(&third[0], &ok(), None).await.unwrap();
    assert!(
        claim(&store).await.is_empty(),
        "the retry waits for its time"
    );
    let at_retry = store
        .claim_deliveries("node-t:2", later.plus_millis(1), 60_000, 100)
        .await
        .unwrap();
    assert_eq!(at_retry.len(), 1);
    assert_eq!(at_retry[0].id, first[0].id);
    assert_eq!(at_retry[0].attempts, 1);
}

async fn logs_record_each_attempt_and_a_retry_makes_it_due(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    let sub = subscription(&store, &inst, vec![WebhookEvent::MessageSent]).await;
    sent_message(&store, &inst, "ext-1").await;
    let d = claim(&store).await.remove(0);
    let r = failed(503);
    store.finish_attempt(&d, &r, None).await.unwrap(); // failed for good
    assert!(claim(&store).await.is_empty());
    let logs = store.list_logs(&sub.id, None, 50).await.unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].id, r.log_id);
    assert_eq!(logs[0].status_code, Some(503));
    assert!(!logs[0].success);
    assert_eq!(
        store
            .list_logs(&sub.id, Some(true), 50)
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(
        store
            .retry_log(&sub.id, &r.log_id, Timestamp::now())
            .await
            .unwrap()
    );
    let again = claim(&store).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, d.id);
    assert!(
        !store
            .retry_log(&WebhookId::generate(), &r.log_id, Timestamp::now())
            .await
            .unwrap(),
        "another subscription's log"
    );
}

async fn paused_waits_and_deleted_is_gone(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    let mut sub = subscription(&store, &inst, vec![WebhookEvent::MessageSent]).await;
    sent_message(&store, &inst, "ext-1").await;
    sub.status = SubscriptionStatus::Paused;
    assert!(store.update_subscription(&sub).await.unwrap());
    assert!(
        claim(&store).await.is_empty(),
        "a paused subscription gets nothing"
    );
    sent_message(&store, &inst, "ext-2").await;
    sub.status = SubscriptionStatus::Active;
    store.update_subscription(&sub).await.unwrap();
    let due = claim(&store).await;
    assert_eq!(due.len(), 1, "only what was pending before the pause");
    assert!(
        store
            .delete_subscription(&inst.account_id, &sub.id)
            .await
            .unwrap()
    );
    store.finish_attempt(&due[0], &ok(), None).await.unwrap(); // gone: nothing written
    assert!(store.list_logs(&sub.id, None, 50).await.unwrap().is_empty());
    assert!(claim(&store).await.is_empty());
}

async fn a_restarted_node_frees_its_claims(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![WebhookEvent::MessageSent]).await;
    sent_message(&store, &inst, "ext-1").await;
    assert_eq!(claim(&store).await.len(), 1);
    assert_eq!(store.release_claims("other-node").await.unwrap(), 0);
    assert_eq!(store.release_claims("node-t").await.unwrap(), 1);
    assert_eq!(claim(&store).await.len(), 1);
}

async fn connection_changes_write_instance_events(backend: Backend) {
    use wagate_core::instance::{InstanceStatus, LastError};
    use wagate_core::store::ConnectionState;
    let (_db, store) = open(backend).await;
    let inst = instance(
        &store,
        vec![
            WebhookEvent::InstanceConnected,
            WebhookEvent::InstanceDisconnected,
        ],
    )
    .await;
    let mut state = ConnectionState::of(&inst);
    state.status = InstanceStatus::QrPending;
    store.save_connection(&inst.id, &state).await.unwrap();
    assert!(
        claim(&store).await.is_empty(),
        "qr_pending is no connection change"
    );
    state.status = InstanceStatus::Connected;
    state.phone = Some(wagate_core::phone::PhoneNumber::parse("5511912345678").unwrap());
    store.save_connection(&inst.id, &state).await.unwrap();
    let up = claim(&store).await.remove(0);
    store.finish_attempt(&up, &ok(), None).await.unwrap();
    assert_eq!(up.event, WebhookEvent::InstanceConnected);
    let body: serde_json::Value = serde_json::from_str(&up.body).unwrap();
    assert_eq!(body["data"]["phone"], "5511912345678");
    state.status = InstanceStatus::Connecting;
    state.last_error = Some(LastError {
        code: "connection_lost".into(),
        message: "x".into(),
        at: Timestamp::now(),
    });
    store.save_connection(&inst.id, &state).await.unwrap();
    let down = claim(&store).await.remove(0);
    let body: serde_json::Value = serde_json::from_str(&down.body).unwrap();
    assert_eq!(body["event"], "instance.disconnected");
    assert_eq!(body["data"]["reason"], "connection_lost");
}

on_both_backends!(
    a_change_writes_its_event_for_each_target_that_wants_it,
    no_target_no_event,
    a_lane_hands_out_first_attempts_in_order,
    logs_record_each_attempt_and_a_retry_makes_it_due,
    paused_waits_and_deleted_is_gone,
    a_restarted_node_frees_its_claims,
    connection_changes_write_instance_events,
);
