//! Offline receive's registration routes (breez-lnurl's paths, patterns in
//! [`crate::paths`]): `POST /lnurlpay/{pubkey}` registers,
//! `DELETE /lnurlpay/{pubkey}` unregisters, `POST /lnurlpay/{pubkey}/recover`
//! recovers. Registered only with `[offline] enabled = true`.
//!
//! Web layer: calls [`crate::service::offline::OfflineService`] only. The
//! body is read as JSON whatever its Content-Type says (apps differ), up to
//! 16 KB.

use actix_web::{web, HttpResponse};

use super::error::registration_error;
use crate::lnurl::offline::SignedBody;
use crate::paths;
use crate::service::{Error, Services};

/// Largest registration body.
const MAX_BODY: usize = 16 * 1024;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(paths::OFFLINE_RECOVER)
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route(web::post().to(recover)),
    )
    .service(
        web::resource(paths::OFFLINE_REGISTRATION)
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route(web::post().to(register))
            .route(web::delete().to(unregister)),
    );
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
