//! Retention (§21.1) over HTTP, with the period shortened to seconds: delivery logs and received
//! media files past it are gone from what a user reads; an idempotency key still answers for its
//! whole window even when the period is shorter; messages stay.

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::{TestServer, linked, send_with_key};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_core::retention::RetentionPeriod;
use wagate_core::{MediaId, Timestamp};
use wagate_testkit::{Backend, on_both_backends};

on_both_backends!(what_is_past_the_retention_period_is_gone_and_messages_stay);

/// A received media file of `account` as the vault keeps it, made at `at`.
fn media_file(s: &TestServer, account: &str, instance: &str, at: Timestamp) -> MediaId {
    let id = MediaId::generate_at(at);
    let dir = s
        .running()
        .state
        .config
        .data_dir
        .join("media")
        .join(account);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(id.as_str()), b"photo").unwrap();
    let meta = json!({"mimeType": "image/jpeg", "filename": null, "instanceId": instance});
    std::fs::write(dir.join(format!("{}.json", id.as_str())), meta.to_string()).unwrap();
    id
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}

async fn what_is_past_the_retention_period_is_gone_and_messages_stay(backend: Backend) {
    let period = Duration::from_secs(2);
    let s = TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy.allow_private = true;
        c.retention = RetentionPeriod::of(period);
        c.retention_every = Duration::from_millis(100);
    })
    .await;
    let k = s.default_key.clone();
    let rx = Receiver::start(Answer::Ok).await;
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    let account = s.get("/v1/account", &k).await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": rx.url, "instanceId": inst, "events": ["message.sent"]}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    let logs_path = format!(
        "/v1/webhooks/{}/logs",
        sub.body["data"]["id"].as_str().unwrap()
    );

    // A media file made an hour ago goes at the next pass; one made now is served.
    let old = media_file(
        &s,
        &account,
        &inst,
        Timestamp::now().plus_millis(-3_600_000),
    );
    let fresh = media_file(&s, &account, &inst, Timestamp::now());
    until("the old media file going", async || {
        s.get(&format!("/v1/media/{old}"), &k).await.status == StatusCode::NOT_FOUND
    })
    .await;
    assert_eq!(
        s.get(&format!("/v1/media/{fresh}"), &k).await.status,
        StatusCode::OK
    );

    // A send under an idempotency key, delivered to the webhook: a log records it.
    let body = json!({"instanceId": inst, "to": "5511977776666", "message": "kept"});
    let send = || send_with_key(&s, &k, "order-1", body.clone());
    let first = send().await;
    until("the delivery's log", async || {
        s.get(&logs_path, &k).await.body["data"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    })
    .await;

    // Past the period: the log and the fresh file are gone too.
    until("the log going", async || {
        s.get(&logs_path, &k).await.body["data"] == json!([])
    })
    .await;
    until("the fresh media file going", async || {
        s.get(&format!("/v1/media/{fresh}"), &k).await.status == StatusCode::NOT_FOUND
    })
    .await;
    // The key still answers with its first send (its window is a day), and the message stays.
    assert_eq!(send().await, first);
    let history = s.get(&format!("/v1/messages?instanceId={inst}"), &k).await;
    let texts: Vec<&Value> = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["content"])
        .collect();
    assert_eq!(texts, vec![&json!("kept")], "{}", history.body);
    s.stop().await;
}
