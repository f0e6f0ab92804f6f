//! The server's own state for the operator: health of the database and the
//! node (`/healthz`), the node's identity and balance (`GET /api/v1/node`),
//! and the dev node's settle route. Service layer: imports `db` and `node`.
//!
//! Health answers say *whether* a component is fine, never why not: the
//! cause is logged (a stranger may call `/healthz`).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{Base, Error};
use crate::db::Db;
use crate::node::dev::DevNode;
use crate::node::{LightningNode, Network, NodeError, PaymentHash};

/// How long a health check waits for each component.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// `/healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: &'static str,
    /// The database.
    pub database: DbHealth,
    /// The node.
    pub node: NodeHealth,
    /// This build's version.
    pub version: &'static str,
}

impl Health {
    /// Both components are fine.
    pub fn ok(&self) -> bool {
        self.database.ok && self.node.ok
    }
}

/// Health of the database.
#[derive(Debug, Serialize)]
pub struct DbHealth {
    /// Answered a ping in time.
    pub ok: bool,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
}

/// Health of the node, with its identity when it answered.
#[derive(Debug, Serialize)]
pub struct NodeHealth {
    /// Answered `info` in time.
    pub ok: bool,
    /// Backend kind (`lnd`, `dev`).
    pub kind: &'static str,
    /// Alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Identity key, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pubkey: Option<String>,
    /// Network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Synced to chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced_to_chain: Option<bool>,
}

/// `GET /api/v1/node`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    /// Backend kind.
    pub kind: &'static str,
    /// Alias.
    pub alias: String,
    /// Identity key, hex.
    pub pubkey: String,
    /// Network.
    pub network: Network,
    /// Synced to chain.
    pub synced_to_chain: bool,
    /// Block height.
    pub block_height: u32,
    /// Channel balances.
    pub balance: BalanceView,
}

/// Channel balances, msat.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    /// Local side.
    pub local_msat: u64,
    /// Remote side.
    pub remote_msat: u64,
}

/// What the dev node's settle route answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DevSettled {
    /// Hex.
    pub payment_hash: String,
    /// The dev node's settle index.
    pub settle_index: u64,
    /// Amount, msat.
    pub amount_msat: u64,
}

/// The status handle.
pub struct StatusService {
    db: Db,
    node: Arc<dyn LightningNode>,
    /// The node the server started with (empty for CLI commands).
    node_pubkey: String,
    dev_node: Option<Arc<DevNode>>,
}

impl StatusService {
    /// Commits this process has made to the database (for `/metrics`).
    pub fn db_commits(&self) -> u64 {
        self.db.commits()
    }

    /// Built once by [`super::Services::new`].
    pub(crate) fn new(base: &Base) -> StatusService {
        StatusService {
            db: base.db.clone(),
            node: base.node.clone(),
            node_pubkey: base.node_pubkey.clone(),
            dev_node: base.dev_node.clone(),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn db_backend(&self) -> &'static str {
        self.db.url().backend()
    }

    /// Whether `pubkey` is the node the server started with. Another node
    /// behind the same endpoint (rebuilt, or the address now leads
    /// elsewhere) is not the node whose records this server keeps: not
    /// healthy, and a restart refuses it.
    fn is_our_node(&self, pubkey: &str) -> bool {
        let ours = self.node_pubkey.is_empty() || pubkey == self.node_pubkey;
        if !ours {
            tracing::error!(started_with = %self.node_pubkey, now = %pubkey, "health check: another node answers at the node's address");
        }
        ours
    }

    /// Checks the database and the node, each within [`CHECK_TIMEOUT`].
    pub async fn health(&self) -> Health {
        let db_ok = match tokio::time::timeout(CHECK_TIMEOUT, self.db.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check: database");
                false
            }
            Err(_) => {
                tracing::warn!("health check: database timed out");
                false
            }
        };
        let kind = self.node.kind();
        let node = match tokio::time::timeout(CHECK_TIMEOUT, self.node.info()).await {
            Ok(Ok(i)) => NodeHealth {
                ok: self.is_our_node(&i.pubkey),
                kind,
                alias: Some(i.alias),
                pubkey: Some(i.pubkey),
                network: Some(i.network),
                synced_to_chain: Some(i.synced_to_chain),
            },
            failed => {
                match failed {
                    Ok(Err(e)) => tracing::warn!(error = %e, "health check: node"),
                    _ => tracing::warn!("health check: node timed out"),
                }
                NodeHealth {
                    ok: false,
                    kind,
                    alias: None,
                    pubkey: None,
                    network: None,
                    synced_to_chain: None,
                }
            }
        };
        let database = DbHealth {
            ok: db_ok,
            backend: self.db_backend(),
        };
        let ok = db_ok && node.ok;
        Health {
            status: if ok { "ok" } else { "degraded" },
            database,
            node,
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// The node's identity and balances.
    pub async fn node_info(&self) -> Result<NodeView, Error> {
        let info = self.node.info().await?;
        let balance = self.node.balance().await?;
        Ok(NodeView {
            kind: self.node.kind(),
            alias: info.alias,
            pubkey: info.pubkey,
            network: info.network,
            synced_to_chain: info.synced_to_chain,
            block_height: info.block_height,
            balance: BalanceView {
                local_msat: balance.local_msat,
                remote_msat: balance.remote_msat,
            },
        })
    }

    /// Settles one of the dev node's own invoices (only with the dev node).
    pub async fn dev_settle(&self, payment_hash: &str) -> Result<DevSettled, Error> {
        let Some(dev) = &self.dev_node else {
            return Err(Error::NotFound(
                "the dev node is not active on this server".into(),
            ));
        };
        let h = PaymentHash::from_hex(payment_hash)
            .ok_or_else(|| Error::Invalid("payment_hash must be 64 hex characters".into()))?;
        let s = dev.settle(h).await.map_err(|e| match e {
            NodeError::NotFound => Error::NotFound("no such invoice on the dev node".into()),
            NodeError::Refused(m) => Error::Conflict(m),
            // Its database could not be reached: not the caller's conflict.
            other => Error::Node(other),
        })?;
        Ok(DevSettled {
            payment_hash: s.payment_hash.to_hex(),
            settle_index: s.settle_index,
            amount_msat: s.amount_paid_msat,
        })
    }
}
