//! `GET /api/v1/node` and, with the dev node only,
//! `POST /api/v1/dev/invoices/{payment_hash}/settle`.

use actix_web::{web, HttpResponse};

use super::Admin;
use crate::node::PaymentHash;
use crate::service::{Error, Services};
use crate::web::error::ApiError;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/node", web::get().to(node_info)).route(
        "/api/v1/dev/invoices/{payment_hash}/settle",
        web::post().to(dev_settle),
    );
}

async fn node_info(_a: Admin, svc: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let info = svc.node.info().await.map_err(Error::from)?;
    let balance = svc.node.balance().await.map_err(Error::from)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "kind": svc.node.kind(),
        "alias": info.alias,
        "pubkey": info.pubkey,
        "network": info.network,
        "synced_to_chain": info.synced_to_chain,
        "block_height": info.block_height,
        "balance": {"local_msat": balance.local_msat, "remote_msat": balance.remote_msat},
    })))
}

async fn dev_settle(
    _a: Admin,
    svc: web::Data<Services>,
    hash: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let Some(dev) = svc.dev_node.clone() else {
        return Err(ApiError(Error::NotFound(
            "the dev node is not active on this server".into(),
        )));
    };
    let h = PaymentHash::from_hex(&hash)
        .ok_or_else(|| ApiError::invalid("payment_hash must be 64 hex characters"))?;
    let s = dev.settle(h).map_err(|e| match e {
        crate::node::NodeError::NotFound => {
            Error::NotFound("no such invoice on the dev node".into())
        }
        other => Error::Conflict(other.to_string()),
    })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "payment_hash": s.payment_hash.to_hex(),
        "settle_index": s.settle_index,
        "amount_msat": s.amount_paid_msat,
    })))
}
