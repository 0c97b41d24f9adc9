//! Flags and environment variables (DESIGN.md "Operator interface"; keep these names).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wagate_core::node::NodeId;

#[derive(Debug, Parser)]
#[command(
    name = "wagate",
    version,
    about = "Self-hosted WhatsApp HTTP API gateway (EnviaAI v1 API)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// `sqlite://…` or `postgres://…`; default: a SQLite file in the data directory.
    #[arg(long, env = "WAGATE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the default SQLite database and generated secrets live.
    #[arg(long, env = "WAGATE_DATA_DIR", default_value = "./wagate-data")]
    pub data_dir: PathBuf,
}

impl DbArgs {
    /// The configured URL, or the SQLite file in the data directory (created if missing).
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(u) = &self.database_url {
            return Ok(u.clone());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        Ok(format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join("wagate.db").display()
        ))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API server.
    Serve(Box<ServeArgs>),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, env = "WAGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    /// Token for `/admin/v1`; generated and printed once on the first start when unset.
    #[arg(long, env = "WAGATE_ADMIN_TOKEN")]
    pub admin_token: Option<String>,
    /// Base URL clients reach this server at.
    #[arg(long, env = "WAGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Connect `qrcode` instances to the built-in sandbox network instead of WhatsApp.
    #[arg(long, env = "WAGATE_SANDBOX", default_value_t = false)]
    pub sandbox: bool,
    /// The WhatsApp Web version to announce, e.g. `2.3000.1027000000`; by default the current
    /// one is looked up at web.whatsapp.com at each connect.
    #[arg(long = "wa-version", env = "WAGATE_WA_VERSION")]
    pub wa_version: Option<wagate_wa::WaVersion>,
    /// Days of a phone's chat history a new WhatsApp Web link stores (0: none).
    #[arg(long = "wa-history-days", env = "WAGATE_WA_HISTORY_DAYS",
          default_value_t = wagate_wa::options::DEFAULT_HISTORY_DAYS)]
    pub wa_history_days: u32,
    /// WhatsApp Web sessions reopened per second when the node starts or takes instances over
    /// (0: all at once).
    #[arg(long = "resume-rate", env = "WAGATE_RESUME_RATE",
          default_value_t = wagate_wa::options::DEFAULT_RESUME_RATE)]
    pub resume_rate: u32,
    /// Days (a decimal number, 0.001 to 36500) delivered events, delivery logs, received media
    /// files and idempotency records are kept (§21.1); messages, chats and contacts stay until
    /// their instance is deleted.
    #[arg(long = "retention-days", env = "WAGATE_RETENTION_DAYS", default_value = "30",
          value_parser = parse_retention)]
    pub retention: wagate_core::retention::RetentionPeriod,
    /// Allow http and private addresses for webhook and media URLs (local development).
    #[arg(
        long = "webhook-allow-private",
        env = "WAGATE_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false
    )]
    pub webhook_allow_private: bool,
    /// Also publish every event to NATS JetStream at this URL (`nats://host:4222`), subject
    /// `wagate.<accountId>.<instanceId>.<event>`.
    #[arg(long, env = "WAGATE_NATS_URL", value_parser = parse_nats_url)]
    pub nats_url: Option<String>,
    /// The JetStream stream the events go to; made when missing, with the subjects `wagate.>`.
    #[arg(long, env = "WAGATE_NATS_STREAM", default_value = "WAGATE", value_parser = parse_stream_name)]
    pub nats_stream: String,
    /// Also publish every event to RabbitMQ at this URL (`amqp://user:password@host:5672/%2f`),
    /// routing key `<accountId>.<instanceId>.<event>`.
    #[arg(long, env = "WAGATE_AMQP_URL", value_parser = parse_amqp_url)]
    pub amqp_url: Option<String>,
    /// The durable topic exchange the events go to; made when missing.
    #[arg(long, env = "WAGATE_AMQP_EXCHANGE", default_value = "wagate")]
    pub amqp_exchange: String,
    /// Multiplies every wait of the webhook retry schedule (tests only; default 1).
    #[arg(long, env = "WAGATE_WEBHOOK_RETRY_SCALE", default_value_t = 1.0, value_parser = parse_scale)]
    pub webhook_retry_scale: f64,
    /// Open client connections at most; one more is closed when accepted. Each costs a file
    /// descriptor: `serve` raises its descriptor limit to the system's maximum.
    #[arg(long, env = "WAGATE_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,
    /// This node's name among the nodes on one PostgreSQL database (1–64 letters, digits, '.',
    /// '_', '-'). Unset: a name generated on the first start and kept in `<data dir>/node-id`.
    #[arg(long, env = "WAGATE_NODE_ID", value_parser = parse_node_id)]
    pub node_id: Option<NodeId>,
    /// Seals official-API credentials at rest: 32 bytes as 64 hex digits or base64. Unset: a key
    /// generated into `<data dir>/secret.key` on the first start (keep it with the database).
    #[arg(long, env = "WAGATE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Meta's Graph API base URL, with its version.
    #[arg(
        long,
        env = "WAGATE_META_GRAPH_URL",
        default_value = "https://graph.facebook.com/v21.0"
    )]
    pub meta_graph_url: String,
    /// Checks the signature of Meta's webhooks for numbers connected without their own `appSecret`.
    #[arg(long, env = "WAGATE_META_APP_SECRET", hide_env_values = true)]
    pub meta_app_secret: Option<String>,
    /// The verify token of Meta's webhook subscription handshake (`GET /meta/webhook`).
    #[arg(long, env = "WAGATE_META_VERIFY_TOKEN", hide_env_values = true)]
    pub meta_verify_token: Option<String>,
    /// Log as JSON lines.
    #[arg(long, env = "WAGATE_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and its first key; prints `{account, apiKey}` as JSON.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "free")]
        plan: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key for an account; prints it as JSON (the key is shown once).
    Create {
        /// The account's id (`acct_…`), or the name of exactly one account (e.g. `default`).
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Comma-separated scopes; when omitted, every scope but `keys:write`.
        #[arg(long)]
        scopes: Option<String>,
        /// ISO 8601 expiry time.
        #[arg(long)]
        expires_at: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke an API key.
    Revoke {
        key_id: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn parse_retention(s: &str) -> Result<wagate_core::retention::RetentionPeriod, String> {
    let days: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of days"))?;
    wagate_core::retention::RetentionPeriod::days(days).map_err(|e| e.to_string())
}

/// A factor above zero.
fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{s}' is not a number above zero")),
    }
}

/// A JetStream stream name: no whitespace, and none of `.`, `*`, `>`, `/`, `\`, which NATS
/// refuses there.
fn parse_node_id(s: &str) -> Result<NodeId, String> {
    NodeId::parse(s).map_err(|e| format!("'{s}': {e}"))
}

fn parse_stream_name(s: &str) -> Result<String, String> {
    let bad = |c: char| c.is_whitespace() || ".*>/\\".contains(c);
    if s.is_empty() || s.chars().any(bad) {
        return Err(format!(
            "'{s}' is not a stream name (no spaces, '.', '*', '>', '/' or '\\')"
        ));
    }
    Ok(s.to_owned())
}

/// A NATS server: `nats://`, `tls://`, `ws://` or `wss://`, or a bare `host:port`.
fn parse_nats_url(s: &str) -> Result<String, String> {
    match s.split_once("://") {
        Some((scheme, rest))
            if ["nats", "tls", "ws", "wss"].contains(&scheme) && !rest.is_empty() =>
        {
            Ok(s.to_owned())
        }
        None if s.contains(':') || s.is_empty() => Ok(s.to_owned()),
        _ => Err(format!("'{s}' is not a NATS URL (nats://host:4222)")),
    }
}

/// A RabbitMQ server: `amqp://` or `amqps://`.
fn parse_amqp_url(s: &str) -> Result<String, String> {
    match s.split_once("://") {
        Some(("amqp" | "amqps", rest)) if !rest.is_empty() => Ok(s.to_owned()),
        _ if s.is_empty() => Ok(String::new()),
        _ => Err(format!(
            "'{s}' is not an AMQP URL (amqp://user:password@host:5672/%2f)"
        )),
    }
}
