//! The `wagate` binary as an operator uses it: `serve` on a fresh directory, and the CLI.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_wagate");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `wagate serve` in `dir` with no configuration but the port; returns the child and what it
/// printed before "listening".
fn serve(dir: &Path, port: u16) -> (Child, Vec<String>) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("WAGATE_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "server exited early: {lines:?}"
        );
        let done = line.contains("listening");
        lines.push(line.trim().to_owned());
        if done {
            break;
        }
    }
    (child, lines)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn printed_secret<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with(prefix))
}

async fn create_seed_instance(port: u16, key: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/instances"))
        .bearer_auth(key)
        .json(&json!({
            "name": "Sales WhatsApp",
            "webhookUrl": "https://myapp.com/webhooks/whatsapp",
            "webhookEvents": ["message.received", "message.sent"],
            "settings": {"autoRead": false, "autoTyping": true}
        }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn first_start_prints_a_working_key_once_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (child, lines) = serve(dir.path(), port);
    let key = printed_secret(&lines, "wgk_")
        .expect("the default key is printed")
        .to_owned();
    assert!(
        printed_secret(&lines, "wga_").is_some(),
        "the admin token is printed: {lines:?}"
    );
    assert!(
        dir.path().join("wagate-data/wagate.db").exists(),
        "SQLite in ./wagate-data"
    );
    // They hold secrets and message content: the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("wagate-data"), 0o700);
    assert_eq!(mode("wagate-data/wagate.db"), 0o600);

    let (status, body) = create_seed_instance(port, &key).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["data"]["id"].as_str().unwrap().starts_with("inst_"));
    assert_eq!(body["data"]["status"], json!("disconnected"));
    stop(child);

    // Second start: nothing new is printed, the key and the instance are still there.
    let (child, lines) = serve(dir.path(), port);
    assert!(printed_secret(&lines, "wgk_").is_none(), "{lines:?}");
    assert!(printed_secret(&lines, "wga_").is_none(), "{lines:?}");
    let list: Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/instances"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["pagination"]["total"], json!(1));
    stop(child);

    // The first key cannot be shown again; the quickstart's way to get another one.
    let (code, out, err) = cli(
        &dir.path().join("wagate-data"),
        &["key", "create", "--account", "default"],
    );
    assert_eq!(code, 0, "{err}");
    let new_key = out["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    let (child, _) = serve(dir.path(), port);
    let (status, body) = create_seed_instance(port, &new_key).await;
    assert_eq!(status, 201, "the new key works: {body}");
    stop(child);
}

#[test]
fn a_short_admin_token_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", "a"])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("WAGATE_DATABASE_URL")
        .env_remove("WAGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 32 characters"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line on stderr: {err}");
}

#[test]
fn settings_that_cannot_work_are_refused_at_start() {
    for (flag, value, says) in [
        ("--amqp-url", "http://127.0.0.1:5672", "not an AMQP URL"),
        ("--nats-url", "http://127.0.0.1:4222", "not a NATS URL"),
        ("--nats-stream", "events.all", "not a stream name"),
        ("--retention-days", "0", "0.001 to 36500 days"),
        ("--retention-days", "a week", "not a number of days"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", flag, value])
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("WAGATE_DATABASE_URL")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
}

#[test]
fn serve_defaults_match_the_operator_interface() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "127.0.0.1:8080",
        "./wagate-data",
        "WAGATE_LISTEN",
        "WAGATE_DATABASE_URL",
        "WAGATE_DATA_DIR",
        "WAGATE_ADMIN_TOKEN",
        "WAGATE_PUBLIC_URL",
        "WAGATE_SANDBOX",
        "WAGATE_WEBHOOK_ALLOW_PRIVATE",
        "WAGATE_NODE_ID",
        "WAGATE_NATS_URL",
        "WAGATE_NATS_STREAM",
        "WAGATE_AMQP_URL",
        "WAGATE_AMQP_EXCHANGE",
        "WAGATE_RETENTION_DAYS",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
}

fn cli(dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("WAGATE_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn account_and_key_commands_print_json_and_use_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, _) = cli(d, &["migrate"]);
    assert_eq!(code, 0);

    let (code, out, err) = cli(d, &["account", "create", "--name", "Acme", "--plan", "pro"]);
    assert_eq!(code, 0, "{err}");
    let account = out["account"]["id"].as_str().unwrap().to_owned();
    assert!(account.starts_with("acct_"));
    assert_eq!(out["account"]["plan"], json!("pro"));
    assert!(out["apiKey"]["key"].as_str().unwrap().starts_with("wgk_"));

    let (code, out, _) = cli(
        d,
        &[
            "key",
            "create",
            "--account",
            &account,
            "--name",
            "ci",
            "--scopes",
            "messages:write,instances:read",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(out["scopes"], json!(["instances:read", "messages:write"]));
    let key_id = out["id"].as_str().unwrap().to_owned();

    let (code, out, _) = cli(d, &["key", "revoke", &key_id]);
    assert_eq!((code, out["revoked"].clone()), (0, json!(true)));
    let (code, _, err) = cli(d, &["key", "revoke", &key_id]);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "one line on stderr: {err}");

    // By name: one account called Acme is found; two are ambiguous, and the id is asked for.
    let (code, out, err) = cli(d, &["key", "create", "--account", "Acme"]);
    assert_eq!(code, 0, "{err}");
    assert!(out["key"].as_str().unwrap().starts_with("wgk_"));
    let (code, _, _) = cli(
        d,
        &["account", "create", "--name", "Acme", "--plan", "free"],
    );
    assert_eq!(code, 0);
    let (code, _, err) = cli(d, &["key", "create", "--account", "Acme"]);
    assert_eq!(code, 1);
    assert!(err.contains("acct_"), "{err}");
    let (code, _, _) = cli(d, &["key", "create", "--account", "Nobody"]);
    assert_eq!(code, 1);

    let (code, _, _) = cli(d, &["account", "create", "--name", "X", "--plan", "gold"]);
    assert_eq!(code, 1);
    let (code, _, _) = cli(
        d,
        &[
            "key",
            "create",
            "--account",
            "acct_01jd3k9w6q8x2m4v7c5b0n1t2r",
        ],
    );
    assert_eq!(code, 1);
    let (code, _, _) = cli(d, &["account", "create"]);
    assert_eq!(code, 2, "missing --name is bad usage");
    let (code, _, _) = cli(d, &["frobnicate"]);
    assert_eq!(code, 2);
}
