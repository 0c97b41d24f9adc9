//! A request that needs the connection of an instance another node holds (presence, groups,
//! `contacts/check`, the profile, blocking) is carried to that node (§19): its handler answers
//! `HeldElsewhere`, and this middleware (a route layer of those routes only), which kept the
//! request's body, sends the request through
//! the database to the holder (`runtime/remote.rs`), which runs it through its own API as if its
//! client had sent it there; the holder's response goes back to the client as it is, under the
//! same request id. A request carried here is never carried on again. The key's secret is not
//! carried (nothing writes it to the database): the holder takes the asking node's word for the
//! key, and checks that it is still usable.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tower::ServiceExt;
use wagate_core::node::NodeId;
use wagate_core::{ApiKeyId, InstanceId, RequestId};

use crate::http::auth::Auth;
use crate::http::error::ApiError;
use crate::http::extract::body_bytes;
use crate::runtime::remote::{CarriedRequest, CarriedResponse};
use crate::state::AppState;

/// Marks a request carried here from another node, which authenticated it as `key`.
#[derive(Debug, Clone)]
pub struct Carried {
    pub key: ApiKeyId,
}

/// The request headers the holder's API reads. Not `Authorization`: a key's secret is never
/// written to the database; the asking node authenticated the request, and names its key.
const REQUEST_HEADERS: [HeaderName; 2] = [
    header::CONTENT_TYPE,
    HeaderName::from_static("idempotency-key"),
];

pub async fn carry_to_holder(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.extensions().get::<Carried>().is_some() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // Read as the handler would (size limit, deadline), failing as it would.
    let bytes = match body_bytes(Request::from_parts(parts.clone(), body), &()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let res = next
        .run(Request::from_parts(
            parts.clone(),
            Body::from(bytes.clone()),
        ))
        .await;
    let Some(ApiError::HeldElsewhere(holder, instance)) = res.extensions().get::<ApiError>() else {
        return res;
    };
    let Some(auth) = parts.extensions.get::<Auth>() else {
        return res; // not a keyed route: nothing to carry
    };
    let request = CarriedRequest {
        key: auth.key.id.to_string(),
        method: parts.method.to_string(),
        uri: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: REQUEST_HEADERS
            .iter()
            .filter_map(|h| {
                let v = parts.headers.get(h)?.to_str().ok()?;
                Some((h.as_str().to_owned(), v.to_owned()))
            })
            .chain(
                parts
                    .extensions
                    .get::<RequestId>()
                    .map(|id| (REQUEST_ID.to_owned(), id.as_str().to_owned())),
            )
            .collect(),
        body: B64.encode(&bytes),
    };
    carry(&state, holder, instance, request).await
}

/// Carries `request` to `holder` and answers the holder's response.
async fn carry(
    state: &AppState,
    holder: &NodeId,
    instance: &InstanceId,
    request: CarriedRequest,
) -> Response {
    match state.remote.carry(holder, instance, request).await {
        Ok(response) => into_response(response),
        Err(e) => {
            tracing::warn!(%holder, error = %e, "a request could not be carried to the node holding the instance");
            ApiError::ServiceUnavailable.into_response()
        }
    }
}

/// Carries a JSON `POST uri` that `auth` made to `holder`, for `instance` (a handler that does
/// not know at first which node it is for tries them in turn).
pub async fn carry_post(
    state: &AppState,
    auth: &Auth,
    request_id: Option<&RequestId>,
    (holder, instance): (&NodeId, &InstanceId),
    uri: &str,
    body: &serde_json::Value,
) -> Response {
    let request = CarriedRequest {
        key: auth.key.id.to_string(),
        method: Method::POST.to_string(),
        uri: uri.to_owned(),
        headers: std::iter::once((
            header::CONTENT_TYPE.as_str().to_owned(),
            "application/json".to_owned(),
        ))
        .chain(request_id.map(|id| (REQUEST_ID.to_owned(), id.as_str().to_owned())))
        .collect(),
        body: B64.encode(body.to_string()),
    };
    carry(state, holder, instance, request).await
}

/// The request id travels as this header between nodes (read only from a carried request).
const REQUEST_ID: &str = "x-request-id";

/// Runs a carried request through this node's API (`router`) and answers its response.
pub async fn run_carried(router: &axum::Router, carried: CarriedRequest) -> CarriedResponse {
    let unavailable = || CarriedResponse {
        status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        headers: vec![],
        body: String::new(),
    };
    let Ok(method) = carried.method.parse::<Method>() else {
        return unavailable();
    };
    let Ok(body) = B64.decode(&carried.body) else {
        return unavailable();
    };
    let Ok(key) = ApiKeyId::parse(&carried.key) else {
        return unavailable();
    };
    let mut builder = axum::http::Request::builder()
        .method(method)
        .uri(&carried.uri)
        .extension(Carried { key });
    for (name, value) in &carried.headers {
        if name == REQUEST_ID {
            if let Ok(id) = RequestId::parse(value) {
                builder = builder.extension(id);
            }
        } else {
            builder = builder.header(name, value);
        }
    }
    let Ok(req) = builder.body(Body::from(body)) else {
        return unavailable();
    };
    let Ok(res) = router.clone().oneshot(req).await;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .filter(|(n, _)| *n != header::CONTENT_LENGTH)
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .map(|b| B64.encode(&b))
        .unwrap_or_default();
    CarriedResponse {
        status,
        headers,
        body,
    }
}

fn into_response(carried: CarriedResponse) -> Response {
    let body = B64.decode(&carried.body).unwrap_or_default();
    let mut res = Response::new(Body::from(body));
    *res.status_mut() =
        StatusCode::from_u16(carried.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    for (name, value) in carried.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            res.headers_mut().append(n, v);
        }
    }
    res
}
