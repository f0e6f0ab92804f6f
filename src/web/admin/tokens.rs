//! `GET /api/v1/tokens` and `DELETE /api/v1/tokens/{id}` (web layer; the
//! rules are in `service::tokens`). Tokens are made with `lnurld token
//! create` only: a leaked token must not be able to mint more.

use actix_web::{web, HttpResponse};

use super::Admin;
use crate::service::Services;
use crate::web::error::ApiError;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/tokens", web::get().to(list))
        .route("/api/v1/tokens/{id}", web::delete().to(revoke));
}

async fn list(_a: Admin, svc: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let tokens = svc.tokens().list().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "data": tokens })))
}

async fn revoke(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.tokens().revoke(&id).await?))
}
