//! LUD-06/16/21 wallet routes: `GET /lnurlp/{id}`, its callback,
//! `GET /.well-known/lnurlp/{username}` and `GET /lnurlp/verify/{hash}`.
//! <https://github.com/lnurl/luds/blob/luds/06.md>,
//! <https://github.com/lnurl/luds/blob/luds/16.md>

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::{lud_error, lud_json};
use super::params::query_param;
use crate::db::types::PayLinkId;
use crate::service::Services;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/lnurlp/verify/{payment_hash}", web::get().to(verify))
        .route("/lnurlp/{id}", web::get().to(pay_request))
        .route("/lnurlp/{id}/callback", web::get().to(pay_callback))
        .route("/.well-known/lnurlp/{username}", web::get().to(address));
}

async fn pay_request(svc: web::Data<Services>, id: web::Path<String>) -> HttpResponse {
    match svc
        .pay()
        .pay_request(&PayLinkId::from_raw(id.into_inner()))
        .await
    {
        Ok(r) => lud_json(&r),
        Err(e) => lud_error(&svc, "/lnurlp/{id}", &e),
    }
}

async fn address(svc: web::Data<Services>, username: web::Path<String>) -> HttpResponse {
    match svc.pay().address_pay_request(&username).await {
        Ok(r) => lud_json(&r),
        Err(e) => lud_error(&svc, "/.well-known/lnurlp/{username}", &e),
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
        Err(e) => lud_error(&svc, "/lnurlp/{id}/callback", &e),
    }
}

async fn verify(svc: web::Data<Services>, hash: web::Path<String>) -> HttpResponse {
    match svc.pay().verify_invoice(&hash).await {
        Ok(r) => lud_json(&r),
        Err(e) => lud_error(&svc, "/lnurlp/verify/{payment_hash}", &e),
    }
}
