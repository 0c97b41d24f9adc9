//! `SendContent`: the content part of a send as a `oneOf`, one object per kind (§17.1), so that a
//! client generator makes one type per kind. It is built from `ContentFields`' own properties, so
//! each field's limits are written once, on the field.

use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// Each kind: its name, the fields it needs, and the ones it may add.
const KINDS: [(&str, &[&str], &[&str]); 7] = [
    ("Text", &["message"], &["mentions"]),
    (
        "Media",
        &["mediaUrl", "mediaType"],
        &["caption", "filename", "voiceNote"],
    ),
    ("Location", &["location"], &[]),
    ("Contacts", &["contacts"], &[]),
    ("Reaction", &["reaction"], &[]),
    ("Poll", &["poll"], &[]),
    ("Template", &["template"], &[]),
];

/// The requests that send exactly one kind (the sandbox's inject also takes `editOf` and
/// `deleteOf` alone, so it keeps the flat `ContentFields`).
const SENDS: [&str; 2] = ["SendMessageRequest", "SendByUrlRequest"];

/// Adds `SendContent` and points the send requests at it instead of `ContentFields`.
pub fn document(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let Some(fields) = components
        .schemas
        .get("ContentFields")
        .and_then(|s| serde_json::to_value(s).ok())
    else {
        return;
    };
    let props = &fields["properties"];
    let variants: Vec<Value> = KINDS
        .iter()
        .map(|(kind, needs, may)| {
            let mut p = Map::new();
            for f in *needs {
                p.insert((*f).into(), not_null(props[*f].clone()));
            }
            for f in *may {
                p.insert((*f).into(), props[*f].clone());
            }
            json!({"type": "object", "title": format!("{kind}Content"), "required": needs, "properties": p})
        })
        .collect();
    let send_content = json!({
        "description": "Exactly one kind of content (§17.1): the fields of one of these objects.",
        "oneOf": variants,
    });
    if let Ok(schema) = serde_json::from_value::<RefOr<Schema>>(send_content) {
        components.schemas.insert("SendContent".into(), schema);
    }
    for name in SENDS {
        let Some(v) = components
            .schemas
            .get(name)
            .and_then(|s| serde_json::to_value(s).ok())
        else {
            continue;
        };
        let pointed = v.to_string().replace(
            "\"#/components/schemas/ContentFields\"",
            "\"#/components/schemas/SendContent\"",
        );
        if let Ok(schema) = serde_json::from_str::<RefOr<Schema>>(&pointed) {
            components.schemas.insert(name.into(), schema);
        }
    }
}

/// A required field's schema without its `null` alternative.
fn not_null(mut v: Value) -> Value {
    if let Some(types) = v["type"].as_array() {
        let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        v["type"] = match kept.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(kept),
        };
        return v;
    }
    if let Some(alts) = v["oneOf"].as_array()
        && let Some(other) = alts.iter().find(|a| a["type"] != "null")
    {
        return other.clone();
    }
    v
}
