//! The WhatsApp Web engine moves between nodes (§19): an instance linked on one node, against
//! the fake WhatsApp server, reconnects on another node from its keys in PostgreSQL once the
//! first is killed, with no new QR code, and sends and receives there.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Server, link_whatsapp_web, node_table};
use wagate_testkit::{Backend, TestDb};
use wagate_wa::fake::{FakeServer, Observed};

const PHONE: &str = "15550001111";
const CONTACT: &str = "15552223333";

async fn status(api: &Api, id: &str) -> Value {
    api.get(&format!("/v1/instances/{id}/status")).await["data"].clone()
}

fn count(fake: &FakeServer, what: impl Fn(&Observed) -> bool) -> usize {
    fake.observed().iter().filter(|o| what(o)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "PostgreSQL suite: set WAGATE_TEST_POSTGRES_URL and pass --ignored (.ci/run does)"]
async fn a_whatsapp_web_instance_moves_to_another_node_without_a_new_qr() {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let addr = fake.listen_tcp().await.unwrap();
    let db = TestDb::new(Backend::Postgres).await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n1 = Server::start_whatsapp_web_node(d1.path(), &db.url, addr, "n1");
    let api = Api::new_account(&n1).await;
    let id = link_whatsapp_web(&api, &fake, PHONE, json!({"autoRead": false})).await;
    let pairings = |o: &Observed| matches!(o, Observed::PairingStarted { .. });
    let logins = |o: &Observed| matches!(o, Observed::LoggedIn { .. });
    let (paired, logged_in) = (count(&fake, pairings), count(&fake, logins));

    let n2 = Server::start_whatsapp_web_node(d2.path(), &db.url, addr, "n2");
    n1.kill();
    let api = api.on(&n2);
    let started = std::time::Instant::now();
    loop {
        let moved = node_table(&n2)
            .await
            .get("n2")
            .is_some_and(|(_, n)| *n == 1)
            && count(&fake, logins) > logged_in
            && status(&api, &id).await["status"] == "connected";
        if moved {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "not reconnected on n2: {}",
            status(&api, &id).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("reconnected on n2 {:?} after the kill", started.elapsed());
    assert_eq!(
        count(&fake, pairings),
        paired,
        "no new QR code, no new link"
    );
    assert_eq!(status(&api, &id).await["phone"], PHONE);

    // It works there: the contact's message is stored, and a send reaches the contact.
    fake.send_text_from(CONTACT, PHONE, "to the new node")
        .await
        .unwrap();
    let mut stored = false;
    for _ in 0..200 {
        let list = api.get(&format!("/v1/messages?instanceId={id}")).await;
        if list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "to the new node")
        {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "the contact's message reached n2");
    api.post(
        "/v1/messages/send",
        json!({"instanceId": id, "to": CONTACT, "message": "from the new node"}),
    )
    .await;
    fake.wait_for(
        Duration::from_secs(20),
        |o| matches!(o, Observed::PeerReceived { text: Some(t), .. } if t == "from the new node"),
    )
    .await
    .expect("the contact decrypted the send of n2");
}
