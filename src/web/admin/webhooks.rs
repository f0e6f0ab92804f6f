//! Webhook admin routes: events with their delivery attempts, redelivery,
//! and the endpoints' signing secrets.
//!
//! - `GET /api/v1/events[?type=&state=&limit=&cursor=]` → `{data, next_cursor}`
//! - `GET /api/v1/events/{id}`
//! - `POST /api/v1/events/{id}/redeliver` → pending again from now
//! - `GET /api/v1/webhooks/endpoints` → URLs and times, never secrets
//! - `POST /api/v1/webhooks/endpoints/secret` `{"url"}` → the current secret
//! - `POST /api/v1/webhooks/endpoints/rotate` `{"url"}` → a new secret (the
//!   old one stops at once)

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::openapi::{BadRequest, Conflict, NotFound};
use super::{no_store_json, page_json, Admin, AdminRoute, List, Page, PageQuery};
use crate::db::types::{EventState, EventType};
use crate::paths::api;
use crate::service::webhooks::{EndpointSecretView, EndpointView, EventId, EventView};
use crate::service::Services;
use crate::text::{self, Rule};
use crate::web::error::ApiError;
use crate::web::params::{self, query_param};

/// The routes.
pub const ROUTES: &[AdminRoute] = &[
    AdminRoute::new(Method::GET, api::EVENTS, |r| r.to(list)),
    AdminRoute::new(Method::GET, api::EVENT, |r| r.to(get)),
    AdminRoute::new(Method::POST, api::EVENT_REDELIVER, |r| r.to(redeliver)),
    AdminRoute::new(Method::GET, api::WEBHOOK_ENDPOINTS, |r| r.to(endpoints)),
    AdminRoute::new(Method::POST, api::WEBHOOK_ENDPOINT_SECRET, |r| r.to(secret)),
    AdminRoute::new(Method::POST, api::WEBHOOK_ENDPOINT_ROTATE, |r| r.to(rotate)),
];

/// The `{id}` of an event route.
// Read by the document only: the handler parses its request itself.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct EventPath {
    /// The event's id (`evt_…`).
    id: String,
}

/// The filters of `GET /api/v1/events`.
// Read by the document only: the handler parses its request itself.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct EventFilter {
    /// Only events of this type.
    r#type: Option<EventType>,
    /// Only events in this delivery state.
    state: Option<EventState>,
}

/// Body naming an endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointBody {
    /// The webhook URL, exactly as configured.
    pub url: String,
}

/// A webhook URL as the operator configured it.
const URL: Rule = Rule::line(2048);

/// Lists webhook events, newest first.
#[utoipa::path(get, path = api::EVENTS, operation_id = "list_events", tag = "webhooks",
    params(EventFilter, PageQuery<EventId>),
    responses(
        (status = 200, description = "A page of events", body = Page<EventView>),
        (status = 400, response = BadRequest),
    ))]
pub(super) async fn list(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery::parse(&req, EventId::from_raw)?;
    let (data, next) = svc
        .webhooks()
        .list_events(
            query_param(&req, "type", params::FILTER)?,
            query_param(&req, "state", params::FILTER)?,
            page.limit,
            page.cursor,
        )
        .await?;
    Ok(page_json(data, next))
}

/// One event with its delivery attempts.
#[utoipa::path(get, path = api::EVENT, operation_id = "get_event", tag = "webhooks",
    params(EventPath),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn get(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.webhooks().get_event(&id).await?))
}

/// Sends an event again from now on, whatever its state, with a fresh
/// retry window.
#[utoipa::path(post, path = api::EVENT_REDELIVER, operation_id = "redeliver_event", tag = "webhooks",
    params(EventPath),
    responses(
        (status = 200, description = "The event, pending again", body = EventView),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ))]
pub(super) async fn redeliver(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.webhooks().redeliver_event(&id).await?))
}

/// The webhook endpoints (never their secrets).
#[utoipa::path(get, path = api::WEBHOOK_ENDPOINTS, operation_id = "list_webhook_endpoints", tag = "webhooks",
    responses((status = 200, description = "The endpoints", body = List<EndpointView>)))]
pub(super) async fn endpoints(
    _a: Admin,
    svc: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let data = svc.webhooks().list_webhook_endpoints().await?;
    Ok(HttpResponse::Ok().json(List { data }))
}

/// An endpoint's current signing secret (made on first use).
#[utoipa::path(post, path = api::WEBHOOK_ENDPOINT_SECRET, operation_id = "get_webhook_endpoint_secret", tag = "webhooks",
    request_body = EndpointBody,
    responses(
        (status = 200, description = "The endpoint and its secret", body = EndpointSecretView),
        (status = 400, response = BadRequest),
    ))]
pub(super) async fn secret(
    a: Admin,
    svc: web::Data<Services>,
    body: web::Json<EndpointBody>,
) -> Result<HttpResponse, ApiError> {
    text::check("url", &body.url, URL).map_err(crate::service::Error::from)?;
    let v = svc.webhooks().webhook_secret(&body.url).await?;
    tracing::info!(token = %a.token_name, url = %v.url, "webhook secret shown");
    Ok(no_store_json(HttpResponse::Ok(), v))
}

/// A new signing secret for an endpoint; the old one stops at once.
#[utoipa::path(post, path = api::WEBHOOK_ENDPOINT_ROTATE, operation_id = "rotate_webhook_endpoint_secret", tag = "webhooks",
    request_body = EndpointBody,
    responses(
        (status = 200, description = "The endpoint and its new secret", body = EndpointSecretView),
        (status = 400, response = BadRequest),
    ))]
pub(super) async fn rotate(
    a: Admin,
    svc: web::Data<Services>,
    body: web::Json<EndpointBody>,
) -> Result<HttpResponse, ApiError> {
    text::check("url", &body.url, URL).map_err(crate::service::Error::from)?;
    let v = svc.webhooks().rotate_webhook_secret(&body.url).await?;
    tracing::info!(token = %a.token_name, url = %v.url, "webhook secret rotated");
    Ok(no_store_json(HttpResponse::Ok(), v))
}
