//! The pruning worker: runs [`RetentionService::prune`] at start and then
//! every `[retention] prune_every_secs`. Every instance may run it: each
//! delete re-checks its condition, so two pruners never delete what one of
//! them should keep.
//!
//! [`RetentionService::prune`]: crate::service::retention::RetentionService::prune

use std::sync::Arc;

use tokio::sync::watch;

use crate::service::Services;

/// Prunes until `shutdown` turns true.
pub async fn run(svc: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            r = svc.retention().prune() => match r {
                Ok(p) if p.total() == 0 => {}
                Ok(p) => tracing::info!(
                    delivered_events = p.delivered_events,
                    failed_events = p.failed_events,
                    expired_invoices = p.expired_invoices,
                    withdrawals = p.withdrawals,
                    "pruned old records"
                ),
                Err(e) => tracing::warn!(error = %e, "pruning failed; retrying later"),
            },
            // A batch is short; stopping between two is as good as after.
            _ = shutdown.changed() => return,
        }
        if svc.offline().enabled() {
            match svc.offline().purge(crate::service::now()).await {
                Ok(p) if p == crate::service::offline::Purged::default() => {}
                Ok(p) => tracing::info!(
                    claims = p.claims,
                    holds = p.holds,
                    requests = p.requests,
                    registrations = p.registrations,
                    "pruned offline-receive records"
                ),
                Err(e) => tracing::warn!(error = %e, "offline pruning failed; retrying later"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(svc.retention().every()) => {}
            _ = shutdown.changed() => {}
        }
    }
}
