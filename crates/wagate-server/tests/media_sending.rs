//! Media is fetched when its message is sent (§15.5), under the address rules of §15.6. Over HTTP
//! only: the sender talks to the API, a local file server plays the media host and a webhook
//! receiver, and a second sandbox instance receives what was sent.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode as Http, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{TestServer, eventually, linked};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_server::net_guard::StaticResolver;
use wagate_testkit::{Backend, on_both_backends};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
const MIB: u64 = 1024 * 1024;

/// The media host and webhook receiver: what it served and what it was sent.
#[derive(Clone, Default)]
struct Host {
    /// Requests for media, of any path.
    requests: Arc<AtomicU64>,
    /// Bytes the endless body has produced so far.
    streamed: Arc<AtomicU64>,
    /// Webhook bodies received.
    hooks: Arc<Mutex<Vec<Value>>>,
}

impl Host {
    fn count(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }
}

struct Files {
    base: String,
    host: Host,
}

async fn media_host() -> Files {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let host = Host::default();
    let app = Router::new()
        .route(
            "/pixel.png",
            get(
                |axum::extract::State(h): axum::extract::State<Host>| async move {
                    h.count();
                    ([(header::CONTENT_TYPE, "image/png")], PNG)
                },
            ),
        )
        .route(
            "/moved",
            get(
                |axum::extract::State(h): axum::extract::State<Host>| async move {
                    h.count();
                    (Http::FOUND, [(header::LOCATION, "/pixel.png")])
                },
            ),
        )
        .route(
            "/download",
            get(
                |axum::extract::State(h): axum::extract::State<Host>| async move {
                    h.count();
                    ([(header::CONTENT_TYPE, "application/octet-stream")], PDF)
                },
            ),
        )
        .route(
            "/report.pdf",
            get(
                |axum::extract::State(h): axum::extract::State<Host>| async move {
                    h.count();
                    ([(header::CONTENT_TYPE, "application/pdf")], PDF)
                },
            ),
        )
        // Declares 6 MiB, then sends 4 bytes and stalls: only a client that judges the
        // declared length before reading finishes quickly.
        .route(
            "/declared-large.png",
            get(
                |axum::extract::State(h): axum::extract::State<Host>| async move {
                    h.count();
                    let body = futures_util::stream::once(async {
                        Ok::<_, std::io::Error>(Bytes::from_static(b"\x89PNG"))
                    })
                    .chain(futures_util::stream::pending());
                    (
                        [
                            (header::CONTENT_TYPE, "image/png".to_owned()),
                            (header::CONTENT_LENGTH, (6 * MIB).to_string()),
                        ],
                        Body::from_stream(body),
                    )
                        .into_response()
                },
            ),
        )
        // Chunked, without a length, and never ending.
        .route(
            "/endless.png",
            get(
                |axum::extract::State(h): axum::extract::State<Host>| async move {
                    h.count();
                    let streamed = h.streamed.clone();
                    let body = futures_util::stream::repeat(()).map(move |_| {
                        streamed.fetch_add(ZEROS.len() as u64, Ordering::SeqCst);
                        Ok::<_, std::io::Error>(Bytes::from_static(&ZEROS))
                    });
                    (
                        [(header::CONTENT_TYPE, "image/png")],
                        Body::from_stream(body),
                    )
                },
            ),
        )
        .route(
            "/hook",
            post(
                |axum::extract::State(h): axum::extract::State<Host>,
                 axum::Json(v): axum::Json<Value>| async move {
                    h.hooks.lock().unwrap().push(v);
                    Http::OK
                },
            ),
        )
        .fallback(
            |axum::extract::State(h): axum::extract::State<Host>| async move {
                h.count();
                Http::NOT_FOUND
            },
        )
        .with_state(host.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Files {
        base: format!("http://{addr}"),
        host,
    }
}

/// A loopback address where nothing listens.
async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A sandbox server that may fetch from loopback (the file server lives there).
async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy.allow_private = true;
    })
    .await
}

async fn send(s: &TestServer, key: &str, body: Value) -> String {
    let r = s.post("/v1/messages/send", key, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], json!("queued"));
    r.body["messageId"].as_str().unwrap().to_owned()
}

/// The inbound message of `instance` with this caption.
async fn received(s: &TestServer, key: &str, instance: &str, caption: &str) -> Value {
    let h = eventually(
        s,
        key,
        &format!("/v1/messages?instanceId={instance}"),
        |b| {
            b["data"]
                .as_array()
                .is_some_and(|a| a.iter().any(|m| m["content"] == json!(caption)))
        },
    )
    .await;
    h.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"] == json!(caption))
        .cloned()
        .unwrap()
}

async fn fetched_media_reaches_the_receiver(backend: Backend) {
    let files = media_host().await;
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let b = linked(&s, &k, "5511900000002", json!({"autoRead": true})).await;

    let url = format!("{}/pixel.png", files.base);
    let id = send(&s, &k, json!({"instanceId": a, "to": "5511900000002", "mediaUrl": url, "mediaType": "image", "caption": "Olá"})).await;
    let st = eventually(&s, &k, &format!("/v1/messages/{id}/status"), |b| {
        b["data"]["status"] == json!("read")
    })
    .await;
    assert!(st.body["data"]["sentAt"].is_string(), "{}", st.body);
    assert!(st.body["data"].get("error").is_none(), "{}", st.body);
    let m = received(&s, &k, &b, "Olá").await;
    assert_eq!(m["type"], json!("image"));
    assert_eq!(m["media"]["url"], json!(url));
    assert_eq!(m["media"]["mimeType"], json!("image/png"));
    assert_eq!(
        m["media"]["size"],
        json!(PNG.len()),
        "the fetched bytes went out"
    );

    // A redirect is followed; a generic content type is settled by the file name.
    let moved = send(&s, &k, json!({"instanceId": a, "to": "5511900000002", "mediaUrl": format!("{}/moved", files.base), "mediaType": "image", "caption": "moved"})).await;
    let doc = send(&s, &k, json!({"instanceId": a, "to": "5511900000002", "mediaUrl": format!("{}/download", files.base), "mediaType": "document", "filename": "Invoice-2026-001.pdf", "caption": "invoice"})).await;
    for id in [moved, doc] {
        eventually(&s, &k, &format!("/v1/messages/{id}/status"), |b| {
            b["data"]["status"] == json!("read")
        })
        .await;
    }
    assert_eq!(
        received(&s, &k, &b, "moved").await["media"]["size"],
        json!(PNG.len())
    );
    let m = received(&s, &k, &b, "invoice").await;
    assert_eq!(m["media"]["mimeType"], json!("application/pdf"));
    assert_eq!(m["media"]["filename"], json!("Invoice-2026-001.pdf"));
    assert_eq!(m["media"]["size"], json!(PDF.len()));
    s.stop().await;
}

async fn unusable_media_fails_the_message(backend: Backend) {
    let files = media_host().await;
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let hook = format!("{}/hook", files.base);
    let r = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/instances/{a}"),
            Some(&k),
            Some(json!({"webhookUrl": hook, "webhookEvents": ["message.failed"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let refused = closed_port().await;
    let cases = [
        ("declared-large.png", "image", "media_too_large"),
        ("endless.png", "image", "media_too_large"),
        ("report.pdf", "image", "unsupported_media_format"),
        ("missing.png", "image", "media_fetch_failed"),
        ("", "image", "media_fetch_failed"), // connection refused
    ];
    let mut failed = Vec::new();
    for (path, kind, code) in cases {
        let url = match path {
            "" => format!("http://{refused}/pixel.png"),
            p => format!("{}/{p}", files.base),
        };
        let id = send(
            &s,
            &k,
            json!({"instanceId": a, "to": "5511988887777", "mediaUrl": url, "mediaType": kind}),
        )
        .await;
        failed.push((id, code, url));
    }
    // Failures do not hold the queue up: the next message still leaves.
    let ok = send(&s, &k, json!({"instanceId": a, "to": "5511988887777", "mediaUrl": format!("{}/pixel.png", files.base), "mediaType": "image"})).await;
    eventually(&s, &k, &format!("/v1/messages/{ok}/status"), |b| {
        b["data"]["status"] == json!("delivered") || b["data"]["status"] == json!("read")
    })
    .await;

    for (id, code, url) in &failed {
        let st = s.get(&format!("/v1/messages/{id}/status"), &k).await;
        let d = &st.body["data"];
        assert_eq!(d["status"], json!("failed"), "{url}: {d}");
        assert_eq!(d["error"]["code"], json!(code), "{url}: {d}");
        assert!(
            d["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{d}"
        );
        assert_eq!(d["sentAt"], json!(null), "{d}");
    }
    let st = s
        .get(&format!("/v1/messages/{}/status", failed[3].0), &k)
        .await;
    assert!(
        st.body["data"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{}",
        st.body
    );

    // The endless body was cut off: it stops growing, well short of forever.
    let streamed = files.host.streamed.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(files.host.streamed.load(Ordering::SeqCst), streamed);
    assert!(streamed < 64 * MIB, "read {streamed} bytes");

    // Each failure is a `message.failed` event with the same code.
    let mut events = Vec::new();
    for _ in 0..200 {
        events = files.host.hooks.lock().unwrap().clone();
        if events.len() >= failed.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (id, code, _) in &failed {
        let e = events
            .iter()
            .find(|e| e["data"]["messageId"] == json!(id))
            .unwrap_or_else(|| panic!("no message.failed for {id}: {events:?}"));
        assert_eq!(e["event"], json!("message.failed"));
        assert_eq!(e["data"]["status"], json!("failed"));
        assert_eq!(e["data"]["error"]["code"], json!(code), "{e}");
    }
    s.stop().await;
}

async fn private_media_addresses_are_refused_unless_allowed(backend: Backend) {
    let files = media_host().await;
    let resolver = Arc::new(StaticResolver::default());
    resolver.set("cdn.example", vec!["127.0.0.1".parse().unwrap()]);
    let s = TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy.allow_private = false;
        c.resolver = resolver.clone();
    })
    .await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let port = files.base.rsplit(':').next().unwrap();
    for url in [
        // A name that resolves to loopback.
        format!("https://cdn.example:{port}/pixel.png"),
        // A loopback literal.
        format!("{}/pixel.png", files.base),
        format!("https://127.0.0.1:{port}/pixel.png"),
    ] {
        let r = s
            .post(
                "/v1/messages/send",
                &k,
                json!({"instanceId": a, "to": "5511988887777", "mediaUrl": url, "mediaType": "image"}),
            )
            .await;
        r.assert_error(400, "invalid_media");
    }
    assert_eq!(
        files.host.requests.load(Ordering::SeqCst),
        0,
        "the media host was never contacted"
    );
    s.stop().await;
}

on_both_backends!(
    fetched_media_reaches_the_receiver,
    unusable_media_fails_the_message,
    private_media_addresses_are_refused_unless_allowed,
);
