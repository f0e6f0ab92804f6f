//! The zap receipt publisher (NIP-57): claims due outbox rows (leased, so
//! with several instances one row is sent by one of them at a time), sends
//! each to its relay concurrently (at most [`MAX_IN_FLIGHT`], so a relay
//! that never answers holds one slot until `[nostr] timeout_secs`, not the
//! others), and records the outcome; failures are rescheduled by the
//! service with backoff. Woken at once when this instance commits a
//! settled zap, and polls every [`POLL`] for the rest (other instances'
//! rows, retries that came due, rows a crash left behind).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::service::Services;

/// How often the worker looks for due rows nobody woke it for.
pub const POLL: Duration = Duration::from_millis(1000);
/// Most attempts running at once per instance.
pub const MAX_IN_FLIGHT: usize = 16;

/// Runs until `shutdown` turns true; a graceful stop lets running attempts
/// finish (each is bounded by `[nostr] timeout_secs`). Does nothing while
/// `[nostr]` is disabled.
pub async fn run(svc: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    if !svc.zaps().outbox().enabled() {
        return;
    }
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        let room = MAX_IN_FLIGHT.saturating_sub(running.len());
        if room > 0 {
            match svc
                .zaps()
                .claim_due(i64::try_from(room).unwrap_or(i64::MAX))
                .await
            {
                Ok(rows) => {
                    for row in rows {
                        let svc = svc.clone();
                        running.spawn(async move {
                            if let Err(e) = svc.zaps().publish(&row).await {
                                tracing::error!(relay = %row.relay, payment_hash = %row.payment_hash, error = %e, "zaps: cannot record an attempt");
                            }
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "zaps: cannot claim due receipts"),
            }
        }
        tokio::select! {
            _ = svc.zaps().woken() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
}
