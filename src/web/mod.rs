//! Web layer: actix-web routes. One file per route group, each exporting
//! `configure`: [`lnurlw`], [`lnurlp`] (wallets), [`pages`] (HTML for people),
//! [`qr`] (QR images), [`health`], [`admin`] (JSON API), [`offline`] (phone
//! wallets' registrations, only with `[offline] enabled`). Handlers translate
//! HTTP to service calls and back. Shared by the groups: [`error`] (service
//! errors as LUD bodies and as admin JSON), [`html`] (security headers,
//! template rendering and service errors as HTML pages) and [`params`].
//! In front of every route: [`limits`] (rate limits), inside the request
//! metrics.
//!
//! Imports `service`, `lnurl` wire types and the pure [`crate::qr`]. It still
//! reaches past the service layer in a few places: `health` and
//! `admin::node` call `Services::node`/`db` directly, the admin token check
//! and the voucher sheet use `svc.db`, `admin::node` matches a
//! `node::NodeError`, and `error` maps `db::DbError::Unavailable` to 503.

use std::sync::Arc;

use actix_web::dev::Service as _;
use actix_web::web;

use crate::service::Services;

pub mod admin;
pub mod error;
pub mod health;
pub mod html;
pub mod limits;
pub mod lnurlp;
pub mod lnurlw;
pub mod offline;
pub mod pages;
pub mod params;
pub mod qr;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    lnurlw::configure(cfg);
    lnurlp::configure(cfg);
    pages::configure(cfg);
    qr::configure(cfg);
    admin::configure(cfg);
}

/// Builds the actix `App` for `svc` (used by `serve` and by the tests).
/// `limits` is shared by every worker, so a limit is per server, not per
/// worker thread.
pub fn app(
    svc: Arc<Services>,
    limits: Arc<limits::Limits>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let metrics = svc.metrics().clone();
    // Offline receive's routes exist only when it is enabled.
    let offline_on = svc.offline().enabled();
    let limited_svc = svc.clone();
    actix_web::App::new()
        .app_data(web::Data::from(svc))
        .app_data(admin::json_config())
        .wrap_fn(move |req, srv| {
            let admitted = match limits.admit(&limited_svc, &req) {
                limits::Admission::Pass(admin_client) => Ok((srv.call(req), admin_client)),
                limits::Admission::Refuse(res) => Err(req.into_response(res)),
            };
            let limits = limits.clone();
            async move {
                match admitted {
                    Ok((fut, admin_client)) => {
                        let res = fut.await?;
                        if let Some(client) = admin_client {
                            limits.after_admin(client, res.status());
                        }
                        Ok(res.map_into_left_body())
                    }
                    Err(refusal) => Ok(refusal.map_into_right_body()),
                }
            }
        })
        .wrap_fn(move |req, srv| {
            // The label is the method's closed-set name (`other` for any
            // token a client makes up), see `metrics::method_label`.
            let method = req.method().to_string();
            let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
            let metrics = metrics.clone();
            let fut = srv.call(req);
            async move {
                let res = fut.await?;
                metrics.http_request(&method, &route, res.status().as_u16());
                Ok(res)
            }
        })
        .configure(configure)
        .configure(move |cfg| {
            if offline_on {
                offline::configure(cfg);
            }
        })
}
