//! `/v1/contacts`: list (§8.1), check numbers (§15.8), and one contact's profile (§17.4), fetched
//! from the network when it is not cached or the cache is a day old.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wagate_core::chat::{Contact, search_term};
use wagate_core::engine::{EngineError, Session};
use wagate_core::page::OffsetPage;
use wagate_core::phone::PhoneNumber;
use wagate_core::scope::Scope;
use wagate_core::{InstanceId, Timestamp};

use crate::http::auth::Auth;
use crate::http::error::{ApiError, ErrorEnvelope};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::routes::instances::{owned_instance, required_instance};
use crate::routes::live_session::held_elsewhere;
use crate::routes::views::{Data, Page};
use crate::state::AppState;

const MAX_CHECK: usize = 50;
/// How long a fetched profile is served from the cache. A contact's change the network reports
/// (a new picture, a new about text) refreshes it sooner.
const PROFILE_TTL: Duration = Duration::from_secs(24 * 3600);

/// The instance's session, when it is connected on this node.
async fn connected_session(state: &AppState, id: &InstanceId) -> Option<Arc<dyn Session>> {
    state.supervisor.get(id)?.connected_session().await
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts))
        .routes(routes!(check_contacts))
        .routes(routes!(get_contact))
        .routes(routes!(crate::routes::contact_blocking::block_contact))
        .routes(routes!(crate::routes::contact_blocking::unblock_contact))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ContactParams {
    #[param(required = true)]
    pub instance_id: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(minimum = 0, maximum = 9223372036854775807_u64)]
    pub offset: Option<u64>,
    /// Name or number.
    #[param(max_length = 100)]
    pub search: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub phone: String,
    pub name: Option<String>,
    pub profile_pic_url: Option<String>,
    pub about: Option<String>,
    pub is_business: bool,
    pub is_blocked: bool,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        Self {
            phone: c.phone,
            name: c.name,
            profile_pic_url: c.profile_pic_url,
            about: c.about,
            is_business: c.is_business,
            is_blocked: c.is_blocked,
        }
    }
}

/// An instance's contacts.
#[utoipa::path(get, path = "/v1/contacts", tag = "Contacts",
    params(ContactParams),
    responses(
        (status = 200, description = "A page of contacts", body = Page<ContactView>),
        (status = 400, description = "invalid_request", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn list_contacts(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ContactParams>,
) -> Result<axum::Json<Page<ContactView>>, ApiError> {
    auth.require(Scope::ContactsRead)?;
    let inst = owned_instance(&state, &auth, required_instance(&q.instance_id)?).await?;
    let page = OffsetPage::parse(q.limit, q.offset, 100, 500)
        .map_err(|e| ApiError::field(e.field(), e))?;
    let search = search_term(q.search).map_err(|e| ApiError::field("search", e))?;
    let (list, total) = state
        .store
        .list_contacts(&inst.id, search.as_deref(), page)
        .await?;
    let views = list.into_iter().map(ContactView::from).collect();
    Ok(axum::Json(Page::new(views, page.pagination(total))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckRequest {
    pub instance_id: String,
    /// At most 50 numbers.
    pub phones: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub phone: String,
    pub exists: bool,
    pub jid: Option<String>,
}

/// Whether each number has WhatsApp.
#[utoipa::path(post, path = "/v1/contacts/check", tag = "Contacts",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "One answer per number", body = Data<Vec<CheckView>>),
        (status = 400, description = "invalid_request, invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found", body = ErrorEnvelope),
        (status = 409, description = "instance_not_connected", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn check_contacts(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<axum::Json<Data<Vec<CheckView>>>, ApiError> {
    auth.require(Scope::ContactsRead)?;
    let inst = owned_instance(&state, &auth, &req.instance_id).await?;
    if req.phones.is_empty() || req.phones.len() > MAX_CHECK {
        return Err(ApiError::field(
            "phones",
            format!("1 to {MAX_CHECK} numbers"),
        ));
    }
    let phones = req
        .phones
        .iter()
        .map(|p| {
            PhoneNumber::parse(p).map_err(|e| ApiError::InvalidPhoneNumber(format!("{p}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(session) = connected_session(&state, &inst.id).await else {
        return Err(held_elsewhere(&state, &inst).await?.unwrap_or_else(|| {
            ApiError::InstanceNotConnected(
                "The instance must be connected to check numbers.".into(),
            )
        }));
    };
    let checks = session
        .check_numbers(&phones)
        .await
        .map_err(|e| ApiError::InstanceNotConnected(format!("The check failed: {e}.")))?;
    Ok(axum::Json(Data::new(
        checks
            .into_iter()
            .map(|c| CheckView {
                phone: c.phone.to_string(),
                exists: c.exists,
                jid: c.jid,
            })
            .collect(),
    )))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ContactOfParams {
    #[param(required = true)]
    pub instance_id: Option<String>,
}

/// One contact, with its profile (about text, picture, business, blocked). A profile not fetched
/// in the last 24 hours is asked of WhatsApp while the instance is connected; otherwise the
/// cached one is answered.
#[utoipa::path(get, path = "/v1/contacts/{phone}", tag = "Contacts",
    params(("phone" = String, Path, description = "The contact's number, digits only"), ContactOfParams),
    responses(
        (status = 200, description = "The contact", body = Data<ContactView>),
        (status = 400, description = "invalid_request, invalid_phone_number", body = ErrorEnvelope),
        (status = 404, description = "instance_not_found, contact_not_found", body = ErrorEnvelope),
    ),
    security(("api_key" = [])))]
pub async fn get_contact(
    State(state): State<AppState>,
    auth: Auth,
    Path(phone): Path<String>,
    ApiQuery(q): ApiQuery<ContactOfParams>,
) -> Result<axum::Json<Data<ContactView>>, ApiError> {
    auth.require(Scope::ContactsRead)?;
    let inst = owned_instance(&state, &auth, required_instance(&q.instance_id)?).await?;
    let phone = PhoneNumber::parse(&phone)
        .map_err(|e| ApiError::InvalidPhoneNumber(format!("{phone}: {e}")))?;
    let cached = state.store.get_contact(&inst.id, &phone).await?;
    let fresh = |c: &Contact| {
        c.profile_fetched_at
            .is_some_and(|at| at >= Timestamp::ago(PROFILE_TTL))
    };
    if let Some(c) = cached.clone().filter(fresh) {
        return Ok(axum::Json(Data::new(ContactView::from(c))));
    }
    let fetched = match connected_session(&state, &inst.id).await {
        Some(s) => match s.contact_profile(&phone).await {
            Ok(Some(profile)) => Some(
                state
                    .store
                    .save_profile(&inst.id, &phone, &profile, Timestamp::now())
                    .await?,
            ),
            // Not on WhatsApp (any more): what is known of it, if anything, is the answer.
            Ok(None) => cached,
            // The cached contact (or none) is the answer; the network is asked again next time.
            Err(EngineError::Unsupported) => cached,
            Err(e) => {
                tracing::warn!(error = %e, "fetching a contact's profile failed");
                cached
            }
        },
        None => cached,
    };
    let contact = fetched.ok_or(ApiError::ContactNotFound)?;
    Ok(axum::Json(Data::new(ContactView::from(contact))))
}
