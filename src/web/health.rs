//! `GET /healthz` (whether the database and the node answer, JSON; 503 when
//! either does not, with no error text: the cause is logged) and
//! `GET /metrics` (Prometheus text). Web layer over `service::status`.

use actix_web::{web, HttpResponse};

use crate::service::Services;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz(svc: web::Data<Services>) -> HttpResponse {
    let health = svc.status().health().await;
    let mut res = if health.ok() {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header(("Cache-Control", "no-store"))
        .json(health)
}

async fn metrics(svc: web::Data<Services>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(format!(
            "{}# HELP lnurld_db_commits_total Database commits of this process: transactions, and write statements outside one (each an fsync on SQLite).\n# TYPE lnurld_db_commits_total counter\nlnurld_db_commits_total {}\n",
            svc.metrics().render(),
            svc.status().db_commits()
        ))
}
