//! Killing the server with SIGKILL while sends are in flight loses nothing that was accepted:
//! after a restart the instances reconnect from their saved sessions and the queue drains.
//! Runs on SQLite and on PostgreSQL (a fresh schema, given to the binary as `--database-url`).

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::{Api, Burst, Server};
use wagate_testkit::{Backend, TestDb, on_both_backends};

async fn sigkill_during_sends_loses_nothing_accepted(backend: Backend) {
    const N: usize = 1000;
    const CLIENTS: usize = 16;
    const KILL_AFTER: usize = 300;
    /// For the restarted server to deliver everything (it takes about a second).
    const DRAIN: Duration = Duration::from_secs(60);
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db.url, &[]);
    let api = Arc::new(Api::new_account(&server).await);
    let a = api.link("5511900000001", json!({})).await;
    let b = api.link("5511900000002", json!({})).await;

    let burst = Burst::start(api.clone(), &a, "5511900000002", N, CLIENTS);
    burst.wait_for(KILL_AFTER, DRAIN).await;
    server.kill(); // SIGKILL: requests fail from here, and were never accepted
    let accepted = burst.accepted().await;
    assert!(accepted.len() >= KILL_AFTER);
    assert!(
        accepted.len() < N,
        "the kill came after every send; it proves nothing"
    );

    let server = Server::start(dir.path(), &db.url, &[]);
    let api = api.on(&server);
    let wanted: HashSet<&str> = accepted.iter().map(|(_, t)| t.as_str()).collect();
    let has_left =
        |s: Option<&String>| s.is_some_and(|s| ["sent", "delivered", "read"].contains(&s.as_str()));
    let started = tokio::time::Instant::now();
    let (seen, statuses) = loop {
        let (seen, statuses) = api.observe(&a, &b).await;
        let done = wanted.iter().all(|t| seen.contains_key(*t))
            && accepted.iter().all(|(id, _)| has_left(statuses.get(id)));
        if done || started.elapsed() > DRAIN {
            break (seen, statuses);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.kill();
    eprintln!(
        "{backend:?}: {} of {N} sends accepted before SIGKILL; delivered after restart in {:?}",
        accepted.len(),
        started.elapsed()
    );
    let missing: Vec<_> = wanted.iter().filter(|t| !seen.contains_key(**t)).collect();
    assert!(
        missing.is_empty(),
        "{} accepted messages never arrived: {missing:?}",
        missing.len()
    );
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "arrived more than once: {doubled:?}");
    // And each accepted id reports having left.
    let stuck: Vec<_> = accepted
        .iter()
        .filter(|(id, _)| !has_left(statuses.get(id)))
        .map(|(id, _)| (id, statuses.get(id)))
        .collect();
    assert!(stuck.is_empty(), "accepted but not sent: {stuck:?}");
}

on_both_backends!(sigkill_during_sends_loses_nothing_accepted);
