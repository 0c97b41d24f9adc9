//! Starts, finds and stops instance actors. At start-up it resumes every instance that has a
//! saved session, so connected instances come back and their queued messages go out.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio_util::task::TaskTracker;
use wagate_core::engine::{ConnectRequest, Engine, EngineError, LinkMethod};
use wagate_core::failure::FailureCode;
use wagate_core::instance::{ConnectionMethod, Instance, InstanceStatus, LastError};
use wagate_core::store::{ConnectionState, Store, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::runtime::actor::{ActorParts, InstanceActor};
use crate::runtime::handle::InstanceHandle;
use crate::runtime::media_fetch::MediaFetcher;
use crate::runtime::sink::RuntimeSink;
use crate::runtime::status_writer::StatusWriter;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("no engine serves this connection method on this server")]
    NoEngine,
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Supervisor {
    store: Arc<dyn Store>,
    /// The engine for `qrcode` connections: the sandbox network, or WhatsApp Web.
    qr_engine: Option<Arc<dyn Engine>>,
    /// The engine for `official` connections: Meta's Cloud API.
    official_engine: Option<Arc<dyn Engine>>,
    parts: ActorParts,
    runtimes: DashMap<InstanceId, InstanceHandle>,
}

impl Supervisor {
    /// `tasks` tracks every actor and send pass, so shutdown can wait for them.
    pub fn new(
        store: Arc<dyn Store>,
        qr_engine: Option<Arc<dyn Engine>>,
        official_engine: Option<Arc<dyn Engine>>,
        media: MediaFetcher,
        tasks: TaskTracker,
        send_deadline: Duration,
    ) -> Self {
        let parts = ActorParts {
            statuses: StatusWriter::start(store.clone()),
            store: store.clone(),
            media,
            tasks,
            send_deadline,
        };
        Self {
            store,
            qr_engine,
            official_engine,
            parts,
            runtimes: DashMap::new(),
        }
    }

    pub fn get(&self, id: &InstanceId) -> Option<InstanceHandle> {
        self.runtimes.get(id).map(|r| r.clone())
    }

    pub fn wake(&self, id: &InstanceId) {
        if let Some(r) = self.get(id) {
            r.wake();
        }
    }

    /// Reconnects every instance with a saved session (at start-up).
    pub async fn resume_all(&self) -> Result<usize, StoreError> {
        let ids = self.store.instances_with_session().await?;
        let mut resumed = 0;
        for id in ids {
            let Some(inst) = self.store.find_instance(&id).await? else {
                continue;
            };
            match self.resume(&inst).await {
                Ok(_) => resumed += 1,
                Err(e) => {
                    tracing::warn!(instance = %id, error = %e, "could not resume");
                    // Nothing drives it now; the session stays, so `restart` can try again.
                    let why = format!("The saved session could not be reopened: {e}.");
                    self.settle(&inst, FailureCode::ResumeFailed, &why).await?;
                }
            }
        }
        Ok(resumed)
    }

    /// At start-up, before anything is served: an instance that was linking (or connected
    /// without a saved session) when the server stopped has nothing driving it now. It reads
    /// `disconnected`, with `lastError` saying why, so every route agrees with its status.
    pub async fn settle_interrupted_links(&self) -> Result<usize, StoreError> {
        let ids = self.store.instances_linking_without_session().await?;
        for id in &ids {
            if let Some(inst) = self.store.find_instance(id).await? {
                let why = "The server restarted before the link was completed; connect again.";
                self.settle(&inst, FailureCode::LinkInterrupted, why)
                    .await?;
            }
        }
        Ok(ids.len())
    }

    /// Saves an instance that no actor owns as `disconnected` for `code`.
    async fn settle(
        &self,
        inst: &Instance,
        code: FailureCode,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let mut state = ConnectionState::of(inst);
        state.status = InstanceStatus::Disconnected;
        state.connected_at = None;
        state.last_error = Some(LastError {
            code,
            message: message.to_owned(),
            at: now,
        });
        state.last_seen_at = Some(now);
        self.store.save_connection(&inst.id, &state).await
    }

    /// Reconnects from the saved session, with the engine of the instance's connection method.
    pub async fn resume(&self, inst: &Instance) -> Result<InstanceHandle, RuntimeError> {
        let method = inst.connection_method.unwrap_or(ConnectionMethod::Qrcode);
        let session = self.store.get_session(&inst.id).await?;
        self.start(inst, method, session, LinkMethod::Qr).await
    }

    /// Starts a `qrcode` connection: from the saved session when there is one, else by linking
    /// anew.
    pub async fn connect(
        &self,
        inst: &Instance,
        link: LinkMethod,
    ) -> Result<InstanceHandle, RuntimeError> {
        // An official instance's session is sealed credentials, meaningless to a QR engine.
        let session = match inst.connection_method {
            Some(ConnectionMethod::Official) => None,
            _ => self.store.get_session(&inst.id).await?,
        };
        self.start(inst, ConnectionMethod::Qrcode, session, link)
            .await
    }

    /// Connects an `official` instance with its sealed credentials (checked with Meta already).
    pub async fn connect_official(
        &self,
        inst: &Instance,
        sealed: String,
    ) -> Result<InstanceHandle, RuntimeError> {
        self.start(
            inst,
            ConnectionMethod::Official,
            Some(sealed),
            LinkMethod::Qr,
        )
        .await
    }

    #[tracing::instrument(skip_all, fields(instance = %inst.id, method = method.as_str()))]
    async fn start(
        &self,
        inst: &Instance,
        method: ConnectionMethod,
        session: Option<String>,
        link: LinkMethod,
    ) -> Result<InstanceHandle, RuntimeError> {
        let engine = match method {
            ConnectionMethod::Qrcode => self.qr_engine.clone(),
            ConnectionMethod::Official => self.official_engine.clone(),
        }
        .ok_or(RuntimeError::NoEngine)?;
        self.stop(&inst.id).await;
        let handle = InstanceActor::spawn(self.parts.clone(), inst, method).await?;
        // Two concurrent starts: the later one wins, and the earlier actor is stopped, never
        // left running unreachable.
        if let Some(earlier) = self.runtimes.insert(inst.id.clone(), handle.clone()) {
            earlier.stop().await;
        }
        let sink = Arc::new(RuntimeSink {
            handle: handle.clone(),
            store: self.store.clone(),
        });
        let request = ConnectRequest {
            instance_id: inst.id.clone(),
            session,
            link,
        };
        // The actor takes the engine's events while `connect` runs (an engine may report
        // `Connected` before it returns, as the official one does).
        match engine.connect(request, sink).await {
            Ok(s) => {
                handle.attach(Arc::from(s));
                Ok(handle)
            }
            Err(e) => {
                self.stop(&inst.id).await;
                Err(e.into())
            }
        }
    }

    /// Closes the connection, keeping the saved session.
    pub async fn stop(&self, id: &InstanceId) {
        if let Some((_, handle)) = self.runtimes.remove(id) {
            handle.stop().await;
        }
    }

    /// Logs out: the saved session is destroyed and queued messages fail.
    pub async fn logout(&self, inst: &Instance) -> Result<(), RuntimeError> {
        if let Some((_, handle)) = self.runtimes.remove(&inst.id) {
            return Ok(handle.logout().await?);
        }
        // No actor owns the instance: nothing else writes its connection now.
        self.store.set_session(&inst.id, None).await?;
        let mut state = ConnectionState::of(inst);
        state.status = InstanceStatus::Disconnected;
        state.phone = None;
        state.connected_at = None;
        state.last_error = None;
        state.last_seen_at = Some(Timestamp::now());
        self.store.save_connection(&inst.id, &state).await?;
        Ok(())
    }

    /// Stops every actor, side by side (shutdown): each lets its send in flight finish or
    /// abandons it after a few seconds, so this takes as long as the slowest, not their sum.
    pub async fn stop_all(&self) {
        let ids: Vec<InstanceId> = self.runtimes.iter().map(|r| r.key().clone()).collect();
        let mut stopping = tokio::task::JoinSet::new();
        for id in ids {
            if let Some((_, handle)) = self.runtimes.remove(&id) {
                stopping.spawn(async move { handle.stop().await });
            }
        }
        while stopping.join_next().await.is_some() {}
    }

    /// The engine's code behind a QR code as the API showed it (the data URI), or the raw code.
    pub fn raw_code_for(&self, shown: &str) -> Option<String> {
        self.runtimes.iter().find_map(|r| {
            let live = r.live();
            let matches =
                live.qr_data_uri.as_deref() == Some(shown) || live.qr_raw.as_deref() == Some(shown);
            matches.then_some(live.qr_raw).flatten()
        })
    }

    /// The instance currently showing `raw` (a QR or pairing code).
    pub fn instance_showing(&self, raw: &str) -> Option<InstanceId> {
        self.runtimes.iter().find_map(|r| {
            let live = r.live();
            (live.qr_raw.as_deref() == Some(raw) || live.pairing_code.as_deref() == Some(raw))
                .then(|| r.key().clone())
        })
    }
}
