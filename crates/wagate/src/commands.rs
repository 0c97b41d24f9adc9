//! What each subcommand does. Account and key operations are the server crate's, so the CLI and
//! the admin API cannot drift apart.

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use wagate_core::account::AccountName;
use wagate_core::history::HistoryWindow;
use wagate_core::net::UrlPolicy;
use wagate_core::node::NodeId;
use wagate_core::plan::Plan;
use wagate_core::scope::Scopes;
use wagate_core::store::prelude::*;
use wagate_core::{AccountId, ApiKeyId, Timestamp};
use wagate_server::accounts::{NewKey, create_account, issue_key};
use wagate_server::cloud_api::{AppSecret, SecretKey};
use wagate_server::routes::views::{AccountView, ApiKeyView};
use wagate_server::{AdminToken, AmqpConfig, BrokerConfig, NatsConfig, ServerConfig, serve, start};
use wagate_store::SqlStore;

use crate::cli::{AccountCommand, Cli, Command, DbArgs, KeyCommand, ServeArgs};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => run_serve(*args).await,
        Command::Migrate(db) => {
            let store = open(&db).await?;
            store.close().await;
            println!("{}", json!({"migrated": true}));
            Ok(())
        }
        Command::Account(AccountCommand::Create { name, plan, db }) => {
            let name = AccountName::parse(&name).map_err(|e| anyhow!("--name: {e}"))?;
            let plan: Plan = plan.parse().map_err(|e| anyhow!("--plan: {e}"))?;
            let store = open(&db).await?;
            let (account, key) = create_account(&store, name, plan).await?;
            println!(
                "{}",
                json!({"account": AccountView::new(&account), "apiKey": ApiKeyView::new(&key.key, Some(key.token))})
            );
            store.close().await;
            Ok(())
        }
        Command::Key(KeyCommand::Create {
            account,
            name,
            scopes,
            expires_at,
            db,
        }) => {
            let name = AccountName::parse(&name).map_err(|e| anyhow!("--name: {e}"))?;
            let scopes = match scopes {
                Some(s) => Scopes::parse_csv(&s).map_err(|e| anyhow!("--scopes: {e}"))?,
                None => Scopes::from_list(Vec::new()),
            };
            let expires_at = expires_at
                .map(|s| {
                    Timestamp::parse_rfc3339(&s)
                        .ok_or_else(|| anyhow!("--expires-at: not an ISO 8601 time"))
                })
                .transpose()?;
            let store = open(&db).await?;
            let account = account_by_id_or_name(&store, &account).await?;
            let new = NewKey {
                name,
                scopes,
                expires_at,
            };
            let key = issue_key(&store, &account, new).await?;
            println!("{}", json!(ApiKeyView::new(&key.key, Some(key.token))));
            store.close().await;
            Ok(())
        }
        Command::Key(KeyCommand::Revoke { key_id, db }) => {
            let id = ApiKeyId::parse(&key_id).map_err(|e| anyhow!("key id: {e}"))?;
            let store = open(&db).await?;
            let key = store
                .get_api_key(&id)
                .await?
                .ok_or_else(|| anyhow!("no key {id}"))?;
            if !store
                .revoke_api_key(&key.account_id, &id, Timestamp::now())
                .await?
            {
                bail!("key {id} was already revoked");
            }
            println!("{}", json!({"id": id.to_string(), "revoked": true}));
            store.close().await;
            Ok(())
        }
    }
}

async fn open(db: &DbArgs) -> anyhow::Result<SqlStore> {
    let url = db.url()?;
    SqlStore::connect(&url)
        .await
        .with_context(|| "cannot open the database")
}

/// Descriptors kept for what is not a client connection: the database, webhook and media
/// requests, WhatsApp connections, files.
const RESERVED_DESCRIPTORS: u64 = 1_024;

/// Raises the soft limit on open files to the hard one (many systems start processes at 1,024,
/// far below what a server holds) and returns the limit now in force.
fn raise_descriptor_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    // `None` is "unlimited"; Linux still caps descriptors at `fs.nr_open` (2^20 by default).
    let most = limit.maximum.unwrap_or(1 << 20);
    if limit.current.is_some_and(|now| now < most) {
        limit.current = Some(most);
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(error = %e, "cannot raise the limit on open files");
        }
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let mut config = ServerConfig::new(args.db.url()?);
    config.listen = args.listen;
    config.data_dir = args.db.data_dir.clone();
    config.admin_token = args
        .admin_token
        .filter(|t| !t.is_empty())
        .map(|t| AdminToken::parse(&t))
        .transpose()
        .map_err(|e| anyhow!("--admin-token: {e}"))?;
    config.public_url = args.public_url;
    config.sandbox = args.sandbox;
    config.wa.version = args.wa_version;
    config.wa.resume_rate = args.resume_rate;
    config.retention = args.retention;
    config.wa.history = match args.wa_history_days {
        0 => HistoryWindow::Off,
        days => HistoryWindow::Days(days),
    };
    config.wa = std::mem::take(&mut config.wa)
        .with_test_connector_from_env()
        .map_err(|e| anyhow::anyhow!(e))?;
    config.url_policy = UrlPolicy {
        allow_private: args.webhook_allow_private,
    };
    config.webhook_retry_scale = args.webhook_retry_scale;
    config.brokers = BrokerConfig {
        nats: args
            .nats_url
            .filter(|u| !u.is_empty())
            .map(|url| NatsConfig {
                url,
                stream: args.nats_stream,
            }),
        amqp: args
            .amqp_url
            .filter(|u| !u.is_empty())
            .map(|url| AmqpConfig {
                url,
                exchange: args.amqp_exchange,
            }),
    };
    config.connections.max_connections = args.max_connections;
    let descriptors = raise_descriptor_limit();
    if descriptors < args.max_connections as u64 + RESERVED_DESCRIPTORS {
        tracing::warn!(
            descriptors,
            max_connections = args.max_connections,
            "the descriptor limit is below --max-connections; the system refuses connections first"
        );
    }
    config.node_id = match args.node_id {
        Some(n) => n,
        None => stored_node_id(&args.db.data_dir)?,
    };
    config.secret_key = args
        .secret_key
        .filter(|k| !k.is_empty())
        .map(|k| SecretKey::parse(&k))
        .transpose()
        .map_err(|e| anyhow::anyhow!("WAGATE_SECRET_KEY: {e}"))?;
    config.meta.graph_url = args.meta_graph_url;
    config.meta.app_secret = args
        .meta_app_secret
        .filter(|s| !s.is_empty())
        .map(|s| AppSecret::parse(&s))
        .transpose()
        .map_err(|e| anyhow::anyhow!("WAGATE_META_APP_SECRET: {e}"))?;
    config.meta.verify_token = args.meta_verify_token.filter(|t| !t.is_empty());
    let running = start(config).await?;
    let base = running.state.config.base_url();
    if let Some(key) = &running.first_start.default_api_key {
        println!("Created account 'default' (plan enterprise). Its API key, shown only this once:");
        println!("  {key}");
    }
    if let Some(token) = &running.first_start.admin_token {
        println!("Generated the admin token for /admin/v1, shown only this once:");
        println!("  {token}");
    }
    println!("wagate listening on {base} (API reference: {base}/docs)");
    tracing::info!(addr = %running.addr, "listening");
    serve(running).await?;
    Ok(())
}

/// The name this node was given on its first start, kept in the data directory so it is the
/// same at every restart (a restarted node is the same node to the others).
fn stored_node_id(data_dir: &std::path::Path) -> anyhow::Result<NodeId> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(s) => NodeId::parse(s.trim()).map_err(|e| anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = NodeId::generate();
            std::fs::create_dir_all(data_dir)
                .and_then(|()| std::fs::write(&path, format!("{id}\n")))
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(anyhow!("cannot read {}: {e}", path.display())),
    }
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WAGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        // Each line lists all of its enclosing spans, outermost first (`spans`), so the request
        // span's `requestId` is on every line logged while a request is handled, even under a
        // nested span (a store call's) that has no `requestId` of its own. `span` (only the
        // innermost) would then lose it, and would repeat a field of the list otherwise.
        builder
            .json()
            .with_span_list(true)
            .with_current_span(false)
            .init();
    } else {
        builder.init();
    }
}

/// `--account`: an account id (`acct_…`), or the name of exactly one account (e.g. `default`,
/// the account made at first start).
async fn account_by_id_or_name(store: &SqlStore, given: &str) -> anyhow::Result<AccountId> {
    if given.starts_with("acct_") {
        let id = AccountId::parse(given).map_err(|e| anyhow!("--account: {e}"))?;
        if store.get_account(&id).await?.is_none() {
            bail!("no account {id}");
        }
        return Ok(id);
    }
    let name = AccountName::parse(given).map_err(|e| anyhow!("--account: {e}"))?;
    let mut found = store.accounts_named(&name).await?;
    match found.len() {
        0 => bail!("no account is named {given:?}"),
        1 => Ok(found.remove(0).id),
        n => bail!("{n} accounts are named {given:?}; give the account's id (acct_…)"),
    }
}
