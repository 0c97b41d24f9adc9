//! Authentication, authorization, rate limits and the error envelope (§2, §4, §15.2, §15.3), over HTTP.

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wagate_testkit::{Backend, on_both_backends};

async fn missing_malformed_and_unknown_keys(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.call(Method::GET, "/v1/instances", None, None)
        .await
        .assert_error(401, "missing_api_key");
    s.get("/v1/instances", "not-a-key")
        .await
        .assert_error(401, "invalid_api_key");
    // Well-formed, right id, wrong secret.
    let (id_part, _) = s.default_key.rsplit_once('_').unwrap();
    s.get("/v1/instances", &format!("{id_part}_{}", "0".repeat(64)))
        .await
        .assert_error(401, "invalid_api_key");
    let r = s
        .http
        .get(format!("{}/v1/instances", s.base))
        .header("Authorization", format!("Basic {}", s.default_key))
        .send()
        .await
        .unwrap();
    TestServer::reply(r)
        .await
        .assert_error(401, "invalid_api_key");
    s.stop().await;
}

async fn revoked_key_is_refused_at_once(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (account, key) = s.account("pro").await;
    assert_eq!(s.get("/v1/account", &key).await.status, StatusCode::OK);
    let keys = s
        .admin(
            Method::GET,
            &format!("/admin/v1/accounts/{account}/keys"),
            None,
        )
        .await;
    let key_id = keys.body["data"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        keys.body["data"][0].get("key").is_none(),
        "secrets are never listed"
    );
    let r = s
        .admin(
            Method::DELETE,
            &format!("/admin/v1/accounts/{account}/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    s.get("/v1/account", &key)
        .await
        .assert_error(401, "invalid_api_key");
    s.stop().await;
}

async fn expired_key_is_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (account, _) = s.account("pro").await;
    let r = s
        .key(&account, json!({"expiresAt": "2020-01-01T00:00:00.000Z"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let expired = r.body["data"]["key"].as_str().unwrap().to_owned();
    s.get("/v1/account", &expired)
        .await
        .assert_error(401, "expired_api_key");
    let r = s
        .key(&account, json!({"expiresAt": "2999-01-01T00:00:00.000Z"}))
        .await;
    let live = r.body["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/v1/account", &live).await.status, StatusCode::OK);
    s.stop().await;
}

async fn scopes_are_enforced(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (account, _) = s.account("pro").await;
    let r = s.key(&account, json!({"scopes": ["instances:read"]})).await;
    let read_only = r.body["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(r.body["data"]["scopes"], json!(["instances:read"]));
    let r = s.create_instance(&read_only, "nope").await;
    r.assert_error(403, "insufficient_permissions");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("instances:write")
    );
    assert_eq!(
        s.get("/v1/instances", &read_only).await.status,
        StatusCode::OK
    );

    let r = s.key(&account, json!({"scopes": ["messages:write"]})).await;
    let writer = r.body["data"]["key"].as_str().unwrap().to_owned();
    s.get("/v1/instances", &writer)
        .await
        .assert_error(403, "insufficient_permissions");
    s.key(&account, json!({"scopes": ["instances:delete"]}))
        .await
        .assert_error(400, "invalid_request");
    s.stop().await;
}

async fn body_errors_get_the_envelope(backend: Backend) {
    let s = TestServer::start(backend).await;
    let url = format!("{}/v1/instances", s.base);
    let send = |body: Vec<u8>, ctype: Option<&'static str>| {
        let mut req = s.http.post(&url).bearer_auth(&s.default_key).body(body);
        if let Some(c) = ctype {
            req = req.header("Content-Type", c);
        }
        async move { TestServer::reply(req.send().await.unwrap()).await }
    };
    let r = send(b"{\"name\": ".to_vec(), Some("application/json")).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.body["error"]["details"][0]["field"], json!("body"));
    send(
        b"name=x".to_vec(),
        Some("application/x-www-form-urlencoded"),
    )
    .await
    .assert_error(415, "unsupported_content_type");
    send(b"{\"name\":\"x\"}".to_vec(), None)
        .await
        .assert_error(415, "unsupported_content_type");
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(1024 * 1024 + 10));
    send(huge.into_bytes(), Some("application/json"))
        .await
        .assert_error(413, "payload_too_large");
    send(b"[1,2]".to_vec(), Some("application/json"))
        .await
        .assert_error(400, "invalid_request");
    // charset parameters are fine
    let ok = send(
        b"{\"name\":\"x\"}".to_vec(),
        Some("application/json; charset=utf-8"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    s.stop().await;
}

async fn routing_errors_get_the_envelope(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.get("/v1/does-not-exist", &s.default_key)
        .await
        .assert_error(404, "not_found");
    s.call(Method::GET, "/nothing-here", None, None)
        .await
        .assert_error(404, "not_found");
    s.call(Method::PUT, "/v1/instances", Some(&s.default_key), None)
        .await
        .assert_error(405, "method_not_allowed");
    s.get("/v1/instances/inst_abc123", &s.default_key)
        .await
        .assert_error(404, "instance_not_found");
    s.get(
        "/v1/instances/msg_01jd3k9w6q8x2m4v7c5b0n1t2r",
        &s.default_key,
    )
    .await
    .assert_error(404, "instance_not_found");
    // Every response, success included, carries a request id.
    let ok = s.get("/v1/instances", &s.default_key).await;
    assert!(ok.header("x-request-id").unwrap().starts_with("req_"));
    s.stop().await;
}

async fn rate_limit_per_key_with_headers(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (account, key_a) = s.account("free").await;
    let key_b = s.key(&account, json!({})).await.body["data"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Free: 50 instance requests a minute.
    for i in 0..50 {
        let r = s.get("/v1/instances", &key_a).await;
        assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.body);
        assert_eq!(r.header("x-ratelimit-limit"), Some("50"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((49 - i).to_string().as_str())
        );
        let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!((now..=now + 61).contains(&reset), "reset {reset} now {now}");
    }
    let r = s.get("/v1/instances", &key_a).await;
    r.assert_error(429, "rate_limit_exceeded");
    let retry = r.body["error"]["retryAfter"].as_u64().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.header("retry-after"), Some(retry.to_string().as_str()));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(r.header("x-ratelimit-limit"), Some("50"));
    // Other groups and other keys of the same account have their own counters.
    assert_eq!(s.get("/v1/account", &key_a).await.status, StatusCode::OK);
    let b = s.get("/v1/instances", &key_b).await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(b.header("x-ratelimit-remaining"), Some("49"));
    s.stop().await;
}

async fn enterprise_custom_limit(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (account, key) = s.account("enterprise").await;
    // By default ten times pro's (§15.3), so the headers always mean something.
    let r = s.get("/v1/account", &key).await;
    assert_eq!(r.body["data"]["rateLimits"]["general"], json!(100_000));
    assert_eq!(r.header("x-ratelimit-limit"), Some("100000"));
    let r = s.get("/v1/instances", &key).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("10000"));
    // The bootstrapped `default` account is enterprise too.
    let r = s.get("/v1/instances", &s.default_key).await;
    assert_eq!(r.header("x-ratelimit-limit"), Some("10000"));
    s.admin(
        Method::PATCH,
        &format!("/admin/v1/accounts/{account}"),
        Some(json!({"rateLimits": {"general": 2}})),
    )
    .await;
    assert_eq!(
        s.get("/v1/account", &key).await.header("x-ratelimit-limit"),
        Some("2")
    );
    s.get("/v1/account", &key).await;
    s.get("/v1/account", &key)
        .await
        .assert_error(429, "rate_limit_exceeded");
    s.stop().await;
}

async fn database_outage_is_503(backend: Backend) {
    let s = TestServer::start(backend).await;
    assert_eq!(
        s.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::OK
    );
    s.running().state.store.close().await;
    s.call(Method::GET, "/readyz", None, None)
        .await
        .assert_error(503, "service_unavailable");
    s.get("/v1/instances", &s.default_key)
        .await
        .assert_error(503, "service_unavailable");
    assert_eq!(
        s.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK
    );
    s.stop().await;
}

/// §4's headers are on every answer of the keyed API: unknown paths and methods count against
/// the key; refused credentials against the client's address, which is slowed down (429) once
/// it has spent its quota of refusals, while a valid key from the same address is not.
async fn every_answer_carries_rate_limit_headers(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.account("free").await;
    let r = s.get("/v1/does-not-exist", &key).await;
    r.assert_error(404, "not_found");
    assert_eq!(r.header("x-ratelimit-limit"), Some("500"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("499"));
    let r = s.call(Method::PUT, "/v1/instances", Some(&key), None).await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.header("x-ratelimit-limit"), Some("50"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("49"));

    let bad = "wgk_01jd3k9w6q8x2m4v7c5b0n1t2r_0000000000000000";
    // 500 a minute, refilled one every 120 ms: a few more than 500 go through at full speed.
    let mut refused = 0;
    let limited = loop {
        let r = s.get("/v1/instances", bad).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
        r.assert_error(401, "invalid_api_key");
        assert_eq!(r.header("x-ratelimit-limit"), Some("500"));
        let left: u32 = r.header("x-ratelimit-remaining").unwrap().parse().unwrap();
        assert!(left < 500, "each refusal spends the address's quota");
        refused += 1;
        assert!(refused < 1000, "refusals are never slowed down");
    };
    assert!(refused >= 500, "only {refused} refusals before 429");
    limited.assert_error(429, "rate_limit_exceeded");
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let ok = s.get("/v1/instances", &key).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    s.stop().await;
}

on_both_backends!(
    missing_malformed_and_unknown_keys,
    revoked_key_is_refused_at_once,
    expired_key_is_refused,
    scopes_are_enforced,
    body_errors_get_the_envelope,
    routing_errors_get_the_envelope,
    rate_limit_per_key_with_headers,
    enterprise_custom_limit,
    every_answer_carries_rate_limit_headers,
    database_outage_is_503,
);
