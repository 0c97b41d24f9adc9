//! The Instances API over HTTP (§6, §15.4), on SQLite and PostgreSQL.

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wagate_testkit::{Backend, on_both_backends};

async fn create_returns_the_documented_body(backend: Backend) {
    let s = TestServer::start(backend).await;
    let body = json!({
        "name": "Sales WhatsApp",
        "webhookUrl": "https://myapp.com/webhooks/whatsapp",
        "webhookEvents": ["message.received", "message.sent"],
        "settings": {"autoRead": false, "autoTyping": true}
    });
    let r = s.post("/v1/instances", &s.default_key, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let d = &r.body["data"];
    assert_eq!(r.body["success"], json!(true));
    assert!(d["id"].as_str().unwrap().starts_with("inst_"));
    assert_eq!(d["name"], json!("Sales WhatsApp"));
    assert_eq!(d["status"], json!("disconnected"));
    for null_field in ["phone", "profileName", "profilePicUrl"] {
        assert_eq!(d[null_field], json!(null), "{null_field}");
    }
    assert_eq!(
        d["webhookUrl"],
        json!("https://myapp.com/webhooks/whatsapp")
    );
    assert_eq!(
        d["webhookEvents"],
        json!(["message.received", "message.sent"])
    );
    assert_eq!(
        d["settings"],
        json!({"autoRead": false, "autoTyping": true, "rejectCalls": false, "rejectCallMessage": null})
    );
    let created = d["createdAt"].as_str().unwrap();
    assert_eq!(created.len(), "2026-02-03T12:00:00.000Z".len());
    assert!(created.ends_with('Z'));
    assert!(d["webhookSecret"].as_str().unwrap().starts_with("whs_"));

    // The secret is shown at creation only.
    let id = d["id"].as_str().unwrap();
    let got = s.get(&format!("/v1/instances/{id}"), &s.default_key).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["data"]["id"], json!(id));
    assert!(got.body["data"].get("webhookSecret").is_none());
    s.stop().await;
}

async fn defaults_and_dotted_setting_aliases(backend: Backend) {
    let s = TestServer::start(backend).await;
    let r = s.create_instance(&s.default_key, "Plain").await;
    assert_eq!(
        r.body["data"]["settings"],
        json!({"autoRead": false, "autoTyping": true, "rejectCalls": false, "rejectCallMessage": null})
    );
    assert_eq!(r.body["data"]["webhookUrl"], json!(null));
    let r = s
        .post(
            "/v1/instances",
            &s.default_key,
            json!({"name": "Dotted", "settings.autoRead": true, "settings.autoTyping": false}),
        )
        .await;
    assert_eq!(
        r.body["data"]["settings"],
        json!({"autoRead": true, "autoTyping": false, "rejectCalls": false, "rejectCallMessage": null})
    );
    s.stop().await;
}

async fn list_filters_and_paginates(backend: Backend) {
    let s = TestServer::start(backend).await;
    for i in 0..3 {
        s.create_instance(&s.default_key, &format!("i{i}")).await;
    }
    let r = s.get("/v1/instances?limit=2", &s.default_key).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        r.body["pagination"],
        json!({"total": 3, "limit": 2, "offset": 0, "hasMore": true})
    );
    let r = s
        .get("/v1/instances?limit=2&offset=2", &s.default_key)
        .await;
    assert_eq!(r.body["data"][0]["name"], json!("i2"));
    assert_eq!(r.body["pagination"]["hasMore"], json!(false));
    let r = s
        .get("/v1/instances?status=connected", &s.default_key)
        .await;
    assert_eq!(r.body["pagination"]["total"], json!(0));
    let r = s.get("/v1/instances?status=all", &s.default_key).await;
    assert_eq!(r.body["pagination"]["total"], json!(3));

    s.get("/v1/instances?status=sleeping", &s.default_key)
        .await
        .assert_error(400, "invalid_request");
    s.get("/v1/instances?limit=101", &s.default_key)
        .await
        .assert_error(400, "invalid_request");
    let r = s.get("/v1/instances?limit=abc", &s.default_key).await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.body["error"]["details"][0]["field"], json!("limit"));
    s.stop().await;
}

async fn patch_updates_only_what_is_sent(backend: Backend) {
    let s = TestServer::start(backend).await;
    let id = s.create_instance(&s.default_key, "Vendas").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/instances/{id}");
    let r = s
        .call(
            Method::PATCH,
            &path,
            Some(&s.default_key),
            Some(json!({"name": "Vendas SP", "webhookUrl": "https://myapp.com/wh", "settings": {"autoRead": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["data"]["name"], json!("Vendas SP"));
    assert_eq!(r.body["data"]["webhookUrl"], json!("https://myapp.com/wh"));
    assert_eq!(
        r.body["data"]["settings"],
        json!({"autoRead": true, "autoTyping": true, "rejectCalls": false, "rejectCallMessage": null})
    );

    let r = s
        .call(
            Method::PATCH,
            &path,
            Some(&s.default_key),
            Some(json!({"webhookUrl": null})),
        )
        .await;
    assert_eq!(r.body["data"]["webhookUrl"], json!(null));
    assert_eq!(r.body["data"]["name"], json!("Vendas SP"));

    s.call(
        Method::PATCH,
        &path,
        Some(&s.default_key),
        Some(json!({"webhookUrl": "ftp://x.com"})),
    )
    .await
    .assert_error(400, "invalid_webhook_url");
    s.call(
        Method::PATCH,
        &path,
        Some(&s.default_key),
        Some(json!({"webhookEvents": ["nope"]})),
    )
    .await
    .assert_error(400, "invalid_webhook_events");
    s.call(
        Method::PATCH,
        &path,
        Some(&s.default_key),
        Some(json!({"name": ""})),
    )
    .await
    .assert_error(400, "invalid_request");
    s.stop().await;
}

async fn delete_removes_the_instance(backend: Backend) {
    let s = TestServer::start(backend).await;
    let id = s.create_instance(&s.default_key, "gone").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/instances/{id}");
    let r = s
        .call(Method::DELETE, &path, Some(&s.default_key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"], json!({"id": id, "deleted": true}));
    s.get(&path, &s.default_key)
        .await
        .assert_error(404, "instance_not_found");
    s.call(Method::DELETE, &path, Some(&s.default_key), None)
        .await
        .assert_error(404, "instance_not_found");
    s.stop().await;
}

async fn another_account_cannot_see_change_or_delete(backend: Backend) {
    let s = TestServer::start(backend).await;
    let id = s.create_instance(&s.default_key, "mine").await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, other) = s.account("pro").await;
    let path = format!("/v1/instances/{id}");
    s.get(&path, &other)
        .await
        .assert_error(404, "instance_not_found");
    s.call(
        Method::PATCH,
        &path,
        Some(&other),
        Some(json!({"name": "stolen"})),
    )
    .await
    .assert_error(404, "instance_not_found");
    s.call(Method::DELETE, &path, Some(&other), None)
        .await
        .assert_error(404, "instance_not_found");
    let list = s.get("/v1/instances", &other).await;
    assert_eq!(list.body["pagination"]["total"], json!(0));
    // Still there, unchanged, for its owner.
    let mine = s.get(&path, &s.default_key).await;
    assert_eq!(mine.body["data"]["name"], json!("mine"));
    s.stop().await;
}

async fn plan_limit_is_enforced(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, free) = s.account("free").await;
    assert_eq!(
        s.create_instance(&free, "first").await.status,
        StatusCode::CREATED
    );
    s.create_instance(&free, "second")
        .await
        .assert_error(403, "instance_limit_reached");
    let (_, starter) = s.account("starter").await;
    for i in 0..3 {
        assert_eq!(
            s.create_instance(&starter, &format!("{i}")).await.status,
            StatusCode::CREATED
        );
    }
    s.create_instance(&starter, "fourth")
        .await
        .assert_error(403, "instance_limit_reached");
    s.stop().await;
}

async fn create_validation_errors(backend: Backend) {
    let s = TestServer::start(backend).await;
    let k = &s.default_key;
    for url in [
        "not a url",
        "ftp://myapp.com/x",
        "http://myapp.com/x",
        "https://127.0.0.1/x",
        "https://10.0.0.1/",
        "https://169.254.169.254/",
    ] {
        s.post("/v1/instances", k, json!({"name": "x", "webhookUrl": url}))
            .await
            .assert_error(400, "invalid_webhook_url");
    }
    for events in [json!(["message.removed"]), json!([{}]), json!([])] {
        s.post(
            "/v1/instances",
            k,
            json!({"name": "x", "webhookEvents": events}),
        )
        .await
        .assert_error(400, "invalid_webhook_events");
    }
    let r = s
        .post(
            "/v1/instances",
            k,
            json!({"webhookUrl": "https://myapp.com"}),
        )
        .await;
    r.assert_error(400, "invalid_request");
    assert_eq!(r.body["error"]["details"][0]["field"], json!("name"));
    let r = s
        .post(
            "/v1/instances",
            k,
            json!({"name": "x", "settings": {"autoRead": "yes"}}),
        )
        .await;
    r.assert_error(400, "invalid_request");
    assert_eq!(
        r.body["error"]["details"][0]["field"],
        json!("settings.autoRead")
    );
    // Nothing was created by any of the refused requests.
    let list = s.get("/v1/instances", k).await;
    assert_eq!(list.body["pagination"]["total"], json!(0));
    s.stop().await;
}

async fn private_webhooks_are_allowed_when_configured(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.url_policy.allow_private = true).await;
    let r = s
        .post(
            "/v1/instances",
            &s.default_key,
            json!({"name": "dev", "webhookUrl": "http://127.0.0.1:9000/hook"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    s.stop().await;
}

on_both_backends!(
    create_returns_the_documented_body,
    defaults_and_dotted_setting_aliases,
    list_filters_and_paginates,
    patch_updates_only_what_is_sent,
    delete_removes_the_instance,
    another_account_cannot_see_change_or_delete,
    plan_limit_is_enforced,
    create_validation_errors,
    private_webhooks_are_allowed_when_configured,
);
