//! `GET /healthz` (database and node reachability, JSON) and `GET /metrics`
//! (Prometheus text).

use std::time::Duration;

use actix_web::{web, HttpResponse};

use crate::service::Services;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz(svc: web::Data<Services>) -> HttpResponse {
    let db = tokio::time::timeout(Duration::from_secs(5), svc.db.ping()).await;
    let db_ok = matches!(db, Ok(Ok(())));
    let db_json = match db {
        Ok(Ok(())) => serde_json::json!({"ok": true, "backend": svc.db.url().backend()}),
        Ok(Err(e)) => {
            serde_json::json!({"ok": false, "backend": svc.db.url().backend(), "error": e.to_string()})
        }
        Err(_) => {
            serde_json::json!({"ok": false, "backend": svc.db.url().backend(), "error": "timed out"})
        }
    };
    let node = tokio::time::timeout(Duration::from_secs(5), svc.node.info()).await;
    let node_ok = matches!(node, Ok(Ok(_)));
    let node_json = match node {
        Ok(Ok(i)) => serde_json::json!({
            "ok": true, "kind": svc.node.kind(), "alias": i.alias, "pubkey": i.pubkey,
            "network": i.network, "synced_to_chain": i.synced_to_chain,
        }),
        Ok(Err(e)) => {
            serde_json::json!({"ok": false, "kind": svc.node.kind(), "error": e.to_string()})
        }
        Err(_) => serde_json::json!({"ok": false, "kind": svc.node.kind(), "error": "timed out"}),
    };
    let ok = db_ok && node_ok;
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "database": db_json,
        "node": node_json,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let mut res = if ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    res.insert_header(("Cache-Control", "no-store")).json(body)
}

async fn metrics(svc: web::Data<Services>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(svc.metrics.render())
}
