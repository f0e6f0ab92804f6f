//! Shutdown order (issue 11 item 3): on SIGTERM the HTTP server stops
//! first, then the payer hands every withdrawal answered OK to the node and
//! releases its leases, then the other workers stop. Through the real
//! `lnurld serve` against the fake LND: a wallet told OK is never left
//! `pending` by a stop, and what the node still has in flight is tracked by
//! the next start at once, not after the lease (300 s here) runs out.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lnurl::api::LnUrlResponse;
use lnurl::withdraw::WithdrawalResponse;
use lnurl::Response;
use reqwest::Method;
use serde_json::{json, Value};

use lnurld::db::models::{Withdrawal, WithdrawalState};
use lnurld::db::Db;
use lnurld::node::PaymentHash;
use lnurld::service::withdraw::LinkView;

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::{FakeLnd, Finish, PayBehavior};
use crate::support::serve::{lnurld_on, Served};
use crate::support::wallet::wallet_invoice;
use crate::withdraw::{create, first_step};

both_dbs!(
    sigterm_mid_burst_sends_every_withdrawal_answered_ok,
    payments_in_flight_at_exit_are_tracked_at_once_after_a_restart,
    a_stop_releases_only_its_own_leases,
    a_second_signal_exits_at_once,
    pending_rows_nobody_woke_the_payer_for_are_sent_at_shutdown,
    rows_left_pending_at_exit_are_named_in_the_log,
    no_lease_is_taken_after_the_release,
);

/// Far longer than any wait below: a restart that had to wait for a lease
/// to run out would time out.
const LEASE_SECS: &str = "300";

/// What the next start has, at most, to make every row final.
const AFTER_RESTART: Duration = Duration::from_secs(10);

/// The environment of `lnurld serve` against `fake`.
fn lnd_env(db: &TestDb, fake: &FakeLnd, grace_secs: &str) -> Vec<(String, String)> {
    let cert = db.dir().join("fake-lnd-tls.cert");
    std::fs::write(&cert, fake.cert_pem()).expect("write cert");
    [
        ("RUST_LOG", "info"),
        ("LNURLD_NODE__KIND", "lnd"),
        ("LNURLD_NODE__ENDPOINT", &fake.endpoint()),
        ("LNURLD_NODE__TLS_CERT", &cert.display().to_string()),
        ("LNURLD_NODE__MACAROON", &hex::encode(fake.macaroon())),
        ("LNURLD_WITHDRAW__LEASE_SECS", LEASE_SECS),
        ("LNURLD_WITHDRAW__SHUTDOWN_GRACE_SECS", grace_secs),
        // The burst comes from one address, to one link.
        ("LNURLD_LIMITS__ENABLED", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn serve(db: &TestDb, env: &[(String, String)]) -> Served {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Served::start(db, &env, "022").await
}

/// An admin token made with the CLI, as an operator does.
fn token(db: &TestDb) -> String {
    // Only `serve` and `migrate` create a database; the CLI needs one.
    let migrated = lnurld_on(db)
        .env("RUST_LOG", "warn")
        .arg("migrate")
        .output()
        .expect("run lnurld migrate");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let out = lnurld_on(db)
        .env("RUST_LOG", "warn")
        .args(["token", "create", "--name", "ops"])
        .output()
        .expect("run lnurld token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A 1,000 msat link of `uses` uses (no wait between them) on `served`,
/// and the wallet's first step of it through lnurl-rs.
async fn link(served: &Served, token: &str, uses: u64) -> WithdrawalResponse {
    let made = create_link(served, token, uses).await;
    let secret = made["secret"].as_str().expect("secret");
    let wallet = lnurl::AsyncClient::from_client(reqwest::Client::new());
    match wallet
        .make_request(&format!("{}/lnurlw/{secret}", served.base))
        .await
        .expect("withdrawRequest")
    {
        LnUrlResponse::LnUrlWithdrawResponse(w) => w,
        other => panic!("expected a withdrawRequest, got {other:?}"),
    }
}

/// Every withdrawal row, read through a pool of the test's own (the server
/// is down when this is asked).
async fn rows(pool: &Db) -> Vec<Withdrawal> {
    pool.run(|c| {
        use diesel::prelude::*;
        use lnurld::db::schema::withdrawals::dsl as w;
        Ok(w::withdrawals
            .select(Withdrawal::as_select())
            .load::<Withdrawal>(c)?)
    })
    .await
    .expect("read withdrawals")
}

fn is_final(w: &Withdrawal) -> bool {
    matches!(
        w.state,
        WithdrawalState::Succeeded | WithdrawalState::Failed
    )
}

/// A burst of callbacks with SIGTERM in the middle: every withdrawal
/// answered OK was sent to the node before the process exited, and none is
/// left `pending`. With the old order (payer stopped before the HTTP
/// server) the callbacks answered during the HTTP drain stayed `pending`.
async fn sigterm_mid_burst_sends_every_withdrawal_answered_ok(db: TestDb) {
    const CALLBACKS: usize = 120;
    const PARALLEL: usize = 12;
    const SIGTERM_AFTER: usize = 20;

    let fake = FakeLnd::start().await;
    let token = token(&db);
    let env = lnd_env(&db, &fake, "10");
    let served = serve(&db, &env).await;
    let w = link(&served, &token, CALLBACKS as u64).await;

    let answered = Arc::new(AtomicUsize::new(0));
    let mut lanes = Vec::new();
    for _ in 0..PARALLEL {
        let (w, answered) = (w.clone(), answered.clone());
        let invoices: Vec<(String, PaymentHash)> = (0..CALLBACKS / PARALLEL)
            .map(|_| wallet_invoice(1_000))
            .collect();
        lanes.push(tokio::spawn(async move {
            // One client per lane: a wallet's kept-alive connection.
            let wallet = lnurl::AsyncClient::from_client(reqwest::Client::new());
            let mut ok = Vec::new();
            for (pr, hash) in invoices {
                // After SIGTERM a call may be refused or cut: only the
                // wallets told OK were promised a payment.
                if let Ok(Response::Ok(())) = wallet.do_withdrawal(&w, &pr).await {
                    ok.push(hash);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
            ok
        }));
    }
    eventually("the first callbacks answered", AFTER_RESTART, || async {
        (answered.load(Ordering::SeqCst) >= SIGTERM_AFTER).then_some(())
    })
    .await;
    served.terminate();
    let mut ok = Vec::new();
    for lane in lanes {
        ok.extend(lane.await.expect("lane"));
    }
    let (clean, log) = served.exited(Duration::from_secs(30)).await;
    assert!(clean, "lnurld exits with success: {log}");
    assert!(
        ok.len() > SIGTERM_AFTER,
        "some callbacks were answered OK after SIGTERM: {}",
        ok.len()
    );

    // Sent to the node before the process exited (the fake counts).
    let unsent: Vec<_> = ok.iter().filter(|h| fake.sends_for(**h) == 0).collect();
    assert!(
        unsent.is_empty(),
        "{} of {} withdrawals answered OK never reached the node: {unsent:?}\n{log}",
        unsent.len(),
        ok.len()
    );
    let pool = db.pool().await;
    let stored = rows(&pool).await;
    let pending: Vec<_> = stored
        .iter()
        .filter(|w| w.state == WithdrawalState::Pending)
        .map(|w| w.id.to_string())
        .collect();
    assert!(pending.is_empty(), "left pending: {pending:?}\n{log}");
    let hashes: HashSet<String> = stored.iter().map(|w| w.payment_hash.clone()).collect();
    assert!(ok.iter().all(|h| hashes.contains(&h.to_hex())));
    assert!(log.contains("payer: handing the last withdrawals"), "{log}");
    assert!(!log.contains("left pending"), "{log}");

    // The node was healthy: each was paid once, and the next start has
    // nothing left to do.
    assert!(ok.iter().all(|h| fake.sends_for(*h) == 1));
    let served = serve(&db, &env).await;
    eventually(
        "every row final after the restart",
        AFTER_RESTART,
        || async { rows(&pool).await.iter().all(is_final).then_some(()) },
    )
    .await;
    served.stop();
}

/// Payments the node holds at exit stay `in_flight` (never failed because
/// of the shutdown), with the lease released: the restart tracks them at
/// once although `lease_secs` is 300, and never sends them again.
async fn payments_in_flight_at_exit_are_tracked_at_once_after_a_restart(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let token = token(&db);
    let env = lnd_env(&db, &fake, "1");
    let served = serve(&db, &env).await;
    let w = link(&served, &token, 3).await;
    let wallet = lnurl::AsyncClient::from_client(reqwest::Client::new());
    let mut hashes = Vec::new();
    for _ in 0..3 {
        let (pr, hash) = wallet_invoice(1_000);
        assert_eq!(
            wallet.do_withdrawal(&w, &pr).await.expect("callback"),
            Response::Ok(())
        );
        hashes.push(hash);
    }
    // At once, so some may still be `pending`: the shutdown sends them.
    served.terminate();
    let (clean, log) = served.exited(Duration::from_secs(30)).await;
    assert!(clean, "{log}");
    for h in &hashes {
        assert_eq!(fake.sends_for(*h), 1, "sent before exit: {h:?}\n{log}");
    }
    let pool = db.pool().await;
    let stored = rows(&pool).await;
    assert_eq!(stored.len(), 3);
    for row in &stored {
        assert_eq!(row.state, WithdrawalState::InFlight, "{row:?}");
        assert_eq!(row.lease_owner, None, "lease released: {row:?}\n{log}");
        assert_eq!(row.lease_until, None, "lease released: {row:?}");
    }
    assert!(log.contains("leases released"), "{log}");
    // The log names what was left in flight, row by row.
    for row in &stored {
        assert!(log.contains(row.id.as_str()), "{} named: {log}", row.id);
    }

    // The node finishes them while lnurld is down.
    assert_eq!(fake.release_all(Finish::Succeed { fee_msat: 0 }), 3);
    let served = serve(&db, &env).await;
    eventually(
        "every row final after the restart",
        AFTER_RESTART,
        || async {
            let stored = rows(&pool).await;
            stored
                .iter()
                .all(|w| w.state == WithdrawalState::Succeeded)
                .then_some(())
        },
    )
    .await;
    for h in &hashes {
        assert_eq!(fake.sends_for(*h), 1, "tracked, not sent again");
        assert!(fake.tracks_for(*h) >= 1);
    }
    served.stop();
}

/// A graceful stop gives up its own leases only: a live lease of another
/// instance (here one that crashed, so nothing renews it or gives it up)
/// is left exactly as it was.
async fn a_stop_releases_only_its_own_leases(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let pool = db.pool().await;
    let long_lease = |c: &mut lnurld::Config| c.withdraw.lease_secs = 300;

    let b = TestApp::start_with(&db, Node::Lnd(&fake), long_lease).await;
    let theirs = claim(&b, &fake).await;
    let held_by_b = row_of(&pool, theirs).await;
    assert!(held_by_b.lease_owner.is_some(), "{held_by_b:?}");
    b.stop(false).await;

    let a = TestApp::start_with(&db, Node::Lnd(&fake), long_lease).await;
    let ours = claim(&a, &fake).await;
    let held_by_a = row_of(&pool, ours).await;
    assert!(held_by_a.lease_owner.is_some());
    assert_ne!(held_by_a.lease_owner, held_by_b.lease_owner);
    a.stop(true).await;

    let mine = row_of(&pool, ours).await;
    assert_eq!(mine.state, WithdrawalState::InFlight);
    assert_eq!((mine.lease_owner, mine.lease_until), (None, None));
    let other = row_of(&pool, theirs).await;
    assert_eq!(other.state, WithdrawalState::InFlight);
    assert_eq!(
        (other.lease_owner, other.lease_until),
        (held_by_b.lease_owner, held_by_b.lease_until),
        "another instance's lease is not ours to release"
    );
}

/// Once a stop has released this instance's leases, nothing of it takes a
/// row again: a late lease write of its own (a payment task cut at the
/// grace's end) would hide the row from the next payer until the lease ran
/// out. The service outlives the stop here, as a cut task's does.
async fn no_lease_is_taken_after_the_release(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let link: LinkView = create(&app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let w = first_step(&app, &link).await;
    let svc = app.svc.clone();
    app.stop(true).await;

    // The callback's claim, straight through the service: the HTTP server
    // is gone and the payer with it, so the row stays pending.
    let secret = w
        .callback
        .split("/lnurlw/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("secret in the callback URL");
    let (pr, hash) = wallet_invoice(1_000);
    svc.withdraw()
        .withdraw_callback(secret, &w.k1, &pr)
        .await
        .expect("claimed");
    let taken = svc
        .withdraw()
        .take_pending_withdrawals(10)
        .await
        .expect("take");
    assert!(taken.is_empty(), "taken after the release: {taken:?}");
    let row = row_of(&db.pool().await, hash).await;
    assert_eq!(row.state, WithdrawalState::Pending);
    assert_eq!((row.lease_owner, row.lease_until), (None, None));
    assert_eq!(fake.sends_for(hash), 0);
}

/// A withdrawal of a new single-use link on `app`, held by the node.
async fn claim(app: &TestApp, fake: &FakeLnd) -> PaymentHash {
    let link: LinkView = create(app, json!({"min_msat": 1_000, "max_msat": 1_000})).await;
    let w = first_step(app, &link).await;
    let (pr, hash) = wallet_invoice(1_000);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.expect("callback"),
        Response::Ok(())
    );
    eventually("the node holds the payment", AFTER_RESTART, || async {
        (fake.sends_for(hash) == 1).then_some(())
    })
    .await;
    hash
}

async fn row_of(pool: &Db, hash: PaymentHash) -> Withdrawal {
    let h = hash.to_hex();
    pool.run(move |c| Withdrawal::find_by_hash(c, &h))
        .await
        .expect("read")
        .expect("row")
}

/// An operator who sends a second signal does not wait for the grace (60 s
/// here): the process exits at once, as a crash would, so the lease is
/// left to run out rather than released.
async fn a_second_signal_exits_at_once(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let token = token(&db);
    let env = lnd_env(&db, &fake, "60");
    let served = serve(&db, &env).await;
    let w = link(&served, &token, 1).await;
    let (pr, hash) = wallet_invoice(1_000);
    let wallet = lnurl::AsyncClient::from_client(reqwest::Client::new());
    assert_eq!(
        wallet.do_withdrawal(&w, &pr).await.expect("callback"),
        Response::Ok(())
    );
    eventually("the node holds the payment", AFTER_RESTART, || async {
        (fake.sends_for(hash) == 1).then_some(())
    })
    .await;
    served.terminate();
    eventually("the payer is handing over", AFTER_RESTART, || async {
        served
            .log()
            .contains("payer: handing the last withdrawals")
            .then_some(())
    })
    .await;
    served.terminate();
    let (_, log) = served.exited(Duration::from_secs(10)).await;
    assert!(log.contains("second signal"), "{log}");
    let pool = db.pool().await;
    let row = row_of(&pool, hash).await;
    assert_eq!(row.state, WithdrawalState::InFlight, "{row:?}");
    assert!(row.lease_owner.is_some(), "not released: {row:?}");
}

/// The shutdown sweep alone: rows committed `pending` that nobody woke the
/// payer for (written straight to the database here, as another instance's
/// claims would be) are taken and sent by the stopping payer, though its
/// normal loop would only have looked for them at its next poll.
async fn pending_rows_nobody_woke_the_payer_for_are_sent_at_shutdown(db: TestDb) {
    let fake = FakeLnd::start().await;
    let token = token(&db);
    let env = lnd_env(&db, &fake, "5");
    let served = serve(&db, &env).await;
    let link_id = link_id(&served, &token, 5).await;
    let invoices: Vec<(String, PaymentHash)> = (0..5).map(|_| wallet_invoice(1_000)).collect();
    let hashes: Vec<PaymentHash> = invoices.iter().map(|(_, h)| *h).collect();
    let pool = db.pool().await;
    pool.transaction(move |c| {
        for (pr, hash) in invoices {
            let w = Withdrawal::pending(
                link_id.clone(),
                hash.to_hex(),
                pr,
                lnurld::db::types::Msat::new(1_000).expect("msat"),
                lnurld::db::types::Msat::new(50).expect("msat"),
                lnurld::db::now_unix(),
            );
            Withdrawal::insert(c, &w)?;
        }
        Ok(())
    })
    .await
    .expect("insert pending rows");
    served.terminate();
    let (clean, log) = served.exited(Duration::from_secs(30)).await;
    assert!(clean, "{log}");
    for h in &hashes {
        assert_eq!(fake.sends_for(*h), 1, "sent before exit: {h:?}\n{log}");
    }
    let stored = rows(&pool).await;
    assert!(
        stored.iter().all(|w| w.state != WithdrawalState::Pending),
        "none left pending: {stored:?}\n{log}"
    );
}

/// The id of a new 1,000 msat withdraw link of `uses` uses on `served`.
async fn link_id(served: &Served, token: &str, uses: u64) -> lnurld::db::types::WithdrawLinkId {
    let made = create_link(served, token, uses).await;
    lnurld::db::types::WithdrawLinkId::from_raw(made["id"].as_str().expect("id"))
}

/// "Logs say what was left pending": a row no payer can take (a trigger
/// refuses every change to it, as a failing database would) is still
/// `pending` at exit, and the exit's WARN line names it.
async fn rows_left_pending_at_exit_are_named_in_the_log(db: TestDb) {
    use diesel::connection::SimpleConnection;
    use lnurld::db::DbConn;
    let fake = FakeLnd::start().await;
    let token = token(&db);
    let env = lnd_env(&db, &fake, "1");
    let served = serve(&db, &env).await;
    let link_id = link_id(&served, &token, 1).await;
    let (pr, hash) = wallet_invoice(1_000);
    let row = Withdrawal::pending(
        link_id,
        hash.to_hex(),
        pr,
        lnurld::db::types::Msat::new(1_000).expect("msat"),
        lnurld::db::types::Msat::new(50).expect("msat"),
        lnurld::db::now_unix(),
    );
    let id = row.id.to_string();
    let pool = db.pool().await;
    let block = id.clone();
    pool.run(move |c| {
        let sql = match c {
            DbConn::Sqlite(_) => format!(
                "CREATE TRIGGER block_take BEFORE UPDATE ON withdrawals WHEN OLD.id = '{block}' \
                 BEGIN SELECT RAISE(ABORT, 'blocked by the test'); END;"
            ),
            DbConn::Pg(_) => format!(
                "CREATE FUNCTION block_take() RETURNS trigger AS $$ BEGIN \
                 RAISE EXCEPTION 'blocked by the test'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER block_take BEFORE UPDATE ON withdrawals FOR EACH ROW \
                 WHEN (OLD.id = '{block}') EXECUTE FUNCTION block_take();"
            ),
        };
        match c {
            DbConn::Sqlite(c) => c.batch_execute(&sql)?,
            DbConn::Pg(c) => c.batch_execute(&sql)?,
        }
        Withdrawal::insert(c, &row)
    })
    .await
    .expect("a row no payer can take");
    served.terminate();
    let (clean, log) = served.exited(Duration::from_secs(30)).await;
    assert!(clean, "{log}");
    let warn = log
        .lines()
        .find(|l| l.contains("left pending at exit"))
        .unwrap_or_else(|| panic!("no line about rows left pending: {log}"));
    assert!(warn.contains(&id), "{warn}");
    assert_eq!(fake.sends_for(hash), 0);
}

/// A new 1,000 msat withdraw link of `uses` uses on `served`, as the admin
/// API answers it.
async fn create_link(served: &Served, token: &str, uses: u64) -> Value {
    reqwest::Client::new()
        .request(
            Method::POST,
            format!("{}/api/v1/withdraw-links", served.base),
        )
        .bearer_auth(token)
        .json(&json!({"min_msat": 1_000, "max_msat": 1_000, "uses": uses}))
        .send()
        .await
        .expect("create withdraw link")
        .json()
        .await
        .expect("json")
}
