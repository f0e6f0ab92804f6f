//! Withdraw link admin routes (`/api/v1/withdraw-links…`), including the
//! batch routes: create a batch of vouchers (idempotent by `external_id`),
//! list batches, read and disable one as a unit, and sign a short-lived URL
//! of its printable sheet (the sheet itself is a page,
//! [`crate::web::pages`]).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{no_store_json, page_json, Admin, PageQuery};
use crate::db::types::{BatchId, WithdrawLinkId};
use crate::service::withdraw::vouchers::{SHEET_URL_DEFAULT_TTL_SECS, SHEET_URL_MAX_TTL_SECS};
use crate::service::withdraw::NewLink;
use crate::service::{Error, Services};
use crate::web::error::ApiError;
use crate::web::params::{self, query_param};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/withdraw-links", web::post().to(create_link))
        .route("/api/v1/withdraw-links", web::get().to(list_links))
        .route("/api/v1/withdraw-links/batch", web::post().to(create_batch))
        // Before `{id}`, which would take "batch" for a link id.
        .route("/api/v1/withdraw-links/batch", web::get().to(list_batches))
        .route(
            "/api/v1/withdraw-links/batch/{batch_id}",
            web::get().to(get_batch),
        )
        .route(
            "/api/v1/withdraw-links/batch/{batch_id}",
            web::delete().to(disable_batch),
        )
        .route("/api/v1/withdraw-links/{id}", web::get().to(get_link))
        .route(
            "/api/v1/withdraw-links/{id}",
            web::delete().to(disable_link),
        )
        .route(
            "/api/v1/withdraw-links/batch/{batch_id}/sheet-url",
            web::post().to(create_sheet_url),
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
    let (view, created) = svc.withdraw().create_withdraw_link(n).await?;
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
    let (batch, created) = svc
        .withdraw()
        .create_withdraw_batch(count, req.into_new_link()?)
        .await?;
    // Secrets and a signed URL: no cache may keep it.
    let status = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(no_store_json(status, batch))
}

async fn list_batches(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery::parse(&req, BatchId::from_raw)?;
    let (batches, next) = svc.withdraw().list_batches(page.limit, page.cursor).await?;
    Ok(page_json(batches, next))
}

async fn get_batch(
    _a: Admin,
    svc: web::Data<Services>,
    batch_id: web::Path<BatchId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().batch_summary(&batch_id).await?))
}

async fn disable_batch(
    _a: Admin,
    svc: web::Data<Services>,
    batch_id: web::Path<BatchId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().disable_batch(&batch_id).await?))
}

async fn list_links(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery::parse(&req, WithdrawLinkId::from_raw)?;
    let status = query_param(&req, "status", params::FILTER)?;
    let batch = query_param(&req, "batch_id", params::FILTER)?.map(BatchId::from_raw);
    let (links, next) = svc
        .withdraw()
        .list_withdraw_links_in(batch, status.as_deref(), page.limit, page.cursor)
        .await?;
    Ok(page_json(links, next))
}

async fn get_link(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<WithdrawLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().get_withdraw_link(&id).await?))
}

async fn disable_link(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<WithdrawLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.withdraw().disable_withdraw_link(&id).await?))
}

/// Body of `POST /api/v1/withdraw-links/batch/{batch_id}/sheet-url`
/// (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SheetUrlBody {
    /// How long the URL stays valid (default 900 s, at most a day).
    ttl_seconds: Option<u64>,
}

async fn create_sheet_url(
    _a: Admin,
    svc: web::Data<Services>,
    batch_id: web::Path<BatchId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: SheetUrlBody = if body.iter().all(u8::is_ascii_whitespace) {
        SheetUrlBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?
    };
    let ttl = body.ttl_seconds.unwrap_or(SHEET_URL_DEFAULT_TTL_SECS);
    if ttl == 0 || ttl > SHEET_URL_MAX_TTL_SECS {
        return Err(ApiError::invalid(format!(
            "ttl_seconds must be between 1 and {SHEET_URL_MAX_TTL_SECS}"
        )));
    }
    if !svc.withdraw().voucher_batch_exists(&batch_id).await? {
        return Err(Error::NotFound("batch not found".into()).into());
    }
    let (url, expires_at) = svc.withdraw().voucher_sheet_url(&batch_id, ttl);
    Ok(no_store_json(
        HttpResponse::Created(),
        serde_json::json!({
            "url": url,
            "expires_at": crate::service::rfc3339(expires_at),
        }),
    ))
}
