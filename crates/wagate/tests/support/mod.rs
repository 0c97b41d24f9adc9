//! The real `wagate` binary on a loopback port, and a small API client for it.
#![allow(dead_code)] // each test file uses a different part

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_wagate");
pub const ADMIN: &str = "crash-test-admin";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `wagate serve --sandbox` on `port`, with its data in `dir` and the database at
/// `database_url` (SQLite in `dir` when `None`); `env` adds variables.
pub fn serve(dir: &Path, port: u16, database_url: Option<&str>, env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--sandbox"])
        .arg("--data-dir")
        .arg(dir)
        .env("WAGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("WAGATE_ADMIN_TOKEN", ADMIN)
        .env_remove("WAGATE_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        cmd.env("WAGATE_DATABASE_URL", url);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    /// Waits for the server on `port` and makes an enterprise account to work in.
    pub async fn connect(port: u16) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
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
        let key = created["data"]["apiKey"]["key"]
            .as_str()
            .unwrap()
            .to_owned();
        Api { http, base, key }
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
}

pub async fn wait_healthy(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}
