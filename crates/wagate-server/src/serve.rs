//! Start-up and shutdown: open the store, bootstrap, bind, serve until asked to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wagate_core::store::{Store, StoreError};
use wagate_store::SqlStore;

use crate::app::build_router;
use crate::bootstrap::{FirstStart, bootstrap};
use crate::config::{AdminToken, ServerConfig};
use crate::http::metrics::Metrics;
use crate::http::rate_limit::RateLimiter;
use crate::retention::Retention;
use crate::runtime::Supervisor;
use crate::runtime::ownership::Ownership;
use crate::runtime::remote::Remote;
use crate::runtime::resume_pace::ResumePace;
use crate::single_node::SqliteLock;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("secret key: {0}")]
    SecretKey(#[from] wagate_engines::cloud_api::credentials::KeyError),
    #[error("official engine: {0}")]
    Official(#[from] wagate_engines::cloud_api::graph::GraphError),
    #[error(transparent)]
    Lock(#[from] crate::single_node::LockError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How long the requests in flight at shutdown may take to finish.
const HTTP_DRAIN: Duration = Duration::from_secs(3);
/// How long tracked tasks may take to end once actors and deliveries have stopped.
const TASKS_DRAIN: Duration = Duration::from_secs(1);

/// A started server. Dropping it does not stop it; call `shutdown`.
pub struct Running {
    pub addr: SocketAddr,
    pub first_start: FirstStart,
    pub state: AppState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// Every actor and send pass (and what they spawn).
    tasks: TaskTracker,
    /// Stops the retention loop.
    retention: CancellationToken,
    /// On SQLite: the database is this process's alone while it runs.
    _lock: Option<SqliteLock>,
}

impl Running {
    /// Stops taking work, then lets what is in flight finish or hands it back, in well under
    /// 10 s: requests in flight (at most `HTTP_DRAIN`), then side by side every instance's send
    /// in flight (at most 5 s; an abandoned one stays queued) and the webhook attempts in flight
    /// (their claims are released, so a restart delivers them again).
    pub async fn shutdown(mut self) {
        // Streams never finish by themselves: they end first, so they hold no drain.
        self.state.events.stop();
        let _ = self.stop.send(());
        // The server gives its requests `HTTP_DRAIN`, then closes them itself.
        if let Err(e) = (&mut self.task).await {
            tracing::error!(error = %e, "the HTTP server task failed");
        }
        self.state.brokers.stop();
        self.retention.cancel();
        // The instances' leases are handed back once their actors have stopped, so the other
        // nodes take them over at once.
        tokio::join!(
            self.state.deliveries.shutdown(),
            self.state.ownership.drain()
        );
        self.tasks.close();
        if tokio::time::timeout(TASKS_DRAIN, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(tasks = self.tasks.len(), "tasks still running at exit");
        }
        self.state.store.close().await;
        tracing::info!("stopped");
    }

    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.unwrap_or(Ok(()))
    }
}

/// Opens the store, bootstraps, binds and serves in the background.
pub async fn start(config: ServerConfig) -> Result<Running, StartError> {
    let lock = SqliteLock::acquire(&config.database_url)?;
    let sql = Arc::new(SqlStore::connect(&config.database_url).await?);
    let store: Arc<dyn Store> = sql.clone();
    let sql_for_listening = sql.clone();
    let boot = bootstrap(
        store.as_ref(),
        config.admin_token.as_ref().map(AdminToken::expose),
    )
    .await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let sandbox = config
        .sandbox
        .then(|| wagate_engines::SandboxNetwork::with_qr_ttl(config.sandbox_qr_ttl));
    if let Some(net) = &sandbox {
        for id in store.instances_with_session().await? {
            if let Some(session) = store.get_session(&id).await? {
                net.remember(&session);
            }
        }
    }
    // Received media the account cannot fetch from the network itself, served under our URL.
    let base_url = ServerConfig {
        listen: addr,
        ..config.clone()
    }
    .base_url();
    let vault: Arc<dyn wagate_core::engine::MediaVault> = Arc::new(crate::media::FileVault::new(
        config.data_dir.join("media"),
        store.clone(),
        base_url,
    ));
    // `qrcode` connections: the sandbox network when asked for, else WhatsApp Web.
    let qr_engine: Arc<dyn wagate_core::engine::Engine> = match &sandbox {
        Some(n) => Arc::new(n.clone()),
        None => Arc::new(wagate_wa::WhatsAppWeb::new(
            sql,
            config.wa.clone(),
            vault.clone(),
        )),
    };
    let qr_engine = Some(qr_engine);
    let official = official_engine(&config, vault)?;
    let net = crate::net_guard::NetGuard::new(config.url_policy, config.resolver.clone());
    let media = crate::runtime::media_fetch::MediaFetcher::new(&net);
    let tasks = TaskTracker::new();
    let supervisor = Arc::new(
        Supervisor::new(
            store.clone(),
            qr_engine,
            Some(Arc::new(official.clone())),
            media,
            tasks.clone(),
            config.send_deadline,
            config.node_id.clone(),
        )
        .with_resume_pace(if config.sandbox {
            None
        } else {
            ResumePace::per_second(config.wa.resume_rate)
        }),
    );
    let ownership = Ownership::register(store.clone(), supervisor.clone()).await?;
    let config_node = config.node_id.clone();
    let remote = Arc::new(Remote::new(
        store.clone(),
        config.node_id.clone(),
        sandbox.clone(),
    ));
    // On PostgreSQL (several nodes may share it) the sandbox network spans the nodes.
    if let (Some(net), wagate_store::Dialect::Postgres) = (&sandbox, sql_for_listening.dialect()) {
        net.reach(Arc::new(crate::runtime::sandbox_reach::SandboxReach::new(
            store.clone(),
            ownership.clone(),
            &remote,
        )));
    }
    let sends = crate::runtime::send_batcher::SendBatcher::start(store.clone());
    let deliveries = crate::delivery::DeliveryWorker::start(
        store.clone(),
        net.clone(),
        wagate_core::delivery::RetrySchedule::scaled(config.webhook_retry_scale),
        config.node_id.to_string(),
    )
    .await;
    let events = crate::event_feed::EventFeed::new(store.as_ref());
    let keys = crate::http::key_cache::KeyCache::watching(store.as_ref()).await?;
    let brokers = Arc::new(crate::broker_outputs::BrokerOutputs::start(
        &config.brokers,
        &store,
        config.node_id.as_str(),
        &tasks,
    ));
    let state = AppState {
        brokers,
        net,
        deliveries,
        events,
        keys,
        store,
        in_flight: crate::http::admission::InFlight::new(config.connections.max_in_flight),
        config: Arc::new(ServerConfig {
            listen: addr,
            ..config
        }),
        limiter: Arc::new(RateLimiter::default()),
        metrics: Arc::new(Metrics::new()),
        admin_token_hash: boot.admin_token_hash.into(),
        supervisor: supervisor.clone(),
        ownership: ownership.clone(),
        remote: remote.clone(),
        sends,
        sandbox,
        official,
    };
    // Links the last run left half-done read `disconnected` before the first request is served.
    let settled = supervisor.settle_interrupted_links().await?;
    if settled > 0 {
        tracing::info!(
            instances = settled,
            "links interrupted by the restart settled as disconnected"
        );
    }
    // Instances that were connected come back by themselves (this node's share of them, with
    // other nodes on the database), and send what is queued.
    tasks.spawn(ownership.clone().run(tasks.clone()));
    // What is past the retention period goes, a batch at a time (§21.1).
    let retention = CancellationToken::new();
    tasks.spawn(
        Retention::new(
            state.store.clone(),
            state.config.data_dir.join("media"),
            state.config.retention,
            state.config.idempotency_window,
            state.config.retention_every,
        )
        .run(retention.clone()),
    );
    let router = build_router(state.clone());
    // What other nodes tell this one: sends queued, commands and requests to run here, answers.
    if let Some(notices) = sql_for_listening.listen_notices(&config_node).await? {
        tasks.spawn(ownership.listen(notices, remote, router.clone()));
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let limits = state.config.connections;
    let task = tokio::spawn(crate::http::connections::serve(
        listener,
        router,
        limits,
        async move {
            let _ = stopped.await;
        },
        HTTP_DRAIN,
    ));
    Ok(Running {
        addr,
        first_start: boot.first_start,
        state,
        stop,
        task,
        tasks,
        retention,
        _lock: lock,
    })
}

/// The Cloud API engine, with the key that seals credentials and the vault for inbound media.
fn official_engine(
    config: &ServerConfig,
    vault: Arc<dyn wagate_core::engine::MediaVault>,
) -> Result<wagate_engines::CloudApi, StartError> {
    use wagate_engines::cloud_api::credentials::SecretKey;
    let key = match &config.secret_key {
        Some(k) => k.clone(),
        None => SecretKey::load_or_create(&config.data_dir.join("secret.key"))?,
    };
    let engine = wagate_engines::CloudApi::new(
        wagate_engines::cloud_api::CloudApiConfig {
            graph_url: config.meta.graph_url.clone(),
            app_secret: config.meta.app_secret.clone(),
            backoff: config.meta.backoff,
        },
        &key,
        vault,
    )?;
    Ok(engine)
}

/// Serves until SIGINT or SIGTERM, then shuts down (see `Running::shutdown`).
pub async fn serve(mut running: Running) -> std::io::Result<()> {
    let ended = tokio::select! {
        _ = shutdown_signal() => None,
        ended = &mut running.task => Some(ended),
    };
    match ended {
        None => {
            tracing::info!("shutting down");
            running.shutdown().await;
            Ok(())
        }
        // The listener failed by itself.
        Some(ended) => ended.unwrap_or(Ok(())),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
