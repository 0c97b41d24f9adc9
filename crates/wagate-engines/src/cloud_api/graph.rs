//! A small client of Meta's Graph API: the calls the official engine makes. The base URL is the
//! operator's (`WAGATE_META_GRAPH_URL`), so it is not subject to the private-address guard.
//! The token travels only in the `Authorization` header, never in a URL or an error.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use super::credentials::{AccessToken, PhoneNumberId};

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GraphError {
    /// Meta answered with its error object.
    #[error("Meta error {code}: {message}")]
    Api {
        status: u16,
        code: i64,
        message: String,
    },
    /// Meta could not be reached, or answered something that is not the Graph API.
    #[error("the Graph API could not be reached: {0}")]
    Network(String),
    #[error("the Graph API answered unexpectedly: {0}")]
    Unexpected(String),
    #[error("the media is larger than {0} bytes")]
    TooLarge(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PhoneNumberInfo {
    pub display_phone_number: String,
    pub verified_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}
#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct SendReply {
    messages: Vec<SentId>,
}
#[derive(Deserialize)]
struct SentId {
    id: String,
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
}

/// reqwest's errors name the URL, never a header; the token is safe from them.
fn network(e: reqwest::Error) -> GraphError {
    GraphError::Network(e.without_url().to_string())
}

impl GraphClient {
    pub fn new(base: &str) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(network)?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The JSON of a 2xx answer, or Meta's error.
    async fn json(res: reqwest::Response) -> Result<Value, GraphError> {
        let status = res.status();
        let bytes = res.bytes().await.map_err(network)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| GraphError::Unexpected(format!("HTTP {status}: {e}")));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => Err(GraphError::Api {
                status: status.as_u16(),
                code: b.error.code,
                message: b.error.message,
            }),
            Err(_) => Err(GraphError::Unexpected(format!("HTTP {status}"))),
        }
    }

    /// `GET /{phone-number-id}`: the number and its verified name (checks the credentials).
    pub async fn phone_number(
        &self,
        id: &PhoneNumberId,
        token: &AccessToken,
    ) -> Result<PhoneNumberInfo, GraphError> {
        self.get(
            &id.to_string(),
            token,
            &[("fields", "display_phone_number,verified_name")],
        )
        .await
    }

    /// `POST /{phone-number-id}/messages`; returns the JSON answer.
    pub async fn post_messages(
        &self,
        id: &PhoneNumberId,
        token: &AccessToken,
        body: &Value,
    ) -> Result<Value, GraphError> {
        let res = self
            .http
            .post(format!("{}/{}/messages", self.base, id))
            .bearer_auth(token.expose())
            .json(body)
            .send()
            .await
            .map_err(network)?;
        Self::json(res).await
    }

    /// Sends a message; returns its `wamid` (`messages[0].id`).
    pub async fn send(
        &self,
        id: &PhoneNumberId,
        token: &AccessToken,
        body: &Value,
    ) -> Result<String, GraphError> {
        let v = self.post_messages(id, token, body).await?;
        let reply: SendReply =
            serde_json::from_value(v).map_err(|e| GraphError::Unexpected(e.to_string()))?;
        reply
            .messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| GraphError::Unexpected("no message id in the answer".into()))
    }

    /// `GET /{media-id}`: where to download a received media file.
    pub async fn media(
        &self,
        media_id: &str,
        token: &AccessToken,
    ) -> Result<MediaInfo, GraphError> {
        self.get(media_id, token, &[]).await
    }

    /// `GET /{path}` with the bearer token, its JSON answer read as `T`.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        token: &AccessToken,
        query: &[(&str, &str)],
    ) -> Result<T, GraphError> {
        let res = self
            .http
            .get(format!("{}/{}", self.base, path))
            .query(query)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(network)?;
        serde_json::from_value(Self::json(res).await?)
            .map_err(|e| GraphError::Unexpected(e.to_string()))
    }

    /// Downloads a media URL Meta gave (it needs the bearer token), up to `max` bytes.
    pub async fn download(
        &self,
        url: &str,
        token: &AccessToken,
        max: u64,
    ) -> Result<Vec<u8>, GraphError> {
        let mut res = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(network)?;
        if !res.status().is_success() {
            return Err(GraphError::Unexpected(format!(
                "media download answered HTTP {}",
                res.status()
            )));
        }
        if res.content_length().is_some_and(|n| n > max) {
            return Err(GraphError::TooLarge(max));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(network)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Err(GraphError::TooLarge(max));
            }
        }
        Ok(bytes)
    }
}
