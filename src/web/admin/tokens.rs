//! `GET /api/v1/tokens` and `DELETE /api/v1/tokens/{id}` (web layer; the
//! rules are in `service::tokens`). Tokens are made with `lnurld token
//! create` only: a leaked token must not be able to mint more.

use actix_web::http::Method;
use actix_web::{web, HttpResponse};

use super::openapi::NotFound;
use super::{Admin, AdminRoute, List};
use crate::paths::api;
use crate::service::tokens::TokenView;
use crate::service::Services;
use crate::web::error::ApiError;

/// The routes.
pub const ROUTES: &[AdminRoute] = &[
    AdminRoute::new(Method::GET, api::TOKENS, |r| r.to(list)),
    AdminRoute::new(Method::DELETE, api::TOKEN, |r| r.to(revoke)),
];

/// Every token, active and revoked (never the token itself or its hash).
#[utoipa::path(get, path = api::TOKENS, operation_id = "list_tokens", tag = "tokens",
    responses((status = 200, description = "The tokens", body = List<TokenView>)))]
pub(super) async fn list(_a: Admin, svc: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let data = svc.tokens().list().await?;
    Ok(HttpResponse::Ok().json(List { data }))
}

/// Revokes a token: refused at once by every instance.
#[utoipa::path(delete, path = api::TOKEN, operation_id = "revoke_token", tag = "tokens",
    params(("id" = String, Path, description = "The token's id (`tok_…`) or its name")),
    responses(
        (status = 200, description = "The revoked token", body = TokenView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn revoke(
    _a: Admin,
    svc: web::Data<Services>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(svc.tokens().revoke(&id).await?))
}
