//! Pay link admin routes (`/api/v1/pay-links…`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};

use super::{page_json, Admin, PageQuery};
use crate::db::types::PayLinkId;
use crate::lnurl::wire::PayerDataSpec;
use crate::service::pay::{ImageConfig, PayLinkPatch, PayLinkSpec, SuccessActionConfig};
use crate::service::Services;
use crate::web::error::ApiError;
use crate::web::params::{self, query_param};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/pay-links", web::post().to(create))
        .route("/api/v1/pay-links", web::get().to(list))
        .route("/api/v1/pay-links/{id}", web::get().to(get))
        .route("/api/v1/pay-links/{id}", web::patch().to(update))
        .route("/api/v1/pay-links/{id}", web::delete().to(disable))
        .route("/api/v1/pay-links/{id}/invoices", web::get().to(invoices));
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Body of `PATCH /api/v1/pay-links/{id}`: present fields are replaced,
/// `null` clears an optional one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    min_msat: Option<u64>,
    max_msat: Option<u64>,
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    long_description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    image: Option<Option<ImageConfig>>,
    #[serde(default, deserialize_with = "nullable")]
    username: Option<Option<String>>,
    comment_allowed: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    success_action: Option<Option<SuccessActionConfig>>,
    #[serde(default, deserialize_with = "nullable")]
    payer_data: Option<Option<PayerDataSpec>>,
    #[serde(default, deserialize_with = "nullable")]
    webhook_url: Option<Option<String>>,
}

async fn create(
    _a: Admin,
    svc: web::Data<Services>,
    body: web::Json<PayLinkSpec>,
) -> Result<HttpResponse, ApiError> {
    let view = svc.pay().create_pay_link(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

async fn update(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<PayLinkId>,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let view = svc
        .pay()
        .update_pay_link(
            &id,
            PayLinkPatch {
                min_msat: b.min_msat,
                max_msat: b.max_msat,
                description: b.description,
                long_description: b.long_description,
                image: b.image,
                username: b.username,
                comment_allowed: b.comment_allowed,
                success_action: b.success_action,
                payer_data: b.payer_data,
                webhook_url: b.webhook_url,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn list(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let addresses_only = matches!(
        query_param(&req, "addresses", params::FILTER)?.as_deref(),
        Some("true" | "1")
    );
    let page = PageQuery::parse(&req, PayLinkId::from_raw)?;
    let (links, next) = svc
        .pay()
        .list_pay_links(addresses_only, page.limit, page.cursor)
        .await?;
    Ok(page_json(links, next))
}

async fn get(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<PayLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.pay().get_pay_link(&id).await?))
}

async fn disable(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<PayLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.pay().disable_pay_link(&id).await?))
}

async fn invoices(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<PayLinkId>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery::parse(&req, String::from)?;
    let (data, next) = svc
        .pay()
        .list_pay_invoices(&id, page.limit, page.cursor)
        .await?;
    Ok(page_json(data, next))
}
