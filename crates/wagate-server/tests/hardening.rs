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

/// NUL is refused as a 400 on both stores (PostgreSQL's `text` cannot hold it), at the parse, so it
/// never reaches the transaction that other accounts' sends share.
async fn nul_characters_are_refused_and_fail_no_one_else(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let (_, other_key) = s.account("enterprise").await;
    let b = linked(&s, &other_key, "5511900000002", json!({})).await;

    let others = (0..200).map(|i| {
        let (s, key, b) = (&s, &other_key, &b);
        async move {
            let body =
                json!({"instanceId": b, "to": "5511977776666", "message": format!("ok {i}")});
            s.post("/v1/messages/send", key, body).await.status
        }
    });
    let bad = (0..5).map(|_| {
        let (s, k, a) = (&s, &k, &a);
        async move {
            let body = json!({"instanceId": a, "to": "5511977776666", "message": "a\u{0}b"});
            s.post("/v1/messages/send", k, body).await
        }
    });
    let (others, bad) = tokio::join!(
        futures_util::future::join_all(others),
        futures_util::future::join_all(bad)
    );
    assert!(
        others.iter().all(|st| *st == StatusCode::OK),
        "another account's sends all succeed: {others:?}"
    );
    for r in bad {
        r.assert_error(400, "invalid_request");
    }

    s.post("/v1/instances", &k, json!({"name": "x\u{0}y"}))
        .await
        .assert_error(400, "invalid_request");
    s.get(&format!("/v1/messages/chats?instanceId={a}&search=%00"), &k)
        .await
        .assert_error(400, "invalid_request");
    s.post(
        "/sandbox/v1/messages",
        &k,
        json!({"to": "5511900000001", "from": "5511988887777", "fromName": "\u{0}", "message": "x"}),
    )
    .await
    .assert_error(400, "invalid_request");
    let escaped = s
        .post(
            "/v1/instances",
            &k,
            json!({"name": "a backslash then u0000: \\u0000"}),
        )
        .await;
    assert_eq!(escaped.status, StatusCode::CREATED, "{}", escaped.body);
}

on_both_backends!(nul_characters_are_refused_and_fail_no_one_else);

/// A plan's number per minute holds over any 60 s: a key that spent its minute at once gets
/// nothing more until that minute has passed (a token bucket refills one request every 1.2 s
/// of a 50/min limit, and so let about twice the quota through in a minute).
async fn a_spent_minute_is_not_refilled_within_the_minute(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.account("free").await; // instances: 50 per minute
    for left in (0..50).rev() {
        let r = s.get("/v1/instances", &key).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
    }
    let mut refused = 0;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while std::time::Instant::now() < until {
        let r = s.get("/v1/instances", &key).await;
        r.assert_error(429, "rate_limit_exceeded");
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((50..=60).contains(&retry), "retry after {retry} s");
        refused += 1;
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(refused >= 10);
}

on_both_backends!(a_spent_minute_is_not_refilled_within_the_minute);

/// The special-purpose blocks of the IANA registries are refused at save, including the IPv6
/// forms that embed or tunnel to an IPv4 address; a public address still passes.
async fn special_purpose_addresses_are_refused(backend: Backend) {
    let s = TestServer::start(backend).await;
    let k = s.default_key.clone();
    let inst = s.create_instance(&k, "hooks").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = |url: String| {
        let (s, k, inst) = (&s, &k, &inst);
        async move {
            s.post(
                "/v1/webhooks",
                k,
                json!({"url": url, "instanceId": inst, "events": ["message.received"]}),
            )
            .await
        }
    };
    for host in [
        "[::7f00:1]",
        "[::ffff:0:7f00:1]",
        "[64:ff9b::a00:1]",
        "[2002:7f00:1::]",
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",
        "[fec0::1]",
        "[100::1]",
        "198.18.0.1",
        "198.19.255.254",
    ] {
        create(format!("https://{host}/hook"))
            .await
            .assert_error(400, "invalid_webhook_url");
    }
    let long = format!("https://myapp.com/{}", "a".repeat(4096));
    create(long).await.assert_error(400, "invalid_webhook_url");
    let public = create("https://198.20.0.1/hook".into()).await;
    assert_eq!(public.status, StatusCode::CREATED, "{}", public.body);
}

on_both_backends!(special_purpose_addresses_are_refused);

/// Every string has a maximum, names hold no control or bidirectional-override characters, and
/// a search's `%` and `_` match themselves.
async fn strings_are_bounded_and_names_are_plain(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    for name in ["red \u{1b}[31m", "two\nlines", "invoice \u{202E}fdp.exe"] {
        s.post("/v1/instances", &k, json!({"name": name}))
            .await
            .assert_error(400, "invalid_request");
        s.post(
            "/v1/webhooks",
            &k,
            json!({"url": "https://myapp.com/h", "instanceId": a, "events": ["message.received"], "name": name}),
        )
        .await
        .assert_error(400, "invalid_request");
    }
    let send = |extra: serde_json::Value| {
        let mut body = json!({"instanceId": a, "to": "5511977776666"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, k) = (&s, &k);
        async move { s.post("/v1/messages/send", k, body).await }
    };
    send(json!({"message": "hi", "quotedMessageId": "q".repeat(129)}))
        .await
        .assert_error(400, "invalid_request");
    send(json!({"mediaUrl": "https://myapp.com/a.pdf", "mediaType": "document", "filename": "f".repeat(256)}))
        .await
        .assert_error(400, "invalid_request");
    s.post(
        "/sandbox/v1/messages",
        &k,
        json!({"to": "5511900000001", "from": "5511988887777", "fromName": "x".repeat(101), "message": "x"}),
    )
    .await
    .assert_error(400, "invalid_request");
    s.get(
        &format!(
            "/v1/messages/chats?instanceId={a}&search={}",
            "s".repeat(101)
        ),
        &k,
    )
    .await
    .assert_error(400, "invalid_request");

    // Two contacts write; a search for "_" finds only the one whose name has it.
    for (from, name) in [("5511988880001", "Ana_Maria"), ("5511988880002", "Bruno")] {
        let r = s
            .post(
                "/sandbox/v1/messages",
                &k,
                json!({"to": "5511900000001", "from": from, "fromName": name, "message": "oi"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    for (search, found) in [("_", 1), ("%", 0), ("a", 1)] {
        let r = s
            .get(
                &format!(
                    "/v1/messages/chats?instanceId={a}&search={}",
                    urlencode(search)
                ),
                &k,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["data"].as_array().unwrap().len(),
            found,
            "search {search:?}: {}",
            r.body
        );
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

on_both_backends!(strings_are_bounded_and_names_are_plain);

/// The OpenAPI document names each schema once (two `HealthView`s used to collide, so `/healthz`
/// contradicted its own schema) and lists the answers every route can give; a 400 names no Rust
/// type.
#[tokio::test]
async fn the_api_document_lists_every_answer_and_errors_name_no_rust_types() {
    let s = TestServer::start(Backend::Sqlite).await;
    let doc = s.openapi().await;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["HealthView"]["properties"]["status"].is_object());
    assert!(schemas["ConnectionHealthView"]["properties"]["uptime"].is_object());
    let mut keyed = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            let security = op["security"].to_string();
            if security.contains("api_key") {
                keyed += 1;
                for status in ["401", "403", "429", "500", "503"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "408", "413", "415"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
        }
    }
    assert!(keyed > 30, "{keyed} keyed operations");

    let r = s
        .post("/v1/instances", &s.default_key, json!("a name"))
        .await;
    r.assert_error(400, "invalid_request");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("struct"), "{message}");
    assert!(message.contains("an object"), "{message}");
}
