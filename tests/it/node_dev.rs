//! The `dev` backend: the same behaviour as the lnd backend where it applies,
//! with its invoices, payments, settle indexes and balance kept in lnurld's
//! database so they survive restarts.

use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use lnurl::Response;
use lnurld::db::models::WithdrawalState;
use lnurld::db::types::InvoiceStatus;
use lnurld::db::{Db, DbUrl};
use lnurld::node::dev::DevNode;
use lnurld::node::{
    InvoiceRequest, InvoiceState, LightningNode, Network, NodeError, PaymentFailure,
    PaymentOutcome, Preimage,
};
use lnurld::service::pay::{PayInvoiceView, PayLinkView};
use lnurld::service::withdraw::{LinkView, WithdrawalView};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::both_dbs;
use crate::support::app::{Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_lnd::FakeLnd;
use crate::support::wallet::{wallet_invoice, withdraw_request};

const WAIT: Duration = Duration::from_secs(20);
/// The starting balance the node-level tests give the dev node.
const START_MSAT: u64 = 1_000_000_000;

both_dbs!(
    key_persists_and_info_is_regtest,
    invoices_are_real_signed_regtest_bolt11,
    pays_valid_invoices_once_and_refuses_bad_ones,
    settles_own_invoices_and_streams_settlements_from_an_index,
    an_invoice_made_before_a_restart_is_settled_after_it,
    settle_indexes_are_not_reused_after_a_restart,
    balance_goes_down_when_it_pays_and_up_when_it_settles,
    a_withdrawal_beyond_the_balance_fails_and_gives_the_use_back,
);

/// The migrated database of `db`, with a pool of our own.
async fn pool(db: &TestDb) -> Db {
    let url = DbUrl::parse(&db.url()).unwrap();
    let pool = tokio::task::spawn_blocking(move || Db::connect(&url, 4))
        .await
        .unwrap()
        .unwrap();
    pool.migrate().await.unwrap();
    pool
}

/// A dev node on `db` (as one process of lnurld would open it).
async fn node(db: &TestDb) -> DevNode {
    DevNode::open(&db.dir().join("dev.key"), pool(db).await, START_MSAT).unwrap()
}

fn req(amount_msat: u64, preimage: Option<Preimage>) -> InvoiceRequest {
    InvoiceRequest {
        amount_msat,
        description_hash: [9u8; 32],
        description: None,
        expiry_secs: 600,
        preimage,
    }
}

async fn key_persists_and_info_is_regtest(db: TestDb) {
    let a = node(&db).await.info().await.unwrap();
    let b = node(&db).await.info().await.unwrap();
    assert_eq!(a.pubkey, b.pubkey);
    assert_eq!(a.network, Network::Regtest);
}

async fn invoices_are_real_signed_regtest_bolt11(db: TestDb) {
    let n = node(&db).await;
    let pre = Preimage([5u8; 32]);
    let inv = n.create_invoice(req(1_234_567, Some(pre))).await.unwrap();
    let parsed = Bolt11Invoice::from_str(&inv.bolt11).unwrap();
    parsed.check_signature().unwrap();
    assert_eq!(parsed.currency(), Currency::Regtest);
    assert_eq!(parsed.amount_milli_satoshis(), Some(1_234_567));
    assert_eq!(parsed.expiry_time(), Duration::from_secs(600));
    match parsed.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) => assert_eq!(h.0.as_ref() as &[u8], &[9u8; 32]),
        other => panic!("expected a description hash, got {other:?}"),
    }
    assert_eq!(inv.payment_hash, pre.payment_hash());
    assert_eq!(
        parsed.get_payee_pub_key().to_string(),
        n.info().await.unwrap().pubkey
    );
    // Reusing a preimage is refused, like lnd, also by a restarted node.
    assert!(n.create_invoice(req(1_000, Some(pre))).await.is_err());
    let again = node(&db).await;
    assert!(again.create_invoice(req(1_000, Some(pre))).await.is_err());
    let next = again.create_invoice(req(1_000, None)).await.unwrap();
    assert!(next.add_index > inv.add_index, "add indexes keep growing");
}

async fn pays_valid_invoices_once_and_refuses_bad_ones(db: TestDb) {
    let n = node(&db).await;
    let (pr, hash, _) =
        FakeLnd::wallet_invoice(Some(10_000), Duration::from_secs(600), Currency::Regtest);
    let out = n.pay(&pr, 100, Duration::from_secs(5)).await.unwrap();
    assert!(matches!(out, PaymentOutcome::Succeeded { .. }));
    assert!(matches!(
        n.pay(&pr, 100, Duration::from_secs(5)).await,
        Err(NodeError::AlreadyPaid)
    ));
    assert_eq!(
        n.payment(hash, Duration::ZERO).await.unwrap(),
        Some(out.clone())
    );
    // A restarted node remembers the payment: no second payment, and the
    // outcome can still be looked up.
    let restarted = node(&db).await;
    assert_eq!(
        restarted.payment(hash, Duration::ZERO).await.unwrap(),
        Some(out)
    );
    assert!(matches!(
        restarted.pay(&pr, 100, Duration::from_secs(5)).await,
        Err(NodeError::AlreadyPaid)
    ));
    let (unknown, unknown_hash, _) =
        FakeLnd::wallet_invoice(Some(1), Duration::from_secs(600), Currency::Regtest);
    drop(unknown);
    assert_eq!(n.payment(unknown_hash, Duration::ZERO).await.unwrap(), None);

    let (mainnet, _, _) =
        FakeLnd::wallet_invoice(Some(10_000), Duration::from_secs(600), Currency::Bitcoin);
    assert!(matches!(
        n.pay(&mainnet, 100, Duration::from_secs(5)).await,
        Err(NodeError::WrongNetwork)
    ));
    let (amountless, _, _) =
        FakeLnd::wallet_invoice(None, Duration::from_secs(600), Currency::Regtest);
    assert!(matches!(
        n.pay(&amountless, 100, Duration::from_secs(5)).await,
        Err(NodeError::InvalidInvoice(_))
    ));
    assert!(matches!(
        n.pay("lnbcrt1nonsense", 100, Duration::from_secs(5)).await,
        Err(NodeError::InvalidInvoice(_))
    ));
    let (expiring, _, _) =
        FakeLnd::wallet_invoice(Some(10_000), Duration::from_secs(1), Currency::Regtest);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(matches!(
        n.pay(&expiring, 100, Duration::from_secs(5)).await,
        Err(NodeError::InvoiceExpired)
    ));
}

async fn settles_own_invoices_and_streams_settlements_from_an_index(db: TestDb) {
    let n = node(&db).await;
    let mut hashes = Vec::new();
    for i in 0..4 {
        hashes.push(
            n.create_invoice(req(1_000 + i, None))
                .await
                .unwrap()
                .payment_hash,
        );
    }
    let mut idx = Vec::new();
    for h in &hashes[..3] {
        idx.push(n.settle(*h).await.unwrap().settle_index);
    }
    assert!(
        idx.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {idx:?}"
    );
    assert!(
        n.settle(hashes[0]).await.is_err(),
        "a settled invoice cannot settle twice"
    );
    let st = n.invoice(hashes[1]).await.unwrap().unwrap();
    assert_eq!(st.state, InvoiceState::Settled);
    assert_eq!(st.settle_index, idx[1]);
    assert_eq!(
        n.invoice(hashes[3]).await.unwrap().unwrap().state,
        InvoiceState::Open
    );

    let all: Vec<u64> = n
        .settlements(0)
        .await
        .unwrap()
        .take(3)
        .map(|s| s.unwrap().settle_index)
        .collect()
        .await;
    assert_eq!(all, idx);
    let mut from2 = n.settlements(idx[1]).await.unwrap();
    assert_eq!(from2.next().await.unwrap().unwrap().settle_index, idx[2]);
    n.settle(hashes[3]).await.unwrap();
    let live = tokio::time::timeout(Duration::from_secs(5), from2.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(live.settle_index, idx[2] + 1);
    assert_eq!(live.payment_hash, hashes[3]);
    assert_eq!(live.preimage.payment_hash(), hashes[3]);

    // A settlement made by another process on the same database reaches
    // this stream too (it is not told, it looks).
    let other = node(&db).await;
    let inv = other.create_invoice(req(1_000, None)).await.unwrap();
    let s = other.settle(inv.payment_hash).await.unwrap();
    assert_eq!(s.settle_index, idx[2] + 2);
    let seen = tokio::time::timeout(Duration::from_secs(10), from2.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(seen.payment_hash, inv.payment_hash);

    // Paying its own open invoice settles it with the real preimage.
    let own = n.create_invoice(req(5_000, None)).await.unwrap();
    match n.pay(&own.bolt11, 0, Duration::from_secs(5)).await.unwrap() {
        PaymentOutcome::Succeeded {
            preimage: Some(p), ..
        } => assert_eq!(p.payment_hash(), own.payment_hash),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        n.invoice(own.payment_hash).await.unwrap().unwrap().state,
        InvoiceState::Settled
    );
}

// ---- through the app: the dev node as `lnurld serve` runs it ----

fn typed<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// `local_msat` of `GET /api/v1/node`.
async fn balance(app: &TestApp) -> u64 {
    let (status, v) = app.api(Method::GET, "/api/v1/node", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "dev", "{v}");
    v["balance"]["local_msat"].as_u64().expect("local_msat")
}

async fn create_pay_link(app: &TestApp) -> PayLinkView {
    let (status, v) = app
        .api(
            Method::POST,
            "/api/v1/pay-links",
            Some(json!({"min_msat": 1_000, "max_msat": 1_000_000, "description": "dev"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    typed(v)
}

/// A pay invoice of `link` as a payer's wallet gets it: its payment hash.
async fn pay_invoice(app: &TestApp, link: &PayLinkView, amount_msat: u64) -> String {
    let url = app.url(&format!(
        "/lnurlp/{}/callback?amount={amount_msat}",
        link.id.as_str()
    ));
    let (status, v) = app.get_json(&url).await;
    assert_eq!(status, 200, "{v}");
    let pr = v["pr"].as_str().unwrap_or_else(|| panic!("no pr: {v}"));
    let inv = Bolt11Invoice::from_str(pr).expect("bolt11");
    hex::encode(AsRef::<[u8; 32]>::as_ref(inv.payment_hash()))
}

/// `POST /api/v1/dev/invoices/{hash}/settle`: the settle index.
async fn dev_settle(app: &TestApp, hash: &str) -> u64 {
    let (status, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/dev/invoices/{hash}/settle"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["settle_index"].as_u64().expect("settle_index")
}

/// Waits until the watcher has recorded `hash` as settled.
async fn wait_settled(app: &TestApp, link: &PayLinkView, hash: &str) {
    eventually(&format!("pay invoice {hash} settled"), WAIT, || async {
        let (status, v) = app
            .api(
                Method::GET,
                &format!("/api/v1/pay-links/{}/invoices?limit=500", link.id.as_str()),
                None,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let page: Vec<PayInvoiceView> = typed(v["data"].clone());
        page.iter()
            .any(|i| i.payment_hash == hash && i.state == InvoiceStatus::Settled)
            .then_some(())
    })
    .await;
}

async fn create_withdraw(app: &TestApp, amount_msat: u64) -> LinkView {
    typed(
        app.create_withdraw(json!({"min_msat": amount_msat, "max_msat": amount_msat}))
            .await,
    )
}

/// Withdraws `amount_msat` from `link` with a fresh wallet invoice and
/// waits until the withdrawal is final (`succeeded` or `failed`).
async fn withdraw(app: &TestApp, link: &LinkView, amount_msat: u64) -> WithdrawalView {
    let w = withdraw_request(app, &link.lnurl).await;
    let (pr, hash) = wallet_invoice(amount_msat);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.unwrap(),
        Response::Ok(())
    );
    let hash = hash.to_hex();
    eventually(&format!("withdrawal {hash} final"), WAIT, || async {
        let view: LinkView = typed(app.withdraw_link(link.id.as_str()).await);
        view.withdrawals.unwrap_or_default().into_iter().find(|w| {
            w.payment_hash == hash
                && matches!(
                    w.state,
                    WithdrawalState::Succeeded | WithdrawalState::Failed
                )
        })
    })
    .await
}

async fn an_invoice_made_before_a_restart_is_settled_after_it(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let link = create_pay_link(&app).await;
    let hash = pay_invoice(&app, &link, 21_000).await;
    app.stop(true).await;

    let app = TestApp::start(&db, Node::Dev).await;
    dev_settle(&app, &hash).await;
    wait_settled(&app, &link, &hash).await;
    // Settled once: a second settle is refused.
    let (status, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/dev/invoices/{hash}/settle"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{v}");
    app.stop(true).await;
}

async fn settle_indexes_are_not_reused_after_a_restart(db: TestDb) {
    let app = TestApp::start(&db, Node::Dev).await;
    let link = create_pay_link(&app).await;
    let first = pay_invoice(&app, &link, 1_000).await;
    let second = pay_invoice(&app, &link, 2_000).await;
    let first_index = dev_settle(&app, &first).await;
    wait_settled(&app, &link, &first).await;
    app.stop(true).await;

    let app = TestApp::start(&db, Node::Dev).await;
    let second_index = dev_settle(&app, &second).await;
    assert!(
        second_index > first_index,
        "settle index {second_index} after a restart, {first_index} before"
    );
    // The watcher resumed from the index it stored and still sees it.
    wait_settled(&app, &link, &second).await;
    app.stop(true).await;
}

async fn balance_goes_down_when_it_pays_and_up_when_it_settles(db: TestDb) {
    let app = TestApp::start_with(&db, Node::Dev, |c| c.node.dev_balance_sat = 100).await;
    assert_eq!(balance(&app).await, 100_000);

    let link = create_withdraw(&app, 30_000).await;
    let done = withdraw(&app, &link, 30_000).await;
    assert_eq!(done.state, WithdrawalState::Succeeded, "{done:?}");
    assert_eq!(balance(&app).await, 70_000, "amount plus fee (0) paid");

    let pay_link = create_pay_link(&app).await;
    let hash = pay_invoice(&app, &pay_link, 5_000).await;
    assert_eq!(balance(&app).await, 70_000, "an open invoice adds nothing");
    dev_settle(&app, &hash).await;
    wait_settled(&app, &pay_link, &hash).await;
    assert_eq!(balance(&app).await, 75_000);

    // Kept across a restart.
    app.stop(true).await;
    let app = TestApp::start_with(&db, Node::Dev, |c| c.node.dev_balance_sat = 100).await;
    assert_eq!(balance(&app).await, 75_000);
    app.stop(true).await;
}

async fn a_withdrawal_beyond_the_balance_fails_and_gives_the_use_back(db: TestDb) {
    let app = TestApp::start_with(&db, Node::Dev, |c| c.node.dev_balance_sat = 10).await;
    assert_eq!(balance(&app).await, 10_000);
    let link = create_withdraw(&app, 12_000).await;
    let failed = withdraw(&app, &link, 12_000).await;
    assert_eq!(failed.state, WithdrawalState::Failed, "{failed:?}");
    // The reason lnd's FAILURE_REASON_INSUFFICIENT_BALANCE gives.
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some(PaymentFailure::InsufficientBalance.to_string().as_str())
    );
    let view: LinkView = typed(app.withdraw_link(link.id.as_str()).await);
    assert_eq!(view.uses_left, 1, "use given back");
    assert_eq!(balance(&app).await, 10_000, "nothing paid");

    // Once an invoice of its own settles, the same link pays.
    let pay_link = create_pay_link(&app).await;
    let hash = pay_invoice(&app, &pay_link, 2_000).await;
    dev_settle(&app, &hash).await;
    wait_settled(&app, &pay_link, &hash).await;
    let paid = withdraw(&app, &link, 12_000).await;
    assert_eq!(paid.state, WithdrawalState::Succeeded, "{paid:?}");
    assert_eq!(balance(&app).await, 0);
    app.stop(true).await;
}
