//! A message the database could not take is not acknowledged to the network, so the network
//! delivers it again and nothing is lost (the engines' `emit` reports the failure).

mod common;

use common::sandbox::sandbox;
use common::{TestServer, linked};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;
use wagate_testkit::{Backend, on_both_backends};

/// Makes every insert into `messages` fail (`true`) or succeed again (`false`), from a
/// connection of the test's own.
async fn refuse_message_writes(s: &TestServer, refuse: bool) {
    let url = s.db_url();
    let sql = match (url.starts_with("sqlite:"), refuse) {
        (true, true) => {
            "CREATE TRIGGER refuse BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'refused'); END"
        }
        (true, false) => "DROP TRIGGER refuse",
        (false, true) => "ALTER TABLE messages ADD CONSTRAINT refuse CHECK (false) NOT VALID",
        (false, false) => "ALTER TABLE messages DROP CONSTRAINT refuse",
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

async fn an_inbound_message_that_was_not_stored_is_not_acknowledged(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let inst = linked(&s, &k, "5511900000001", json!({})).await;
    let write =
        json!({"to": "5511900000001", "from": "5511988887777", "message": "do not lose me"});

    refuse_message_writes(&s, true).await;
    let r = s.post("/sandbox/v1/messages", &k, write.clone()).await;
    r.assert_error(503, "service_unavailable");

    // The contact's phone sends again (as WhatsApp redelivers what was not acknowledged).
    refuse_message_writes(&s, false).await;
    let r = s.post("/sandbox/v1/messages", &k, write).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let h = s.get(&format!("/v1/messages?instanceId={inst}"), &k).await;
    assert_eq!(h.body["data"].as_array().unwrap().len(), 1, "{}", h.body);
    assert_eq!(h.body["data"][0]["content"], json!("do not lose me"));
    s.stop().await;
}

on_both_backends!(an_inbound_message_that_was_not_stored_is_not_acknowledged);
