//! The admin API, `GET /v1/account`, health, metrics and the OpenAPI document.

mod common;

use common::{TestServer, linked};
use reqwest::{Method, StatusCode};
use serde_json::json;
use wagate_testkit::{Backend, on_both_backends};

async fn admin_manages_accounts(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.call(Method::GET, "/admin/v1/accounts", None, None)
        .await
        .assert_error(401, "missing_api_key");
    s.call(
        Method::GET,
        "/admin/v1/accounts",
        Some(&s.default_key),
        None,
    )
    .await
    .assert_error(401, "invalid_api_key");

    let r = s
        .admin(
            Method::POST,
            "/admin/v1/accounts",
            Some(json!({"name": "Acme", "plan": "starter"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.body["data"]["account"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("acct_"));
    assert_eq!(r.body["data"]["account"]["instanceLimit"], json!(3));
    assert!(
        r.body["data"]["apiKey"]["key"]
            .as_str()
            .unwrap()
            .starts_with("wgk_")
    );

    s.admin(
        Method::POST,
        "/admin/v1/accounts",
        Some(json!({"name": "x", "plan": "gold"})),
    )
    .await
    .assert_error(400, "invalid_request");
    let r = s
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{id}"),
            Some(json!({"plan": "pro"})),
        )
        .await;
    assert_eq!(r.body["data"]["plan"], json!("pro"));
    assert_eq!(r.body["data"]["rateLimits"]["messages"], json!(2000));

    let list = s.admin(Method::GET, "/admin/v1/accounts", None).await;
    assert_eq!(list.body["pagination"]["total"], json!(2), "default + Acme");

    let r = s
        .admin(Method::DELETE, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    s.admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await
        .assert_error(404, "not_found");
    s.admin(Method::GET, "/admin/v1/accounts/acct_bogus", None)
        .await
        .assert_error(404, "not_found");
    s.stop().await;
}

async fn account_shows_plan_limits_and_usage(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (_, key) = s.account("free").await;
    s.create_instance(&key, "one").await;
    let r = s.get("/v1/account", &key).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = &r.body["data"];
    assert_eq!(d["plan"], json!("free"));
    assert_eq!(d["instanceLimit"], json!(1));
    assert_eq!(
        d["rateLimits"],
        json!({"messages": 100, "instances": 50, "webhooks": 100, "general": 500})
    );
    assert_eq!(d["usage"]["instances"], json!(1));
    s.stop().await;
}

async fn metrics_count_requests_and_instances(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.create_instance(&s.default_key, "m").await;
    s.get("/v1/instances/inst_nope", &s.default_key).await;
    let text = s.metrics().await;
    assert!(
        text.contains(
            r#"wagate_http_requests_total{method="POST",route="/v1/instances",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/instances/{instanceId}",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("wagate_http_request_duration_seconds_bucket"));
    assert!(
        text.contains(r#"wagate_instances{status="disconnected"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"wagate_instances{status="connected"} 0"#),
        "{text}"
    );
    s.stop().await;
}

/// Every route the API serves, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/instances"),
    ("get", "/v1/instances"),
    ("get", "/v1/instances/{instanceId}"),
    ("patch", "/v1/instances/{instanceId}"),
    ("delete", "/v1/instances/{instanceId}"),
    ("get", "/v1/account"),
    ("get", "/v1/account/keys"),
    ("post", "/v1/account/keys"),
    ("delete", "/v1/account/keys/{keyId}"),
    ("get", "/v1/events/stream"),
    ("get", "/v1/events/ws"),
    ("post", "/v1/instances/{instanceId}/connect"),
    ("get", "/v1/instances/{instanceId}/qrcode"),
    ("get", "/v1/instances/{instanceId}/status"),
    ("post", "/v1/instances/{instanceId}/disconnect"),
    ("post", "/v1/instances/{instanceId}/restart"),
    ("post", "/v1/messages/send"),
    ("get", "/v1/messages"),
    ("get", "/v1/messages/{messageId}"),
    ("patch", "/v1/messages/{messageId}"),
    ("delete", "/v1/messages/{messageId}"),
    ("post", "/v1/messages/read"),
    ("post", "/v1/instances/{instanceId}/presence"),
    ("get", "/v1/messages/{messageId}/status"),
    ("get", "/v1/messages/chats"),
    ("get", "/v1/contacts"),
    ("post", "/v1/contacts/check"),
    ("get", "/v1/contacts/{phone}"),
    ("post", "/v1/contacts/{phone}/block"),
    ("post", "/v1/contacts/{phone}/unblock"),
    ("patch", "/v1/instances/{instanceId}/profile"),
    ("get", "/v1/groups"),
    ("post", "/v1/groups"),
    ("get", "/v1/groups/{groupId}"),
    ("patch", "/v1/groups/{groupId}"),
    ("post", "/v1/groups/{groupId}/participants"),
    ("get", "/v1/groups/{groupId}/invite"),
    ("post", "/v1/groups/{groupId}/invite/revoke"),
    ("post", "/v1/groups/join"),
    ("post", "/v1/groups/{groupId}/leave"),
    ("post", "/sandbox/v1/scan"),
    ("post", "/sandbox/v1/messages"),
    ("post", "/sandbox/v1/groups"),
    ("post", "/sandbox/v1/votes"),
    ("post", "/sandbox/v1/calls"),
    ("post", "/sandbox/v1/presence"),
    ("post", "/sandbox/v1/instances/{instanceId}/drop"),
    ("post", "/sandbox/v1/instances/{instanceId}/unlink"),
    ("post", "/admin/v1/accounts"),
    ("get", "/admin/v1/accounts"),
    ("get", "/admin/v1/accounts/{accountId}"),
    ("patch", "/admin/v1/accounts/{accountId}"),
    ("delete", "/admin/v1/accounts/{accountId}"),
    ("post", "/admin/v1/accounts/{accountId}/keys"),
    ("get", "/admin/v1/accounts/{accountId}/keys"),
    ("delete", "/admin/v1/accounts/{accountId}/keys/{keyId}"),
    ("get", "/admin/v1/nodes"),
    ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks"),
    ("get", "/v1/webhooks/{webhookId}"),
    ("put", "/v1/webhooks/{webhookId}"),
    ("delete", "/v1/webhooks/{webhookId}"),
    ("post", "/v1/webhooks/{webhookId}/rotate-secret"),
    ("get", "/v1/webhooks/{webhookId}/logs"),
    ("post", "/v1/webhooks/{webhookId}/logs/{logId}/retry"),
    ("post", "/v1/webhooks/{webhookId}/test"),
    ("post", "/v1/webhooks/inbound"),
    ("get", "/v1/webhooks/inbound"),
    ("delete", "/v1/webhooks/inbound/{inboundId}"),
    ("post", "/webhook/{token}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/media/{mediaId}"),
    ("get", "/meta/webhook"),
    ("post", "/meta/webhook"),
];

/// Routes whose answer to an unknown id is, by design, the same `not_found` as no route at all.
const NOT_FOUND_BY_DESIGN: &[&str] = &["/webhook/{token}"];

/// Actions that take no request body.
const NO_BODY: &[&str] = &[
    "/v1/instances/{instanceId}/restart",
    "/v1/webhooks/{webhookId}/rotate-secret",
    "/v1/webhooks/{webhookId}/logs/{logId}/retry",
    "/sandbox/v1/instances/{instanceId}/drop",
    "/sandbox/v1/instances/{instanceId}/unlink",
];

async fn openapi_documents_every_route(backend: Backend) {
    let s = TestServer::start(backend).await;
    let doc = s.openapi().await;
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let paths = doc["paths"].as_object().unwrap();
    let listed: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        listed,
        ROUTES.len(),
        "documented operations: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let responses = op["responses"].as_object().unwrap();
        assert!(!responses.is_empty());
        // A 101 (the WebSocket's upgrade) has no body to describe.
        for (code, r) in responses.iter().filter(|(code, _)| code.as_str() != "101") {
            assert!(
                r["content"].is_object(),
                "{method} {path} {code} has no response schema"
            );
        }
        if ["post", "patch", "put"].contains(method) && !NO_BODY.contains(path) {
            assert!(
                op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                "{method} {path} has no request schema"
            );
        }
    }
    // Every referenced schema exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let text = doc.to_string();
    for r in text.split("\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "missing schema {name}");
    }
    // The live API really serves what is listed (nothing documented that 404s as a route).
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{instanceId}", "inst_01jd3k9w6q8x2m4v7c5b0n1t2r")
            .replace("{accountId}", "acct_01jd3k9w6q8x2m4v7c5b0n1t2r")
            .replace("{keyId}", "key_01jd3k9w6q8x2m4v7c5b0n1t2r")
            .replace("{messageId}", "msg_01jd3k9w6q8x2m4v7c5b0n1t2r")
            .replace("{webhookId}", "wh_01jd3k9w6q8x2m4v7c5b0n1t2r")
            .replace("{logId}", "log_01jd3k9w6q8x2m4v7c5b0n1t2r")
            .replace("{inboundId}", "ib_01jd3k9w6q8x2m4v7c5b0n1t2r")
            .replace("{phone}", "5511999999999")
            .replace("{token}", "wh_0");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = s.call(m, &concrete, None, None).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if NOT_FOUND_BY_DESIGN.contains(path) {
            continue;
        }
        assert_ne!(
            r.body["error"]["code"],
            json!("not_found"),
            "{method} {path}"
        );
    }
    let docs = s.http.get(format!("{}/docs", s.base)).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(
        html.contains("<html") && html.contains("/v1/instances"),
        "the page embeds the document"
    );
    // Nothing of the page comes from elsewhere: its one script is this server's copy of
    // Scalar, whole, and the default fonts (from Scalar's servers) are off.
    for outside in ["src=\"http", "href=\"http", "cdn."] {
        assert!(!html.contains(outside), "the page loads {outside}…");
    }
    assert!(html.contains(r#"<script src="/docs/scalar.js">"#));
    assert!(html.contains(r#""withDefaultFonts":false"#));
    let script = s
        .http
        .get(format!("{}/docs/scalar.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let bundle = include_bytes!("../assets/scalar/standalone.js");
    assert_eq!(&script.bytes().await.unwrap()[..], &bundle[..]);
    s.stop().await;
}

/// §19: the node lists itself with the instances it drives, and reads not ready (and gone) once
/// it drains at shutdown, with its instances handed back.
async fn nodes_and_readiness(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sandbox = true).await;
    s.call(Method::GET, "/admin/v1/nodes", Some(&s.default_key), None)
        .await
        .assert_error(401, "invalid_api_key");
    let nodes = s.admin(Method::GET, "/admin/v1/nodes", None).await;
    assert_eq!(nodes.status, StatusCode::OK);
    assert_eq!(nodes.body.as_array().unwrap().len(), 1, "{}", nodes.body);
    assert_eq!(nodes.body[0]["nodeId"], json!("node-1"));
    assert_eq!(nodes.body[0]["status"], json!("up"));
    assert_eq!(nodes.body[0]["instances"], json!(0));
    assert_eq!(
        s.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::OK
    );

    linked(&s, &s.default_key, "5511900000001", json!({})).await;
    let nodes = s.admin(Method::GET, "/admin/v1/nodes", None).await;
    assert_eq!(
        nodes.body[0]["instances"],
        json!(1),
        "it holds what it linked"
    );

    s.running().state.ownership.drain().await;
    s.call(Method::GET, "/readyz", None, None)
        .await
        .assert_error(503, "service_unavailable");
    let nodes = s.admin(Method::GET, "/admin/v1/nodes", None).await;
    assert_eq!(nodes.body[0]["status"], json!("gone"));
    assert_eq!(nodes.body[0]["instances"], json!(0), "handed back");
    s.stop().await;
}

on_both_backends!(
    nodes_and_readiness,
    admin_manages_accounts,
    account_shows_plan_limits_and_usage,
    metrics_count_requests_and_instances,
    openapi_documents_every_route,
);
