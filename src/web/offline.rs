//! Offline receive's routes (breez-lnurl's paths, patterns in
//! [`crate::paths`]): `POST /lnurlpay/{pubkey}` registers,
//! `DELETE /lnurlpay/{pubkey}` unregisters, `POST /lnurlpay/{pubkey}/recover`
//! recovers; `GET /lnurlpay/{pubkey}/invoice` is a wallet's LUD-06
//! callback, `GET /lnurlpay/{pubkey}/{payment_hash}` its LUD-21 verify, and
//! `POST /offline/reply/{token}` takes the phone's reply.
//! (`GET /lnurlp/{pubkey}` and the address are in [`super::lnurlp`].)
//! Registered only with `[offline] enabled = true`.
//!
//! Web layer: calls [`crate::service::offline::OfflineService`] only. The
//! body is read as JSON whatever its Content-Type says (apps differ), up to
//! 16 KB.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::{lud_answer, registration_error};
use super::params::{self, query_param};
use crate::lnurl::offline::SignedBody;
use crate::paths;
use crate::service::offline::ReplyError;
use crate::service::{Error, Services};

/// Largest registration body.
const MAX_BODY: usize = 16 * 1024;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::OFFLINE_INVOICE, web::get().to(invoice))
        .service(
            web::resource(paths::OFFLINE_REPLY)
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(web::post().to(reply)),
        )
        .service(
            web::resource(paths::OFFLINE_RECOVER)
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(web::post().to(recover)),
        )
        .service(
            web::resource(paths::OFFLINE_REGISTRATION)
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(web::post().to(register))
                .route(web::delete().to(unregister)),
        )
        // After `/invoice` and `/recover`: any other second segment is a
        // payment hash.
        .route(paths::OFFLINE_VERIFY, web::get().to(verify));
}

/// The signed body, or a 400 saying what is wrong with it.
fn body(bytes: &[u8]) -> Result<SignedBody, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::Invalid(format!(
            "the body must be JSON {{time, webhook_url, username?, offer?, signature, version?}}: {e}"
        ))
    })
}

fn json_or_error<T: serde::Serialize>(r: Result<T, Error>) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(v),
        Err(e) => registration_error(&e),
    }
}

async fn register(
    svc: web::Data<Services>,
    pubkey: web::Path<String>,
    bytes: web::Bytes,
) -> HttpResponse {
    let r = match body(&bytes) {
        Ok(b) => svc.offline().register(&pubkey, b).await,
        Err(e) => Err(e),
    };
    json_or_error(r)
}

async fn unregister(
    svc: web::Data<Services>,
    pubkey: web::Path<String>,
    bytes: web::Bytes,
) -> HttpResponse {
    let r = match body(&bytes) {
        Ok(b) => svc.offline().unregister(&pubkey, b).await,
        Err(e) => Err(e),
    };
    match r {
        // breez-lnurl answers an empty 200.
        Ok(()) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .finish(),
        Err(e) => registration_error(&e),
    }
}

async fn recover(
    svc: web::Data<Services>,
    pubkey: web::Path<String>,
    bytes: web::Bytes,
) -> HttpResponse {
    let r = match body(&bytes) {
        Ok(b) => svc.offline().recover(&pubkey, b).await,
        Err(e) => Err(e),
    };
    json_or_error(r)
}

async fn invoice(
    svc: web::Data<Services>,
    pubkey: web::Path<String>,
    req: HttpRequest,
) -> HttpResponse {
    let read = || -> Result<_, Error> {
        Ok((
            query_param(&req, "amount", params::AMOUNT)?,
            query_param(&req, "comment", params::COMMENT)?,
        ))
    };
    let answer = match read() {
        Ok((amount, comment)) => {
            svc.offline()
                .invoice(&pubkey, amount.as_deref(), comment.as_deref())
                .await
        }
        Err(e) => Err(e),
    };
    lud_answer(&svc, paths::OFFLINE_INVOICE, answer)
}

/// LUD-21 verify, asked of the phone.
async fn verify(svc: web::Data<Services>, path: web::Path<(String, String)>) -> HttpResponse {
    let (pubkey, payment_hash) = path.into_inner();
    let answer = svc.offline().verify(&pubkey, &payment_hash).await;
    lud_answer(&svc, paths::OFFLINE_VERIFY, answer)
}

/// The phone's reply: 200, or 404 unknown token, 409 answered already, 410
/// too late, 422 a failed check (with the reason). No Content-Type needed.
async fn reply(
    svc: web::Data<Services>,
    token: web::Path<String>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> HttpResponse {
    let cache_control = req
        .headers()
        .get(actix_web::http::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok());
    let (status, reason) = match svc.offline().reply(&token, &bytes, cache_control).await {
        Ok(()) => {
            return HttpResponse::Ok()
                .insert_header(("Cache-Control", "no-store"))
                .json(serde_json::json!({"status": "OK"}))
        }
        Err(e @ ReplyError::Unknown) => (StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ ReplyError::Answered) => (StatusCode::CONFLICT, e.to_string()),
        Err(e @ ReplyError::Late) => (StatusCode::GONE, e.to_string()),
        Err(ReplyError::Refused(why)) => (StatusCode::UNPROCESSABLE_ENTITY, why),
        Err(ReplyError::Other(e)) => return registration_error(&e),
    };
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({"status": "ERROR", "reason": reason}))
}
