//! Killing the server with SIGKILL while 1,000 webhook events wait for delivery loses none:
//! after a restart every event reaches the receiver at least once, and a duplicate (an attempt
//! that was in flight at the kill) carries the same `evt_` id.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::{Api, Receiver, Server, messages_from_contacts};
use wagate_testkit::{Backend, TestDb, on_both_backends};

const EVENTS: usize = 1000;
const SENDERS: usize = 16;

/// Event ids by message text.
fn by_text(rx: &Receiver) -> HashMap<String, Vec<String>> {
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for b in rx.bodies() {
        seen.entry(b["data"]["content"].as_str().unwrap().to_owned())
            .or_default()
            .push(b["id"].as_str().unwrap().to_owned());
    }
    seen
}

async fn sigkill_with_pending_events_loses_none(backend: Backend) {
    let db = TestDb::new(backend).await;
    let env = [("WAGATE_WEBHOOK_ALLOW_PRIVATE", "true")];
    let dir = tempfile::tempdir().unwrap();
    let (rx, url) = Receiver::start(Duration::from_millis(100)).await;
    let server = Server::start(dir.path(), &db.url, &env);
    let api = Arc::new(Api::new_account(&server).await);
    api.link(
        "5511900000001",
        json!({"webhookUrl": url, "webhookEvents": ["message.received"]}),
    )
    .await;

    // A thousand messages from virtual contacts, each a `message.received` event.
    messages_from_contacts(&api, "5511900000001", EVENTS, SENDERS).await;
    let delivered_before = rx.bodies().len();
    server.kill(); // SIGKILL, with one delivery in flight
    let pending = EVENTS - delivered_before;
    println!("killed with {pending} of {EVENTS} events pending");
    // Most must still be pending for the restart to be the test (at 100 ms a delivery, 1,000
    // sends take ~10 s; CI runs this beside other suites and the browser tests on two cores).
    assert!(pending >= 750, "only {pending} were pending at the kill");

    *rx.delay.lock().unwrap() = Duration::ZERO;
    let server = Server::start(dir.path(), &db.url, &env);
    let mut seen = HashMap::new();
    for _ in 0..1200 {
        seen = by_text(&rx);
        if seen.len() == EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill();
    let missing: Vec<String> = (0..EVENTS)
        .map(|i| format!("e{i:04}"))
        .filter(|t| !seen.contains_key(t))
        .collect();
    assert!(
        missing.is_empty(),
        "{} events never reached the receiver: {missing:?}",
        missing.len()
    );
    let mut duplicates = 0;
    for (text, ids) in &seen {
        duplicates += ids.len() - 1;
        assert!(
            ids.iter().all(|id| id == &ids[0] && id.starts_with("evt_")),
            "{text} arrived as different events: {ids:?}"
        );
    }
    println!("after the restart: all {EVENTS} delivered, {duplicates} delivered twice");
}

on_both_backends!(sigkill_with_pending_events_loses_none);
