//! LUD-03 wallet routes: `GET /lnurlw/{secret}` (withdrawRequest) and
//! `GET /lnurlw/{secret}/callback?k1=…&pr=…`.
//! <https://github.com/lnurl/luds/blob/luds/03.md>

use actix_web::{web, HttpRequest, HttpResponse};

use super::error::{lud_answer, lud_error};
use super::params::{self, query_param};
use crate::lnurl::wire::StatusOk;
use crate::paths;
use crate::service::{Error, Services};

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::LNURLW, web::get().to(withdraw_request))
        .route(paths::LNURLW_CALLBACK, web::get().to(withdraw_callback));
}

async fn withdraw_request(svc: web::Data<Services>, secret: web::Path<String>) -> HttpResponse {
    let answer = svc.withdraw().withdraw_request(&secret).await;
    lud_answer(&svc, paths::LNURLW, answer)
}

async fn withdraw_callback(
    svc: web::Data<Services>,
    secret: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    const ROUTE: &str = paths::LNURLW_CALLBACK;
    let params = query_param(&req, "k1", params::K1)
        .and_then(|k1| Ok((k1, query_param(&req, "pr", params::PR)?)));
    let (k1, pr) = match params {
        Ok((Some(k1), Some(pr))) => (k1, pr),
        Ok(_) => {
            return lud_error(
                &svc,
                ROUTE,
                &Error::Invalid("Missing k1 or pr parameter.".into()),
            )
        }
        Err(e) => return lud_error(&svc, ROUTE, &e),
    };
    let answer = svc.withdraw().withdraw_callback(&secret, &k1, &pr).await;
    lud_answer(&svc, ROUTE, answer.map(|()| StatusOk))
}
