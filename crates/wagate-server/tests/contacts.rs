//! One contact's profile (`GET /v1/contacts/{phone}`) on the sandbox: fetched from the network
//! when not cached, then served from the cache (also to the list and, once the instance is
//! disconnected, without asking anyone); errors in the documented envelope.

mod common;

use common::sandbox::{inject, sandbox};
use common::{eventually, linked};
use reqwest::StatusCode;
use serde_json::json;
use wagate_testkit::{Backend, on_both_backends};

const ME: &str = "5511900000001";
/// The virtual contact `inject` writes as.
const ANA: &str = "5511988887777";

async fn a_contacts_profile_is_fetched_and_cached(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let id = linked(&s, &k, ME, json!({})).await;
    inject(&s, &k, ME, "oi").await;
    let list = eventually(&s, &k, &format!("/v1/contacts?instanceId={id}"), |b| {
        b["data"][0]["phone"] == json!(ANA)
    })
    .await;
    // Known from her message: her name, but not yet her profile.
    assert_eq!(list.body["data"][0]["name"], json!("Ana"), "{}", list.body);
    assert_eq!(list.body["data"][0]["about"], json!(null), "{}", list.body);

    let c = s
        .get(&format!("/v1/contacts/{ANA}?instanceId={id}"), &k)
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.body);
    let data = &c.body["data"];
    assert_eq!(data["phone"], json!(ANA));
    assert_eq!(data["name"], json!("Ana"), "the name is kept: {}", c.body);
    assert_eq!(data["about"], json!("Sandbox contact"), "{}", c.body);
    assert_eq!(data["profilePicUrl"], json!(null));
    assert_eq!(data["isBusiness"], json!(false));
    assert_eq!(data["isBlocked"], json!(false));

    // The list shows what was fetched.
    let list = s.get(&format!("/v1/contacts?instanceId={id}"), &k).await;
    assert_eq!(list.body["data"][0]["about"], json!("Sandbox contact"));

    // A number nobody wrote to is fetched too; one not on WhatsApp is not found.
    let other = s
        .get(&format!("/v1/contacts/5511977776666?instanceId={id}"), &k)
        .await;
    assert_eq!(other.status, StatusCode::OK, "{}", other.body);
    assert_eq!(other.body["data"]["about"], json!("Sandbox contact"));
    s.get(&format!("/v1/contacts/99912345678?instanceId={id}"), &k)
        .await
        .assert_error(404, "contact_not_found");

    // Disconnected, the cache still answers; an unknown number is not found.
    let d = s
        .post(&format!("/v1/instances/{id}/disconnect"), &k, json!({}))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let cached = s
        .get(&format!("/v1/contacts/{ANA}?instanceId={id}"), &k)
        .await;
    assert_eq!(cached.status, StatusCode::OK, "{}", cached.body);
    assert_eq!(cached.body["data"]["about"], json!("Sandbox contact"));
    s.get(&format!("/v1/contacts/5511955554444?instanceId={id}"), &k)
        .await
        .assert_error(404, "contact_not_found");
}

async fn a_contact_lookup_reports_bad_input_in_the_envelope(backend: Backend) {
    let s = sandbox(backend).await;
    let k = s.default_key.clone();
    let id = linked(&s, &k, ME, json!({})).await;
    s.get(&format!("/v1/contacts/55-11?instanceId={id}"), &k)
        .await
        .assert_error(400, "invalid_phone_number");
    s.get(&format!("/v1/contacts/{ANA}"), &k)
        .await
        .assert_error(400, "invalid_request");
    // Another account's instance is missing, and reported before the bad number.
    let (_, other_key) = s.account("pro").await;
    s.get(&format!("/v1/contacts/55-11?instanceId={id}"), &other_key)
        .await
        .assert_error(404, "instance_not_found");
    // Reading contacts needs `contacts:read`.
    let account = s.default_account().await;
    let narrow = s.scoped_key(&account, &["messages:read"]).await;
    s.get(&format!("/v1/contacts/{ANA}?instanceId={id}"), &narrow)
        .await
        .assert_error(403, "insufficient_permissions");
}

on_both_backends!(
    a_contacts_profile_is_fetched_and_cached,
    a_contact_lookup_reports_bad_input_in_the_envelope,
);
