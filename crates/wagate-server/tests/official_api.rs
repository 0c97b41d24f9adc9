//! The official engine (Meta's WhatsApp Cloud API) over HTTP, against a fake Graph API
//! (wiremock): connecting, the exact request bodies Meta documents, error codes, Meta's
//! webhooks (handshake, signatures, statuses, inbound text and media), restarts, and that the
//! access token never leaves in clear text.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Reply, TestServer};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use wagate_core::net::UrlPolicy;
use wagate_engines::cloud_api::Backoff;
use wagate_testkit::{Backend, on_both_backends};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PNID: &str = "106540352242922";
const WABA: &str = "102290129340398";
const TOKEN: &str = "EAAJB9test0fficialT0ken7f3a9c";
const APP_SECRET: &str = "instance-app-secret-4711";
const VERIFY_TOKEN: &str = "verify-me-please";
const CUSTOMER: &str = "5511988887777";

/// Answers each send with a new `wamid.OUT<n>`.
struct Wamids(AtomicUsize);

impl Respond for Wamids {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}],
            "messages": [{"id": format!("wamid.OUT{n}")}]
        }))
    }
}

fn meta_error(code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    }))
}

struct Env {
    s: TestServer,
    graph: MockServer,
    hooks: MockServer,
}

/// A server whose Graph API is a local fake that knows `PNID` with `TOKEN`, and a receiver for
/// wagate's own webhooks.
async fn env(backend: Backend) -> Env {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/{PNID}")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "display_phone_number": "+1 555-000-1111",
            "verified_name": "Acme Store",
            "id": PNID
        })))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{PNID}")))
        .respond_with(meta_error(
            190,
            "Invalid OAuth access token - Cannot parse access token",
        ))
        .with_priority(10)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/{PNID}/messages")))
        .respond_with(Wamids(AtomicUsize::new(0)))
        .with_priority(10)
        .mount(&graph)
        .await;
    let hooks = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hooks)
        .await;
    let url = graph.uri();
    let s = TestServer::start_with(backend, |c| configure(c, &url)).await;
    Env { s, graph, hooks }
}

fn configure(c: &mut wagate_server::ServerConfig, graph_url: &str) {
    c.meta.graph_url = graph_url.to_owned();
    c.meta.verify_token = Some(VERIFY_TOKEN.into());
    c.meta.backoff = Backoff {
        attempts: 3,
        first: Duration::from_millis(10),
    };
    c.url_policy = UrlPolicy {
        allow_private: true,
    };
}

impl Env {
    fn key(&self) -> String {
        self.s.default_key.clone()
    }

    /// An instance whose events go to the hook receiver; returns its id.
    async fn instance(&self, settings: Value) -> String {
        let r = self
            .s
            .post(
                "/v1/instances",
                &self.key(),
                json!({"name": "official", "settings": settings,
                       "webhookUrl": format!("{}/hook", self.hooks.uri()),
                       "webhookEvents": ["message.received", "message.sent", "message.delivered",
                                         "message.read", "message.failed", "instance.connected"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["data"]["id"].as_str().unwrap().to_owned()
    }

    async fn connect(&self, id: &str, extra: Value) -> Reply {
        let mut body = json!({"method": "official", "businessId": WABA,
                              "phoneNumberId": PNID, "accessToken": TOKEN});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap_or_default());
        self.s
            .post(&format!("/v1/instances/{id}/connect"), &self.key(), body)
            .await
    }

    /// A connected official instance (with its own app secret).
    async fn connected(&self, settings: Value) -> String {
        let id = self.instance(settings).await;
        let r = self.connect(&id, json!({"appSecret": APP_SECRET})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        id
    }

    async fn send(&self, body: Value) -> String {
        let r = self.s.post("/v1/messages/send", &self.key(), body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["messageId"].as_str().unwrap().to_owned()
    }

    /// Polls a message's status until it is `status`; returns the status body.
    async fn status_becomes(&self, msg: &str, status: &str) -> Value {
        let p = format!("/v1/messages/{msg}/status");
        for _ in 0..200 {
            let r = self.s.get(&p, &self.key()).await;
            if r.body["data"]["status"] == json!(status) {
                return r.body["data"].clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{msg} never became {status}: {}",
            self.s.get(&p, &self.key()).await.body
        );
    }

    /// The JSON bodies the fake Graph API received on `POST /{PNID}/messages`.
    async fn graph_posts(&self) -> Vec<Value> {
        self.graph
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == format!("/{PNID}/messages"))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    /// Bodies of wagate's webhook deliveries of `event` (waits for `n` of them).
    async fn hook_events(&self, event: &str, n: usize) -> Vec<Value> {
        let mut got = Vec::new();
        for _ in 0..200 {
            got = self
                .hooks
                .received_requests()
                .await
                .unwrap_or_default()
                .iter()
                .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
                .filter(|b| b["event"] == json!(event))
                .collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("fewer than {n} {event} deliveries: {got:?}");
    }

    /// POSTs a Meta webhook with the given signature header (None: no header).
    async fn meta_webhook(&self, body: &Value, signature: Option<String>) -> Reply {
        let mut req = self
            .s
            .http
            .post(format!("{}/meta/webhook", self.s.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        TestServer::reply(req.send().await.unwrap()).await
    }

    async fn signed_webhook(&self, body: &Value) -> Reply {
        self.meta_webhook(body, Some(sign(APP_SECRET, body.to_string().as_bytes())))
            .await
    }

    /// Meta holds media `id`: its lookup answers a download URL, and the download (with the
    /// access token, as Meta requires) `bytes` labelled `mime`.
    async fn meta_media(&self, id: &str, mime: &str, bytes: &[u8]) {
        let auth = format!("Bearer {TOKEN}");
        Mock::given(method("GET"))
            .and(path(format!("/{id}")))
            .and(header("authorization", auth.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "messaging_product": "whatsapp", "url": format!("{}/download/{id}", self.graph.uri()),
                "mime_type": mime, "sha256": "x", "file_size": bytes.len().to_string(), "id": id})))
            .mount(&self.graph)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/download/{id}")))
            .and(header("authorization", auth.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", mime)
                    .set_body_bytes(bytes.to_vec()),
            )
            .mount(&self.graph)
            .await;
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A `POST /{phone-number-id}/messages` body to the customer, with `extra`'s fields.
fn to_customer(extra: Value) -> Value {
    let mut b =
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap());
    b
}

/// Meta's `messages` webhook for `pnid` with `value`'s statuses/messages.
fn notification(pnid: &str, value: Value) -> Value {
    let mut v = json!({"messaging_product": "whatsapp",
                       "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid}});
    v.as_object_mut()
        .unwrap()
        .extend(value.as_object().cloned().unwrap_or_default());
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": WABA, "changes": [{"field": "messages", "value": v}]}]})
}

fn status(wamid: &str, status: &str) -> Value {
    notification(
        PNID,
        json!({"statuses": [{"id": wamid, "status": status, "timestamp": "1700000100",
                             "recipient_id": CUSTOMER}]}),
    )
}

async fn connect_checks_credentials_with_meta(backend: Backend) {
    let e = env(backend).await;
    let k = e.key();
    let id = e.instance(json!({})).await;
    // Refused by Meta.
    let r = e
        .connect(&id, json!({"accessToken": "EAAJB9-a-revoked-token-000"}))
        .await;
    r.assert_error(400, "invalid_official_credentials");
    let st = e.s.get(&format!("/v1/instances/{id}"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("disconnected"));
    // Missing or malformed fields never reach Meta.
    let r =
        e.s.post(
            &format!("/v1/instances/{id}/connect"),
            &k,
            json!({"method": "official", "businessId": WABA, "accessToken": TOKEN}),
        )
        .await;
    r.assert_error(400, "invalid_request");
    assert_eq!(
        r.body["error"]["details"][0]["field"],
        json!("phoneNumberId")
    );
    // Accepted.
    let r = e.connect(&id, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "status": "connected", "qrCode": null, "qrCodeExpiresAt": null,
               "phone": "15550001111", "profileName": "Acme Store"})
    );
    let st = e.s.get(&format!("/v1/instances/{id}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("connected"));
    assert_eq!(st.body["data"]["connectionMethod"], json!("official"));
    assert_eq!(st.body["data"]["phone"], json!("15550001111"));
    assert_eq!(st.body["data"]["profileName"], json!("Acme Store"));
    e.s.get(&format!("/v1/instances/{id}/qrcode"), &k)
        .await
        .assert_error(409, "official_api_instance");
    e.connect(&id, json!({}))
        .await
        .assert_error(409, "already_connected");
    // One number serves one instance: webhooks are routed by it.
    let second = e.instance(json!({})).await;
    let r = e.connect(&second, json!({})).await;
    r.assert_error(400, "invalid_official_credentials");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another instance")
    );
    // The check sent the token as a bearer token, to the number's node.
    let checks: Vec<_> = e
        .graph
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "GET")
        .collect();
    assert_eq!(checks.len(), 2);
    assert_eq!(
        checks[1].headers.get("authorization").unwrap(),
        &format!("Bearer {TOKEN}")
    );
    e.s.stop().await;
}

async fn sends_the_bodies_meta_documents(backend: Backend) {
    let e = env(backend).await;
    let id = e.connected(json!({"autoTyping": true})).await;
    let text = e
        .send(json!({"instanceId": id, "to": CUSTOMER, "message": "Olá! Seu pedido saiu."}))
        .await;
    e.status_becomes(&text, "sent").await;
    let image = e
        .send(
            json!({"instanceId": id, "to": CUSTOMER, "mediaUrl": "https://cdn.example.com/p.jpg",
                     "mediaType": "image", "caption": "Seu produto"}),
        )
        .await;
    let doc = e
        .send(
            json!({"instanceId": id, "to": CUSTOMER, "mediaUrl": "https://cdn.example.com/nf.pdf",
                     "mediaType": "document", "caption": "Nota fiscal", "filename": "nf-123.pdf"}),
        )
        .await;
    let reply = e
        .send(
            json!({"instanceId": id, "to": CUSTOMER, "message": "Respondendo",
                     "quotedMessageId": text}),
        )
        .await;
    let template = e
        .send(json!({"instanceId": id, "to": CUSTOMER, "template": {
            "name": "order_update", "language": "pt_BR",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "123"}]}]}}))
        .await;
    for m in [&image, &doc, &reply, &template] {
        e.status_becomes(m, "sent").await;
    }
    let with = to_customer;
    assert_eq!(
        e.graph_posts().await,
        vec![
            with(
                json!({"type": "text", "text": {"preview_url": false, "body": "Olá! Seu pedido saiu."}})
            ),
            with(
                json!({"type": "image", "image": {"link": "https://cdn.example.com/p.jpg", "caption": "Seu produto"}})
            ),
            with(
                json!({"type": "document", "document": {"link": "https://cdn.example.com/nf.pdf",
                        "caption": "Nota fiscal", "filename": "nf-123.pdf"}})
            ),
            // The reply quotes the wamid Meta gave the first message.
            with(
                json!({"type": "text", "text": {"preview_url": false, "body": "Respondendo"},
                        "context": {"message_id": "wamid.OUT1"}})
            ),
            with(
                json!({"type": "template", "template": {"name": "order_update",
                        "language": {"code": "pt_BR"},
                        "components": [{"type": "body", "parameters": [{"type": "text", "text": "123"}]}]}})
            ),
        ]
    );
    let h =
        e.s.get(&format!("/v1/messages?instanceId={id}"), &e.key())
            .await;
    let t = h.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["messageId"] == json!(template))
        .unwrap()
        .clone();
    assert_eq!(t["type"], json!("template"), "{t}");
    assert_eq!(t["content"], json!("order_update"));
    assert_eq!(t["template"]["language"], json!("pt_BR"));
    // Templates need an official instance; the rest of the body stays validated.
    let r = e
        .s
        .post(
            "/v1/messages/send",
            &e.key(),
            json!({"instanceId": id, "to": CUSTOMER, "template": {"name": "Bad Name", "language": "en"}}),
        )
        .await;
    r.assert_error(400, "invalid_request");
    e.s.stop().await;
}

async fn meta_errors_fail_messages_with_clear_codes(backend: Backend) {
    let e = env(backend).await;
    let id = e.connected(json!({"autoTyping": false})).await;
    let cases = [
        (
            "5511000000190",
            meta_error(190, "Error validating access token"),
            "official_token_invalid",
        ),
        (
            "5511000131047",
            meta_error(131047, "Re-engagement message"),
            "outside_conversation_window",
        ),
        (
            "5511000131026",
            meta_error(131026, "Message undeliverable"),
            "recipient_not_on_whatsapp",
        ),
        (
            "5511000130429",
            meta_error(130429, "Rate limit hit"),
            "rate_limited",
        ),
    ];
    for (to, answer, _) in &cases {
        Mock::given(method("POST"))
            .and(path(format!("/{PNID}/messages")))
            .and(body_partial_json(json!({"to": to})))
            .respond_with(answer.clone())
            .mount(&e.graph)
            .await;
    }
    for (to, _, code) in &cases {
        let m = e
            .send(json!({"instanceId": id, "to": to, "message": "hi"}))
            .await;
        let st = e.status_becomes(&m, "failed").await;
        assert_eq!(st["error"]["code"], json!(code), "{to}: {st}");
        assert!(!st["error"]["message"].as_str().unwrap().is_empty());
    }
    let posts = e.graph_posts().await;
    let tries = |to: &str| posts.iter().filter(|b| b["to"] == json!(to)).count();
    // Throttling is retried (3 tries in all here), the others fail at once.
    assert_eq!(tries("5511000130429"), 3);
    assert_eq!(tries("5511000131047"), 1);
    // And `message.failed` carries the code.
    let failed = e.hook_events("message.failed", 4).await;
    let codes: Vec<_> = failed
        .iter()
        .map(|f| f["data"]["error"]["code"].clone())
        .collect();
    for (_, _, code) in &cases {
        assert!(codes.contains(&json!(code)), "{codes:?}");
    }
    e.s.stop().await;
}

async fn signed_status_webhooks_move_messages(backend: Backend) {
    let e = env(backend).await;
    let k = e.key();
    let id = e.connected(json!({"autoTyping": false})).await;
    let m = e
        .send(json!({"instanceId": id, "to": CUSTOMER, "message": "hi", "metadata": {"order": 7}}))
        .await;
    e.status_becomes(&m, "sent").await;
    let delivered = status("wamid.OUT1", "delivered");
    // Unsigned, wrongly signed, signed with another secret: 401 and nothing changes.
    e.meta_webhook(&delivered, None)
        .await
        .assert_error(401, "invalid_signature");
    e.meta_webhook(&delivered, Some("sha256=00ff".into()))
        .await
        .assert_error(401, "invalid_signature");
    e.meta_webhook(
        &delivered,
        Some(sign(
            "another-secret-0000",
            delivered.to_string().as_bytes(),
        )),
    )
    .await
    .assert_error(401, "invalid_signature");
    let st = e.s.get(&format!("/v1/messages/{m}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("sent"));
    // Each refusal is counted.
    let metrics = e.s.metrics().await;
    assert!(
        metrics.contains(r#"wagate_meta_webhooks_rejected_total{reason="missing"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"wagate_meta_webhooks_rejected_total{reason="mismatch"} 2"#));
    // Signed: delivered, then read.
    let r = e.signed_webhook(&delivered).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    e.status_becomes(&m, "delivered").await;
    let r = e.signed_webhook(&status("wamid.OUT1", "read")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    e.status_becomes(&m, "read").await;
    let d = e.hook_events("message.delivered", 1).await;
    assert_eq!(d[0]["data"]["messageId"], json!(m));
    assert_eq!(d[0]["data"]["metadata"], json!({"order": 7}));
    let rd = e.hook_events("message.read", 1).await;
    assert_eq!(rd[0]["data"]["messageId"], json!(m));
    // A later `failed` status (after sent) fails the message with the mapped code.
    let m2 = e
        .send(json!({"instanceId": id, "to": CUSTOMER, "message": "again"}))
        .await;
    e.status_becomes(&m2, "sent").await;
    let failed = notification(
        PNID,
        json!({"statuses": [{"id": "wamid.OUT2", "status": "failed", "timestamp": "1700000200",
                             "recipient_id": CUSTOMER,
                             "errors": [{"code": 131047, "title": "Re-engagement message"}]}]}),
    );
    assert_eq!(e.signed_webhook(&failed).await.status, StatusCode::OK);
    let st = e.status_becomes(&m2, "failed").await;
    assert_eq!(st["error"]["code"], json!("outside_conversation_window"));
    // Unknown numbers are acknowledged and ignored.
    let other = notification(
        "999999999",
        json!({"statuses": [{"id": "wamid.OUT1", "status": "failed", "timestamp": "1", "recipient_id": CUSTOMER}]}),
    );
    let r = e.signed_webhook(&other).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let st = e.s.get(&format!("/v1/messages/{m}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("read"));
    e.s.stop().await;
}

async fn inbound_text_and_media_are_received(backend: Backend) {
    let e = env(backend).await;
    let k = e.key();
    let id = e.connected(json!({"autoRead": true})).await;
    let jpeg = b"\xff\xd8\xff\xe0fake-jpeg-bytes".to_vec();
    e.meta_media("4242", "image/jpeg", &jpeg).await;
    let inbound = notification(
        PNID,
        json!({"contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}],
        "messages": [
          {"from": CUSTOMER, "id": "wamid.IN1", "timestamp": "1700000000", "type": "text",
           "text": {"body": "Oi, tudo bem?"}},
          {"from": CUSTOMER, "id": "wamid.IN2", "timestamp": "1700000001", "type": "image",
           "image": {"id": "4242", "mime_type": "image/jpeg", "sha256": "x", "caption": "olha"}}
        ]}),
    );
    let r = e.signed_webhook(&inbound).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A redelivery stores nothing twice.
    assert_eq!(e.signed_webhook(&inbound).await.status, StatusCode::OK);
    let got = e.hook_events("message.received", 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let text = &got[0]["data"];
    assert_eq!(text["instanceId"], json!(id));
    assert_eq!(text["from"], json!(CUSTOMER));
    assert_eq!(text["fromName"], json!("Ana"));
    assert_eq!(text["to"], json!("15550001111"));
    assert_eq!(text["type"], json!("text"));
    assert_eq!(text["content"], json!("Oi, tudo bem?"));
    let image = &got[1]["data"];
    assert_eq!(image["type"], json!("image"));
    assert_eq!(image["content"], json!("olha"));
    assert_eq!(image["media"]["mimeType"], json!("image/jpeg"));
    assert_eq!(image["media"]["size"], json!(jpeg.len()));
    let url = image["media"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/v1/media/med_", e.s.base)),
        "{url}"
    );
    // The account downloads it with its key; another account cannot.
    let dl = e.s.http.get(&url).bearer_auth(&k).send().await.unwrap();
    assert_eq!(dl.status(), StatusCode::OK);
    assert_eq!(dl.headers()["content-type"], "image/jpeg");
    assert_eq!(dl.headers()["x-content-type-options"], "nosniff");
    assert!(
        dl.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    assert_eq!(dl.bytes().await.unwrap().to_vec(), jpeg);
    let (_, other) = e.s.account("pro").await;
    let r = TestServer::reply(e.s.http.get(&url).bearer_auth(&other).send().await.unwrap()).await;
    r.assert_error(404, "not_found");
    let r = TestServer::reply(e.s.http.get(&url).send().await.unwrap()).await;
    r.assert_error(401, "missing_api_key");
    // History has both, once each.
    let h = e.s.get(&format!("/v1/messages?instanceId={id}"), &k).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 2, "{}", h.body);
    // autoRead told Meta both were read.
    for _ in 0..100 {
        if e.graph_posts().await.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        e.graph_posts().await,
        vec![
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"}),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN2"}),
        ]
    );
    e.s.stop().await;
}

/// A sender's file is never served as a page of ours: a document Meta labels `text/html` is
/// served as `application/octet-stream`, not sniffed, and as an attachment with a tame name.
async fn received_media_of_a_foreign_type_is_served_as_bytes(backend: Backend) {
    let e = env(backend).await;
    let k = e.key();
    e.connected(json!({})).await;
    let html = b"<script>alert(document.cookie)</script>".to_vec();
    e.meta_media("5151", "text/html", &html).await;
    let inbound = notification(
        PNID,
        json!({"contacts": [{"profile": {"name": "Eve"}, "wa_id": CUSTOMER}],
        "messages": [
          {"from": CUSTOMER, "id": "wamid.HTML", "timestamp": "1700000002", "type": "document",
           "document": {"id": "5151", "mime_type": "text/html", "sha256": "x",
                        "filename": "x\"; y=\"../../page.html"}}
        ]}),
    );
    let r = e.signed_webhook(&inbound).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let got = e.hook_events("message.received", 1).await;
    let url = got[0]["data"]["media"]["url"].as_str().unwrap().to_owned();
    let dl = e.s.http.get(&url).bearer_auth(&k).send().await.unwrap();
    assert_eq!(dl.status(), StatusCode::OK);
    let h = dl.headers().clone();
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"xy....page.html\""
    );
    assert_eq!(dl.bytes().await.unwrap().to_vec(), html);
    e.s.stop().await;
}

async fn verification_handshake_needs_the_verify_token(backend: Backend) {
    let e = env(backend).await;
    let get = |q: String| {
        let url = format!("{}/meta/webhook?{q}", e.s.base);
        let http = e.s.http.clone();
        async move { TestServer::reply(http.get(url).send().await.unwrap()).await }
    };
    let ok = get(format!(
        "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
    ))
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.header("content-type").unwrap().starts_with("text/plain"));
    // `Reply` parses the body as JSON when it can: the challenge is the bare number.
    assert_eq!(ok.body, json!(1158201444));
    get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1".into())
        .await
        .assert_error(403, "invalid_verify_token");
    get("hub.mode=subscribe&hub.challenge=1".into())
        .await
        .assert_error(403, "invalid_verify_token");
    get(format!(
        "hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"
    ))
    .await
    .assert_error(403, "invalid_verify_token");
    e.s.stop().await;
}

async fn resumes_after_restart_and_disconnect_forgets(backend: Backend) {
    let e = env(backend).await;
    let k = e.key();
    let id = e.connected(json!({"autoTyping": false})).await;
    let Env { s, graph, hooks } = e;
    let url = graph.uri();
    let s = s.restart_with(|c| configure(c, &url)).await;
    let e = Env { s, graph, hooks };
    let st = async {
        for _ in 0..200 {
            let r = e.s.get(&format!("/v1/instances/{id}/status"), &k).await;
            if r.body["data"]["status"] == json!("connected") {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("not connected after restart");
    }
    .await;
    assert_eq!(st.body["data"]["phone"], json!("15550001111"));
    let m = e
        .send(json!({"instanceId": id, "to": CUSTOMER, "message": "after restart"}))
        .await;
    e.status_becomes(&m, "sent").await;
    // Webhooks route to it again.
    assert_eq!(
        e.signed_webhook(&status("wamid.OUT1", "delivered"))
            .await
            .status,
        StatusCode::OK
    );
    e.status_becomes(&m, "delivered").await;
    // Disconnect forgets the credentials.
    let r =
        e.s.post(&format!("/v1/instances/{id}/disconnect"), &k, json!({}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let st = e.s.get(&format!("/v1/instances/{id}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("disconnected"));
    e.s.post(
        "/v1/messages/send",
        &k,
        json!({"instanceId": id, "to": CUSTOMER, "message": "x"}),
    )
    .await
    .assert_error(409, "instance_not_connected");
    e.s.post(&format!("/v1/instances/{id}/restart"), &k, json!({}))
        .await
        .assert_error(409, "no_saved_session");
    // Its number's webhooks are now ignored (acknowledged).
    let r = e.signed_webhook(&status("wamid.OUT1", "read")).await;
    assert_eq!(r.status, StatusCode::OK);
    let st = e.s.get(&format!("/v1/messages/{m}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("delivered"));
    e.s.stop().await;
}

/// Captures every log line of this test binary.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .try_init();
}

/// Every stored byte of the test database, as text: the SQLite files, or each PostgreSQL row.
async fn database_text(s: &TestServer) -> String {
    let url = s.db_url();
    if let Some(file) = url.strip_prefix("sqlite://") {
        let file = file.split('?').next().unwrap();
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(b) = std::fs::read(format!("{file}{suffix}")) {
                all.extend(b);
            }
        }
        return String::from_utf8_lossy(&all).into_owned();
    }
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "instances"), "{tables:?}");
    let mut all = String::new();
    for t in tables {
        let sql = format!("SELECT t::text AS row FROM {t} t");
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            all.push_str(&r.get::<String, _>("row"));
            all.push('\n');
        }
    }
    all
}

async fn access_token_never_leaves_in_clear(backend: Backend) {
    capture_logs();
    let e = env(backend).await;
    let k = e.key();
    let id = e.instance(json!({})).await;
    let mut replies = vec![
        e.connect(&id, json!({"accessToken": "EAAJB9-a-revoked-token-000"}))
            .await,
    ];
    replies.push(e.connect(&id, json!({"appSecret": APP_SECRET})).await);
    let m = e
        .send(json!({"instanceId": id, "to": CUSTOMER, "message": "hi"}))
        .await;
    e.status_becomes(&m, "sent").await;
    for p in [
        format!("/v1/instances/{id}"),
        format!("/v1/instances/{id}/status"),
        "/v1/instances".to_owned(),
        format!("/v1/messages/{m}/status"),
        format!("/v1/messages?instanceId={id}"),
    ] {
        replies.push(e.s.get(&p, &k).await);
    }
    for r in &replies {
        let text = r.body.to_string();
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains(APP_SECRET), "{text}");
    }
    let db = database_text(&e.s).await;
    assert!(db.contains("official"), "the dump reads the database");
    assert!(
        !db.contains(TOKEN),
        "the token is in the database in clear text"
    );
    assert!(
        !db.contains(APP_SECRET),
        "the app secret is in the database in clear text"
    );
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    assert!(logs.contains(&id), "logs were captured");
    assert!(!logs.contains(TOKEN), "the token is in a log line");
    e.s.stop().await;
}

on_both_backends!(
    connect_checks_credentials_with_meta,
    sends_the_bodies_meta_documents,
    meta_errors_fail_messages_with_clear_codes,
    signed_status_webhooks_move_messages,
    inbound_text_and_media_are_received,
    received_media_of_a_foreign_type_is_served_as_bytes,
    verification_handshake_needs_the_verify_token,
    resumes_after_restart_and_disconnect_forgets,
    access_token_never_leaves_in_clear,
    the_other_kinds_go_and_come_as_meta_documents_them,
    groups_are_not_supported,
);

/// Meta's Groups API is open to few accounts: every group route of an `official` instance
/// answers 409 `not_supported_by_connection`, and Meta is not asked.
async fn groups_are_not_supported(backend: Backend) {
    let e = env(backend).await;
    let k = e.key();
    let id = e.connected(json!({})).await;
    let before = e.graph.received_requests().await.unwrap_or_default().len();
    let gid = "120363025246125486@g.us";
    let q = format!("?instanceId={id}");
    let body = json!({"instanceId": id});
    let with = |extra: Value| {
        let mut b = body.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().cloned().unwrap());
        b
    };
    let calls = [
        (reqwest::Method::GET, format!("/v1/groups{q}"), None),
        (
            reqwest::Method::POST,
            "/v1/groups".to_owned(),
            Some(with(json!({"subject": "Team", "participants": [CUSTOMER]}))),
        ),
        (reqwest::Method::GET, format!("/v1/groups/{gid}{q}"), None),
        (
            reqwest::Method::PATCH,
            format!("/v1/groups/{gid}"),
            Some(with(json!({"subject": "Team"}))),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/groups/{gid}/participants"),
            Some(with(json!({"action": "add", "participants": [CUSTOMER]}))),
        ),
        (
            reqwest::Method::GET,
            format!("/v1/groups/{gid}/invite{q}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/groups/{gid}/invite/revoke"),
            Some(body.clone()),
        ),
        (
            reqwest::Method::POST,
            "/v1/groups/join".to_owned(),
            Some(with(json!({"code": "AAAAAAAAAAAAAAAAAAAAAA"}))),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/groups/{gid}/leave"),
            Some(body.clone()),
        ),
    ];
    for (method, path, body) in calls {
        let r = e.s.call(method.clone(), &path, Some(&k), body).await;
        assert_eq!(
            r.status,
            StatusCode::CONFLICT,
            "{method} {path}: {}",
            r.body
        );
        r.assert_error(409, "not_supported_by_connection");
    }
    let after = e.graph.received_requests().await.unwrap_or_default().len();
    assert_eq!(before, after, "Meta was asked about groups");
}

/// §17.1 on Meta's Cloud API: locations, contact cards, stickers and reactions are sent with the
/// bodies Meta documents; a poll, an edit or a delete, which Meta lacks, answers 409; and what a customer sends of
/// those kinds (and of kinds wagate does not model) is stored and reported.
async fn the_other_kinds_go_and_come_as_meta_documents_them(backend: Backend) {
    let e = env(backend).await;
    let k = e.key();
    let id = e.connected(json!({})).await;
    // The customer writes first; wagate will react to it.
    let r = e
        .signed_webhook(&notification(
            PNID,
            json!({"messages": [{"from": CUSTOMER, "id": "wamid.IN1", "timestamp": "1700000000",
                "type": "text", "text": {"body": "Chegou!"}}]}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let got = e.hook_events("message.received", 1).await;
    let inbound = got[0]["data"]["messageId"].as_str().unwrap().to_owned();

    let sent = [
        json!({"location": {"latitude": -23.55, "longitude": -46.63, "name": "Loja", "address": "Rua A, 1"}}),
        json!({"contacts": [{"name": "Suporte", "phones": ["551140041234"], "organization": "Acme", "email": "s@acme.com"}]}),
        json!({"mediaUrl": "https://cdn.example.com/s.webp", "mediaType": "sticker"}),
        json!({"reaction": {"messageId": inbound, "emoji": "🎉"}}),
        json!({"mediaUrl": "https://cdn.example.com/c.mp4", "mediaType": "video", "caption": "Unboxing"}),
        json!({"mediaUrl": "https://cdn.example.com/a.mp3", "mediaType": "audio", "caption": "dropped"}),
        json!({"mediaUrl": "https://cdn.example.com/v.ogg", "mediaType": "audio", "voiceNote": true}),
    ];
    let mut ids = Vec::new();
    for mut body in sent {
        body["instanceId"] = json!(id);
        body["to"] = json!(CUSTOMER);
        ids.push(e.send(body).await);
    }
    for m in &ids {
        e.status_becomes(m, "sent").await;
    }
    let with = to_customer;
    assert_eq!(
        e.graph_posts().await,
        vec![
            with(
                json!({"type": "location", "location": {"latitude": -23.55, "longitude": -46.63,
                "name": "Loja", "address": "Rua A, 1"}})
            ),
            with(json!({"type": "contacts", "contacts": [{
                "name": {"formatted_name": "Suporte", "first_name": "Suporte"},
                "phones": [{"phone": "+551140041234", "wa_id": "551140041234", "type": "CELL"}],
                "org": {"company": "Acme"},
                "emails": [{"email": "s@acme.com", "type": "WORK"}]}]})),
            with(json!({"type": "sticker", "sticker": {"link": "https://cdn.example.com/s.webp"}})),
            with(
                json!({"type": "reaction", "reaction": {"message_id": "wamid.IN1", "emoji": "🎉"}})
            ),
            with(
                json!({"type": "video", "video": {"link": "https://cdn.example.com/c.mp4", "caption": "Unboxing"}})
            ),
            // Meta's audio takes no caption, and a voice note is audio to it.
            with(json!({"type": "audio", "audio": {"link": "https://cdn.example.com/a.mp3"}})),
            with(json!({"type": "audio", "audio": {"link": "https://cdn.example.com/v.ogg"}})),
        ]
    );
    // wagate's reaction is on the customer's message.
    let m = e.s.get(&format!("/v1/messages/{inbound}"), &k).await;
    assert_eq!(
        m.body["data"]["reactions"],
        json!([{"from": "15550001111", "emoji": "🎉"}]),
        "{}",
        m.body
    );
    // Meta has no polls.
    let r =
        e.s.post(
            "/v1/messages/send",
            &k,
            json!({"instanceId": id, "to": CUSTOMER,
            "poll": {"question": "Nota?", "options": ["1", "5"]}}),
        )
        .await;
    r.assert_error(409, "not_supported_by_connection");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("official"),
        "{}",
        r.body
    );

    // Meta has no presence either.
    let r =
        e.s.post(
            &format!("/v1/instances/{id}/presence"),
            &k,
            json!({"state": "available"}),
        )
        .await;
    r.assert_error(409, "not_supported_by_connection");
    // Nor mentions (they are for groups).
    let r =
        e.s.post(
            "/v1/messages/send",
            &k,
            json!({"instanceId": id, "to": CUSTOMER, "message": "oi", "mentions": [CUSTOMER]}),
        )
        .await;
    r.assert_error(409, "not_supported_by_connection");
    // Nor edits and deletes of what was sent.
    let place = &ids[0];
    let edit =
        e.s.call(
            reqwest::Method::PATCH,
            &format!("/v1/messages/{place}"),
            Some(&k),
            Some(json!({"message": "x"})),
        )
        .await;
    // A location is no text: that is said first.
    edit.assert_error(409, "message_not_editable");
    let delete =
        e.s.call(
            reqwest::Method::DELETE,
            &format!("/v1/messages/{place}"),
            Some(&k),
            None,
        )
        .await;
    delete.assert_error(409, "not_supported_by_connection");
    assert_eq!(e.graph_posts().await.len(), 7, "nothing more went to Meta");

    // In: a place, a card, a reaction to wagate's location, files of the other kinds, and an
    // order (not modelled).
    let files: [(&str, &str, &str, &[u8]); 3] = [
        ("6001", "sticker", "image/webp", b"RIFF\x1a\0\0\0WEBPVP8 "),
        ("6002", "video", "video/mp4", b"\0\0\0\x18ftypmp42"),
        (
            "6003",
            "audio",
            "audio/ogg; codecs=opus",
            b"OggS\0\x02 voice",
        ),
    ];
    for (media_id, _, mime, bytes) in files {
        e.meta_media(media_id, mime, bytes).await;
    }
    let location_wamid = "wamid.OUT1";
    let r = e
        .signed_webhook(&notification(
            PNID,
            json!({"messages": [
                {"from": CUSTOMER, "id": "wamid.IN2", "timestamp": "1700000001", "type": "location",
                 "location": {"latitude": 40.4168, "longitude": -3.7038, "name": "Sol"}},
                {"from": CUSTOMER, "id": "wamid.IN3", "timestamp": "1700000002", "type": "contacts",
                 "contacts": [{"name": {"formatted_name": "Rita"}, "phones": [{"phone": "+34 600 000 000", "wa_id": "34600000000"}]}]},
                {"from": CUSTOMER, "id": "wamid.IN4", "timestamp": "1700000003", "type": "reaction",
                 "reaction": {"message_id": location_wamid, "emoji": "❤️"}},
                {"from": CUSTOMER, "id": "wamid.IN5", "timestamp": "1700000004", "type": "order",
                 "order": {"catalog_id": "1", "product_items": []}},
                {"from": CUSTOMER, "id": "wamid.IN6", "timestamp": "1700000005", "type": "sticker",
                 "sticker": {"id": "6001", "mime_type": "image/webp", "sha256": "x", "animated": false}},
                {"from": CUSTOMER, "id": "wamid.IN7", "timestamp": "1700000006", "type": "video",
                 "video": {"id": "6002", "mime_type": "video/mp4", "sha256": "x", "caption": "veja"}},
                {"from": CUSTOMER, "id": "wamid.IN8", "timestamp": "1700000007", "type": "audio",
                 "audio": {"id": "6003", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": true}}
            ]}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // With the customer's first text, seven (the reaction is `message.reaction`).
    let got = e.hook_events("message.received", 7).await;
    let of = |kind: &str| {
        got.iter()
            .find(|g| g["data"]["type"] == json!(kind))
            .unwrap()["data"]
            .clone()
    };
    assert_eq!(of("location")["location"]["name"], json!("Sol"));
    assert_eq!(
        of("contacts")["contacts"][0]["phones"],
        json!(["34600000000"])
    );
    assert_eq!(of("unsupported")["unsupported"]["kind"], json!("order"));
    assert_eq!(of("video")["media"]["caption"], json!("veja"));
    // A recorded voice note is `voice`; each file is kept and served back whole.
    for ((_, kind, mime, bytes), got) in files.iter().zip(["sticker", "video", "voice"]) {
        let url = of(got)["media"]["url"].as_str().unwrap().to_owned();
        let dl = e.s.http.get(&url).bearer_auth(&k).send().await.unwrap();
        // Served by its essence, without parameters.
        let essence = mime.split(';').next().unwrap();
        assert_eq!(dl.headers()["content-type"], essence, "{kind}");
        assert_eq!(dl.bytes().await.unwrap().to_vec(), bytes.to_vec(), "{kind}");
    }
    let loc = e.s.get(&format!("/v1/messages/{}", ids[0]), &k).await;
    assert_eq!(
        loc.body["data"]["reactions"],
        json!([{"from": CUSTOMER, "emoji": "❤️"}]),
        "{}",
        loc.body
    );
    e.s.stop().await;
}
