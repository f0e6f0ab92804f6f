//! The `cln` backend: directly against the fake CLN (invoices, payments
//! with CLN's rules, the settlement loop, mTLS refusals), and end to end
//! through lnurld, where each scenario is written once over
//! [`FakeNode`] and run on both backends (LND and CLN) and both databases.

use std::str::FromStr;
use std::time::Duration;

use bitcoin::hashes::Hash;
use futures_util::StreamExt;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use lnurl::Response;
use serde_json::json;
use sha2::{Digest, Sha256};

use lnurld::config::Config;
use lnurld::db::models::WithdrawalState;
use lnurld::db::types::{InvoiceStatus, Msat};
use lnurld::node::cln::{ClnConfig, ClnNode};
use lnurld::node::{
    InvoiceRequest, InvoiceState, LightningNode, Network, NodeError, PaymentFailure,
    PaymentOutcome, Preimage,
};
use lnurld::{App, NodeCheck};

use crate::both_dbs;
use crate::pay::{create_pay, invoices_of};
use crate::support::app::{test_config, Node, TestApp};
use crate::support::db::TestDb;
use crate::support::eventually;
use crate::support::fake_cln::{make_certs, ClnCerts, ClnFinish, ClnPay, FakeCln};
use crate::support::fake_lnd::FakeLnd;
use crate::support::nodes::FakeNode;
use crate::support::wallet::wallet_invoice;
use crate::withdraw::{create, first_step, get_link, wait_state, withdrawal_states};

const WAIT: Duration = Duration::from_secs(20);
const PAY_TIMEOUT: Duration = Duration::from_secs(2);

fn config_for(fake: &FakeCln, certs: &ClnCerts) -> ClnConfig {
    ClnConfig {
        endpoint: fake.endpoint(),
        ca_cert_pem: certs.ca.as_bytes().to_vec(),
        client_cert_pem: certs.client.as_bytes().to_vec(),
        client_key_pem: certs.client_key.as_bytes().to_vec(),
        tls_domain: "cln".into(),
        ca_cert_name: "/plugin/ca.pem".into(),
        client_cert_name: "/plugin/client.pem".into(),
    }
}

fn node(fake: &FakeCln) -> ClnNode {
    ClnNode::connect(config_for(fake, fake.certs())).expect("connect")
}

fn request(description: &str, amount_msat: u64, preimage: Option<Preimage>) -> InvoiceRequest {
    InvoiceRequest {
        amount_msat,
        description_hash: Sha256::digest(description.as_bytes()).into(),
        description: Some(description.to_owned()),
        expiry_secs: 600,
        preimage,
    }
}

#[tokio::test]
async fn info_and_balance_over_mutual_tls() {
    let fake = FakeCln::start().await;
    let cln = node(&fake);
    assert_eq!(cln.kind(), "cln");
    let info = cln.info().await.expect("getinfo");
    assert_eq!(info.pubkey, fake.pubkey());
    assert_eq!(info.network, Network::Regtest);
    assert_eq!(info.block_height, 100);
    assert!(info.synced_to_chain);
    let b = cln.balance().await.expect("balance");
    // Only the CHANNELD_NORMAL channel counts, not the one on chain.
    assert_eq!(b.local_msat, 5_000_000_000);
    assert_eq!(b.remote_msat, 3_000_000_000);
}

#[tokio::test]
async fn invoices_commit_to_the_description_and_are_looked_up() {
    let fake = FakeCln::start().await;
    let cln = node(&fake);
    let metadata = r#"[["text/plain","coffee"]]"#;
    let created = cln
        .create_invoice(request(metadata, 12_345, None))
        .await
        .expect("invoice");
    let inv = Bolt11Invoice::from_str(&created.bolt11).unwrap();
    inv.check_signature().expect("signed");
    assert_eq!(inv.amount_milli_satoshis(), Some(12_345), "exact msat");
    assert_eq!(
        inv.expiry_time(),
        Duration::from_secs(600),
        "lnurld's expiry"
    );
    assert_eq!(inv.get_payee_pub_key().to_string(), fake.pubkey());
    match inv.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) => {
            let want: [u8; 32] = Sha256::digest(metadata.as_bytes()).into();
            assert_eq!(h.0.to_byte_array(), want, "h = sha256(metadata)");
        }
        other => panic!("expected a description hash, got {other:?}"),
    }
    assert_eq!(inv.payment_hash().to_byte_array(), created.payment_hash.0);
    let issued = fake.invoices();
    assert!(issued[0].deschashonly);
    assert_eq!(issued[0].description, metadata);
    assert!(
        issued[0].label.starts_with("lnurld-"),
        "{}",
        issued[0].label
    );
    assert_eq!(created.add_index, 1);

    // A caller's preimage is passed; reusing it is CLN's 901, kept in the error.
    let pre = Preimage([0x42; 32]);
    let second = cln
        .create_invoice(request(metadata, 1_000, Some(pre)))
        .await
        .expect("with preimage");
    assert_eq!(second.payment_hash, pre.payment_hash());
    assert_ne!(fake.invoices()[1].label, issued[0].label, "labels unique");
    let err = cln
        .create_invoice(request(metadata, 1_000, Some(pre)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Refused(ref m) if m.starts_with("CLN error 901: ")),
        "{err:?}"
    );
    // A description that does not hash to the hash is never sent.
    let mut bad = request(metadata, 1_000, None);
    bad.description = Some("other".into());
    assert!(matches!(
        cln.create_invoice(bad).await,
        Err(NodeError::Protocol(_))
    ));
    assert_eq!(fake.invoices().len(), 2);

    let open = cln.invoice(created.payment_hash).await.unwrap().unwrap();
    assert_eq!(open.state, InvoiceState::Open);
    assert_eq!(open.settle_index, 0);
    let index = fake.settle_invoice(created.payment_hash);
    let paid = cln.invoice(created.payment_hash).await.unwrap().unwrap();
    assert_eq!(paid.state, InvoiceState::Settled);
    assert_eq!(paid.settle_index, index);
    assert_eq!(paid.amount_paid_msat, 12_345);
    assert_eq!(
        paid.preimage.map(|p| p.payment_hash()),
        Some(created.payment_hash)
    );
    let unknown = lnurld::node::PaymentHash([7; 32]);
    assert!(cln.invoice(unknown).await.unwrap().is_none());
}

#[tokio::test]
async fn xpay_outcomes_follow_clns_rules() {
    let fake = FakeCln::start().await;
    let cln = node(&fake);

    // Success: the payee's preimage, fee = sent - amount, lnurld's limits.
    fake.set_pay_behavior(ClnPay::Succeed { fee_msat: 9 });
    let (pr, hash, pre) = FakeCln::wallet_invoice(50_000);
    let out = cln.pay(&pr, 100, PAY_TIMEOUT).await.expect("pay");
    assert_eq!(
        out,
        PaymentOutcome::Succeeded {
            preimage: Some(pre),
            fee_msat: 9
        }
    );
    let p = &fake.payments()[0];
    assert_eq!(
        (p.method, p.maxfee_msat, p.retry_for),
        ("xpay", Some(100), Some(2))
    );
    // Paid again: xpay's 219, recognised, never a second record.
    let again = cln.pay(&pr, 100, PAY_TIMEOUT).await.unwrap_err();
    assert!(matches!(again, NodeError::AlreadyPaid), "{again:?}");
    assert_eq!(fake.payments().len(), 1);
    assert_eq!(
        cln.payment(hash, Duration::ZERO).await.unwrap(),
        Some(out.clone())
    );

    // 205 / 206: no record at all, a definite failure.
    fake.set_pay_behavior(ClnPay::Fail(205));
    let (pr, hash, _) = FakeCln::wallet_invoice(1_000);
    assert_eq!(
        cln.pay(&pr, 100, PAY_TIMEOUT).await.unwrap(),
        PaymentOutcome::Failed(PaymentFailure::NoRoute)
    );
    assert_eq!(cln.payment(hash, Duration::ZERO).await.unwrap(), None);
    fake.set_pay_behavior(ClnPay::Succeed { fee_msat: 101 });
    let (pr, _, _) = FakeCln::wallet_invoice(1_000);
    assert_eq!(
        cln.pay(&pr, 100, PAY_TIMEOUT).await.unwrap(),
        PaymentOutcome::Failed(PaymentFailure::NoRoute),
        "a fee above maxfee is CLN's 206"
    );
    // 210: attempts ran out.
    fake.set_pay_behavior(ClnPay::Fail(210));
    let (pr, _, _) = FakeCln::wallet_invoice(1_000);
    assert_eq!(
        cln.pay(&pr, 100, PAY_TIMEOUT).await.unwrap(),
        PaymentOutcome::Failed(PaymentFailure::Timeout)
    );
    // A give-up while ListPays still shows a part pending is in flight.
    fake.set_pay_behavior(ClnPay::FailWithPartPending(210));
    let (pr, hash, _) = FakeCln::wallet_invoice(1_000);
    assert_eq!(
        cln.pay(&pr, 100, PAY_TIMEOUT).await.unwrap(),
        PaymentOutcome::InFlight
    );
    assert!(fake.finish(hash, ClnFinish::Fail(210)));
    assert_eq!(
        cln.payment(hash, Duration::ZERO).await.unwrap(),
        Some(PaymentOutcome::Failed(PaymentFailure::Error))
    );
    // 207: expired, an error the payer confirms before failing.
    let (expired, _, _) = FakeLnd::wallet_invoice(
        Some(1_000),
        Duration::from_secs(1),
        lightning_invoice::Currency::Regtest,
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = cln.pay(&expired, 100, PAY_TIMEOUT).await.unwrap_err();
    assert!(matches!(err, NodeError::InvoiceExpired), "{err:?}");
    assert!(err.payment_definitely_not_started());

    // Held: in flight after the timeout; a second pay is -3 "still in
    // progress" (AlreadyInFlight), tracking follows it to its end.
    fake.set_pay_behavior(ClnPay::Hold);
    let (pr, hash, pre) = FakeCln::wallet_invoice(2_000);
    assert_eq!(
        cln.pay(&pr, 100, Duration::from_secs(1)).await.unwrap(),
        PaymentOutcome::InFlight
    );
    let err = cln.pay(&pr, 100, PAY_TIMEOUT).await.unwrap_err();
    assert!(matches!(err, NodeError::AlreadyInFlight), "{err:?}");
    assert_eq!(
        cln.payment(hash, Duration::ZERO).await.unwrap(),
        Some(PaymentOutcome::InFlight)
    );
    // Tracking with a wait keeps asking while the payment is pending, and
    // answers its end once the node has it.
    let (finished, tracked) = tokio::join!(
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            fake.finish(hash, ClnFinish::Succeed { fee_msat: 4 })
        },
        cln.payment(hash, WAIT)
    );
    assert!(finished);
    assert_eq!(
        tracked.unwrap(),
        Some(PaymentOutcome::Succeeded {
            preimage: Some(pre),
            fee_msat: 4
        })
    );
}

#[tokio::test]
async fn a_node_without_xpay_is_paid_with_pay() {
    let fake = FakeCln::start().await;
    fake.set_xpay(false);
    let cln = node(&fake);
    fake.set_pay_behavior(ClnPay::Succeed { fee_msat: 3 });
    let (pr, _, pre) = FakeCln::wallet_invoice(10_000);
    let first = cln.pay(&pr, 50, PAY_TIMEOUT).await.expect("pay");
    assert_eq!(
        first,
        PaymentOutcome::Succeeded {
            preimage: Some(pre),
            fee_msat: 3
        }
    );
    let p = &fake.payments()[0];
    assert_eq!(
        (p.method, p.maxfee_msat, p.retry_for),
        ("pay", Some(50), Some(2)),
        "lnurld's fee limit and payment timeout, not CLN's defaults"
    );
    // pay answers the earlier success again, without paying twice.
    assert_eq!(cln.pay(&pr, 50, PAY_TIMEOUT).await.unwrap(), first);
    assert_eq!(fake.payments().len(), 1);
}

/// A node that cannot be reached when lnurld first asks `Help` is asked
/// again on the next payment: a lost answer is not remembered as "this
/// node has no xpay", which would pay through `pay` for as long as lnurld
/// runs.
#[tokio::test]
async fn an_unanswered_help_is_asked_again() {
    let fake = FakeCln::start().await;
    let cln = node(&fake);
    fake.stop().await;
    let (pr, _, _) = FakeCln::wallet_invoice(10_000);
    let down = cln.pay(&pr, 50, PAY_TIMEOUT).await;
    assert!(matches!(down, Err(NodeError::Unreachable(_))), "{down:?}");
    assert!(fake.payments().is_empty());
    fake.restart().await;
    fake.set_pay_behavior(ClnPay::Succeed { fee_msat: 1 });
    cln.pay(&pr, 50, PAY_TIMEOUT).await.expect("pay");
    let methods: Vec<_> = fake.payments().iter().map(|p| p.method).collect();
    assert_eq!(methods, ["xpay"]);
}

#[tokio::test]
async fn settlements_resume_after_the_last_pay_index() {
    let fake = FakeCln::start().await;
    let cln = node(&fake);
    let mut hashes = Vec::new();
    for i in 0..3u64 {
        let c = cln
            .create_invoice(request("m", 1_000 + i, None))
            .await
            .unwrap();
        hashes.push(c.payment_hash);
    }
    // Paid in another order than created: pay_index decides.
    fake.settle_invoice(hashes[2]);
    fake.settle_invoice(hashes[0]);
    let mut all = cln.settlements(0).await.unwrap();
    let s1 = all.next().await.unwrap().unwrap();
    let s2 = all.next().await.unwrap().unwrap();
    assert_eq!((s1.payment_hash, s1.settle_index), (hashes[2], 1));
    assert_eq!((s2.payment_hash, s2.settle_index), (hashes[0], 2));
    assert_eq!(s1.preimage.payment_hash(), hashes[2]);
    assert_eq!(s1.amount_paid_msat, 1_002);

    // From a stored index only what came after, then live.
    let mut resumed = cln.settlements(1).await.unwrap();
    let s = resumed.next().await.unwrap().unwrap();
    assert_eq!(s.settle_index, 2);
    let live = tokio::spawn(async move { resumed.next().await.unwrap().unwrap() });
    eventually("the stream waits at the node", WAIT, || async {
        (fake.wait_calls() >= 4).then_some(())
    })
    .await;
    fake.settle_invoice(hashes[1]);
    let s = tokio::time::timeout(WAIT, live).await.unwrap().unwrap();
    assert_eq!((s.payment_hash, s.settle_index), (hashes[1], 3));
}

// ---------------------------------------------------------------------------
// mTLS refusals: each names the file at fault.

/// `App::build` against `fake` with `cfg` changed; the start error's text.
async fn start_error(db: &TestDb, fake: &FakeCln, tweak: impl FnOnce(&mut Config)) -> String {
    let mut config = test_config(db, Node::Cln(fake), lnurld_port());
    tweak(&mut config);
    let err = match config.validate() {
        Err(e) => return e.to_string(),
        Ok(()) => App::build(config, NodeCheck::Required).await.err(),
    };
    let text = err.expect("start must be refused").to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    text
}

fn lnurld_port() -> u16 {
    crate::support::free_port()
}

both_dbs!(mtls_refusals_name_the_file);

async fn mtls_refusals_name_the_file(db: TestDb) {
    let fake = FakeCln::start().await;
    let other = make_certs();
    let dir = db.dir().join("other-plugin");
    let (other_ca, other_client, other_key) = crate::support::fake_cln::write_pems(&other, &dir);

    // A client certificate of another CA: the node refuses it.
    let text = start_error(&db, &fake, |c| {
        c.node.client_cert = Some(other_client.clone());
        c.node.client_key = Some(other_key.clone());
    })
    .await;
    assert!(text.contains("client_cert"), "{text}");
    assert!(text.contains(&other_client.display().to_string()), "{text}");
    assert!(text.contains("refused this client certificate"), "{text}");

    // A CA that did not sign the server's certificate.
    let text = start_error(&db, &fake, |c| c.node.ca_cert = Some(other_ca.clone())).await;
    assert!(text.contains("ca_cert"), "{text}");
    assert!(text.contains(&other_ca.display().to_string()), "{text}");
    assert!(text.contains("not signed by this CA"), "{text}");

    // The right CA but another name than the certificate's.
    let text = start_error(&db, &fake, |c| {
        c.node.tls_domain = Some("node.example".into())
    })
    .await;
    assert!(text.contains("ca_cert"), "{text}");

    // A missing file and an unreadable key are config errors naming them.
    let missing = dir.join("nope.pem");
    let text = start_error(&db, &fake, |c| c.node.client_cert = Some(missing.clone())).await;
    assert!(text.starts_with("config: node.client_cert"), "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");
    let text = start_error(&db, &fake, |c| c.node.client_key = Some(other_ca.clone())).await;
    assert!(text.starts_with("config: node.client_key"), "{text}");
    assert!(text.contains("no PEM private key"), "{text}");

    // And the real files start.
    let app = TestApp::start(&db, Node::Cln(&fake)).await;
    app.stop(true).await;
}

// ---------------------------------------------------------------------------
// End to end on both backends.

/// Runs each scenario on LND and on CLN, each on both databases:
/// `node_cln::<scenario>::{lnd,cln}::{sqlite,postgres}`.
macro_rules! on_both_nodes {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use crate::support::db::TestDb;
                use crate::support::fake_cln::FakeCln;
                use crate::support::fake_lnd::FakeLnd;
                crate::both_dbs!(lnd, cln);
                async fn lnd(db: TestDb) {
                    super::$scenario::<FakeLnd>(db).await
                }
                async fn cln(db: TestDb) {
                    super::$scenario::<FakeCln>(db).await
                }
            }
        )*
    };
}

on_both_nodes!(
    withdraw_end_to_end,
    fifty_concurrent_callbacks_pay_once,
    crash_while_pending_then_success,
    crash_while_pending_then_failure_gives_the_use_back,
    pay_settlement_and_verify_across_a_restart,
);

async fn withdraw_end_to_end<F: FakeNode>(db: TestDb) {
    let fake = F::start().await;
    fake.pay_succeed(7);
    let app = TestApp::start(&db, fake.node()).await;
    let link = create(&app, json!({"min_msat": 100_000, "max_msat": 100_000})).await;
    let w = first_step(&app, &link).await;
    let (pr, hash) = wallet_invoice(100_000);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.unwrap(),
        Response::Ok(())
    );
    let done = wait_state(&app, &link.id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(done.fee_msat.map(Msat::get), Some(7), "{}", F::KIND);
    assert!(done.preimage.is_some());
    // The fee limit follows [withdraw]: max(2000 msat, 1% of 100000 msat).
    assert_eq!(fake.recorded_fee_limits(), vec![2_000]);
    assert_eq!(get_link(&app, &link.id).await.uses_left, 0);
    app.stop(true).await;
}

async fn fifty_concurrent_callbacks_pay_once<F: FakeNode>(db: TestDb) {
    let fake = F::start().await;
    let app = TestApp::start(&db, fake.node()).await;
    let link = create(&app, json!({"min_msat": 1_000, "max_msat": 50_000})).await;
    let w = first_step(&app, &link).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (w, wallet) = (w.clone(), app.wallet());
        let (pr, _) = wallet_invoice(10_000);
        tasks.push(tokio::spawn(
            async move { wallet.do_withdrawal(&w, &pr).await },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap().expect("answer") == Response::Ok(()) {
            ok += 1;
        }
    }
    assert_eq!(ok, 1, "exactly one callback accepted");
    let id = link.id.clone();
    eventually("the accepted withdrawal is paid", WAIT, || async {
        let ws = withdrawal_states(&app, &id).await;
        (ws.len() == 1 && ws[0].state == WithdrawalState::Succeeded).then_some(())
    })
    .await;
    assert_eq!(
        fake.send_attempts(),
        1,
        "{}: one pay reached the node",
        F::KIND
    );
    app.stop(true).await;
}

/// Claims a 5,000 msat single-use link and waits until the node holds it.
async fn held<F: FakeNode>(
    app: &TestApp,
    fake: &F,
) -> (lnurld::db::types::WithdrawLinkId, lnurld::node::PaymentHash) {
    fake.pay_hold();
    let link = create(app, json!({"min_msat": 5_000, "max_msat": 5_000})).await;
    let w = first_step(app, &link).await;
    let (pr, hash) = wallet_invoice(5_000);
    assert_eq!(
        app.wallet().do_withdrawal(&w, &pr).await.unwrap(),
        Response::Ok(())
    );
    wait_state(app, &link.id, &hash.to_hex(), WithdrawalState::InFlight).await;
    eventually("the node holds the payment", WAIT, || async {
        (fake.recorded_fee_limits().len() == 1).then_some(())
    })
    .await;
    (link.id, hash)
}

async fn crash_while_pending_then_success<F: FakeNode>(db: TestDb) {
    let fake = F::start().await;
    let app = TestApp::start(&db, fake.node()).await;
    let (id, hash) = held(&app, &fake).await;
    app.stop(false).await;
    let before = fake.tracks_for(hash);
    let app2 = TestApp::start(&db, fake.node()).await;
    eventually("the new instance tracks the payment", WAIT, || async {
        (fake.tracks_for(hash) >= before + 3).then_some(())
    })
    .await;
    assert_eq!(fake.send_attempts(), 1, "{}: never sent again", F::KIND);
    assert!(fake.finish_paid(hash, 3));
    let done = wait_state(&app2, &id, &hash.to_hex(), WithdrawalState::Succeeded).await;
    assert_eq!(done.fee_msat.map(Msat::get), Some(3));
    assert_eq!(fake.send_attempts(), 1);
    app2.stop(true).await;
}

async fn crash_while_pending_then_failure_gives_the_use_back<F: FakeNode>(db: TestDb) {
    let fake = F::start().await;
    let app = TestApp::start(&db, fake.node()).await;
    let (id, hash) = held(&app, &fake).await;
    assert_eq!(get_link(&app, &id).await.uses_left, 0);
    app.stop(false).await;
    let app2 = TestApp::start(&db, fake.node()).await;
    assert!(fake.finish_no_route(hash));
    wait_state(&app2, &id, &hash.to_hex(), WithdrawalState::Failed).await;
    assert_eq!(get_link(&app2, &id).await.uses_left, 1, "use given back");
    assert_eq!(fake.send_attempts(), 1, "{}: never sent again", F::KIND);
    app2.stop(true).await;
}

async fn pay_settlement_and_verify_across_a_restart<F: FakeNode>(db: TestDb) {
    let fake = F::start().await;
    let app = TestApp::start(&db, fake.node()).await;
    let link = create_pay(
        &app,
        json!({"min_msat": 1_000, "max_msat": 50_000, "description": "x"}),
    )
    .await;
    let id = link.id.as_str();
    let pay = crate::pay::pay_response(&app, &app.url(&format!("/lnurlp/{id}"))).await;
    let cb = app.url(&format!("/lnurlp/{id}/callback"));
    let mut verify = Vec::new();
    for amount in [1_000, 2_001, 3_000] {
        let (_, v) = app.get_json(&format!("{cb}?amount={amount}")).await;
        let pr = v["pr"].as_str().unwrap();
        let inv = Bolt11Invoice::from_str(pr).unwrap();
        assert_eq!(inv.amount_milli_satoshis(), Some(amount));
        let want: [u8; 32] = Sha256::digest(pay.metadata.as_bytes()).into();
        match inv.description() {
            Bolt11InvoiceDescriptionRef::Hash(h) => {
                assert_eq!(
                    h.0.to_byte_array(),
                    want,
                    "{}: h = sha256(metadata)",
                    F::KIND
                )
            }
            other => panic!("expected a description hash, got {other:?}"),
        }
        verify.push(v["verify"].as_str().unwrap().to_owned());
    }
    let issued = fake.issued();
    assert_eq!(issued.len(), 3);
    let (_, v) = app.get_json(&verify[0]).await;
    assert_eq!(v["settled"], false);
    fake.settle(issued[0].0);
    eventually("the watcher records the settlement", WAIT, || async {
        let (_, v) = app.get_json(&verify[0]).await;
        (v["settled"] == true).then_some(v)
    })
    .await;

    // Paid while lnurld is down: recorded after the restart.
    app.stop(false).await;
    fake.settle(issued[1].0);
    let app2 = TestApp::start(&db, fake.node()).await;
    eventually("caught up after the restart", WAIT, || async {
        let inv = invoices_of(&app2, id).await;
        let settled = inv
            .iter()
            .filter(|i| i.state == InvoiceStatus::Settled)
            .count();
        (settled == 2).then_some(())
    })
    .await;
    fake.settle(issued[2].0);
    for (i, (hash, pre)) in issued.iter().enumerate() {
        let url = app2.url(&format!("/lnurlp/verify/{}", hash.to_hex()));
        let v = eventually("LUD-21 verify says settled", WAIT, || async {
            let (_, v) = app2.get_json(&url).await;
            (v["settled"] == true).then_some(v)
        })
        .await;
        assert_eq!(v["preimage"], pre.to_hex(), "{} invoice {i}", F::KIND);
    }
    assert_eq!(app2.svc.pay().stored_settle_index().await.unwrap(), 3);
    app2.stop(true).await;
}
