//! Paying claimed withdrawals exactly once (DESIGN.md invariant 2).
//!
//! The sequence follows LND's own guarantees (spec/LND.md §3): a row is
//! `in_flight` (committed) before the node is asked to pay; an ambiguous
//! answer is tracked by payment hash, never paid again; a use is given back
//! only on a *definite* failure; after a restart every `in_flight` row whose
//! lease ran out is tracked, and re-sent only if the node has no record of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, RwLock};

use super::WithdrawService;
use crate::db::models::withdrawal::Lease;
use crate::db::models::{WithdrawLink, Withdrawal};
use crate::db::types::{Msat, WithdrawalId};
use crate::db::{DbConn, DbError};
use crate::metrics::Counter;
use crate::node::{NodeError, PaymentHash, PaymentOutcome};
use crate::service::webhooks::{withdraw_event, EventType};
use crate::service::{now, Error};

/// What became of one withdrawal after a payer step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Final: paid.
    Succeeded,
    /// Final: failed, use given back.
    Failed,
    /// Still unknown; keep tracking.
    Unknown,
    /// Another payer holds it now.
    LostLease,
}

/// Lets this instance's lease writes (taking a pending row, renewing a
/// lease) through until [`WithdrawService::release_leases`] closes it.
///
/// A write holds a read guard *inside* its blocking database call, so a
/// write whose payer task was cancelled at shutdown still finishes before
/// the gate closes, and none starts after: a released lease is never taken
/// back by a late write of our own, which would hide the row from the next
/// payer until the lease ran out.
#[derive(Debug, Clone, Default)]
pub struct LeaseGate(Arc<RwLock<bool>>);

impl LeaseGate {
    /// A guard to move into the database call, or `None` once closed.
    async fn open(&self) -> Option<OwnedRwLockReadGuard<bool>> {
        let guard = self.0.clone().read_owned().await;
        (!*guard).then_some(guard)
    }

    /// Waits for the writes under way, then lets no more through.
    async fn close(&self) {
        *self.0.write().await = true;
    }
}

impl WithdrawService {
    fn lease_until(&self) -> i64 {
        now() + i64::from(self.config.lease_secs)
    }

    /// Takes pending withdrawals for this instance, binding each to the
    /// current node. None once this instance's leases were released.
    pub async fn take_pending_withdrawals(&self, limit: i64) -> Result<Vec<Withdrawal>, Error> {
        let Some(gate) = self.leases.open().await else {
            return Ok(Vec::new());
        };
        let (owner, node) = (self.instance_id.clone(), self.node_pubkey.clone());
        let until = self.lease_until();
        let t = now();
        Ok(self
            .db
            .write(move |c| {
                let _gate = gate;
                let lease = Lease {
                    owner: &owner,
                    until,
                    node: &node,
                };
                Withdrawal::take_pending_batch(c, &lease, t, limit)
            })
            .await?)
    }

    /// Gives up this instance's lease on every `in_flight` row (the payer
    /// at shutdown, after its tasks have ended), so that the next payer,
    /// here after a restart or on another instance, tracks them at once.
    /// Takes no lease afterwards. Returns the ids released.
    pub async fn release_leases(&self) -> Result<Vec<WithdrawalId>, Error> {
        self.leases.close().await;
        let (owner, t) = (self.instance_id.clone(), now());
        Ok(self
            .db
            .write(move |c| Withdrawal::release_leases(c, &owner, t))
            .await?)
    }

    /// Up to `limit` withdrawals no payer has taken yet, oldest first.
    pub async fn pending_withdrawals(&self, limit: i64) -> Result<Vec<WithdrawalId>, Error> {
        Ok(self
            .db
            .run(move |c| Withdrawal::pending_ids(c, limit))
            .await?)
    }

    /// In-flight withdrawals of the current node nobody is tracking (lease
    /// ran out).
    pub async fn orphaned_withdrawals(&self, limit: i64) -> Result<Vec<Withdrawal>, Error> {
        let (node, t) = (self.node_pubkey.clone(), now());
        Ok(self
            .db
            .run(move |c| Withdrawal::expired_in_flight(c, &node, t, limit))
            .await?)
    }

    async fn renew_lease(&self, id: &WithdrawalId) -> Result<bool, Error> {
        let Some(gate) = self.leases.open().await else {
            return Ok(false);
        };
        let (i, owner, node, until, t) = (
            id.clone(),
            self.instance_id.clone(),
            self.node_pubkey.clone(),
            self.lease_until(),
            now(),
        );
        Ok(self
            .db
            .write(move |c| {
                let _gate = gate;
                let lease = Lease {
                    owner: &owner,
                    until,
                    node: &node,
                };
                Withdrawal::lease_in_flight(c, &i, &lease, t)
            })
            .await?)
    }

    /// Runs `fut` while renewing this instance's lease on `id`, so a node
    /// call that takes longer than a lease is never taken over by another
    /// instance (which, seeing no record yet, might send it again).
    async fn holding_lease<T>(
        &self,
        id: &WithdrawalId,
        fut: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(fut);
        let every = Duration::from_millis((u64::from(self.config.lease_secs) * 1000 / 3).max(300));
        loop {
            tokio::select! {
                r = &mut fut => return r,
                _ = tokio::time::sleep(every) => match self.renew_lease(id).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(withdrawal = %id, "lease lost while the node was working"),
                    Err(e) => tracing::warn!(withdrawal = %id, error = %e, "cannot renew lease"),
                }
            }
        }
    }

    fn hash_of(w: &Withdrawal) -> Result<PaymentHash, Error> {
        PaymentHash::from_hex(&w.payment_hash)
            .ok_or_else(|| Error::Internal(format!("bad payment hash in {}", w.id)))
    }

    /// Asks the node to pay a withdrawal this instance has taken
    /// (`in_flight`, leased to us), and records a final outcome if there is one.
    pub async fn send_withdrawal(&self, w: &Withdrawal) -> Result<Step, Error> {
        let timeout = Duration::from_secs(u64::from(self.config.payment_timeout_secs));
        let r = self
            .holding_lease(
                &w.id,
                self.node.pay(&w.bolt11, w.max_fee_msat.get(), timeout),
            )
            .await;
        match r {
            Ok(outcome) => self.record_outcome(w, outcome).await,
            Err(e) if e.payment_definitely_not_started() || matches!(e, NodeError::Refused(_)) => {
                // lnd checks the invoice (expiry, network, …) before it looks
                // at its record of the hash, so a refusal of *this* attempt
                // does not prove an earlier one is not in flight: confirm.
                let hash = Self::hash_of(w)?;
                let known = self
                    .holding_lease(&w.id, self.node.payment(hash, Duration::ZERO))
                    .await;
                match known {
                    Ok(None) | Err(NodeError::NotFound) => {
                        tracing::warn!(withdrawal = %w.id, error = %e, "node refused the payment");
                        self.finish_failed(w, &e.to_string()).await
                    }
                    Ok(Some(outcome)) => self.record_outcome(w, outcome).await,
                    Err(e2) => {
                        tracing::warn!(withdrawal = %w.id, error = %e, lookup_error = %e2, "refused, but cannot confirm; tracking");
                        Ok(Step::Unknown)
                    }
                }
            }
            Err(e) => {
                // AlreadyPaid / AlreadyInFlight / transport trouble: the node
                // may have the payment. Track it by hash.
                tracing::warn!(withdrawal = %w.id, error = %e, "payment outcome unknown; tracking");
                Ok(Step::Unknown)
            }
        }
    }

    /// Looks the payment up on the node (waiting up to `wait` for a final
    /// state) and records it. Re-sends only when the node has no record of
    /// the hash, which lnd makes safe: a concurrent record answers
    /// AlreadyExists.
    pub async fn track_withdrawal(&self, w: &Withdrawal, wait: Duration) -> Result<Step, Error> {
        if !self.renew_lease(&w.id).await? {
            return Ok(Step::LostLease);
        }
        let hash = Self::hash_of(w)?;
        match self
            .holding_lease(&w.id, self.node.payment(hash, wait))
            .await
        {
            Ok(Some(outcome)) => self.record_outcome(w, outcome).await,
            Ok(None) | Err(NodeError::NotFound) => {
                tracing::info!(withdrawal = %w.id, "node has no record of the payment; sending it");
                self.send_withdrawal(w).await
            }
            Err(e) => {
                tracing::warn!(withdrawal = %w.id, error = %e, "cannot track payment yet");
                Ok(Step::Unknown)
            }
        }
    }

    async fn record_outcome(&self, w: &Withdrawal, outcome: PaymentOutcome) -> Result<Step, Error> {
        match outcome {
            PaymentOutcome::InFlight => Ok(Step::Unknown),
            PaymentOutcome::Failed(reason) => self.finish_failed(w, &reason.to_string()).await,
            PaymentOutcome::Succeeded { preimage, fee_msat } => {
                if let Some(p) = preimage {
                    if p.payment_hash().to_hex() != w.payment_hash {
                        tracing::error!(withdrawal = %w.id, "node reported a preimage that does not match the payment hash");
                    }
                }
                let (id, pre) = (w.id.clone(), preimage.map(|p| p.to_hex()));
                // Saturated, not refused: the payment happened and is recorded.
                let fee = Msat::saturating(fee_msat);
                let mark = move |c: &mut DbConn, t| Withdrawal::mark_succeeded(c, &id, fee, pre, t);
                let kind = (EventType::WithdrawSucceeded, Counter::WithdrawalsSucceeded);
                if self.finish(&w.id, kind, mark).await? {
                    tracing::info!(withdrawal = %w.id, fee_msat, "withdrawal paid");
                }
                Ok(Step::Succeeded)
            }
        }
    }

    async fn finish_failed(&self, w: &Withdrawal, reason: &str) -> Result<Step, Error> {
        let (id, link, r) = (w.id.clone(), w.link_id.clone(), reason.to_owned());
        // The use is given back in the same transaction, and only if this
        // call moved the row out of in_flight: a use is returned once.
        let mark = move |c: &mut DbConn, t| {
            let changed = Withdrawal::mark_failed(c, &id, &r, t)?;
            if changed {
                WithdrawLink::give_use_back(c, &link, t)?;
            }
            Ok(changed)
        };
        let kind = (EventType::WithdrawFailed, Counter::WithdrawalsFailed);
        let forget = self.first_steps.forget_after(w.link_id.as_str());
        let finished = self.finish(&w.id, kind, mark).await;
        drop(forget);
        if finished? {
            tracing::info!(withdrawal = %w.id, reason, "withdrawal failed; use given back");
        }
        Ok(Step::Failed)
    }

    /// Records a final outcome: `mark` writes it (at time `t`), and the
    /// `withdraw.*` event of `kind` is written in the same transaction,
    /// only by the call whose `mark` moved the row out of in_flight, so an
    /// outcome has one event and is counted once. The delivery worker is
    /// woken after the commit. Returns whether this call made the change.
    async fn finish(
        &self,
        id: &WithdrawalId,
        (kind, counter): (EventType, Counter),
        mark: impl FnOnce(&mut DbConn, i64) -> Result<bool, DbError> + Send + 'static,
    ) -> Result<bool, Error> {
        let (id, ob, t) = (id.clone(), self.outbox.clone(), now());
        let changed = self
            .db
            .transaction(move |c| {
                let changed = mark(c, t)?;
                if changed {
                    withdraw_event(c, &ob, kind, &id, t)?;
                }
                Ok(changed)
            })
            .await?;
        if changed {
            self.outbox.wake();
            self.metrics.count(counter);
        }
        Ok(changed)
    }
}
