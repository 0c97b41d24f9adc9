//! Connecting, sending and receiving on the sandbox network, over HTTP only (§6, §7, §15.5, §16).

mod common;

use std::time::Duration;

use common::sandbox::sandbox;
use common::{Reply, TestServer, eventually, linked};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wagate_testkit::{Backend, on_both_backends};

async fn send(s: &TestServer, key: &str, body: Value) -> Reply {
    s.post("/v1/messages/send", key, body).await
}

async fn two_instances_talk_through_the_api(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let b = linked(
        &s,
        &k,
        "5511900000002",
        json!({"autoRead": true, "autoTyping": false}),
    )
    .await;

    let r = send(&s, &k, json!({"instanceId": a, "to": "5511900000002", "message": "Olá B!", "metadata": {"order": 7}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["success"], json!(true));
    assert_eq!(r.body["status"], json!("queued"));
    assert!(r.body.get("data").is_none(), "send answers flat");
    let mid = r.body["messageId"].as_str().unwrap().to_owned();

    // A's message reaches read (B reads automatically), passing through sent and delivered.
    let st = eventually(&s, &k, &format!("/v1/messages/{mid}/status"), |b| {
        b["data"]["status"] == json!("read")
    })
    .await;
    let d = &st.body["data"];
    assert_eq!(d["to"], json!("5511900000002"));
    for t in ["sentAt", "deliveredAt", "readAt"] {
        assert!(d[t].as_str().is_some(), "{t} set: {d}");
    }
    assert!(d["sentAt"].as_str() <= d["deliveredAt"].as_str());
    assert!(d["deliveredAt"].as_str() <= d["readAt"].as_str());

    // B's history and chats show it, from A.
    let h = s.get(&format!("/v1/messages?instanceId={b}"), &k).await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.body);
    let m = &h.body["data"][0];
    assert_eq!(m["direction"], json!("inbound"));
    assert_eq!(m["from"], json!("5511900000001"));
    assert_eq!(m["content"], json!("Olá B!"));
    assert_eq!(m["type"], json!("text"));
    let chats = s
        .get(&format!("/v1/messages/chats?instanceId={b}"), &k)
        .await;
    let c = &chats.body["data"][0];
    assert_eq!(c["phone"], json!("5511900000001"));
    assert_eq!(c["lastMessage"]["content"], json!("Olá B!"));
    assert_eq!(c["lastMessage"]["isFromMe"], json!(false));
    assert_eq!(c["unreadCount"], json!(0), "autoRead marks it read");
    assert_eq!(chats.body["pagination"]["total"], json!(1));

    // A's history has the outbound message with its metadata; its chat is with B.
    let h = s
        .get(
            &format!("/v1/messages?instanceId={a}&phone=5511900000002"),
            &k,
        )
        .await;
    assert_eq!(h.body["data"][0]["messageId"], json!(mid));
    assert_eq!(h.body["data"][0]["to"], json!("5511900000002"));
    assert_eq!(h.body["data"][0]["metadata"], json!({"order": 7}));

    // Stats and health come from the data.
    let st = s.get(&format!("/v1/instances/{a}/status"), &k).await;
    assert_eq!(st.body["data"]["stats"]["messagesSent"], json!(1));
    assert_eq!(st.body["data"]["health"]["messageDeliveryRate"], json!(1.0));
    let st = s.get(&format!("/v1/instances/{b}/status"), &k).await;
    assert_eq!(st.body["data"]["stats"]["messagesReceived"], json!(1));
    s.stop().await;
}

async fn virtual_contacts_acknowledge_and_999_is_not_on_whatsapp(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let ok = send(
        &s,
        &k,
        json!({"instanceId": a, "to": "5511988887777", "message": "hi"}),
    )
    .await;
    let id = ok.body["messageId"].as_str().unwrap();
    eventually(&s, &k, &format!("/v1/messages/{id}/status"), |b| {
        b["data"]["status"] == json!("read")
    })
    .await;

    let bad = send(
        &s,
        &k,
        json!({"instanceId": a, "to": "99912345678", "message": "hi"}),
    )
    .await;
    let id = bad.body["messageId"].as_str().unwrap();
    let st = eventually(&s, &k, &format!("/v1/messages/{id}/status"), |b| {
        b["data"]["status"] == json!("failed")
    })
    .await;
    assert_eq!(
        st.body["data"]["error"]["code"],
        json!("recipient_not_on_whatsapp")
    );

    let check = s
        .post(
            "/v1/contacts/check",
            &k,
            json!({"instanceId": a, "phones": ["5511988887777", "99912345678"]}),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert_eq!(check.body["data"][0]["exists"], json!(true));
    assert_eq!(check.body["data"][1]["exists"], json!(false));
    s.stop().await;
}

async fn contacts_write_in_and_are_listed(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let r = s
        .post("/sandbox/v1/messages", &k, json!({"to": "5511900000001", "from": "5511977776666", "fromName": "João Silva", "message": "Olá, preciso de ajuda"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let h = s.get(&format!("/v1/messages?instanceId={a}"), &k).await;
    assert_eq!(h.body["data"][0]["fromName"], json!("João Silva"));
    let contacts = s
        .get(&format!("/v1/contacts?instanceId={a}&search=joão"), &k)
        .await;
    assert_eq!(contacts.body["data"][0]["phone"], json!("5511977776666"));
    assert_eq!(contacts.body["data"][0]["name"], json!("João Silva"));
    let chats = s
        .get(
            &format!("/v1/messages/chats?instanceId={a}&unreadOnly=true"),
            &k,
        )
        .await;
    assert_eq!(chats.body["data"][0]["unreadCount"], json!(1));
    assert_eq!(chats.body["data"][0]["contactName"], json!("João Silva"));
    s.stop().await;
}

async fn idempotency_key_sends_once(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let body = json!({"instanceId": a, "to": "5511988887777", "message": "once"});
    let post = |body: Value, key: &'static str| {
        let req = s
            .http
            .post(format!("{}/v1/messages/send", s.base))
            .bearer_auth(&k)
            .header("Idempotency-Key", key)
            .json(&body);
        async move { TestServer::reply(req.send().await.unwrap()).await }
    };
    let first = post(body.clone(), "order-1").await;
    let again = post(body.clone(), "order-1").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        first.body, again.body,
        "the same response, the same message"
    );
    let other = post(
        json!({"instanceId": a, "to": "5511988887777", "message": "twice"}),
        "order-1",
    )
    .await;
    other.assert_error(409, "idempotency_conflict");
    let h = s.get(&format!("/v1/messages?instanceId={a}"), &k).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 1, "{}", h.body);
    s.stop().await;
}

async fn send_and_connection_errors(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let idle = s.create_instance(&k, "idle").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(
        &s,
        &k,
        json!({"instanceId": idle, "to": "5511988887777", "message": "x"}),
    )
    .await
    .assert_error(409, "instance_not_connected");
    s.post(&format!("/v1/instances/{idle}/disconnect"), &k, json!({}))
        .await
        .assert_error(409, "instance_not_connected");
    s.post(&format!("/v1/instances/{idle}/restart"), &k, json!({}))
        .await
        .assert_error(409, "no_saved_session");
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    s.post(
        &format!("/v1/instances/{a}/connect"),
        &k,
        json!({"method": "qrcode"}),
    )
    .await
    .assert_error(409, "already_connected");
    s.get(&format!("/v1/instances/{a}/qrcode"), &k)
        .await
        .assert_error(409, "already_connected");
    s.post(
        &format!("/v1/instances/{a}/connect"),
        &k,
        json!({"method": "fax"}),
    )
    .await
    .assert_error(400, "invalid_request");
    for (body, code) in [
        (
            json!({"instanceId": a, "to": "+5511988887777", "message": "x"}),
            "invalid_phone_number",
        ),
        (
            json!({"instanceId": a, "to": "123", "message": "x"}),
            "invalid_phone_number",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777"}),
            "missing_content",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777", "message": "x", "mediaUrl": "https://e.com/a.jpg", "mediaType": "image"}),
            "missing_content",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777", "mediaUrl": "https://e.com/a.jpg", "mediaType": "gif"}),
            "invalid_media",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777", "mediaUrl": "https://e.com/a.jpg"}),
            "invalid_media",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777", "mediaUrl": "https://127.0.0.1/a.jpg", "mediaType": "image"}),
            "invalid_media",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777", "message": "x".repeat(65_537)}),
            "invalid_request",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777", "message": "x", "metadata": [1]}),
            "invalid_request",
        ),
        (
            json!({"instanceId": a, "to": "5511988887777", "message": "x", "metadata": {"k": "v".repeat(5000)}}),
            "invalid_request",
        ),
        (
            json!({"instanceId": a, "to": 5511988887777_u64, "message": "x"}),
            "invalid_request",
        ),
    ] {
        send(&s, &k, body).await.assert_error(400, code);
    }
    let r = send(&s, &k, json!({"instanceId": a, "message": "x"})).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(
        r.body["error"]["details"][0]["field"],
        json!("to"),
        "{}",
        r.body
    );
    send(&s, &k, json!({"instanceId": "inst_01jd3k9w6q8x2m4v7c5b0n1t2r", "to": "5511988887777", "message": "x"}))
        .await
        .assert_error(404, "instance_not_found");
    let (_, other) = s.account("pro").await;
    send(
        &s,
        &other,
        json!({"instanceId": a, "to": "5511988887777", "message": "x"}),
    )
    .await
    .assert_error(404, "instance_not_found");
    s.get("/v1/messages/msg_01jd3k9w6q8x2m4v7c5b0n1t2r/status", &k)
        .await
        .assert_error(404, "message_not_found");
    s.get("/v1/messages?limit=5", &k)
        .await
        .assert_error(400, "invalid_request");
    s.post(
        "/sandbox/v1/scan",
        &k,
        json!({"qrCode": "data:image/png;base64,AAAA", "phone": "5511900000009"}),
    )
    .await
    .assert_error(400, "invalid_request");
    s.stop().await;
}

async fn drop_reconnects_and_unlink_logs_out(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let r = s
        .post(&format!("/sandbox/v1/instances/{a}/drop"), &k, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let st = s.get(&format!("/v1/instances/{a}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("connecting"));
    assert_eq!(
        st.body["data"]["lastError"]["code"],
        json!("connection_lost")
    );
    // Accepted while reconnecting: queued, then sent when the connection is back.
    let m = send(
        &s,
        &k,
        json!({"instanceId": a, "to": "5511988887777", "message": "during the blip"}),
    )
    .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    let id = m.body["messageId"].as_str().unwrap().to_owned();
    eventually(&s, &k, &format!("/v1/instances/{a}/status"), |b| {
        b["data"]["status"] == json!("connected")
    })
    .await;
    eventually(&s, &k, &format!("/v1/messages/{id}/status"), |b| {
        b["data"]["sentAt"].is_string()
    })
    .await;

    let r = s
        .post(&format!("/sandbox/v1/instances/{a}/unlink"), &k, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let st = s.get(&format!("/v1/instances/{a}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("disconnected"));
    assert_eq!(st.body["data"]["lastError"]["code"], json!("logged_out"));
    assert_eq!(st.body["data"]["phone"], json!(null));
    send(
        &s,
        &k,
        json!({"instanceId": a, "to": "5511988887777", "message": "after"}),
    )
    .await
    .assert_error(409, "instance_not_connected");
    s.stop().await;
}

async fn disconnect_logs_out_and_restart_resumes(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({})).await;
    let r = s
        .post(&format!("/v1/instances/{a}/restart"), &k, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    eventually(&s, &k, &format!("/v1/instances/{a}/status"), |b| {
        b["data"]["status"] == json!("connected")
    })
    .await;
    let r = s
        .call(
            Method::POST,
            &format!("/v1/instances/{a}/disconnect"),
            Some(&k),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"success": true, "message": "Instance disconnected successfully"})
    );
    let st = s.get(&format!("/v1/instances/{a}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("disconnected"));
    s.post(&format!("/v1/instances/{a}/restart"), &k, json!({}))
        .await
        .assert_error(409, "no_saved_session");
    s.stop().await;
}

async fn pairing_code_links_too(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let id = s.create_instance(&k, "pair").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = s
        .post(
            &format!("/v1/instances/{id}/connect"),
            &k,
            json!({"method": "qrcode", "phone": "5511900000005"}),
        )
        .await;
    let code = c.body["pairingCode"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 8);
    let r = s
        .post(
            "/sandbox/v1/scan",
            &k,
            json!({"pairingCode": code, "phone": "5511900000005"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let st = s.get(&format!("/v1/instances/{id}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("connected"));
    s.stop().await;
}

/// Reads an instance's whole history, oldest first.
async fn whole_history(s: &TestServer, key: &str, instance: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut path = format!("/v1/messages?instanceId={instance}&limit=100");
        if let Some(b) = &before {
            path.push_str(&format!("&before={b}"));
        }
        let page = s.get(&path, key).await;
        all.extend(page.body["data"].as_array().unwrap().iter().cloned());
        match page.body["pagination"]["nextCursor"].as_str() {
            Some(c) if page.body["pagination"]["hasMore"] == json!(true) => {
                before = Some(c.to_owned())
            }
            _ => break,
        }
    }
    all.reverse();
    all
}

async fn concurrent_sends_leave_in_accepted_order(backend: Backend) {
    const N: usize = 1000;
    const CLIENTS: usize = 32;
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, "5511900000001", json!({"autoTyping": false})).await;
    let b = linked(&s, &k, "5511900000002", json!({"autoTyping": false})).await;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (http, base, key, a) = (s.http.clone(), s.base.clone(), k.clone(), a.clone());
        tasks.spawn(async move {
            let mut accepted = Vec::new();
            for i in (c..N).step_by(CLIENTS) {
                let r = http
                    .post(format!("{base}/v1/messages/send"))
                    .bearer_auth(&key)
                    .json(
                        &json!({"instanceId": a, "to": "5511900000002", "message": i.to_string()}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let body: Value = r.json().await.unwrap();
                accepted.push((
                    body["messageId"].as_str().unwrap().to_owned(),
                    i.to_string(),
                ));
            }
            accepted
        });
    }
    let mut accepted = Vec::new();
    while let Some(r) = tasks.join_next().await {
        accepted.extend(r.unwrap());
    }
    // The API's order of acceptance is message-id order.
    accepted.sort();
    let expected: Vec<String> = accepted.into_iter().map(|(_, text)| text).collect();
    let mut received = Vec::new();
    for _ in 0..600 {
        received = whole_history(&s, &k, &b).await;
        if received.len() >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let texts: Vec<String> = received
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts.len(), N, "every message arrived exactly once");
    assert_eq!(
        texts, expected,
        "B received A's messages in the order the API accepted them"
    );
    s.stop().await;
}

on_both_backends!(
    concurrent_sends_leave_in_accepted_order,
    two_instances_talk_through_the_api,
    virtual_contacts_acknowledge_and_999_is_not_on_whatsapp,
    contacts_write_in_and_are_listed,
    idempotency_key_sends_once,
    send_and_connection_errors,
    drop_reconnects_and_unlink_logs_out,
    disconnect_logs_out_and_restart_resumes,
    pairing_code_links_too,
);
