//! LUD-06/16/21 wallet routes: `GET /lnurlp/{id}`, its callback,
//! `GET /.well-known/lnurlp/{username}` and `GET /lnurlp/verify/{hash}`
//! (patterns from [`crate::paths`], which are also the metric labels).
//! Web layer: calls [`crate::service::pay::PayService`] only.
//! <https://github.com/lnurl/luds/blob/luds/06.md>,
//! <https://github.com/lnurl/luds/blob/luds/16.md>

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::{lud_error, lud_json};
use super::params::query_param;
use crate::db::types::PayLinkId;
use crate::paths;
use crate::service::Services;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::LNURLP_VERIFY, web::get().to(verify))
        .route(paths::LNURLP, web::get().to(pay_request))
        .route(paths::LNURLP_CALLBACK, web::get().to(pay_callback))
        .route(paths::WELL_KNOWN_LNURLP, web::get().to(address));
}

async fn pay_request(svc: web::Data<Services>, id: web::Path<String>) -> HttpResponse {
    match svc
        .pay()
        .pay_request(&PayLinkId::from_raw(id.into_inner()))
        .await
    {
        Ok(r) => lud_json(&r),
        Err(e) => lud_error(&svc, paths::LNURLP, &e),
    }
}

async fn address(svc: web::Data<Services>, username: web::Path<String>) -> HttpResponse {
    match svc.pay().address_pay_request(&username).await {
        Ok(r) => lud_json(&r),
        Err(e) => lud_error(&svc, paths::WELL_KNOWN_LNURLP, &e),
    }
}

async fn pay_callback(
    svc: web::Data<Services>,
    id: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let amount = query_param(&req, "amount");
    let comment = query_param(&req, "comment");
    let payerdata = query_param(&req, "payerdata");
    match svc
        .pay()
        .pay_callback(
            &PayLinkId::from_raw(id.into_inner()),
            amount.as_deref(),
            comment.as_deref(),
            payerdata.as_deref(),
        )
        .await
    {
        Ok(r) => lud_json(&r),
        Err(e) => lud_error(&svc, paths::LNURLP_CALLBACK, &e),
    }
}

async fn verify(svc: web::Data<Services>, hash: web::Path<String>) -> HttpResponse {
    match svc.pay().verify_invoice(&hash).await {
        Ok(r) => lud_json(&r),
        Err(e) => lud_error(&svc, paths::LNURLP_VERIFY, &e),
    }
}
