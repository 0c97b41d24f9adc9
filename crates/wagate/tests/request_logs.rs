//! What an operator reads in the `--log-json` log of a failed request: every line logged while
//! handling it carries the `requestId` the client got, one names the store error behind the
//! 503, and the client's body names none of it.
//! Runs on SQLite and on PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;
use support::{Api, Server};
use wagate_testkit::{Backend, TestDb, on_both_backends};

/// Appears in the database's error and nowhere else: the store error a log line must name.
const REFUSAL: &str = "refused_by_test";

/// Makes every insert into `messages` fail, from a connection of the test's own.
async fn refuse_message_writes(url: &str) {
    let sql = if url.starts_with("sqlite:") {
        format!(
            "CREATE TRIGGER {REFUSAL} BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )
    } else {
        format!("ALTER TABLE messages ADD CONSTRAINT {REFUSAL} CHECK (false) NOT VALID")
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// The log lines from `from` on, parsed; panics on a line that is not JSON.
fn json_lines(server: &Server, from: usize) -> Vec<Value> {
    server.logs()[from..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The request span's field `name` on a line (`spans` lists the enclosing spans).
fn request_field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "request")
        .and_then(|s| s.get(name))
}

fn is_finished(line: &Value, request_id: &str) -> bool {
    line["fields"]["message"] == "request finished"
        && request_field(line, "requestId") == Some(&json!(request_id))
}

async fn a_refused_request_is_traceable_in_the_log_by_its_request_id(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &db.url,
        &[
            ("WAGATE_LOG_JSON", "true"),
            ("WAGATE_LOG", "info,sqlx=warn"),
        ],
    );
    let api = Api::new_account(&server).await;
    let inst = api.link("5511900000001", json!({})).await;

    // A route's lines carry its template, not the URI with the instance's id in it.
    let connect = json_lines(&server, 0)
        .into_iter()
        .find(|l| {
            l["fields"]["message"] == "request finished"
                && request_field(l, "method") == Some(&json!("POST"))
                && request_field(l, "route")
                    .is_some_and(|r| r.as_str().unwrap().ends_with("/connect"))
        })
        .expect("a finished line for the connect request");
    assert_eq!(
        request_field(&connect, "route"),
        Some(&json!("/v1/instances/{instanceId}/connect")),
        "{connect}"
    );
    assert!(!connect.to_string().contains(&inst), "{connect}");

    refuse_message_writes(&db.url).await;
    // Lines from the linking's background work would not be the refused request's.
    server.wait_for_quiet_log(Duration::from_millis(500)).await;
    let mark = server.logs().len();
    let res = api
        .http
        .post(format!("{}/v1/messages/send", api.base))
        .bearer_auth(&api.key)
        .json(&json!({"instanceId": inst, "to": "5511900000002", "message": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);
    let header = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let text = res.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
    let request_id = body["error"]["requestId"].as_str().unwrap().to_owned();
    assert_eq!(header, request_id);
    // The client learns it was ours, and nothing of the database.
    for internal in [REFUSAL, "database", "sqlite", "error returned"] {
        assert!(
            !text.to_lowercase().contains(internal),
            "{internal} in {text}"
        );
    }

    // The finished line is written once the response is; the log pipe may lag behind.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = json_lines(&server, mark);
        if let Some(end) = lines.iter().position(|l| is_finished(l, &request_id)) {
            break lines[..=end].to_vec();
        }
        assert!(
            Instant::now() < deadline,
            "no finished line for {request_id}: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in &lines {
        assert_eq!(
            request_field(line, "requestId"),
            Some(&json!(request_id)),
            "a line of the request without its requestId: {line}"
        );
    }
    let cause = lines
        .iter()
        .find(|l| l["level"] == "ERROR" && l["fields"].to_string().contains(REFUSAL))
        .unwrap_or_else(|| panic!("no error line names the store error: {lines:?}"));
    assert!(
        cause["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("database unavailable")),
        "{cause}"
    );
    let finished = lines.last().unwrap();
    assert_eq!(finished["level"], "ERROR", "{finished}");
    assert_eq!(finished["fields"]["status"], 503, "{finished}");
    assert!(finished["fields"]["latency_ms"].is_number(), "{finished}");
    assert_eq!(request_field(finished, "method"), Some(&json!("POST")));
    assert_eq!(
        request_field(finished, "route"),
        Some(&json!("/v1/messages/send"))
    );
    server.kill();
}

on_both_backends!(a_refused_request_is_traceable_in_the_log_by_its_request_id);

/// Secrets that travel in a URL (an inbound webhook URL's token, an `api_key` query a client
/// added by mistake) and in headers (a wrong API key) never reach the log, even at `trace`.
#[tokio::test]
async fn secrets_in_urls_and_headers_never_reach_the_log() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &db.url, &[("WAGATE_LOG", "trace")]);
    let api = Api::new_account(&server).await;
    let inst = api.link("5511900000001", json!({})).await;
    let hook = api
        .post(
            "/v1/webhooks/inbound",
            json!({"name": "crm", "instanceId": inst}),
        )
        .await;
    let url = hook["data"]["url"].as_str().unwrap().to_owned();
    let token = url.rsplit('/').next().unwrap().to_owned();
    let sent = api
        .http
        .post(format!("{url}?api_key=query-secret-123"))
        .json(&json!({"to": "5511977776666", "message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let listed = api
        .http
        .get(format!(
            "{}/v1/instances?api_key=query-secret-456",
            server.base
        ))
        .bearer_auth("wgk_00000000000000000000000000_not-a-real-secret-789")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 401);
    // Trace never goes quiet (the outbox is polled): let the requests' lines land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let logs = server.logs();
    assert!(
        logs.len() > 20,
        "trace logs something: {} lines",
        logs.len()
    );
    let key_secret = api.key.rsplit('_').next().unwrap().to_owned();
    for secret in [
        token.as_str(),
        "query-secret-123",
        "query-secret-456",
        "not-a-real-secret-789",
        key_secret.as_str(),
    ] {
        let leaks: Vec<_> = logs.iter().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} is in the log: {leaks:?}");
    }
}
