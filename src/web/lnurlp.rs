//! LUD-06/16/21 wallet routes: `GET /lnurlp/{id}`, its callback,
//! `GET /.well-known/lnurlp/{username}` and `GET /lnurlp/verify/{hash}`
//! (patterns from [`crate::paths`], which are also the metric labels).
//! Web layer: calls [`crate::service::pay::PayService`] only.
//! <https://github.com/lnurl/luds/blob/luds/06.md>,
//! <https://github.com/lnurl/luds/blob/luds/16.md>

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::lud_answer;
use super::params::{self, query_param};
use crate::db::types::PayLinkId;
use crate::paths;
use crate::service::{Error, Services};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::LNURLP_VERIFY, web::get().to(verify))
        .route(paths::LNURLP, web::get().to(pay_request))
        .route(paths::LNURLP_CALLBACK, web::get().to(pay_callback))
        .route(paths::WELL_KNOWN_LNURLP, web::get().to(address));
}

async fn pay_request(svc: web::Data<Services>, id: web::Path<PayLinkId>) -> HttpResponse {
    let answer = svc.pay().pay_request(&id).await;
    lud_answer(&svc, paths::LNURLP, answer)
}

async fn address(svc: web::Data<Services>, username: web::Path<String>) -> HttpResponse {
    let answer = svc.pay().address_pay_request(&username).await;
    lud_answer(&svc, paths::WELL_KNOWN_LNURLP, answer)
}

async fn pay_callback(
    svc: web::Data<Services>,
    id: web::Path<PayLinkId>,
    req: HttpRequest,
) -> HttpResponse {
    let read = || -> Result<_, Error> {
        Ok((
            query_param(&req, "amount", params::AMOUNT)?,
            query_param(&req, "comment", params::COMMENT)?,
            query_param(&req, "payerdata", params::PAYERDATA)?,
            query_param(&req, "nostr", params::NOSTR)?,
        ))
    };
    let answer = match read() {
        Ok((amount, comment, payerdata, nostr)) => {
            svc.pay()
                .pay_callback(
                    &id,
                    amount.as_deref(),
                    comment.as_deref(),
                    payerdata.as_deref(),
                    nostr.as_deref(),
                )
                .await
        }
        Err(e) => Err(e),
    };
    lud_answer(&svc, paths::LNURLP_CALLBACK, answer)
}

async fn verify(svc: web::Data<Services>, hash: web::Path<String>) -> HttpResponse {
    let answer = svc.pay().verify_invoice(&hash).await;
    lud_answer(&svc, paths::LNURLP_VERIFY, answer)
}
