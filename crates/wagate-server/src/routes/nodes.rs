//! `GET /admin/v1/nodes` (§19): the nodes on this database, what each holds, and whether it is
//! up, draining or gone.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::Timestamp;
use wagate_core::node::Node;

use crate::http::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_list_nodes))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    #[schema(example = "node-1")]
    pub node_id: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Instances it holds a live lease on.
    pub instances: u64,
    /// `up`, `draining` (shutting down, handing its instances back) or `gone` (stopped, or
    /// silent for longer than a lease lasts).
    #[schema(example = "up")]
    pub status: String,
}

impl NodeView {
    fn new(n: &Node, now: Timestamp) -> Self {
        Self {
            node_id: n.id.to_string(),
            started_at: n.started_at.to_rfc3339(),
            heartbeat_at: n.heartbeat_at.to_rfc3339(),
            instances: n.instances,
            status: n.status(now).as_str().to_owned(),
        }
    }
}

/// The nodes serving this database (every node that ever started on it), by name.
#[utoipa::path(get, path = "/admin/v1/nodes", tag = "Admin",
    responses((status = 200, description = "Every node, by name", body = Vec<NodeView>)),
    security(("admin_token" = [])))]
pub async fn admin_list_nodes(
    State(state): State<AppState>,
) -> Result<axum::Json<Vec<NodeView>>, ApiError> {
    let now = Timestamp::now();
    let nodes = state.store.list_nodes(now).await?;
    Ok(axum::Json(
        nodes.iter().map(|n| NodeView::new(n, now)).collect(),
    ))
}
