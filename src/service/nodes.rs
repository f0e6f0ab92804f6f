//! Which Lightning node this database belongs to, and switching it
//! (DESIGN.md invariant 7). Service layer: imports `db`, `node` and the
//! outbox of `service::webhooks`.
//!
//! `serve` records the node it finds on first start and refuses any other
//! afterwards ([`crate::App::build`]). Moving to another node is a deliberate
//! `lnurld node switch`: withdrawals in flight on the old node can only be
//! settled there, so the switch refuses while there are any, unless the
//! operator sets them aside as `needs_review` (never paid, tracked or given
//! back automatically; `withdraw.needs_review` tells the operator's systems).

use std::sync::Arc;

use serde::Serialize;

use super::webhooks::{withdraw_event, EventType, Outbox};
use super::withdraw::WithdrawalView;
use super::{now, Base, Error};
use crate::db::models::{NodeRecord, Withdrawal};
use crate::db::Db;
use crate::node::{LightningNode, NodeInfo};

/// What a switch would do (and, once done, did).
#[derive(Debug, Serialize)]
pub struct SwitchPlan {
    /// The node recorded in the database, if any.
    pub recorded: Option<String>,
    /// The node configured now.
    pub current: String,
    /// Its network.
    pub network: String,
    /// Withdrawals in flight on the recorded node: their outcome is known
    /// only there.
    pub in_flight: Vec<WithdrawalView>,
}

impl SwitchPlan {
    /// The configured node is the recorded one: nothing to switch.
    pub fn unchanged(&self) -> bool {
        self.recorded.as_deref() == Some(self.current.as_str())
    }
}

/// The node handle.
pub struct NodeService {
    db: Db,
    node: Arc<dyn LightningNode>,
    outbox: Outbox,
}

impl NodeService {
    /// Built once by [`super::Services::new`].
    pub(crate) fn new(base: &Base, outbox: Outbox) -> NodeService {
        NodeService {
            db: base.db.clone(),
            node: base.node.clone(),
            outbox,
        }
    }

    /// The node recorded as the one this database belongs to.
    pub async fn recorded(&self) -> Result<Option<NodeRecord>, Error> {
        Ok(self.db.run(NodeRecord::current).await?)
    }

    /// Asks the configured node who it is and lists what is in flight on
    /// the recorded one.
    pub async fn switch_plan(&self) -> Result<SwitchPlan, Error> {
        let info = self.node.info().await?;
        self.plan_for(&info).await
    }

    async fn plan_for(&self, info: &NodeInfo) -> Result<SwitchPlan, Error> {
        let recorded = self.recorded().await?.map(|r| r.pubkey);
        let in_flight = match recorded.clone() {
            Some(old) if old != info.pubkey => self
                .db
                .run(move |c| Withdrawal::in_flight_on(c, &old))
                .await?
                .iter()
                .map(WithdrawalView::from_row)
                .collect(),
            _ => Vec::new(),
        };
        Ok(SwitchPlan {
            recorded,
            current: info.pubkey.clone(),
            network: info.network.to_string(),
            in_flight,
        })
    }

    /// Makes the configured node the one this database belongs to, with a
    /// fresh settle index. Refuses (`Conflict`) while withdrawals are in
    /// flight on the old node, unless `abandon_in_flight`: then they become
    /// `needs_review`, each with its `withdraw.needs_review` event, in the
    /// same transaction as the switch. Returns the plan as carried out.
    pub async fn switch(&self, abandon_in_flight: bool) -> Result<SwitchPlan, Error> {
        let info = self.node.info().await?;
        let plan = self.plan_for(&info).await?;
        if plan.unchanged() {
            return Ok(plan);
        }
        if !plan.in_flight.is_empty() && !abandon_in_flight {
            return Err(Error::Conflict(format!(
                "{} withdrawal(s) are in flight on node {}; only that node knows how they end. \
                 Let them finish there (start lnurld on that node again), or pass \
                 --abandon-in-flight to set them aside as needs_review",
                plan.in_flight.len(),
                plan.recorded.as_deref().unwrap_or("?"),
            )));
        }
        let (old, new, network, ob, t) = (
            plan.recorded.clone(),
            info.pubkey.clone(),
            info.network.to_string(),
            self.outbox.clone(),
            now(),
        );
        let set_aside = self
            .db
            .transaction(move |c| {
                let mut moved = Vec::new();
                if let Some(old) = &old {
                    moved = Withdrawal::set_aside_for_review(c, old, t)?;
                    for id in &moved {
                        withdraw_event(c, &ob, EventType::WithdrawNeedsReview, id, t)?;
                    }
                }
                NodeRecord::switch_to(c, &new, &network, t)?;
                Ok(moved)
            })
            .await?;
        if !set_aside.is_empty() {
            self.outbox.wake();
            tracing::warn!(
                count = set_aside.len(),
                "withdrawals in flight on the old node set aside as needs_review"
            );
        }
        tracing::info!(from = ?plan.recorded, to = %plan.current, "switched node");
        Ok(plan)
    }
}
