//! SIGTERM during a send burst and a webhook backlog: the process stops taking work, lets what is
//! in flight finish or hands it back, and exits within 10 s. After a restart every accepted
//! message is sent exactly once and every event is delivered at least once. Both stores.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::{Api, Burst, Receiver, Server};
use wagate_testkit::{Backend, TestDb, on_both_backends};

/// How long the process may take to exit after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// The `messageId` of every `message.sent` the receiver was sent.
fn sent_ids(rx: &Receiver) -> HashSet<String> {
    rx.bodies()
        .iter()
        .filter(|b| b["event"] == json!("message.sent"))
        .filter_map(|b| b["data"]["messageId"].as_str().map(str::to_owned))
        .collect()
}

async fn sigterm_during_a_burst_exits_in_time_and_loses_nothing(backend: Backend) {
    const N: usize = 1000;
    const CLIENTS: usize = 16;
    const SIGNAL_AFTER: usize = 300;
    const DRAIN: Duration = Duration::from_secs(60);
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("WAGATE_WEBHOOK_ALLOW_PRIVATE", "true")];
    let (hooks, url) = Receiver::start(Duration::from_millis(100)).await;
    let server = Server::start(dir.path(), &db.url, &env);
    let api = Arc::new(Api::new_account(&server).await);
    let a = api
        .link(
            "5511900000001",
            json!({"webhookUrl": url, "webhookEvents": ["message.sent"]}),
        )
        .await;
    let b = api.link("5511900000002", json!({})).await;

    let burst = Burst::start(api.clone(), &a, "5511900000002", N, CLIENTS);
    burst.wait_for(SIGNAL_AFTER, DRAIN).await;
    let delivered_before = sent_ids(&hooks).len();
    let (took, status) = tokio::task::spawn_blocking(move || server.terminate(EXIT_WITHIN))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("still running {EXIT_WITHIN:?} after SIGTERM"));
    assert!(status.success(), "exited with {status}");
    let accepted = burst.accepted().await;
    assert!(
        accepted.len() < N,
        "the signal came after every send; it proves nothing"
    );
    let backlog = accepted.len() - delivered_before.min(accepted.len());
    println!(
        "{backend:?}: exited {took:?} after SIGTERM, {} sends accepted, {backlog} events not yet delivered",
        accepted.len()
    );
    assert!(
        backlog >= 100,
        "no webhook backlog at the signal ({backlog})"
    );

    *hooks.delay.lock().unwrap() = Duration::ZERO;
    let server = Server::start(dir.path(), &db.url, &env);
    let api = api.on(&server);
    let wanted: HashSet<&str> = accepted.iter().map(|(_, t)| t.as_str()).collect();
    let ids: HashSet<String> = accepted.iter().map(|(id, _)| id.clone()).collect();
    let started = tokio::time::Instant::now();
    let (seen, statuses, events) = loop {
        let (seen, statuses) = api.observe(&a, &b).await;
        let events = sent_ids(&hooks);
        let done = wanted.iter().all(|t| seen.contains_key(*t)) && ids.is_subset(&events);
        if done || started.elapsed() > DRAIN {
            break (seen, statuses, events);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(server);
    let missing: Vec<_> = wanted.iter().filter(|t| !seen.contains_key(**t)).collect();
    assert!(
        missing.is_empty(),
        "{} accepted messages never arrived",
        missing.len()
    );
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "arrived more than once: {doubled:?}");
    let stuck = ids
        .iter()
        .filter(|id| statuses.get(*id).is_none_or(|s| s == "queued"))
        .count();
    assert_eq!(stuck, 0, "accepted messages still queued");
    let undelivered = ids.difference(&events).count();
    assert_eq!(undelivered, 0, "message.sent events never delivered");
}

on_both_backends!(sigterm_during_a_burst_exits_in_time_and_loses_nothing);
