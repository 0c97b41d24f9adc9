//! Sandbox instances linked over the API, and polling for a condition.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_testkit::Backend;

use super::{Reply, TestServer};

pub async fn sandbox(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| c.sandbox = true).await
}

/// Creates an instance with `extra` fields (settings, webhookUrl, …) and links it as `phone`
/// by scanning its QR code; returns its id.
pub async fn linked(s: &TestServer, key: &str, phone: &str, extra: Value) -> String {
    let mut body = json!({"name": phone});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let r = s.post("/v1/instances", key, body).await;
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
    let qr = c.body["qrCode"].as_str().unwrap().to_owned();
    let scan = s
        .post(
            "/sandbox/v1/scan",
            key,
            json!({"qrCode": qr, "phone": phone, "profileName": "Team"}),
        )
        .await;
    assert_eq!(scan.status, StatusCode::OK, "{}", scan.body);
    id
}

/// A virtual contact writes `text` to the instance linked as `to`.
pub async fn inject(s: &TestServer, key: &str, to: &str, text: &str) {
    let r = s
        .post(
            "/sandbox/v1/messages",
            key,
            json!({"to": to, "from": "5511988887777", "fromName": "Ana", "message": text}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
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
