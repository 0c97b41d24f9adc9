//! Connections at the TCP level (issue 13, item 1): what an idle, slow or greedy client gets.
//! Each test runs a server with short timeouts and small caps, and speaks HTTP by hand.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wagate_server::http::connections::ConnectionLimits;
use wagate_testkit::Backend;

const LIMITS: ConnectionLimits = ConnectionLimits {
    max_connections: 8,
    header_timeout: Duration::from_secs(1),
    body_timeout: Duration::from_secs(1),
    max_in_flight: 2,
};

async fn server() -> TestServer {
    TestServer::start_with(Backend::Sqlite, |c| c.connections = LIMITS).await
}

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(s.running().addr).await.unwrap()
}

/// Reads until the server closes the connection (or 5 s pass); returns what it sent and when
/// it closed, counted from `since`.
async fn until_closed(conn: &mut TcpStream, since: Instant) -> (String, Option<Duration>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = since + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&got).into(), Some(since.elapsed()));
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
        }
    }
}

fn closed_in_time(closed: Option<Duration>, timeout: Duration) {
    let closed = closed.expect("the server never closed the connection");
    assert!(
        closed >= timeout.mul_f32(0.8) && closed < timeout * 3,
        "closed after {closed:?}, the timeout is {timeout:?}"
    );
}

#[tokio::test]
async fn a_connection_that_never_sends_is_closed_within_the_header_timeout() {
    let s = server().await;
    let started = Instant::now();
    let mut conn = connect(&s).await;
    let (sent, closed) = until_closed(&mut conn, started).await;
    closed_in_time(closed, LIMITS.header_timeout);
    assert!(
        sent.is_empty() || sent.starts_with("HTTP/1.1 408"),
        "{sent}"
    );
}

#[tokio::test]
async fn headers_sent_a_line_at_a_time_do_not_keep_a_connection() {
    let s = server().await;
    let started = Instant::now();
    let mut conn = connect(&s).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A header line every 200 ms: the connection is never quiet, and never finishes its head.
    let (mut reader, mut writer) = conn.into_split();
    let trickle = tokio::spawn(async move {
        for i in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok();
    trickle.abort();
    closed_in_time(closed, LIMITS.header_timeout);
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_once_idle() {
    let s = server().await;
    let mut conn = connect(&s).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    let answered = Instant::now();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "the request is answered and the connection kept"
    );
    let (_, closed) = until_closed(&mut conn, answered).await;
    closed_in_time(closed, LIMITS.header_timeout);
}

#[tokio::test]
async fn a_connection_over_the_cap_is_closed_at_once_and_the_cap_frees_up() {
    let s = server().await;
    let mut idle = Vec::new();
    for _ in 0..LIMITS.max_connections {
        idle.push(connect(&s).await);
    }
    // Let the server accept them all before the one over the cap.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut over = connect(&s).await;
    let _ = over
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (sent, closed) = until_closed(&mut over, started).await;
    let closed = closed.expect("the connection over the cap was kept");
    assert!(
        closed < Duration::from_millis(500),
        "closed after {closed:?}"
    );
    assert!(sent.is_empty(), "nothing is served over the cap: {sent}");

    // The idle ones are closed by the header timeout; then there is room again.
    tokio::time::sleep(LIMITS.header_timeout * 2).await;
    let health = s.http.get(format!("{}/healthz", s.base)).send().await;
    assert_eq!(health.unwrap().status(), 200);
    drop(idle);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_a_408() {
    let s = server().await;
    let mut conn = connect(&s).await;
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
        s.default_key
    );
    let started = Instant::now();
    conn.write_all(head.as_bytes()).await.unwrap();
    let (sent, closed) = until_closed(&mut conn, started).await;
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("\"code\":\"request_timeout\""), "{sent}");
    assert!(
        sent.to_ascii_lowercase().contains("x-request-id: req_"),
        "{sent}"
    );
    let closed = closed.expect("closed after the 408");
    assert!(closed < LIMITS.body_timeout * 3, "{closed:?}");
}

#[tokio::test]
async fn requests_over_the_in_flight_cap_are_503_with_retry_after_but_health_answers() {
    let s = server().await;
    // Two requests whose bodies never finish hold both places for the body timeout.
    let mut holders = Vec::new();
    for _ in 0..LIMITS.max_in_flight {
        let mut conn = connect(&s).await;
        let head = format!(
            "POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
            s.default_key
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        holders.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = s.get("/v1/instances", &s.default_key).await;
    refused.assert_error(503, "service_unavailable");
    assert_eq!(refused.header("retry-after"), Some("1"));
    let health = s.http.get(format!("{}/healthz", s.base)).send().await;
    assert_eq!(health.unwrap().status(), 200, "health routes skip the cap");

    // Once the slow bodies time out, their places are free again.
    tokio::time::sleep(LIMITS.body_timeout * 2).await;
    let r = s.get("/v1/instances", &s.default_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    drop(holders);
}

/// A URI or headers over the limits get the envelope with a request id, not hyper's bare
/// answer.
#[tokio::test]
async fn an_oversized_request_head_gets_the_envelope() {
    let s = server().await;
    let long = format!("/v1/instances?x={}", "a".repeat(9 * 1024));
    let r = s.get(&long, &s.default_key).await;
    r.assert_error(414, "uri_too_long");
    let mut req = s
        .http
        .get(format!("{}/v1/instances", s.base))
        .bearer_auth(&s.default_key);
    for i in 0..150 {
        req = req.header(format!("x-extra-{i}"), "y");
    }
    let r = TestServer::reply(req.send().await.unwrap()).await;
    r.assert_error(431, "headers_too_large");
    let r = s.get("/v1/instances", &s.default_key).await;
    assert_eq!(r.status, 200, "{}", r.body);
}
