//! Commits per request (issue 12). On SQLite with `synchronous = FULL`
//! each commit is an fsync, so the write paths' cost is held fixed here
//! through `/metrics` (`lnurld_db_commits_total`), not by a timed test: an
//! extra commit fails this test.

use std::time::Duration;

use lnurl::Response;
use serde_json::json;

use lnurld::db::models::{Withdrawal, WithdrawalState};
use lnurld::node::PaymentHash;

use crate::pay::{create_pay, pay_response};
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::FakeLnd;
use crate::support::wallet::wallet_invoice;
use crate::withdraw::{create, first_step};

crate::both_dbs!(commits_per_withdrawal_and_pay);

/// `lnurld_db_commits_total` from `/metrics`.
pub(crate) async fn commits(app: &TestApp) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("lnurld_db_commits_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no commit count in /metrics"))
}

/// The count once the background work a step started has ended (two reads
/// a while apart agree).
async fn settled_count(app: &TestApp) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = commits(app).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = commits(app).await;
        if now == last {
            return now;
        }
        assert!(std::time::Instant::now() < deadline, "commits keep coming");
        last = now;
    }
}

/// A withdrawal commits three times: the claim (before the wallet hears
/// OK), the payer taking it (pending → in flight, before the node is
/// asked), and the final state with its event. A pay callback commits its
/// invoice once, a settlement once, and the first steps not at all. The
/// admin API is not used between the counts: it records a token's last use.
async fn commits_per_withdrawal_and_pay(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let pool = db.pool().await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let pay = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 100_000, "description": "x"}),
    )
    .await;

    let start = settled_count(&app).await;
    let w = first_step(&app, &link).await;
    let p = pay_response(&app, &pay.url).await;
    assert_eq!(
        settled_count(&app).await,
        start,
        "first steps write nothing"
    );

    let (pr, hash) = wallet_invoice(1_000);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.expect("callback"),
        Response::Ok(())
    );
    let h = hash.to_hex();
    eventually("the withdrawal succeeds", Duration::from_secs(20), || {
        let (pool, h) = (pool.clone(), h.clone());
        async move {
            let row = pool
                .run(move |c| Withdrawal::find_by_hash(c, &h))
                .await
                .ok()??;
            (row.state == WithdrawalState::Succeeded).then_some(())
        }
    })
    .await;
    let paid = settled_count(&app).await;
    assert_eq!(paid - start, 3, "commits of one withdrawal");

    let (_, v) = app.get_json(&format!("{}?amount=5000", p.callback)).await;
    let pr = v["pr"].as_str().unwrap_or_else(|| panic!("{v}"));
    let invoiced = settled_count(&app).await;
    assert_eq!(invoiced - paid, 1, "commits of one pay callback");

    let inv: lightning_invoice::Bolt11Invoice = pr.parse().expect("bolt11");
    fake.settle_invoice(PaymentHash(*inv.payment_hash().as_ref()));
    eventually(
        "the invoice is recorded settled",
        Duration::from_secs(20),
        || async { (commits(&app).await > invoiced).then_some(()) },
    )
    .await;
    assert_eq!(
        settled_count(&app).await - invoiced,
        1,
        "commits of one settlement"
    );
    app.stop(true).await;
}
