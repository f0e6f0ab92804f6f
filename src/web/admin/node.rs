//! `GET /api/v1/node` and, with the dev node only,
//! `POST /api/v1/dev/invoices/{payment_hash}/settle` (web layer; the
//! answers come from `service::status`).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};

use super::openapi::{BadGateway, Conflict, NotFound};
use super::{Admin, AdminRoute};
use crate::paths::api;
use crate::service::status::{DevSettled, NodeView};
use crate::service::Services;
use crate::web::error::ApiError;

/// The routes.
pub const ROUTES: &[AdminRoute] = &[
    AdminRoute::new(Method::GET, api::NODE, |r| r.to(node_info)),
    AdminRoute::new(Method::POST, api::DEV_SETTLE, |r| r.to(dev_settle)),
];

/// The node lnurld pays and invoices through.
#[utoipa::path(get, path = api::NODE, operation_id = "get_node", tag = "node",
    responses(
        (status = 200, description = "The node", body = NodeView),
        (status = 502, response = BadGateway),
    ))]
pub(super) async fn node_info(
    _a: Admin,
    svc: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.status().node_info().await?))
}

/// Settles one of the dev node's own invoices, as a payer would (only
/// while the dev node is active; `not_found` otherwise).
#[utoipa::path(post, path = api::DEV_SETTLE, operation_id = "dev_settle_invoice", tag = "node",
    params(("payment_hash" = String, Path, description = "The invoice's payment hash, 64 hex characters")),
    responses(
        (status = 200, description = "Settled", body = DevSettled),
        (status = 400, response = super::openapi::BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ))]
pub(super) async fn dev_settle(
    _a: Admin,
    svc: web::Data<Services>,
    hash: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.status().dev_settle(&hash).await?))
}
