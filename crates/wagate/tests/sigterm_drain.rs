//! SIGTERM during a send burst and a webhook backlog: the process stops taking work, lets what is
//! in flight finish or hands it back, and exits within 10 s. After a restart every accepted
//! message is sent exactly once and every event is delivered at least once. Both stores.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};
use support::{Api, Server};
use wagate_testkit::{Backend, TestDb, on_both_backends};

/// How long the process may take to exit after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// A webhook receiver that answers after `delay` (slow before the signal, so events pile up)
/// and keeps the `messageId` of every `message.sent` it was sent.
#[derive(Clone, Default)]
struct Receiver {
    delay: Arc<Mutex<Duration>>,
    sent_ids: Arc<Mutex<Vec<String>>>,
}

async fn receive(State(r): State<Receiver>, raw: Bytes) -> &'static str {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    if body["event"] == json!("message.sent")
        && let Some(id) = body["data"]["messageId"].as_str()
    {
        r.sent_ids.lock().unwrap().push(id.to_owned());
    }
    let delay = *r.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    "ok"
}

impl Receiver {
    async fn start(delay: Duration) -> (Receiver, String) {
        let r = Receiver {
            delay: Arc::new(Mutex::new(delay)),
            ..Receiver::default()
        };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn distinct(&self) -> HashSet<String> {
        self.sent_ids.lock().unwrap().iter().cloned().collect()
    }
}

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

    let accepted_count = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (api, a, count) = (api.clone(), a.clone(), accepted_count.clone());
        clients.spawn(async move {
            let mut accepted = Vec::new();
            for i in (c..N).step_by(CLIENTS) {
                let body =
                    json!({"instanceId": a, "to": "5511900000002", "message": format!("m{i}")});
                let res = api
                    .http
                    .post(format!("{}/v1/messages/send", api.base))
                    .bearer_auth(&api.key)
                    .json(&body)
                    .send()
                    .await;
                // Once the server stops taking work, requests fail: those were never accepted.
                let Ok(res) = res else { break };
                if res.status() != 200 {
                    break;
                }
                let Ok(body) = res.json::<Value>().await else {
                    break;
                };
                accepted.push((
                    body["messageId"].as_str().unwrap().to_owned(),
                    format!("m{i}"),
                ));
                count.fetch_add(1, Ordering::SeqCst);
            }
            accepted
        });
    }
    let started = tokio::time::Instant::now();
    while accepted_count.load(Ordering::SeqCst) < SIGNAL_AFTER {
        assert!(started.elapsed() < DRAIN, "sends were not accepted");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let delivered_before = hooks.distinct().len();
    let (took, status) = tokio::task::spawn_blocking(move || server.terminate(EXIT_WITHIN))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("still running {EXIT_WITHIN:?} after SIGTERM"));
    assert!(status.success(), "exited with {status}");
    let mut accepted = Vec::new();
    while let Some(r) = clients.join_next().await {
        accepted.extend(r.unwrap());
    }
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
        let mut seen: HashMap<String, usize> = HashMap::new();
        for m in history(&api, &b).await {
            *seen
                .entry(m["content"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
        let statuses: HashMap<String, String> = history(&api, &a)
            .await
            .into_iter()
            .map(|m| {
                let id = m["messageId"].as_str().unwrap_or("").to_owned();
                (id, m["status"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        let events = hooks.distinct();
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
