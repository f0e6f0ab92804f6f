//! Withdraw link admin routes (`/api/v1/withdraw-links…`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{limit_param, Admin};
use crate::service::withdraw::NewLink;
use crate::service::{Error, Services};
use crate::web::error::ApiError;
use crate::web::params::query_param;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/withdraw-links", web::post().to(create_link))
        .route("/api/v1/withdraw-links", web::get().to(list_links))
        .route("/api/v1/withdraw-links/batch", web::post().to(create_batch))
        .route("/api/v1/withdraw-links/{id}", web::get().to(get_link))
        .route(
            "/api/v1/withdraw-links/{id}",
            web::delete().to(disable_link),
        );
}

/// Body of `POST /api/v1/withdraw-links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLinkBody {
    /// Minimum, msat.
    pub min_msat: u64,
    /// Maximum, msat.
    pub max_msat: u64,
    /// Uses (default 1).
    pub uses: Option<u64>,
    /// Seconds between uses (default 0).
    pub wait_seconds: Option<u64>,
    /// RFC 3339 expiry.
    pub expires_at: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Description (the wallet's default invoice description).
    pub description: Option<String>,
    /// Webhook URL.
    pub webhook_url: Option<String>,
    /// Idempotency key.
    pub external_id: Option<String>,
    /// Serve LUD-14 balanceCheck.
    pub balance_check: Option<bool>,
    /// LUD-19 payLink.
    pub pay_link: Option<String>,
}

impl CreateLinkBody {
    fn into_new_link(self) -> Result<NewLink, Error> {
        let expires_at = match self.expires_at {
            None => None,
            Some(s) => Some(
                time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        Error::Invalid(format!(
                            "expires_at {s:?} is not an RFC 3339 timestamp (e.g. 2026-12-31T23:59:59Z)"
                        ))
                    })?
                    .unix_timestamp(),
            ),
        };
        let title = self.title.unwrap_or_default();
        Ok(NewLink {
            min_msat: self.min_msat,
            max_msat: self.max_msat,
            uses: self.uses.unwrap_or(1),
            wait_seconds: self.wait_seconds.unwrap_or(0),
            expires_at,
            description: self.description.unwrap_or_else(|| title.clone()),
            title,
            webhook_url: self.webhook_url,
            external_id: self.external_id,
            balance_check: self.balance_check.unwrap_or(false),
            pay_link: self.pay_link,
        })
    }
}

async fn create_link(
    _a: Admin,
    svc: web::Data<Services>,
    body: web::Json<CreateLinkBody>,
) -> Result<HttpResponse, ApiError> {
    let n = body.into_inner().into_new_link()?;
    let (view, created) = svc.create_withdraw_link(n).await?;
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

async fn create_batch(
    _a: Admin,
    svc: web::Data<Services>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let mut v = body.into_inner();
    let count = v
        .as_object_mut()
        .and_then(|o| o.remove("count"))
        .ok_or_else(|| ApiError::invalid("count is required"))?;
    let count = count
        .as_u64()
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| ApiError::invalid("count must be a positive whole number"))?;
    let req: CreateLinkBody = serde_json::from_value(v)
        .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    let (batch_id, links) = svc
        .create_withdraw_batch(count, req.into_new_link()?)
        .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "batch_id": batch_id,
        "vouchers_url": svc.url(&format!("/vouchers/{batch_id}")),
        "links": links,
    })))
}

async fn list_links(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let limit = limit_param(&req)?;
    let status = query_param(&req, "status");
    let cursor = query_param(&req, "cursor");
    let (links, next) = svc
        .list_withdraw_links(status.as_deref(), limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"data": links, "next_cursor": next})))
}

async fn get_link(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.get_withdraw_link(&id).await?))
}

async fn disable_link(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.disable_withdraw_link(&id).await?))
}
