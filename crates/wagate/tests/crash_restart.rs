//! Killing the server with SIGKILL while sends are in flight loses nothing that was accepted:
//! after a restart the instances reconnect from their saved sessions and the queue drains.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_wagate");
const ADMIN: &str = "crash-test-admin";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(dir: &Path, port: u16) -> Child {
    Command::new(BIN)
        .args(["serve", "--sandbox"])
        .arg("--data-dir")
        .arg(dir)
        .env("WAGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("WAGATE_ADMIN_TOKEN", ADMIN)
        .env_remove("WAGATE_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
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

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
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

/// B's inbound texts, with how often each arrived.
async fn received(api: &Api, b: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    let mut before: Option<String> = None;
    loop {
        let mut path = format!("/v1/messages?instanceId={b}&limit=100");
        if let Some(c) = &before {
            path.push_str(&format!("&before={c}"));
        }
        let page = api.get(&path).await;
        for m in page["data"].as_array().cloned().unwrap_or_default() {
            *seen
                .entry(m["content"].as_str().unwrap_or("").to_owned())
                .or_insert(0) += 1;
        }
        match page["pagination"]["nextCursor"].as_str() {
            Some(c) if page["pagination"]["hasMore"] == json!(true) => before = Some(c.to_owned()),
            _ => return seen,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_sends_loses_nothing_accepted() {
    const N: usize = 1000;
    const CLIENTS: usize = 16;
    const KILL_AFTER: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = serve(dir.path(), port);
    wait_healthy(&http, &base).await;
    let created: Value = http
        .post(format!("{base}/admin/v1/accounts"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "crash", "plan": "enterprise"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api = Arc::new(Api {
        http: http.clone(),
        base: base.clone(),
        key: created["data"]["apiKey"]["key"]
            .as_str()
            .unwrap()
            .to_owned(),
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
    while accepted_count.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let mut accepted = Vec::new();
    while let Some(r) = tasks.join_next().await {
        accepted.extend(r.unwrap());
    }
    assert!(accepted.len() >= KILL_AFTER);

    let mut server = serve(dir.path(), port);
    wait_healthy(&http, &base).await;
    let wanted: HashSet<&str> = accepted.iter().map(|(_, t)| t.as_str()).collect();
    let mut seen = HashMap::new();
    for _ in 0..300 {
        seen = received(&api, &b).await;
        if wanted.iter().all(|t| seen.contains_key(*t)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<_> = wanted.iter().filter(|t| !seen.contains_key(**t)).collect();
    assert!(
        missing.is_empty(),
        "{} accepted messages never arrived: {missing:?}",
        missing.len()
    );
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "arrived more than once: {doubled:?}");
    // And each accepted id reports having left.
    let (id, _) = &accepted[accepted.len() - 1];
    let st = api.get(&format!("/v1/messages/{id}/status")).await;
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        ["sent", "delivered", "read"].contains(&st["data"]["status"].as_str().unwrap()),
        "{st}"
    );
}
