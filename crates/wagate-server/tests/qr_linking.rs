//! Linking by QR code on the sandbox network, over HTTP only (§6.5, §6.6, §15.4, §16): the code
//! is a PNG data URI, a new one replaces it when it expires, and after the last one the instance
//! gives up with `qr_timeout`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use common::{Reply, TestServer, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_testkit::{Backend, on_both_backends};

/// Each QR code's life in these tests (20 s in production).
const TTL: Duration = Duration::from_millis(700);
/// How many codes the sandbox shows before giving up.
const ROUNDS: usize = 6;

/// A webhook receiver on loopback; returns its URL and what it received.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Checks a QR payload is a PNG data URI and returns it.
fn png_qr(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let qr = r.body["data"]["qrCode"].as_str().unwrap().to_owned();
    let b64 = qr
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("not a PNG data URI: {qr}"));
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    qr
}

async fn qr_codes_rotate_then_time_out(backend: Backend) {
    let (hook, events) = receiver().await;
    let s = TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.sandbox_qr_ttl = TTL;
        c.url_policy.allow_private = true;
    })
    .await;
    let k = s.default_key.clone();
    let r = s
        .post(
            "/v1/instances",
            &k,
            json!({"name": "qr", "webhookUrl": hook, "webhookEvents": ["instance.qr_updated"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let qr_path = format!("/v1/instances/{id}/qrcode");

    let c = s
        .post(
            &format!("/v1/instances/{id}/connect"),
            &k,
            json!({"method": "qrcode"}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    assert_eq!(c.body["status"], json!("qr_pending"));
    let first = s.get(&qr_path, &k).await;
    let first_qr = png_qr(&first);
    assert_eq!(json!(first_qr), c.body["qrCode"], "the code connect showed");
    assert_eq!(first.body["data"]["status"], json!("qr_pending"));
    let first_expiry = time(&first.body["data"]["expiresAt"]);
    assert_eq!(time(&c.body["qrCodeExpiresAt"]), first_expiry);

    // A new code replaces it once it has expired, and not before.
    let second = eventually(&s, &k, &qr_path, |b| {
        b["data"]["qrCode"].is_string() && b["data"]["qrCode"] != json!(first_qr)
    })
    .await;
    assert!(Utc::now() >= first_expiry, "replaced only after expiring");
    let second_qr = png_qr(&second);
    assert!(time(&second.body["data"]["expiresAt"]) > first_expiry);
    // The expired code no longer links anything.
    s.post(
        "/sandbox/v1/scan",
        &k,
        json!({"qrCode": first_qr, "phone": "5511900000001"}),
    )
    .await
    .assert_error(400, "invalid_request");

    // After the last code, the instance gives up.
    let deadline = TTL * (ROUNDS as u32 + 4);
    let started = tokio::time::Instant::now();
    let st = loop {
        let st = s.get(&format!("/v1/instances/{id}/status"), &k).await;
        if st.body["data"]["status"] == json!("disconnected") {
            break st;
        }
        assert!(
            started.elapsed() < deadline * 3,
            "never timed out: {}",
            st.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let d = &st.body["data"];
    assert_eq!(d["lastError"]["code"], json!("qr_timeout"), "{d}");
    assert!(d["lastError"]["message"].as_str().is_some(), "{d}");
    assert_eq!(d["qrCode"], json!(null), "{d}");
    assert!(
        Utc::now() >= first_expiry + TTL * (ROUNDS as u32 - 1),
        "six codes of {TTL:?} each were shown first"
    );
    let inst = s.get(&format!("/v1/instances/{id}"), &k).await;
    assert_eq!(inst.body["data"]["status"], json!("disconnected"));
    assert_eq!(inst.body["data"]["lastError"]["code"], json!("qr_timeout"));
    // The last code shown died with the attempt.
    s.post(
        "/sandbox/v1/scan",
        &k,
        json!({"qrCode": second_qr, "phone": "5511900000001"}),
    )
    .await
    .assert_error(400, "invalid_request");

    // Each code was announced once, in order: six in all.
    let announced: Vec<Value> = {
        let mut got = Vec::new();
        for _ in 0..200 {
            got = events.lock().unwrap().clone();
            if got.len() >= ROUNDS {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        got
    };
    let codes: Vec<&str> = announced
        .iter()
        .map(|e| {
            assert_eq!(e["event"], json!("instance.qr_updated"), "{e}");
            e["data"]["qrCode"].as_str().unwrap()
        })
        .collect();
    assert_eq!(codes.len(), ROUNDS, "{codes:?}");
    assert_eq!(codes[0], first_qr);
    assert_eq!(codes[1], second_qr);
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ROUNDS, "every code is new");

    // Asking for a code again starts a new attempt (§6.6's flow polls this endpoint).
    let again = s.get(&qr_path, &k).await;
    let fresh = png_qr(&again);
    assert!(!codes.contains(&fresh.as_str()));
    assert_eq!(again.body["data"]["status"], json!("qr_pending"));
    s.stop().await;
}

on_both_backends!(qr_codes_rotate_then_time_out);
