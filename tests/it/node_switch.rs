//! Invariant 7 (issue 11): a node's records never meet another node's.
//! lnurld records the node it first ran with; `serve` refuses any other
//! until `lnurld node switch --confirm`; a withdrawal in flight on the old
//! node is never tracked or re-sent through the new one; every node keeps
//! its own settle index; and settlements replayed out of index order (lnd's
//! SQL invoice store replays in creation order) are all recorded.
//!
//! The new node is the fake LND started again under a new identity, whose
//! settle indexes start at 1 again, as a rebuilt or different lnd would.

use std::process::{Command, Output};
use std::time::Duration;

use lnurl::pay::PayResponse;
use lnurld::db::models::WithdrawalState;
use lnurld::db::types::InvoiceStatus;
use lnurld::service::pay::PayLinkView;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_dbs;
use crate::pay::{create_pay, invoices_of, pay_response};
use crate::support::app::{Node, TestApp, TEST_SECRET_KEY};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::{FakeLnd, Finish, PayBehavior};
use crate::withdraw::{get_link, held_in_flight, WAIT};

both_dbs!(
    a_node_switch_keeps_each_nodes_records_apart,
    settlements_replayed_in_creation_order_are_all_recorded,
    an_upgraded_database_gives_its_rows_to_the_node_it_finds,
    reconcile_finds_every_settled_open_invoice_page_by_page,
);

/// The `lnurld` binary on `db`, configured for `fake` through `LNURLD_*`
/// (as an operator's environment would), in `dir`.
fn lnurld(db: &TestDb, fake: &FakeLnd, dir: &std::path::Path, args: &[&str]) -> Output {
    let cert = dir.join("tls.cert");
    std::fs::write(&cert, fake.cert_pem()).expect("write cert");
    let mut c = Command::new(env!("CARGO_BIN_EXE_lnurld"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LNURLD_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "warn")
        .env("LNURLD_SECRET_KEY", TEST_SECRET_KEY)
        .env("LNURLD_NODE__KIND", "lnd")
        .env("LNURLD_NODE__ENDPOINT", fake.endpoint())
        .env("LNURLD_NODE__TLS_CERT", &cert)
        .env("LNURLD_NODE__MACAROON", hex::encode(fake.macaroon()))
        .args(["--database-url", &db.url(), "--listen", "127.0.0.1:0"])
        .args(args);
    // A server that (wrongly) starts would run forever: give it a deadline.
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("run lnurld");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("output")
}

/// A "Tips" pay link on `app`, and the URL its LNURL encodes.
async fn tips_link(app: &TestApp) -> (PayLinkView, String) {
    let link = create_pay(
        app,
        json!({"min_msat": 1_000, "max_msat": 100_000, "description": "Tips"}),
    )
    .await;
    let url = lnurl::lnurl::LnUrl::decode(link.lnurl.clone())
        .expect("lnurl")
        .url;
    (link, url)
}

/// One invoice of each amount from `pay`, one after another (so the node's
/// add indexes follow the amounts' order).
async fn invoices_for(app: &TestApp, pay: &PayResponse, amounts: &[u64]) {
    for &amount in amounts {
        app.wallet()
            .get_invoice(pay, amount, None, None)
            .await
            .expect("invoice");
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Events of `kind` as the admin API lists them.
async fn events(app: &TestApp, kind: &str) -> Vec<Value> {
    let (status, v) = app
        .api(Method::GET, &format!("/api/v1/events?type={kind}"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().cloned().expect("a list")
}

async fn a_node_switch_keeps_each_nodes_records_apart(db: TestDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = FakeLnd::start().await;
    old.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&old)).await;
    let (link, url) = tips_link(&app).await;
    // Three settlements on the old node: its stored settle index is 3.
    let pay = pay_response(&app, &url).await;
    invoices_for(&app, &pay, &[1_000, 2_000, 3_000]).await;
    for inv in old.invoices() {
        old.settle_invoice(inv.payment_hash);
    }
    eventually("three settlements recorded", WAIT, || async {
        let settled = invoices_of(&app, link.id.as_str())
            .await
            .iter()
            .filter(|i| i.state == InvoiceStatus::Settled)
            .count();
        (settled == 3).then_some(())
    })
    .await;
    // One invoice left open on the old node, one withdrawal in flight there.
    app.wallet()
        .get_invoice(&pay, 4_000, None, None)
        .await
        .expect("invoice");
    let open_on_old = old.invoices()[3].payment_hash;
    let (wl, held) = held_in_flight(&app).await;
    eventually("the old node holds the payment", WAIT, || async {
        (old.sends_for(held) == 1).then_some(())
    })
    .await;
    app.stop(true).await;

    // The same address now leads to another node.
    let new = FakeLnd::start().await;
    assert_ne!(new.pubkey(), old.pubkey());
    let refused = lnurld(&db, &new, dir.path(), &["serve"]);
    assert!(!refused.status.success(), "serve must refuse another node");
    let err = text(&refused.stderr);
    assert!(
        err.contains(&old.pubkey()) && err.contains(&new.pubkey()) && err.contains("node switch"),
        "names both nodes and the way out: {err}"
    );

    // A dry run and a confirmed run both refuse while a withdrawal is in
    // flight on the old node, and show it; nothing changes.
    for args in [&["node", "switch"][..], &["node", "switch", "--confirm"]] {
        let out = lnurld(&db, &new, dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains(&held.to_hex()),
            "{}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stderr).contains("--abandon-in-flight"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(!lnurld(&db, &new, dir.path(), &["serve"]).status.success());

    let out = lnurld(
        &db,
        &new,
        dir.path(),
        &["node", "switch", "--confirm", "--abandon-in-flight"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some(new.pubkey().as_str()),
        "{stdout}"
    );

    new.set_pay_behavior(PayBehavior::Succeed { fee_msat: 0 });
    let app = TestApp::start(&db, Node::Lnd(&new)).await;
    // The withdrawal set aside: shown, announced, and never sent or tracked
    // through the new node, past a lease (2 s) and several payer polls.
    let ws = get_link(&app, &wl).await.withdrawals.unwrap_or_default();
    assert_eq!(ws[0].state, WithdrawalState::NeedsReview);
    assert_eq!(ws[0].node_pubkey.as_deref(), Some(old.pubkey().as_str()));
    let review = events(&app, "withdraw.needs_review").await;
    assert_eq!(review.len(), 1, "{review:?}");
    assert_eq!(review[0]["payload"]["data"]["payment_hash"], held.to_hex());
    assert_eq!(review[0]["payload"]["data"]["state"], "needs_review");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(new.sends_for(held), 0, "never re-sent through the new node");
    assert_eq!(new.tracks_for(held), 0, "never tracked on the new node");
    assert_eq!(
        get_link(&app, &wl).await.withdrawals.unwrap_or_default()[0].state,
        WithdrawalState::NeedsReview,
        "never given back or failed"
    );

    // A live settlement on the new node (settle index 1, below the old
    // node's 3) is recorded.
    let pay = pay_response(&app, &url.replace(&url_base(&url), &app.base)).await;
    let inv = app
        .wallet()
        .get_invoice(&pay, 5_000, None, None)
        .await
        .expect("invoice");
    let on_new = new.invoices()[0].payment_hash;
    assert_eq!(new.settle_invoice(on_new), 1, "the new node counts from 1");
    eventually("the new node's settlement recorded", WAIT, || async {
        invoices_of(&app, link.id.as_str())
            .await
            .iter()
            .any(|i| i.bolt11 == inv.invoice() && i.state == InvoiceStatus::Settled)
            .then_some(())
    })
    .await;
    // Settlements on the new node while lnurld is down are replayed from
    // the new node's own settle index (1), not from the old node's (3),
    // which would skip indexes 2 and 3. Lookups fail: the replay alone.
    app.wallet()
        .get_invoice(&pay, 6_000, None, None)
        .await
        .expect("invoice");
    app.wallet()
        .get_invoice(&pay, 7_000, None, None)
        .await
        .expect("invoice");
    app.stop(true).await;
    let later: Vec<_> = new.invoices()[1..].iter().map(|i| i.payment_hash).collect();
    assert_eq!(later.len(), 2);
    assert_eq!(new.settle_invoice(later[0]), 2);
    assert_eq!(new.settle_invoice(later[1]), 3);
    new.fail_invoice_lookups(true);
    let app = TestApp::start(&db, Node::Lnd(&new)).await;
    eventually(
        "settlements 2 and 3 of the new node recorded",
        WAIT,
        || async { (settled_count(&app, link.id.as_str()).await == 6).then_some(()) },
    )
    .await;
    new.fail_invoice_lookups(false);

    // The old node's open invoice is not the new node's to answer for.
    let (_, v) = app
        .get_json(&app.url(&format!("/lnurlp/verify/{}", open_on_old.to_hex())))
        .await;
    assert_eq!(v["settled"], false, "{v}");
    assert_eq!(new.lookup_invoice_calls(open_on_old), 0);
    app.stop(true).await;

    // Back to the old node: nothing is in flight on the new one, so no
    // --abandon-in-flight is needed, and the old node's row comes back.
    let out = lnurld(&db, &old, dir.path(), &["node", "switch", "--confirm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().last(),
        Some(old.pubkey().as_str())
    );
    // Once switched, there is nothing more to switch.
    let again = lnurld(&db, &old, dir.path(), &["node", "switch", "--confirm"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("already"),
        "{}",
        text(&again.stdout)
    );
}

/// `scheme://host:port` of `url`.
fn url_base(url: &str) -> String {
    let u = url::Url::parse(url).expect("url");
    u.origin().ascii_serialization()
}

/// lnd's SQL invoice store replays settlements in creation order. Invoices
/// created 1, 2, 3 and settled 3, 1, 2 while lnurld was down come back as
/// settle indexes 3, 4, 2: none may be dropped for being below the last
/// index seen. Lookups fail here, so the stream alone must do it.
async fn settlements_replayed_in_creation_order_are_all_recorded(db: TestDb) {
    let fake = FakeLnd::start().await;
    fake.replay_in_creation_order(true);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let (link, url) = tips_link(&app).await;
    let pay = pay_response(&app, &url).await;
    invoices_for(&app, &pay, &[1_000, 2_000, 3_000, 4_000]).await;
    let hashes: Vec<_> = fake.invoices().iter().map(|i| i.payment_hash).collect();
    assert_eq!(fake.settle_invoice(hashes[0]), 1);
    eventually("the first settlement recorded", WAIT, || async {
        (settled_count(&app, link.id.as_str()).await == 1).then_some(())
    })
    .await;
    app.stop(true).await;

    for h in [hashes[3], hashes[1], hashes[2]] {
        fake.settle_invoice(h);
    }
    fake.fail_invoice_lookups(true);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    eventually("every replayed settlement recorded", WAIT, || async {
        (settled_count(&app, link.id.as_str()).await == 4).then_some(())
    })
    .await;
    app.stop(true).await;
}

/// Settled invoices of pay link `id`, as the admin API lists them.
async fn settled_count(app: &TestApp, id: &str) -> usize {
    invoices_of(app, id)
        .await
        .iter()
        .filter(|i| i.state == InvoiceStatus::Settled)
        .count()
}

/// A database written before nodes were recorded: no `nodes` row, rows
/// without a node, one global settle index. The first start records the
/// node it finds with that settle index and gives it those rows, so the
/// withdrawal in flight is tracked to its end and the open invoice settles.
async fn an_upgraded_database_gives_its_rows_to_the_node_it_finds(db: TestDb) {
    use diesel::prelude::*;
    use lnurld::db::models::node_state::{self, SETTLE_INDEX};
    use lnurld::db::models::NodeRecord;
    use lnurld::db::schema::{nodes, pay_invoices, withdrawals};

    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let (link, url) = tips_link(&app).await;
    let pay = pay_response(&app, &url).await;
    invoices_for(&app, &pay, &[1_000, 2_000]).await;
    let (settled, open) = (
        fake.invoices()[0].payment_hash,
        fake.invoices()[1].payment_hash,
    );
    assert_eq!(fake.settle_invoice(settled), 1);
    eventually("the first settlement recorded", WAIT, || async {
        (settled_count(&app, link.id.as_str()).await == 1).then_some(())
    })
    .await;
    let (wl, held) = held_in_flight(&app).await;
    eventually("the node holds the payment", WAIT, || async {
        (fake.sends_for(held) == 1).then_some(())
    })
    .await;
    app.stop(false).await;

    let pool = db.pool().await;
    pool.run(|c| {
        diesel::delete(nodes::table).execute(c)?;
        diesel::update(pay_invoices::table)
            .set(pay_invoices::node_pubkey.eq(None::<String>))
            .execute(c)?;
        diesel::update(withdrawals::table)
            .set(withdrawals::node_pubkey.eq(None::<String>))
            .execute(c)?;
        node_state::raise(c, SETTLE_INDEX, 1)
    })
    .await
    .expect("back to before nodes were recorded");

    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let recorded = pool
        .run(NodeRecord::current)
        .await
        .expect("read")
        .expect("a node recorded");
    assert_eq!(
        (recorded.pubkey.as_str(), recorded.settle_index),
        (fake.pubkey().as_str(), 1)
    );
    eventually("the in-flight payment tracked again", WAIT, || async {
        (fake.tracks_for(held) > 0).then_some(())
    })
    .await;
    assert!(fake.finish(held, Finish::Succeed { fee_msat: 1 }));
    eventually("the withdrawal paid", WAIT, || async {
        let ws = get_link(&app, &wl).await.withdrawals.unwrap_or_default();
        (ws[0].state == WithdrawalState::Succeeded).then_some(())
    })
    .await;
    assert_eq!(fake.sends_for(held), 1, "tracked, never sent again");
    fake.settle_invoice(open);
    eventually("the open invoice settles", WAIT, || async {
        (settled_count(&app, link.id.as_str()).await == 2).then_some(())
    })
    .await;
    app.stop(true).await;
}

/// Reconciling asks the node about every open invoice it issued, page by
/// page (500 a page), whatever their age: from settle index 0 lnd replays
/// nothing, so only lookups can find invoices paid while lnurld was down.
/// The first and the last of 520 invoices (the last is on the second page;
/// most share a creation second, so the page cursor must break ties).
async fn reconcile_finds_every_settled_open_invoice_page_by_page(db: TestDb) {
    let fake = FakeLnd::start().await;
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    let (_, url) = tips_link(&app).await;
    let pay = pay_response(&app, &url).await;
    for chunk in 0..26 {
        let mut tasks = Vec::new();
        for k in 0..20 {
            let (wallet, pay) = (app.wallet(), pay.clone());
            let amount = 1_000 + chunk * 20 + k;
            tasks.push(tokio::spawn(async move {
                wallet.get_invoice(&pay, amount, None, None).await
            }));
        }
        for t in tasks {
            t.await.expect("task").expect("invoice");
        }
    }
    app.stop(true).await;
    let invoices = fake.invoices();
    assert_eq!(invoices.len(), 520);
    let (first, last) = (invoices[0].payment_hash, invoices[519].payment_hash);
    fake.settle_invoice_unannounced(first);
    fake.settle_invoice_unannounced(last);
    let app = TestApp::start(&db, Node::Lnd(&fake)).await;
    // Counted in the database: the admin listing shows 500 at most, and
    // the first invoice may not be among the newest 500.
    let pool = db.pool().await;
    eventually("both found by lookups", WAIT, || async {
        let settled = pool
            .run(|c| {
                use diesel::prelude::*;
                use lnurld::db::schema::pay_invoices::dsl as i;
                Ok(i::pay_invoices
                    .filter(i::state.eq("settled"))
                    .count()
                    .get_result::<i64>(c)?)
            })
            .await
            .expect("count");
        (settled == 2).then_some(())
    })
    .await;
    app.stop(true).await;
}
