//! Killing the server with SIGKILL while sends are in flight loses nothing that was accepted:
//! after a restart the instances reconnect from their saved sessions and the queue drains.
//! Runs on SQLite and on PostgreSQL (a fresh schema, given to the binary as `--database-url`).

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Server};
use wagate_testkit::{Backend, TestDb, on_both_backends};

/// An instance's whole history.
async fn history(api: &Api, instance: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut path = format!("/v1/messages?instanceId={instance}&limit=100");
        if let Some(c) = &before {
            path.push_str(&format!("&before={c}"));
        }
        let page = api.get(&path).await;
        all.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["pagination"]["nextCursor"].as_str() {
            Some(c) if page["pagination"]["hasMore"] == json!(true) => before = Some(c.to_owned()),
            _ => return all,
        }
    }
}

/// B's inbound texts, with how often each arrived, and the status of each of A's messages.
async fn observe(api: &Api, a: &str, b: &str) -> (HashMap<String, usize>, HashMap<String, String>) {
    let mut seen = HashMap::new();
    for m in history(api, b).await {
        *seen
            .entry(m["content"].as_str().unwrap_or("").to_owned())
            .or_insert(0) += 1;
    }
    let statuses = history(api, a)
        .await
        .into_iter()
        .map(|m| {
            (
                m["messageId"].as_str().unwrap_or("").to_owned(),
                m["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    (seen, statuses)
}

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

    let accepted_count = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (api, a, count) = (api.clone(), a.clone(), accepted_count.clone());
        tasks.spawn(async move {
            let mut accepted = Vec::new();
            for i in (c..N).step_by(CLIENTS) {
                let res = api
                    .http
                    .post(format!("{}/v1/messages/send", api.base))
                    .bearer_auth(&api.key)
                    .json(&json!({"instanceId": a, "to": "5511900000002", "message": format!("m{i}")}))
                    .send()
                    .await;
                // After the kill requests fail: those were never accepted.
                let Ok(res) = res else { break };
                if res.status() != 200 {
                    break;
                }
                let Ok(body) = res.json::<Value>().await else { break };
                accepted.push((body["messageId"].as_str().unwrap().to_owned(), format!("m{i}")));
                count.fetch_add(1, Ordering::SeqCst);
            }
            accepted
        });
    }
    let started = tokio::time::Instant::now();
    while accepted_count.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            started.elapsed() < DRAIN,
            "only {} sends accepted",
            accepted_count.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill(); // SIGKILL
    let mut accepted = Vec::new();
    while let Some(r) = tasks.join_next().await {
        accepted.extend(r.unwrap());
    }
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
        let (seen, statuses) = observe(&api, &a, &b).await;
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
