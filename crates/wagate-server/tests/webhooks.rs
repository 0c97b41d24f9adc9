//! Webhooks over HTTP (§9, §15.6): subscriptions, signed deliveries, retries, logs, the test
//! endpoint, ordering and isolation between receivers, the URL rules, and two delivery workers
//! whose claims overlap (a late outcome of an expired claim changes nothing).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use common::receiver::{Answer, Receiver};
use common::sandbox::inject;
use common::{eventually, linked};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wagate_core::net::UrlPolicy;
use wagate_server::net_guard::StaticResolver;
use wagate_testkit::{Backend, on_both_backends};

use self::two_workers::{
    a_lanes_backlog_goes_out_in_one_step_until_a_failure,
    a_late_outcome_of_an_expired_claim_changes_nothing,
    a_run_stops_when_its_subscription_is_deleted,
};

const RECEIVED: &str = "message.received";

/// A sandbox server that may call loopback receivers, with waits of the retry schedule scaled.
async fn server(backend: Backend, retry_scale: f64) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy = UrlPolicy {
            allow_private: true,
        };
        c.webhook_retry_scale = retry_scale;
    })
    .await
}

async fn subscribe(s: &TestServer, key: &str, instance: &str, url: &str, events: Value) -> Value {
    let r = s
        .post(
            "/v1/webhooks",
            key,
            json!({"url": url, "instanceId": instance, "events": events, "name": "main"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["data"].clone()
}

async fn put(s: &TestServer, key: &str, path: &str, body: Value) -> common::Reply {
    s.call(Method::PUT, path, Some(key), Some(body)).await
}

async fn logs(s: &TestServer, key: &str, webhook: &str) -> Vec<Value> {
    let r = s.get(&format!("/v1/webhooks/{webhook}/logs"), key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

async fn subscriptions_are_managed_per_account(backend: Backend) {
    let s = server(backend, 1.0).await;
    let k = s.default_key.clone();
    let inst = linked(&s, &k, "5511900000001", json!({})).await;

    let created = subscribe(&s, &k, &inst, "https://example.com/hook", json!([RECEIVED])).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"), "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whs_"));
    assert_eq!(created["status"], json!("active"));
    assert_eq!(created["instanceId"], json!(inst));
    assert_eq!(created["events"], json!([RECEIVED]));
    assert!(created["createdAt"].as_str().is_some());

    let got = s.get(&format!("/v1/webhooks/{id}"), &k).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.body["data"].get("secret").is_none(),
        "the secret is shown once"
    );

    let updated = put(
        &s,
        &k,
        &format!("/v1/webhooks/{id}"),
        json!({"status": "paused", "events": ["message.sent", "message.read"], "name": "renamed"}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["data"]["status"], json!("paused"));
    assert_eq!(updated.body["data"]["name"], json!("renamed"));
    assert_eq!(
        updated.body["data"]["events"],
        json!(["message.sent", "message.read"])
    );

    let rotated = s
        .post(&format!("/v1/webhooks/{id}/rotate-secret"), &k, json!({}))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_ne!(rotated.body["data"]["secret"], created["secret"]);

    let list = s.get(&format!("/v1/webhooks?instanceId={inst}"), &k).await;
    assert_eq!(list.body["data"][0]["id"], json!(id), "{}", list.body);
    assert_eq!(list.body["pagination"]["total"], json!(1));

    // Errors a user can cause.
    let bad = |body: Value| s.post("/v1/webhooks", &k, body);
    bad(json!({"url": "ftp://x.com/h", "instanceId": inst, "events": [RECEIVED]}))
        .await
        .assert_error(400, "invalid_webhook_url");
    bad(json!({"url": "https://x.com/h", "instanceId": inst, "events": ["message.eaten"]}))
        .await
        .assert_error(400, "invalid_webhook_events");
    bad(json!({"url": "https://x.com/h", "instanceId": inst, "events": []}))
        .await
        .assert_error(400, "invalid_webhook_events");
    bad(json!({"url": "https://x.com/h", "instanceId": "inst_nope", "events": [RECEIVED]}))
        .await
        .assert_error(404, "instance_not_found");
    bad(json!({"url": "https://x.com/h", "events": [RECEIVED]}))
        .await
        .assert_error(400, "invalid_request");
    put(
        &s,
        &k,
        &format!("/v1/webhooks/{id}"),
        json!({"status": "sleeping"}),
    )
    .await
    .assert_error(400, "invalid_request");
    s.get("/v1/webhooks/wh_unknown", &k)
        .await
        .assert_error(404, "webhook_not_found");

    // Another account sees none of it.
    let (_, other) = s.account("pro").await;
    s.get(&format!("/v1/webhooks/{id}"), &other)
        .await
        .assert_error(404, "webhook_not_found");
    s.get(&format!("/v1/webhooks/{id}/logs"), &other)
        .await
        .assert_error(404, "webhook_not_found");
    s.call(
        Method::DELETE,
        &format!("/v1/webhooks/{id}"),
        Some(&other),
        None,
    )
    .await
    .assert_error(404, "webhook_not_found");
    let theirs = s.get("/v1/webhooks", &other).await;
    assert_eq!(theirs.body["data"], json!([]));

    let del = s
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{id}"),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::OK);
    s.get(&format!("/v1/webhooks/{id}"), &k)
        .await
        .assert_error(404, "webhook_not_found");
    s.stop().await;
}

async fn deliveries_are_signed_both_ways(backend: Backend) {
    let s = server(backend, 1.0).await;
    let k = s.default_key.clone();
    let own = Receiver::start(Answer::Ok).await;
    let sub = Receiver::start(Answer::Ok).await;
    // The instance's own webhookUrl takes every event by default; the subscription only one.
    let created = s
        .post(
            "/v1/instances",
            &k,
            json!({"name": "a", "webhookUrl": own.url}),
        )
        .await;
    let instance_secret = created.body["data"]["webhookSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let inst = created.body["data"]["id"].as_str().unwrap().to_owned();
    let w = subscribe(&s, &k, &inst, &sub.url, json!([RECEIVED])).await;
    let secret = w["secret"].as_str().unwrap();

    let c = s
        .post(
            &format!("/v1/instances/{inst}/connect"),
            &k,
            json!({"method": "qrcode"}),
        )
        .await;
    let qr = c.body["qrCode"].as_str().unwrap();
    s.post(
        "/sandbox/v1/scan",
        &k,
        json!({"qrCode": qr, "phone": "5511900000001", "profileName": "Loja"}),
    )
    .await;
    inject(&s, &k, "5511900000001", "Oi!").await;

    let hit = &sub.wait_for(1, Duration::from_secs(10)).await[0];
    let body = hit.json();
    assert_eq!(body["event"], json!(RECEIVED));
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(hit.header("webhook-id"), body["id"].as_str().unwrap());
    assert_eq!(hit.header("x-enviaai-event"), RECEIVED);
    assert!(hit.header("x-enviaai-delivery").starts_with("log_"));
    assert_eq!(
        hit.header("x-enviaai-timestamp"),
        hit.header("webhook-timestamp")
    );
    assert!(hit.enviaai_signature_valid(secret));
    assert!(!hit.enviaai_signature_valid(&instance_secret));
    let d = &body["data"];
    assert_eq!(d["content"], json!("Oi!"));
    assert_eq!(d["from"], json!("5511988887777"));
    assert_eq!(d["fromName"], json!("Ana"));
    assert_eq!(d["to"], json!("5511900000001"));
    assert_eq!(d["instanceId"], json!(inst));

    // The instance's own URL got qr_updated, connected and received, in that order, signed with
    // the instance's secret.
    let own_hits = own.wait_for(3, Duration::from_secs(10)).await;
    let kinds: Vec<String> = own_hits
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["instance.qr_updated", "instance.connected", RECEIVED],
        "in the order they happened"
    );
    for h in &own_hits {
        assert!(h.enviaai_signature_valid(&instance_secret));
    }
    assert_eq!(own_hits[1].json()["data"]["phone"], json!("5511900000001"));
    assert_eq!(own_hits[1].json()["data"]["profileName"], json!("Loja"));

    // A send's status events follow it, each echoing the sender's metadata.
    let sent = s
        .post(
            "/v1/messages/send",
            &k,
            json!({"instanceId": inst, "to": "5511977776666", "message": "Pedido 7 confirmado", "metadata": {"order": 7}}),
        )
        .await;
    let mid = sent.body["messageId"].clone();
    let status_hits = own.wait_for(6, Duration::from_secs(10)).await;
    let statuses: Vec<Value> = status_hits[3..].iter().map(|h| h.json()).collect();
    let kinds: Vec<&str> = statuses
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message.sent", "message.delivered", "message.read"]);
    for b in &statuses {
        assert_eq!(b["data"]["messageId"], mid, "{b}");
        assert_eq!(b["data"]["metadata"], json!({"order": 7}), "{b}");
        assert_eq!(b["data"]["to"], json!("5511977776666"));
    }
    assert_eq!(statuses[0]["data"]["content"], json!("Pedido 7 confirmado"));
    assert_eq!(statuses[2]["data"]["status"], json!("read"));
    assert_eq!(
        sub.hits().len(),
        1,
        "the subscription wants message.received only"
    );
    s.stop().await;
}

async fn failed_deliveries_are_retried_on_schedule(backend: Backend) {
    let s = server(backend, 0.01).await;
    let k = s.default_key.clone();
    let rx = Receiver::start(Answer::FailFirst(3, 503)).await;
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    let w = subscribe(&s, &k, &inst, &rx.url, json!([RECEIVED])).await;
    let id = w["id"].as_str().unwrap();
    inject(&s, &k, "5511900000001", "retry me").await;

    let hits = rx.wait_for(4, Duration::from_secs(20)).await;
    let evt = hits[0].json()["id"].clone();
    assert!(
        hits.iter().all(|h| h.json()["id"] == evt),
        "one event, retried"
    );
    // 30 s, 2 min and 10 min, scaled by 0.01.
    let gaps: Vec<Duration> = hits.windows(2).map(|p| p[1].at - p[0].at).collect();
    for (gap, want) in gaps.iter().zip([300, 1_200, 6_000]) {
        assert!(
            *gap >= Duration::from_millis(want) && *gap < Duration::from_millis(want * 3 + 500),
            "waits {gaps:?}"
        );
    }

    let entries = eventually(&s, &k, &format!("/v1/webhooks/{id}/logs"), |b| {
        b["data"].as_array().is_some_and(|a| a.len() == 4)
    })
    .await
    .body["data"]
        .as_array()
        .unwrap()
        .clone();
    // Newest first: the success, then three failures with their codes and retry times.
    assert_eq!(entries[0]["status"], json!("success"));
    assert_eq!(entries[0]["statusCode"], json!(200));
    assert_eq!(entries[0]["retryCount"], json!(3));
    for (i, e) in entries[1..].iter().enumerate() {
        assert_eq!(e["status"], json!("failed"), "{e}");
        assert_eq!(e["statusCode"], json!(503));
        assert_eq!(e["error"], json!("Service Unavailable"));
        assert_eq!(e["retryCount"], json!(2 - i));
        assert!(e["nextRetryAt"].as_str() > e["timestamp"].as_str(), "{e}");
        assert!(e["responseTime"].as_u64().is_some());
        assert_eq!(e["event"], json!(RECEIVED));
    }
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|p| p[0] > p[1]), "{times:?}");

    let failed = s
        .get(&format!("/v1/webhooks/{id}/logs?status=failed&limit=2"), &k)
        .await;
    assert_eq!(failed.body["data"].as_array().unwrap().len(), 2);

    // A logged delivery can be sent again on demand, with the same event id.
    let log = entries[0]["id"].as_str().unwrap();
    let again = s
        .post(
            &format!("/v1/webhooks/{id}/logs/{log}/retry"),
            &k,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let hits = rx.wait_for(5, Duration::from_secs(10)).await;
    assert_eq!(hits[4].json()["id"], evt);
    s.post(
        &format!("/v1/webhooks/{id}/logs/log_nope/retry"),
        &k,
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    s.stop().await;
}

async fn the_test_endpoint_delivers_for_real(backend: Backend) {
    let s = server(backend, 1.0).await;
    let k = s.default_key.clone();
    let good = Receiver::start(Answer::Ok).await;
    let bad = Receiver::start(Answer::Always(500)).await;
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    let w = subscribe(&s, &k, &inst, &good.url, json!([RECEIVED])).await;
    let id = w["id"].as_str().unwrap();

    let r = s
        .post(&format!("/v1/webhooks/{id}/test"), &k, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(d["status"], json!("success"));
    assert_eq!(d["statusCode"], json!(200));
    assert_eq!(d["payload"]["data"]["test"], json!(true));
    let hit = &good.wait_for(1, Duration::from_secs(5)).await[0];
    assert_eq!(
        hit.json(),
        d["payload"],
        "the payload reported is the one delivered"
    );
    assert!(hit.enviaai_signature_valid(w["secret"].as_str().unwrap()));

    put(
        &s,
        &k,
        &format!("/v1/webhooks/{id}"),
        json!({"url": bad.url}),
    )
    .await;
    let r = s
        .post(
            &format!("/v1/webhooks/{id}/test"),
            &k,
            json!({"event": "instance.connected"}),
        )
        .await;
    assert_eq!(r.body["data"]["status"], json!("failed"), "{}", r.body);
    assert_eq!(r.body["data"]["statusCode"], json!(500));
    assert_eq!(
        r.body["data"]["payload"]["event"],
        json!("instance.connected")
    );
    assert_eq!(logs(&s, &k, id).await.len(), 2, "tests are logged too");

    // A redirect is an answer, not an instruction: it is not followed (it could lead anywhere).
    let redirecting = Receiver::start(Answer::Redirect(good.url.clone())).await;
    put(
        &s,
        &k,
        &format!("/v1/webhooks/{id}"),
        json!({"url": redirecting.url}),
    )
    .await;
    let r = s
        .post(&format!("/v1/webhooks/{id}/test"), &k, json!({}))
        .await;
    assert_eq!(r.body["data"]["status"], json!("failed"), "{}", r.body);
    assert_eq!(r.body["data"]["statusCode"], json!(307));
    assert_eq!(redirecting.hits().len(), 1);
    assert_eq!(good.hits().len(), 1, "the redirect was not followed");
    s.post(
        &format!("/v1/webhooks/{id}/test"),
        &k,
        json!({"event": "nope"}),
    )
    .await
    .assert_error(400, "invalid_request");
    s.stop().await;
}

async fn paused_deleted_and_rotated_subscriptions(backend: Backend) {
    let s = server(backend, 0.01).await;
    let k = s.default_key.clone();
    let control = Receiver::start(Answer::Ok).await;
    let rx = Receiver::start(Answer::Ok).await;
    let failing = Receiver::start(Answer::Always(500)).await;
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    subscribe(&s, &k, &inst, &control.url, json!([RECEIVED])).await;
    let w = subscribe(&s, &k, &inst, &rx.url, json!([RECEIVED])).await;
    let id = w["id"].as_str().unwrap();
    let old_secret = w["secret"].as_str().unwrap().to_owned();

    // Paused: the control receiver gets the event, the paused one nothing.
    put(
        &s,
        &k,
        &format!("/v1/webhooks/{id}"),
        json!({"status": "paused"}),
    )
    .await;
    inject(&s, &k, "5511900000001", "one").await;
    control.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        rx.hits().is_empty(),
        "a paused subscription receives nothing"
    );

    // Active again with a new secret: the next delivery is signed with it.
    put(
        &s,
        &k,
        &format!("/v1/webhooks/{id}"),
        json!({"status": "active"}),
    )
    .await;
    let rotated = s
        .post(&format!("/v1/webhooks/{id}/rotate-secret"), &k, json!({}))
        .await;
    let new_secret = rotated.body["data"]["secret"].as_str().unwrap().to_owned();
    inject(&s, &k, "5511900000001", "two").await;
    let hit = &rx.wait_for(1, Duration::from_secs(10)).await[0];
    assert_eq!(hit.json()["data"]["content"], json!("two"));
    assert!(hit.enviaai_signature_valid(&new_secret));
    assert!(!hit.enviaai_signature_valid(&old_secret));

    // Deleted: pending retries stop at once.
    let doomed = subscribe(&s, &k, &inst, &failing.url, json!([RECEIVED])).await;
    inject(&s, &k, "5511900000001", "three").await;
    failing.wait_for(1, Duration::from_secs(10)).await;
    let del = s
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{}", doomed["id"].as_str().unwrap()),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::OK);
    let attempts = failing.hits().len();
    // Without the delete the second attempt would come after 0.3 s and the third after 1.2 s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        failing.hits().len(),
        attempts,
        "no attempt after the delete"
    );
    control.wait_for(3, Duration::from_secs(10)).await;
    s.stop().await;
}

async fn an_instances_events_arrive_in_order(backend: Backend) {
    let s = server(backend, 1.0).await;
    let k = s.default_key.clone();
    // Slower than the events come, so they queue up and could overtake each other.
    let rx = Receiver::start(Answer::Slow(Duration::from_millis(20))).await;
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    subscribe(&s, &k, &inst, &rx.url, json!([RECEIVED])).await;
    let texts: Vec<String> = (0..30).map(|i| format!("n{i:02}")).collect();
    for t in &texts {
        inject(&s, &k, "5511900000001", t).await;
    }
    let got: Vec<String> = rx
        .wait_for(texts.len(), Duration::from_secs(10))
        .await
        .iter()
        .map(|h| h.json()["data"]["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, texts, "delivered in the order they happened");
    assert_eq!(
        rx.most_at_once(),
        1,
        "one at a time per instance and target"
    );
    s.stop().await;
}

/// An event that waited behind a hanging receiver arrives only when that attempt times out
/// (`attempt::TIMEOUT`, 5 s); one that did not arrives at once. Half the timeout tells the two
/// apart with room for a loaded machine (CI runs the PostgreSQL suite beside this one: 1.7 s
/// was seen there).
const NOT_BEHIND_A_HANG: Duration =
    Duration::from_millis(wagate_server::delivery::attempt::TIMEOUT.as_millis() as u64 / 2);

async fn a_hanging_receiver_does_not_slow_others(backend: Backend) {
    let s = server(backend, 1.0).await;
    let k = s.default_key.clone();
    let hanging = Receiver::start(Answer::Hang).await;
    let healthy = Receiver::start(Answer::Ok).await;
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let b = linked(&s, &k, "5511900000002", json!({})).await;
    subscribe(&s, &k, &a, &hanging.url, json!([RECEIVED])).await;
    subscribe(&s, &k, &b, &healthy.url, json!([RECEIVED])).await;

    for i in 0..3 {
        inject(&s, &k, "5511900000001", &format!("to A {i}")).await;
    }
    hanging.wait_for(1, Duration::from_secs(5)).await;
    // While A's receiver holds its delivery (for the 5 s timeout), B's events flow.
    let mut latencies = Vec::new();
    for i in 0..10 {
        let sent = Instant::now();
        inject(&s, &k, "5511900000002", &format!("to B {i}")).await;
        healthy.wait_for(i + 1, Duration::from_secs(5)).await;
        latencies.push(sent.elapsed());
    }
    let worst = latencies.iter().max().unwrap();
    println!("healthy receiver latency while another hangs: worst {worst:?}, all {latencies:?}");
    assert!(
        *worst < NOT_BEHIND_A_HANG,
        "B waited {worst:?} behind A's hanging receiver"
    );
    assert_eq!(
        hanging.hits().len(),
        1,
        "A's next events wait for its first (order)"
    );
    s.stop().await;
}

/// Tenant isolation (issue 13): one account's 7,000 deliveries stuck on a receiver that never
/// answers (70 subscriptions, 100 events) hold at most that account's share of the slots, so
/// another account's events still arrive at once (p99 under half the attempt timeout over 100 events).
async fn one_tenants_dead_receiver_does_not_delay_another(backend: Backend) {
    let s = server(backend, 1.0).await;
    let (_, key_a) = s.account("enterprise").await;
    let dead = Receiver::start(Answer::Hang).await;
    let a = linked(&s, &key_a, "5511900000001", json!({})).await;
    for _ in 0..70 {
        subscribe(&s, &key_a, &a, &dead.url, json!([RECEIVED])).await;
    }
    for i in 0..100 {
        inject(&s, &key_a, "5511900000001", &format!("to A {i}")).await;
    }
    dead.wait_for(16, Duration::from_secs(5)).await;

    let k = s.default_key.clone();
    let healthy = Receiver::start(Answer::Ok).await;
    let b = linked(&s, &k, "5511900000002", json!({})).await;
    subscribe(&s, &k, &b, &healthy.url, json!([RECEIVED])).await;
    let mut latencies = Vec::new();
    for i in 0..100 {
        let sent = Instant::now();
        inject(&s, &k, "5511900000002", &format!("to B {i}")).await;
        healthy.wait_for(i + 1, Duration::from_secs(10)).await;
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    let p99 = latencies[98];
    println!(
        "another tenant's latency: p50 {:?}, p99 {p99:?}, max {:?}",
        latencies[49], latencies[99]
    );
    assert!(p99 < NOT_BEHIND_A_HANG, "p99 {p99:?}");
    assert!(
        dead.most_at_once() <= 16,
        "the dead receiver's account held {} slots at once",
        dead.most_at_once()
    );
    s.stop().await;
}

/// A receiver that stops answering is not waited on: after three attempts without an answer its
/// breaker opens, and the rest of its deliveries are logged as not attempted at once (to follow
/// the retry schedule) instead of holding a slot for the 5 s timeout each, one lane after another.
async fn a_receiver_that_never_answers_is_not_waited_on(backend: Backend) {
    let s = server(backend, 1.0).await;
    let k = s.default_key.clone();
    let dead = Receiver::start(Answer::Hang).await;
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let mut subs = Vec::new();
    for _ in 0..5 {
        let sub = subscribe(&s, &k, &a, &dead.url, json!([RECEIVED])).await;
        subs.push(sub["id"].as_str().unwrap().to_owned());
    }
    let started = Instant::now();
    for i in 0..20 {
        inject(&s, &k, "5511900000001", &format!("to a dead receiver {i}")).await;
    }
    // 100 first attempts; five lanes of twenty, each 5 s if every one were waited on.
    let mut logged = 0;
    while started.elapsed() < Duration::from_secs(30) {
        logged = 0;
        for sub in &subs {
            logged += logs(&s, &k, sub).await.len();
        }
        if logged == 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(logged, 100, "every delivery's first attempt is logged");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        dead.hits().len() <= 6,
        "{} requests reached the dead receiver",
        dead.hits().len()
    );
    let refused: Vec<Value> = logs(&s, &k, &subs[0]).await;
    assert!(
        refused.iter().any(|l| l["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Not attempted"))),
        "{refused:?}"
    );
    s.stop().await;
}

async fn private_targets_are_refused_at_save_and_at_delivery(backend: Backend) {
    let names = Arc::new(StaticResolver::default());
    let public = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
    names.set(
        "internal.example",
        vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
    );
    names.set(
        "metadata.example",
        vec![IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))],
    );
    names.set("loop.example", vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    names.set("rebind.example", vec![public]);
    let resolver = names.clone();
    let s = TestServer::start_with(backend, move |c| {
        c.sandbox = true;
        c.resolver = resolver;
    })
    .await;
    let k = s.default_key.clone();
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://internal.example/hook",
        "https://metadata.example/hook",
        "https://loop.example/hook",
        "http://hooks.example.com/plain-http",
    ] {
        let r = s
            .post(
                "/v1/webhooks",
                &k,
                json!({"url": url, "instanceId": inst, "events": [RECEIVED]}),
            )
            .await;
        r.assert_error(400, "invalid_webhook_url");
        let p = s
            .call(
                Method::PATCH,
                &format!("/v1/instances/{inst}"),
                Some(&k),
                Some(json!({"webhookUrl": url})),
            )
            .await;
        p.assert_error(400, "invalid_webhook_url");
    }

    // Saved while public, then the name moves to loopback: the delivery is refused.
    let w = subscribe(
        &s,
        &k,
        &inst,
        "https://rebind.example/hook",
        json!([RECEIVED]),
    )
    .await;
    let id = w["id"].as_str().unwrap();
    names.set("rebind.example", vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    inject(&s, &k, "5511900000001", "hello").await;
    let entries = eventually(&s, &k, &format!("/v1/webhooks/{id}/logs"), |b| {
        b["data"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await
    .body["data"]
        .clone();
    let e = &entries[0];
    assert_eq!(e["status"], json!("failed"));
    assert!(e.get("statusCode").is_none_or(Value::is_null), "{e}");
    let error = e["error"].as_str().unwrap();
    assert!(error.contains("private"), "{error}");
    let t = s
        .post(&format!("/v1/webhooks/{id}/test"), &k, json!({}))
        .await;
    assert_eq!(t.body["data"]["status"], json!("failed"));
    assert!(
        t.body["data"]["error"]
            .as_str()
            .unwrap()
            .contains("private"),
        "{}",
        t.body
    );
    s.stop().await;
}

/// Delivery workers driven step by step (`run_once`) over one store, with a receiver that holds
/// each request until the test answers it: a lane's backlog goes out as a run, and when worker
/// A's attempt outlives its lease, worker B claims the delivery and attempts it again, and A's
/// late answer changes nothing.
mod two_workers {
    use std::sync::Arc;
    use std::time::Duration;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use tokio::sync::{mpsc, oneshot};
    use wagate_core::account::{Account, AccountName};
    use wagate_core::delivery::{AttemptOutcome, DeliveryState, Recorded, RetrySchedule};
    use wagate_core::event::Event;
    use wagate_core::instance::{Instance, NewInstance, Settings};
    use wagate_core::net::{TargetUrl, UrlPolicy};
    use wagate_core::plan::Plan;
    use wagate_core::store::Store;
    use wagate_core::webhook::{Subscription, SubscriptionStatus, WebhookSecret};
    use wagate_core::webhook_event::WebhookEvent;
    use wagate_core::{AccountId, Timestamp, WebhookId};
    use wagate_server::delivery::DeliveryWorker;
    use wagate_server::net_guard::{NetGuard, SystemResolver};
    use wagate_store::SqlStore;
    use wagate_testkit::{Backend, TestDb};

    /// A request the receiver holds: its `webhook-id`, and where to send the status to answer.
    struct Held {
        event_id: String,
        answer: oneshot::Sender<u16>,
    }

    /// A loopback receiver that hands every request to the test and answers what it is told.
    async fn holding_receiver() -> (String, mpsc::UnboundedReceiver<Held>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let app = axum::Router::new()
            .fallback(
                |State(tx): State<mpsc::UnboundedSender<Held>>, headers: HeaderMap| async move {
                    let (answer, status) = oneshot::channel();
                    let event_id = headers["webhook-id"].to_str().unwrap().to_owned();
                    tx.send(Held { event_id, answer }).unwrap();
                    let code = status.await.unwrap_or(500);
                    StatusCode::from_u16(code).unwrap()
                },
            )
            .with_state(tx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, rx)
    }

    async fn next(requests: &mut mpsc::UnboundedReceiver<Held>) -> Held {
        tokio::time::timeout(Duration::from_secs(5), requests.recv())
            .await
            .expect("a request within 5 s")
            .expect("the receiver runs")
    }

    /// A store with one account, one instance and one subscription of its received messages
    /// to a holding receiver.
    async fn one_subscription(
        backend: Backend,
    ) -> (
        TestDb,
        Arc<dyn Store>,
        Account,
        Instance,
        Subscription,
        mpsc::UnboundedReceiver<Held>,
    ) {
        let db = TestDb::new(backend).await;
        let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&db.url).await.unwrap());
        let now = Timestamp::now();
        let account = Account {
            id: AccountId::generate(),
            name: AccountName::parse("Acme").unwrap(),
            plan: Plan::Pro,
            rate_limits: None,
            created_at: now,
        };
        store.insert_account(&account).await.unwrap();
        let inst = NewInstance {
            name: AccountName::parse("i").unwrap(),
            webhook_url: None,
            webhook_events: vec![],
            settings: Settings::default(),
        }
        .into_instance(account.id.clone(), now);
        store.insert_instance(&inst, None).await.unwrap();
        let (url, requests) = holding_receiver().await;
        let sub = Subscription {
            id: WebhookId::generate(),
            account_id: account.id.clone(),
            instance_id: inst.id.clone(),
            name: None,
            url: TargetUrl::from_trusted(url),
            events: vec![WebhookEvent::MessageReceived],
            secret: WebhookSecret::generate(),
            status: SubscriptionStatus::Active,
            created_at: now,
            updated_at: now,
        };
        store.insert_subscription(&sub).await.unwrap();
        (db, store, account, inst, sub, requests)
    }

    /// A worker of node `node-a` with the product's lease.
    fn worker_of(store: &Arc<dyn Store>) -> DeliveryWorker {
        DeliveryWorker::new(
            store.clone(),
            net(),
            RetrySchedule::default(),
            "node-a".into(),
            DeliveryWorker::LEASE,
        )
    }

    fn net() -> NetGuard {
        NetGuard::new(
            UrlPolicy {
                allow_private: true,
            },
            Arc::new(SystemResolver),
        )
    }

    /// A lane's backlog goes out in one step, one request at a time and in order (a run), as
    /// fast as the receiver answers; a failure ends the run, and what it had not attempted is
    /// freed, so the next step starts right there, at once.
    pub async fn a_lanes_backlog_goes_out_in_one_step_until_a_failure(backend: Backend) {
        let (_db, store, account, inst, sub, mut requests) = one_subscription(backend).await;
        let events: Vec<Event> = (0..10)
            .map(|_| Event::test(&account.id, &inst.id, WebhookEvent::MessageReceived))
            .collect();
        for e in &events {
            store.record_event(e).await.unwrap();
        }
        let worker = worker_of(&store);
        let step = {
            let w = worker.clone();
            tokio::spawn(async move { w.run_once().await })
        };
        for (i, e) in events[..7].iter().enumerate() {
            let held = next(&mut requests).await;
            assert_eq!(held.event_id, e.id.as_str(), "request {i} in event order");
            assert!(requests.try_recv().is_err(), "one request at a time");
            held.answer.send(if i == 6 { 503 } else { 200 }).unwrap();
        }
        let did = step.await.unwrap().unwrap();
        assert_eq!(did.len(), 7, "one step took the lane up to its failure");
        assert!(
            did.iter()
                .all(|d| matches!(d.recorded, Ok(Recorded::Written))),
            "{did:?}"
        );
        assert_eq!(
            did[6].outcome.state(),
            DeliveryState::Pending,
            "the failure waits to retry"
        );

        let step = tokio::spawn(async move { worker.run_once().await });
        for e in &events[7..] {
            let held = next(&mut requests).await;
            assert_eq!(
                held.event_id,
                e.id.as_str(),
                "the next step starts after the failure"
            );
            held.answer.send(200).unwrap();
        }
        let did = step.await.unwrap().unwrap();
        assert_eq!(did.len(), 3);
        let logs = store.list_logs(&sub.id, None, 50).await.unwrap();
        assert_eq!(logs.len(), 10, "every attempt logged once");
        assert_eq!(logs.iter().filter(|l| l.success).count(), 9);
        store.close().await;
    }

    /// A run stops once an outcome finds its delivery gone (the subscription was deleted
    /// meanwhile): the request already on its way may still arrive, not the rest of the run.
    pub async fn a_run_stops_when_its_subscription_is_deleted(backend: Backend) {
        let (_db, store, account, inst, sub, mut requests) = one_subscription(backend).await;
        for _ in 0..10 {
            let e = Event::test(&account.id, &inst.id, WebhookEvent::MessageReceived);
            store.record_event(&e).await.unwrap();
        }
        let worker = worker_of(&store);
        let step = tokio::spawn(async move { worker.run_once().await });
        next(&mut requests).await.answer.send(200).unwrap();
        let second = next(&mut requests).await;
        assert!(
            store
                .delete_subscription(&account.id, &sub.id)
                .await
                .unwrap()
        );
        second.answer.send(200).unwrap();
        // The second's outcome (gone) is recorded while the next request is on its way; each
        // request is held 100 ms, time for that record to land. Without the halt, the other
        // seven would follow within the run's second.
        let mut after = 0;
        while let Ok(Some(h)) =
            tokio::time::timeout(Duration::from_millis(500), requests.recv()).await
        {
            after += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            h.answer.send(200).unwrap();
        }
        assert!(after <= 2, "{after} requests after the deletion was seen");
        let did = step.await.unwrap().unwrap();
        assert_eq!(did.len(), 2 + after);
        assert!(matches!(did[1].recorded, Ok(Recorded::Gone)), "{did:?}");
        store.close().await;
    }

    pub async fn a_late_outcome_of_an_expired_claim_changes_nothing(backend: Backend) {
        let (_db, store, account, inst, sub, mut requests) = one_subscription(backend).await;
        let event = Event::test(&account.id, &inst.id, WebhookEvent::MessageReceived);
        store.record_event(&event).await.unwrap();

        let net = net();
        let lease = Duration::from_millis(300);
        let worker = |node: &str| {
            DeliveryWorker::new(
                store.clone(),
                net.clone(),
                RetrySchedule::default(),
                node.into(),
                lease,
            )
        };
        let (a, b) = (worker("node-a"), worker("node-b"));

        // A claims and attempts; the receiver holds the request past A's lease.
        let a_step = tokio::spawn(async move { a.run_once().await });
        let held_a = next(&mut requests).await;
        assert_eq!(held_a.event_id, event.id.as_str());
        tokio::time::sleep(lease + Duration::from_millis(200)).await;

        // B finds the lease run out, claims the delivery and attempts it again.
        let b_step = tokio::spawn(async move { b.run_once().await });
        let held_b = next(&mut requests).await;
        assert_eq!(held_b.event_id, event.id.as_str(), "the same event, again");

        // A's late success while B holds the delivery: nothing is written.
        held_a.answer.send(200).unwrap();
        let a_did = a_step.await.unwrap().unwrap();
        assert_eq!(a_did.len(), 1);
        let a_did = &a_did[0];
        assert_eq!(a_did.attempt, 1);
        assert_eq!(a_did.outcome, AttemptOutcome::Succeeded);
        let Ok(Recorded::ClaimLost {
            held_by: Some(holder),
        }) = &a_did.recorded
        else {
            panic!("A's claim was taken: {:?}", a_did.recorded)
        };
        assert!(holder.starts_with("node-b:"), "{holder}");
        let d = store.get_delivery(&a_did.delivery).await.unwrap().unwrap();
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
        assert_eq!(d.claim.as_deref(), Some(holder.as_str()));
        assert!(store.list_logs(&sub.id, None, 50).await.unwrap().is_empty());

        // B's failure is the attempt's one outcome.
        held_b.answer.send(503).unwrap();
        let b_did = b_step.await.unwrap().unwrap();
        assert_eq!(b_did.len(), 1);
        let b_did = &b_did[0];
        assert_eq!(b_did.delivery, a_did.delivery);
        assert_eq!((b_did.attempt, b_did.result.status_code), (1, Some(503)));
        assert!(matches!(b_did.outcome, AttemptOutcome::RetryAt(_)));
        assert_eq!(b_did.recorded.as_ref().ok(), Some(&Recorded::Written));
        let d = store.get_delivery(&a_did.delivery).await.unwrap().unwrap();
        assert_eq!(
            (d.state, d.attempts, d.claim),
            (DeliveryState::Pending, 1, None)
        );
        assert_eq!(Some(d.next_attempt_at), b_did.outcome.retry_at());
        let logs = store.list_logs(&sub.id, None, 50).await.unwrap();
        assert_eq!(logs.len(), 1, "one outcome for the one attempt: {logs:?}");
        assert_eq!(logs[0].id, b_did.result.log_id);
        assert_eq!(logs[0].status_code, Some(503));
        assert_eq!(logs[0].retry_count, 0);
        assert!(!logs[0].success);
        assert!(requests.try_recv().is_err(), "no other attempt");
        store.close().await;
    }
}

on_both_backends!(
    subscriptions_are_managed_per_account,
    deliveries_are_signed_both_ways,
    failed_deliveries_are_retried_on_schedule,
    the_test_endpoint_delivers_for_real,
    paused_deleted_and_rotated_subscriptions,
    an_instances_events_arrive_in_order,
    a_hanging_receiver_does_not_slow_others,
    one_tenants_dead_receiver_does_not_delay_another,
    a_receiver_that_never_answers_is_not_waited_on,
    private_targets_are_refused_at_save_and_at_delivery,
    a_late_outcome_of_an_expired_claim_changes_nothing,
    a_lanes_backlog_goes_out_in_one_step_until_a_failure,
    a_run_stops_when_its_subscription_is_deleted,
);
