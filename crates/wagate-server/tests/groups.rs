//! Groups (§17.5) on the sandbox network (§18), over HTTP: every route, checked by what the
//! caller gets back and by what the other members see (their events and their own reads);
//! group messages between instances and virtual contacts; a contact's own group; and the
//! envelope for every bad input.

mod common;

use common::groups::{group_of, patch, phones_and_roles, post, roles};
use common::receiver::{Answer, Receiver};
use common::{TestServer, eventually, linked};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_testkit::{Backend, on_both_backends};

const ME: &str = "5511900000001";
const OTHER: &str = "5511900000002";
const THIRD: &str = "5511900000003";
/// Virtual contacts.
const ANA: &str = "5511988887777";
const BIA: &str = "5511977776666";
const GROUP_EVENTS: [&str; 3] = ["group.joined", "group.updated", "group.participants"];

async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |c| {
        c.sandbox = true;
        c.url_policy.allow_private = true;
    })
    .await
}

/// An instance linked as `phone` whose `events` go to a receiver of its own.
async fn member(s: &TestServer, phone: &str, events: &[&str]) -> (String, Receiver) {
    let k = &s.default_key;
    let rx = Receiver::start(Answer::Ok).await;
    let id = linked(s, k, phone, json!({})).await;
    let sub = s
        .post(
            "/v1/webhooks",
            k,
            json!({"url": rx.url, "instanceId": id, "events": events, "name": phone}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    (id, rx)
}

async fn create(s: &TestServer, instance: &str, subject: &str, participants: &[&str]) -> Value {
    let r = s
        .post(
            "/v1/groups",
            &s.default_key,
            json!({"instanceId": instance, "subject": subject, "participants": participants}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["data"].clone()
}

/// Every route of §17.5 between three instances and a virtual contact.
async fn every_route_reaches_every_member(backend: Backend) {
    let s = server(backend).await;
    let (a, rx_a) = member(&s, ME, &GROUP_EVENTS).await;
    let (b, rx_b) = member(&s, OTHER, &GROUP_EVENTS).await;
    let (c, _rx_c) = member(&s, THIRD, &GROUP_EVENTS).await;

    // Created with each number's outcome, in the request's order.
    let r = post(
        &s,
        "/v1/groups",
        json!({"instanceId": a, "subject": "Support", "description": "Our team",
               "participants": [OTHER, ANA, "99912345678", "12ab", OTHER]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let g = &r.body["data"];
    let gid = g["groupId"].as_str().unwrap().to_owned();
    assert!(gid.ends_with("@g.us"), "{gid}");
    assert_eq!(
        (&g["subject"], &g["description"], &g["owner"]),
        (&json!("Support"), &json!("Our team"), &json!(ME))
    );
    assert_eq!(g["participantsCount"], json!(3));
    assert_eq!(
        phones_and_roles(g),
        roles(&[(ME, "superadmin"), (OTHER, "member"), (ANA, "member")])
    );
    assert_eq!(
        g["results"],
        json!([
            {"phone": OTHER, "ok": true},
            {"phone": ANA, "ok": true},
            {"phone": "99912345678", "ok": false, "error": "not_on_whatsapp"},
            {"phone": "12ab", "ok": false, "error": "invalid_phone"},
            {"phone": OTHER, "ok": false, "error": "already_participant"},
        ])
    );
    // The creator and the member instance are told they joined; the third is not.
    for rx in [&rx_a, &rx_b] {
        let joined = &rx.events("group.joined", 1).await[0];
        assert_eq!(joined["groupId"], json!(gid));
        assert_eq!(joined["subject"], json!("Support"));
        assert_eq!(joined["participantsCount"], json!(3));
    }
    let on_b = group_of(&s, &b, &gid).await;
    assert_eq!(on_b.status, StatusCode::OK, "{}", on_b.body);
    assert_eq!(on_b.body["data"]["participants"], g["participants"]);
    // `group.joined` carries the group as `GET /v1/groups/{groupId}` answers it (two renderings
    // of one shape: the event's in wagate-core, the route's in its view).
    let mut joined = rx_b.events("group.joined", 1).await[0].clone();
    for envelope_only in ["instanceId", "timestamp"] {
        joined.as_object_mut().unwrap().remove(envelope_only);
    }
    assert_eq!(joined, on_b.body["data"]);
    group_of(&s, &c, &gid)
        .await
        .assert_error(404, "group_not_found");
    // Lists: the group without its members, and the total.
    let list = s
        .get(&format!("/v1/groups?instanceId={b}"), &s.default_key)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["pagination"]["total"], json!(1), "{}", list.body);
    assert_eq!(list.body["data"][0]["groupId"], json!(gid));
    assert_eq!(list.body["data"][0]["participantsCount"], json!(3));
    assert!(list.body["data"][0].get("participants").is_none());
    let none = s
        .get(&format!("/v1/groups?instanceId={c}"), &s.default_key)
        .await;
    assert_eq!(none.body["data"], json!([]));
    // The group is a chat of each member, named after its subject.
    let chats = eventually(
        &s,
        &s.default_key,
        &format!("/v1/messages/chats?instanceId={b}"),
        |body| body["data"].as_array().is_some_and(|l| !l.is_empty()),
    )
    .await;
    let chat = &chats.body["data"][0];
    assert_eq!(
        (&chat["isGroup"], &chat["contactName"]),
        (&json!(true), &json!("Support")),
        "{chat}"
    );

    // Subject and description: any member while the group is open; the others hear of it.
    let r = patch(
        &s,
        &gid,
        json!({"instanceId": b, "subject": "Support 24h", "description": ""}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["subject"], json!("Support 24h"));
    assert_eq!(r.body["data"]["description"], json!(null));
    let updated = &rx_a.events("group.updated", 1).await[0];
    assert_eq!(updated["groupId"], json!(gid));
    assert_eq!(
        updated["changes"],
        json!({"subject": "Support 24h", "description": null})
    );
    assert_eq!(updated["by"], json!(OTHER));
    assert_eq!(
        group_of(&s, &a, &gid).await.body["data"]["subject"],
        json!("Support 24h")
    );
    // The settings are the admins'; locked, so are the texts.
    patch(&s, &gid, json!({"instanceId": b, "announce": true}))
        .await
        .assert_error(403, "not_group_admin");
    let r = patch(&s, &gid, json!({"instanceId": a, "locked": true})).await;
    assert_eq!(r.body["data"]["locked"], json!(true), "{}", r.body);
    // B's own change first, then A's.
    let on_b = rx_b.events("group.updated", 2).await;
    assert_eq!(
        (&on_b[0]["by"], &on_b[1]["changes"], &on_b[1]["by"]),
        (&json!(OTHER), &json!({"locked": true}), &json!(ME))
    );
    patch(&s, &gid, json!({"instanceId": b, "subject": "Mine now"}))
        .await
        .assert_error(403, "not_group_admin");

    // Members: promoted, and everyone in it hears; a member cannot change members.
    let path = format!("/v1/groups/{gid}/participants");
    post(
        &s,
        &path,
        json!({"instanceId": b, "action": "remove", "participants": [ANA]}),
    )
    .await
    .assert_error(403, "not_group_admin");
    let r = post(
        &s,
        &path,
        json!({"instanceId": a, "action": "promote", "participants": [OTHER, BIA]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["data"],
        json!([{"phone": OTHER, "ok": true}, {"phone": BIA, "ok": false, "error": "not_participant"}])
    );
    let promoted = &rx_b.events("group.participants", 1).await[0];
    assert_eq!(
        (
            &promoted["groupId"],
            &promoted["action"],
            &promoted["participants"],
            &promoted["by"]
        ),
        (&json!(gid), &json!("promote"), &json!([OTHER]), &json!(ME))
    );
    assert_eq!(
        phones_and_roles(&group_of(&s, &b, &gid).await.body["data"]),
        roles(&[(ME, "superadmin"), (OTHER, "admin"), (ANA, "member")])
    );
    // The owner is not demoted by the other admins.
    let r = post(
        &s,
        &path,
        json!({"instanceId": b, "action": "demote", "participants": [ME]}),
    )
    .await;
    assert_eq!(
        r.body["data"],
        json!([{"phone": ME, "ok": false, "error": "refused"}]),
        "{}",
        r.body
    );

    // The invite: an admin's; revoked, the old code no longer joins.
    let invite = format!("/v1/groups/{gid}/invite");
    s.get(&format!("{invite}?instanceId={c}"), &s.default_key)
        .await
        .assert_error(404, "group_not_found");
    let old = s
        .get(&format!("{invite}?instanceId={a}"), &s.default_key)
        .await;
    assert_eq!(old.status, StatusCode::OK, "{}", old.body);
    let old_code = old.body["data"]["code"].as_str().unwrap().to_owned();
    assert_eq!(
        old.body["data"]["url"],
        json!(format!("https://chat.whatsapp.com/{old_code}"))
    );
    let new = post(&s, &format!("{invite}/revoke"), json!({"instanceId": a})).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
    let new_url = new.body["data"]["url"].as_str().unwrap().to_owned();
    assert_ne!(new.body["data"]["code"], json!(old_code));
    post(
        &s,
        "/v1/groups/join",
        json!({"instanceId": c, "code": old_code}),
    )
    .await
    .assert_error(404, "group_not_found");
    let joined = post(
        &s,
        "/v1/groups/join",
        json!({"instanceId": c, "code": new_url}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["data"]["groupId"], json!(gid));
    assert_eq!(joined.body["data"]["participantsCount"], json!(4));
    // A's own promotion first, then the newcomer.
    let came = rx_a.events("group.participants", 2).await;
    assert_eq!(
        (&came[1]["action"], &came[1]["participants"], &came[1]["by"]),
        (&json!("add"), &json!([THIRD]), &json!(THIRD))
    );

    // Leaving: the others see one member fewer; the one who left no longer sees the group.
    let left = post(
        &s,
        &format!("/v1/groups/{gid}/leave"),
        json!({"instanceId": c}),
    )
    .await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.body);
    assert_eq!(left.body["data"], json!({"groupId": gid, "left": true}));
    let gone = rx_b.events("group.participants", 3).await;
    assert_eq!(
        (&gone[2]["action"], &gone[2]["participants"]),
        (&json!("remove"), &json!([THIRD]))
    );
    assert_eq!(
        group_of(&s, &a, &gid).await.body["data"]["participantsCount"],
        json!(3)
    );
    group_of(&s, &c, &gid)
        .await
        .assert_error(404, "group_not_found");

    // Removing: once done, twice refused for that number.
    for expected in [
        json!({"phone": ANA, "ok": true}),
        json!({"phone": ANA, "ok": false, "error": "not_participant"}),
    ] {
        let r = post(
            &s,
            &path,
            json!({"instanceId": a, "action": "remove", "participants": [ANA]}),
        )
        .await;
        assert_eq!(r.body["data"], json!([expected]), "{}", r.body);
    }
    assert_eq!(
        phones_and_roles(&group_of(&s, &b, &gid).await.body["data"]),
        roles(&[(ME, "superadmin"), (OTHER, "admin")])
    );
}

/// The history item of `instance` whose text is `text`.
async fn history_item(s: &TestServer, instance: &str, text: &str) -> Value {
    let r = eventually(
        s,
        &s.default_key,
        &format!("/v1/messages?instanceId={instance}"),
        |b| {
            b["data"]
                .as_array()
                .is_some_and(|l| l.iter().any(|m| m["content"] == json!(text)))
        },
    )
    .await;
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["content"] == json!(text))
        .unwrap()
        .clone()
}

/// Messages in a group reach every member, with `from` the member who wrote.
async fn group_messages_reach_every_member(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let received = ["message.received"];
    let (a, rx_a) = member(&s, ME, &received).await;
    let (b, rx_b) = member(&s, OTHER, &received).await;
    let (c, _) = member(&s, THIRD, &received).await;
    let g = create(&s, &a, "Support", &[OTHER, ANA]).await;
    let gid = g["groupId"].as_str().unwrap().to_owned();

    // An instance writes: the other instance has it from the writer, in the group's chat.
    let r = post(
        &s,
        "/v1/messages/send",
        json!({"instanceId": a, "to": gid, "message": "Hello team", "mentions": [OTHER]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sent = r.body["messageId"].as_str().unwrap().to_owned();
    let ev = &rx_b.events("message.received", 1).await[0];
    assert_eq!(
        (&ev["isGroup"], &ev["groupId"], &ev["from"], &ev["content"]),
        (&json!(true), &json!(gid), &json!(ME), &json!("Hello team")),
        "{ev}"
    );
    assert_eq!(ev["mentions"], json!([OTHER]), "{ev}");
    let copy = history_item(&s, &b, "Hello team").await;
    assert_eq!(copy["from"], json!(ME), "{copy}");
    let chats = s
        .get(&format!("/v1/messages/chats?instanceId={b}"), &k)
        .await;
    let chat = chats.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["chatId"] == copy["chatId"])
        .unwrap_or_else(|| panic!("no chat of the copy: {}", chats.body))
        .clone();
    assert_eq!(
        (&chat["isGroup"], &chat["contactName"]),
        (&json!(true), &json!("Support"))
    );
    // Delivered at the first member's receipt; read once the virtual member read it.
    eventually(&s, &k, &format!("/v1/messages/{sent}"), |b| {
        b["data"]["status"] == json!("read")
    })
    .await;

    // A virtual member writes: every member instance has it, with the contact's name.
    let r = post(
        &s,
        "/sandbox/v1/messages",
        json!({"to": ME, "from": ANA, "fromName": "Ana", "groupId": gid, "message": "Hi all"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (instance, rx, n) in [(&a, &rx_a, 1), (&b, &rx_b, 2)] {
        let item = history_item(&s, instance, "Hi all").await;
        assert_eq!(
            (&item["from"], &item["fromName"]),
            (&json!(ANA), &json!("Ana"))
        );
        let got = rx.events("message.received", n).await;
        let ev = got
            .iter()
            .find(|e| e["content"] == json!("Hi all"))
            .unwrap();
        assert_eq!((&ev["groupId"], &ev["from"]), (&json!(gid), &json!(ANA)));
    }
    // The status counts the group as one chat, and a message to it as one sent.
    for (instance, sent, received, unread) in [(&a, 1, 1, 1), (&b, 0, 2, 2)] {
        let st = s.get(&format!("/v1/instances/{instance}/status"), &k).await;
        assert_eq!(
            st.body["data"]["stats"],
            json!({"messagesSent": sent, "messagesReceived": received,
                   "activeChats": 1, "unreadMessages": unread}),
            "{instance}"
        );
    }
    // A virtual contact not in it, or a group that does not exist, is refused.
    for (from, group) in [(BIA, gid.as_str()), (ANA, "120363999999999999@g.us")] {
        post(
            &s,
            "/sandbox/v1/messages",
            json!({"to": ME, "from": from, "groupId": group, "message": "Let me in"}),
        )
        .await
        .assert_error(404, "group_not_found");
    }

    // An instance that is not a member cannot write in it; in an announce group, only admins.
    assert_eq!(
        failure_of(&s, &c, &gid, "Knock knock").await,
        "not_group_member"
    );
    let r = patch(&s, &gid, json!({"instanceId": a, "announce": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        failure_of(&s, &b, &gid, "Me too").await,
        "group_admins_only"
    );
}

/// Sends `text` from `instance` to `to`, and returns the `error.code` the message fails with.
async fn failure_of(s: &TestServer, instance: &str, to: &str, text: &str) -> String {
    let r = post(
        s,
        "/v1/messages/send",
        json!({"instanceId": instance, "to": to, "message": text}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = r.body["messageId"].as_str().unwrap().to_owned();
    let failed = eventually(s, &s.default_key, &format!("/v1/messages/{id}"), |b| {
        b["data"]["status"] == json!("failed")
    })
    .await;
    failed.body["data"]["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `POST /sandbox/v1/groups`: a virtual contact's group, with the instance as a member.
async fn a_contact_makes_a_group(backend: Backend) {
    let s = server(backend).await;
    let (a, rx_a) = member(&s, ME, &GROUP_EVENTS).await;
    let (b, rx_b) = member(&s, OTHER, &GROUP_EVENTS).await;
    let r = post(
        &s,
        "/sandbox/v1/groups",
        json!({"to": ME, "from": ANA, "subject": "Ana's party", "participants": [OTHER, BIA]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.body["data"]["groupId"].as_str().unwrap().to_owned();
    assert_eq!(
        phones_and_roles(&r.body["data"]),
        roles(&[
            (ANA, "superadmin"),
            (ME, "member"),
            (OTHER, "member"),
            (BIA, "member")
        ])
    );
    for rx in [&rx_a, &rx_b] {
        let joined = &rx.events("group.joined", 1).await[0];
        assert_eq!(
            (&joined["groupId"], &joined["owner"]),
            (&json!(gid), &json!(ANA))
        );
    }
    // Stored by the instance when the call answers.
    let list = s
        .get(&format!("/v1/groups?instanceId={a}"), &s.default_key)
        .await;
    assert_eq!(list.body["data"][0]["subject"], json!("Ana's party"));
    // A member, not an admin.
    patch(&s, &gid, json!({"instanceId": b, "announce": true}))
        .await
        .assert_error(403, "not_group_admin");
    // Bad input.
    for (body, status, code) in [
        (
            json!({"to": ME, "from": ANA, "subject": ""}),
            400,
            "invalid_request",
        ),
        (
            json!({"to": ME, "from": "12", "subject": "x"}),
            400,
            "invalid_phone_number",
        ),
        (
            json!({"to": "5511955554444", "from": ANA, "subject": "x"}),
            404,
            "instance_not_found",
        ),
    ] {
        post(&s, "/sandbox/v1/groups", body)
            .await
            .assert_error(status, code);
    }
}

/// Every bad group request gets the envelope, with its field or its code.
async fn bad_group_requests_get_the_envelope(backend: Backend) {
    let s = server(backend).await;
    let k = s.default_key.clone();
    let a = linked(&s, &k, ME, json!({})).await;
    let g = create(&s, &a, "Support", &[ANA]).await;
    let gid = g["groupId"].as_str().unwrap().to_owned();
    let many: Vec<String> = (0..1025).map(|i| format!("55119{i:08}")).collect();
    let field = |r: &common::Reply, name: &str| {
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!(name),
            "{}",
            r.body
        );
    };
    for (body, name) in [
        (
            json!({"instanceId": a, "subject": "", "participants": []}),
            "subject",
        ),
        (
            json!({"instanceId": a, "subject": "x".repeat(101), "participants": []}),
            "subject",
        ),
        (
            json!({"instanceId": a, "subject": "ok", "participants": many}),
            "participants",
        ),
        (
            json!({"instanceId": a, "subject": "ok", "participants": [], "description": "d".repeat(2049)}),
            "description",
        ),
        (
            json!({"instanceId": a, "subject": 7, "participants": []}),
            "subject",
        ),
    ] {
        field(&post(&s, "/v1/groups", body).await, name);
    }
    post(&s, "/v1/groups", json!({"instanceId": a, "subject": "x"}))
        .await
        .assert_error(400, "invalid_request");
    field(&s.get("/v1/groups", &k).await, "instanceId");
    field(
        &s.get(&format!("/v1/groups?instanceId={a}&limit=0"), &k)
            .await,
        "limit",
    );
    // Ids that name no group of this number.
    for bad in [
        "nonsense",
        "120363000000000000@g.us",
        "5511988887777@s.whatsapp.net",
    ] {
        group_of(&s, &a, bad)
            .await
            .assert_error(404, "group_not_found");
    }
    let path = format!("/v1/groups/{gid}/participants");
    for (body, name) in [
        (
            json!({"instanceId": a, "action": "kick", "participants": [ANA]}),
            "action",
        ),
        (
            json!({"instanceId": a, "action": "add", "participants": []}),
            "participants",
        ),
        (
            json!({"instanceId": a, "action": "add", "participants": many}),
            "participants",
        ),
    ] {
        field(&post(&s, &path, body).await, name);
    }
    field(&patch(&s, &gid, json!({"instanceId": a})).await, "subject");
    field(
        &post(
            &s,
            "/v1/groups/join",
            json!({"instanceId": a, "code": "not a code!"}),
        )
        .await,
        "code",
    );
    post(
        &s,
        "/v1/groups/join",
        json!({"instanceId": a, "code": "AAAAAAAAAAAAAAAAAAAAAA"}),
    )
    .await
    .assert_error(404, "group_not_found");

    // Another account's key sees no such instance; a key without the scope is refused.
    let (_, other_key) = s.account("free").await;
    s.get(&format!("/v1/groups/{gid}?instanceId={a}"), &other_key)
        .await
        .assert_error(404, "instance_not_found");
    s.post(
        "/v1/groups",
        &other_key,
        json!({"instanceId": a, "subject": "x", "participants": []}),
    )
    .await
    .assert_error(404, "instance_not_found");
    let account = s.default_account().await;
    let reader = s.scoped_key(&account, &["instances:read"]).await;
    s.post(
        &format!("/v1/groups/{gid}/leave"),
        &reader,
        json!({"instanceId": a}),
    )
    .await
    .assert_error(403, "insufficient_permissions");
    assert_eq!(
        s.get(&format!("/v1/groups?instanceId={a}"), &reader)
            .await
            .status,
        StatusCode::OK
    );

    // Not connected: changes are refused, reads answer what was stored.
    let r = post(&s, &format!("/v1/instances/{a}/disconnect"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    post(
        &s,
        "/v1/groups",
        json!({"instanceId": a, "subject": "x", "participants": []}),
    )
    .await
    .assert_error(409, "instance_not_connected");
    let stored = group_of(&s, &a, &gid).await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.body);
    assert_eq!(stored.body["data"]["subject"], json!("Support"));
}

on_both_backends!(
    every_route_reaches_every_member,
    group_messages_reach_every_member,
    a_contact_makes_a_group,
    bad_group_requests_get_the_envelope,
);
