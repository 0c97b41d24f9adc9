//! Request extractors whose rejections are `ApiError`s: JSON bodies (415 for non-JSON, 413 for
//! oversize, 400 with the failing field for malformed JSON or wrong types) and query strings.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::http::admission::BodyDeadline;
use crate::http::error::{ApiError, FieldIssue};

/// A JSON request body.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be left out entirely (then `T::default()`), e.g. `disconnect`'s optional
/// `reason`. A body that is sent must still be valid JSON.
pub struct OptionalJson<T>(pub T);

fn is_json(req: &Request) -> bool {
    declares_json(req.headers())
}

/// Whether `Content-Type` is `application/json` or an `application/*+json` type.
pub fn declares_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// The whole body, by the request's `BodyDeadline` (set by `admission`; none in tests that call
/// a router without it).
pub(crate) async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let deadline = req.extensions().get::<BodyDeadline>().copied();
    let read = Bytes::from_request(req, state);
    let read = match deadline {
        Some(d) => match tokio::time::timeout_at(d.at, read).await {
            Ok(read) => read,
            Err(_) => return Err(ApiError::RequestTimeout(d.allowance.as_secs())),
        },
        None => read.await,
    };
    read.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(1024 * 1024)
        } else {
            ApiError::InvalidRequest {
                message: "The request body could not be read.".into(),
                details: vec![],
            }
        }
    })
}

/// A body taken as it is (e.g. to check a signature over its bytes), within the same limits.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        body_bytes(req, state).await.map(RawBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(body_error)?;
    if escapes_nul(bytes) {
        return Err(nul_refused("body"));
    }
    Ok(value)
}

/// Whether a JSON text holds a `\u0000` escape, i.e. a string with the NUL character. Raw control
/// characters are not valid JSON, so the escape is the only way one arrives; it is one when the
/// backslash before `u0000` is not itself escaped (an odd run of backslashes).
fn escapes_nul(json: &[u8]) -> bool {
    json.windows(5).enumerate().any(|(i, w)| {
        w == b"u0000" && json[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
    })
}

/// No text wagate stores may hold NUL: PostgreSQL's `text` cannot, and no name, message or search
/// has a use for it, so both stores refuse it the same way, before it reaches a transaction that
/// other requests share.
fn nul_refused(field: &str) -> ApiError {
    ApiError::field(field, "must not contain the NUL character (U+0000)")
}

/// The same for a body already parsed as JSON (e.g. kept whole to hash it for idempotency).
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(body_error)
}

/// A body that does not fit its type: a 400 naming the field (or `body` when it is not JSON).
fn body_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let syntax = inner.is_syntax() || inner.is_eof();
    let inner = without_type_names(&inner.to_string());
    let missing = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let (field, message) = if syntax {
        ("body".to_owned(), format!("Malformed JSON: {inner}"))
    } else if let Some(name) = missing {
        let at = if path == "." {
            name
        } else {
            format!("{path}.{name}")
        };
        (at.clone(), format!("Missing required field '{at}'."))
    } else if path == "." {
        ("body".to_owned(), format!("Invalid request body: {inner}"))
    } else {
        (path.clone(), format!("Invalid value for '{path}': {inner}"))
    };
    ApiError::InvalidRequest {
        message,
        details: vec![FieldIssue::new(field, inner)],
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(&req) {
            return Err(ApiError::UnsupportedContentType);
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared_json = is_json(&req);
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if has_type && !declared_json {
            return Err(ApiError::UnsupportedContentType);
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

/// A query string; a bad value is a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(nul_refused(&name));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                let issue = e.into_inner().to_string();
                ApiError::InvalidRequest {
                    message: format!("Invalid query parameter '{field}': {issue}"),
                    details: vec![FieldIssue::new(field, issue)],
                }
            })
    }
}

/// serde's message with our Rust type names taken out: "expected struct CreateInstanceRequest with
/// 6 elements" means "expected an object" to a client, who never sees those names.
fn without_type_names(message: &str) -> String {
    let Some(at) = message.find("struct ") else {
        return message.to_owned();
    };
    let rest = &message[at + "struct ".len()..];
    let name_end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let mut tail = &rest[name_end..];
    if let Some(after) = tail.strip_prefix(" with ") {
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if let Some(t) = after[digits..]
            .strip_prefix(" elements")
            .or_else(|| after[digits..].strip_prefix(" element"))
        {
            tail = t;
        }
    }
    format!("{}an object{tail}", &message[..at])
}

/// A count that JSON may spell `1158` or `1158.0` (both are the integer JSON Schema means); a
/// fraction, a negative number or one over `u32::MAX` is refused.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    let Some(n) = <Option<serde_json::Number> as serde::Deserialize>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| u32::try_from(w).ok())
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "expected a whole number from 0 to {}, got {n}",
                u32::MAX
            ))
        })
}

/// For `Option<Option<T>>` fields: a key sent as `null` is `Some(None)` (clear it), a missing key
/// is `None` (leave it). Use with `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::escapes_nul;

    #[test]
    fn messages_name_no_rust_types() {
        assert_eq!(
            super::without_type_names(
                "invalid type: string \"x\", expected struct CreateInstanceRequest with 6 elements at line 1 column 3"
            ),
            "invalid type: string \"x\", expected an object at line 1 column 3"
        );
        assert_eq!(
            super::without_type_names("invalid type: null, expected struct Settings"),
            "invalid type: null, expected an object"
        );
        assert_eq!(super::without_type_names("expected u32"), "expected u32");
    }

    #[test]
    fn only_an_unescaped_backslash_makes_a_nul() {
        assert!(escapes_nul(br#"{"name":"a\u0000b"}"#));
        assert!(escapes_nul(br#"{"name":"\\\u0000"}"#));
        assert!(!escapes_nul(br#"{"name":"a\\u0000b"}"#));
        assert!(!escapes_nul(br#"{"name":"u0000"}"#));
        assert!(escapes_nul(br#"["\u0000"]"#));
    }
}
