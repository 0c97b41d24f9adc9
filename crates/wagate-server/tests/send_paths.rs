//! The three routes that take a message's content — `POST /v1/messages/send`, the inbound webhook
//! URL `POST /webhook/{token}` and the sandbox's `POST /sandbox/v1/messages` — parse it in one
//! place (`wagate_core::send`): the same bad content gets the same status, code, message and
//! `details` from each (§15.2, §15.5).

mod common;

use std::sync::Arc;

use common::{Reply, TestServer, linked};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wagate_server::net_guard::StaticResolver;
use wagate_testkit::{Backend, on_both_backends};

/// The instance's phone, and the contact it writes to (or who writes to it).
const PHONE: &str = "5511900000001";
const CONTACT: &str = "5511988887777";

#[derive(Debug, Clone, Copy)]
enum Route {
    Send,
    InboundUrl,
    SandboxInject,
}

const ROUTES: [Route; 3] = [Route::Send, Route::InboundUrl, Route::SandboxInject];

/// A sandbox server with one linked instance and an inbound webhook URL for it. Media host names
/// resolve from a table: `private.example` to loopback.
struct Env {
    s: TestServer,
    key: String,
    instance: String,
    url: String,
}

impl Env {
    async fn start(backend: Backend) -> Env {
        let resolver = Arc::new(StaticResolver::default());
        resolver.set("private.example", vec!["127.0.0.1".parse().unwrap()]);
        let s = TestServer::start_with(backend, |c| {
            c.sandbox = true;
            c.url_policy.allow_private = false;
            c.resolver = resolver.clone();
        })
        .await;
        let key = s.default_key.clone();
        let instance = linked(&s, &key, PHONE, json!({"autoTyping": false})).await;
        let hook = s
            .post(
                "/v1/webhooks/inbound",
                &key,
                json!({"name": "Zapier", "instanceId": instance}),
            )
            .await;
        assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.body);
        let url = hook.body["data"]["url"].as_str().unwrap().to_owned();
        Env {
            s,
            key,
            instance,
            url,
        }
    }

    /// Sends `content` through `route`, with that route's other fields valid.
    async fn send(&self, route: Route, content: &Value) -> Reply {
        let with = |extra: Value| {
            let mut body = content.as_object().unwrap().clone();
            body.extend(extra.as_object().unwrap().clone());
            Value::Object(body)
        };
        match route {
            Route::Send => {
                let body = with(json!({"instanceId": self.instance, "to": CONTACT}));
                self.s.post("/v1/messages/send", &self.key, body).await
            }
            Route::InboundUrl => {
                let body = with(json!({"to": CONTACT}));
                let res = self.s.http.post(&self.url).json(&body).send().await;
                TestServer::reply(res.unwrap()).await
            }
            Route::SandboxInject => {
                let body = with(json!({"to": PHONE, "from": CONTACT}));
                self.s.post("/sandbox/v1/messages", &self.key, body).await
            }
        }
    }
}

/// A bad content and the 400 it gets: its code, the field `details` names (none for codes that
/// have no `details`), and the message.
struct Case {
    content: Value,
    code: &'static str,
    field: Option<&'static str>,
    message: &'static str,
}

fn bad_contents() -> Vec<Case> {
    let media = |url: &str, kind: &str| json!({"mediaUrl": url, "mediaType": kind});
    vec![
        Case {
            content: json!({"message": "x".repeat(65_537)}),
            code: "invalid_request",
            field: Some("message"),
            message: "Invalid value for 'message': at most 65536 characters",
        },
        Case {
            content: json!({"mediaUrl": "https://e.com/a.jpg", "mediaType": "image",
                "caption": "c".repeat(1_025)}),
            code: "invalid_request",
            field: Some("caption"),
            message: "Invalid value for 'caption': at most 1024 characters",
        },
        Case {
            content: json!({"message": 5}),
            code: "invalid_request",
            field: Some("message"),
            message: "Invalid value for 'message': invalid type: integer `5`, expected a string",
        },
        Case {
            content: json!({"template": {"name": "order_update", "language": "en"}}),
            code: "invalid_request",
            field: Some("template"),
            message: "Invalid value for 'template': templates are sent by instances connected \
                      with method 'official'",
        },
        Case {
            content: json!({"template": {"name": 5, "language": "en"}}),
            code: "invalid_request",
            field: Some("template.name"),
            message: "Invalid value for 'template.name': invalid type: integer `5`, expected a \
                      string",
        },
        Case {
            content: json!({"message": "x", "template": {"name": "t", "language": "en"}}),
            code: "missing_content",
            field: None,
            message: "Send exactly one of 'message', 'mediaUrl' with 'mediaType', 'location', \
                      'contacts', 'reaction', 'poll' or 'template'.",
        },
        Case {
            content: media("https://e.com/a.gif", "gif"),
            code: "invalid_media",
            field: None,
            message: "mediaType 'gif' is not one of image, video, audio, document, sticker.",
        },
        Case {
            content: media("https://127.0.0.1/a.jpg", "image"),
            code: "invalid_media",
            field: None,
            message: "mediaUrl is not valid: the URL points to a private, loopback or \
                      link-local address.",
        },
        Case {
            content: media("ftp://e.com/a.jpg", "image"),
            code: "invalid_media",
            field: None,
            message: "mediaUrl is not valid: only http and https URLs are allowed.",
        },
        Case {
            // A name that resolves to a private address: refused at send time, by every route.
            content: media("https://private.example/a.jpg", "image"),
            code: "invalid_media",
            field: None,
            message: "mediaUrl is not valid: the URL points to a private, loopback or \
                      link-local address.",
        },
        Case {
            content: json!({"mediaUrl": "https://e.com/a.jpg"}),
            code: "invalid_media",
            field: None,
            message: "Media needs both 'mediaUrl' and 'mediaType'.",
        },
        Case {
            content: json!({}),
            code: "missing_content",
            field: None,
            message: "Send exactly one of 'message', 'mediaUrl' with 'mediaType', 'location', \
                      'contacts', 'reaction', 'poll' or 'template'.",
        },
        Case {
            content: json!({"message": ""}),
            code: "missing_content",
            field: None,
            message: "Send exactly one of 'message', 'mediaUrl' with 'mediaType', 'location', \
                      'contacts', 'reaction', 'poll' or 'template'.",
        },
        Case {
            content: json!({"message": "x", "mediaUrl": "https://e.com/a.jpg", "mediaType": "image"}),
            code: "missing_content",
            field: None,
            message: "Send exactly one of 'message', 'mediaUrl' with 'mediaType', 'location', \
                      'contacts', 'reaction', 'poll' or 'template'.",
        },
    ]
}

/// Every bad content of the table through `route`: the 400 of the table.
async fn route_answers_the_table(e: &Env, route: Route) {
    for case in bad_contents() {
        let r = e.send(route, &case.content).await;
        let what = format!("{route:?} {}", case.message);
        r.assert_error(400, case.code);
        assert_eq!(r.body["error"]["message"], json!(case.message), "{what}");
        match case.field {
            Some(field) => {
                let details = r.body["error"]["details"].as_array().expect(&what);
                assert_eq!(details.len(), 1, "{what}: {}", r.body);
                assert_eq!(details[0]["field"], json!(field), "{what}");
                assert!(details[0]["issue"].as_str().is_some_and(|i| !i.is_empty()));
            }
            None => assert!(
                r.body["error"].get("details").is_none(),
                "{what}: {}",
                r.body
            ),
        }
    }
    // The table's contents are refused for themselves: a good one passes the same route.
    let ok = e.send(route, &json!({"message": "hello"})).await;
    assert_eq!(ok.status, StatusCode::OK, "{route:?}: {}", ok.body);
}

async fn send_answers_bad_content_by_field(backend: Backend) {
    let e = Env::start(backend).await;
    route_answers_the_table(&e, Route::Send).await;
    e.s.stop().await;
}

async fn inbound_url_answers_bad_content_by_field(backend: Backend) {
    let e = Env::start(backend).await;
    route_answers_the_table(&e, Route::InboundUrl).await;
    e.s.stop().await;
}

async fn sandbox_inject_answers_bad_content_by_field(backend: Backend) {
    let e = Env::start(backend).await;
    route_answers_the_table(&e, Route::SandboxInject).await;
    e.s.stop().await;
}

/// Beyond the table: each route's whole error (code, message, `details` with serde's own words
/// for a mistyped field) is the send route's, byte for byte but the request id.
async fn the_three_routes_answer_alike(backend: Backend) {
    let e = Env::start(backend).await;
    let mut contents: Vec<Value> = bad_contents().into_iter().map(|c| c.content).collect();
    contents.extend([
        json!({"caption": 7, "message": "x"}),
        json!({"template": {"language": "en"}}),
        json!({"template": {"name": "Bad Name", "language": "en"}}),
        json!({"mediaType": "image"}),
        json!({"mediaUrl": "not a url", "mediaType": "video"}),
    ]);
    for content in contents {
        let mut answers = Vec::new();
        for route in ROUTES {
            let r = e.send(route, &content).await;
            let mut error = r.body["error"].clone();
            error.as_object_mut().unwrap().remove("requestId");
            answers.push((r.status, error));
        }
        assert_eq!(answers[0].0, StatusCode::BAD_REQUEST, "{content}");
        assert_eq!(answers[0], answers[1], "send vs inbound URL: {content}");
        assert_eq!(answers[0], answers[2], "send vs sandbox inject: {content}");
    }
    e.s.stop().await;
}

/// The OpenAPI document describes the three bodies as their own fields plus the shared content.
async fn the_three_request_bodies_document_the_content(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.sandbox = true).await;
    let doc = s.openapi().await;
    let schemas = &doc["components"]["schemas"];
    let content = &schemas["ContentFields"]["properties"];
    for field in [
        "message",
        "mediaUrl",
        "mediaType",
        "filename",
        "caption",
        "template",
    ] {
        assert!(
            content[field].is_object(),
            "ContentFields.{field}: {content}"
        );
    }
    assert!(schemas["TemplateRequest"]["properties"]["name"].is_object());
    // The two routes that send one kind take it as a oneOf (SendContent, one object per kind);
    // the sandbox's inject, which also takes editOf or deleteOf alone, the flat fields.
    for (path, schema, own, content) in [
        (
            "/v1/messages/send",
            "SendMessageRequest",
            &["instanceId", "to"][..],
            "SendContent",
        ),
        (
            "/webhook/{token}",
            "SendByUrlRequest",
            &["to"][..],
            "SendContent",
        ),
        (
            "/sandbox/v1/messages",
            "InjectRequest",
            &["to", "from"][..],
            "ContentFields",
        ),
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(
            body["schema"]["$ref"],
            json!(format!("#/components/schemas/{schema}")),
            "{path}"
        );
        let parts = schemas[schema]["allOf"].as_array().expect(schema);
        assert!(
            parts.contains(&json!({"$ref": format!("#/components/schemas/{content}")})),
            "{schema}: {parts:?}"
        );
        let fields = parts
            .iter()
            .find(|p| p.get("properties").is_some())
            .unwrap();
        for f in own {
            assert!(fields["properties"][f].is_object(), "{schema}.{f}");
            assert!(
                fields["required"].as_array().unwrap().contains(&json!(f)),
                "{schema}.{f}"
            );
        }
    }
    s.stop().await;
}

on_both_backends!(
    the_three_request_bodies_document_the_content,
    send_answers_bad_content_by_field,
    inbound_url_answers_bad_content_by_field,
    sandbox_inject_answers_bad_content_by_field,
    the_three_routes_answer_alike,
);
