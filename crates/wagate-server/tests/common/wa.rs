//! A server whose WhatsApp Web engine talks to the in-process fake WhatsApp server, and the
//! steps every WhatsApp Web test takes: link an instance by QR, wait for a status.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_core::net::UrlPolicy;
use wagate_testkit::Backend;
use wagate_wa::fake::{ContactReceipts, FakeConnector, FakeServer};
use wagate_wa::{WaOptions, WaVersion};

use super::{Reply, TestServer};

/// The number the fake phone links instances as.
pub const PHONE: &str = "15550001111";

pub fn wa_options(fake: &Arc<FakeServer>) -> WaOptions {
    WaOptions {
        // Offline: the version is pinned, so nothing asks web.whatsapp.com.
        version: Some(WaVersion(2, 3000, 1027000000)),
        connector: Some(Arc::new(FakeConnector(fake.clone()))),
        pre_key_count: 20,
        ..WaOptions::default()
    }
}

/// The test server, against a fake whose contacts' phones send receipts by themselves (as real
/// phones do) unless a test turns that off.
pub async fn server(backend: Backend, fake: &Arc<FakeServer>) -> TestServer {
    fake.opts.lock().unwrap().contact_receipts = Some(ContactReceipts::AfterAck);
    let options = wa_options(fake);
    TestServer::start_with(backend, move |c| {
        c.wa = options;
        c.url_policy = UrlPolicy {
            allow_private: true,
        };
    })
    .await
}

/// Creates an instance (with `extra` fields) and starts linking it by QR; returns its id and
/// the connect answer.
pub async fn connect_qr(s: &TestServer, key: &str, extra: Value) -> (String, Reply) {
    let mut body = json!({"name": "wa"});
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
    (id, c)
}

/// The fake phone scans the QR code the API shows.
pub async fn scan(s: &TestServer, fake: &FakeServer, qr_data_uri: &str, phone: &str) {
    let raw = s
        .running()
        .state
        .supervisor
        .raw_code_for(qr_data_uri)
        .expect("the API's QR code belongs to a linking instance");
    fake.scan_qr(&raw, phone).await.expect("the phone scans");
}

pub async fn status_is(s: &TestServer, key: &str, id: &str, status: &'static str) -> Reply {
    eventually_for(s, key, &format!("/v1/instances/{id}/status"), 30, |b| {
        b["data"]["status"] == json!(status)
    })
    .await
}

/// Polls `path` until `pred` holds (at most `secs` seconds).
pub async fn eventually_for(
    s: &TestServer,
    key: &str,
    path: &str,
    secs: u64,
    pred: impl Fn(&Value) -> bool,
) -> Reply {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let r = s.get(path, key).await;
        if pred(&r.body) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held on {path}: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A linked, connected instance; returns its id.
pub async fn linked(s: &TestServer, fake: &FakeServer, key: &str, extra: Value) -> String {
    let (id, c) = connect_qr(s, key, extra).await;
    let qr = c.body["qrCode"].as_str().expect("a QR code").to_owned();
    scan(s, fake, &qr, PHONE).await;
    status_is(s, key, &id, "connected").await;
    id
}
