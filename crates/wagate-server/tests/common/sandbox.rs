//! A sandbox server, and virtual contacts writing to its instances.

use reqwest::StatusCode;
use serde_json::json;
use wagate_testkit::Backend;

use super::TestServer;

pub async fn sandbox(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| c.sandbox = true).await
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
