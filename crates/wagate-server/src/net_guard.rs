//! The I/O half of the target-URL policy (§15.6): resolving host names and refusing any that
//! lead to an address that is not public, when a URL is saved and again at every request.
//!
//! Outgoing requests (webhook deliveries, media fetches) go through `NetGuard::client`, whose DNS
//! resolver applies the policy to the very addresses the connection will use. Checking a name
//! and then letting the HTTP client resolve it again would leave a window for DNS rebinding
//! (public at the check, private at the connect); resolving once, inside the client, closes it.
//! Address literals never reach a resolver, so every request re-parses its URL with
//! `TargetUrl::parse`, which checks literals statically.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use wagate_core::net::{TargetUrl, UrlError, UrlPolicy, is_public_ip};

pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses. The system resolver in production; tests give a map so
/// that a name can be made to point at a private address (or change its answer).
pub trait NameResolver: Send + Sync + fmt::Debug + 'static {
    fn lookup(&self, host: &str) -> Lookup;
}

#[derive(Debug, Default)]
pub struct SystemResolver;

impl NameResolver for SystemResolver {
    fn lookup(&self, host: &str) -> Lookup {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 443)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Why a name was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0} resolves to a private, loopback or link-local address")]
    Private(String),
    #[error("{0} does not resolve: {1}")]
    Failed(String, io::Error),
    #[error("{0} does not resolve in time")]
    Timeout(String),
}

/// The policy and the resolver it is applied through.
#[derive(Debug, Clone)]
pub struct NetGuard {
    pub policy: UrlPolicy,
    resolver: Arc<dyn NameResolver>,
}

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

impl NetGuard {
    pub fn new(policy: UrlPolicy, resolver: Arc<dyn NameResolver>) -> Self {
        Self { policy, resolver }
    }

    /// Resolves `host` and returns its addresses when every one is allowed.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let lookup = self.resolver.lookup(host);
        let addrs = match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(ResolveError::Failed(host.to_owned(), e)),
            Err(_) => return Err(ResolveError::Timeout(host.to_owned())),
        };
        if !self.policy.allow_private && addrs.iter().any(|ip| !is_public_ip(*ip)) {
            return Err(ResolveError::Private(host.to_owned()));
        }
        Ok(addrs)
    }

    /// Parses and checks a URL given by a client, for saving. A name that does not resolve
    /// right now is let through: the check at each request decides whether one is sent.
    pub async fn parse_target(&self, s: &str) -> Result<TargetUrl, UrlError> {
        let url = TargetUrl::parse(s, self.policy)?;
        if let Some(domain) = url.domain()
            && let Err(ResolveError::Private(_)) = self.resolve(&domain).await
        {
            return Err(UrlError::PrivateAddress);
        }
        Ok(url)
    }

    /// An HTTP client for requests to user-given URLs: resolves through the policy, follows no
    /// redirects (a redirect could lead anywhere), ignores proxy settings, and gives up after
    /// `timeout`.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        self.build(timeout, reqwest::redirect::Policy::none())
    }

    /// Like `client`, but follows up to `max` redirects, each checked like the first URL:
    /// an address literal by `TargetUrl::parse` here, a name by the resolver. (Media links
    /// often redirect to a CDN; webhook deliveries never follow.)
    pub fn client_following(&self, timeout: Duration, max: usize) -> reqwest::Client {
        let policy = self.policy;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max {
                attempt.error(format!("more than {max} redirects"))
            } else if let Err(e) = TargetUrl::parse(attempt.url().as_str(), policy) {
                attempt.error(format!("redirected to a refused URL: {e}"))
            } else {
                attempt.follow()
            }
        });
        self.build(timeout, redirects)
    }

    fn build(&self, timeout: Duration, redirects: reqwest::redirect::Policy) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(self.clone()))
            .redirect(redirects)
            .no_proxy()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .user_agent(concat!("wagate/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new())
    }
}

impl reqwest::dns::Resolve for NetGuard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let addrs = NetGuard::resolve(&guard, name.as_str()).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A resolver answering from a fixed table, for tests; names not in it do not resolve.
#[derive(Debug, Default)]
pub struct StaticResolver {
    table: std::sync::Mutex<std::collections::HashMap<String, Vec<IpAddr>>>,
}

impl StaticResolver {
    pub fn set(&self, host: &str, addrs: Vec<IpAddr>) {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(host.to_ascii_lowercase(), addrs);
    }
}

impl NameResolver for StaticResolver {
    fn lookup(&self, host: &str) -> Lookup {
        let found = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&host.to_ascii_lowercase())
            .cloned();
        let host = host.to_owned();
        Box::pin(async move {
            found.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("no record for {host}"))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(allow_private: bool, table: &[(&str, &str)]) -> NetGuard {
        let r = StaticResolver::default();
        for (h, ip) in table {
            r.set(h, vec![ip.parse().unwrap()]);
        }
        NetGuard::new(UrlPolicy { allow_private }, Arc::new(r))
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused_unless_allowed() {
        let table = [
            ("meta.example", "169.254.169.254"),
            ("lan.example", "10.0.0.1"),
            ("ok.example", "93.184.216.34"),
        ];
        let strict = guard(false, &table);
        for url in ["https://meta.example/x", "https://lan.example/x"] {
            assert_eq!(
                strict.parse_target(url).await,
                Err(UrlError::PrivateAddress),
                "{url}"
            );
        }
        assert!(strict.parse_target("https://ok.example/x").await.is_ok());
        let loose = guard(true, &table);
        assert!(loose.parse_target("https://lan.example/x").await.is_ok());
    }

    #[tokio::test]
    async fn the_system_resolver_sees_localhost_as_loopback() {
        let strict = NetGuard::new(UrlPolicy::default(), Arc::new(SystemResolver));
        assert!(matches!(
            strict.resolve("localhost").await,
            Err(ResolveError::Private(_))
        ));
    }

    #[tokio::test]
    async fn the_client_refuses_to_connect_where_the_name_now_points_privately() {
        // The name was public when the URL was saved and points at loopback now (rebinding):
        // the request must fail in resolution, before any connection is made.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Arc::new(StaticResolver::default());
        r.set("hooks.example", vec!["127.0.0.1".parse().unwrap()]);
        let strict = NetGuard::new(UrlPolicy::default(), r.clone());
        let err = strict
            .client(Duration::from_secs(2))
            .get(format!("http://hooks.example:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect() || err.is_request(), "{err:?}");
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "no connection may reach the listener");
    }
}
