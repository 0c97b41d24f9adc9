//! A real server on a loopback port with its own database, and a small HTTP client for it.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::time::Duration;

pub mod groups;
pub mod receiver;
pub mod sandbox;
pub mod sse;
pub mod wa;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wagate_server::{Running, ServerConfig, start};
use wagate_testkit::{Backend, TestDb};

pub const ADMIN_TOKEN: &str = "test-admin-token-of-32-characters";

pub struct TestServer {
    pub base: String,
    /// The key of the `default` (enterprise) account made at first start.
    pub default_key: String,
    pub http: reqwest::Client,
    running: Option<Running>,
    db: TestDb,
    /// The server's data directory (generated secret key, media).
    pub data_dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the error envelope of §15.2: status, code, and a `requestId` equal to the header.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["success"], json!(false), "body: {}", self.body);
        assert_eq!(
            self.body["error"]["code"],
            json!(code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        let rid = self.body["error"]["requestId"].as_str().expect("requestId");
        assert!(rid.starts_with("req_"), "{rid}");
        assert_eq!(self.header("x-request-id"), Some(rid));
    }
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let db = TestDb::new(backend).await;
        let data_dir = tempfile::tempdir().expect("data dir");
        let running = Self::boot(&db, data_dir.path(), tweak).await;
        TestServer {
            base: format!("http://{}", running.addr),
            default_key: running
                .first_start
                .default_api_key
                .clone()
                .expect("first start creates the default key"),
            http: reqwest::Client::new(),
            running: Some(running),
            db,
            data_dir,
        }
    }

    async fn boot(
        db: &TestDb,
        data_dir: &std::path::Path,
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Running {
        let mut config = ServerConfig::new(db.url.clone());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.admin_token = Some(wagate_server::AdminToken::parse(ADMIN_TOKEN).unwrap());
        config.data_dir = data_dir.to_path_buf();
        tweak(&mut config);
        start(config).await.expect("server starts")
    }

    /// Stops the server and starts it again on the same database and data directory.
    pub async fn restart_with(mut self, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        let running = Self::boot(&self.db, self.data_dir.path(), tweak).await;
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
        self
    }

    /// The test database's URL.
    pub fn db_url(&self) -> String {
        self.db.url.clone()
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// Any request; `body` is sent as JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::reply(req.send().await.expect("request sent")).await
    }

    pub async fn reply(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// The OpenAPI document the server serves (`/openapi.json`, no key needed).
    /// `GET /metrics`: the Prometheus text (answered 200).
    pub async fn metrics(&self) -> String {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics");
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.expect("text")
    }

    pub async fn openapi(&self) -> Value {
        let r = self.call(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call(method, path, Some(ADMIN_TOKEN), body).await
    }

    /// A new account on `plan`; returns (account id, key with every scope).
    pub async fn account(&self, plan: &str) -> (String, String) {
        let r = self
            .admin(
                Method::POST,
                "/admin/v1/accounts",
                Some(json!({"name": "t", "plan": plan})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            r.body["data"]["account"]["id"].as_str().unwrap().to_owned(),
            r.body["data"]["apiKey"]["key"].as_str().unwrap().to_owned(),
        )
    }

    /// A further key for an account, with the given body (`scopes`, `expiresAt`).
    pub async fn key(&self, account: &str, extra: Value) -> Reply {
        let mut body = json!({"name": "k"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        self.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{account}/keys"),
            Some(body),
        )
        .await
    }

    /// A key of `account` with only `scopes`; returns its secret.
    pub async fn scoped_key(&self, account: &str, scopes: &[&str]) -> String {
        let r = self.key(account, json!({"scopes": scopes})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["data"]["key"].as_str().unwrap().to_owned()
    }

    /// The id of the `default` account (made at first start).
    pub async fn default_account(&self) -> String {
        let r = self.get("/v1/account", &self.default_key).await;
        r.body["data"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn create_instance(&self, key: &str, name: &str) -> Reply {
        self.post("/v1/instances", key, json!({"name": name})).await
    }
}

/// Creates an instance with `settings` and links it as `phone`; returns its id.
/// `POST /v1/messages/send` under an `Idempotency-Key`; the message id it answers.
pub async fn send_with_key(
    s: &TestServer,
    key: &str,
    idempotency_key: &str,
    body: Value,
) -> String {
    let res = s
        .http
        .post(format!("{}/v1/messages/send", s.base))
        .bearer_auth(key)
        .header("Idempotency-Key", idempotency_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let r = TestServer::reply(res).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["messageId"].as_str().unwrap().to_owned()
}

pub async fn linked(s: &TestServer, key: &str, phone: &str, settings: Value) -> String {
    let r = s
        .post(
            "/v1/instances",
            key,
            json!({"name": phone, "settings": settings}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let c = s
        .post(
            &format!("/v1/instances/{id}/connect"),
            key,
            json!({"method": "qrcode"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert_eq!(c.body["status"], json!("qr_pending"));
    let qr = c.body["qrCode"].as_str().unwrap().to_owned();
    assert!(qr.starts_with("data:image/png;base64,"));
    assert!(c.body["qrCodeExpiresAt"].as_str().is_some());
    let scan = s
        .post(
            "/sandbox/v1/scan",
            key,
            json!({"qrCode": qr, "phone": phone, "profileName": "Team"}),
        )
        .await;
    assert_eq!(scan.status, StatusCode::OK, "{}", scan.body);
    let st = s.get(&format!("/v1/instances/{id}/status"), key).await;
    assert_eq!(st.body["data"]["status"], json!("connected"), "{}", st.body);
    assert_eq!(st.body["data"]["phone"], json!(phone));
    id
}

/// Polls `path` until `pred` holds on the reply (at most 10 s).
pub async fn eventually(
    s: &TestServer,
    key: &str,
    path: &str,
    pred: impl Fn(&Value) -> bool,
) -> Reply {
    for _ in 0..200 {
        let r = s.get(path, key).await;
        if pred(&r.body) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = s.get(path, key).await;
    panic!("condition never held on {path}: {}", r.body);
}
