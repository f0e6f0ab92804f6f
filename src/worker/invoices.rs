//! The invoice watcher: follows the node's settlement stream from the
//! settle index stored in the database, so no settlement is missed or
//! counted twice across restarts; reconciles open invoices with the node on
//! every (re)subscription, because lnd replays nothing from index 0.
//!
//! The expiry sweeper: every [`SWEEP_EVERY`], open pay invoices past their
//! expiry become expired with an `invoice.expired` event, in batches until
//! none is due (see [`PayService::expire_invoices`]), so a flood of
//! invoices delays real `invoice.expired` events by seconds, not hours.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use crate::service::pay::PayService;
use crate::service::Services;

/// How often expired invoices are swept.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Runs until `shutdown` turns true.
pub async fn run(svc: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if *shutdown.borrow() {
            return;
        }
        match follow(svc.pay(), &mut shutdown).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "invoice watcher: stream ended; resubscribing"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// One subscription; `Ok(())` only on shutdown.
async fn follow(
    pay: &PayService,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), crate::service::Error> {
    let mut stream = pay.settlements().await?;
    // Reconcile while the stream is being read (lnd sends the subscription's
    // headers only with its first event, so the subscribe call happens on the
    // first poll): the short delay lets lnd register the subscription before
    // the lookups, so a settlement lands in one or the other. Recording is
    // idempotent, so landing in both is harmless.
    let reconcile = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        pay.reconcile_open_invoices().await
    };
    tokio::pin!(reconcile);
    let mut reconciled = false;
    loop {
        tokio::select! {
            r = &mut reconcile, if !reconciled => {
                reconciled = true;
                match r {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "invoice watcher: recorded settlements found by lookup"),
                    Err(e) => tracing::warn!(error = %e, "invoice watcher: reconciling open invoices failed"),
                }
            }
            item = stream.next() => match item {
                Some(Ok(s)) => {
                    pay.record_settlement(&s).await?;
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(crate::service::Error::Node(crate::node::NodeError::Unreachable(
                    "settlement stream closed".into(),
                ))),
            },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Sweeps expired invoices until `shutdown` turns true.
pub async fn sweep_expired(svc: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        match svc.pay().expire_invoices().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "invoices expired"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed; retrying later"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_EVERY) => {}
            _ = shutdown.changed() => {}
        }
    }
}
