//! Reading and changing groups (§17.5) the way every group test does, as the default key.

use reqwest::Method;
use serde_json::Value;

use super::{Reply, TestServer};

/// A group's members as (phone, role), sorted.
pub fn phones_and_roles(group: &Value) -> Vec<(String, String)> {
    let mut members: Vec<_> = group["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| {
            (
                p["phone"].as_str().unwrap().to_owned(),
                p["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    members.sort();
    members
}

/// (phone, role) pairs as `phones_and_roles` gives them.
pub fn roles(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|(p, r)| (p.to_string(), r.to_string()))
        .collect();
    v.sort();
    v
}

/// `instance`'s view of group `gid` (`GET /v1/groups/{gid}`).
pub async fn group_of(s: &TestServer, instance: &str, gid: &str) -> Reply {
    s.get(
        &format!("/v1/groups/{gid}?instanceId={instance}"),
        &s.default_key,
    )
    .await
}

pub async fn post(s: &TestServer, path: &str, body: Value) -> Reply {
    s.post(path, &s.default_key, body).await
}

/// `PATCH /v1/groups/{gid}`.
pub async fn patch(s: &TestServer, gid: &str, body: Value) -> Reply {
    s.call(
        Method::PATCH,
        &format!("/v1/groups/{gid}"),
        Some(&s.default_key),
        Some(body),
    )
    .await
}
