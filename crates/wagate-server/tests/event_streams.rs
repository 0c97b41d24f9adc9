//! The event stream of §21 over HTTP: what a client gets live, what it gets back when it
//! reconnects with `Last-Event-ID` (everything it missed, nothing twice, in order), filters,
//! the account's own events only, the envelope for bad requests, and the end at shutdown.

mod common;

use std::time::Duration;

use common::receiver::{Answer, Receiver};
use common::sandbox::inject;
use common::sse::{Frame, SseClient};
use common::{TestServer, linked};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_testkit::{Backend, on_both_backends};

const ME: &str = "5511900000001";
const OTHER: &str = "5511900000002";
const THEIRS: &str = "5511900000009";
const CONTACT: &str = "5511988887777";
/// Long enough for any event of a sandbox to arrive; a wait this long for one that must not
/// come is what "never" means here.
const WITHIN: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(1500);

async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy.allow_private = true;
    })
    .await
}

/// The webhook envelopes a receiver got, in order.
fn envelopes(rx: &Receiver) -> Vec<Value> {
    rx.hits().iter().map(|h| h.json()).collect()
}

fn ids(frames: &[Frame]) -> Vec<String> {
    frames.iter().map(|f| f.id.clone()).collect()
}

/// A frame is the webhook envelope itself, named and numbered by it.
fn assert_is_envelope(f: &Frame) {
    assert_eq!(f.data["id"], json!(f.id), "{f:?}");
    assert_eq!(f.data["event"], json!(f.event), "{f:?}");
    assert!(f.data["timestamp"].is_string(), "{f:?}");
    assert!(f.data["sequence"].is_u64(), "{f:?}");
}

async fn a_stream_resumes_where_it_left_off(backend: Backend) {
    let s = server(backend).await;
    let k = &s.default_key;
    let inst = linked(&s, k, ME, json!({})).await;
    // The same events go to a webhook: its deliveries are the list a client must end up with.
    let rx = Receiver::start(Answer::Ok).await;
    let events = [
        "message.received",
        "message.sent",
        "message.delivered",
        "message.read",
    ];
    let sub = s
        .post(
            "/v1/webhooks",
            k,
            json!({"url": rx.url, "instanceId": inst, "events": events, "name": "all"}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    let query = format!("?instanceId={inst}&events={}", events.join(","));

    let mut live = SseClient::open(&s, k, &query, None).await;
    for text in ["one", "two", "three"] {
        inject(&s, k, ME, text).await;
    }
    let first = live.take(3, WITHIN).await;
    for (f, text) in first.iter().zip(["one", "two", "three"]) {
        assert_is_envelope(f);
        assert_eq!(f.event, "message.received");
        assert_eq!(f.data["data"]["content"], json!(text), "{f:?}");
        assert_eq!(f.data["data"]["instanceId"], json!(inst));
    }
    drop(live);

    // Offline: three more come in, and a send goes out and is delivered and read.
    for text in ["four", "five", "six"] {
        inject(&s, k, ME, text).await;
    }
    let sent = s
        .post(
            "/v1/messages/send",
            k,
            json!({"instanceId": inst, "to": CONTACT, "message": "Pedido 7 confirmado"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let delivered = rx.wait_for(9, WITHIN).await;
    assert_eq!(
        delivered.len(),
        9,
        "six received, one sent, delivered and read"
    );

    let last_seen = first[2].id.clone();
    let mut again = SseClient::open(&s, k, &query, Some(&last_seen)).await;
    let missed = again.take(6, WITHIN).await;
    assert!(
        again.next(QUIET).await.is_none(),
        "nothing comes twice, nothing else comes"
    );
    for f in &missed {
        assert_is_envelope(f);
    }
    let kinds: Vec<&str> = missed.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message.received",
            "message.received",
            "message.received",
            "message.sent",
            "message.delivered",
            "message.read"
        ]
    );
    let mut streamed = ids(&first);
    streamed.extend(ids(&missed));
    let webhooks: Vec<String> = envelopes(&rx)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        streamed, webhooks,
        "the stream holds every event the webhook got, in its order, once"
    );
    let numbers: Vec<u64> = first
        .iter()
        .chain(&missed)
        .map(|f| f.data["sequence"].as_u64().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "the instance's numbers follow each other: {numbers:?}"
    );
    s.stop().await;
}

/// Events no webhook wants are streamed too, and a filter keeps what it names.
async fn every_event_is_streamed_and_filters_keep_what_they_name(backend: Backend) {
    let s = server(backend).await;
    let k = &s.default_key;
    let mine = linked(&s, k, ME, json!({})).await;
    let other = linked(&s, k, OTHER, json!({})).await;
    let mut everything = SseClient::open(&s, k, "", None).await;
    let mut one_instance = SseClient::open(&s, k, &format!("?instanceId={other}"), None).await;
    let mut reads_only = SseClient::open(&s, k, "?events=message.read", None).await;
    inject(&s, k, ME, "to me").await;
    inject(&s, k, OTHER, "to the other").await;
    let got = everything.take(2, WITHIN).await;
    assert_eq!(
        got.iter()
            .map(|f| (
                f.event.as_str(),
                f.data["data"]["instanceId"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [
            ("message.received", mine.as_str()),
            ("message.received", other.as_str())
        ]
    );
    let only = one_instance.take(1, WITHIN).await;
    assert_eq!(only[0].data["data"]["content"], json!("to the other"));
    assert!(one_instance.next(QUIET).await.is_none());
    assert!(
        reads_only.next(QUIET).await.is_none(),
        "no message was read yet"
    );
    let sent = s
        .post(
            "/v1/messages/send",
            k,
            json!({"instanceId": mine, "to": CONTACT, "message": "oi"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let read = reads_only.take(1, WITHIN).await;
    assert_eq!(read[0].event, "message.read");
    assert_eq!(read[0].data["data"]["messageId"], sent.body["messageId"]);
    s.stop().await;
}

/// An account sees its own events only, whichever way it asks.
async fn an_account_never_sees_another_accounts_events(backend: Backend) {
    let s = server(backend).await;
    let k = &s.default_key;
    let (_, theirs) = s.account("pro").await;
    let mine = linked(&s, k, ME, json!({})).await;
    let their_instance = linked(&s, &theirs, THEIRS, json!({})).await;
    let mut my_stream = SseClient::open(&s, k, "", None).await;
    let mut their_stream = SseClient::open(&s, &theirs, "", None).await;
    inject(&s, k, ME, "private").await;
    let mine_got = my_stream.take(1, WITHIN).await;
    assert_eq!(mine_got[0].data["data"]["instanceId"], json!(mine));
    assert!(
        their_stream.next(QUIET).await.is_none(),
        "another account's event reached this stream"
    );
    // Resuming after my event's id shows them nothing of mine.
    let mut resumed = SseClient::open(&s, &theirs, "", Some(&mine_got[0].id)).await;
    inject(&s, &theirs, THEIRS, "theirs").await;
    for stream in [&mut their_stream, &mut resumed] {
        let got = stream.take(1, WITHIN).await;
        assert_eq!(got[0].data["data"]["instanceId"], json!(their_instance));
        assert_eq!(got[0].data["data"]["content"], json!("theirs"));
        assert!(stream.next(QUIET).await.is_none());
    }
    assert!(my_stream.next(QUIET).await.is_none());
    s.stop().await;
}

async fn stream(
    s: &TestServer,
    key: Option<&str>,
    query: &str,
    last: Option<&str>,
) -> common::Reply {
    let mut req = s.http.get(format!("{}/v1/events/stream{query}", s.base));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(id) = last {
        req = req.header("Last-Event-ID", id);
    }
    TestServer::reply(req.send().await.unwrap()).await
}

async fn bad_stream_requests_get_the_envelope(backend: Backend) {
    let s = server(backend).await;
    let k = &s.default_key;
    let (account, theirs) = s.account("pro").await;
    let mine = linked(&s, k, ME, json!({})).await;
    stream(&s, Some(&theirs), &format!("?instanceId={mine}"), None)
        .await
        .assert_error(404, "instance_not_found");
    stream(&s, Some(k), "?events=message.received,message.nope", None)
        .await
        .assert_error(400, "invalid_webhook_events");
    let r = stream(&s, Some(k), "", Some("evt_not-an-id")).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(
        r.body["error"]["details"][0]["field"],
        json!("Last-Event-ID"),
        "{}",
        r.body
    );
    stream(&s, None, "", None)
        .await
        .assert_error(401, "missing_api_key");
    let no_read = s.scoped_key(&account, &["messages:read"]).await;
    stream(&s, Some(&no_read), "", None)
        .await
        .assert_error(403, "insufficient_permissions");
    s.stop().await;
}

/// At shutdown a stream ends at once (the client reconnects elsewhere or later and resumes),
/// instead of holding the server's drain until it is cut.
async fn streams_end_when_the_server_stops(backend: Backend) {
    let s = server(backend).await;
    let mut open = SseClient::open(&s, &s.default_key.clone(), "", None).await;
    let stopping = tokio::spawn(s.stop());
    // The drain of requests in flight is 3 s: ending well before it is the stream's own doing.
    assert!(open.ends_within(Duration::from_millis(1500)).await);
    stopping.await.unwrap();
}

/// PostgreSQL numbers rows as they are written, not as they commit: an event written by a
/// transaction that began first but commits last must still reach a stream that already
/// passed the other one (here the first transaction is held open by hand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn a_slow_commit_is_not_skipped_on_postgres() {
    use sqlx::Connection;
    let s = server(Backend::Postgres).await;
    let k = &s.default_key;
    let inst = linked(&s, k, ME, json!({})).await;
    let account = s.default_account().await;
    let mut stream = SseClient::open(&s, k, "?events=message.received", None).await;

    let mut slow = sqlx::PgConnection::connect(&s.db_url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    let slow_id = format!("evt_{}", ulid::Ulid::new().to_string().to_ascii_lowercase());
    let body = json!({"id": slow_id, "event": "message.received", "timestamp": "2026-01-01T00:00:00.000Z",
        "sequence": 0, "data": {"instanceId": inst, "content": "slow"}});
    sqlx::query(
        "INSERT INTO events (id, account_id, instance_id, event, body, created_at) \
         VALUES ($1, $2, $3, 'message.received', $4, 0)",
    )
    .bind(&slow_id)
    .bind(&account)
    .bind(&inst)
    .bind(body.to_string())
    .execute(&mut slow)
    .await
    .unwrap();

    inject(&s, k, ME, "fast").await; // begins later, commits first
    assert!(
        stream.next(QUIET).await.is_none(),
        "an event was handed out while an older transaction could still commit before it"
    );
    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    let got = stream.take(2, WITHIN).await;
    assert_eq!(got[0].id, slow_id);
    assert_eq!(got[1].data["data"]["content"], json!("fast"));
    s.stop().await;
}

/// A WebSocket of `/v1/events/ws` with `query`.
async fn socket(
    s: &TestServer,
    key: &str,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/v1/events/ws{query}", s.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade")
        .0
}

/// The next text message of a socket, as JSON, within `within`.
async fn next_envelope(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    within: Duration,
) -> Option<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(_))) => {}
            other => {
                eprintln!("socket: {other:?}");
                return None;
            }
        }
    }
}

/// The WebSocket carries what the SSE stream carries, resumes the same way, and refuses a
/// request that is not an upgrade with the envelope.
async fn the_websocket_carries_the_same_frames(backend: Backend) {
    let s = server(backend).await;
    let k = &s.default_key;
    let inst = linked(&s, k, ME, json!({})).await;
    let mut sse = SseClient::open(&s, k, "?events=message.received", None).await;
    let mut ws = socket(&s, k, "?events=message.received").await;
    inject(&s, k, ME, "one").await;
    inject(&s, k, ME, "two").await;
    let frames = sse.take(2, WITHIN).await;
    for f in &frames {
        let e = next_envelope(&mut ws, WITHIN)
            .await
            .expect("the socket got it");
        assert_eq!(e, f.data, "the same envelope");
    }
    drop(ws);
    let mut resumed = socket(
        &s,
        k,
        &format!("?events=message.received&lastEventId={}", frames[0].id),
    )
    .await;
    let e = next_envelope(&mut resumed, WITHIN)
        .await
        .expect("the missed one");
    assert_eq!(e["id"], json!(frames[1].id));
    assert_eq!(e["data"]["instanceId"], json!(inst));
    assert!(next_envelope(&mut resumed, QUIET).await.is_none());
    s.get("/v1/events/ws", k)
        .await
        .assert_error(400, "invalid_request");
    s.stop().await;
}

on_both_backends!(
    the_websocket_carries_the_same_frames,
    a_stream_resumes_where_it_left_off,
    every_event_is_streamed_and_filters_keep_what_they_name,
    an_account_never_sees_another_accounts_events,
    bad_stream_requests_get_the_envelope,
    streams_end_when_the_server_stops,
);
