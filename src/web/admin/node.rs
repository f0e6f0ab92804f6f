//! `GET /api/v1/node` and, with the dev node only,
//! `POST /api/v1/dev/invoices/{payment_hash}/settle` (web layer; the
//! answers come from `service::status`).

use actix_web::{web, HttpResponse};

use super::Admin;
use crate::service::Services;
use crate::web::error::ApiError;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/node", web::get().to(node_info)).route(
        "/api/v1/dev/invoices/{payment_hash}/settle",
        web::post().to(dev_settle),
    );
}

async fn node_info(_a: Admin, svc: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.status().node_info().await?))
}

async fn dev_settle(
    _a: Admin,
    svc: web::Data<Services>,
    hash: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.status().dev_settle(&hash).await?))
}
