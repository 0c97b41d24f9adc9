//! What can be asked of an instance's connection from any node (§19): link it (QR code or
//! pairing code), show its QR code, restart it, log it out. `run_here` does it on this node; when
//! another node holds the instance, `Remote` carries the same command there and brings back the
//! same answer, so every node answers these routes alike.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wagate_core::engine::LinkMethod;
use wagate_core::failure::FailureCode;
use wagate_core::instance::{Instance, InstanceStatus, LastError};
use wagate_core::node::NodeId;
use wagate_core::phone::PhoneNumber;
use wagate_core::store::StoreError;

use crate::runtime::supervisor::{RuntimeError, Supervisor};
use crate::runtime::{InstanceHandle, Live};

/// How long linking waits for the engine's first code before answering (unless the network
/// cannot be reached: then it answers at once, and the code comes by event and status).
pub const FIRST_CODE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Lifecycle {
    /// Link by QR code, or by pairing code with this phone number.
    Connect {
        pairing_phone: Option<String>,
    },
    /// The QR code being shown (linking starts when the instance is idle).
    ShowQr,
    Restart,
    Logout,
}

/// Why a command was not carried out, as the routes answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    #[error("the instance is already connected")]
    AlreadyConnected,
    #[error("{0}")]
    NotLinking(String),
    #[error("no engine serves QR connections on this server")]
    NoEngine,
    /// The engine or the database failed, or the holder did not answer in time.
    #[error("unavailable")]
    Unavailable,
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the instance is held by node {0}")]
    HeldElsewhere(NodeId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RuntimeError> for LifecycleError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::NoEngine => Refusal::NoEngine.into(),
            RuntimeError::Store(e) => e.into(),
            RuntimeError::HeldElsewhere(node) => LifecycleError::HeldElsewhere(node),
            RuntimeError::Engine(e) => {
                tracing::error!(error = %e, "engine refused to connect");
                Refusal::Unavailable.into()
            }
        }
    }
}

/// Whether a code to scan or type is shown (or no code is needed any more).
pub fn code_shown(l: &Live) -> bool {
    l.qr_data_uri.is_some()
        || l.pairing_code.is_some()
        || l.status == Some(InstanceStatus::Connected)
}

/// Whether the network could not be reached since `before` (the last error when the wait
/// began): no code will come soon, so the answer does not wait for one.
fn cannot_reach(l: &Live, before: Option<&LastError>) -> bool {
    l.last_error
        .as_ref()
        .is_some_and(|e| e.code == FailureCode::NetworkError && Some(e) != before)
}

/// The status to report: the runtime's live one when it has one, else the stored one.
pub fn current_status(inst: &Instance, runtime: Option<&InstanceHandle>) -> InstanceStatus {
    runtime.and_then(|r| r.live().status).unwrap_or(inst.status)
}

/// Carries out `command` on this node; `HeldElsewhere` when another node holds the instance.
pub async fn run_here(
    supervisor: &Supervisor,
    inst: &Instance,
    command: &Lifecycle,
) -> Result<Live, LifecycleError> {
    match command {
        Lifecycle::Connect { pairing_phone } => {
            let link = match pairing_phone {
                Some(p) => LinkMethod::PairingCode(
                    PhoneNumber::parse(p).map_err(|e| Refusal::NotLinking(e.to_string()))?,
                ),
                None => LinkMethod::Qr,
            };
            let runtime = supervisor.get(&inst.id);
            if current_status(inst, runtime.as_ref()) == InstanceStatus::Connected {
                return Err(Refusal::AlreadyConnected.into());
            }
            // With a phone, the answer carries the pairing code, which an engine may derive
            // after the QR.
            let by_phone = matches!(link, LinkMethod::PairingCode(_));
            let runtime = supervisor.connect(inst, link).await?;
            let before = runtime.live().last_error;
            runtime
                .wait_for(FIRST_CODE_WAIT, |l| {
                    let shown = if by_phone {
                        l.pairing_code.is_some() || l.status == Some(InstanceStatus::Connected)
                    } else {
                        code_shown(l)
                    };
                    shown || cannot_reach(l, before.as_ref())
                })
                .await;
            Ok(runtime.live())
        }
        Lifecycle::ShowQr => {
            let mut runtime = supervisor.get(&inst.id);
            match current_status(inst, runtime.as_ref()) {
                InstanceStatus::Connected => return Err(Refusal::AlreadyConnected.into()),
                InstanceStatus::Disconnected => {
                    runtime = Some(supervisor.connect(inst, LinkMethod::Qr).await?);
                }
                _ => {}
            }
            let runtime = match runtime {
                Some(r) => r,
                None => match supervisor.holder_elsewhere(&inst.id).await? {
                    Some(node) => return Err(LifecycleError::HeldElsewhere(node)),
                    None => {
                        return Err(
                            Refusal::NotLinking("The instance is not linking.".into()).into()
                        );
                    }
                },
            };
            let before = runtime.live().last_error;
            runtime
                .wait_for(FIRST_CODE_WAIT, |l| {
                    code_shown(l) || cannot_reach(l, before.as_ref())
                })
                .await;
            Ok(runtime.live())
        }
        Lifecycle::Restart => Ok(supervisor.resume(inst).await?.live()),
        Lifecycle::Logout => {
            supervisor.logout(inst).await?;
            Ok(Live::default())
        }
    }
}
