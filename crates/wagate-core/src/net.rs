//! Target-URL policy (§15.6): which webhook and media URLs wagate may call.
//!
//! The pure part lives here: scheme rules and which IP addresses count as public. Name resolution is
//! I/O and happens in the server, which applies `is_public_ip` to every address a name resolves to,
//! at save time and again before each delivery (a name can change its address).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use thiserror::Error;
use url::{Host, Url};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    /// `WAGATE_WEBHOOK_ALLOW_PRIVATE=true`: plain http and private addresses are allowed.
    pub allow_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    #[error("not an absolute URL")]
    Malformed,
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL must use https")]
    NotHttps,
    #[error("the URL must not carry a user name or password")]
    Credentials,
    #[error("the URL points to a private, loopback or link-local address")]
    PrivateAddress,
}

/// A URL that passed the static checks of a policy. Names still need resolving before each use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TargetUrl(String);

impl TargetUrl {
    pub fn parse(s: &str, policy: UrlPolicy) -> Result<Self, UrlError> {
        let url = Url::parse(s.trim()).map_err(|_| UrlError::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_private => {}
            "http" => return Err(UrlError::NotHttps),
            _ => return Err(UrlError::Scheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let host = url.host().ok_or(UrlError::Malformed)?;
        if !policy.allow_private {
            let public = match host {
                Host::Ipv4(ip) => is_public_ip(IpAddr::V4(ip)),
                Host::Ipv6(ip) => is_public_ip(IpAddr::V6(ip)),
                Host::Domain(d) => !is_local_name(d),
            };
            if !public {
                return Err(UrlError::PrivateAddress);
            }
        }
        Ok(Self(url.to_string()))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host name to resolve, when the host is a name rather than an address literal.
    pub fn domain(&self) -> Option<String> {
        Url::parse(&self.0)
            .ok()
            .and_then(|u| u.domain().map(str::to_owned))
    }
}

fn is_local_name(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost"
        || d.ends_with(".localhost")
        || d.ends_with(".local")
        || d.ends_with(".internal")
}

/// True for addresses on the public Internet: not loopback, private, link-local (which holds the
/// cloud metadata address 169.254.169.254), unique-local, CGNAT, multicast, documentation or
/// unspecified.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link local fe80::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };
    const LOOSE: UrlPolicy = UrlPolicy {
        allow_private: true,
    };

    #[test]
    fn strict_policy_wants_public_https() {
        assert!(TargetUrl::parse("https://myapp.com/webhooks/whatsapp", STRICT).is_ok());
        assert_eq!(
            TargetUrl::parse("http://myapp.com/x", STRICT),
            Err(UrlError::NotHttps)
        );
        assert_eq!(
            TargetUrl::parse("ftp://myapp.com/x", STRICT),
            Err(UrlError::Scheme)
        );
        assert_eq!(
            TargetUrl::parse("not a url", STRICT),
            Err(UrlError::Malformed)
        );
        assert_eq!(
            TargetUrl::parse("https://u:p@myapp.com/", STRICT),
            Err(UrlError::Credentials)
        );
        for private in [
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://192.168.1.10/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://localhost:8080/",
            "https://100.64.0.1/",
        ] {
            assert_eq!(
                TargetUrl::parse(private, STRICT),
                Err(UrlError::PrivateAddress),
                "{private}"
            );
        }
    }

    #[test]
    fn loose_policy_allows_local_http_but_not_other_schemes() {
        assert!(TargetUrl::parse("http://127.0.0.1:9000/hook", LOOSE).is_ok());
        assert_eq!(
            TargetUrl::parse("file:///etc/passwd", LOOSE),
            Err(UrlError::Scheme)
        );
    }

    #[test]
    fn public_addresses_are_public() {
        assert!(is_public_ip("8.8.8.8".parse().unwrap()));
        assert!(is_public_ip("2606:4700::1111".parse().unwrap()));
        assert!(!is_public_ip("0.0.0.0".parse().unwrap()));
    }
}
