//! Offline receive's operator routes (web layer; the rules are in
//! `service::offline`):
//!
//! - `GET /api/v1/offline/registrations[?limit=&cursor=]` → `{data,
//!   next_cursor}`: pubkey, username, webhook host (never the webhook URL,
//!   which carries the app's push token), times and counters
//! - `DELETE /api/v1/offline/registrations/{pubkey}` → the removed
//!   registration; its username stays held for its pubkey
//!
//! They exist whether or not `[offline] enabled` is set (the listing is
//! then whatever registrations were left).

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use super::openapi::{BadRequest, NotFound};
use super::{page_json, Admin, AdminRoute, Page, PageQuery};
use crate::paths::api;
use crate::service::offline::RegistrationView;
use crate::service::Services;
use crate::web::error::ApiError;

/// The routes.
pub const ROUTES: &[AdminRoute] = &[
    AdminRoute::new(Method::GET, api::OFFLINE_REGISTRATIONS, |r| r.to(list)),
    AdminRoute::new(Method::DELETE, api::OFFLINE_REGISTRATION, |r| r.to(delete)),
];

/// The phone wallets registered for offline receive, newest first.
#[utoipa::path(get, path = api::OFFLINE_REGISTRATIONS, operation_id = "list_offline_registrations", tag = "offline",
    params(PageQuery<String>),
    responses(
        (status = 200, description = "A page of registrations", body = Page<RegistrationView>),
        (status = 400, response = BadRequest),
    ))]
pub(super) async fn list(
    _a: Admin,
    svc: web::Data<Services>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery::parse(&req, |c| c)?;
    let (data, next) = svc
        .offline()
        .list_registrations(page.limit, page.cursor)
        .await?;
    Ok(page_json(data, next))
}

/// Removes a phone wallet's registration: its payers get "unknown
/// address"; its username stays reserved for its pubkey for
/// `[offline] name_hold_days`, as when the wallet unregisters itself.
#[utoipa::path(delete, path = api::OFFLINE_REGISTRATION, operation_id = "delete_offline_registration", tag = "offline",
    params(("pubkey" = String, Path, description = "The wallet's pubkey (66 hex)")),
    responses(
        (status = 200, description = "The removed registration", body = RegistrationView),
        (status = 404, response = NotFound),
    ))]
pub(super) async fn delete(
    a: Admin,
    svc: web::Data<Services>,
    pubkey: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let gone = svc.offline().delete_registration(&pubkey).await?;
    tracing::info!(token = %a.token_name, pubkey = %gone.pubkey, "offline registration removed");
    Ok(HttpResponse::Ok().json(gone))
}
