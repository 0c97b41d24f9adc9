//! Fetching a message's `mediaUrl` when it is sent (§15.5), under the address rules of §15.6.
//!
//! The headers decide first (status, format, declared length), so a refused file costs no body.
//! The body is then read chunk by chunk against the media type's limit and dropped the moment it
//! passes it: a server that sends no length, or a false one, cannot make us hold more than the
//! limit.

use std::time::Duration;

use bytes::BytesMut;
use wagate_core::media::{FetchedMedia, MediaError, SizeCap, format_of};
use wagate_core::message::Media;
use wagate_core::net::{TargetUrl, UrlPolicy};

use crate::net_guard::NetGuard;

/// For the whole fetch, body included: 100 MB at about 7 Mbit/s.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REDIRECTS: usize = 5;

#[derive(Clone)]
pub struct MediaFetcher {
    client: reqwest::Client,
    policy: UrlPolicy,
}

impl MediaFetcher {
    pub fn new(net: &NetGuard) -> Self {
        Self {
            client: net.client_following(FETCH_TIMEOUT, MAX_REDIRECTS),
            policy: net.policy,
        }
    }

    pub async fn fetch(&self, media: &Media) -> Result<FetchedMedia, MediaError> {
        // Checked again now: the policy may have changed since the message was accepted, and
        // address literals never reach the resolver.
        let url = TargetUrl::parse(&media.url, self.policy)
            .map_err(|e| MediaError::FetchFailed(format!("The media URL is refused: {e}.")))?;
        let mut res = self
            .client
            .get(url.as_str())
            .send()
            .await
            .map_err(|e| failed(&e))?;
        let status = res.status();
        if !status.is_success() {
            return Err(MediaError::FetchFailed(format!(
                "The media URL answered {} {}.",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )));
        }
        let content_type = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let format = format_of(media, content_type)?;
        let mut cap = SizeCap::new(media.media_type);
        let declared = res.content_length();
        if let Some(len) = declared {
            cap.check_declared(len)?;
        }
        // Reserve what was declared (at most 8 MiB up front: a declared length may be a lie).
        let mut body = BytesMut::with_capacity(declared.unwrap_or(64 * 1024).min(8 << 20) as usize);
        while let Some(chunk) = res.chunk().await.map_err(|e| failed(&e))? {
            cap.add(chunk.len())?;
            body.extend_from_slice(&chunk);
        }
        if body.is_empty() {
            return Err(MediaError::FetchFailed(
                "The media URL answered an empty file.".into(),
            ));
        }
        Ok(FetchedMedia {
            format,
            bytes: body.freeze(),
        })
    }
}

/// The innermost cause is what a user can act on ("connection refused", "resolves to a private
/// address"), not reqwest's outer "error sending request".
fn failed(e: &reqwest::Error) -> MediaError {
    if e.is_timeout() {
        return MediaError::FetchFailed(format!(
            "The media URL did not answer within {} s.",
            FETCH_TIMEOUT.as_secs()
        ));
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    MediaError::FetchFailed(format!("Fetching the media failed: {cause}."))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wagate_core::message::MediaType;

    use super::*;
    use crate::net_guard::StaticResolver;

    #[tokio::test]
    async fn a_name_pointing_at_a_private_address_is_never_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Arc::new(StaticResolver::default());
        r.set("cdn.example", vec!["127.0.0.1".parse().unwrap()]);
        let strict = MediaFetcher::new(&NetGuard::new(UrlPolicy::default(), r));
        let media = Media {
            media_type: MediaType::Image,
            url: format!("https://cdn.example:{port}/a.png"),
            caption: None,
            filename: None,
            mime_type: None,
            size: None,
        };
        let err = strict.fetch(&media).await.unwrap_err();
        assert_eq!(
            err.code(),
            wagate_core::failure::FailureCode::MediaFetchFailed
        );
        assert!(err.to_string().contains("private"), "{err}");
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "no connection may reach the listener");
    }
}
