//! The real `wagate` binary on a loopback port, and a small API client for it.
#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_wagate");
pub const ADMIN: &str = "crash-test-admin-token-of-32-chars";

/// A running `wagate serve --sandbox`, killed (SIGKILL) when dropped, so a failing test leaves
/// no server.
pub struct Server {
    child: Child,
    pub base: String,
    /// Every line the server wrote to stderr (its log), as it comes.
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts on a port the kernel picks, with `env` added, and returns once the server printed
    /// where it listens (it binds before printing, so it is reachable then).
    pub fn start(data_dir: &Path, database_url: &str, env: &[(&str, &str)]) -> Server {
        Self::launch(data_dir, database_url, env, &["--sandbox"])
    }

    /// One of several nodes on one database (§19), named `node`, on the sandbox.
    pub fn start_node(data_dir: &Path, database_url: &str, node: &str) -> Server {
        Self::start_node_with(data_dir, database_url, node, &[])
    }

    /// The same, with `env` added.
    pub fn start_node_with(
        data_dir: &Path,
        database_url: &str,
        node: &str,
        env: &[(&str, &str)],
    ) -> Server {
        Self::launch(
            data_dir,
            database_url,
            env,
            &["--sandbox", "--node-id", node],
        )
    }

    /// One of several nodes on one database, with the WhatsApp Web engine pointed at a fake
    /// WhatsApp server listening at `fake`.
    pub fn start_whatsapp_web_node(
        data_dir: &Path,
        database_url: &str,
        fake: std::net::SocketAddr,
        node: &str,
    ) -> Server {
        let fake = fake.to_string();
        let env = [
            ("WAGATE_WA_VERSION", "2.3000.1027000000"),
            ("WAGATE_TEST_FAKE_WA_ADDR", fake.as_str()),
        ];
        Self::launch(data_dir, database_url, &env, &["--node-id", node])
    }

    /// The same without `--sandbox`: `qrcode` instances use the WhatsApp Web engine (tests point
    /// it at a fake WhatsApp server with `WAGATE_TEST_FAKE_WA_ADDR`).
    pub fn start_whatsapp_web(data_dir: &Path, database_url: &str, env: &[(&str, &str)]) -> Server {
        Self::launch(data_dir, database_url, env, &[])
    }

    fn launch(data_dir: &Path, database_url: &str, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--database-url")
            .arg(database_url)
            .env("WAGATE_ADMIN_TOKEN", ADMIN)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let err = BufReader::new(child.stderr.take().unwrap());
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut printed = Vec::new();
        let base = loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100)); // for the log reader to catch up
                let logs = logs.lock().unwrap().clone();
                panic!("the server exited before listening: {printed:?}, log: {logs:?}");
            }
            if let Some(rest) = line.trim().strip_prefix("wagate listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            printed.push(line);
        };
        // Keep draining its output so that it never blocks on (or dies of) a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Server { child, base, logs }
    }

    /// The log lines written so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the log has had no new line for `quiet` (background work after a step has
    /// settled), at most 10 s.
    pub async fn wait_for_quiet_log(&self, quiet: Duration) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = self.logs.lock().unwrap().len();
        let mut since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.logs.lock().unwrap().len();
            if now != seen {
                (seen, since) = (now, Instant::now());
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    /// SIGTERM, then waits (at most `patience`) for the process to exit; returns how long it
    /// took and how it ended, or `None` if it was still running (it is then killed).
    pub fn terminate(mut self, patience: Duration) -> Option<(Duration, std::process::ExitStatus)> {
        let asked = std::time::Instant::now();
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
        while asked.elapsed() < patience {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((asked.elapsed(), status));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None // dropped: SIGKILL
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status();
        assert!(
            sent.is_ok_and(|s| s.success()),
            "kill -{signal} {pid} failed"
        );
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
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

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    /// Makes an enterprise account on `server` to work in.
    pub async fn new_account(server: &Server) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
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
        Api {
            http,
            base: server.base.clone(),
            key,
        }
    }

    /// The same account on a restarted server (which listens on another port).
    pub fn on(&self, server: &Server) -> Api {
        Api {
            base: server.base.clone(),
            ..self.clone()
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
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

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "{path}: {status} {body}");
        body
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await.1
    }

    /// Creates an instance with `extra` fields and links it on the sandbox as `phone`.
    pub async fn link(&self, phone: &str, extra: Value) -> String {
        let mut body = json!({"name": phone, "settings": {"autoTyping": false}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        let inst = self.post("/v1/instances", body).await;
        let id = inst["data"]["id"].as_str().unwrap().to_owned();
        let c = self
            .post(
                &format!("/v1/instances/{id}/connect"),
                json!({"method": "qrcode"}),
            )
            .await;
        self.post(
            "/sandbox/v1/scan",
            json!({"qrCode": c["qrCode"], "phone": phone}),
        )
        .await;
        id
    }

    /// An instance's whole history, newest first, page by page.
    pub async fn history(&self, instance: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = format!("/v1/messages?instanceId={instance}&limit=100");
            if let Some(c) = &before {
                path.push_str(&format!("&before={c}"));
            }
            let page = self.get(&path).await;
            all.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["pagination"]["nextCursor"].as_str() {
                Some(c) if page["pagination"]["hasMore"] == json!(true) => {
                    before = Some(c.to_owned())
                }
                _ => return all,
            }
        }
    }

    /// `b`'s inbound texts with how often each arrived, and the status of each of `a`'s
    /// messages by id.
    pub async fn observe(
        &self,
        a: &str,
        b: &str,
    ) -> (HashMap<String, usize>, HashMap<String, String>) {
        let mut seen = HashMap::new();
        for m in self.history(b).await {
            *seen
                .entry(m["content"].as_str().unwrap_or("").to_owned())
                .or_insert(0) += 1;
        }
        let statuses = self
            .history(a)
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
}

/// `n` messages from a virtual contact to the sandbox instance linked as `to`, texts `e0000`,
/// `e0001`…, sent by `senders` clients at once: each a `message.received` event.
pub async fn messages_from_contacts(api: &Arc<Api>, to: &str, n: usize, senders: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..senders {
        let api = api.clone();
        let to = to.to_owned();
        tasks.spawn(async move {
            for i in (c..n).step_by(senders) {
                api.post(
                    "/sandbox/v1/messages",
                    json!({"to": to, "from": "5511988887777", "message": format!("e{i:04}")}),
                )
                .await;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// Texts `m0`…`m{n-1}` sent from one instance to a phone by concurrent clients, each going on
/// until the server stops answering 200 (what was never answered was never accepted).
pub struct Burst {
    clients: tokio::task::JoinSet<Vec<(String, String)>>,
    accepted: Arc<AtomicUsize>,
}

impl Burst {
    pub fn start(api: Arc<Api>, instance: &str, to: &str, n: usize, clients: usize) -> Burst {
        let accepted = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for c in 0..clients {
            let (api, instance, to, count) = (
                api.clone(),
                instance.to_owned(),
                to.to_owned(),
                accepted.clone(),
            );
            set.spawn(async move {
                let mut mine = Vec::new();
                for i in (c..n).step_by(clients) {
                    let text = format!("m{i}");
                    let body = json!({"instanceId": instance, "to": to, "message": text});
                    let res = api
                        .http
                        .post(format!("{}/v1/messages/send", api.base))
                        .bearer_auth(&api.key)
                        .json(&body)
                        .send()
                        .await;
                    let Ok(res) = res else { break };
                    if res.status() != 200 {
                        break;
                    }
                    let Ok(body) = res.json::<Value>().await else {
                        break;
                    };
                    mine.push((body["messageId"].as_str().unwrap().to_owned(), text));
                    count.fetch_add(1, Ordering::SeqCst);
                }
                mine
            });
        }
        Burst {
            clients: set,
            accepted,
        }
    }

    /// Waits until at least `n` sends were accepted; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) {
        let started = Instant::now();
        while self.accepted.load(Ordering::SeqCst) < n {
            assert!(
                started.elapsed() < within,
                "only {} sends accepted",
                self.accepted.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Every accepted send as (messageId, text), once all clients stopped.
    pub async fn accepted(mut self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        while let Some(r) = self.clients.join_next().await {
            all.extend(r.unwrap());
        }
        all
    }
}

/// A webhook receiver that answers after `delay` (slow before a kill or a signal, so events pile
/// up) and keeps every body it was sent.
#[derive(Clone, Default)]
pub struct Receiver {
    pub delay: Arc<Mutex<Duration>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn receive(State(r): State<Receiver>, raw: Bytes) -> &'static str {
    r.bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&raw).unwrap_or(Value::Null));
    let delay = *r.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    "ok"
}

impl Receiver {
    /// Listens on a free loopback port; returns the receiver and its URL.
    pub async fn start(delay: Duration) -> (Receiver, String) {
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

    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// The QR code's text, read from the PNG the API shows, as a phone camera would.
pub fn qr_text(data_uri: &str) -> String {
    use base64::Engine as _;
    let b64 = data_uri.strip_prefix("data:image/png;base64,").unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    let (_, text) = grids[0].decode().unwrap();
    text
}

/// Creates a WhatsApp Web instance with `settings` and links it by its QR code, which the fake
/// WhatsApp server's phone `phone` scans; returns its id once it reads `connected`.
pub async fn link_whatsapp_web(
    api: &Api,
    fake: &wagate_wa::fake::FakeServer,
    phone: &str,
    settings: Value,
) -> String {
    let inst = api
        .post("/v1/instances", json!({"name": "wa", "settings": settings}))
        .await;
    let id = inst["data"]["id"].as_str().unwrap().to_owned();
    let c = api
        .post(
            &format!("/v1/instances/{id}/connect"),
            json!({"method": "qrcode"}),
        )
        .await;
    let qr = qr_text(c["qrCode"].as_str().expect("a QR code"));
    fake.scan_qr(&qr, phone).await.unwrap();
    for _ in 0..600 {
        let status = api.get(&format!("/v1/instances/{id}/status")).await;
        if status["data"]["status"] == "connected" {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{id} never connected");
}

/// Every node as `server` lists them (`GET /admin/v1/nodes`).
pub async fn nodes(server: &Server) -> Vec<Value> {
    let res = reqwest::Client::new()
        .get(format!("{}/admin/v1/nodes", server.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `nodeId → (status, instances)`, as `server` reports every node.
pub async fn node_table(server: &Server) -> HashMap<String, (String, u64)> {
    nodes(server)
        .await
        .into_iter()
        .map(|n| {
            (
                n["nodeId"].as_str().unwrap().to_owned(),
                (
                    n["status"].as_str().unwrap().to_owned(),
                    n["instances"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}
