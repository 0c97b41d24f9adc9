//! Killing the server with SIGKILL while sends are in flight loses nothing that was accepted:
//! after a restart the instances reconnect from their saved sessions and the queue drains.
//! Runs on SQLite and on PostgreSQL (a fresh schema, given to the binary as `--database-url`).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use wagate_testkit::{Backend, TestDb, on_both_backends};

const BIN: &str = env!("CARGO_BIN_EXE_wagate");
const ADMIN: &str = "crash-test-admin";

/// A running `wagate serve`, killed (SIGKILL) when dropped, so a failing test leaves no server.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts on a port the kernel picks and returns once the server printed where it listens
    /// (it binds before printing, so it is reachable then).
    fn start(data_dir: &Path, database_url: &str) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--sandbox", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--database-url")
            .arg(database_url)
            .env("WAGATE_ADMIN_TOKEN", ADMIN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut printed = Vec::new();
        let base = loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                panic!("the server exited before listening: {printed:?}");
            }
            if let Some(rest) = line.trim().strip_prefix("wagate listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            printed.push(line);
        };
        // Keep draining its output so that it never blocks on (or dies of) a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Server { child, base }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        )
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "{path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await.1
    }
}

async fn link(api: &Api, phone: &str) -> String {
    let inst = api
        .post(
            "/v1/instances",
            json!({"name": phone, "settings": {"autoTyping": false}}),
        )
        .await;
    let id = inst["data"]["id"].as_str().unwrap().to_owned();
    let c = api
        .post(
            &format!("/v1/instances/{id}/connect"),
            json!({"method": "qrcode"}),
        )
        .await;
    api.post(
        "/sandbox/v1/scan",
        json!({"qrCode": c["qrCode"], "phone": phone}),
    )
    .await;
    id
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
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = Server::start(dir.path(), &db.url);
    let created: Value = http
        .post(format!("{}/admin/v1/accounts", server.base))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "crash", "plan": "enterprise"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = created["data"]["apiKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = Arc::new(Api {
        http: http.clone(),
        base: server.base.clone(),
        key: key.clone(),
    });
    let a = link(&api, "5511900000001").await;
    let b = link(&api, "5511900000002").await;

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

    let server = Server::start(dir.path(), &db.url);
    let api = Api {
        http,
        base: server.base.clone(),
        key,
    };
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
