//! What the server needs to know, already parsed by the binary from flags and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::sync::Arc;
use std::time::Duration;

use wagate_core::net::UrlPolicy;
use wagate_core::node::NodeId;
use wagate_core::retention::{DEFAULT_RETENTION_DAYS, RetentionPeriod};
use wagate_engines::cloud_api::credentials::{AppSecret, SecretKey};
use wagate_engines::cloud_api::{Backoff, DEFAULT_GRAPH_URL};

use crate::net_guard::{NameResolver, SystemResolver};

/// The operator's admin token as configured: long enough not to be guessed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the admin token must be at least {} characters", AdminToken::MIN_LEN)]
pub struct WeakAdminToken;

impl AdminToken {
    pub const MIN_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<Self, WeakAdminToken> {
        if s.chars().count() < Self::MIN_LEN {
            return Err(WeakAdminToken);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// §15.5's 24 hours.
const DAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// `None`: use the token generated on the first start (its hash is in the database).
    pub admin_token: Option<AdminToken>,
    /// Base URL users reach this server at (inbound webhook URLs, media links).
    pub public_url: Option<String>,
    pub sandbox: bool,
    /// The WhatsApp Web engine (used for `qrcode` connections when not `sandbox`).
    pub wa: wagate_wa::WaOptions,
    /// How long each sandbox QR code lasts (six are shown before `qr_timeout`); tests shorten it.
    pub sandbox_qr_ttl: Duration,
    pub url_policy: UrlPolicy,
    /// How host names of webhook and media URLs are resolved (the system's resolver, or a
    /// table in tests).
    pub resolver: Arc<dyn NameResolver>,
    /// This node's name among the nodes on one database (§19).
    pub node_id: NodeId,
    /// `WAGATE_WEBHOOK_RETRY_SCALE`: multiplies every wait of the retry schedule (tests).
    pub webhook_retry_scale: f64,
    /// Bodies above this size are refused with 413 `payload_too_large` (§15.2: 1 MiB).
    pub body_limit: usize,
    /// `WAGATE_SECRET_KEY`: seals official credentials at rest. `None`: the key in
    /// `<data dir>/secret.key`, generated on the first start.
    pub secret_key: Option<SecretKey>,
    pub meta: MetaConfig,
    /// A message not sent this long after it was accepted fails with `expired` (§15.5: 24 h);
    /// tests shorten it.
    pub send_deadline: Duration,
    /// How long an `Idempotency-Key` answers with its first send (§15.5: 24 h); tests shorten it.
    pub idempotency_window: Duration,
    /// Caps and timeouts of client connections and requests.
    pub connections: crate::http::connections::ConnectionLimits,
    /// Broker outputs (§21): every event also to NATS JetStream and/or RabbitMQ.
    pub brokers: BrokerConfig,
    /// How long delivered events, delivery logs, received media and idempotency records are
    /// kept (§21.1, `--retention-days`).
    pub retention: RetentionPeriod,
    /// How often what is past it is deleted; tests shorten it.
    pub retention_every: Duration,
}

/// The broker outputs the operator configured; none by default.
#[derive(Debug, Clone, Default)]
pub struct BrokerConfig {
    pub nats: Option<wagate_brokers::NatsConfig>,
    pub amqp: Option<wagate_brokers::AmqpConfig>,
}

/// Meta's Cloud API (the `official` connection method).
#[derive(Clone)]
pub struct MetaConfig {
    /// `WAGATE_META_GRAPH_URL`.
    pub graph_url: String,
    /// `WAGATE_META_APP_SECRET`: checks webhook signatures of numbers connected without
    /// their own `appSecret`.
    pub app_secret: Option<AppSecret>,
    /// `WAGATE_META_VERIFY_TOKEN`: answers Meta's subscription handshake; none refuses it.
    pub verify_token: Option<String>,
    /// Retries of throttled sends (shortened by tests).
    pub backoff: Backoff,
}

impl Default for MetaConfig {
    fn default() -> Self {
        Self {
            graph_url: DEFAULT_GRAPH_URL.into(),
            app_secret: None,
            verify_token: None,
            backoff: Backoff::default(),
        }
    }
}

impl std::fmt::Debug for MetaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaConfig")
            .field("graph_url", &self.graph_url)
            .field("app_secret", &self.app_secret)
            .field(
                "verify_token",
                &self.verify_token.as_ref().map(|_| "<redacted>"),
            )
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl ServerConfig {
    /// Defaults for a given database; the binary and tests override what they need.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: database_url.into(),
            data_dir: PathBuf::from("./wagate-data"),
            admin_token: None,
            public_url: None,
            sandbox: false,
            wa: wagate_wa::WaOptions::default(),
            sandbox_qr_ttl: wagate_engines::sandbox::QR_TTL,
            url_policy: UrlPolicy::default(),
            resolver: Arc::new(SystemResolver),
            node_id: NodeId::parse("node-1").expect("a valid node id"),
            webhook_retry_scale: 1.0,
            body_limit: 1024 * 1024,
            secret_key: None,
            meta: MetaConfig::default(),
            send_deadline: DAY,
            idempotency_window: DAY,
            connections: Default::default(),
            brokers: BrokerConfig::default(),
            retention: RetentionPeriod::days(DEFAULT_RETENTION_DAYS)
                .expect("the default period is valid"),
            retention_every: Duration::from_secs(60),
        }
    }

    /// The base URL to print in links, falling back to the listen address.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}
