//! The WhatsApp Web engine over HTTP, against the in-process fake WhatsApp server that speaks
//! the real protocol to the real whatsapp-rust client (feature `test-fake-wa`; `.ci/run` runs
//! it). Everything is observed the way a user would: the API's answers and webhook requests.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use common::receiver::{Answer, Receiver};
use common::wa::{PHONE, connect_qr, eventually_for, linked, scan, server, status_is, wa_options};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_core::InstanceId;
use wagate_core::engine_state::EngineStateStore;
use wagate_core::history::HistoryWindow;
use wagate_store::SqlStore;
use wagate_testkit::{Backend, on_both_backends};
use wagate_wa::fake::{
    ContactReceipts, FakeProfile, FakeServer, MessageField, Observed, PhoneFile, WaMediaType, wa,
    wa_poll,
};
use wagate_wa::{WaOptions, WaVersion};

const CONTACT: &str = "15552223333";

on_both_backends!(
    qr_code_pairing_connects_with_the_phone_number,
    connecting_with_a_phone_answers_a_pairing_code,
    sent_text_reaches_the_peer_and_receipts_move_it,
    peer_text_arrives_as_a_webhook,
    peer_image_arrives_with_a_downloadable_url,
    sent_media_is_uploaded_and_the_peer_decrypts_it,
    dropped_socket_reconnects_and_server_logout_wipes_the_session,
    api_disconnect_and_delete_wipe_the_session,
    replies_typing_read_marks_and_number_checks_reach_whatsapp,
    the_pinned_version_is_announced_and_an_outdated_one_is_reported,
    unreachable_whatsapp_shows_network_error,
    a_burst_with_receipts_after_each_ack_is_sent_once_each,
    a_burst_with_receipts_before_each_ack_is_sent_once_each,
    a_new_link_stores_recent_history_and_contact_profiles,
    with_history_off_a_link_stores_none_of_it,
    every_kind_reaches_the_peer_and_comes_back,
    edits_and_deletes_reach_the_peer_and_come_back,
    a_call_is_rejected_and_the_caller_told_why,
    a_contacts_presence_and_typing_are_reported,
    a_sender_known_only_by_its_lid_is_kept_and_answered,
    mentions_reach_the_peer_and_come_back,
    every_media_kind_reaches_the_peer_and_comes_back,
    blocking_and_the_own_profile_reach_whatsapp,
    a_restart_reopens_the_sessions_at_the_resume_rate,
);

/// Sends through the API; returns the accepted message's id.
async fn send(s: &TestServer, key: &str, body: Value) -> String {
    let r = s.post("/v1/messages/send", key, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["messageId"].as_str().unwrap().to_owned()
}

/// The first message the contact's device decrypted.
async fn contact_received(fake: &FakeServer) -> Observed {
    fake.wait_for(
        Duration::from_secs(15),
        |o| matches!(o, Observed::PeerReceived { to, .. } if to.starts_with(CONTACT)),
    )
    .await
    .expect("the contact received the message")
}

async fn qr_code_pairing_connects_with_the_phone_number(backend: Backend) {
    let fake = FakeServer::new();
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let (id, c) = connect_qr(&s, &k, json!({"webhookUrl": hooks.url})).await;

    // The QR code is in the connect answer and in GET /qrcode, with its expiry.
    assert_eq!(c.body["status"], json!("qr_pending"), "{}", c.body);
    let qr = c.body["qrCode"].as_str().unwrap().to_owned();
    assert!(qr.starts_with("data:image/png;base64,"));
    assert!(c.body["qrCodeExpiresAt"].as_str().is_some());
    let shown = s.get(&format!("/v1/instances/{id}/qrcode"), &k).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["data"]["qrCode"], json!(qr));

    // The phone scans it: the instance connects with the phone's number.
    scan(&s, &fake, &qr, PHONE).await;
    let st = status_is(&s, &k, &id, "connected").await;
    assert_eq!(st.body["data"]["phone"], json!(PHONE));
    assert!(st.body["data"]["qrCode"].is_null());

    // The instance's webhook got the QR code, then the connection.
    let hits = hooks.wait_for(2, Duration::from_secs(15)).await;
    let kinds: Vec<String> = hits
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds[0], "instance.qr_updated", "{kinds:?}");
    assert!(
        kinds.contains(&"instance.connected".to_owned()),
        "{kinds:?}"
    );
    assert_eq!(hits[0].json()["data"]["qrCode"], json!(qr));
    s.stop().await;
}

async fn sent_text_reaches_the_peer_and_receipts_move_it(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    // The contact's phone is off: its receipts come when the test sends them.
    fake.opts.lock().unwrap().contact_receipts = None;
    let k = s.default_key.clone();
    let id = linked(&s, &fake, &k, json!({"settings": {"autoTyping": false}})).await;

    let mid = send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "message": "hello from wagate"}),
    )
    .await;

    // The contact's device decrypts the right text; the server's ack makes it `sent`.
    let got = contact_received(&fake).await;
    let Observed::PeerReceived {
        text, id: wa_id, ..
    } = got
    else {
        unreachable!()
    };
    assert_eq!(text.as_deref(), Some("hello from wagate"));
    let path = format!("/v1/messages/{mid}/status");
    eventually_for(&s, &k, &path, 15, |b| b["data"]["status"] == json!("sent")).await;

    // The contact's receipts: delivered, then read.
    fake.receipt_from(CONTACT, PHONE, &[&wa_id], None).await;
    eventually_for(&s, &k, &path, 15, |b| {
        b["data"]["status"] == json!("delivered")
    })
    .await;
    fake.receipt_from(CONTACT, PHONE, &[&wa_id], Some("read"))
        .await;
    let st = eventually_for(&s, &k, &path, 15, |b| b["data"]["status"] == json!("read")).await;
    assert!(st.body["data"]["readAt"].as_str().is_some());

    // The server refuses the next one: failed, with WhatsApp's code.
    fake.opts.lock().unwrap().nack_messages = Some("479".into());
    let mid = send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "message": "refused"}),
    )
    .await;
    let st = eventually_for(&s, &k, &format!("/v1/messages/{mid}/status"), 15, |b| {
        b["data"]["status"] == json!("failed")
    })
    .await;
    assert_eq!(
        st.body["data"]["error"]["code"],
        json!("whatsapp_nack_479"),
        "{}",
        st.body
    );
    s.stop().await;
}

async fn peer_text_arrives_as_a_webhook(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(&s, &fake, &k, json!({"webhookUrl": hooks.url})).await;

    let wa_id = fake
        .send_text_from(CONTACT, PHONE, "oi, tudo bem?")
        .await
        .expect("the contact sends");
    let received = first_received(&hooks).await;
    let d = &received["data"];
    assert_eq!(d["from"], json!(CONTACT), "{received}");
    assert_eq!(d["to"], json!(PHONE));
    assert_eq!(d["content"], json!("oi, tudo bem?"));
    assert_eq!(d["instanceId"], json!(id));

    // Committed, then acknowledged: WhatsApp got the client's receipt for it.
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { id, .. } if *id == wa_id),
    )
    .await
    .expect("the client acknowledged the message");
    s.stop().await;
}

async fn dropped_socket_reconnects_and_server_logout_wipes_the_session(backend: Backend) {
    let fake = FakeServer::new();
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let id = linked(&s, &fake, &k, json!({})).await;
    let state = SqlStore::open(&s.running().state.config.database_url)
        .await
        .unwrap();
    let iid = InstanceId::parse(&id).unwrap();
    assert!(
        state.state_count(&iid).await.unwrap() > 0,
        "keys are in the database"
    );

    // The server drops the socket: connecting, then connected again by itself.
    fake.drop_connections(PHONE).await;
    let st = status_is(&s, &k, &id, "connecting").await;
    assert_eq!(
        st.body["data"]["lastError"]["code"],
        json!("connection_lost")
    );
    status_is(&s, &k, &id, "connected").await;

    // The phone unlinks the device: disconnected, logged_out, and the keys are gone.
    fake.logout_companions(PHONE).await;
    let st = status_is(&s, &k, &id, "disconnected").await;
    assert_eq!(st.body["data"]["lastError"]["code"], json!("logged_out"));
    assert!(st.body["data"]["phone"].is_null());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state.state_count(&iid).await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session state was not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    state.close().await;
    s.stop().await;
}

/// Bytes that stand for a photo (the engine never decodes them).
fn photo() -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((0..4096u32).map(|i| (i * 31 % 251) as u8));
    b
}

async fn peer_image_arrives_with_a_downloadable_url(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(&s, &fake, &k, json!({"webhookUrl": hooks.url})).await;

    // The contact's phone encrypts and uploads a photo to the CDN, then sends the message.
    let jpeg = photo();
    let msg = fake
        .cdn
        .phone_media(PhoneFile::Image {
            jpeg: &jpeg,
            caption: "olha a foto",
        })
        .unwrap();
    let wa_id = fake
        .send_message_from(CONTACT, PHONE, &msg, "media")
        .await
        .expect("the contact sends");
    let received = first_received(&hooks).await;
    let d = &received["data"];
    assert_eq!(d["from"], json!(CONTACT), "{received}");
    assert_eq!(d["instanceId"], json!(id));
    assert_eq!(d["type"], json!("image"));
    assert_eq!(d["content"], json!("olha a foto"));
    assert_eq!(d["media"]["mimeType"], json!("image/jpeg"));
    assert_eq!(d["media"]["size"], json!(jpeg.len()));

    // The account downloads the decrypted photo with its key; without a key, 401.
    let url = d["media"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/v1/media/med_", s.base)),
        "{url}"
    );
    let dl = s.http.get(&url).bearer_auth(&k).send().await.unwrap();
    assert_eq!(dl.status(), StatusCode::OK);
    assert_eq!(dl.headers()["content-type"], "image/jpeg");
    assert_eq!(dl.bytes().await.unwrap().to_vec(), jpeg);
    let r = TestServer::reply(s.http.get(&url).send().await.unwrap()).await;
    r.assert_error(401, "missing_api_key");

    // Kept, then acknowledged.
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { id, .. } if *id == wa_id),
    )
    .await
    .expect("the client acknowledged the message");
    s.stop().await;
}

/// A local file server playing the media host of `mediaUrl`.
async fn media_host(bytes: Vec<u8>) -> String {
    use axum::http::header;
    let app = axum::Router::new().route(
        "/photo.jpg",
        axum::routing::get(move || {
            let bytes = bytes.clone();
            async move { ([(header::CONTENT_TYPE, "image/jpeg")], bytes) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/photo.jpg")
}

async fn sent_media_is_uploaded_and_the_peer_decrypts_it(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let id = linked(&s, &fake, &k, json!({"settings": {"autoTyping": false}})).await;
    let jpeg = photo();
    let url = media_host(jpeg.clone()).await;

    let mid = send(&s, &k, json!({"instanceId": id, "to": CONTACT, "mediaUrl": url, "mediaType": "image", "caption": "seu pedido"})).await;

    // The contact's device decrypts an image message whose CDN blob decrypts to the file.
    let got = contact_received(&fake).await;
    let Observed::PeerReceived { message, .. } = got else {
        unreachable!()
    };
    let image = message.image_message.as_option().expect("an image message");
    assert_eq!(image.caption.as_deref(), Some("seu pedido"));
    assert_eq!(image.mimetype.as_deref(), Some("image/jpeg"));
    let plain = fake.cdn.decrypt_image(image).expect("uploaded to the CDN");
    assert_eq!(plain, jpeg);
    // The contact's phone reports it delivered, then read.
    let path = format!("/v1/messages/{mid}/status");
    let st = eventually_for(&s, &k, &path, 15, |b| b["data"]["status"] == json!("read")).await;
    assert!(st.body["data"]["sentAt"].as_str().is_some(), "{}", st.body);
    s.stop().await;
}

/// With `phone`, the connect answer carries the 8-character code WhatsApp issued for that number
/// (the phone then types it; the fake server does not model that last step yet).
async fn connecting_with_a_phone_answers_a_pairing_code(backend: Backend) {
    let fake = FakeServer::new();
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let r = s
        .post("/v1/instances", &k, json!({"name": "by-phone"}))
        .await;
    let id = r.body["data"]["id"].as_str().unwrap().to_owned();
    let c = s
        .post(
            &format!("/v1/instances/{id}/connect"),
            &k,
            json!({"method": "qrcode", "phone": PHONE}),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    let code = c.body["pairingCode"].as_str().expect("a pairing code");
    assert_eq!(code.len(), 8, "{code}");
    assert!(code.chars().all(|ch| ch.is_ascii_alphanumeric()), "{code}");
    assert_eq!(c.body["status"], json!("qr_pending"));
    // It was asked for this phone number.
    let asked = fake
        .wait_for(Duration::from_secs(5), |o| {
            matches!(o, Observed::PairCodeRequested { .. })
        })
        .await
        .expect("the client asked WhatsApp for a pairing code");
    let Observed::PairCodeRequested { phone } = asked else {
        unreachable!()
    };
    assert!(phone.starts_with(PHONE), "{phone}");
    s.stop().await;
}

/// Waits until the instance has no session state left in the database.
async fn state_wiped(state: &SqlStore, id: &str) {
    let iid = InstanceId::parse(id).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state.state_count(&iid).await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session state was not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn api_disconnect_and_delete_wipe_the_session(backend: Backend) {
    let fake = FakeServer::new();
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let state = SqlStore::open(&s.running().state.config.database_url)
        .await
        .unwrap();

    // `disconnect` logs the device out: disconnected, and its keys are gone.
    let id = linked(&s, &fake, &k, json!({})).await;
    let iid = InstanceId::parse(&id).unwrap();
    assert!(state.state_count(&iid).await.unwrap() > 0);
    let r = s
        .post(&format!("/v1/instances/{id}/disconnect"), &k, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    status_is(&s, &k, &id, "disconnected").await;
    state_wiped(&state, &id).await;

    // Linked again (a new QR code, fresh keys), then deleted: nothing of it stays.
    let (id2, c) = connect_qr(&s, &k, json!({})).await;
    scan(&s, &fake, c.body["qrCode"].as_str().unwrap(), "15550002222").await;
    status_is(&s, &k, &id2, "connected").await;
    assert!(
        state
            .state_count(&InstanceId::parse(&id2).unwrap())
            .await
            .unwrap()
            > 0
    );
    let r = s
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/instances/{id2}"),
            Some(&k),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    state_wiped(&state, &id2).await;
    state.close().await;
    s.stop().await;
}

/// The first `message.received` webhook.
async fn first_received(hooks: &Receiver) -> Value {
    loop {
        let hits = hooks.wait_for(1, Duration::from_secs(15)).await;
        if let Some(h) = hits
            .iter()
            .find(|h| h.json()["event"] == json!("message.received"))
        {
            return h.json();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn replies_typing_read_marks_and_number_checks_reach_whatsapp(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let settings =
        json!({"webhookUrl": hooks.url, "settings": {"autoRead": true, "autoTyping": true}});
    let id = linked(&s, &fake, &k, settings).await;

    // autoRead: the contact's message is marked read on WhatsApp.
    let wa_id = fake
        .send_text_from(CONTACT, PHONE, "pode me mandar o boleto?")
        .await
        .unwrap();
    let received = first_received(&hooks).await;
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { id, r#type } if *id == wa_id && r#type == "read"),
    )
    .await
    .expect("a read receipt for the received message");

    // A reply to it: typing first (autoTyping), then the text quoting the contact's message.
    send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "message": "segue o boleto",
               "quotedMessageId": received["data"]["messageId"]}),
    )
    .await;
    fake.wait_for(Duration::from_secs(10), |o| {
        matches!(o, Observed::ChatState { to, state } if to.starts_with(CONTACT) && state == "composing")
    })
    .await
    .expect("typing shown before the reply");
    let got = fake
        .wait_for(Duration::from_secs(15), |o| {
            matches!(o, Observed::PeerReceived { to, text, .. }
                if to.starts_with(CONTACT) && text.as_deref() == Some("segue o boleto"))
        })
        .await
        .expect("the contact received the reply");
    let Observed::PeerReceived { message, .. } = got else {
        unreachable!()
    };
    let quoted = message
        .extended_text_message
        .as_option()
        .and_then(|x| x.context_info.as_option())
        .and_then(|c| c.stanza_id.clone());
    assert_eq!(
        quoted.as_deref(),
        Some(wa_id.as_str()),
        "the reply quotes it"
    );

    // contacts/check asks WhatsApp which numbers exist.
    let check = s
        .post(
            "/v1/contacts/check",
            &k,
            json!({"instanceId": id, "phones": [CONTACT, "15559990000"]}),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert_eq!(
        check.body["data"][0]["exists"],
        json!(true),
        "{}",
        check.body
    );
    assert_eq!(
        check.body["data"][1]["exists"],
        json!(false),
        "{}",
        check.body
    );
    s.stop().await;
}

async fn the_pinned_version_is_announced_and_an_outdated_one_is_reported(backend: Backend) {
    let fake = FakeServer::new();
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let id = linked(&s, &fake, &k, json!({})).await;
    assert!(
        fake.observed()
            .iter()
            .any(|o| matches!(o, Observed::Handshake { version, .. }
            if *version == (2, 3000, 1027000000))),
        "WAGATE_WA_VERSION is what the client announces"
    );

    // WhatsApp stops accepting this version (405): the instance says so instead of retrying.
    fake.opts.lock().unwrap().require_version = Some((2, 3000, 1099999999));
    fake.drop_connections(PHONE).await;
    let st = status_is(&s, &k, &id, "disconnected").await;
    assert_eq!(
        st.body["data"]["lastError"]["code"],
        json!("client_outdated"),
        "{}",
        st.body
    );
    s.stop().await;
}

async fn unreachable_whatsapp_shows_network_error(backend: Backend) {
    // Nothing listens where the engine looks for WhatsApp.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let s = TestServer::start_with(backend, move |c| {
        c.wa = WaOptions {
            version: Some(WaVersion(2, 3000, 1027000000)),
            connector: Some(Arc::new(wagate_wa::fake::tcp::TcpConnector(closed))),
            ..WaOptions::default()
        };
    })
    .await;
    let k = s.default_key.clone();
    // The answer does not wait for a code that cannot come (issue 19: it blocked for the whole
    // first-code wait).
    let asked = std::time::Instant::now();
    let (id, c) = connect_qr(&s, &k, json!({})).await;
    assert!(
        asked.elapsed() < wagate_server::runtime::lifecycle::FIRST_CODE_WAIT,
        "connect waited {:?} for a code from an unreachable WhatsApp",
        asked.elapsed()
    );
    assert!(c.body["qrCode"].is_null(), "{}", c.body);
    assert_eq!(c.body["status"], json!("connecting"), "{}", c.body);
    // It keeps trying (backoff) and says why it is not linking.
    let st = eventually_for(&s, &k, &format!("/v1/instances/{id}/status"), 15, |b| {
        b["data"]["lastError"]["code"] == json!("network_error")
    })
    .await;
    assert_eq!(
        st.body["data"]["status"],
        json!("connecting"),
        "{}",
        st.body
    );
    s.stop().await;
}

async fn a_burst_with_receipts_after_each_ack_is_sent_once_each(backend: Backend) {
    burst_with_receipts(backend, ContactReceipts::AfterAck).await;
}

async fn a_burst_with_receipts_before_each_ack_is_sent_once_each(backend: Backend) {
    burst_with_receipts(backend, ContactReceipts::BeforeAck).await;
}

/// The statuses of every message of the instance, by `msg_…` id (all pages of the history).
async fn statuses(s: &TestServer, key: &str, instance: &str) -> HashMap<String, String> {
    let mut all = HashMap::new();
    let mut before: Option<String> = None;
    loop {
        let mut path = format!("/v1/messages?instanceId={instance}&limit=100");
        if let Some(b) = &before {
            path.push_str(&format!("&before={b}"));
        }
        let page = s.get(&path, key).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for m in page.body["data"].as_array().unwrap() {
            all.insert(
                m["messageId"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
            );
        }
        match page.body["pagination"]["nextCursor"].as_str() {
            Some(c) if page.body["pagination"]["hasMore"] == json!(true) => before = Some(c.into()),
            _ => return all,
        }
    }
}

/// A real phone receipts every message while a burst is still being sent: each message leaves
/// the queue within seconds, goes over the wire once, and ends `read` (a receipt applied before
/// its `sent` would have found nothing to move).
async fn burst_with_receipts(backend: Backend, receipts: ContactReceipts) {
    const BURST: usize = 200;
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    fake.opts.lock().unwrap().contact_receipts = Some(receipts);
    let k = s.default_key.clone();
    let id = linked(&s, &fake, &k, json!({"settings": {"autoTyping": false}})).await;

    let mut sent = HashSet::new();
    for i in 0..BURST {
        let body = json!({"instanceId": id, "to": CONTACT, "message": format!("pedido {i}")});
        sent.insert(send(&s, &k, body).await);
    }
    let burst_done = tokio::time::Instant::now();

    let left_queue = |st: &HashMap<String, String>| {
        sent.iter().all(|m| {
            st.get(m)
                .is_some_and(|s| matches!(s.as_str(), "sent" | "delivered" | "read"))
        })
    };
    loop {
        let st = statuses(&s, &k, &id).await;
        if left_queue(&st) {
            break;
        }
        let queued = sent
            .iter()
            .filter(|m| st.get(*m).map(String::as_str) == Some("queued"))
            .count();
        assert!(
            burst_done.elapsed() < Duration::from_secs(10),
            "{queued} of {BURST} messages still queued 10 s after the burst"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every receipt was applied after its `sent`: all end `read`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let st = statuses(&s, &k, &id).await;
        let read = sent
            .iter()
            .filter(|m| st.get(*m).map(String::as_str) == Some("read"))
            .count();
        if read == BURST {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {read} of {BURST} messages read"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Sent once each, as the contact's device saw them.
    let mut copies: HashMap<String, usize> = HashMap::new();
    for o in fake.observed() {
        if let Observed::PeerReceived { to, id, .. } = o
            && to.starts_with(CONTACT)
        {
            *copies.entry(id).or_default() += 1;
        }
    }
    assert_eq!(
        copies.len(),
        BURST,
        "distinct messages the contact received"
    );
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    s.stop().await;
}

const FRIEND: &str = "15554445555";

/// A history message of the chat with `peer`, written `hours_ago`.
fn history_message(
    peer: &str,
    id: &str,
    from_me: bool,
    text: &str,
    hours_ago: u64,
    status: wa::web_message_info::Status,
) -> wa::HistorySyncMsg {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    wa::HistorySyncMsg {
        message: MessageField::some(wa::WebMessageInfo {
            key: MessageField::some(wa::MessageKey {
                remote_jid: Some(format!("{peer}@s.whatsapp.net")),
                from_me: Some(from_me),
                id: Some(id.to_owned()),
                ..Default::default()
            }),
            message: MessageField::some(wa::Message {
                conversation: Some(text.to_owned()),
                ..Default::default()
            }),
            message_timestamp: Some(now - hours_ago * 3600),
            status: Some(status),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// What the phone has: a chat with the contact, saved as "João Silva", two recent messages
/// and one from a month ago; and the push name of a friend it has no chat with.
fn phone_history() -> wa::HistorySync {
    use wa::web_message_info::Status;
    wa::HistorySync {
        sync_type: wa::history_sync::HistorySyncType::InitialBootstrap,
        conversations: vec![wa::Conversation {
            id: format!("{CONTACT}@s.whatsapp.net"),
            name: Some("João Silva".into()),
            messages: vec![
                history_message(
                    CONTACT,
                    "3EB0OLD",
                    false,
                    "de um mês atrás",
                    30 * 24,
                    Status::Read,
                ),
                history_message(
                    CONTACT,
                    "3EB0HIST1",
                    false,
                    "oi, tudo bem?",
                    2,
                    Status::Read,
                ),
                history_message(
                    CONTACT,
                    "3EB0HIST2",
                    true,
                    "tudo ótimo",
                    1,
                    Status::DeliveryAck,
                ),
            ],
            ..Default::default()
        }],
        pushnames: vec![wa::Pushname {
            id: Some(format!("{FRIEND}@s.whatsapp.net")),
            pushname: Some("Maria".into()),
        }],
        ..Default::default()
    }
}

/// A new link brings the phone's last week of chats (not older, and with no webhooks for it),
/// the names the phone knows, and the blocklist; a contact's about text, picture and business
/// flag are fetched from WhatsApp when asked for, then served from the cache.
async fn a_new_link_stores_recent_history_and_contact_profiles(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    fake.add_contact(FRIEND).await;
    let picture = "https://pps.whatsapp.net/v/t61.24694-24/joao.jpg";
    fake.set_profile(
        CONTACT,
        FakeProfile {
            about: Some("Disponível".into()),
            picture_url: Some(picture.into()),
            business: true,
        },
    );
    fake.set_blocked(PHONE, &[FRIEND]);
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(&s, &fake, &k, json!({"webhookUrl": hooks.url})).await;

    fake.sync_history(PHONE, &phone_history()).await.unwrap();
    let chats = eventually_for(
        &s,
        &k,
        &format!("/v1/messages/chats?instanceId={id}"),
        15,
        |b| b["data"][0]["lastMessage"]["content"] == json!("tudo ótimo"),
    )
    .await;
    let chat = &chats.body["data"][0];
    assert_eq!(chat["phone"], json!(CONTACT), "{}", chats.body);
    assert_eq!(chat["contactName"], json!("João Silva"), "{}", chats.body);
    assert_eq!(
        chat["lastMessage"]["isFromMe"],
        json!(true),
        "{}",
        chats.body
    );
    assert_eq!(
        chats.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        chats.body
    );

    let history = s.get(&format!("/v1/messages?instanceId={id}"), &k).await;
    let items = history.body["data"].as_array().unwrap();
    let texts: Vec<_> = items.iter().map(|m| m["content"].clone()).collect();
    assert_eq!(
        texts,
        vec![json!("tudo ótimo"), json!("oi, tudo bem?")],
        "newest first, and nothing older than the window: {}",
        history.body
    );
    assert_eq!(items[0]["direction"], json!("outbound"));
    assert_eq!(items[0]["status"], json!("delivered"));
    assert_eq!(items[1]["direction"], json!("inbound"));
    assert_eq!(items[1]["status"], json!("read"));

    // The phone's names and the blocklist; no profile fetched yet.
    let contacts = eventually_for(&s, &k, &format!("/v1/contacts?instanceId={id}"), 10, |b| {
        b["data"].as_array().is_some_and(|a| a.len() == 2)
            && b["data"][1]["isBlocked"] == json!(true)
    })
    .await;
    assert_eq!(
        contacts.body["data"][0]["name"],
        json!("João Silva"),
        "{}",
        contacts.body
    );
    assert_eq!(contacts.body["data"][0]["profilePicUrl"], json!(null));
    assert_eq!(contacts.body["data"][1]["phone"], json!(FRIEND));
    assert_eq!(contacts.body["data"][1]["name"], json!("Maria"));

    // Asked for, the profile comes from WhatsApp once, then from the cache.
    for _ in 0..2 {
        let c = s
            .get(&format!("/v1/contacts/{CONTACT}?instanceId={id}"), &k)
            .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.body);
        assert_eq!(c.body["data"]["about"], json!("Disponível"), "{}", c.body);
        assert_eq!(c.body["data"]["profilePicUrl"], json!(picture));
        assert_eq!(c.body["data"]["isBusiness"], json!(true));
        assert_eq!(c.body["data"]["isBlocked"], json!(false));
        assert_eq!(c.body["data"]["name"], json!("João Silva"));
    }
    let asked = fake
        .observed()
        .iter()
        .filter(|o| matches!(o, Observed::PictureAsked { target } if target.starts_with(CONTACT)))
        .count();
    assert_eq!(asked, 1, "the second answer came from the cache");
    let chats = s
        .get(&format!("/v1/messages/chats?instanceId={id}"), &k)
        .await;
    assert_eq!(chats.body["data"][0]["profilePicUrl"], json!(picture));
    let blocked = s
        .get(&format!("/v1/contacts/{FRIEND}?instanceId={id}"), &k)
        .await;
    assert_eq!(
        blocked.body["data"]["isBlocked"],
        json!(true),
        "{}",
        blocked.body
    );
    s.get(&format!("/v1/contacts/15559990000?instanceId={id}"), &k)
        .await
        .assert_error(404, "contact_not_found");

    // History raised no events: the first message.received is a live message.
    fake.send_text_from(CONTACT, PHONE, "ao vivo")
        .await
        .unwrap();
    let first = first_received(&hooks).await;
    assert_eq!(first["data"]["content"], json!("ao vivo"), "{first}");
    s.stop().await;
}

/// With `--wa-history-days 0` the phone's history is acknowledged and dropped.
async fn with_history_off_a_link_stores_none_of_it(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    fake.opts.lock().unwrap().contact_receipts = Some(ContactReceipts::AfterAck);
    let mut options = wa_options(&fake);
    options.history = HistoryWindow::Off;
    let s = TestServer::start_with(backend, move |c| c.wa = options).await;
    let k = s.default_key.clone();
    let id = linked(&s, &fake, &k, json!({})).await;
    fake.sync_history(PHONE, &phone_history()).await.unwrap();
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { r#type, .. } if r#type == "hist_sync"),
    )
    .await
    .expect("the phone is told the history arrived");
    // A live message after it: the history's own processing (when on) is done well before this
    // one is stored, so only the live message is there.
    fake.send_text_from(CONTACT, PHONE, "ao vivo")
        .await
        .unwrap();
    let history = eventually_for(&s, &k, &format!("/v1/messages?instanceId={id}"), 15, |b| {
        b["data"][0]["content"] == json!("ao vivo")
    })
    .await;
    assert_eq!(
        history.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        history.body
    );
    s.stop().await;
}

/// Every §17.1 kind the API sends reaches the contact's device as WhatsApp's own message, and
/// what the contact sends back (a location, cards, a poll, a reaction, a vote on the poll, a
/// kind wagate does not model) arrives whole; each is acknowledged once it is stored.
async fn every_kind_reaches_the_peer_and_comes_back(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(
        &s,
        &fake,
        &k,
        json!({"webhookUrl": hooks.url, "settings": {"autoTyping": false}}),
    )
    .await;
    let sub = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": hooks.url, "instanceId": id, "name": "more",
            "events": ["message.reaction", "poll.vote"]}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);

    // Out: a location, two cards, a poll.
    send(&s, &k, json!({"instanceId": id, "to": CONTACT,
        "location": {"latitude": -22.9068, "longitude": -43.1729, "name": "Cristo", "address": "Rio"}})).await;
    let (_, m) = contact_got(&fake, |m| m.location_message.is_set()).await;
    let l = m.location_message.as_option().unwrap();
    assert_eq!(
        (l.degrees_latitude, l.degrees_longitude),
        (Some(-22.9068), Some(-43.1729))
    );
    assert_eq!(l.name.as_deref(), Some("Cristo"));
    send(&s, &k, json!({"instanceId": id, "to": CONTACT, "contacts": [
        {"name": "Ana", "phones": ["5511988887777"]}, {"name": "Bia", "phones": ["5511977776666"]}]})).await;
    let (_, m) = contact_got(&fake, |m| m.contacts_array_message.is_set()).await;
    let cards = &m.contacts_array_message.as_option().unwrap().contacts;
    assert_eq!(cards.len(), 2);
    assert!(
        cards[0]
            .vcard
            .as_deref()
            .unwrap()
            .contains("waid=5511988887777")
    );
    let poll_id = send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT,
        "poll": {"question": "Lunch?", "options": ["Pizza", "Sushi"]}}),
    )
    .await;
    let (poll_wa_id, m) = contact_got(&fake, |m| m.poll_creation_message_v3.is_set()).await;
    let p = m.poll_creation_message_v3.as_option().unwrap();
    assert_eq!(p.name.as_deref(), Some("Lunch?"));
    assert_eq!(p.selectable_options_count, Some(1));
    let secret = m
        .message_context_info
        .as_option()
        .and_then(|c| c.message_secret.clone())
        .expect("a poll carries its secret");
    eventually_for(&s, &k, &format!("/v1/messages/{poll_id}/status"), 15, |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;

    // In: the contact writes, and wagate reacts to it.
    let wa_text = fake
        .send_text_from(CONTACT, PHONE, "bom dia")
        .await
        .unwrap();
    let received = first_received(&hooks).await;
    let text = received["data"]["messageId"].as_str().unwrap().to_owned();
    // Reading the chat sends WhatsApp the read receipt.
    let chat = received["data"]["chatId"].as_str().unwrap().to_owned();
    let r = s
        .post(
            "/v1/messages/read",
            &k,
            json!({"instanceId": id, "chatId": chat}),
        )
        .await;
    assert_eq!(r.body["data"]["marked"], json!(1), "{}", r.body);
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { id, r#type } if *id == wa_text && r#type == "read"),
    )
    .await
    .expect("the contact sees the message read");
    // Presence and chat states reach WhatsApp.
    let presence = format!("/v1/instances/{id}/presence");
    for body in [
        json!({"state": "recording", "chatId": chat}),
        json!({"state": "unavailable"}),
    ] {
        let r = s.post(&presence, &k, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.body);
    }
    fake.wait_for(Duration::from_secs(10), |o| {
        matches!(o, Observed::ChatState { to, state } if to.starts_with(CONTACT) && state == "composing")
    })
    .await
    // WhatsApp's "recording" is a `composing` chat state with `media="audio"`.
    .expect("the contact sees the instance recording");
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::Presence { r#type } if r#type == "unavailable"),
    )
    .await
    .expect("WhatsApp is told the instance is offline");
    send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "reaction": {"messageId": text, "emoji": "🙏"}}),
    )
    .await;
    let (_, m) = contact_got(&fake, |m| m.reaction_message.is_set()).await;
    let r = m.reaction_message.as_option().unwrap();
    assert_eq!(r.text.as_deref(), Some("🙏"));
    let key = r.key.as_option().unwrap();
    assert_eq!(
        (key.id.as_deref(), key.from_me),
        (Some(wa_text.as_str()), Some(false))
    );

    // The contact votes on the poll, encrypting as WhatsApp does with the poll's secret.
    let hashes = vec![wa_poll::compute_option_hash("Sushi").to_vec()];
    let (payload, iv) = wa_poll::encrypt_poll_vote_with_secret(
        &hashes,
        &secret,
        &poll_wa_id,
        &format!("{PHONE}@s.whatsapp.net"),
        &format!("{CONTACT}@s.whatsapp.net"),
    )
    .unwrap();
    let vote = wa::Message {
        poll_update_message: MessageField::some(wa::message::PollUpdateMessage {
            poll_creation_message_key: MessageField::some(wa::MessageKey {
                remote_jid: Some(format!("{PHONE}@s.whatsapp.net")),
                from_me: Some(false),
                id: Some(poll_wa_id.clone()),
                participant: None,
            }),
            vote: MessageField::some(wa::message::PollEncValue {
                enc_payload: Some(payload),
                enc_iv: Some(iv.to_vec()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    fake.send_message_from(CONTACT, PHONE, &vote, "poll")
        .await
        .unwrap();
    let voted = eventually_for(&s, &k, &format!("/v1/messages/{poll_id}"), 15, |b| {
        b["data"]["poll"]["results"][1]["votes"] == json!(1)
    })
    .await;
    assert_eq!(
        voted.body["data"]["poll"]["results"][1]["voters"],
        json!([CONTACT])
    );

    // The contact reacts to the poll, sends a place, a card, and a kind wagate does not model.
    let react = wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage {
            key: MessageField::some(wa::MessageKey {
                remote_jid: Some(format!("{PHONE}@s.whatsapp.net")),
                from_me: Some(false),
                id: Some(poll_wa_id.clone()),
                participant: None,
            }),
            text: Some("😂".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    fake.send_message_from(CONTACT, PHONE, &react, "reaction")
        .await
        .unwrap();
    let place = wa::Message {
        location_message: MessageField::some(wa::message::LocationMessage {
            degrees_latitude: Some(48.8584),
            degrees_longitude: Some(2.2945),
            name: Some("Tour Eiffel".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    fake.send_message_from(CONTACT, PHONE, &place, "text")
        .await
        .unwrap();
    let card = wa::Message {
        contact_message: MessageField::some(wa::message::ContactMessage {
            display_name: Some("Caio".into()),
            vcard: Some("BEGIN:VCARD\nVERSION:3.0\nFN:Caio\nTEL;waid=5531999990000:+55 31 99999-0000\nEND:VCARD".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    fake.send_message_from(CONTACT, PHONE, &card, "text")
        .await
        .unwrap();
    let unknown = wa::Message {
        event_message: MessageField::some(wa::message::EventMessage {
            name: Some("Party".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let wa_unknown = fake
        .send_message_from(CONTACT, PHONE, &unknown, "text")
        .await
        .unwrap();
    // And a poll of its own, as WhatsApp writes a single-answer one (v3).
    let their_poll = wa::Message {
        poll_creation_message_v3: MessageField::some(wa::message::PollCreationMessage {
            name: Some("Which day?".into()),
            options: ["Mon", "Tue", "Wed"]
                .map(|o| wa::message::poll_creation_message::Option {
                    option_name: Some(o.into()),
                    ..Default::default()
                })
                .to_vec(),
            selectable_options_count: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    fake.send_message_from(CONTACT, PHONE, &their_poll, "poll")
        .await
        .unwrap();

    let mut kinds: HashMap<String, Value> = HashMap::new();
    for _ in 0..300 {
        for h in hooks.hits() {
            let e = h.json();
            let key = match e["event"].as_str() {
                Some("message.received") => e["data"]["type"].as_str().unwrap_or("").to_owned(),
                Some(other) => other.to_owned(),
                None => continue,
            };
            kinds.insert(key, e["data"].clone());
        }
        if [
            "location",
            "contacts",
            "poll",
            "unsupported",
            "message.reaction",
            "poll.vote",
        ]
        .iter()
        .all(|k| kinds.contains_key(*k))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        kinds["location"]["location"]["name"],
        json!("Tour Eiffel"),
        "{kinds:?}"
    );
    assert_eq!(kinds["location"]["location"]["latitude"], json!(48.8584));
    assert_eq!(
        kinds["contacts"]["contacts"][0],
        json!({"name": "Caio", "phones": ["5531999990000"], "organization": null, "email": null})
    );
    assert_eq!(kinds["poll"]["poll"]["question"], json!("Which day?"));
    assert_eq!(
        kinds["poll"]["poll"]["options"],
        json!(["Mon", "Tue", "Wed"])
    );
    assert_eq!(kinds["poll"]["poll"]["multipleAnswers"], json!(false));
    assert_eq!(
        kinds["unsupported"]["unsupported"]["kind"],
        json!("event_message")
    );
    assert_eq!(kinds["message.reaction"]["messageId"], json!(poll_id));
    assert_eq!(kinds["message.reaction"]["emoji"], json!("😂"));
    assert_eq!(kinds["poll.vote"]["selectedOptions"], json!(["Sushi"]));
    assert_eq!(kinds["poll.vote"]["messageId"], json!(poll_id));
    let poll = s.get(&format!("/v1/messages/{poll_id}"), &k).await;
    assert_eq!(
        poll.body["data"]["reactions"],
        json!([{"from": CONTACT, "emoji": "😂"}])
    );
    // The unknown kind was stored, then acknowledged.
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { id, .. } if *id == wa_unknown),
    )
    .await
    .expect("the client acknowledged the unknown kind");

    // Both take their reactions back: WhatsApp's empty reaction, each way.
    let mut unreact = react.clone();
    if let Some(r) = unreact.reaction_message.as_option_mut() {
        r.text = Some(String::new());
    }
    fake.send_message_from(CONTACT, PHONE, &unreact, "reaction")
        .await
        .unwrap();
    eventually_for(&s, &k, &format!("/v1/messages/{poll_id}"), 15, |b| {
        b["data"].get("reactions").is_none()
    })
    .await;
    send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "reaction": {"messageId": text, "emoji": ""}}),
    )
    .await;
    let (_, m) = contact_got(&fake, |m| {
        m.reaction_message
            .as_option()
            .is_some_and(|r| r.text.as_deref() == Some(""))
    })
    .await;
    let key = m
        .reaction_message
        .as_option()
        .unwrap()
        .key
        .as_option()
        .unwrap();
    assert_eq!(key.id.as_deref(), Some(wa_text.as_str()));
    eventually_for(&s, &k, &format!("/v1/messages/{text}"), 15, |b| {
        b["data"].get("reactions").is_none()
    })
    .await;
    s.stop().await;
}

/// The first message the contact decrypted that `pred` accepts: WhatsApp's id and the body.
async fn contact_got(
    fake: &FakeServer,
    pred: impl Fn(&wa::Message) -> bool,
) -> (String, Box<wa::Message>) {
    let o = fake
        .wait_for(Duration::from_secs(15), |o| {
            matches!(o, Observed::PeerReceived { to, message, .. } if to.starts_with(CONTACT) && pred(message))
        })
        .await
        .expect("the contact received it");
    let Observed::PeerReceived { id, message, .. } = o else {
        unreachable!()
    };
    (id, message)
}

/// The data of the first event `kind` among `hooks`' requests that `pred` accepts.
async fn first_event_where(hooks: &Receiver, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        if let Some(data) = hooks
            .hits()
            .iter()
            .map(|h| h.json())
            .filter(|e| e["event"] == json!(kind))
            .map(|e| e["data"].clone())
            .find(|d| pred(d))
        {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no such {kind} event");
}

async fn first_event(hooks: &Receiver, kind: &str) -> Value {
    first_event_where(hooks, kind, |_| true).await
}

fn protocol_of((_, m): (String, Box<wa::Message>)) -> wa::message::ProtocolMessage {
    m.protocol_message
        .as_option()
        .cloned()
        .expect("a protocol message")
}

/// A protocol message from the contact about its message `id` (an edit to `text`, or a revoke).
fn contact_change(id: &str, text: Option<&str>) -> wa::Message {
    use wa::message::protocol_message::Type;
    wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            key: MessageField::some(wa::MessageKey {
                remote_jid: Some(format!("{PHONE}@s.whatsapp.net")),
                from_me: Some(true),
                id: Some(id.to_owned()),
                participant: None,
            }),
            r#type: Some(if text.is_some() {
                Type::MessageEdit
            } else {
                Type::Revoke
            }),
            edited_message: match text {
                Some(t) => MessageField::some(wa::Message {
                    conversation: Some(t.to_owned()),
                    ..Default::default()
                }),
                None => MessageField::none(),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn edits_and_deletes_reach_the_peer_and_come_back(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(
        &s,
        &fake,
        &k,
        json!({"webhookUrl": hooks.url, "webhookEvents": ["message.received", "message.edited", "message.deleted"], "settings": {"autoTyping": false}}),
    )
    .await;

    // Out: an edit and a revoke of what the instance sent, keyed by WhatsApp's id of it.
    let mine = send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "message": "frist"}),
    )
    .await;
    let Observed::PeerReceived { id: wa_id, .. } = contact_received(&fake).await else {
        unreachable!()
    };
    eventually_for(&s, &k, &format!("/v1/messages/{mine}/status"), 15, |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    let r = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/messages/{mine}"),
            Some(&k),
            Some(json!({"message": "first"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let edit = protocol_of(
        contact_got(&fake, |m| {
            m.protocol_message
                .as_option()
                .is_some_and(|p| p.edited_message.is_set())
        })
        .await,
    );
    assert_eq!(
        edit.key.as_option().unwrap().id.as_deref(),
        Some(wa_id.as_str())
    );
    assert_eq!(
        edit.edited_message
            .as_option()
            .unwrap()
            .conversation
            .as_deref(),
        Some("first")
    );
    eventually_for(&s, &k, &format!("/v1/messages/{mine}"), 15, |b| {
        b["data"]["content"] == json!("first") && b["data"]["edited"] == json!(true)
    })
    .await;
    let r = s
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/messages/{mine}"),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let revoke = protocol_of(
        contact_got(&fake, |m| {
            m.protocol_message
                .as_option()
                .is_some_and(|p| p.r#type == Some(wa::message::protocol_message::Type::Revoke))
        })
        .await,
    );
    assert_eq!(
        revoke.key.as_option().unwrap().id.as_deref(),
        Some(wa_id.as_str())
    );
    assert_eq!(revoke.key.as_option().unwrap().from_me, Some(true));
    eventually_for(&s, &k, &format!("/v1/messages/{mine}"), 15, |b| {
        b["data"]["deleted"] == json!(true)
    })
    .await;

    // In: the contact edits, then deletes, what it wrote.
    let wa_text = fake.send_text_from(CONTACT, PHONE, "ola").await.unwrap();
    let theirs = first_received(&hooks).await["data"]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.send_message_from(
        CONTACT,
        PHONE,
        &contact_change(&wa_text, Some("olá")),
        "text",
    )
    .await
    .unwrap();
    // The instance's own edit was reported too, from its own number.
    let own = first_event_where(&hooks, "message.edited", |d| d["messageId"] == json!(mine)).await;
    assert_eq!(own["from"], json!(PHONE));
    let edited = first_event_where(&hooks, "message.edited", |d| {
        d["messageId"] == json!(theirs)
    })
    .await;
    assert_eq!(edited["from"], json!(CONTACT));
    assert_eq!(edited["content"], json!("olá"));
    let item = s.get(&format!("/v1/messages/{theirs}"), &k).await;
    assert_eq!(item.body["data"]["content"], json!("olá"), "{}", item.body);
    let wa_revoke = fake
        .send_message_from(CONTACT, PHONE, &contact_change(&wa_text, None), "text")
        .await
        .unwrap();
    let deleted = first_event_where(&hooks, "message.deleted", |d| {
        d["messageId"] == json!(theirs)
    })
    .await;
    assert_eq!(deleted["from"], json!(CONTACT), "{deleted}");
    let item = s.get(&format!("/v1/messages/{theirs}"), &k).await;
    assert_eq!(item.body["data"]["deleted"], json!(true), "{}", item.body);
    // Recorded, then acknowledged.
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { id, .. } if *id == wa_revoke),
    )
    .await
    .expect("the client acknowledged the revoke");
    s.stop().await;
}

async fn a_call_is_rejected_and_the_caller_told_why(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    linked(
        &s,
        &fake,
        &k,
        json!({"webhookUrl": hooks.url, "webhookEvents": ["call.received"],
            "settings": {"autoTyping": false, "rejectCalls": true, "rejectCallMessage": "No calls, please."}}),
    )
    .await;
    let call_id = fake.call_from(CONTACT, PHONE, true).await;
    fake.wait_for(Duration::from_secs(15), |o| {
        matches!(o, Observed::CallSignal { action, call_id: c, to } if action == "reject" && *c == call_id && to.starts_with(CONTACT))
    })
    .await
    .expect("the contact sees the call rejected");
    let ev = first_event(&hooks, "call.received").await;
    assert_eq!(ev["from"], json!(CONTACT), "{ev}");
    assert_eq!(ev["isVideo"], json!(true));
    assert_eq!(ev["rejected"], json!(true));
    let Observed::PeerReceived { text, .. } = contact_received(&fake).await else {
        unreachable!()
    };
    assert_eq!(text.as_deref(), Some("No calls, please."));
    s.stop().await;
}

async fn a_contacts_presence_and_typing_are_reported(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(
        &s,
        &fake,
        &k,
        json!({"webhookUrl": hooks.url, "webhookEvents": ["presence.updated"], "settings": {"autoTyping": false}}),
    )
    .await;
    // Writing to a contact follows its presence, as WhatsApp Web does for an open chat.
    send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "message": "oi"}),
    )
    .await;
    fake.wait_for(
        Duration::from_secs(15),
        |o| matches!(o, Observed::Presence { r#type } if r#type == "subscribe"),
    )
    .await
    .expect("the client asks for the contact's presence");
    fake.chatstate_from(CONTACT, PHONE, "composing", true).await;
    let recording = first_event_where(&hooks, "presence.updated", |d| {
        d["state"] == json!("recording")
    })
    .await;
    assert_eq!(recording["from"], json!(CONTACT), "{recording}");
    fake.presence_from(CONTACT, PHONE, Some(1_700_000_000))
        .await;
    let away = first_event_where(&hooks, "presence.updated", |d| {
        d["state"] == json!("unavailable")
    })
    .await;
    assert_eq!(
        away["lastSeen"],
        json!("2023-11-14T22:13:20.000Z"),
        "{away}"
    );
    assert_eq!(away["instanceId"], json!(id));
    s.stop().await;
}

async fn a_sender_known_only_by_its_lid_is_kept_and_answered(backend: Backend) {
    // (The fake gives the account's own LID from 100000000000001 up.)
    const ANON: &str = "200000000000001";
    const SHARED: &str = "200000000000002";
    let fake = FakeServer::new();
    fake.add_lid_contact(ANON, None).await;
    fake.add_lid_contact(SHARED, Some("15554445555")).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(
        &s,
        &fake,
        &k,
        json!({"webhookUrl": hooks.url, "settings": {"autoTyping": false}}),
    )
    .await;
    let wa_id = fake.send_text_from(ANON, PHONE, "who am I?").await.unwrap();
    let got = first_event_where(&hooks, "message.received", |d| {
        d["content"] == json!("who am I?")
    })
    .await;
    let lid = format!("{ANON}@lid");
    assert_eq!(got["from"], json!(lid), "{got}");
    assert_eq!(got["fromLid"], json!(lid));
    let item = s
        .get(
            &format!("/v1/messages/{}", got["messageId"].as_str().unwrap()),
            &k,
        )
        .await;
    assert_eq!(item.body["data"]["fromLid"], json!(lid), "{}", item.body);
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::ClientReceipt { id, .. } if *id == wa_id),
    )
    .await
    .expect("stored, then acknowledged");
    // A LID that comes with its number is recorded by the number.
    fake.send_text_from(SHARED, PHONE, "I am Bia")
        .await
        .unwrap();
    let bia = first_event_where(&hooks, "message.received", |d| {
        d["content"] == json!("I am Bia")
    })
    .await;
    assert_eq!(bia["from"], json!("15554445555"), "{bia}");
    assert!(bia.get("fromLid").is_none());
    // The LID-only chat can be answered.
    send(
        &s,
        &k,
        json!({"instanceId": id, "to": lid, "message": "you are a LID"}),
    )
    .await;
    fake.wait_for(Duration::from_secs(15), |o| {
        matches!(o, Observed::PeerReceived { to, text, .. } if to.starts_with(ANON) && text.as_deref() == Some("you are a LID"))
    })
    .await
    .expect("the LID contact got the answer");
    s.stop().await;
}

async fn mentions_reach_the_peer_and_come_back(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(
        &s,
        &fake,
        &k,
        json!({"webhookUrl": hooks.url, "settings": {"autoTyping": false}}),
    )
    .await;
    send(
        &s,
        &k,
        json!({"instanceId": id, "to": CONTACT, "message": "oi @you", "mentions": [CONTACT]}),
    )
    .await;
    let Observed::PeerReceived { message, .. } = contact_received(&fake).await else {
        unreachable!()
    };
    let x = message
        .extended_text_message
        .as_option()
        .expect("an extended text");
    assert_eq!(x.text.as_deref(), Some("oi @you"));
    assert_eq!(
        x.context_info.as_option().unwrap().mentioned_jid,
        vec![format!("{CONTACT}@s.whatsapp.net")]
    );
    let back = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some("you too @me".into()),
            context_info: MessageField::some(wa::ContextInfo {
                mentioned_jid: vec![format!("{PHONE}@s.whatsapp.net")],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    fake.send_message_from(CONTACT, PHONE, &back, "text")
        .await
        .unwrap();
    let got = first_received(&hooks).await;
    assert_eq!(got["data"]["mentions"], json!([PHONE]), "{got}");
    s.stop().await;
}

/// A local file server with `files` (path, content type, bytes); returns its base URL.
async fn files_host(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> String {
    use axum::http::header;
    let mut app = axum::Router::new();
    for (path, kind, bytes) in files {
        app = app.route(
            path,
            axum::routing::get(move || {
                let bytes = bytes.clone();
                async move { ([(header::CONTENT_TYPE, kind)], bytes) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A file of each media kind but the image (its own test above) is uploaded, and the contact's
/// device decrypts it from WhatsApp's message of that kind; the contact's files come back with
/// their type, caption or file name, and the same bytes behind the media URL.
async fn every_media_kind_reaches_the_peer_and_comes_back(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(
        &s,
        &fake,
        &k,
        json!({"webhookUrl": hooks.url, "settings": {"autoTyping": false}}),
    )
    .await;
    let webp = b"RIFF\x1a\0\0\0WEBPVP8 a tiny sticker".to_vec();
    let ogg = b"OggS\0\x02 a short voice note".to_vec();
    let mp3 = b"ID3\x04\0 a song".to_vec();
    let mp4 = b"\0\0\0\x18ftypmp42 a short clip".to_vec();
    let pdf = b"%PDF-1.7 an invoice".to_vec();
    let files = files_host(vec![
        ("/s.webp", "image/webp", webp.clone()),
        ("/v.ogg", "audio/ogg; codecs=opus", ogg.clone()),
        ("/a.mp3", "audio/mpeg", mp3.clone()),
        ("/c.mp4", "video/mp4", mp4.clone()),
        ("/i.pdf", "application/pdf", pdf.clone()),
    ])
    .await;
    let to = |path: &str, extra: Value| {
        let mut body =
            json!({"instanceId": id, "to": CONTACT, "mediaUrl": format!("{files}{path}")});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    send(&s, &k, to("/s.webp", json!({"mediaType": "sticker"}))).await;
    send(
        &s,
        &k,
        to("/v.ogg", json!({"mediaType": "audio", "voiceNote": true})),
    )
    .await;
    send(&s, &k, to("/a.mp3", json!({"mediaType": "audio"}))).await;
    send(
        &s,
        &k,
        to(
            "/c.mp4",
            json!({"mediaType": "video", "caption": "the clip"}),
        ),
    )
    .await;
    send(
        &s,
        &k,
        to(
            "/i.pdf",
            json!({"mediaType": "document", "filename": "Invoice-1.pdf"}),
        ),
    )
    .await;

    let (_, m) = contact_got(&fake, |m| m.sticker_message.is_set()).await;
    let st = m.sticker_message.as_option().unwrap();
    assert_eq!(st.mimetype.as_deref(), Some("image/webp"));
    let plain = fake.cdn.decrypt(
        st.direct_path.as_deref(),
        st.media_key.as_deref(),
        WaMediaType::Sticker,
    );
    assert_eq!(plain.expect("uploaded"), webp);
    for (ptt, bytes) in [(true, &ogg), (false, &mp3)] {
        let (_, m) = contact_got(&fake, |m| {
            m.audio_message
                .as_option()
                .is_some_and(|a| a.ptt.unwrap_or(false) == ptt)
        })
        .await;
        let a = m.audio_message.as_option().unwrap();
        let plain = fake.cdn.decrypt(
            a.direct_path.as_deref(),
            a.media_key.as_deref(),
            WaMediaType::Audio,
        );
        assert_eq!(&plain.expect("uploaded"), bytes, "push-to-talk {ptt}");
    }
    let (_, m) = contact_got(&fake, |m| m.video_message.is_set()).await;
    let v = m.video_message.as_option().unwrap();
    assert_eq!(
        (v.caption.as_deref(), v.mimetype.as_deref()),
        (Some("the clip"), Some("video/mp4"))
    );
    let plain = fake.cdn.decrypt(
        v.direct_path.as_deref(),
        v.media_key.as_deref(),
        WaMediaType::Video,
    );
    assert_eq!(plain.expect("uploaded"), mp4);
    let (_, m) = contact_got(&fake, |m| m.document_message.is_set()).await;
    let d = m.document_message.as_option().unwrap();
    assert_eq!(
        (d.file_name.as_deref(), d.mimetype.as_deref()),
        (Some("Invoice-1.pdf"), Some("application/pdf"))
    );
    let plain = fake.cdn.decrypt(
        d.direct_path.as_deref(),
        d.media_key.as_deref(),
        WaMediaType::Document,
    );
    assert_eq!(plain.expect("uploaded"), pdf);

    // The contact sends each kind back; each arrives with its type and a downloadable file.
    let back = [
        ("sticker", PhoneFile::Sticker { webp: &webp }),
        (
            "voice",
            PhoneFile::Audio {
                bytes: &ogg,
                mimetype: "audio/ogg; codecs=opus",
                ptt: true,
            },
        ),
        (
            "audio",
            PhoneFile::Audio {
                bytes: &mp3,
                mimetype: "audio/mpeg",
                ptt: false,
            },
        ),
        (
            "video",
            PhoneFile::Video {
                mp4: &mp4,
                caption: "look",
            },
        ),
        (
            "document",
            PhoneFile::Document {
                bytes: &pdf,
                file_name: "Receipt.pdf",
                mimetype: "application/pdf",
            },
        ),
    ];
    for (kind, file) in back {
        let bytes = file.bytes().to_vec();
        let msg = fake.cdn.phone_media(file).unwrap();
        fake.send_message_from(CONTACT, PHONE, &msg, "media")
            .await
            .unwrap();
        let got = first_event_where(&hooks, "message.received", |d| d["type"] == json!(kind)).await;
        match kind {
            "video" => assert_eq!(got["media"]["caption"], json!("look"), "{got}"),
            "document" => assert_eq!(got["media"]["filename"], json!("Receipt.pdf"), "{got}"),
            _ => {}
        }
        let url = got["media"]["url"].as_str().unwrap().to_owned();
        let dl = s.http.get(&url).bearer_auth(&k).send().await.unwrap();
        assert_eq!(dl.status(), StatusCode::OK, "{kind}");
        assert_eq!(dl.bytes().await.unwrap().to_vec(), bytes, "{kind}");
    }
    s.stop().await;
}

async fn blocking_and_the_own_profile_reach_whatsapp(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let id = linked(&s, &fake, &k, json!({"settings": {"autoTyping": false}})).await;
    // WhatsApp blocks by LID: a number check learns the contact's.
    let r = s
        .post(
            "/v1/contacts/check",
            &k,
            json!({"instanceId": id, "phones": [CONTACT]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let jpeg = photo();
    let picture = media_host(jpeg.clone()).await;
    for (what, blocked) in [("block", true), ("unblock", false)] {
        let r = s
            .post(
                &format!("/v1/contacts/{CONTACT}/{what}"),
                &k,
                json!({"instanceId": id}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["data"]["isBlocked"], json!(blocked));
        fake.wait_for(
            Duration::from_secs(10),
            |o| matches!(o, Observed::BlocklistChanged { action, .. } if action == what),
        )
        .await
        .expect("WhatsApp is told");
    }
    let r = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/instances/{id}/profile"),
            Some(&k),
            Some(json!({"name": "Loja Centro", "about": "Open 9-18", "pictureUrl": picture})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["profileName"], json!("Loja Centro"));
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::PushName { name } if name == "Loja Centro"),
    )
    .await
    .expect("the name is announced");
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::AboutSet { text } if text == "Open 9-18"),
    )
    .await
    .expect("the about text is set");
    fake.wait_for(
        Duration::from_secs(10),
        |o| matches!(o, Observed::PictureSet { bytes } if *bytes == jpeg),
    )
    .await
    .expect("the picture is the fetched file");
    s.stop().await;
}

/// The logins (handshakes of a linked device) the fake has seen.
fn logins(fake: &FakeServer) -> usize {
    fake.observed()
        .iter()
        .filter(|o| matches!(o, Observed::Handshake { login: Some(_), .. }))
        .count()
}

/// Issue 19: a restart does not log every linked number in at once (`--resume-rate`).
async fn a_restart_reopens_the_sessions_at_the_resume_rate(backend: Backend) {
    let fake = FakeServer::new();
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let phones = ["15550001201", "15550001202", "15550001203", "15550001204"];
    let mut ids = Vec::new();
    for phone in phones {
        let (id, c) = connect_qr(&s, &k, json!({})).await;
        scan(&s, &fake, c.body["qrCode"].as_str().unwrap(), phone).await;
        status_is(&s, &k, &id, "connected").await;
        ids.push(id);
    }
    let before = logins(&fake);
    let mut options = wa_options(&fake);
    options.resume_rate = 2;
    let s = s
        .restart_with(move |c| {
            c.wa = options;
            c.url_policy.allow_private = true;
        })
        .await;
    // When each of the four logins after the restart happened.
    let mut at = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    for n in 1..=phones.len() {
        while logins(&fake) < before + n {
            assert!(
                std::time::Instant::now() < deadline,
                "login {n} of {} never came",
                phones.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        at.push(std::time::Instant::now());
    }
    for id in &ids {
        status_is(&s, &k, id, "connected").await;
    }
    // Two a second: the last is at least 1.5 s after the first began (1 s allowing for the
    // first's own handshake); unpaced, all four come together.
    let span = at[phones.len() - 1] - at[0];
    assert!(
        span >= Duration::from_secs(1),
        "four sessions reopened within {span:?} at two a second"
    );
    s.stop().await;
}
