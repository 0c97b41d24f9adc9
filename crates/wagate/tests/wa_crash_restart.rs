//! Inbound durability of the WhatsApp Web engine across SIGKILL: the fake WhatsApp server
//! delivers a message; wagate cannot commit it (the database is write-locked by the test) and
//! is killed. Nothing acknowledged it, so after the restart WhatsApp delivers it again, and it
//! is stored once. The binary is built with `test-fake-wa` and reaches the fake over TCP.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use support::{Api, Server, link_whatsapp_web};
use wagate_testkit::{Backend, TestDb, on_both_backends};
use wagate_wa::fake::{FakeServer, Observed};

const PHONE: &str = "15550001111";
const CONTACT: &str = "15552223333";

on_both_backends!(message_delivered_before_a_kill_is_redelivered_and_stored_once);

fn serve_wa(dir: &Path, db: &str, fake: std::net::SocketAddr) -> Server {
    Server::start_whatsapp_web(
        dir,
        db,
        &[
            ("WAGATE_WA_VERSION", "2.3000.1027000000"),
            ("WAGATE_TEST_FAKE_WA_ADDR", &fake.to_string()),
        ],
    )
}

async fn status(api: &Api, id: &str) -> Value {
    api.get(&format!("/v1/instances/{id}/status")).await["data"].clone()
}

async fn until_status(api: &Api, id: &str, want: &str) {
    for _ in 0..600 {
        if status(api, id).await["status"] == json!(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never {want}: {}", status(api, id).await);
}

/// Holds the database's write lock until dropped (SQLite: an IMMEDIATE transaction;
/// PostgreSQL: an exclusive lock on `messages`).
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

async fn lock_writes(url: &str) -> WriteLock {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut c)
            .await
            .unwrap();
        WriteLock::Sqlite(c)
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE")
            .execute(&mut c)
            .await
            .unwrap();
        WriteLock::Postgres(c)
    }
}

impl WriteLock {
    async fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut c).await;
                let _ = c.close().await;
            }
            WriteLock::Postgres(mut c) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut c).await;
                let _ = c.close().await;
            }
        }
    }
}

async fn message_delivered_before_a_kill_is_redelivered_and_stored_once(backend: Backend) {
    let fake = FakeServer::new();
    fake.add_contact(CONTACT).await;
    let addr = fake.listen_tcp().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend).await;
    let url = match backend {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("wagate.db").display()
        ),
        Backend::Postgres => db.url.clone(),
    };

    // Link an instance: the test reads the QR code from the API's PNG; the fake phone scans it.
    let server = serve_wa(dir.path(), &url, addr);
    let api = Api::new_account(&server).await;
    let id = link_whatsapp_web(&api, &fake, PHONE, json!({"autoRead": false})).await;

    // The database refuses writes; the contact writes; the server delivers to wagate, which
    // cannot commit, so it does not acknowledge. Then wagate is killed.
    let lock = lock_writes(&url).await;
    let wa_id = fake
        .send_text_from(CONTACT, PHONE, "survive the kill")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let acked = |o: &Observed| matches!(o, Observed::ClientReceipt { id, .. } if *id == wa_id);
    assert!(
        !fake.observed().iter().any(acked),
        "nothing was acknowledged before the commit"
    );
    server.kill();
    lock.release().await;

    // Restart: the instance resumes without a QR code; WhatsApp redelivers; stored once.
    let server = serve_wa(dir.path(), &url, addr);
    let api = api.on(&server);
    until_status(&api, &id, "connected").await;
    fake.wait_for(Duration::from_secs(30), acked)
        .await
        .expect("acknowledged after the restart");
    let list = api.get(&format!("/v1/messages?instanceId={id}")).await;
    let stored: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["content"] == json!("survive the kill"))
        .collect();
    assert_eq!(stored.len(), 1, "stored exactly once: {list}");
    assert_eq!(stored[0]["from"], json!(CONTACT));
    server.kill();
}
