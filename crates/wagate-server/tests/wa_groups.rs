//! Groups (§17.5) on the WhatsApp Web engine, over HTTP, against the fake WhatsApp server: the
//! real whatsapp-rust client creates and changes groups with `w:g2` IQs, sends group messages
//! under its sender key (which the fake members decrypt), and receives the members' own group
//! messages and the network's `w:gp2` notifications. Each route is checked by its answer and by
//! what the other members see: the group as the network holds it.

mod common;

use std::time::Duration;

use common::TestServer;
use common::groups::{group_of, patch, phones_and_roles, post, roles};
use common::receiver::{Answer, Receiver};
use common::wa::{PHONE, eventually_for, linked, server};
use reqwest::StatusCode;
use serde_json::json;
use wagate_core::InstanceId;
use wagate_core::group::GroupId;
use wagate_testkit::{Backend, on_both_backends};
use wagate_wa::fake::{FakeRole, FakeServer, MessageField, Observed, wa};

const ANA: &str = "15552220001";
const BIA: &str = "15552220002";
const CAIO: &str = "15552220003";
/// A number WhatsApp does not know.
const NOBODY: &str = "15559990000";
const GROUP_EVENTS: [&str; 4] = [
    "group.joined",
    "group.updated",
    "group.participants",
    "message.received",
];

on_both_backends!(
    a_group_made_through_the_api_carries_messages_both_ways,
    every_group_route_changes_what_the_members_see,
    the_networks_group_notifications_become_events_and_the_stored_group_follows,
);

/// A fake network with three contacts, a server on it, and a linked instance whose group
/// events and received messages go to a receiver.
async fn setup(backend: Backend) -> (std::sync::Arc<FakeServer>, TestServer, String, Receiver) {
    let fake = FakeServer::new();
    for c in [ANA, BIA, CAIO] {
        fake.add_contact(c).await;
    }
    let s = server(backend, &fake).await;
    let k = s.default_key.clone();
    let hooks = Receiver::start(Answer::Ok).await;
    let id = linked(&s, &fake, &k, json!({"settings": {"autoTyping": false}})).await;
    let sub = s
        .post(
            "/v1/webhooks",
            &k,
            json!({"url": hooks.url, "instanceId": id, "events": GROUP_EVENTS}),
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.body);
    (fake, s, id, hooks)
}

/// The members of a group the way the network has them: (phone, role), sorted.
async fn network_members(fake: &FakeServer, gid: &str) -> Vec<(String, FakeRole)> {
    let mut m = fake
        .group(gid)
        .await
        .expect("the network has the group")
        .members;
    m.sort_by(|a, b| a.0.cmp(&b.0));
    m
}

/// What contact `member` decrypted of message `wa_id` in group `gid`.
async fn member_got(fake: &FakeServer, member: &str, gid: &str, text: &str) -> Observed {
    let to = format!("{member}@s.whatsapp.net");
    fake.wait_for(Duration::from_secs(15), |o| {
        matches!(o, Observed::PeerReceived { to: t, group: Some(g), text: Some(x), .. }
            if *t == to && g == gid && x == text)
    })
    .await
    .unwrap_or_else(|| panic!("{member} never decrypted {text:?} in {gid}"))
}

/// Acceptance 1: created through the API with two contacts; both decrypt the group message the
/// API sends (their receipts move it); a contact's own group message arrives as
/// `message.received` in the group.
async fn a_group_made_through_the_api_carries_messages_both_ways(backend: Backend) {
    let (fake, s, id, hooks) = setup(backend).await;
    let r = post(
        &s,
        "/v1/groups",
        json!({"instanceId": id, "subject": "Suporte", "description": "Equipe de plantão",
               "participants": [ANA, BIA, NOBODY, "12ab", ANA]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let g = &r.body["data"];
    let gid = g["groupId"].as_str().unwrap().to_owned();
    assert!(gid.ends_with("@g.us"), "{gid}");
    assert_eq!(
        (&g["subject"], &g["description"], &g["owner"]),
        (
            &json!("Suporte"),
            &json!("Equipe de plantão"),
            &json!(PHONE)
        ),
        "{g}"
    );
    assert_eq!(
        phones_and_roles(g),
        roles(&[(PHONE, "superadmin"), (ANA, "member"), (BIA, "member")])
    );
    assert_eq!(
        g["results"],
        json!([
            {"phone": ANA, "ok": true},
            {"phone": BIA, "ok": true},
            {"phone": NOBODY, "ok": false, "error": "not_on_whatsapp"},
            {"phone": "12ab", "ok": false, "error": "invalid_phone"},
            {"phone": ANA, "ok": false, "error": "already_participant"},
        ])
    );
    // What the other members see: the same group on the network.
    let on_network = fake.group(&gid).await.expect("the network has it");
    assert_eq!(
        (
            on_network.subject.as_str(),
            on_network.description.as_deref()
        ),
        ("Suporte", Some("Equipe de plantão"))
    );
    assert_eq!(
        network_members(&fake, &gid).await,
        vec![
            (PHONE.to_owned(), FakeRole::Superadmin),
            (ANA.to_owned(), FakeRole::Member),
            (BIA.to_owned(), FakeRole::Member),
        ]
    );
    // Listed, and a chat of its own named after it.
    let list = s
        .get(&format!("/v1/groups?instanceId={id}"), &s.default_key)
        .await;
    assert_eq!(list.body["pagination"]["total"], json!(1), "{}", list.body);
    assert_eq!(list.body["data"][0]["groupId"], json!(gid));
    assert_eq!(list.body["data"][0]["participantsCount"], json!(3));

    // Sent through the API: both members decrypt it (sender keys); their receipts move it.
    let sent = post(
        &s,
        "/v1/messages/send",
        json!({"instanceId": id, "to": gid, "message": "Bom dia, equipe"}),
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let mid = sent.body["messageId"].as_str().unwrap().to_owned();
    for member in [ANA, BIA] {
        member_got(&fake, member, &gid, "Bom dia, equipe").await;
    }
    eventually_for(
        &s,
        &s.default_key,
        &format!("/v1/messages/{mid}/status"),
        15,
        |b| b["data"]["status"] == json!("read"),
    )
    .await;
    // A second message reuses the sender key the members already have; a member mentioned
    // is named in it.
    post(
        &s,
        "/v1/messages/send",
        json!({"instanceId": id, "to": gid, "message": "@Bia pode ver?", "mentions": [BIA]}),
    )
    .await;
    let Observed::PeerReceived { message, .. } =
        member_got(&fake, BIA, &gid, "@Bia pode ver?").await
    else {
        unreachable!()
    };
    let context = message.extended_text_message.as_option().unwrap();
    assert_eq!(
        context.context_info.as_option().unwrap().mentioned_jid,
        vec![format!("{BIA}@s.whatsapp.net")]
    );

    // A member writes in the group: received in the group, from the member, with its name.
    fake.send_group_text_from(ANA, &gid, "Bom dia!")
        .await
        .expect("Ana writes in the group");
    let got = &hooks.events("message.received", 1).await[0];
    assert_eq!(
        (
            &got["isGroup"],
            &got["groupId"],
            &got["from"],
            &got["fromName"],
            &got["content"]
        ),
        (
            &json!(true),
            &json!(gid),
            &json!(ANA),
            &json!(format!("Contact {ANA}")),
            &json!("Bom dia!")
        ),
        "{got}"
    );
    // And her next one, under the key she already gave, mentioning the instance's number.
    let mention = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some("@você tudo certo?".into()),
            context_info: MessageField::some(wa::ContextInfo {
                mentioned_jid: vec![format!("{PHONE}@s.whatsapp.net")],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    fake.send_group_message_from(ANA, &gid, &mention)
        .await
        .expect("Ana writes again");
    let got = hooks.events("message.received", 2).await;
    assert_eq!(
        (&got[1]["content"], &got[1]["mentions"], &got[1]["groupId"]),
        (&json!("@você tudo certo?"), &json!([PHONE]), &json!(gid)),
        "{got:?}"
    );
    let chats = s
        .get(
            &format!("/v1/messages/chats?instanceId={id}"),
            &s.default_key,
        )
        .await;
    let chat = chats.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["isGroup"] == json!(true))
        .cloned()
        .unwrap_or_else(|| panic!("no group chat: {}", chats.body));
    assert_eq!(chat["contactName"], json!("Suporte"), "{chat}");
    s.stop().await;
}

/// Acceptance 2 (and the network's refusals of 5): every route of §17.5, each answer checked
/// against the group the network then holds.
async fn every_group_route_changes_what_the_members_see(backend: Backend) {
    let (fake, s, id, _hooks) = setup(backend).await;
    let gid = post(
        &s,
        "/v1/groups",
        json!({"instanceId": id, "subject": "Vendas", "participants": [ANA]}),
    )
    .await
    .body["data"]["groupId"]
        .as_str()
        .unwrap()
        .to_owned();

    // GET answers what the network has.
    let r = group_of(&s, &id, &gid).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        phones_and_roles(&r.body["data"]),
        roles(&[(PHONE, "superadmin"), (ANA, "member")])
    );

    // PATCH: subject, description, then the settings.
    let r = patch(
        &s,
        &gid,
        json!({"instanceId": id, "subject": "Vendas Sul", "description": "Metas do mês"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["data"]["subject"], &r.body["data"]["description"]),
        (&json!("Vendas Sul"), &json!("Metas do mês"))
    );
    let g = fake.group(&gid).await.unwrap();
    assert_eq!(
        (g.subject.as_str(), g.description.as_deref()),
        ("Vendas Sul", Some("Metas do mês"))
    );
    let r = patch(
        &s,
        &gid,
        json!({"instanceId": id, "announce": true, "locked": true, "description": ""}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            &r.body["data"]["announce"],
            &r.body["data"]["locked"],
            &r.body["data"]["description"]
        ),
        (&json!(true), &json!(true), &json!(null))
    );
    let g = fake.group(&gid).await.unwrap();
    assert!(g.announce && g.locked && g.description.is_none(), "{g:?}");

    // Participants: each number's outcome, and the network's roles after each.
    let path = format!("/v1/groups/{gid}/participants");
    let r = post(
        &s,
        &path,
        json!({"instanceId": id, "action": "add", "participants": [BIA, ANA, NOBODY]}),
    )
    .await;
    assert_eq!(
        r.body["data"],
        json!([
            {"phone": BIA, "ok": true},
            {"phone": ANA, "ok": false, "error": "already_participant"},
            {"phone": NOBODY, "ok": false, "error": "not_on_whatsapp"},
        ]),
        "{}",
        r.body
    );
    let r = post(
        &s,
        &path,
        json!({"instanceId": id, "action": "promote", "participants": [BIA, CAIO]}),
    )
    .await;
    assert_eq!(
        r.body["data"],
        json!([{"phone": BIA, "ok": true}, {"phone": CAIO, "ok": false, "error": "not_participant"}]),
        "{}",
        r.body
    );
    assert_eq!(
        network_members(&fake, &gid).await,
        vec![
            (PHONE.to_owned(), FakeRole::Superadmin),
            (ANA.to_owned(), FakeRole::Member),
            (BIA.to_owned(), FakeRole::Admin),
        ]
    );
    let r = post(
        &s,
        &path,
        json!({"instanceId": id, "action": "demote", "participants": [BIA]}),
    )
    .await;
    assert_eq!(
        r.body["data"],
        json!([{"phone": BIA, "ok": true}]),
        "{}",
        r.body
    );
    let r = post(
        &s,
        &path,
        json!({"instanceId": id, "action": "remove", "participants": [ANA]}),
    )
    .await;
    assert_eq!(
        r.body["data"],
        json!([{"phone": ANA, "ok": true}]),
        "{}",
        r.body
    );
    assert_eq!(
        network_members(&fake, &gid).await,
        vec![
            (PHONE.to_owned(), FakeRole::Superadmin),
            (BIA.to_owned(), FakeRole::Member),
        ]
    );
    // The API's view follows.
    assert_eq!(
        phones_and_roles(&group_of(&s, &id, &gid).await.body["data"]),
        roles(&[(PHONE, "superadmin"), (BIA, "member")])
    );

    // The invite: the network's code; revoked, a new one.
    let invite = s
        .get(
            &format!("/v1/groups/{gid}/invite?instanceId={id}"),
            &s.default_key,
        )
        .await;
    assert_eq!(invite.status, StatusCode::OK, "{}", invite.body);
    let code = fake.group(&gid).await.unwrap().invite;
    assert_eq!(invite.body["data"]["code"], json!(code));
    assert_eq!(
        invite.body["data"]["url"],
        json!(format!("https://chat.whatsapp.com/{code}"))
    );
    let revoked = post(
        &s,
        &format!("/v1/groups/{gid}/invite/revoke"),
        json!({"instanceId": id}),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let new_code = fake.group(&gid).await.unwrap().invite;
    assert_ne!(new_code, code);
    assert_eq!(revoked.body["data"]["code"], json!(new_code));

    // Leaving: the network no longer has the number in it; the group is gone from its list.
    let left = post(
        &s,
        &format!("/v1/groups/{gid}/leave"),
        json!({"instanceId": id}),
    )
    .await;
    assert_eq!(left.status, StatusCode::OK, "{}", left.body);
    assert_eq!(left.body["data"], json!({"groupId": gid, "left": true}));
    assert_eq!(
        network_members(&fake, &gid).await,
        vec![(BIA.to_owned(), FakeRole::Member)]
    );
    group_of(&s, &id, &gid)
        .await
        .assert_error(404, "group_not_found");

    // A contact's group: joined by its invite (the old code of a revoked invite is refused);
    // there the instance is a member, and the admins' work is refused.
    let theirs = fake.contact_creates_group(CAIO, "Condomínio", &[ANA]).await;
    let their_code = fake.group(&theirs).await.unwrap().invite;
    post(
        &s,
        "/v1/groups/join",
        json!({"instanceId": id, "code": code}),
    )
    .await
    .assert_error(404, "group_not_found");
    let joined = post(
        &s,
        "/v1/groups/join",
        json!({"instanceId": id, "code": format!("https://chat.whatsapp.com/{their_code}")}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["data"]["groupId"], json!(theirs));
    assert_eq!(
        network_members(&fake, &theirs).await,
        vec![
            (PHONE.to_owned(), FakeRole::Member),
            (ANA.to_owned(), FakeRole::Member),
            (CAIO.to_owned(), FakeRole::Superadmin),
        ]
    );
    patch(&s, &theirs, json!({"instanceId": id, "announce": true}))
        .await
        .assert_error(403, "not_group_admin");
    post(
        &s,
        &format!("/v1/groups/{theirs}/participants"),
        json!({"instanceId": id, "action": "remove", "participants": [ANA]}),
    )
    .await
    .assert_error(403, "not_group_admin");
    s.get(
        &format!("/v1/groups/{theirs}/invite?instanceId={id}"),
        &s.default_key,
    )
    .await
    .assert_error(403, "not_group_admin");
    assert_eq!(
        network_members(&fake, &theirs).await.len(),
        3,
        "a refused removal removed nobody"
    );
    // A group the number is not in, or that does not exist, is not found.
    group_of(&s, &id, "120363999999999999@g.us")
        .await
        .assert_error(404, "group_not_found");
    s.stop().await;
}

/// Acceptance 3: a contact adds the instance to a new group, adds and removes members,
/// promotes the instance and renames the group; each is an event, and the stored group follows.
async fn the_networks_group_notifications_become_events_and_the_stored_group_follows(
    backend: Backend,
) {
    let (fake, s, id, hooks) = setup(backend).await;
    let gid = fake
        .contact_creates_group(ANA, "Família", &[PHONE, BIA])
        .await;
    let joined = &hooks.events("group.joined", 1).await[0];
    assert_eq!(
        (&joined["groupId"], &joined["subject"], &joined["owner"]),
        (&json!(gid), &json!("Família"), &json!(ANA)),
        "{joined}"
    );
    assert_eq!(
        phones_and_roles(joined),
        roles(&[(ANA, "superadmin"), (PHONE, "member"), (BIA, "member")])
    );

    // One at a time, as people do them (the client handles notifications concurrently, so
    // back-to-back ones may be reported in another order).
    let steps: [(&str, &str); 3] = [("add", CAIO), ("remove", BIA), ("promote", PHONE)];
    for (n, (action, phone)) in steps.into_iter().enumerate() {
        fake.contact_changes_group(ANA, &gid, action, &[phone])
            .await
            .unwrap();
        let seen = &hooks.events("group.participants", n + 1).await[n];
        assert_eq!(
            (&seen["action"], &seen["participants"], &seen["by"]),
            (&json!(action), &json!([phone]), &json!(ANA)),
            "{seen}"
        );
    }
    fake.contact_renames_group(ANA, &gid, "Família Silva")
        .await
        .unwrap();
    let renamed = &hooks.events("group.updated", 1).await[0];
    assert_eq!(
        (&renamed["changes"], &renamed["by"]),
        (&json!({"subject": "Família Silva"}), &json!(ANA)),
        "{renamed}"
    );

    // The stored group (what the API answers while the instance is offline) follows.
    let store = &s.running().state.store;
    let instance = InstanceId::parse(&id).unwrap();
    let group = GroupId::parse(&gid).unwrap();
    let stored = store
        .get_group(&instance, &group)
        .await
        .unwrap()
        .expect("the group is stored");
    assert_eq!(stored.subject, "Família Silva");
    let mut members: Vec<_> = stored
        .participants
        .iter()
        .map(|p| (p.phone.to_string(), p.role.as_str().to_owned()))
        .collect();
    members.sort();
    assert_eq!(
        members,
        roles(&[(ANA, "superadmin"), (PHONE, "admin"), (CAIO, "member")])
    );

    // Removed by the admin: the group leaves the instance's list.
    fake.contact_changes_group(ANA, &gid, "remove", &[PHONE])
        .await
        .unwrap();
    let gone = hooks.events("group.participants", 4).await;
    assert_eq!(gone[3]["participants"], json!([PHONE]), "{gone:?}");
    for _ in 0..100 {
        if store.get_group(&instance, &group).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        store.get_group(&instance, &group).await.unwrap().is_none(),
        "a group the number was removed from is forgotten"
    );
    s.stop().await;
}
