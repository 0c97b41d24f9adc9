//! An account manages its own API keys (§20): `GET/POST /v1/account/keys` and
//! `DELETE /v1/account/keys/{keyId}` with the `keys:write` scope, which only an account's first
//! key has unless a key is made with it by name; a key grants nothing its creator lacks.

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wagate_testkit::{Backend, on_both_backends};

async fn keys(s: &TestServer, key: &str) -> Vec<Value> {
    let r = s.get("/v1/account/keys", key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["data"].as_array().unwrap().clone()
}

fn scopes(k: &Value) -> Vec<&str> {
    k["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

async fn an_account_manages_its_own_keys(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (account, first) = s.account("pro").await;
    let listed = keys(&s, &first).await;
    assert_eq!(listed.len(), 1);
    assert!(scopes(&listed[0]).contains(&"keys:write"), "{listed:?}");
    let account_view = s.get("/v1/account", &first).await;
    assert!(
        account_view.body["data"]["keyScopes"]
            .as_array()
            .unwrap()
            .contains(&json!("keys:write"))
    );

    // Made without scopes: every scope of §15.3, not keys:write; shown once.
    let made = s
        .post("/v1/account/keys", &first, json!({"name": "ci"}))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let plain = made.body["data"]["key"].as_str().unwrap().to_owned();
    let plain_id = made.body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(made.body["data"]["name"], json!("ci"));
    assert_eq!(made.body["data"]["accountId"], json!(account));
    assert!(!scopes(&made.body["data"]).contains(&"keys:write"));
    assert!(scopes(&made.body["data"]).contains(&"webhooks:write"));
    let listed = keys(&s, &first).await;
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|k| k.get("key").is_none()),
        "a secret is shown once: {listed:?}"
    );
    assert_eq!(s.get("/v1/account", &plain).await.status, StatusCode::OK);
    s.get("/v1/account/keys", &plain)
        .await
        .assert_error(403, "insufficient_permissions");
    s.post("/v1/account/keys", &plain, json!({"name": "more"}))
        .await
        .assert_error(403, "insufficient_permissions");

    // A narrow key that may manage keys grants only what it holds.
    let narrow = s
        .post(
            "/v1/account/keys",
            &first,
            json!({"name": "ops", "scopes": ["keys:write", "messages:read"], "expiresAt": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(narrow.status, StatusCode::CREATED, "{}", narrow.body);
    assert_eq!(
        narrow.body["data"]["expiresAt"],
        json!("2099-01-01T00:00:00.000Z")
    );
    let narrow = narrow.body["data"]["key"].as_str().unwrap().to_owned();
    let r = s
        .post(
            "/v1/account/keys",
            &narrow,
            json!({"name": "wider", "scopes": ["instances:write"]}),
        )
        .await;
    r.assert_error(403, "insufficient_permissions");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("instances:write"),
        "{}",
        r.body
    );
    s.post("/v1/account/keys", &narrow, json!({"name": "all"}))
        .await
        .assert_error(403, "insufficient_permissions");
    let same = s
        .post(
            "/v1/account/keys",
            &narrow,
            json!({"name": "same", "scopes": ["messages:read"]}),
        )
        .await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.body);

    // Revoked: refused from the next request on, and listed with its time.
    let r = s
        .call(
            Method::DELETE,
            &format!("/v1/account/keys/{plain_id}"),
            Some(&first),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"], json!({"id": plain_id, "deleted": true}));
    s.get("/v1/account", &plain)
        .await
        .assert_error(401, "invalid_api_key");
    let listed = keys(&s, &first).await;
    let revoked = listed.iter().find(|k| k["id"] == json!(plain_id)).unwrap();
    assert!(revoked["revokedAt"].is_string(), "{revoked}");
    s.stop().await;
}

async fn keys_stay_within_their_account(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, mine) = s.account("pro").await;
    let (theirs_account, theirs) = s.account("pro").await;
    let their_key_id = keys(&s, &theirs).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        keys(&s, &mine)
            .await
            .iter()
            .all(|k| k["id"] != json!(their_key_id)),
        "another account's key is listed"
    );
    let delete = |key: String, id: String| {
        let s = &s;
        async move {
            s.call(
                Method::DELETE,
                &format!("/v1/account/keys/{id}"),
                Some(&key),
                None,
            )
            .await
        }
    };
    delete(mine.clone(), their_key_id.clone())
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        s.get("/v1/account", &theirs).await.status,
        StatusCode::OK,
        "their key still works"
    );
    delete(mine.clone(), "key_01jd3k9w6q8x2m4v7c5b0n1t2r".into())
        .await
        .assert_error(404, "not_found");
    delete(mine.clone(), "nope".into())
        .await
        .assert_error(404, "not_found");
    let made = s
        .post("/v1/account/keys", &mine, json!({"name": "x"}))
        .await;
    assert_ne!(made.body["data"]["accountId"], json!(theirs_account));
    s.stop().await;
}

async fn bad_key_requests_get_the_envelope(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.account("pro").await;
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (
            json!({"name": "k", "scopes": ["messages:delete"]}),
            "scopes",
        ),
        (json!({"name": "k", "expiresAt": "tomorrow"}), "expiresAt"),
    ] {
        let r = s.post("/v1/account/keys", &key, body.clone()).await;
        r.assert_error(400, "invalid_request");
        assert_eq!(
            r.body["error"]["details"][0]["field"],
            json!(field),
            "{body}: {}",
            r.body
        );
    }
    s.post("/v1/account/keys", &key, json!({"scopes": []}))
        .await
        .assert_error(400, "invalid_request");
    s.post("/v1/account/keys", &key, json!({"name": 7}))
        .await
        .assert_error(400, "invalid_request");
    assert_eq!(keys(&s, &key).await.len(), 1, "nothing was made");
    s.stop().await;
}

on_both_backends!(
    an_account_manages_its_own_keys,
    keys_stay_within_their_account,
    bad_key_requests_get_the_envelope,
);
