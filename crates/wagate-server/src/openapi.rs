//! The OpenAPI 3.1 document. Paths come from the `#[utoipa::path]` of each handler, registered
//! together with its route, so a route cannot exist without being documented.

mod content_kinds;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wagate — EnviaAI v1 compatible WhatsApp API",
        description = "Self-hosted WhatsApp HTTP API gateway. Send `Authorization: Bearer <api-key>` on every /v1 route."
    ),
    modifiers(&Security),
    tags(
        (name = "Instances", description = "WhatsApp connections"),
        (name = "Connection", description = "Linking and connection state"),
        (name = "Messages", description = "Sending, history, chats"),
        (name = "Contacts", description = "Contacts and number checks"),
        (name = "Groups", description = "Groups the instance is in: members, settings, invites"),
        (name = "Webhooks", description = "Event subscriptions, delivery logs, tests"),
        (name = "Inbound webhooks", description = "Secret URLs that send messages without an API key"),
        (name = "Sandbox", description = "The simulated network (servers started with --sandbox)"),
        (name = "Account", description = "The caller's account"),
        (name = "Admin", description = "Operator API (admin token)"),
        (name = "Operations", description = "Health and metrics"),
        (name = "Meta", description = "Webhooks called by Meta for official instances (signed, no API key)"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("wgk_…")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("wga_…")
                    .build(),
            ),
        );
    }
}

/// Completes the document once every route is in it (a `modifiers(…)` entry would run before
/// the routers add their paths).
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    StandardResponses.modify(doc);
    content_kinds::document(doc);
}

/// The answers every route can give besides its own, added where a route does not document them
/// itself, so that no status a client can meet is missing from the document: 400 for a route that
/// takes parameters or a body; 401, 403 and 429 for a keyed route (401 for an admin one); 408, 413
/// and 415 for a route with a body; 414, 431, 500 and 503 (at capacity, with `Retry-After`) for
/// all.
struct StandardResponses;

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let schemes: Vec<String> = op
                    .security
                    .iter()
                    .flatten()
                    .flat_map(|req| {
                        serde_json::to_value(req)
                            .ok()
                            .and_then(|v| {
                                v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())
                            })
                            .unwrap_or_default()
                    })
                    .collect();
                let keyed = schemes.iter().any(|s| s == "api_key");
                let admin = schemes.iter().any(|s| s == "admin_token");
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let has_body = op.request_body.is_some();
                let mut add = |status: &str, codes: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(codes));
                };
                if has_params || has_body {
                    add("400", "invalid_request");
                }
                if keyed {
                    add("401", "missing_api_key, invalid_api_key, expired_api_key");
                    add("403", "insufficient_permissions");
                    add("429", "rate_limit_exceeded (with Retry-After)");
                } else if admin {
                    add(
                        "401",
                        "invalid_api_key: the admin token is missing or wrong",
                    );
                    add(
                        "429",
                        "rate_limit_exceeded: too many refused tokens from this address",
                    );
                }
                if has_body {
                    add("408", "request_timeout: the body did not arrive in time");
                    add("413", "payload_too_large");
                    add("415", "unsupported_content_type");
                }
                add("414", "uri_too_long: the path and query exceed 8 KiB");
                add(
                    "431",
                    "headers_too_large: more than 100 headers or 32 KiB of them",
                );
                add("500", "internal_error");
                add(
                    "503",
                    "service_unavailable (with Retry-After when the node is at capacity)",
                );
            }
        }
    }
}

fn error_response(codes: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(codes)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
        .into()
}

/// A string schema that admits exactly `values` (for query parameters kept as strings, which
/// the handlers parse themselves).
fn one_of(values: &[&str]) -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// A string schema matching `pattern`, with an example.
fn text(pattern: impl Into<String>, example: &str) -> utoipa::openapi::ObjectBuilder {
    use utoipa::openapi::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .examples([example])
}

/// A list whose items are each one of `values`.
fn list_of(values: &[&str], example: serde_json::Value) -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(one_of(values))
        .examples([example])
}

pub fn instance_status_filter() -> utoipa::openapi::Object {
    one_of(&[
        "connected",
        "disconnected",
        "connecting",
        "qr_pending",
        "all",
    ])
}

pub fn chat_sort() -> utoipa::openapi::Object {
    one_of(&["lastMessageAt", "unreadCount", "contactName"])
}

pub fn sort_order() -> utoipa::openapi::Object {
    one_of(&["asc", "desc"])
}

pub fn log_status() -> utoipa::openapi::Object {
    one_of(&["success", "failed"])
}

/// Control characters and the bidirectional embeddings, overrides and isolates, which no name
/// may hold (`AccountName::parse`), as a regex character class body.
const NOT_IN_NAMES: &str = r"\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069";

/// A display name: 1–100 characters, at least one of them not white space, none of them a
/// control or bidirectional-override character.
pub fn display_name() -> utoipa::openapi::Object {
    name_like("Sales WhatsApp")
}

fn name_like(example: &str) -> utoipa::openapi::Object {
    text(
        format!("^[^{NOT_IN_NAMES}]*[^\\s{NOT_IN_NAMES}][^{NOT_IN_NAMES}]*$"),
        example,
    )
    .min_length(Some(1))
    .max_length(Some(wagate_core::account::AccountName::MAX_CHARS))
    .build()
}

/// A group's subject: what a display name may be.
pub fn group_subject() -> utoipa::openapi::Object {
    name_like("Support")
}

/// What `POST /v1/groups/{groupId}/participants` does to the numbers.
pub fn participant_action() -> utoipa::openapi::Object {
    use wagate_core::group::ParticipantAction;
    one_of(&ParticipantAction::ALL.map(ParticipantAction::as_str))
}

/// Up to 1,024 phone numbers (a group's size).
pub fn phone_numbers() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(phone_number())
        .max_items(Some(wagate_core::group::MAX_PARTICIPANTS))
        .build()
}

/// A phone number as §15.1 writes it: 8–15 digits, country code first.
pub fn phone_number() -> utoipa::openapi::Object {
    text("^[0-9]{8,15}$", "5511999999999").build()
}

/// Whom a message goes to: a phone number, or a group's id (`…@g.us`).
pub fn recipient() -> utoipa::openapi::Object {
    text(
        r"^([0-9]{8,15}|[0-9-]{1,40}@g\.us|[0-9]{1,20}@lid)$",
        "5511999999999",
    )
    .build()
}

/// A list of event names of §9.2: at least one, each one of them.
pub fn webhook_events() -> utoipa::openapi::schema::Array {
    use wagate_core::webhook_event::WebhookEvent;
    list_of(
        &WebhookEvent::ALL.map(WebhookEvent::as_str),
        serde_json::json!(["message.received", "message.sent"]),
    )
    .min_items(Some(1))
    .build()
}

/// A webhook or media URL: absolute `http(s)`, without credentials, at most 2,048 characters.
/// (Whether its host is public is checked when it is saved and at each request.)
pub fn target_url() -> utoipa::openapi::Object {
    use utoipa::openapi::SchemaFormat;
    text(
        r"^https?://[^\s/@?#]+([/?#]\S*)?$",
        "https://myapp.com/webhooks/enviaai",
    )
    .format(Some(SchemaFormat::Custom("uri".into())))
    .max_length(Some(wagate_core::net::TargetUrl::MAX_LEN))
    .build()
}

/// A list of scope names (§15.4).
pub fn scopes() -> utoipa::openapi::schema::Array {
    use wagate_core::scope::Scope;
    list_of(
        &Scope::ALL.map(Scope::as_str),
        serde_json::json!(["messages:write", "messages:read"]),
    )
    .build()
}

/// A plan's name (§15.3).
pub fn plan() -> utoipa::openapi::Object {
    use wagate_core::plan::Plan;
    one_of(&Plan::ALL.map(Plan::as_str))
}
