//! The connected session of an instance, for the routes that act on the network at once
//! (presence, blocking, the instance's own profile), and the one mapping of its errors.

use std::sync::Arc;

use wagate_core::engine::{EngineError, Session};
use wagate_core::instance::Instance;

use crate::http::error::ApiError;
use crate::state::AppState;

/// `inst`'s session, when it is connected on this node; `doing` says what needs it.
pub(crate) async fn connected(
    state: &AppState,
    inst: &Instance,
    doing: &str,
) -> Result<Arc<dyn Session>, ApiError> {
    let not_connected =
        || ApiError::InstanceNotConnected(format!("The instance must be connected to {doing}."));
    let Some(handle) = state.supervisor.get(&inst.id) else {
        return Err(held_elsewhere(state, inst)
            .await?
            .unwrap_or_else(not_connected));
    };
    handle.connected_session().await.ok_or_else(not_connected)
}

/// `HeldElsewhere` when another node holds `inst`: the request is then carried there.
pub(crate) async fn held_elsewhere(
    state: &AppState,
    inst: &Instance,
) -> Result<Option<ApiError>, ApiError> {
    Ok(state
        .supervisor
        .holder_elsewhere(&inst.id)
        .await?
        .map(|node| ApiError::HeldElsewhere(node, inst.id.clone())))
}

/// What the API answers when the session could not do it.
pub(crate) fn refused<'a>(
    inst: &'a Instance,
    doing: &'a str,
) -> impl Fn(EngineError) -> ApiError + 'a {
    move |e| match e {
        EngineError::Unsupported => ApiError::NotSupportedByConnection(format!(
            "Instances connected with method '{}' cannot {doing}.",
            inst.connection_method.map_or("none", |m| m.as_str())
        )),
        EngineError::NotConnected => {
            ApiError::InstanceNotConnected(format!("The instance must be connected to {doing}."))
        }
        EngineError::Failed(why) => {
            tracing::warn!(instance = %inst.id, error = %why, "{doing} failed");
            ApiError::ServiceUnavailable
        }
    }
}
