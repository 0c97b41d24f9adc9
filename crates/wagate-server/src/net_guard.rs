//! The I/O half of the target-URL policy (§15.6): resolves a host name and refuses it when any
//! of its addresses is not public. Runs when a URL is saved and again before each use.

use std::time::Duration;

use wagate_core::net::{TargetUrl, UrlError, UrlPolicy, is_public_ip};

/// Checks a parsed URL's resolved addresses. A name that does not resolve right now is let
/// through at save time: only the delivery-time check, which refuses what it cannot resolve,
/// decides whether a request is sent.
pub async fn check_resolved(url: &TargetUrl, policy: UrlPolicy) -> Result<(), UrlError> {
    if policy.allow_private {
        return Ok(());
    }
    let Some(domain) = url.domain() else {
        return Ok(()); // an address literal, already checked by `TargetUrl::parse`
    };
    let lookup = tokio::net::lookup_host((domain.as_str(), 443));
    match tokio::time::timeout(Duration::from_secs(3), lookup).await {
        Ok(Ok(mut addrs)) => {
            if addrs.any(|a| !is_public_ip(a.ip())) {
                Err(UrlError::PrivateAddress)
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Parses and checks a URL given by a client, for saving.
pub async fn parse_target(s: &str, policy: UrlPolicy) -> Result<TargetUrl, UrlError> {
    let url = TargetUrl::parse(s, policy)?;
    check_resolved(&url, policy).await?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        // Built without `TargetUrl::parse`, whose static name check would stop it first: this
        // exercises the resolution path, and `localhost` resolves to loopback on any machine.
        let strict = UrlPolicy {
            allow_private: false,
        };
        let url = TargetUrl::from_trusted("https://localhost/hook".into());
        assert_eq!(
            check_resolved(&url, strict).await,
            Err(UrlError::PrivateAddress)
        );
        let loose = UrlPolicy {
            allow_private: true,
        };
        assert_eq!(check_resolved(&url, loose).await, Ok(()));
    }
}
