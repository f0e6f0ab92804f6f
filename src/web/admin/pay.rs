//! Pay link admin routes (`/api/v1/pay-links…`).

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::openapi::{BadRequest, Conflict, NotFound};
use super::{page_json, Admin, AdminRoute, Page, PageQuery};
use crate::db::types::PayLinkId;
use crate::lnurl::wire::PayerDataSpec;
use crate::paths::api;
use crate::service::pay::{
    ImageConfig, PayInvoiceView, PayLinkPatch, PayLinkSpec, PayLinkView, SuccessActionConfig,
};
use crate::service::Services;
use crate::web::error::ApiError;
use crate::web::params::{self, query_param};

/// The routes.
pub const ROUTES: &[AdminRoute] = &[
    AdminRoute::new(Method::POST, api::PAY_LINKS, |r| r.to(create)),
    AdminRoute::new(Method::GET, api::PAY_LINKS, |r| r.to(list)),
    AdminRoute::new(Method::GET, api::PAY_LINK, |r| r.to(get)),
    AdminRoute::new(Method::PATCH, api::PAY_LINK, |r| r.to(update)),
    AdminRoute::new(Method::DELETE, api::PAY_LINK, |r| r.to(disable)),
    AdminRoute::new(Method::GET, api::PAY_LINK_INVOICES, |r| r.to(invoices)),
];

/// The `{id}` of a pay link route.
// Read by the document only: the handler parses its request itself.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct PayLinkPath {
    /// The pay link's id (`pl_…`).
    id: String,
}

/// The filter of `GET /api/v1/pay-links`.
// Read by the document only: the handler parses its request itself.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PayLinkFilter {
    /// `true` or `1`: only links with a Lightning Address.
    addresses: Option<bool>,
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Body of `PATCH /api/v1/pay-links/{id}`: present fields are replaced,
/// `null` clears an optional one.
#[derive(Debug, Deserialize, ToSchema)]
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
    allows_nostr: Option<bool>,
}

/// Creates a pay link (with `username`, a Lightning Address too).
#[utoipa::path(post, path = api::PAY_LINKS, operation_id = "create_pay_link", tag = "pay-links",
    request_body = PayLinkSpec,
    responses(
        (status = 201, description = "Created", body = PayLinkView),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
    ))]
pub(super) async fn create(
    _a: Admin,
    svc: web::Data<Services>,
    body: web::Json<PayLinkSpec>,
) -> Result<HttpResponse, ApiError> {
    let view = svc.pay().create_pay_link(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Changes a pay link: present fields are replaced, `null` clears an
/// optional one.
#[utoipa::path(patch, path = api::PAY_LINK, operation_id = "update_pay_link", tag = "pay-links",
    params(PayLinkPath),
    request_body = PatchBody,
    responses(
        (status = 200, description = "The link as it is now", body = PayLinkView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ))]
pub(super) async fn update(
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
                allows_nostr: b.allows_nostr,
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Lists pay links, newest first.
#[utoipa::path(get, path = api::PAY_LINKS, operation_id = "list_pay_links", tag = "pay-links",
    params(PayLinkFilter, PageQuery<PayLinkId>),
    responses(
        (status = 200, description = "A page of links", body = Page<PayLinkView>),
        (status = 400, response = BadRequest),
    ))]
pub(super) async fn list(
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

/// One pay link.
#[utoipa::path(get, path = api::PAY_LINK, operation_id = "get_pay_link", tag = "pay-links",
    params(PayLinkPath),
    responses(
        (status = 200, description = "The link", body = PayLinkView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn get(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<PayLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.pay().get_pay_link(&id).await?))
}

/// Disables a pay link: wallets are refused from now on.
#[utoipa::path(delete, path = api::PAY_LINK, operation_id = "disable_pay_link", tag = "pay-links",
    params(PayLinkPath),
    responses(
        (status = 200, description = "The disabled link", body = PayLinkView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn disable(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<PayLinkId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.pay().disable_pay_link(&id).await?))
}

/// The invoices issued for a pay link, newest first.
#[utoipa::path(get, path = api::PAY_LINK_INVOICES, operation_id = "list_pay_link_invoices", tag = "pay-links",
    params(PayLinkPath, PageQuery<String>),
    responses(
        (status = 200, description = "A page of invoices", body = Page<PayInvoiceView>),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn invoices(
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
