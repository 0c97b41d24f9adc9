//! Deviations from the contract a new user met (issue 12), each as the user saw it over HTTP:
//! what a read-only key may start, which object a status describes, which error comes first,
//! which bodies an inbound URL takes, and what a restart leaves behind and reports.

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::sandbox::{inject, sandbox};
use common::sse::SseClient;
use common::{TestServer, eventually, linked, send_with_key};
use reqwest::{Method, StatusCode};
use serde_json::json;
use wagate_testkit::{Backend, on_both_backends};

/// Reading never starts anything: an `instances:read` key asking an idle instance for its QR
/// code is refused and the instance stays idle; a key that may write starts the link, and then
/// the read-only key may watch it.
async fn a_read_only_key_cannot_start_linking(backend: Backend) {
    let s = sandbox(backend).await;
    let account = s.default_account().await;
    let reader = s.scoped_key(&account, &["instances:read"]).await;
    let inst = s.create_instance(&s.default_key, "idle").await;
    let id = inst.body["data"]["id"].as_str().unwrap().to_owned();

    let r = s.get(&format!("/v1/instances/{id}/qrcode"), &reader).await;
    r.assert_error(403, "insufficient_permissions");
    let st = s.get(&format!("/v1/instances/{id}/status"), &reader).await;
    assert_eq!(
        st.body["data"]["status"],
        json!("disconnected"),
        "{}",
        st.body
    );

    let w = s
        .get(&format!("/v1/instances/{id}/qrcode"), &s.default_key)
        .await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.body);
    assert_eq!(w.body["data"]["status"], json!("qr_pending"));
    let r = s.get(&format!("/v1/instances/{id}/qrcode"), &reader).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["qrCode"], w.body["data"]["qrCode"]);
}

on_both_backends!(a_read_only_key_cannot_start_linking);

/// The status of an inbound message names its sender as `from`, not as `to`; an outbound
/// one names its recipient as `to`.
async fn a_message_status_names_sender_or_recipient_by_direction(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    inject(&s, &k, "5511900000001", "hello").await;
    let hist = eventually(&s, &k, &format!("/v1/messages?instanceId={a}"), |b| {
        b["data"][0]["content"] == json!("hello")
    })
    .await;
    let mid = hist.body["data"][0]["messageId"].as_str().unwrap();
    let st = s.get(&format!("/v1/messages/{mid}/status"), &k).await;
    assert_eq!(st.status, StatusCode::OK, "{}", st.body);
    assert_eq!(
        st.body["data"]["direction"],
        json!("inbound"),
        "{}",
        st.body
    );
    assert_eq!(
        st.body["data"]["from"],
        json!("5511988887777"),
        "{}",
        st.body
    );
    assert!(st.body["data"].get("to").is_none(), "{}", st.body);

    let sent = s
        .post(
            "/v1/messages/send",
            &k,
            json!({"instanceId": a, "to": "5511977776666", "message": "hi"}),
        )
        .await;
    let mid = sent.body["messageId"].as_str().unwrap();
    let st = s.get(&format!("/v1/messages/{mid}/status"), &k).await;
    assert_eq!(
        st.body["data"]["direction"],
        json!("outbound"),
        "{}",
        st.body
    );
    assert_eq!(st.body["data"]["to"], json!("5511977776666"), "{}", st.body);
    assert!(st.body["data"].get("from").is_none(), "{}", st.body);
}

on_both_backends!(a_message_status_names_sender_or_recipient_by_direction);

/// A missing object is reported before anything about the values sent to it.
async fn an_unknown_instance_is_reported_before_a_bad_field(backend: Backend) {
    let s = TestServer::start(backend).await;
    let k = s.default_key.clone();
    let unknown = "inst_01jzzzzzzzzzzzzzzzzzzzzzzz";
    let r = s
        .call(
            Method::PATCH,
            &format!("/v1/instances/{unknown}"),
            Some(&k),
            Some(json!({"webhookUrl": "not a url", "name": ""})),
        )
        .await;
    r.assert_error(404, "instance_not_found");
    // Another account's instance is as unknown as one that does not exist.
    let (_, other) = s.account("pro").await;
    let theirs = s.create_instance(&other, "theirs").await;
    let theirs = theirs.body["data"]["id"].as_str().unwrap();
    let r = s
        .call(
            Method::PATCH,
            &format!("/v1/instances/{theirs}"),
            Some(&k),
            Some(json!({"webhookUrl": "not a url"})),
        )
        .await;
    r.assert_error(404, "instance_not_found");
    // And a known one still gets the field error.
    let mine = s.create_instance(&k, "mine").await;
    let mine = mine.body["data"]["id"].as_str().unwrap();
    let r = s
        .call(
            Method::PATCH,
            &format!("/v1/instances/{mine}"),
            Some(&k),
            Some(json!({"webhookUrl": "not a url"})),
        )
        .await;
    r.assert_error(400, "invalid_webhook_url");
}

on_both_backends!(an_unknown_instance_is_reported_before_a_bad_field);

/// An inbound URL takes JSON only: a form or a text body is a 415, and nothing is queued.
async fn an_inbound_url_refuses_bodies_that_are_not_json(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let hook = s
        .post(
            "/v1/webhooks/inbound",
            &k,
            json!({"name": "form", "instanceId": a}),
        )
        .await;
    let url = hook.body["data"]["url"].as_str().unwrap().to_owned();
    let json_text = r#"{"to": "5511900000002", "message": "as text"}"#;
    for (content_type, body) in [
        (
            "application/x-www-form-urlencoded",
            "to=5511900000002&message=hi".to_owned(),
        ),
        ("text/plain", json_text.to_owned()),
    ] {
        let res = s
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        TestServer::reply(res)
            .await
            .assert_error(415, "unsupported_content_type");
    }
    let hist = s.get(&format!("/v1/messages?instanceId={a}"), &k).await;
    assert_eq!(hist.body["data"], json!([]), "{}", hist.body);
    // The same text as JSON is sent.
    let res = s
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(json_text)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

on_both_backends!(an_inbound_url_refuses_bodies_that_are_not_json);

/// POSTs `body` to `path` until it is answered 200 (at most 10 s).
async fn eventually_posts(s: &TestServer, key: &str, path: &str, body: &serde_json::Value) {
    for _ in 0..200 {
        if s.post(path, key, body.clone()).await.status == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} was never answered 200");
}

fn sandbox_calling_loopback(c: &mut wagate_server::ServerConfig) {
    c.sandbox = true;
    c.url_policy = wagate_core::net::UrlPolicy {
        allow_private: true,
    };
}

/// Writes `status` straight into an instance's row, as a server stopped mid-link leaves it.
async fn force_status(s: &TestServer, id: &str, status: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&s.db_url()).await.unwrap();
    sqlx::query("UPDATE instances SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// A saved session that cannot be reopened at a restart reads `disconnected` with
/// `resume_failed` and stays so (its node keeps it, not retrying in a loop, §19), until a
/// disconnect logs it out, after which its node gives it up.
async fn a_session_that_cannot_be_reopened_rests_until_disconnected(backend: Backend) {
    let s = TestServer::start_with(backend, sandbox_calling_loopback).await;
    let k = s.default_key.clone();
    let id = linked(&s, &k, "5511900000001", json!({})).await;
    {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&s.db_url()).await.unwrap();
        sqlx::query("UPDATE instances SET session = 'not a session' WHERE id = $1")
            .bind(&id)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let s = s.restart_with(sandbox_calling_loopback).await;
    let path = format!("/v1/instances/{id}/status");
    eventually(&s, &k, &path, |b| {
        b["data"]["lastError"]["code"] == json!("resume_failed")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // two ownership ticks
    let st = s.get(&path, &k).await;
    assert_eq!(
        st.body["data"]["status"],
        json!("disconnected"),
        "{}",
        st.body
    );
    assert_eq!(st.body["data"]["lastError"]["code"], json!("resume_failed"));
    let held = |r: &common::Reply| r.body[0]["instances"].clone();
    let nodes = s.admin(Method::GET, "/admin/v1/nodes", None).await;
    assert_eq!(held(&nodes), json!(1), "it rests under its node's lease");

    let out = s
        .post(&format!("/v1/instances/{id}/disconnect"), &k, json!({}))
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let st = s.get(&path, &k).await;
    assert_eq!(st.body["data"]["status"], json!("disconnected"));
    assert_eq!(st.body["data"]["lastError"], json!(null), "{}", st.body);
    for _ in 0..40 {
        if held(&s.admin(Method::GET, "/admin/v1/nodes", None).await) == json!(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        held(&s.admin(Method::GET, "/admin/v1/nodes", None).await),
        json!(0),
        "given up once logged out"
    );
    s.stop().await;
}

on_both_backends!(a_session_that_cannot_be_reopened_rests_until_disconnected);

/// After a restart, an instance left in each state reads a status that its routes agree with:
/// one left linking (`qr_pending`, `connecting`) reads `disconnected` with a `lastError` saying
/// why, and may link again; a connected one is connected again; a disconnected one stays so.
async fn a_restart_leaves_every_status_true_to_its_routes(backend: Backend) {
    let s = TestServer::start_with(backend, sandbox_calling_loopback).await;
    let k = s.default_key.clone();
    let connected = linked(&s, &k, "5511900000001", json!({})).await;
    let qr_pending = s.create_instance(&k, "pending").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = s
        .post(
            &format!("/v1/instances/{qr_pending}/connect"),
            &k,
            json!({"method": "qrcode"}),
        )
        .await;
    assert_eq!(c.body["status"], json!("qr_pending"), "{}", c.body);
    let connecting = s.create_instance(&k, "connecting").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    force_status(&s, &connecting, "connecting").await;
    let idle = s.create_instance(&k, "idle").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let s = s.restart_with(sandbox_calling_loopback).await;
    for id in [&qr_pending, &connecting] {
        let st = s.get(&format!("/v1/instances/{id}/status"), &k).await;
        assert_eq!(
            st.body["data"]["status"],
            json!("disconnected"),
            "{}",
            st.body
        );
        assert_eq!(
            st.body["data"]["lastError"]["code"],
            json!("link_interrupted"),
            "{}",
            st.body
        );
        s.post(&format!("/v1/instances/{id}/disconnect"), &k, json!({}))
            .await
            .assert_error(409, "instance_not_connected");
    }
    // Linking again works both ways: by asking for the QR code, and by `connect`.
    let qr = s
        .get(&format!("/v1/instances/{qr_pending}/qrcode"), &k)
        .await;
    assert_eq!(qr.status, StatusCode::OK, "{}", qr.body);
    assert_eq!(qr.body["data"]["status"], json!("qr_pending"));
    let c = s
        .post(
            &format!("/v1/instances/{connecting}/connect"),
            &k,
            json!({"method": "qrcode"}),
        )
        .await;
    assert_eq!(c.body["status"], json!("qr_pending"), "{}", c.body);

    let st = eventually(&s, &k, &format!("/v1/instances/{connected}/status"), |b| {
        b["data"]["status"] == json!("connected")
    })
    .await;
    assert_eq!(st.body["data"]["lastError"], json!(null), "{}", st.body);
    s.get(&format!("/v1/instances/{connected}/qrcode"), &k)
        .await
        .assert_error(409, "already_connected");
    s.post(
        &format!("/v1/instances/{connected}/connect"),
        &k,
        json!({"method": "qrcode"}),
    )
    .await
    .assert_error(409, "already_connected");

    let st = s.get(&format!("/v1/instances/{idle}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("disconnected"));
    assert_eq!(st.body["data"]["lastError"], json!(null), "{}", st.body);
    s.post(&format!("/v1/instances/{idle}/disconnect"), &k, json!({}))
        .await
        .assert_error(409, "instance_not_connected");
}

on_both_backends!(a_restart_leaves_every_status_true_to_its_routes);

/// A server restart and `POST …/restart` are not a user's disconnect: the link drops with
/// reason `restarting` and comes back; a user's disconnect still reads `disconnected`.
async fn a_restart_is_not_reported_as_a_disconnect(backend: Backend) {
    let rx = Receiver::start(Answer::Ok).await;
    let s = TestServer::start_with(backend, sandbox_calling_loopback).await;
    let k = s.default_key.clone();
    let events = ["instance.connected", "instance.disconnected"];
    let id = linked(&s, &k, "5511900000001", json!({})).await;
    let r = s
        .call(
            Method::PATCH,
            &format!("/v1/instances/{id}"),
            Some(&k),
            Some(json!({"webhookUrl": rx.url, "webhookEvents": events})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // Each step waits for its events: until the resume at start-up has reconnected, the stored
    // status still reads `connected`, and a restart asked for meanwhile would race the resume.
    let s = s.restart_with(sandbox_calling_loopback).await;
    rx.wait_for(2, Duration::from_secs(10)).await;
    let r = s
        .post(&format!("/v1/instances/{id}/restart"), &k, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    rx.wait_for(4, Duration::from_secs(10)).await;
    let r = s
        .post(&format!("/v1/instances/{id}/disconnect"), &k, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let hits = rx.wait_for(5, Duration::from_secs(10)).await;
    let seen: Vec<(String, String)> = hits
        .iter()
        .map(|h| {
            let b = h.json();
            (
                b["event"].as_str().unwrap_or("").to_owned(),
                b["data"]["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want = [
        ("instance.disconnected", "restarting"),
        ("instance.connected", ""),
        ("instance.disconnected", "restarting"),
        ("instance.connected", ""),
        ("instance.disconnected", "disconnected"),
    ]
    .map(|(e, r)| (e.to_owned(), r.to_owned()));
    assert_eq!(seen, want);
}

on_both_backends!(a_restart_is_not_reported_as_a_disconnect);

/// The test endpoint sends the event it is asked for, in that event's shape (§15.6's table of
/// `data` fields), marked `test: true`.
async fn the_test_endpoint_sends_the_shape_of_the_event_asked_for(backend: Backend) {
    let rx = Receiver::start(Answer::Ok).await;
    let s = TestServer::start_with(backend, sandbox_calling_loopback).await;
    let k = s.default_key.clone();
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    let w = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": rx.url, "instanceId": inst, "events": ["message.received"]}),
        )
        .await;
    let id = w.body["data"]["id"].as_str().unwrap().to_owned();
    let message = "messageId instanceId chatId from fromName to type content quotedMessageId isGroup timestamp";
    let status = "messageId instanceId to status metadata timestamp";
    let cases = [
        ("message.received", message.to_owned()),
        (
            "message.sent",
            "messageId instanceId chatId to type content status metadata timestamp".to_owned(),
        ),
        ("message.delivered", status.to_owned()),
        ("message.read", status.to_owned()),
        ("message.failed", format!("{status} error")),
        (
            "instance.connected",
            "instanceId phone profileName timestamp".to_owned(),
        ),
        (
            "instance.disconnected",
            "instanceId reason timestamp".to_owned(),
        ),
        (
            "instance.qr_updated",
            "instanceId qrCode expiresAt".to_owned(),
        ),
    ];
    let n = cases.len();
    for (event, fields) in cases {
        let r = s
            .post(
                &format!("/v1/webhooks/{id}/test"),
                &k,
                json!({"event": event}),
            )
            .await;
        assert_eq!(r.body["data"]["status"], json!("success"), "{}", r.body);
        let payload = &r.body["data"]["payload"];
        assert_eq!(payload["event"], json!(event));
        let data = payload["data"].as_object().unwrap();
        let mut got: Vec<&str> = data.keys().map(String::as_str).collect();
        got.sort_unstable();
        let mut want: Vec<&str> = fields.split(' ').chain(["test"]).collect();
        want.sort_unstable();
        assert_eq!(got, want, "{event}: {payload}");
        assert_eq!(data["test"], json!(true));
        assert_eq!(data["instanceId"], json!(inst));
        if let Some(st) = event.strip_prefix("message.").filter(|e| *e != "received") {
            assert_eq!(data["status"], json!(st), "{payload}");
        }
    }
    let hits = rx.wait_for(n, Duration::from_secs(5)).await;
    let events: Vec<String> = hits
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(events.len(), n, "each test was delivered once: {events:?}");
}

on_both_backends!(the_test_endpoint_sends_the_shape_of_the_event_asked_for);

/// An `Idempotency-Key` answers with its first send only within its window (§15.5: 24 h,
/// shortened here): after it, the same key and body are a new send.
async fn an_idempotency_key_expires_after_its_window(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.idempotency_window = Duration::from_millis(800);
    })
    .await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let body = json!({"instanceId": a, "to": "5511977776666", "message": "once"});
    let send = || send_with_key(&s, &k, "order-7", body.clone());
    let first = send().await;
    assert_eq!(send().await, first, "within the window: the first answer");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let later = send().await;
    assert_ne!(later, first, "after the window: a new send");
    assert_eq!(send().await, later, "and the key now answers with that one");
    let hist = s.get(&format!("/v1/messages?instanceId={a}"), &k).await;
    assert_eq!(
        hist.body["data"].as_array().unwrap().len(),
        2,
        "{}",
        hist.body
    );
}

on_both_backends!(an_idempotency_key_expires_after_its_window);

/// A message that cannot be sent within its deadline (§15.5: 24 h, shortened here) fails with
/// `expired` instead of leaving late. With typing on, each text waits about a second before it
/// leaves, so the third of three sent at once is past a 1.5 s deadline when its turn comes.
async fn a_message_not_sent_within_its_deadline_fails(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.send_deadline = Duration::from_millis(1500);
    })
    .await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": true})).await;
    let mut ids = Vec::new();
    for text in ["m1", "m2", "m3"] {
        let r = s
            .post(
                "/v1/messages/send",
                &k,
                json!({"instanceId": a, "to": "5511977776666", "message": text}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        ids.push(r.body["messageId"].as_str().unwrap().to_owned());
    }
    let third = eventually(&s, &k, &format!("/v1/messages/{}/status", ids[2]), |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    assert_eq!(
        third.body["data"]["status"],
        json!("failed"),
        "{}",
        third.body
    );
    assert_eq!(
        third.body["data"]["error"]["code"],
        json!("expired"),
        "{}",
        third.body
    );
    assert_eq!(third.body["data"]["sentAt"], json!(null));
    for id in &ids[..2] {
        let st = s.get(&format!("/v1/messages/{id}/status"), &k).await;
        assert_ne!(st.body["data"]["status"], json!("failed"), "{}", st.body);
        assert!(st.body["data"]["sentAt"].is_string(), "{}", st.body);
    }
}

on_both_backends!(a_message_not_sent_within_its_deadline_fails);

/// History pages both ways: from the newest back with `before` (each `nextCursor` the next
/// `before`), and from a message forward with `after` (each `nextCursor` the next `after`),
/// every message once, in order, across several pages.
async fn history_pages_back_with_before_and_forward_with_after(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let mut sent = Vec::new();
    for i in 0..7 {
        let r = s
            .post(
                "/v1/messages/send",
                &k,
                json!({"instanceId": a, "to": "5511977776666", "message": format!("n{i}")}),
            )
            .await;
        sent.push(r.body["messageId"].as_str().unwrap().to_owned());
    }
    let page = |cursor: Option<(&'static str, String)>| {
        let path = match &cursor {
            None => format!("/v1/messages?instanceId={a}&limit=3"),
            Some((dir, c)) => format!("/v1/messages?instanceId={a}&limit=3&{dir}={c}"),
        };
        let s = &s;
        let k = &k;
        async move { s.get(&path, k).await.body }
    };
    let ids = |b: &serde_json::Value| -> Vec<String> {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["messageId"].as_str().unwrap().to_owned())
            .collect()
    };
    // Back from the newest: 3 + 3 + 1, newest first.
    let mut back = Vec::new();
    let mut body = page(None).await;
    loop {
        back.extend(ids(&body));
        if body["pagination"]["hasMore"] != json!(true) {
            break;
        }
        let c = body["pagination"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        body = page(Some(("before", c))).await;
    }
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    assert_eq!(back, newest_first);
    // Forward from the oldest: the 6 after it, oldest first, 3 + 3.
    let mut forward = Vec::new();
    let mut body = page(Some(("after", sent[0].clone()))).await;
    let mut pages = 1;
    loop {
        forward.extend(ids(&body));
        if body["pagination"]["hasMore"] != json!(true) {
            break;
        }
        let c = body["pagination"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        body = page(Some(("after", c))).await;
        pages += 1;
    }
    assert_eq!(forward, sent[1..].to_vec());
    assert!(pages >= 2, "the forward walk crossed pages");
}

on_both_backends!(history_pages_back_with_before_and_forward_with_after);

/// A receiver that orders events by `sequence` sees its events once, in the order they were
/// written, although a retry arrived after later events and the server restarted in between;
/// each delivery's `x-enviaai-sequence` header is its body's number. The numbers count every
/// event of the instance with no gap: the event stream, which holds them all (resumed across
/// the restart), shows each number once, and the receiver's are the stream's numbers of the
/// events it subscribed to.
async fn a_receiver_reorders_by_sequence_without_gaps(backend: Backend) {
    fn config(c: &mut wagate_server::ServerConfig) {
        sandbox_calling_loopback(c);
        c.webhook_retry_scale = 0.01; // the first retry after 0.3 s
    }
    let rx = Receiver::start(Answer::FailFirst(1, 503)).await;
    let s = TestServer::start_with(backend, config).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let w = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": rx.url, "instanceId": a, "events": ["message.received"]}),
        )
        .await;
    assert_eq!(w.status, StatusCode::CREATED, "{}", w.body);
    let mut stream = SseClient::open(&s, &k, &format!("?instanceId={a}"), None).await;
    for i in 0..5 {
        inject(&s, &k, "5511900000001", &format!("e{i}")).await;
    }
    rx.wait_for(6, Duration::from_secs(10)).await; // one refused, five delivered
    let mut streamed = stream.take(5, Duration::from_secs(10)).await;
    drop(stream);
    let s = s.restart_with(config).await;
    // The instance is resumed in the background: the first write waits until it is back on the
    // sandbox network (until then the network answers that it is not there).
    let back = json!({"to": "5511900000001", "from": "5511988887777", "message": "e5"});
    eventually_posts(&s, &k, "/sandbox/v1/messages", &back).await;
    for i in 6..10 {
        inject(&s, &k, "5511900000001", &format!("e{i}")).await;
    }
    let hits = rx.wait_for(11, Duration::from_secs(10)).await;
    let last = streamed[4].id.clone();
    let mut stream = SseClient::open(&s, &k, &format!("?instanceId={a}"), Some(&last)).await;
    while streamed
        .iter()
        .filter(|f| f.event == "message.received")
        .count()
        < 10
    {
        streamed.push(
            stream
                .next(Duration::from_secs(10))
                .await
                .expect("an event"),
        );
    }
    let delivered: Vec<serde_json::Value> = hits[1..].iter().map(|h| h.json()).collect();
    for (h, b) in hits[1..].iter().zip(&delivered) {
        assert_eq!(
            h.header("x-enviaai-sequence"),
            b["sequence"].to_string(),
            "{b}"
        );
    }
    let arrival: Vec<u64> = delivered
        .iter()
        .map(|b| b["sequence"].as_u64().unwrap())
        .collect();
    let mut ordered = arrival.clone();
    ordered.sort_unstable();
    assert_ne!(
        arrival, ordered,
        "the retry of 1 arrived after later events"
    );
    let mut by_number = delivered.clone();
    by_number.sort_by_key(|b| b["sequence"].as_u64());
    by_number.dedup_by(|x, y| x["id"] == y["id"]);
    let numbers: Vec<u64> = by_number
        .iter()
        .map(|b| b["sequence"].as_u64().unwrap())
        .collect();
    let all: Vec<u64> = streamed
        .iter()
        .map(|f| f.data["sequence"].as_u64().unwrap())
        .collect();
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap, none twice: {all:?}"
    );
    let received: Vec<u64> = streamed
        .iter()
        .filter(|f| f.event == "message.received")
        .map(|f| f.data["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers, received,
        "the receiver got each of its events once"
    );
    let texts: Vec<&str> = by_number
        .iter()
        .map(|b| b["data"]["content"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    assert_eq!(
        texts, want,
        "the numbers follow the order the messages came in"
    );
}

on_both_backends!(a_receiver_reorders_by_sequence_without_gaps);
