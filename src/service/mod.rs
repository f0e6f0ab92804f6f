//! Service layer: the rules (claim a withdraw use, pay it exactly once, give
//! a use back on a definite failure, API tokens). Imports `lnurl`, `db` and
//! `node`; never formats HTTP responses (`web/` maps [`Error`] to them).

use std::sync::Arc;

use tokio::sync::Notify;

use crate::config::Config;
use crate::db::{Db, DbConn, DbError};
use crate::metrics::Metrics;
use crate::node::{LightningNode, Network};

pub mod cache;
mod error;
pub mod key_check;
pub mod nodes;
pub mod offline;
pub mod pay;
pub mod retention;
pub mod sealed;
pub mod secrets;
pub mod status;
pub mod tokens;
pub mod webhooks;
pub mod withdraw;
pub mod zaps;

pub use error::{Error, ErrorCode};
pub use secrets::ServerKeys;

/// What the service layer is built from ([`crate::App::build`] fills it).
/// Each per-domain handle takes from it only what it needs.
#[derive(Clone)]
pub struct Base {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
    /// The node backend (instrumented).
    pub node: Arc<dyn LightningNode>,
    /// Network of the node, learned at start.
    pub network: Network,
    /// Identity pubkey of the node, learned at start and checked against
    /// the one recorded in the database (empty for CLI commands, which
    /// never ask the node: no row matches it).
    pub node_pubkey: String,
    /// Server keys for link secrets.
    pub keys: ServerKeys,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Identity of this process for row leases.
    pub instance_id: String,
    /// The embedded dev node, when it is the backend (for its settle route).
    pub dev_node: Option<Arc<crate::node::dev::DevNode>>,
    /// The Nostr key zap receipts are signed with (NIP-57), when `[nostr]
    /// enabled = true`.
    pub nostr_keys: Option<nostr::prelude::Keys>,
}

/// Everything the rules need, shared by HTTP handlers, workers and the CLI.
pub struct Services {
    withdraw: withdraw::WithdrawService,
    pay: pay::PayService,
    webhooks: webhooks::WebhookService,
    status: status::StatusService,
    tokens: tokens::TokenService,
    metrics: Arc<Metrics>,
    retention: retention::RetentionService,
    nodes: nodes::NodeService,
    sealed: sealed::SealedService,
    zaps: zaps::ZapService,
    offline: offline::OfflineService,
}

impl Services {
    /// Builds every handle from `base`.
    pub fn new(base: Base) -> Services {
        let payer_wake = Arc::new(Notify::new());
        // One outbox: the handles that write events and the worker that
        // delivers them share its wake.
        let outbox = webhooks::Outbox::new(&base.config, Arc::new(Notify::new()));
        // Likewise for zap receipts: the settlement writes, the zap worker
        // publishes.
        let zap_outbox = zaps::ZapOutbox::new(&base, Arc::new(Notify::new()));
        Services {
            withdraw: withdraw::WithdrawService::new(&base, outbox.clone(), payer_wake),
            pay: pay::PayService::new(&base, outbox.clone(), zap_outbox.clone()),
            zaps: zaps::ZapService::new(&base, zap_outbox),
            nodes: nodes::NodeService::new(&base, outbox.clone()),
            webhooks: webhooks::WebhookService::new(&base, outbox),
            tokens: tokens::TokenService::new(base.db.clone()),
            status: status::StatusService::new(&base),
            retention: retention::RetentionService::new(
                base.db.clone(),
                base.config.retention.clone(),
            ),
            sealed: sealed::SealedService::new(base.db.clone(), base.keys.clone()),
            offline: offline::OfflineService::new(&base),
            metrics: base.metrics,
        }
    }

    /// Withdraw links, the LUD-03 flow, payouts, pages and vouchers.
    pub fn withdraw(&self) -> &withdraw::WithdrawService {
        &self.withdraw
    }

    /// Pay links, Lightning Addresses, invoices and their settlement.
    pub fn pay(&self) -> &pay::PayService {
        &self.pay
    }

    /// Webhook events, delivery and endpoint secrets.
    pub fn webhooks(&self) -> &webhooks::WebhookService {
        &self.webhooks
    }

    /// Health, the node's identity, the dev node's settle route.
    pub fn status(&self) -> &status::StatusService {
        &self.status
    }

    /// The process's metrics (HTTP middleware, LUD error counts, `/metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Admin API tokens.
    pub fn tokens(&self) -> &tokens::TokenService {
        &self.tokens
    }

    /// The node this database belongs to, and switching it.
    pub fn nodes(&self) -> &nodes::NodeService {
        &self.nodes
    }

    /// The server key as a whole: rotation (`lnurld key rotate`).
    pub fn sealed(&self) -> &sealed::SealedService {
        &self.sealed
    }

    /// NIP-57 zap receipts and their publishing to relays.
    pub fn zaps(&self) -> &zaps::ZapService {
        &self.zaps
    }

    /// Offline receive: phone wallets' registrations (`[offline]`).
    pub fn offline(&self) -> &offline::OfflineService {
        &self.offline
    }

    /// Pruning of finished records (`[retention]`).
    pub fn retention(&self) -> &retention::RetentionService {
        &self.retention
    }
}

/// Page size of a listing: 50 by default, 1 to 500.
pub fn page_limit(limit: Option<u32>) -> Result<u32, Error> {
    let limit = limit.unwrap_or(50);
    if limit == 0 || limit > 500 {
        return Err(Error::Invalid("limit must be between 1 and 500".into()));
    }
    Ok(limit)
}

/// What `find` finds, or `NotFound(not_found)` when it finds nothing: the
/// one way a lookup by id, hash or secret becomes a 404.
pub(crate) async fn found<T, F>(db: &Db, not_found: &str, find: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<Option<T>, DbError> + Send + 'static,
{
    db.run(find)
        .await?
        .ok_or_else(|| Error::NotFound(not_found.into()))
}

/// One page of a newest-first keyset listing (links, pay links, invoices,
/// events), ordered by `(created_at, key)`. `cursor` is the key of the
/// previous page's last row; `position` finds that row's `(created_at,
/// key)`, or `None` when it names no row of this listing, which is
/// `Invalid` ("cursor does not name {what}"). `list` reads the page below
/// that position. The next cursor is the last row's key when the page is
/// full.
pub(crate) async fn keyset_page<K, R, P, L>(
    db: &Db,
    limit: u32,
    cursor: Option<K>,
    what: &str,
    position: P,
    list: L,
    key: impl Fn(&R) -> K,
) -> Result<(Vec<R>, Option<K>), Error>
where
    K: Send + 'static,
    R: Send + 'static,
    P: FnOnce(&mut DbConn, K) -> Result<Option<(i64, K)>, DbError> + Send + 'static,
    L: FnOnce(&mut DbConn, i64, Option<(i64, K)>) -> Result<Vec<R>, DbError> + Send + 'static,
{
    let rows = db
        .run(move |c| {
            let below = match cursor {
                None => None,
                Some(k) => match position(c, k)? {
                    Some(at) => Some(at),
                    None => return Ok(None),
                },
            };
            list(c, i64::from(limit), below).map(Some)
        })
        .await?
        .ok_or_else(|| Error::Invalid(format!("cursor does not name {what}")))?;
    let next = if u32::try_from(rows.len()) == Ok(limit) {
        rows.last().map(key)
    } else {
        None
    };
    Ok((rows, next))
}

/// Current unix time in seconds.
pub fn now() -> i64 {
    crate::db::now_unix()
}

/// RFC 3339 of unix seconds.
pub fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Largest amount a link may carry (21 M BTC in msat fits easily in i64;
/// this bound keeps arithmetic far from overflow).
pub const MAX_AMOUNT_MSAT: u64 = 2_100_000_000_000_000_000;
