//! Starts, finds and stops instance runtimes. At start-up it resumes every instance that has a
//! saved session, so connected instances come back and their queued messages go out.

use std::sync::Arc;

use dashmap::DashMap;
use wagate_core::engine::{ConnectRequest, Engine, EngineError, LinkMethod};
use wagate_core::instance::{ConnectionMethod, Instance, InstanceStatus};
use wagate_core::store::{ConnectionState, Store, StoreError};
use wagate_core::{InstanceId, Timestamp};

use crate::runtime::instance::InstanceRuntime;
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
    /// The engine for `qrcode` connections: the sandbox network, or (later) WhatsApp Web.
    qr_engine: Option<Arc<dyn Engine>>,
    /// The engine for `official` connections: Meta's Cloud API.
    official_engine: Option<Arc<dyn Engine>>,
    media: MediaFetcher,
    /// Group commit of every instance's status changes.
    statuses: StatusWriter,
    runtimes: DashMap<InstanceId, Arc<InstanceRuntime>>,
}

impl Supervisor {
    pub fn new(
        store: Arc<dyn Store>,
        qr_engine: Option<Arc<dyn Engine>>,
        official_engine: Option<Arc<dyn Engine>>,
        media: MediaFetcher,
    ) -> Self {
        Self {
            statuses: StatusWriter::start(store.clone()),
            store,
            qr_engine,
            official_engine,
            media,
            runtimes: DashMap::new(),
        }
    }

    pub fn get(&self, id: &InstanceId) -> Option<Arc<InstanceRuntime>> {
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
                Err(e) => tracing::warn!(instance = %id, error = %e, "could not resume"),
            }
        }
        Ok(resumed)
    }

    /// Reconnects from the saved session, with the engine of the instance's connection method.
    pub async fn resume(&self, inst: &Instance) -> Result<Arc<InstanceRuntime>, RuntimeError> {
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
    ) -> Result<Arc<InstanceRuntime>, RuntimeError> {
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
    ) -> Result<Arc<InstanceRuntime>, RuntimeError> {
        self.start(
            inst,
            ConnectionMethod::Official,
            Some(sealed),
            LinkMethod::Qr,
        )
        .await
    }

    async fn start(
        &self,
        inst: &Instance,
        method: ConnectionMethod,
        session: Option<String>,
        link: LinkMethod,
    ) -> Result<Arc<InstanceRuntime>, RuntimeError> {
        let engine = match method {
            ConnectionMethod::Qrcode => self.qr_engine.clone(),
            ConnectionMethod::Official => self.official_engine.clone(),
        }
        .ok_or(RuntimeError::NoEngine)?;
        self.stop(&inst.id).await;
        let runtime = InstanceRuntime::new(
            inst.id.clone(),
            self.store.clone(),
            self.statuses.clone(),
            self.media.clone(),
        );
        let mut state = ConnectionState::of(inst);
        state.status = InstanceStatus::Connecting;
        state.connection_method = Some(method);
        state.last_seen_at = Some(Timestamp::now());
        self.store.save_connection(&inst.id, &state).await?;
        runtime.update_live(|l| l.status = Some(InstanceStatus::Connecting));
        self.runtimes.insert(inst.id.clone(), runtime.clone());
        tokio::spawn(runtime.clone().run_sender());
        let sink = Arc::new(RuntimeSink {
            runtime: runtime.clone(),
            store: self.store.clone(),
            method,
        });
        let request = ConnectRequest {
            instance_id: inst.id.clone(),
            session,
            link,
        };
        match engine.connect(request, sink).await {
            Ok(s) => {
                runtime.set_session(Some(Arc::from(s)));
                // An engine may report `Connected` before it returns (the official one does).
                runtime.wake();
                Ok(runtime)
            }
            Err(e) => {
                self.stop(&inst.id).await;
                Err(e.into())
            }
        }
    }

    /// Closes the connection, keeping the saved session.
    pub async fn stop(&self, id: &InstanceId) {
        if let Some((_, runtime)) = self.runtimes.remove(id) {
            runtime.stop();
            if let Some(s) = runtime.session() {
                s.close().await;
            }
        }
    }

    /// Logs out: the saved session is destroyed and queued messages fail.
    pub async fn logout(&self, inst: &Instance) -> Result<(), RuntimeError> {
        if let Some((_, runtime)) = self.runtimes.remove(&inst.id) {
            runtime.stop();
            if let Some(s) = runtime.session() {
                let _ = s.logout().await;
            }
            runtime
                .fail_queued(
                    "instance_disconnected",
                    "The instance was disconnected before the message could be sent.",
                )
                .await;
        }
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

    /// Stops every runtime (shutdown).
    pub async fn stop_all(&self) {
        let ids: Vec<InstanceId> = self.runtimes.iter().map(|r| r.key().clone()).collect();
        for id in ids {
            self.stop(&id).await;
        }
    }
}

impl Supervisor {
    /// The engine's code behind a QR code as the API showed it (the data URI), or the raw code.
    pub fn raw_code_for(&self, shown: &str) -> Option<String> {
        self.runtimes.iter().find_map(|r| {
            let live = r.live();
            let matches =
                live.qr_data_uri.as_deref() == Some(shown) || live.qr_raw.as_deref() == Some(shown);
            matches.then(|| live.qr_raw.clone()).flatten()
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
