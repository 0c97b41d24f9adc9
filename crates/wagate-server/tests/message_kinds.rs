//! Every kind of message (§17.1, §17.3) on the sandbox network (§18), over HTTP: what one
//! instance sends arrives at the other as `message.received` with its content object, history
//! and `GET /v1/messages/{id}` give it back whole, reactions land on the message they are about,
//! a virtual contact's votes are counted, and edits and deletes follow on both sides. Bad input gets the envelope with its field.

mod common;

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use common::receiver::{Answer, Receiver};
use common::sandbox::inject;
use common::{TestServer, eventually, linked};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_testkit::{Backend, on_both_backends};

const ME: &str = "5511900000001";
const OTHER: &str = "5511900000002";
/// The virtual contact `inject` writes as.
const ANA: &str = "5511988887777";

/// A sandbox server that may fetch media from, and post webhooks to, loopback.
async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy.allow_private = true;
    })
    .await
}

/// Serves a sticker (WebP), one over 500 KB, a voice note (OGG), and a file of each other
/// media kind (`FILES`); returns the base URL.
async fn media_host() -> String {
    let mut app = Router::new()
        .route(
            "/s.webp",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "image/webp")],
                    &b"RIFF\x1a\0\0\0WEBPVP8 "[..],
                )
            }),
        )
        .route(
            "/big.webp",
            get(|| async {
                let mut big = b"RIFF\x1a\0\0\0WEBPVP8 ".to_vec();
                big.resize(600 * 1024, 0);
                ([(header::CONTENT_TYPE, "image/webp")], big)
            }),
        )
        .route(
            "/v.ogg",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "audio/ogg; codecs=opus")],
                    &b"OggS\0\x02"[..],
                )
            }),
        );
    for (path, mime, bytes) in FILES {
        app = app.route(
            path,
            get(move || async move { ([(header::CONTENT_TYPE, mime)], bytes) }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A photo, a clip, a song and an invoice: path, content type, bytes.
const FILES: [(&str, &str, &[u8]); 4] = [
    ("/p.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 a photo"),
    ("/c.mp4", "video/mp4", b"\0\0\0\x18ftypmp42 a clip"),
    ("/a.mp3", "audio/mpeg", b"ID3\x04\0 a song"),
    ("/i.pdf", "application/pdf", b"%PDF-1.7 an invoice"),
];

async fn send(s: &TestServer, key: &str, body: Value) -> String {
    let r = s.post("/v1/messages/send", key, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["messageId"].as_str().unwrap().to_owned()
}

/// The receiving instance's history item of the message whose `type` is `kind`.
async fn received(s: &TestServer, key: &str, instance: &str, kind: &str) -> Value {
    let r = eventually(
        s,
        key,
        &format!("/v1/messages?instanceId={instance}"),
        |b| {
            b["data"]
                .as_array()
                .is_some_and(|l| l.iter().any(|m| m["type"] == json!(kind)))
        },
    )
    .await;
    let item = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == json!(kind))
        .unwrap()
        .clone();
    // The item alone is the same as in the list.
    let id = item["messageId"].as_str().unwrap();
    let one = s.get(&format!("/v1/messages/{id}"), key).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["data"], item);
    item
}

/// The `data` of the webhook events of `kind` that `rx` got.
fn events(rx: &Receiver, kind: &str) -> Vec<Value> {
    rx.hits()
        .iter()
        .map(|h| h.json())
        .filter(|e| e["event"] == json!(kind))
        .map(|e| e["data"].clone())
        .collect()
}

async fn events_within(rx: &Receiver, kind: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let found = events(rx, kind);
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} {kind} events: {:?}", events(rx, kind));
}

async fn every_kind_travels_between_instances_whole(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let files = media_host().await;
    let rx = Receiver::start(Answer::Ok).await;
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let hook = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/instances/{b}"),
            Some(&k),
            Some(json!({"webhookUrl": rx.url})),
        )
        .await;
    assert_eq!(hook.status, StatusCode::OK, "{}", hook.body);

    let place = json!({"latitude": -23.5505, "longitude": -46.6333, "name": "Praça da Sé", "address": "Sé, São Paulo"});
    let cards = json!([
        {"name": "Ana Souza", "phones": ["5511988887777"], "organization": "Acme", "email": "ana@example.com"},
        {"name": "Bruno", "phones": ["5521999990000", "5521988880000"]},
    ]);
    let poll = json!({"question": "Lunch?", "options": ["Pizza", "Sushi", "Salad"], "multipleAnswers": true});
    for body in [
        json!({"location": place}),
        json!({"contacts": cards}),
        json!({"poll": poll}),
        json!({"mediaUrl": format!("{files}/s.webp"), "mediaType": "sticker"}),
        json!({"mediaUrl": format!("{files}/p.jpg"), "mediaType": "image", "caption": "the photo"}),
        json!({"mediaUrl": format!("{files}/c.mp4"), "mediaType": "video", "caption": "the clip"}),
        json!({"mediaUrl": format!("{files}/a.mp3"), "mediaType": "audio"}),
        json!({"mediaUrl": format!("{files}/i.pdf"), "mediaType": "document", "filename": "Invoice.pdf"}),
        json!({"mediaUrl": format!("{files}/v.ogg"), "mediaType": "audio", "voiceNote": true}),
    ] {
        let mut body = body;
        body["instanceId"] = json!(a);
        body["to"] = json!(OTHER);
        send(&s, &k, body).await;
    }

    let loc = received(&s, &k, &b, "location").await;
    assert_eq!(loc["location"], place, "{loc}");
    assert_eq!(loc["content"], json!("Praça da Sé"));
    assert_eq!(loc["from"], json!(ME));
    let c = received(&s, &k, &b, "contacts").await;
    assert_eq!(c["contacts"][0]["name"], json!("Ana Souza"));
    assert_eq!(c["contacts"][0]["organization"], json!("Acme"));
    assert_eq!(
        c["contacts"][1]["phones"],
        json!(["5521999990000", "5521988880000"])
    );
    assert_eq!(c["content"], json!("[2 contacts]"));
    let p = received(&s, &k, &b, "poll").await;
    assert_eq!(p["poll"]["question"], json!("Lunch?"));
    assert_eq!(p["poll"]["options"], json!(["Pizza", "Sushi", "Salad"]));
    assert_eq!(p["poll"]["multipleAnswers"], json!(true));
    assert_eq!(
        p["poll"]["results"][0],
        json!({"option": "Pizza", "votes": 0, "voters": []})
    );
    let sticker = received(&s, &k, &b, "sticker").await;
    assert_eq!(
        sticker["media"]["mimeType"],
        json!("image/webp"),
        "{sticker}"
    );
    let voice = received(&s, &k, &b, "voice").await;
    assert_eq!(voice["media"]["mimeType"], json!("audio/ogg"), "{voice}");
    for ((_, mime, bytes), (kind, caption, filename)) in FILES.iter().zip([
        ("image", Some("the photo"), None),
        ("video", Some("the clip"), None),
        ("audio", None, None),
        ("document", None, Some("Invoice.pdf")),
    ]) {
        let got = received(&s, &k, &b, kind).await;
        assert_eq!(got["media"]["mimeType"], json!(mime), "{got}");
        assert_eq!(got["media"]["caption"], json!(caption), "{got}");
        assert_eq!(got["media"]["filename"], json!(filename), "{got}");
        // The receiving account downloads the same bytes.
        let url = got["media"]["url"].as_str().unwrap();
        let dl = s.http.get(url).bearer_auth(&k).send().await.unwrap();
        assert_eq!(dl.bytes().await.unwrap().to_vec(), bytes.to_vec(), "{kind}");
    }

    // The webhook carries the same objects.
    let got = events_within(&rx, "message.received", 9).await;
    let of = |kind: &str| {
        got.iter()
            .find(|e| e["type"] == json!(kind))
            .unwrap()
            .clone()
    };
    assert_eq!(of("location")["location"], place);
    assert_eq!(of("contacts")["contacts"][1]["name"], json!("Bruno"));
    assert_eq!(of("poll")["poll"]["options"][2], json!("Salad"));
    assert_eq!(of("sticker")["media"]["mediaType"], json!("sticker"));

    // The sender's own history has them too, and the chat list previews them.
    let mine = eventually(&s, &k, &format!("/v1/messages?instanceId={a}"), |b| {
        b["data"].as_array().is_some_and(|l| l.len() == 9)
    })
    .await;
    assert_eq!(
        mine.body["data"][8]["location"]["name"],
        json!("Praça da Sé")
    );
    let chats = s
        .get(&format!("/v1/messages/chats?instanceId={b}"), &k)
        .await;
    assert_eq!(
        chats.body["data"][0]["lastMessage"]["content"],
        json!("[Voice]"),
        "{}",
        chats.body
    );
    assert_eq!(chats.body["data"][0]["lastMessage"]["type"], json!("voice"));
}

async fn reactions_land_on_the_message_both_ways(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let rx = Receiver::start(Answer::Ok).await;
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let sub = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": rx.url, "instanceId": a, "events": ["message.reaction"], "name": "r"}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    let sent = send(
        &s,
        &k,
        json!({"instanceId": a, "to": OTHER, "message": "Lunch at 12?"}),
    )
    .await;
    let copy = received(&s, &k, &b, "text").await;
    let copy_id = copy["messageId"].as_str().unwrap().to_owned();

    // B reacts to its copy: A's message carries the reaction, and A is told.
    let r = send(
        &s,
        &k,
        json!({"instanceId": b, "to": ME, "reaction": {"messageId": copy_id, "emoji": "👍"}}),
    )
    .await;
    let on_a = eventually(&s, &k, &format!("/v1/messages/{sent}"), |b| {
        b["data"]["reactions"] == json!([{"from": OTHER, "emoji": "👍"}])
    })
    .await;
    assert_eq!(on_a.body["data"]["content"], json!("Lunch at 12?"));
    let ev = events_within(&rx, "message.reaction", 1).await;
    assert_eq!(ev[0]["messageId"], json!(sent));
    assert_eq!(ev[0]["from"], json!(OTHER));
    assert_eq!(ev[0]["emoji"], json!("👍"));
    assert_eq!(ev[0]["instanceId"], json!(a));
    // B's side: its reaction is a message of type `reaction`, and its copy shows it too.
    let mine = eventually(&s, &k, &format!("/v1/messages/{r}"), |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    assert_eq!(mine.body["data"]["type"], json!("reaction"));
    assert_eq!(
        mine.body["data"]["reaction"],
        json!({"messageId": copy_id, "emoji": "👍"})
    );
    eventually(&s, &k, &format!("/v1/messages/{copy_id}"), |b| {
        b["data"]["reactions"] == json!([{"from": OTHER, "emoji": "👍"}])
    })
    .await;

    // A virtual contact reacts to A's message to her; then takes it back.
    let to_ana = send(
        &s,
        &k,
        json!({"instanceId": a, "to": ANA, "message": "Oi Ana"}),
    )
    .await;
    eventually(&s, &k, &format!("/v1/messages/{to_ana}"), |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    for emoji in ["❤️", ""] {
        let r = s
            .post(
                "/sandbox/v1/messages",
                &k,
                json!({"to": ME, "from": ANA, "reaction": {"messageId": to_ana, "emoji": emoji}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let ev = events_within(&rx, "message.reaction", 3).await;
    assert_eq!(
        (ev[1]["emoji"].clone(), ev[2]["emoji"].clone()),
        (json!("❤️"), json!(""))
    );
    assert_eq!(ev[2]["messageId"], json!(to_ana));
    let gone = s.get(&format!("/v1/messages/{to_ana}"), &k).await;
    assert!(
        gone.body["data"].get("reactions").is_none(),
        "{}",
        gone.body
    );

    // B takes its reaction back.
    send(
        &s,
        &k,
        json!({"instanceId": b, "to": ME, "reaction": {"messageId": copy_id, "emoji": ""}}),
    )
    .await;
    eventually(&s, &k, &format!("/v1/messages/{sent}"), |b| {
        b["data"].get("reactions").is_none()
    })
    .await;
    // A reaction adds no unread to the chat.
    let chats = s
        .get(&format!("/v1/messages/chats?instanceId={a}"), &k)
        .await;
    let with_b = chats.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["phone"] == json!(OTHER))
        .unwrap()
        .clone();
    assert_eq!(with_b["unreadCount"], json!(0), "{with_b}");
}

async fn a_contacts_votes_are_counted(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let rx = Receiver::start(Answer::Ok).await;
    let a = linked(&s, &k, ME, json!({})).await;
    let sub = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": rx.url, "instanceId": a, "events": ["poll.vote"], "name": "v"}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    let single = send(&s, &k, json!({"instanceId": a, "to": ANA, "poll": {"question": "Lunch?", "options": ["Pizza", "Sushi"]}})).await;
    eventually(&s, &k, &format!("/v1/messages/{single}"), |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    let vote = |from: &str, options: Value| json!({"to": ME, "from": from, "pollMessageId": single, "selectedOptions": options});

    let r = s
        .post("/sandbox/v1/votes", &k, vote(ANA, json!(["Sushi"])))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ev = events_within(&rx, "poll.vote", 1).await;
    assert_eq!(ev[0]["messageId"], json!(single));
    assert_eq!(ev[0]["from"], json!(ANA));
    assert_eq!(ev[0]["selectedOptions"], json!(["Sushi"]));
    // She changes her mind: the latest vote counts; the same vote again changes nothing.
    for _ in 0..2 {
        let r = s
            .post("/sandbox/v1/votes", &k, vote(ANA, json!(["Pizza"])))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let p = s.get(&format!("/v1/messages/{single}"), &k).await;
    assert_eq!(
        p.body["data"]["poll"]["results"],
        json!([{"option": "Pizza", "votes": 1, "voters": [ANA]}, {"option": "Sushi", "votes": 0, "voters": []}]),
        "{}",
        p.body
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        events(&rx, "poll.vote").len(),
        2,
        "a repeated vote is not an event"
    );

    // Votes a poll cannot take.
    s.post("/sandbox/v1/votes", &k, vote(ANA, json!(["Pasta"])))
        .await
        .assert_error(400, "invalid_request");
    let two = s
        .post(
            "/sandbox/v1/votes",
            &k,
            vote(ANA, json!(["Pizza", "Sushi"])),
        )
        .await;
    two.assert_error(400, "invalid_request");
    assert_eq!(
        two.body["error"]["details"][0]["field"],
        json!("selectedOptions")
    );
    // Only the contact the poll went to votes on it; a text is no poll.
    s.post(
        "/sandbox/v1/votes",
        &k,
        vote("5511977776666", json!(["Pizza"])),
    )
    .await
    .assert_error(404, "message_not_found");
    let text = send(&s, &k, json!({"instanceId": a, "to": ANA, "message": "hi"})).await;
    eventually(&s, &k, &format!("/v1/messages/{text}"), |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    s.post(
        "/sandbox/v1/votes",
        &k,
        json!({"to": ME, "from": ANA, "pollMessageId": text, "selectedOptions": []}),
    )
    .await
    .assert_error(404, "message_not_found");
}

async fn replies_quote_wagates_own_ids(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let first = send(
        &s,
        &k,
        json!({"instanceId": a, "to": OTHER, "message": "first"}),
    )
    .await;
    let copy = received(&s, &k, &b, "text").await;
    // B replies quoting its copy; at A the reply quotes A's own message.
    send(&s, &k, json!({"instanceId": b, "to": ME, "message": "re: first", "quotedMessageId": copy["messageId"]})).await;
    let hist = eventually(&s, &k, &format!("/v1/messages?instanceId={a}"), |b| {
        b["data"][0]["content"] == json!("re: first")
    })
    .await;
    let reply = hist.body["data"][0].clone();
    assert_eq!(reply["direction"], json!("inbound"));
    assert_eq!(reply["quotedMessageId"], json!(first), "{reply}");
    assert!(reply["quotedExternalId"].is_string(), "{reply}");
    // A virtual contact quoting one of A's messages by its msg_ id.
    let to_ana = send(
        &s,
        &k,
        json!({"instanceId": a, "to": ANA, "message": "question"}),
    )
    .await;
    eventually(&s, &k, &format!("/v1/messages/{to_ana}"), |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    let r = s
        .post(
            "/sandbox/v1/messages",
            &k,
            json!({"to": ME, "from": ANA, "message": "answer", "quotedMessageId": to_ana}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let answer = eventually(
        &s,
        &k,
        &format!("/v1/messages?instanceId={a}&phone={ANA}"),
        |b| b["data"][0]["content"] == json!("answer"),
    )
    .await;
    assert_eq!(answer.body["data"][0]["quotedMessageId"], json!(to_ana));
}

async fn bad_content_names_its_field(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let send_with = |content: Value| {
        let mut body = content;
        body["instanceId"] = json!(a);
        body["to"] = json!(OTHER);
        body
    };
    let msg = "msg_01jd3k9w6q8x2m4v7c5b0n1t2r";
    for (content, field) in [
        (
            json!({"location": {"latitude": 90.5, "longitude": 0}}),
            "location.latitude",
        ),
        (
            json!({"location": {"latitude": 0, "longitude": -181}}),
            "location.longitude",
        ),
        (
            json!({"location": {"latitude": "north", "longitude": 0}}),
            "location.latitude",
        ),
        (
            json!({"poll": {"question": "Q", "options": ["only"]}}),
            "poll.options",
        ),
        (
            json!({"poll": {"question": "Q", "options": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"]}}),
            "poll.options",
        ),
        (
            json!({"poll": {"question": "Q", "options": ["same", "same"]}}),
            "poll.options",
        ),
        (
            json!({"poll": {"question": " ", "options": ["a", "b"]}}),
            "poll.question",
        ),
        (json!({"contacts": []}), "contacts"),
        (
            json!({"contacts": vec![json!({"name": "x", "phones": ["5511988887777"]}); 11]}),
            "contacts",
        ),
        (
            json!({"contacts": [{"name": "", "phones": ["5511988887777"]}]}),
            "contacts.name",
        ),
        (
            json!({"contacts": [{"name": "Ana", "phones": ["+55 11"]}]}),
            "contacts.phones",
        ),
        (json!({"reaction": {"emoji": "👍"}}), "reaction.messageId"),
        (
            json!({"reaction": {"messageId": "3EB0ABCDEF", "emoji": "👍"}}),
            "reaction.messageId",
        ),
    ] {
        let r = s
            .post("/v1/messages/send", &k, send_with(content.clone()))
            .await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!(field),
            "{content}: {}",
            r.body
        );
    }
    // Two kinds at once.
    s.post(
        "/v1/messages/send",
        &k,
        send_with(json!({"message": "x", "location": {"latitude": 1, "longitude": 1}})),
    )
    .await
    .assert_error(400, "missing_content");
    s.post("/v1/messages/send", &k, send_with(json!({"poll": {"question": "Q", "options": ["a", "b"]}, "contacts": [{"name": "A", "phones": ["5511988887777"]}]})))
        .await
        .assert_error(400, "missing_content");
    // A reaction to a message that does not exist, of another chat, or of another account.
    s.post(
        "/v1/messages/send",
        &k,
        send_with(json!({"reaction": {"messageId": msg, "emoji": "👍"}})),
    )
    .await
    .assert_error(404, "message_not_found");
    let to_ana = send(&s, &k, json!({"instanceId": a, "to": ANA, "message": "hi"})).await;
    s.post(
        "/v1/messages/send",
        &k,
        send_with(json!({"reaction": {"messageId": to_ana, "emoji": "👍"}})),
    )
    .await
    .assert_error(404, "message_not_found");
    let (_, other_key) = s.account("pro").await;
    let c = linked(&s, &other_key, "5511900000003", json!({})).await;
    let r = s
        .post(
            "/v1/messages/send",
            &other_key,
            json!({"instanceId": c, "to": ANA, "reaction": {"messageId": to_ana, "emoji": "👍"}}),
        )
        .await;
    r.assert_error(404, "message_not_found");
    // Nothing of it was queued.
    let hist = s
        .get(&format!("/v1/messages?instanceId={c}"), &other_key)
        .await;
    assert_eq!(hist.body["data"], json!([]));
    // Another account's message is not found; a non-id is not found.
    s.get(&format!("/v1/messages/{to_ana}"), &other_key)
        .await
        .assert_error(404, "message_not_found");
    s.get("/v1/messages/not-an-id", &k)
        .await
        .assert_error(404, "message_not_found");
    // A sticker that is not WebP, or is over 500 KB, fails with its code.
    let files = media_host().await;
    for (file, code) in [
        ("v.ogg", "unsupported_media_format"),
        ("big.webp", "media_too_large"),
    ] {
        let bad = send(
            &s,
            &k,
            send_with(json!({"mediaUrl": format!("{files}/{file}"), "mediaType": "sticker"})),
        )
        .await;
        let failed = eventually(&s, &k, &format!("/v1/messages/{bad}/status"), |b| {
            b["data"]["status"] == json!("failed")
        })
        .await;
        assert_eq!(
            failed.body["data"]["error"]["code"],
            json!(code),
            "{file}: {}",
            failed.body
        );
    }
    let _ = b;
}

/// `inject` still writes plain text, and the event names of §17.6 are accepted.
async fn subscriptions_take_the_new_event_names(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    inject(&s, &k, ME, "oi").await;
    let r = s
        .post("/v1/webhooks", &k, json!({"url": "https://example.com/h", "instanceId": a, "events": ["message.reaction", "poll.vote"], "name": "n"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // An instance without webhookEvents gets §9.2's set, not the new ones.
    let inst = s.get(&format!("/v1/instances/{a}"), &k).await;
    let names = inst.body["data"]["webhookEvents"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(names.len(), 8, "{names:?}");
    assert!(!names.contains(&json!("poll.vote")));
}

/// `POST /v1/messages/read` (§17.4): the sender sees its messages read, the chat has no unread.
async fn reading_a_chat_sends_receipts_and_clears_its_unread(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let first = send(
        &s,
        &k,
        json!({"instanceId": a, "to": OTHER, "message": "one"}),
    )
    .await;
    let second = send(
        &s,
        &k,
        json!({"instanceId": a, "to": OTHER, "message": "two"}),
    )
    .await;
    let third = send(
        &s,
        &k,
        json!({"instanceId": a, "to": OTHER, "message": "three"}),
    )
    .await;
    let chats = eventually(&s, &k, &format!("/v1/messages/chats?instanceId={b}"), |b| {
        b["data"][0]["unreadCount"] == json!(3)
    })
    .await;
    let chat = chats.body["data"][0]["chatId"].as_str().unwrap().to_owned();
    let copies = s.get(&format!("/v1/messages?instanceId={b}"), &k).await;
    let copy_of_first = copies.body["data"][2]["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(copies.body["data"][2]["content"], json!("one"));

    // Only the first, by id.
    let r = s
        .post(
            "/v1/messages/read",
            &k,
            json!({"instanceId": b, "chatId": chat, "messageIds": [copy_of_first]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["data"],
        json!({"chatId": chat, "marked": 1, "unreadCount": 0})
    );
    eventually(&s, &k, &format!("/v1/messages/{first}/status"), |b| {
        b["data"]["status"] == json!("read")
    })
    .await;
    let st = s.get(&format!("/v1/messages/{second}/status"), &k).await;
    assert_eq!(st.body["data"]["status"], json!("delivered"), "{}", st.body);
    // Then the rest; a second read marks nothing more.
    let r = s
        .post(
            "/v1/messages/read",
            &k,
            json!({"instanceId": b, "chatId": chat}),
        )
        .await;
    assert_eq!(r.body["data"]["marked"], json!(2), "{}", r.body);
    for m in [&second, &third] {
        eventually(&s, &k, &format!("/v1/messages/{m}/status"), |b| {
            b["data"]["status"] == json!("read")
        })
        .await;
    }
    let again = s
        .post(
            "/v1/messages/read",
            &k,
            json!({"instanceId": b, "chatId": chat}),
        )
        .await;
    assert_eq!(again.body["data"]["marked"], json!(0));
    let chats = s
        .get(&format!("/v1/messages/chats?instanceId={b}"), &k)
        .await;
    assert_eq!(chats.body["data"][0]["unreadCount"], json!(0));
    let copy = s
        .get(&format!("/v1/messages/{copy_of_first}/status"), &k)
        .await;
    assert_eq!(copy.body["data"]["status"], json!("read"));

    // Bad input.
    s.post(
        "/v1/messages/read",
        &k,
        json!({"instanceId": b, "chatId": "chat_01jd3k9w6q8x2m4v7c5b0n1t2r"}),
    )
    .await
    .assert_error(404, "chat_not_found");
    s.post(
        "/v1/messages/read",
        &k,
        json!({"instanceId": b, "chatId": "nope"}),
    )
    .await
    .assert_error(404, "chat_not_found");
    let bad = s
        .post(
            "/v1/messages/read",
            &k,
            json!({"instanceId": b, "chatId": chat, "messageIds": ["3EB0AB"]}),
        )
        .await;
    bad.assert_error(400, "invalid_request");
    assert_eq!(
        bad.body["error"]["details"][0]["field"],
        json!("messageIds")
    );
    let (_, other_key) = s.account("pro").await;
    s.post(
        "/v1/messages/read",
        &other_key,
        json!({"instanceId": b, "chatId": chat}),
    )
    .await
    .assert_error(404, "instance_not_found");
    let d = s
        .post(&format!("/v1/instances/{b}/disconnect"), &k, json!({}))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    s.post(
        "/v1/messages/read",
        &k,
        json!({"instanceId": b, "chatId": chat}),
    )
    .await
    .assert_error(409, "instance_not_connected");
    let _ = a;
}

/// `POST /v1/instances/{id}/presence` (§17.4): own states alone, chat states in a chat.
async fn presence_takes_its_states_and_refuses_the_rest(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    inject(&s, &k, ME, "oi").await;
    let chats = eventually(&s, &k, &format!("/v1/messages/chats?instanceId={a}"), |b| {
        b["data"][0]["chatId"].is_string()
    })
    .await;
    let chat = chats.body["data"][0]["chatId"].as_str().unwrap().to_owned();
    let path = format!("/v1/instances/{a}/presence");
    for body in [
        json!({"state": "available"}),
        json!({"state": "unavailable"}),
        json!({"state": "composing", "chatId": chat}),
        json!({"state": "recording", "to": ANA}),
        json!({"state": "paused", "to": ANA}),
    ] {
        let r = s.post(&path, &k, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.body);
        assert_eq!(r.body["data"]["state"], body["state"]);
    }
    for body in [
        json!({"state": "typing", "to": ANA}),
        json!({"state": "composing"}),
        json!({"state": "available", "to": ANA}),
    ] {
        let r = s.post(&path, &k, body.clone()).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!("state"),
            "{body}"
        );
    }
    s.post(&path, &k, json!({"state": "composing", "to": "+55 11"}))
        .await
        .assert_error(400, "invalid_phone_number");
    s.post(
        &path,
        &k,
        json!({"state": "composing", "chatId": "chat_01jd3k9w6q8x2m4v7c5b0n1t2r"}),
    )
    .await
    .assert_error(404, "chat_not_found");
    let (_, other_key) = s.account("pro").await;
    s.post(&path, &other_key, json!({"state": "available"}))
        .await
        .assert_error(404, "instance_not_found");
    let d = s
        .post(&format!("/v1/instances/{a}/disconnect"), &k, json!({}))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    s.post(&path, &k, json!({"state": "available"}))
        .await
        .assert_error(409, "instance_not_connected");
}

/// `PATCH` / `DELETE` of `id` with the default key.
async fn change(s: &TestServer, key: &str, id: &str, edit: Option<&str>) -> common::Reply {
    match edit {
        Some(text) => {
            s.call(
                reqwest::Method::PATCH,
                &format!("/v1/messages/{id}"),
                Some(key),
                Some(json!({"message": text})),
            )
            .await
        }
        None => {
            s.call(
                reqwest::Method::DELETE,
                &format!("/v1/messages/{id}"),
                Some(key),
                None,
            )
            .await
        }
    }
}

async fn subscribe(s: &TestServer, key: &str, instance: &str, rx: &Receiver) {
    let r = s
        .post(
            "/v1/webhooks",
            key,
            json!({"url": rx.url, "instanceId": instance, "events": ["message.edited", "message.deleted"], "name": "changes"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

async fn sent(s: &TestServer, key: &str, body: Value) -> String {
    let id = send(s, key, body).await;
    eventually(s, key, &format!("/v1/messages/{id}"), |b| {
        b["data"]["status"] != json!("queued")
    })
    .await;
    id
}

async fn edits_and_deletes_follow_on_both_sides(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let (rx_a, rx_b) = (
        Receiver::start(Answer::Ok).await,
        Receiver::start(Answer::Ok).await,
    );
    subscribe(&s, &k, &a, &rx_a).await;
    subscribe(&s, &k, &b, &rx_b).await;

    // A edits what it sent; B's copy follows.
    let hello = sent(
        &s,
        &k,
        json!({"instanceId": a, "to": OTHER, "message": "helo"}),
    )
    .await;
    let copy = received(&s, &k, &b, "text").await;
    let copy_id = copy["messageId"].as_str().unwrap().to_owned();
    let r = change(&s, &k, &hello, Some("hello")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["content"], json!("hello"));
    assert_eq!(r.body["data"]["edited"], json!(true));
    for id in [&hello, &copy_id] {
        let item = eventually(&s, &k, &format!("/v1/messages/{id}"), |b| {
            b["data"]["content"] == json!("hello")
        })
        .await;
        assert_eq!(item.body["data"]["edited"], json!(true), "{}", item.body);
        assert_eq!(item.body["data"]["type"], json!("text"));
    }
    let seen_by_b = &events_within(&rx_b, "message.edited", 1).await[0];
    assert_eq!(seen_by_b["messageId"], json!(copy_id));
    assert_eq!(seen_by_b["from"], json!(ME));
    assert_eq!(seen_by_b["content"], json!("hello"));
    let own = &events_within(&rx_a, "message.edited", 1).await[0];
    assert_eq!(own["messageId"], json!(hello));
    assert_eq!(own["from"], json!(ME));

    // A deletes it for everyone: both items stay, with no content.
    let r = change(&s, &k, &hello, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["deleted"], json!(true));
    for id in [&hello, &copy_id] {
        let item = eventually(&s, &k, &format!("/v1/messages/{id}"), |b| {
            b["data"]["deleted"] == json!(true)
        })
        .await;
        assert_eq!(item.body["data"]["type"], json!("deleted"), "{}", item.body);
        assert_eq!(item.body["data"]["content"], json!(""));
    }
    let gone = &events_within(&rx_b, "message.deleted", 1).await[0];
    assert_eq!(gone["messageId"], json!(copy_id));
    assert_eq!(gone["from"], json!(ME));
    assert_eq!(
        events_within(&rx_a, "message.deleted", 1).await[0]["messageId"],
        json!(hello)
    );
    // Deleted twice is refused; the history still lists it.
    change(&s, &k, &hello, None)
        .await
        .assert_error(409, "message_not_deletable");
    let history = s.get(&format!("/v1/messages?instanceId={a}"), &k).await;
    assert!(
        history.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["messageId"] == json!(hello) && m["deleted"] == json!(true))
    );

    // A contact edits and then deletes what it wrote.
    let r = s
        .post(
            "/sandbox/v1/messages",
            &k,
            json!({"to": ME, "from": ANA, "message": "see you at 8"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let theirs = received(&s, &k, &a, "text").await;
    let theirs = theirs["messageId"].as_str().unwrap().to_owned();
    let r = s
        .post(
            "/sandbox/v1/messages",
            &k,
            json!({"to": ME, "from": ANA, "editOf": theirs, "message": "see you at 9"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let item = s.get(&format!("/v1/messages/{theirs}"), &k).await;
    assert_eq!(
        item.body["data"]["content"],
        json!("see you at 9"),
        "{}",
        item.body
    );
    assert_eq!(item.body["data"]["edited"], json!(true));
    let edited = events_within(&rx_a, "message.edited", 2).await;
    let by_ana = edited
        .iter()
        .find(|e| e["messageId"] == json!(theirs))
        .unwrap();
    assert_eq!(by_ana["from"], json!(ANA));
    assert_eq!(by_ana["content"], json!("see you at 9"));
    let r = s
        .post(
            "/sandbox/v1/messages",
            &k,
            json!({"to": ME, "from": ANA, "deleteOf": theirs}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let item = s.get(&format!("/v1/messages/{theirs}"), &k).await;
    assert_eq!(item.body["data"]["deleted"], json!(true), "{}", item.body);
    let deleted = events_within(&rx_a, "message.deleted", 2).await;
    assert!(
        deleted
            .iter()
            .any(|e| e["messageId"] == json!(theirs) && e["from"] == json!(ANA))
    );
}

async fn changes_that_cannot_be_made_are_refused(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    inject(&s, &k, ME, "from Ana").await;
    let inbound = received(&s, &k, &a, "text").await;
    let inbound = inbound["messageId"].as_str().unwrap().to_owned();
    change(&s, &k, &inbound, Some("mine now"))
        .await
        .assert_error(409, "message_not_editable");
    change(&s, &k, &inbound, None)
        .await
        .assert_error(409, "message_not_deletable");
    // Only texts are edited; a place is deleted, not edited.
    let place = sent(
        &s,
        &k,
        json!({"instanceId": a, "to": ANA, "location": {"latitude": 1.0, "longitude": 2.0}}),
    )
    .await;
    change(&s, &k, &place, Some("elsewhere"))
        .await
        .assert_error(409, "message_not_editable");
    // The new text has the limits of a text.
    let text = sent(&s, &k, json!({"instanceId": a, "to": ANA, "message": "hi"})).await;
    for body in [
        json!({"message": ""}),
        json!({"message": 5}),
        json!({}),
        json!({"message": "x".repeat(65_537)}),
    ] {
        let r = s
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/messages/{text}"),
                Some(&k),
                Some(body),
            )
            .await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!("message"),
            "{}",
            r.body
        );
    }
    // Unknown ids and another account's messages are not found.
    for id in ["msg_01jd3k9w6q8x2m4v7c5b0n1t2r", "nope"] {
        change(&s, &k, id, None)
            .await
            .assert_error(404, "message_not_found");
    }
    let (_, other_key) = s.account("pro").await;
    change(&s, &other_key, &text, Some("hijacked"))
        .await
        .assert_error(404, "message_not_found");
    change(&s, &other_key, &text, None)
        .await
        .assert_error(404, "message_not_found");
    // A message the phone sent an hour ago (synced history) is past WhatsApp's 15 minutes.
    let store = &s.running().state.store;
    let inst = wagate_core::InstanceId::parse(&a).unwrap();
    let an_hour_ago =
        wagate_core::Timestamp::from_millis(wagate_core::Timestamp::now().millis() - 3_600_000);
    store
        .import_history(
            &inst,
            &[wagate_core::history::HistoryMessage {
                external_id: "3EB0OLD".into(),
                peer: wagate_core::phone::PhoneNumber::parse(ANA).unwrap(),
                peer_name: None,
                from_me: true,
                content: wagate_core::message::Content::Text("old".into()),
                quoted_external_id: None,
                timestamp: an_hour_ago,
                status: wagate_core::message::MessageStatus::Read,
            }],
        )
        .await
        .unwrap();
    let old = store
        .find_external(&inst, "3EB0OLD")
        .await
        .unwrap()
        .unwrap();
    let old = old.id.to_string();
    let late = change(&s, &k, &old, Some("too late")).await;
    late.assert_error(409, "message_not_editable");
    assert!(
        late.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("15 minutes")
    );
    // It can still be deleted.
    let r = change(&s, &k, &old, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The sandbox's contact changes only what it wrote, and says how.
    let contact = |body: Value| s.post("/sandbox/v1/messages", &k, body);
    contact(json!({"to": ME, "from": ANA, "deleteOf": text}))
        .await
        .assert_error(404, "message_not_found");
    contact(json!({"to": ME, "from": "5511977776666", "editOf": inbound, "message": "x"}))
        .await
        .assert_error(404, "message_not_found");
    for (body, field) in [
        (json!({"to": ME, "from": ANA, "editOf": inbound}), "message"),
        (
            json!({"to": ME, "from": ANA, "editOf": inbound, "location": {"latitude": 1.0, "longitude": 2.0}}),
            "message",
        ),
        (
            json!({"to": ME, "from": ANA, "deleteOf": inbound, "message": "x"}),
            "deleteOf",
        ),
        (
            json!({"to": ME, "from": ANA, "deleteOf": "msg_x"}),
            "deleteOf",
        ),
    ] {
        let r = contact(body).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!(field),
            "{}",
            r.body
        );
    }
}

async fn calls_are_reported_and_rejected_as_set(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let busy = "I can't take calls; write to me.";
    let a = linked(
        &s,
        &k,
        ME,
        json!({"rejectCalls": true, "rejectCallMessage": busy}),
    )
    .await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let rx = Receiver::start(Answer::Ok).await;
    for inst in [&a, &b] {
        let r = s
            .post("/v1/webhooks", &k, json!({"url": rx.url, "instanceId": inst, "events": ["call.received"], "name": "calls"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let settings = s.get(&format!("/v1/instances/{a}"), &k).await;
    assert_eq!(
        settings.body["data"]["settings"]["rejectCalls"],
        json!(true),
        "{}",
        settings.body
    );
    assert_eq!(
        settings.body["data"]["settings"]["rejectCallMessage"],
        json!(busy)
    );
    let call = |to: &str, video: bool| {
        s.post(
            "/sandbox/v1/calls",
            &k,
            json!({"to": to, "from": ANA, "isVideo": video}),
        )
    };

    // Rejected: the contact is told why, and the event says so.
    let r = call(ME, true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["rejected"], json!(true));
    let ev = &events_within(&rx, "call.received", 1).await[0];
    assert_eq!(ev["instanceId"], json!(a));
    assert_eq!(ev["from"], json!(ANA));
    assert_eq!(ev["isVideo"], json!(true));
    assert_eq!(ev["rejected"], json!(true));
    let told = eventually(&s, &k, &format!("/v1/messages?instanceId={a}"), |b| {
        b["data"][0]["content"] == json!(busy) && b["data"][0]["status"] != json!("queued")
    })
    .await;
    assert_eq!(told.body["data"][0]["to"], json!(ANA), "{}", told.body);
    assert_eq!(told.body["data"][0]["direction"], json!("outbound"));

    // Calls ring by default: reported, not rejected, nothing sent.
    let r = call(OTHER, false).await;
    assert_eq!(r.body["data"]["rejected"], json!(false), "{}", r.body);
    let evs = events_within(&rx, "call.received", 2).await;
    let to_b = evs.iter().find(|e| e["instanceId"] == json!(b)).unwrap();
    assert_eq!(to_b["rejected"], json!(false));
    assert_eq!(to_b["isVideo"], json!(false));
    let history = s.get(&format!("/v1/messages?instanceId={b}"), &k).await;
    assert_eq!(history.body["data"], json!([]), "{}", history.body);

    // Turned off, with the message cleared.
    let r = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/instances/{a}"),
            Some(&k),
            Some(json!({"settings": {"rejectCalls": false, "rejectCallMessage": null}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["settings"]["rejectCallMessage"], Value::Null);
    assert_eq!(call(ME, false).await.body["data"]["rejected"], json!(false));

    // Bad settings and calls.
    for (settings, field) in [
        (
            json!({"rejectCallMessage": ""}),
            "settings.rejectCallMessage",
        ),
        (
            json!({"rejectCallMessage": "x".repeat(4097)}),
            "settings.rejectCallMessage",
        ),
        (json!({"rejectCalls": "yes"}), "settings.rejectCalls"),
    ] {
        let r = s
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/instances/{a}"),
                Some(&k),
                Some(json!({"settings": settings})),
            )
            .await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!(field),
            "{}",
            r.body
        );
    }
    s.post(
        "/sandbox/v1/calls",
        &k,
        json!({"to": "5511900000009", "from": ANA}),
    )
    .await
    .assert_error(404, "instance_not_found");
    s.post("/sandbox/v1/calls", &k, json!({"to": ME, "from": "12"}))
        .await
        .assert_error(400, "invalid_phone_number");
}

async fn contacts_presence_reaches_only_who_asks(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let everything = Receiver::start(Answer::Ok).await;
    let defaults = Receiver::start(Answer::Ok).await;
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let r = s
        .post("/v1/webhooks", &k, json!({"url": everything.url, "instanceId": a, "events": ["presence.updated"], "name": "presence"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // The instance's own webhook, with the default events.
    let r = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/instances/{a}"),
            Some(&k),
            Some(json!({"webhookUrl": defaults.url})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    for state in ["composing", "unavailable"] {
        let r = s
            .post(
                "/sandbox/v1/presence",
                &k,
                json!({"to": ME, "from": ANA, "state": state}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["data"]["state"], json!(state));
    }
    // Another instance types in its chat with A.
    let r = s
        .post(
            &format!("/v1/instances/{b}/presence"),
            &k,
            json!({"state": "recording", "to": ME}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let seen = events_within(&everything, "presence.updated", 3).await;
    let by = |from: &str, state: &str| {
        seen.iter()
            .find(|e| e["from"] == json!(from) && e["state"] == json!(state))
            .unwrap_or_else(|| panic!("no {state} from {from}: {seen:?}"))
            .clone()
    };
    assert_eq!(by(ANA, "composing")["instanceId"], json!(a));
    assert!(by(ANA, "composing").get("lastSeen").is_none());
    assert!(by(ANA, "unavailable")["lastSeen"].is_string());
    by(OTHER, "recording");
    // Nobody who did not ask got any of it.
    inject(&s, &k, ME, "and now a message").await;
    events_within(&defaults, "message.received", 1).await;
    assert!(
        events(&defaults, "presence.updated").is_empty(),
        "{:?}",
        defaults.hits().iter().map(|h| h.json()).collect::<Vec<_>>()
    );

    let r = s
        .post(
            "/sandbox/v1/presence",
            &k,
            json!({"to": ME, "from": ANA, "state": "typing"}),
        )
        .await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.body["error"]["details"][0]["field"], json!("state"));
    s.post(
        "/sandbox/v1/presence",
        &k,
        json!({"to": "5511900000009", "from": ANA, "state": "paused"}),
    )
    .await
    .assert_error(404, "instance_not_found");
}

async fn mentions_travel_with_the_text(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let rx = Receiver::start(Answer::Ok).await;
    let a = linked(&s, &k, ME, json!({})).await;
    let b = linked(&s, &k, OTHER, json!({})).await;
    let r = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/instances/{b}"),
            Some(&k),
            Some(json!({"webhookUrl": rx.url})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sent = send(
        &s,
        &k,
        json!({"instanceId": a, "to": OTHER, "message": "@Ana and @Bruno, look",
        "mentions": [ANA, "5521999990000", ANA]}),
    )
    .await;
    let both = json!([ANA, "5521999990000"]);
    let copy = received(&s, &k, &b, "text").await;
    assert_eq!(copy["mentions"], both, "{copy}");
    let mine = s.get(&format!("/v1/messages/{sent}"), &k).await;
    assert_eq!(mine.body["data"]["mentions"], both, "{}", mine.body);
    assert_eq!(
        events_within(&rx, "message.received", 1).await[0]["mentions"],
        both
    );
    // No mentions, no field.
    inject(&s, &k, OTHER, "plain").await;
    let plain = eventually(&s, &k, &format!("/v1/messages?instanceId={b}"), |b| {
        b["data"][0]["content"] == json!("plain")
    })
    .await;
    assert!(
        plain.body["data"][0].get("mentions").is_none(),
        "{}",
        plain.body
    );

    for body in [
        json!({"location": {"latitude": 1.0, "longitude": 2.0}, "mentions": [ANA]}),
        json!({"message": "hi", "mentions": ["12"]}),
        json!({"message": "hi", "mentions": "5511988887777"}),
    ] {
        let mut body = body;
        body["instanceId"] = json!(a);
        body["to"] = json!(ANA);
        let r = s.post("/v1/messages/send", &k, body).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!("mentions"),
            "{}",
            r.body
        );
    }
}

/// `/openapi.json` gives each kind its own object, for client generators (§17.1).
async fn the_document_has_one_schema_per_kind(backend: Backend) {
    let s = server(backend).await;
    let doc = s.openapi().await;
    let schemas = &doc["components"]["schemas"];
    let kinds = schemas["SendContent"]["oneOf"].as_array().expect("a oneOf");
    let by_title = |t: &str| {
        kinds
            .iter()
            .find(|k| k["title"] == json!(t))
            .unwrap_or_else(|| panic!("no {t}: {kinds:?}"))
    };
    for (title, needs) in [
        ("TextContent", json!(["message"])),
        ("MediaContent", json!(["mediaUrl", "mediaType"])),
        ("LocationContent", json!(["location"])),
        ("ContactsContent", json!(["contacts"])),
        ("ReactionContent", json!(["reaction"])),
        ("PollContent", json!(["poll"])),
        ("TemplateContent", json!(["template"])),
    ] {
        assert_eq!(by_title(title)["required"], needs, "{title}");
    }
    assert_eq!(kinds.len(), 7);
    // A required field is never null, and keeps its limits.
    let location = &by_title("LocationContent")["properties"]["location"];
    assert_eq!(
        location["$ref"],
        json!("#/components/schemas/Location"),
        "{location}"
    );
    let text = &by_title("TextContent")["properties"]["message"];
    assert_eq!(text["type"], json!("string"));
    assert_eq!(text["maxLength"], json!(65536));
    assert_eq!(
        by_title("TextContent")["properties"]["mentions"]["maxItems"],
        json!(256)
    );
    for send in ["SendMessageRequest", "SendByUrlRequest"] {
        assert!(
            schemas[send]
                .to_string()
                .contains("#/components/schemas/SendContent"),
            "{send}: {}",
            schemas[send]
        );
    }
    // The sandbox's inject also takes editOf/deleteOf alone: it keeps the flat fields.
    assert!(
        schemas["InjectRequest"]
            .to_string()
            .contains("ContentFields")
    );
}

async fn blocking_and_the_own_profile(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    let block = |what: &str, phone: &str, body: Value| {
        let path = format!("/v1/contacts/{phone}/{what}");
        let (s, k) = (&s, k.clone());
        async move { s.post(&path, &k, body).await }
    };
    let r = block("block", ANA, json!({"instanceId": a})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["isBlocked"], json!(true));
    // The contact reads blocked, also when its profile is fetched again.
    let c = s
        .get(&format!("/v1/contacts/{ANA}?instanceId={a}"), &k)
        .await;
    assert_eq!(c.body["data"]["isBlocked"], json!(true), "{}", c.body);
    let r = block("unblock", ANA, json!({"instanceId": a})).await;
    assert_eq!(r.body["data"]["isBlocked"], json!(false), "{}", r.body);
    block("block", "12", json!({"instanceId": a}))
        .await
        .assert_error(400, "invalid_phone_number");
    block(
        "block",
        ANA,
        json!({"instanceId": "inst_01jd3k9w6q8x2m4v7c5b0n1t2r"}),
    )
    .await
    .assert_error(404, "instance_not_found");
    block("block", ANA, json!({}))
        .await
        .assert_error(400, "invalid_request");
    // A key without instances:write may not.
    let reader = s
        .scoped_key(
            &s.default_account().await,
            &["contacts:read", "instances:read"],
        )
        .await;
    s.post(
        &format!("/v1/contacts/{ANA}/block"),
        &reader,
        json!({"instanceId": a}),
    )
    .await
    .assert_error(403, "insufficient_permissions");

    let profile = format!("/v1/instances/{a}/profile");
    let patch = |body: Value| s.call(reqwest::Method::PATCH, &profile, Some(&k), Some(body));
    let r = patch(json!({"name": "Loja Centro", "about": "Open 9-18"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["profileName"], json!("Loja Centro"));
    let got = s.get(&format!("/v1/instances/{a}"), &k).await;
    assert_eq!(
        got.body["data"]["profileName"],
        json!("Loja Centro"),
        "{}",
        got.body
    );
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"about": "x".repeat(140)}), "about"),
        (json!({"name": 5}), "name"),
    ] {
        let r = patch(body).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!(field),
            "{}",
            r.body
        );
    }
    patch(json!({"pictureUrl": "not a url"}))
        .await
        .assert_error(400, "invalid_media");
    // A disconnected instance cannot.
    let idle = s.create_instance(&k, "idle").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.call(
        reqwest::Method::PATCH,
        &format!("/v1/instances/{idle}/profile"),
        Some(&k),
        Some(json!({"name": "x"})),
    )
    .await
    .assert_error(409, "instance_not_connected");
    block("block", ANA, json!({"instanceId": idle}))
        .await
        .assert_error(409, "instance_not_connected");
}

on_both_backends!(
    blocking_and_the_own_profile,
    the_document_has_one_schema_per_kind,
    mentions_travel_with_the_text,
    contacts_presence_reaches_only_who_asks,
    calls_are_reported_and_rejected_as_set,
    edits_and_deletes_follow_on_both_sides,
    changes_that_cannot_be_made_are_refused,
    presence_takes_its_states_and_refuses_the_rest,
    reading_a_chat_sends_receipts_and_clears_its_unread,
    every_kind_travels_between_instances_whole,
    reactions_land_on_the_message_both_ways,
    a_contacts_votes_are_counted,
    replies_quote_wagates_own_ids,
    bad_content_names_its_field,
    subscriptions_take_the_new_event_names,
);
