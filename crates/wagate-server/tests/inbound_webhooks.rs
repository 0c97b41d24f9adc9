//! Inbound webhook URLs (§9.10, §15.7): a secret URL that sends a message without an API key.

mod common;

use common::TestServer;
use common::sandbox::sandbox;
use common::{eventually, linked};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wagate_testkit::{Backend, on_both_backends};

/// POSTs `body` to the inbound URL, without any `Authorization` header.
async fn post_url(s: &TestServer, url: &str, body: Value) -> common::Reply {
    TestServer::reply(s.http.post(url).json(&body).send().await.unwrap()).await
}

async fn create(s: &TestServer, key: &str, instance: &str) -> Value {
    let r = s
        .post(
            "/v1/webhooks/inbound",
            key,
            json!({"name": "Zapier Integration", "instanceId": instance}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["data"].clone()
}

async fn a_secret_url_sends_until_revoked(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    linked(&s, &k, "5511900000002", json!({})).await;

    let hook = create(&s, &k, &a).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ib_"), "{hook}");
    assert_eq!(hook["instanceId"], json!(a));
    assert_eq!(hook["name"], json!("Zapier Integration"));
    let url = hook["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/webhook/wh_", s.base)), "{url}");

    let r = post_url(
        &s,
        &url,
        json!({"to": "5511900000002", "message": "from Zapier"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["success"], json!(true));
    assert_eq!(r.body["status"], json!("queued"));
    let mid = r.body["messageId"].as_str().unwrap().to_owned();
    let st = eventually(&s, &k, &format!("/v1/messages/{mid}/status"), |b| {
        b["data"]["status"] == json!("delivered") || b["data"]["status"] == json!("read")
    })
    .await;
    assert_eq!(st.body["data"]["to"], json!("5511900000002"));
    let hist = s.get(&format!("/v1/messages?instanceId={a}"), &k).await;
    assert_eq!(hist.body["data"][0]["content"], json!("from Zapier"));

    // Errors of the body are those of /messages/send.
    post_url(&s, &url, json!({"to": "12", "message": "x"}))
        .await
        .assert_error(400, "invalid_phone_number");
    post_url(&s, &url, json!({"to": "5511900000002"}))
        .await
        .assert_error(400, "missing_content");
    post_url(&s, &url, json!({"message": "x"}))
        .await
        .assert_error(400, "invalid_request");
    let malformed = s
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    TestServer::reply(malformed)
        .await
        .assert_error(400, "invalid_request");

    // Listing shows it without the secret URL; another account sees nothing and cannot revoke.
    let list = s.get("/v1/webhooks/inbound", &k).await;
    assert_eq!(list.body["data"][0]["id"], json!(id), "{}", list.body);
    assert!(list.body["data"][0].get("url").is_none());
    let (_, other) = s.account("pro").await;
    assert_eq!(
        s.get("/v1/webhooks/inbound", &other).await.body["data"],
        json!([])
    );
    s.call(
        Method::DELETE,
        &format!("/v1/webhooks/inbound/{id}"),
        Some(&other),
        None,
    )
    .await
    .assert_error(404, "not_found");
    s.post(
        "/v1/webhooks/inbound",
        &other,
        json!({"name": "x", "instanceId": a}),
    )
    .await
    .assert_error(404, "instance_not_found");

    // Revoked: the URL answers 404 at once, like one that never existed.
    let del = s
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/inbound/{id}"),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::OK, "{}", del.body);
    post_url(&s, &url, json!({"to": "5511900000002", "message": "again"}))
        .await
        .assert_error(404, "not_found");
    post_url(
        &s,
        &format!("{}/webhook/wh_{}", s.base, "0".repeat(64)),
        json!({"to": "5511900000002", "message": "guess"}),
    )
    .await
    .assert_error(404, "not_found");
    s.stop().await;
}

async fn a_secret_url_counts_against_the_messages_limit(backend: Backend) {
    let s = sandbox(backend).await;
    let (_, key) = s.account("free").await; // 100 messages a minute
    let a = linked(&s, &key, "5511900000003", json!({})).await;
    let url = create(&s, &key, &a).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    // The bucket holds 100 and earns one back every 0.6 s, so the refusal comes after
    // 100 + (elapsed / 0.6 s) accepted sends.
    let started = std::time::Instant::now();
    let mut accepted = 0;
    let r = loop {
        let r = post_url(&s, &url, json!({"to": "5511977776666", "message": "hi"})).await;
        if r.status != StatusCode::OK || accepted > 200 {
            break r;
        }
        accepted += 1;
    };
    let earned = (started.elapsed().as_secs_f64() / 0.6).ceil() as usize;
    assert!(
        (100..=100 + earned).contains(&accepted),
        "{accepted} accepted, {earned} earned back"
    );
    r.assert_error(429, "rate_limit_exceeded");
    assert_eq!(r.header("x-ratelimit-limit"), Some("100"));
    assert!(r.header("retry-after").is_some());
    s.stop().await;
}

on_both_backends!(
    a_secret_url_sends_until_revoked,
    a_secret_url_counts_against_the_messages_limit,
);
