//! The payer: takes `pending` withdrawals as soon as they are committed
//! (woken by the callback, no polling delay) and pays each in its own task;
//! tracks `in_flight` ones whose lease ran out (a crashed instance's, or our
//! own after a restart) until they are final.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::db::models::Withdrawal;
use crate::db::types::WithdrawalId;
use crate::service::withdraw::payout::Step;
use crate::service::Services;

/// How often the payer looks for work nobody woke it for (other instances'
/// rows, orphaned leases).
const POLL: Duration = Duration::from_millis(1000);

/// Runs until `shutdown` turns true.
pub async fn run(svc: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    let busy: Arc<Mutex<HashSet<WithdrawalId>>> = Arc::default();
    // The payment tasks belong to this loop: when it ends or is aborted
    // (a crash, in-process), the set is dropped and every payment task with
    // it, exactly as when the process dies. Rows they held stay `in_flight`
    // for the orphan pickup below, here or on another instance.
    let mut tasks = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Reap finished payment tasks so the set does not grow.
        while tasks.try_join_next().is_some() {}
        match svc.withdraw().take_pending_withdrawals(32).await {
            Ok(taken) => {
                for w in taken {
                    spawn_payment(&mut tasks, &svc, &busy, w, true, &shutdown);
                }
            }
            Err(e) => tracing::error!(error = %e, "payer: cannot take pending withdrawals"),
        }
        match svc.withdraw().orphaned_withdrawals(32).await {
            Ok(rows) => {
                for w in rows {
                    let mine = busy.lock().map(|b| b.contains(&w.id)).unwrap_or(true);
                    if !mine {
                        spawn_payment(&mut tasks, &svc, &busy, w, false, &shutdown);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "payer: cannot list in-flight withdrawals"),
        }
        tokio::select! {
            _ = svc.withdraw().claim_committed() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
}

fn spawn_payment(
    tasks: &mut JoinSet<()>,
    svc: &Arc<Services>,
    busy: &Arc<Mutex<HashSet<WithdrawalId>>>,
    w: Withdrawal,
    fresh: bool,
    shutdown: &watch::Receiver<bool>,
) {
    if let Ok(mut b) = busy.lock() {
        if !b.insert(w.id.clone()) {
            return;
        }
    }
    let (svc, busy, mut shutdown) = (svc.clone(), busy.clone(), shutdown.clone());
    tasks.spawn(async move {
        let wait = svc.withdraw().track_wait();
        let mut step = if fresh {
            svc.withdraw().send_withdrawal(&w).await
        } else {
            svc.withdraw().track_withdrawal(&w, wait).await
        };
        let mut backoff = Duration::from_millis(200);
        loop {
            match &step {
                Ok(Step::Succeeded) | Ok(Step::Failed) | Ok(Step::LostLease) => break,
                Ok(Step::Unknown) => {}
                Err(e) => tracing::error!(withdrawal = %w.id, error = %e, "payer step failed"),
            }
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            step = svc.withdraw().track_withdrawal(&w, wait).await;
        }
        if let Ok(mut b) = busy.lock() {
            b.remove(&w.id);
        }
    });
}
