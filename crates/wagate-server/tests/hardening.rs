//! What one careless or hostile client must not get (issue 13), each probed over HTTP as an
//! attacker would: scopes that leak through a side door, rate limits multiplied by making more
//! credentials, an account that keeps running after it is deleted, numbers out of range.

mod common;

use common::sandbox::sandbox;
use common::{TestServer, eventually, linked};
use reqwest::StatusCode;
use serde_json::json;
use wagate_testkit::{Backend, on_both_backends};

/// A key that may not send cannot make a URL that sends; nor may a key without the write
/// scope of the thing it changes use the sandbox's side doors.
async fn scopes_hold_on_side_doors(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let account = s.default_account().await;
    let a = linked(&s, &k, "5511900000001", json!({})).await;

    let hooks_only = s
        .scoped_key(&account, &["webhooks:write", "webhooks:read"])
        .await;
    s.post(
        "/v1/webhooks/inbound",
        &hooks_only,
        json!({"name": "escalate", "instanceId": a}),
    )
    .await
    .assert_error(403, "insufficient_permissions");
    let both = s
        .scoped_key(&account, &["webhooks:write", "messages:write"])
        .await;
    let r = s
        .post(
            "/v1/webhooks/inbound",
            &both,
            json!({"name": "ok", "instanceId": a}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    let reader = s
        .scoped_key(&account, &["messages:read", "instances:read"])
        .await;
    for path in [
        format!("/sandbox/v1/instances/{a}/drop"),
        format!("/sandbox/v1/instances/{a}/unlink"),
    ] {
        s.post(&path, &reader, json!({}))
            .await
            .assert_error(403, "insufficient_permissions");
    }
    s.post(
        "/sandbox/v1/messages",
        &reader,
        json!({"to": "5511900000001", "from": "5511988887777", "message": "x"}),
    )
    .await
    .assert_error(403, "insufficient_permissions");
    s.post(
        "/sandbox/v1/scan",
        &reader,
        json!({"qrCode": "anything", "phone": "5511900000009"}),
    )
    .await
    .assert_error(403, "insufficient_permissions");
    let st = s.get(&format!("/v1/instances/{a}/status"), &k).await;
    assert_eq!(
        st.body["data"]["status"],
        json!("connected"),
        "nothing was dropped"
    );
}

on_both_backends!(scopes_hold_on_side_doors);

/// Every inbound URL of an account spends one `messages` quota (§15.7): a second URL is no
/// second allowance.
async fn inbound_urls_share_the_accounts_quota(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sandbox = true).await;
    let (_, key) = s.account("free").await;
    let a = linked(&s, &key, "5511900000001", json!({})).await;
    let mut urls = Vec::new();
    for name in ["one", "two"] {
        let r = s
            .post(
                "/v1/webhooks/inbound",
                &key,
                json!({"name": name, "instanceId": a}),
            )
            .await;
        urls.push(r.body["data"]["url"].as_str().unwrap().to_owned());
    }
    let mut left = Vec::new();
    for url in urls.iter().chain(urls.iter()) {
        let res = s
            .http
            .post(url)
            .json(&json!({"to": "5511977776666", "message": "hi"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        left.push(
            res.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(
        left,
        ["99", "98", "97", "96"],
        "one bucket of 100 for both URLs"
    );
}

on_both_backends!(inbound_urls_share_the_accounts_quota);

/// Deleting an account logs its instances out, as deleting an instance does: its sandbox phone
/// is a linked device no more, so a message to it is answered by the network's virtual contact
/// (read), not held for a device of an account that is gone.
async fn a_deleted_account_leaves_nothing_running(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sandbox = true).await;
    let (gone, gone_key) = s.account("pro").await;
    linked(&s, &gone_key, "5511900000001", json!({})).await;
    let k = s.default_key.clone();
    let other = linked(&s, &k, "5511900000002", json!({})).await;

    let r = s
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/v1/accounts/{gone}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sent = s
        .post(
            "/v1/messages/send",
            &k,
            json!({"instanceId": other, "to": "5511900000001", "message": "anyone?"}),
        )
        .await;
    let id = sent.body["messageId"].as_str().unwrap();
    eventually(&s, &k, &format!("/v1/messages/{id}/status"), |b| {
        b["data"]["status"] == json!("read")
    })
    .await;
}

on_both_backends!(a_deleted_account_leaves_nothing_running);

/// Every out-of-range number is a 400 naming its parameter, on every store.
async fn page_numbers_out_of_range_are_400(backend: Backend) {
    let s = TestServer::start(backend).await;
    let k = s.default_key.clone();
    for offset in ["18446744073709551615", "9223372036854775808"] {
        let r = s.get(&format!("/v1/instances?offset={offset}"), &k).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!("offset"),
            "{}",
            r.body
        );
    }
    let r = s.get("/v1/instances?offset=9223372036854775807", &k).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"], json!([]));
    s.get("/v1/instances?offset=18446744073709551616", &k)
        .await
        .assert_error(400, "invalid_request");
}

on_both_backends!(page_numbers_out_of_range_are_400);

/// History of a chat that does not exist is empty on both stores (PostgreSQL used to answer 503
/// for the placeholder it was asked to match).
async fn history_of_an_unknown_chat_is_empty(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    for chat in ["chat_01jd3k9w6q8x2m4v7c5b0n1t2r", "not-a-chat-id"] {
        let r = s
            .get(&format!("/v1/messages?instanceId={a}&chatId={chat}"), &k)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["data"], json!([]));
        assert_eq!(r.body["pagination"]["hasMore"], json!(false));
    }
}

on_both_backends!(history_of_an_unknown_chat_is_empty);

/// Guessing the admin token is slowed down like guessing keys: wrong tokens spend the client
/// address's quota of refusals (500 a minute) and are then answered 429; the right token still
/// works.
async fn wrong_admin_tokens_are_slowed_down(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut refused = 0;
    let limited = loop {
        let r = s
            .call(
                reqwest::Method::GET,
                "/admin/v1/accounts",
                Some("wrong-admin-token-of-32-characters!"),
                None,
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
        r.assert_error(401, "invalid_api_key");
        assert!(
            r.header("x-ratelimit-limit").is_some(),
            "a refusal is counted"
        );
        refused += 1;
        assert!(refused < 1000, "wrong admin tokens are never slowed down");
    };
    assert!(refused >= 500, "only {refused} refusals before 429");
    limited.assert_error(429, "rate_limit_exceeded");
    let ok = s
        .admin(reqwest::Method::GET, "/admin/v1/accounts", None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

on_both_backends!(wrong_admin_tokens_are_slowed_down);
