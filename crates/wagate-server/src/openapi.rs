//! The OpenAPI 3.1 document. Paths come from the `#[utoipa::path]` of each handler, registered
//! together with its route, so a route cannot exist without being documented.

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
