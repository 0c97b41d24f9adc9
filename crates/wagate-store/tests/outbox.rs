//! The event outbox and its deliveries, on SQLite and PostgreSQL: events exist exactly when their
//! change does, lanes hand out first attempts in order, retries wait, paused and deleted
//! subscriptions get nothing, and an outcome is recorded only under the claim that still holds
//! its delivery (a late outcome of an expired, taken claim changes nothing and logs nothing).

use std::collections::HashSet;

use wagate_core::account::{Account, AccountName};
use wagate_core::delivery::{
    AccountRoom, AttemptOutcome, AttemptResult, Attempted, DeliveryState, DueDelivery, Recorded,
    Target,
};
use wagate_core::event_stream::{StreamCursor, StreamFilter, StreamStart, StreamedEvent};
use wagate_core::instance::{Instance, NewInstance, Settings};
use wagate_core::message::{Content, Message, Recipient};
use wagate_core::net::TargetUrl;
use wagate_core::node::Fence;
use wagate_core::plan::Plan;
use wagate_core::retention::Cutoffs;
use wagate_core::send::NewOutbound;
use wagate_core::status_change::StatusChange;
use wagate_core::store::OutboundInsert;
use wagate_core::store::prelude::*;
use wagate_core::webhook::{Subscription, SubscriptionStatus, WebhookSecret};
use wagate_core::webhook_event::WebhookEvent;
use wagate_core::{AccountId, DeliveryId, DeliveryLogId, Timestamp, WebhookId};
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
    let send = NewOutbound {
        to: Recipient::parse("5511988887777").unwrap(),
        content: Content::Text("hi".into()),
        mentions: Vec::new(),
        quoted_message_id: None,
        metadata: Some(serde_json::json!({"order": 1})),
    };
    let insert = OutboundInsert {
        message: send.of(inst, Timestamp::now()),
        idempotency: None,
    };
    let m = store.insert_outbound(insert).await.unwrap();
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
            &AccountRoom::unlimited(),
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

/// Records `outcome` for the attempt `d` was claimed for.
async fn record(
    store: &SqlStore,
    d: &DueDelivery,
    r: &AttemptResult,
    outcome: AttemptOutcome,
) -> Recorded {
    store.record_attempt(d, r, outcome).await.unwrap()
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

/// `read_stream` until it answers `n` events (at most 10 s): on PostgreSQL an event is handed out
/// once no older transaction is still running, and other tests' transactions run on the server.
async fn settled(
    store: &SqlStore,
    account: &AccountId,
    after: StreamCursor,
    filter: &StreamFilter,
    limit: u32,
    n: usize,
) -> Vec<StreamedEvent> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = store
            .read_stream(account, after, filter, limit)
            .await
            .unwrap();
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// With no target an event has no delivery, and is kept for the streams all the same.
async fn no_target_no_delivery_but_the_event_is_streamed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    let start = store
        .stream_cursor(&inst.account_id, &StreamStart::Now)
        .await
        .unwrap();
    let m = sent_message(&store, &inst, "ext-1").await;
    assert!(claim(&store).await.is_empty());
    let streamed = settled(
        &store,
        &inst.account_id,
        start,
        &StreamFilter::default(),
        10,
        1,
    )
    .await;
    assert_eq!(streamed.len(), 1, "{streamed:?}");
    assert_eq!(streamed[0].kind, WebhookEvent::MessageSent);
    let body: serde_json::Value = serde_json::from_str(&streamed[0].body).unwrap();
    assert_eq!(body["id"], streamed[0].id.as_str());
    assert_eq!(body["data"]["messageId"], m.id.as_str());
}

/// A client may come back with the id of an event that is no longer kept (its instance was
/// deleted): it resumes with the first event written after that one was, and filters hold.
async fn a_stream_resumes_after_an_event_no_longer_kept(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    let start = store
        .stream_cursor(&inst.account_id, &StreamStart::Now)
        .await
        .unwrap();
    sent_message(&store, &inst, "ext-1").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let gone = wagate_core::EventId::generate();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let later = sent_message(&store, &inst, "ext-2").await;
    let all = StreamFilter::default();
    let from_gone = store
        .stream_cursor(&inst.account_id, &StreamStart::After(gone))
        .await
        .unwrap();
    let resumed = settled(&store, &inst.account_id, from_gone, &all, 10, 1).await;
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert!(resumed[0].body.contains(later.id.as_str()));
    // Reading on from the last event's cursor gives nothing more; from the start, both.
    let after = store
        .read_stream(&inst.account_id, resumed[0].cursor, &all, 10)
        .await
        .unwrap();
    assert!(after.is_empty());
    assert_eq!(
        settled(&store, &inst.account_id, start, &all, 10, 2)
            .await
            .len(),
        2
    );
    let first = store
        .read_stream(&inst.account_id, start, &all, 1)
        .await
        .unwrap();
    assert_eq!(first.len(), 1, "the limit holds");
    let read_only = StreamFilter {
        instance: Some(inst.id.clone()),
        events: vec![WebhookEvent::MessageRead],
    };
    assert!(
        store
            .read_stream(&inst.account_id, start, &read_only, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let other_account = AccountId::generate();
    assert!(
        store
            .read_stream(&other_account, start, &all, 10)
            .await
            .unwrap()
            .is_empty()
    );
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
    assert_eq!(
        record(
            &store,
            &first[0],
            &failed(500),
            AttemptOutcome::RetryAt(later)
        )
        .await,
        Recorded::Written
    );
    let second = claim(&store).await;
    assert_eq!(second.len(), 1);
    assert!(second[0].id > first[0].id, "the next event of the lane");
    let done = record(&store, &second[0], &ok(), AttemptOutcome::Succeeded).await;
    assert_eq!(done, Recorded::Written);
    let third = claim(&store).await;
    assert_eq!(third.len(), 1);
    assert!(third[0].event_id > second[0].event_id);
    let done = record(&store, &third[0], &ok(), AttemptOutcome::Succeeded).await;
    assert_eq!(done, Recorded::Written);
    assert!(
        claim(&store).await.is_empty(),
        "the retry waits for its time"
    );
    let at_retry = store
        .claim_deliveries(
            "node-t:2",
            later.plus_millis(1),
            60_000,
            100,
            &AccountRoom::unlimited(),
        )
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
    assert_eq!(
        record(&store, &d, &r, AttemptOutcome::GaveUp).await,
        Recorded::Written
    );
    let kept = store.get_delivery(&d.id).await.unwrap().unwrap();
    assert_eq!(kept.state, DeliveryState::Failed);
    assert_eq!((kept.attempts, kept.claim), (1, None));
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
    assert_eq!(
        record(&store, &due[0], &ok(), AttemptOutcome::Succeeded).await,
        Recorded::Gone,
        "deleted with its subscription: nothing written"
    );
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
    store
        .save_connection(&Fence::Unheld(inst.id.clone()), &state)
        .await
        .unwrap();
    assert!(
        claim(&store).await.is_empty(),
        "qr_pending is no connection change"
    );
    state.status = InstanceStatus::Connected;
    state.phone = Some(wagate_core::phone::PhoneNumber::parse("5511912345678").unwrap());
    store
        .save_connection(&Fence::Unheld(inst.id.clone()), &state)
        .await
        .unwrap();
    let up = claim(&store).await.remove(0);
    let done = record(&store, &up, &ok(), AttemptOutcome::Succeeded).await;
    assert_eq!(done, Recorded::Written);
    assert_eq!(up.event, WebhookEvent::InstanceConnected);
    let body: serde_json::Value = serde_json::from_str(&up.body).unwrap();
    assert_eq!(body["data"]["phone"], "5511912345678");
    state.status = InstanceStatus::Connecting;
    state.last_error = Some(LastError {
        code: wagate_core::failure::FailureCode::ConnectionLost,
        message: "x".into(),
        at: Timestamp::now(),
    });
    store
        .save_connection(&Fence::Unheld(inst.id.clone()), &state)
        .await
        .unwrap();
    let down = claim(&store).await.remove(0);
    let body: serde_json::Value = serde_json::from_str(&down.body).unwrap();
    assert_eq!(body["event"], "instance.disconnected");
    assert_eq!(body["data"]["reason"], "connection_lost");
}

/// The acceptance case: worker A's claim runs out during its attempt and worker B takes the
/// delivery. A's late outcome changes nothing (state, attempts, claim, retry time) and logs
/// nothing, whether it comes while B holds the delivery or after B recorded; B's outcome counts,
/// and the log shows one outcome per attempt.
async fn a_late_outcome_of_a_taken_claim_changes_nothing(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    let sub = subscription(&store, &inst, vec![WebhookEvent::MessageSent]).await;
    sent_message(&store, &inst, "ext-1").await;
    let t0 = Timestamp::now();
    let a = store
        .claim_deliveries("node-a:1", t0, 1_000, 10, &AccountRoom::unlimited())
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].claim, "node-a:1");
    assert!(
        store
            .claim_deliveries(
                "node-b:1",
                t0.plus_millis(999),
                60_000,
                10,
                &AccountRoom::unlimited()
            )
            .await
            .unwrap()
            .is_empty(),
        "leased until its lease runs out"
    );
    let b = store
        .claim_deliveries(
            "node-b:1",
            t0.plus_millis(1_001),
            60_000,
            10,
            &AccountRoom::unlimited(),
        )
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "the lease ran out: another worker takes it");
    assert_eq!(b[0].id, a[0].id);
    assert_eq!(b[0].claim, "node-b:1");
    assert_eq!((a[0].attempts, b[0].attempts), (0, 0), "the same attempt");
    let held = store.get_delivery(&a[0].id).await.unwrap().unwrap();
    assert_eq!(held.state, DeliveryState::Pending);
    assert_eq!(held.claim.as_deref(), Some("node-b:1"));
    assert_eq!(held.claimed_until, Some(t0.plus_millis(61_001)));

    // A's late success while B holds the delivery.
    assert_eq!(
        record(&store, &a[0], &ok(), AttemptOutcome::Succeeded).await,
        Recorded::ClaimLost {
            held_by: Some("node-b:1".into())
        }
    );
    assert_eq!(
        store.get_delivery(&a[0].id).await.unwrap().unwrap(),
        held,
        "no state change"
    );
    assert!(
        store.list_logs(&sub.id, None, 50).await.unwrap().is_empty(),
        "no log entry"
    );

    // B's outcome counts.
    let retry_at = t0.plus_millis(120_000);
    let b_result = failed(503);
    assert_eq!(
        record(&store, &b[0], &b_result, AttemptOutcome::RetryAt(retry_at)).await,
        Recorded::Written
    );
    let after_b = store.get_delivery(&a[0].id).await.unwrap().unwrap();
    assert_eq!(after_b.state, DeliveryState::Pending);
    assert_eq!(after_b.attempts, 1);
    assert_eq!(after_b.next_attempt_at, retry_at);
    assert_eq!((after_b.claim.clone(), after_b.claimed_until), (None, None));

    // A's outcome again, after B recorded; and B's a second time: neither writes.
    assert_eq!(
        record(&store, &a[0], &failed(500), AttemptOutcome::GaveUp).await,
        Recorded::ClaimLost { held_by: None }
    );
    assert_eq!(
        record(&store, &b[0], &ok(), AttemptOutcome::Succeeded).await,
        Recorded::ClaimLost { held_by: None },
        "a claim records once"
    );
    assert_eq!(
        store.get_delivery(&a[0].id).await.unwrap().unwrap(),
        after_b
    );

    // The retry is the next attempt, logged under its own number.
    let c = store
        .claim_deliveries(
            "node-c:1",
            retry_at.plus_millis(1),
            60_000,
            10,
            &AccountRoom::unlimited(),
        )
        .await
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].attempts, 1);
    let c_result = ok();
    assert_eq!(
        record(&store, &c[0], &c_result, AttemptOutcome::Succeeded).await,
        Recorded::Written
    );
    let mut logs = store.list_logs(&sub.id, None, 50).await.unwrap();
    logs.sort_by_key(|l| l.retry_count);
    let seen: Vec<_> = logs
        .iter()
        .map(|l| (l.id.clone(), l.retry_count, l.success, l.next_retry_at))
        .collect();
    assert_eq!(
        seen,
        [
            (b_result.log_id, 0, false, Some(retry_at)),
            (c_result.log_id, 1, true, None)
        ],
        "one outcome per attempt, each the one of the claim that held"
    );
    assert_eq!(logs[0].status_code, Some(503));
    let done = store.get_delivery(&a[0].id).await.unwrap().unwrap();
    assert_eq!((done.state, done.attempts), (DeliveryState::Succeeded, 2));
}

/// A claim whose lease ran out but that nobody took still holds: its outcome is recorded (the
/// attempt is not thrown away and made again for nothing).
async fn an_expired_claim_nobody_took_still_records(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![WebhookEvent::MessageSent]).await;
    sent_message(&store, &inst, "ext-1").await;
    let t0 = Timestamp::now();
    let a = store
        .claim_deliveries("node-a:1", t0, 1, 10, &AccountRoom::unlimited())
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].target, Target::Instance);
    assert_eq!(
        record(&store, &a[0], &ok(), AttemptOutcome::Succeeded).await,
        Recorded::Written
    );
    let d = store.get_delivery(&a[0].id).await.unwrap().unwrap();
    assert_eq!(
        (d.state, d.attempts, d.claim),
        (DeliveryState::Succeeded, 1, None)
    );
    assert!(
        store
            .claim_deliveries(
                "node-b:1",
                t0.plus_millis(60_000),
                60_000,
                10,
                &AccountRoom::unlimited()
            )
            .await
            .unwrap()
            .is_empty(),
        "done: never claimed again"
    );
    assert_eq!(
        store.get_delivery(&DeliveryId::generate()).await.unwrap(),
        None
    );
}

/// Many late outcomes race a new claim of the same deliveries (16 lanes): each delivery ends
/// with exactly one recorded outcome and one log entry, and a delivery whose late outcome was
/// recorded is never handed out again.
async fn late_outcomes_racing_a_new_claim_record_one_outcome_each(backend: Backend) {
    const LANES: usize = 16;
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    for _ in 0..LANES {
        subscription(&store, &inst, vec![WebhookEvent::MessageSent]).await;
    }
    sent_message(&store, &inst, "ext-1").await;
    let t0 = Timestamp::now();
    let a = store
        .claim_deliveries("node-a:1", t0, 1, 100, &AccountRoom::unlimited())
        .await
        .unwrap();
    assert_eq!(a.len(), LANES, "one head per lane");
    let mut late = Vec::new();
    for (i, d) in a.iter().cloned().enumerate() {
        if i == LANES / 2 {
            // B claims while half of A's outcomes are on their way.
            let s = store.clone();
            late.push(tokio::spawn(async move {
                let b = s
                    .claim_deliveries(
                        "node-b:1",
                        t0.plus_millis(10_000),
                        60_000,
                        100,
                        &AccountRoom::unlimited(),
                    )
                    .await
                    .unwrap();
                (None, b.into_iter().map(|d| d.id).collect::<Vec<_>>())
            }));
        }
        let s = store.clone();
        late.push(tokio::spawn(async move {
            let r = s
                .record_attempt(&d, &ok(), AttemptOutcome::Succeeded)
                .await
                .unwrap();
            (Some((d.id, r)), Vec::new())
        }));
    }
    let mut written_by_a = HashSet::new();
    let mut claimed_by_b = Vec::new();
    for t in late {
        match t.await.unwrap() {
            (Some((id, Recorded::Written)), _) => {
                written_by_a.insert(id);
            }
            (Some((_, Recorded::ClaimLost { held_by })), _) => {
                assert_eq!(held_by.as_deref(), Some("node-b:1"));
            }
            (Some((_, Recorded::Gone)), _) => panic!("nothing was deleted"),
            (None, b) => claimed_by_b = b,
        }
    }
    for id in &claimed_by_b {
        assert!(
            !written_by_a.contains(id),
            "{id} was claimed again after its outcome was recorded"
        );
    }
    assert_eq!(written_by_a.len() + claimed_by_b.len(), LANES);
    let b_claims = store
        .claim_deliveries(
            "node-b:2",
            t0.plus_millis(10_000),
            60_000,
            100,
            &AccountRoom::unlimited(),
        )
        .await
        .unwrap();
    assert!(
        b_claims.is_empty(),
        "B holds the rest; A recorded the others"
    );
    // B's claim as it came back from the store: record its outcomes.
    for d in &a {
        if claimed_by_b.contains(&d.id) {
            let mine = DueDelivery {
                claim: "node-b:1".into(),
                ..d.clone()
            };
            assert_eq!(
                record(&store, &mine, &ok(), AttemptOutcome::Succeeded).await,
                Recorded::Written
            );
        }
    }
    for d in &a {
        let kept = store.get_delivery(&d.id).await.unwrap().unwrap();
        assert_eq!((kept.state, kept.attempts), (DeliveryState::Succeeded, 1));
        let Target::Subscription(w) = &kept.target else {
            panic!("a subscription's delivery")
        };
        let logs = store.list_logs(w, None, 50).await.unwrap();
        assert_eq!(logs.len(), 1, "one outcome for the one attempt");
        assert_eq!(logs[0].retry_count, 0);
    }
}

/// A claim leaves out the accounts it is told to skip (those at their share of the slots), and
/// says whose each delivery is.
/// A claim takes the accounts in turn (everyone's oldest first), never more of one than its
/// room: a backlog of one account does not come before another's first delivery.
async fn a_claim_takes_the_accounts_in_turn_within_their_room(backend: Backend) {
    let (_db, store) = open(backend).await;
    let busy = instance(&store, vec![WebhookEvent::MessageSent]).await;
    let quiet = instance(&store, vec![WebhookEvent::MessageSent]).await;
    for n in 0..3 {
        subscription(&store, &busy, vec![WebhookEvent::MessageSent]).await;
        sent_message(&store, &busy, &format!("busy-{n}")).await;
    }
    sent_message(&store, &quiet, "quiet-1").await;
    let now = Timestamp::now();
    let first = store
        .claim_deliveries("node-a:1", now, 60_000, 2, &AccountRoom::unlimited())
        .await
        .unwrap();
    let accounts: Vec<_> = first.iter().map(|d| d.account_id.clone()).collect();
    assert_eq!(
        accounts,
        vec![busy.account_id.clone(), quiet.account_id.clone()],
        "one of each, though the busy account's are all older"
    );
    let room = |n| AccountRoom {
        listed: vec![(busy.account_id.clone(), n)],
        others: 100,
    };
    let one = store
        .claim_deliveries("node-a:2", now, 60_000, 100, &room(1))
        .await
        .unwrap();
    assert_eq!(one.len(), 1, "the busy account's room is one");
    assert_eq!(one[0].account_id, busy.account_id);
    let none = store
        .claim_deliveries("node-a:3", now, 60_000, 100, &room(0))
        .await
        .unwrap();
    assert!(none.is_empty(), "a full account gets nothing: {none:?}");
    let rest = store
        .claim_deliveries("node-a:4", now, 60_000, 100, &AccountRoom::unlimited())
        .await
        .unwrap();
    assert!(!rest.is_empty());
    assert!(rest.iter().all(|d| d.account_id == busy.account_id));
}

/// A broker output: first held at the end of the stream (it gets what comes after), by one
/// node at a time; its place moves only under the hold; a released or expired hold is taken
/// over with the place where the other node left it.
async fn a_broker_output_is_held_by_one_node_and_moved_only_under_its_hold(backend: Backend) {
    use wagate_core::broker::BrokerKind::Nats;
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    sent_message(&store, &inst, "before").await;
    // Settled (PostgreSQL): the event before the output is first held is not sent to it.
    settled(
        &store,
        &inst.account_id,
        StreamCursor::default(),
        &StreamFilter::default(),
        10,
        1,
    )
    .await;
    let now = Timestamp::now();
    let soon = now.plus_millis(30_000);
    let start = store
        .hold_broker_target(Nats, "n1", now, soon)
        .await
        .unwrap()
        .expect("held");
    assert!(
        store.read_all_events(start, 10).await.unwrap().is_empty(),
        "starts at the end"
    );
    assert_eq!(
        store
            .hold_broker_target(Nats, "n2", now, soon)
            .await
            .unwrap(),
        None
    );

    let m = sent_message(&store, &inst, "after").await;
    let mut batch = Vec::new();
    for _ in 0..500 {
        batch = store.read_all_events(start, 10).await.unwrap();
        if !batch.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(batch.len(), 1, "{batch:?}");
    let body: serde_json::Value = serde_json::from_str(&batch[0].body).unwrap();
    assert_eq!(body["data"]["messageId"], m.id.as_str());
    assert_eq!(batch[0].account, inst.account_id);
    assert_eq!(batch[0].instance, inst.id);
    let place = batch[0].cursor;
    assert_eq!(store.count_events_after(start, 100).await.unwrap(), 1);

    // Only the holder moves the place.
    assert!(
        !store
            .advance_broker_target(Nats, "n2", place, soon)
            .await
            .unwrap()
    );
    assert!(
        store
            .advance_broker_target(Nats, "n1", place, soon)
            .await
            .unwrap()
    );
    assert_eq!(store.count_events_after(place, 100).await.unwrap(), 0);

    // Released: the other node takes it at once, where the first left it.
    store.release_broker_target(Nats, "n1").await.unwrap();
    assert_eq!(
        store
            .hold_broker_target(Nats, "n2", now, soon)
            .await
            .unwrap(),
        Some(place)
    );
    assert!(
        !store
            .advance_broker_target(Nats, "n1", start, soon)
            .await
            .unwrap()
    );
    // Expired: a third node takes it over once the hold has run out, not before.
    let later = soon.plus_millis(1);
    assert_eq!(
        store
            .hold_broker_target(Nats, "n3", now, later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .hold_broker_target(Nats, "n3", later, later.plus_millis(30_000))
            .await
            .unwrap(),
        Some(place)
    );
    // Each output has its own place.
    let amqp = store
        .hold_broker_target(wagate_core::broker::BrokerKind::Amqp, "n1", now, soon)
        .await
        .unwrap()
        .expect("another output, free");
    assert_eq!(amqp, place, "first held at the end of the stream");
}

/// A claim lengthened into runs holds each claimed lane head's next events, in order and up to
/// the run's length, while other claims get none of them; a run cut short is freed for the
/// next claim, which starts where it stopped; outcomes recorded together are each fenced.
async fn a_claim_lengthened_into_runs_holds_each_lanes_next_events(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = instance(&store, vec![WebhookEvent::MessageSent]).await;
    let sub = subscription(&store, &a, vec![WebhookEvent::MessageSent]).await;
    for i in 0..5 {
        sent_message(&store, &a, &format!("a-{i}")).await;
    }
    let b = instance(&store, vec![WebhookEvent::MessageSent]).await;
    for i in 0..2 {
        sent_message(&store, &b, &format!("b-{i}")).await;
    }
    let (t0, lease) = (Timestamp::now(), 60_000);
    let heads = store
        .claim_deliveries("node-r:1", t0, lease, 100, &AccountRoom::unlimited())
        .await
        .unwrap();
    assert_eq!(heads.len(), 3, "one head a lane: {heads:?}");
    let held = store
        .lengthen_claim("node-r:1", t0, lease, 3)
        .await
        .unwrap();
    let lane = |inst: &Instance, target: &Target| -> Vec<DueDelivery> {
        held.iter()
            .filter(|d| d.instance_id == inst.id && d.target == *target)
            .cloned()
            .collect()
    };
    let own = lane(&a, &Target::Instance);
    let subscribed = lane(&a, &Target::Subscription(sub.id.clone()));
    let other = lane(&b, &Target::Instance);
    assert_eq!(
        (own.len(), subscribed.len(), other.len()),
        (3, 3, 2),
        "{held:?}"
    );
    assert_eq!(held.len(), 8, "nothing else: {held:?}");
    for run in [&own, &subscribed, &other] {
        assert!(
            run.windows(2).all(|w| w[0].event_id < w[1].event_id),
            "in event order"
        );
        assert!(run.iter().all(|d| d.claim == "node-r:1" && d.attempts == 0));
    }
    assert!(
        held.windows(2).all(|w| w[0].id < w[1].id),
        "answered in id order"
    );
    assert!(
        claim(&store).await.is_empty(),
        "every lane is held by the runs"
    );

    // Two outcomes of one run and a late one of a claim that never held it, recorded together.
    let mut stranger = subscribed[0].clone();
    stranger.claim = "node-x:9".into();
    let (r1, r2, r3) = (ok(), ok(), ok());
    let answers = store
        .record_attempts(&[
            Attempted {
                delivery: &subscribed[0],
                result: &r1,
                outcome: AttemptOutcome::Succeeded,
            },
            Attempted {
                delivery: &stranger,
                result: &r2,
                outcome: AttemptOutcome::Succeeded,
            },
            Attempted {
                delivery: &own[0],
                result: &r3,
                outcome: AttemptOutcome::Succeeded,
            },
        ])
        .await
        .unwrap();
    assert_eq!(answers[0], Recorded::Written);
    assert!(
        matches!(&answers[1], Recorded::ClaimLost { held_by: None }),
        "{answers:?}"
    );
    assert_eq!(answers[2], Recorded::Written);
    let logs = store.list_logs(&sub.id, None, 10).await.unwrap();
    assert_eq!(
        logs.len(),
        1,
        "one attempt logged for the subscription: {logs:?}"
    );

    // The own lane's run is cut short after its first: the rest is freed, and the next claim
    // starts at the lane's second event.
    let rest: Vec<DeliveryId> = own[1..].iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        store.release_deliveries("node-x:9", &rest).await.unwrap(),
        0,
        "not its claim"
    );
    let done = [own[0].id.clone()];
    assert_eq!(
        store.release_deliveries("node-r:1", &done).await.unwrap(),
        0,
        "recorded"
    );
    assert_eq!(
        store.release_deliveries("node-r:1", &rest).await.unwrap(),
        2
    );
    let next = claim(&store).await;
    assert_eq!(next.len(), 1, "the own lane's head only: {next:?}");
    assert_eq!(next[0].id, own[1].id);
}

on_both_backends!(
    a_claim_lengthened_into_runs_holds_each_lanes_next_events,
    a_broker_output_is_held_by_one_node_and_moved_only_under_its_hold,
    a_claim_takes_the_accounts_in_turn_within_their_room,
    a_change_writes_its_event_for_each_target_that_wants_it,
    no_target_no_delivery_but_the_event_is_streamed,
    a_stream_resumes_after_an_event_no_longer_kept,
    a_lane_hands_out_first_attempts_in_order,
    logs_record_each_attempt_and_a_retry_makes_it_due,
    paused_waits_and_deleted_is_gone,
    a_restarted_node_frees_its_claims,
    connection_changes_write_instance_events,
    a_late_outcome_of_a_taken_claim_changes_nothing,
    an_expired_claim_nobody_took_still_records,
    late_outcomes_racing_a_new_claim_record_one_outcome_each,
    pruning_deletes_only_what_nothing_needs_any_more,
    pruning_forgets_old_idempotency_records,
);

/// The ids of the events still stored, oldest first.
async fn events_left(store: &SqlStore) -> Vec<wagate_core::EventId> {
    store
        .read_all_events(StreamCursor::default(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Retention (§21.1): an event past the cut-off is deleted once nothing needs it (its
/// deliveries ended, every broker output published it, and it is not the newest, which numbers
/// the next), with its logs; a batch at a time.
async fn pruning_deletes_only_what_nothing_needs_any_more(backend: Backend) {
    let (_db, store) = open(backend).await;
    let hooked = instance(&store, vec![WebhookEvent::MessageSent]).await;
    let quiet = instance(&store, vec![]).await;
    for i in 1..=3 {
        sent_message(&store, &hooked, &format!("ext-{i}")).await;
    }
    sent_message(&store, &quiet, "ext-4").await;
    // The first two are delivered (a log each); the third waits for its attempt.
    let mut third = None;
    for n in 0..3 {
        let due = claim(&store).await;
        assert_eq!(due.len(), 1, "one lane, one head");
        if n == 2 {
            third = Some(due[0].clone());
            break;
        }
        let done = record(&store, &due[0], &ok(), AttemptOutcome::Succeeded).await;
        assert_eq!(done, Recorded::Written);
    }
    let all = events_left(&store).await;
    assert_eq!(all.len(), 4);
    let later = Timestamp::now().plus_millis(3_600_000);
    // Nothing is past a cut-off in the past.
    let none = store
        .prune(Cutoffs::all(Timestamp::from_millis(0)), 100)
        .await
        .unwrap();
    assert_eq!(none, wagate_core::retention::Pruned::default());
    // A batch of one deletes one of each kind.
    let one = store.prune(Cutoffs::all(later), 1).await.unwrap();
    assert_eq!((one.events, one.delivery_logs), (1, 1));
    assert_eq!(events_left(&store).await, all[1..].to_vec());
    let rest = store.prune(Cutoffs::all(later), 100).await.unwrap();
    assert_eq!((rest.events, rest.delivery_logs), (1, 1));
    // The third waits for its delivery; the fourth is the newest.
    assert_eq!(events_left(&store).await, all[2..].to_vec());
    let third = third.unwrap();
    let done = record(&store, &third, &failed(500), AttemptOutcome::GaveUp).await;
    assert_eq!(done, Recorded::Written);
    let after = store.prune(Cutoffs::all(later), 100).await.unwrap();
    assert_eq!((after.events, after.delivery_logs), (1, 1));
    assert_eq!(events_left(&store).await, all[3..].to_vec());

    // A broker output keeps what it has not published yet.
    use wagate_core::broker::BrokerKind::Nats;
    let now = Timestamp::now();
    let start = store
        .hold_broker_target(Nats, "n1", now, now.plus_millis(30_000))
        .await
        .unwrap()
        .expect("held");
    for i in 5..=6 {
        sent_message(&store, &quiet, &format!("ext-{i}")).await;
    }
    let mut unpublished = Vec::new();
    for _ in 0..500 {
        unpublished = store.read_all_events(start, 10).await.unwrap();
        if unpublished.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(unpublished.len(), 2, "{unpublished:?}");
    store.prune(Cutoffs::all(later), 100).await.unwrap();
    assert_eq!(
        events_left(&store).await.len(),
        3,
        "the broker's place is at the fourth: it and the two after it are kept"
    );
    assert!(
        store
            .advance_broker_target(Nats, "n1", unpublished[0].cursor, later)
            .await
            .unwrap()
    );
    let moved = store.prune(Cutoffs::all(later), 100).await.unwrap();
    assert_eq!(moved.events, 1);
    assert_eq!(
        events_left(&store).await,
        vec![unpublished[0].id.clone(), unpublished[1].id.clone()]
    );
}

async fn pruning_forgets_old_idempotency_records(backend: Backend) {
    let (_db, store) = open(backend).await;
    let inst = instance(&store, vec![]).await;
    let send = NewOutbound {
        to: Recipient::parse("5511988887777").unwrap(),
        content: Content::Text("hi".into()),
        mentions: Vec::new(),
        quoted_message_id: None,
        metadata: None,
    };
    let insert = OutboundInsert {
        message: send.of(&inst, Timestamp::now()),
        idempotency: Some(wagate_core::store::IdempotencyRequest {
            key: "order-1".into(),
            request_hash: "h".into(),
            expired_before: Timestamp::from_millis(0),
        }),
    };
    store.insert_outbound(insert).await.unwrap();
    let kept = store
        .prune(Cutoffs::all(Timestamp::now().plus_millis(-3_600_000)), 100)
        .await
        .unwrap();
    assert_eq!(
        kept.idempotency_keys, 0,
        "a record younger than the cut-off stays"
    );
    let later = Timestamp::now().plus_millis(3_600_000);
    assert_eq!(
        store
            .prune(Cutoffs::all(later), 100)
            .await
            .unwrap()
            .idempotency_keys,
        1
    );
    assert_eq!(
        store
            .prune(Cutoffs::all(later), 100)
            .await
            .unwrap()
            .idempotency_keys,
        0
    );
}
