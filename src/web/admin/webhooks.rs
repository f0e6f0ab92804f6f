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

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{no_store_json, page_json, Admin, PageQuery};
use crate::service::webhooks::EventId;
use crate::service::Services;
use crate::text::{self, Rule};
use crate::web::error::ApiError;
use crate::web::params::{self, query_param};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/events", web::get().to(list))
        .route("/api/v1/events/{id}", web::get().to(get))
        .route("/api/v1/events/{id}/redeliver", web::post().to(redeliver))
        .route("/api/v1/webhooks/endpoints", web::get().to(endpoints))
        .route("/api/v1/webhooks/endpoints/secret", web::post().to(secret))
        .route("/api/v1/webhooks/endpoints/rotate", web::post().to(rotate));
}

/// Body naming an endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointBody {
    /// The webhook URL, exactly as configured.
    pub url: String,
}

/// A webhook URL as the operator configured it.
const URL: Rule = Rule::line(2048);

async fn list(
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

async fn get(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.webhooks().get_event(&id).await?))
}

async fn redeliver(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<EventId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.webhooks().redeliver_event(&id).await?))
}

async fn endpoints(_a: Admin, svc: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let data = svc.webhooks().list_webhook_endpoints().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": data })))
}

async fn secret(
    a: Admin,
    svc: web::Data<Services>,
    body: web::Json<EndpointBody>,
) -> Result<HttpResponse, ApiError> {
    text::check("url", &body.url, URL).map_err(crate::service::Error::from)?;
    let v = svc.webhooks().webhook_secret(&body.url).await?;
    tracing::info!(token = %a.token_name, url = %v.url, "webhook secret shown");
    Ok(no_store_json(HttpResponse::Ok(), v))
}

async fn rotate(
    a: Admin,
    svc: web::Data<Services>,
    body: web::Json<EndpointBody>,
) -> Result<HttpResponse, ApiError> {
    text::check("url", &body.url, URL).map_err(crate::service::Error::from)?;
    let v = svc.webhooks().rotate_webhook_secret(&body.url).await?;
    tracing::info!(token = %a.token_name, url = %v.url, "webhook secret rotated");
    Ok(no_store_json(HttpResponse::Ok(), v))
}
