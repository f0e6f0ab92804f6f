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

async fn pay_request(svc: web::Data<Services>, id: web::Path<String>) -> HttpResponse {
    // 66-hex ids are offline wallets' pubkeys (no pay-link id has that form).
    if svc.offline().enabled() && crate::lnurl::offline::is_pubkey_form(&id) {
        let answer = svc.offline().pay_request(&id).await;
        return lud_answer(&svc, paths::LNURLP, answer);
    }
    let answer = svc
        .pay()
        .pay_request(&PayLinkId::from_raw(id.into_inner()))
        .await;
    lud_answer(&svc, paths::LNURLP, answer)
}

async fn address(svc: web::Data<Services>, username: web::Path<String>) -> HttpResponse {
    let answer = match svc.pay().address_pay_request(&username).await {
        // Usernames are shared with offline wallets: one that no pay link
        // has may be a wallet's.
        Err(Error::NotFound(m)) if svc.offline().enabled() => {
            match svc.offline().address_request(&username).await {
                Some(a) => a,
                None => Err(Error::NotFound(m)),
            }
        }
        other => {
            other.and_then(|p| serde_json::to_value(p).map_err(|e| Error::Internal(e.to_string())))
        }
    };
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
