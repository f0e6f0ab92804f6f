//! The payer: takes `pending` withdrawals as soon as they are committed
//! (woken by the callback, no polling delay) and pays each in its own task;
//! tracks `in_flight` ones whose lease ran out (a crashed instance's, or our
//! own after a restart) until they are final.
//!
//! At shutdown (told after the HTTP server has stopped, so no claim can
//! come any more) it hands every `pending` row to the node, waits for those
//! payments up to `[withdraw] shutdown_grace_secs`, then releases its
//! leases: what the node still has in flight stays `in_flight`, and the
//! next payer tracks it at once. An abort (a crash, in-process) does none
//! of this.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::db::models::Withdrawal;
use crate::db::types::WithdrawalId;
use crate::service::withdraw::payout::Step;
use crate::service::Services;

/// How often the payer looks for work nobody woke it for (other instances'
/// rows, orphaned leases).
const POLL: Duration = Duration::from_millis(1000);

/// How many ids a shutdown log line names at most.
const LOGGED_IDS: i64 = 50;

/// Runs until `shutdown` turns true, then hands over what is left (see the
/// module doc) and returns.
pub async fn run(svc: Arc<Services>, mut shutdown: watch::Receiver<bool>) {
    let busy: Arc<Mutex<HashSet<WithdrawalId>>> = Arc::default();
    // The payment tasks belong to this loop: when it ends or is aborted
    // (a crash, in-process), the sets are dropped and every payment task
    // with them, exactly as when the process dies. Rows they held stay
    // `in_flight` for the orphan pickup below, here or on another instance.
    // `sends` pay rows taken from `pending`; `tracks` follow orphans.
    let mut sends = JoinSet::new();
    let mut tracks = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Reap finished payment tasks so the sets do not grow.
        while sends.try_join_next().is_some() {}
        while tracks.try_join_next().is_some() {}
        match svc.withdraw().take_pending_withdrawals(32).await {
            Ok(taken) => {
                for w in taken {
                    spawn_payment(&mut sends, &svc, &busy, w, true, &shutdown);
                }
            }
            Err(e) => tracing::error!(error = %e, "payer: cannot take pending withdrawals"),
        }
        match svc.withdraw().orphaned_withdrawals(32).await {
            Ok(rows) => {
                for w in rows {
                    let mine = busy.lock().map(|b| b.contains(&w.id)).unwrap_or(true);
                    if !mine {
                        spawn_payment(&mut tracks, &svc, &busy, w, false, &shutdown);
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
    hand_over(&svc, &busy, sends, tracks, &shutdown).await;
}

/// The shutdown: sends every `pending` row, waits for the payments until
/// the grace is over, releases the leases and says what was left.
async fn hand_over(
    svc: &Arc<Services>,
    busy: &Arc<Mutex<HashSet<WithdrawalId>>>,
    mut sends: JoinSet<()>,
    mut tracks: JoinSet<()>,
    shutdown: &watch::Receiver<bool>,
) {
    let grace = svc.withdraw().shutdown_grace();
    let deadline = Instant::now() + grace;
    // Tracking only follows payments the node already has (or re-sends one
    // it has no record of): the next payer does the same at once once the
    // leases are released, so nothing here is worth the grace.
    tracks.shutdown().await;
    let mut sent = 0usize;
    let mut swept = false;
    let mut failed = false;
    while Instant::now() < deadline {
        match svc.withdraw().take_pending_withdrawals(32).await {
            Ok(taken) if taken.is_empty() => {
                swept = true;
                break;
            }
            Ok(taken) => {
                sent += taken.len();
                for w in taken {
                    spawn_payment(&mut sends, svc, busy, w, true, shutdown);
                }
            }
            Err(e) => {
                // Once: the retries until the deadline would repeat it.
                if !failed {
                    tracing::error!(error = %e, "payer: cannot take pending withdrawals at shutdown; retrying until the grace is over");
                    failed = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    tracing::info!(
        taken_at_shutdown = sent,
        in_progress = sends.len(),
        grace_secs = grace.as_secs(),
        "payer: handing the last withdrawals to the node"
    );
    let waited = tokio::time::timeout_at(deadline, async {
        while sends.join_next().await.is_some() {}
    })
    .await;
    if waited.is_err() || !swept {
        tracing::warn!(
            unfinished = sends.len(),
            "payer: shutdown grace over; payments still under way are left to the node"
        );
    }
    // Cut what is left: each row is `in_flight` (the node may have it) and
    // is tracked by the next payer, never failed because of the shutdown.
    sends.shutdown().await;
    match svc.withdraw().release_leases().await {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) => tracing::info!(
            count = ids.len(),
            withdrawals = %join_ids(&ids),
            "payer: withdrawals left in flight at the node; leases released, the next start tracks them at once"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "payer: cannot release leases; the next payer tracks the in-flight withdrawals when they run out"
        ),
    }
    match svc.withdraw().pending_withdrawals(LOGGED_IDS).await {
        Ok(ids) if ids.is_empty() => {}
        Ok(ids) => tracing::warn!(
            listed = ids.len(),
            withdrawals = %join_ids(&ids),
            "payer: withdrawals left pending at exit (never sent to the node); the next payer to run sends them"
        ),
        Err(e) => tracing::error!(error = %e, "payer: cannot list pending withdrawals at exit"),
    }
}

/// Ids for a log line, comma-separated, at most [`LOGGED_IDS`] of them.
fn join_ids(ids: &[WithdrawalId]) -> String {
    let shown = usize::try_from(LOGGED_IDS).unwrap_or(usize::MAX);
    let mut line = ids
        .iter()
        .take(shown)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if ids.len() > shown {
        line.push_str(&format!(" and {} more", ids.len() - shown));
    }
    line
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
