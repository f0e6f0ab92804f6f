//! The real `lnd` backend against the fake LND: TLS pinning, macaroon,
//! invoices, payments (dedup, in flight, tracking) and the settlement stream.

use std::str::FromStr;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use futures_util::StreamExt;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use lnurld::node::lnd::{LndConfig, LndNode};
use lnurld::node::{
    InvoiceRequest, InvoiceState, LightningNode, Network, NodeError, PaymentFailure,
    PaymentOutcome, Preimage, Settlement, SettlementStream,
};
use tokio::sync::mpsc;

use crate::support::fake_lnd::{FailureReason, FakeLnd, FakePaymentStatus, Finish, PayBehavior};

fn node(fake: &FakeLnd) -> LndNode {
    LndNode::connect(fake.lnd_config()).expect("connect")
}

fn wallet_invoice(amount_msat: u64) -> (String, lnurld::node::PaymentHash, Preimage) {
    FakeLnd::wallet_invoice(
        Some(amount_msat),
        Duration::from_secs(600),
        Currency::Regtest,
    )
}

fn invoice_request(amount_msat: u64) -> InvoiceRequest {
    InvoiceRequest {
        amount_msat,
        description_hash: [7u8; 32],
        description: None,
        expiry_secs: 600,
        preimage: None,
    }
}

/// Polls `cond` until it holds or 10 s pass.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Settlements read by a background task, so that the (lazy) subscription
/// is made right away.
type Settlements = mpsc::UnboundedReceiver<Result<Settlement, NodeError>>;

fn forward(mut stream: SettlementStream) -> Settlements {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

/// Subscribes and waits until the fake has one more subscriber.
async fn subscribe(fake: &FakeLnd, lnd: &LndNode, after: u64) -> Settlements {
    let before = fake.invoice_subscribers();
    let rx = forward(lnd.settlements(after).await.expect("subscribe"));
    wait_until("subscription", || fake.invoice_subscribers() > before).await;
    rx
}

async fn next_settlement(rx: &mut Settlements) -> Settlement {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("settlement in time")
        .expect("stream open")
        .expect("settlement ok")
}

async fn assert_no_settlement(rx: &mut Settlements) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        panic!("unexpected settlement item: {item:?}");
    }
}

#[tokio::test]
async fn info_over_pinned_tls_with_ca_cert_and_ip_endpoint() {
    let fake = FakeLnd::start().await;
    // The endpoint is an IP while the cert names localhost and is CA=true.
    assert!(fake.endpoint().starts_with("https://127.0.0.1:"));
    let lnd = node(&fake);
    let info = lnd.info().await.expect("info");
    assert_eq!(info.network, Network::Regtest);
    assert_eq!(info.pubkey, fake.pubkey());
    assert_eq!(info.alias, "fake-lnd");
    assert!(info.synced_to_chain);
    assert_eq!(lnd.kind(), "lnd");

    // host:port without a scheme works too.
    let cfg = LndConfig {
        endpoint: fake.endpoint().trim_start_matches("https://").to_owned(),
        ..fake.lnd_config()
    };
    let info2 = LndNode::connect(cfg).unwrap().info().await.expect("info");
    assert_eq!(info2.pubkey, info.pubkey);

    let balance = lnd.balance().await.expect("balance");
    assert!(balance.local_msat > 0 && balance.remote_msat > 0);
}

#[tokio::test]
async fn debug_never_prints_the_macaroon() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);
    let dbg = format!("{lnd:?} {:?}", fake.lnd_config());
    assert!(!dbg.contains(&hex::encode(fake.macaroon())), "{dbg}");
}

#[tokio::test]
async fn created_invoice_is_a_real_signed_bolt11() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);
    let req = InvoiceRequest {
        amount_msat: 123_456, // not a whole number of sats
        description_hash: [0xab; 32],
        description: None,
        expiry_secs: 900,
        preimage: None,
    };
    let created = lnd.create_invoice(req).await.expect("invoice");
    let inv = Bolt11Invoice::from_str(&created.bolt11).expect("parse");
    assert!(inv.check_signature().is_ok());
    assert_eq!(inv.currency(), Currency::Regtest);
    assert_eq!(inv.amount_milli_satoshis(), Some(123_456));
    assert_eq!(inv.expiry_time(), Duration::from_secs(900));
    match inv.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) => assert_eq!(h.0.to_byte_array(), [0xab; 32]),
        other => panic!("expected a description hash, got {other:?}"),
    }
    assert_eq!(inv.payment_hash().to_byte_array(), created.payment_hash.0);
    assert_eq!(inv.get_payee_pub_key().to_string(), fake.pubkey());
    assert_eq!(created.add_index, 1);

    // A caller-chosen preimage is honoured.
    let preimage = Preimage([0x42; 32]);
    let created2 = lnd
        .create_invoice(InvoiceRequest {
            preimage: Some(preimage),
            ..invoice_request(1_000)
        })
        .await
        .expect("invoice with preimage");
    assert_eq!(created2.payment_hash, preimage.payment_hash());
    assert_eq!(created2.add_index, 2);
    let inv2 = Bolt11Invoice::from_str(&created2.bolt11).unwrap();
    assert_eq!(
        inv2.payment_hash().to_byte_array(),
        preimage.payment_hash().0
    );

    // Reusing the preimage fails: the hash exists.
    let err = lnd
        .create_invoice(InvoiceRequest {
            preimage: Some(preimage),
            ..invoice_request(1_000)
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Refused(ref m) if m.contains("already exists")),
        "{err:?}"
    );

    // Lookup: open, then settled.
    let status = lnd.invoice(created2.payment_hash).await.unwrap().unwrap();
    assert_eq!(status.state, InvoiceState::Open);
    assert_eq!(status.bolt11, created2.bolt11);
    fake.settle_invoice(created2.payment_hash);
    let status = lnd.invoice(created2.payment_hash).await.unwrap().unwrap();
    assert_eq!(status.state, InvoiceState::Settled);
    assert_eq!(status.preimage, Some(preimage));
    assert_eq!(status.amount_paid_msat, 1_000);
    assert_eq!(status.settle_index, 1);

    // Unknown invoice.
    let (_, unknown, _) = wallet_invoice(1_000);
    assert!(lnd.invoice(unknown).await.unwrap().is_none());
}

#[tokio::test]
async fn pay_succeeds_with_the_wallet_preimage_and_fee() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 12 });
    let (bolt11, hash, preimage) = wallet_invoice(50_000);
    let outcome = lnd
        .pay(&bolt11, 1_000, Duration::from_secs(5))
        .await
        .expect("pay");
    assert_eq!(
        outcome,
        PaymentOutcome::Succeeded {
            preimage: Some(preimage),
            fee_msat: 12
        }
    );
    let payments = fake.payments();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].payment_hash, hash);
    assert_eq!(payments[0].bolt11, bolt11);
    assert_eq!(payments[0].fee_limit_msat, 1_000);
    assert_eq!(payments[0].amount_msat, 50_000);
    assert!(payments[0].no_inflight_updates);
    assert_eq!(payments[0].timeout_seconds, 5);

    // Tracking reports the same.
    let tracked = lnd.payment(hash, Duration::ZERO).await.unwrap();
    assert_eq!(tracked, Some(outcome));
}

#[tokio::test]
async fn pay_failures_are_definite_and_a_failed_hash_may_be_retried() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);
    let (bolt11, hash, preimage) = wallet_invoice(10_000);

    fake.set_pay_behavior(PayBehavior::Fail(FailureReason::FailureReasonNoRoute));
    let outcome = lnd.pay(&bolt11, 100, Duration::from_secs(5)).await.unwrap();
    assert_eq!(outcome, PaymentOutcome::Failed(PaymentFailure::NoRoute));

    fake.set_pay_behavior(PayBehavior::Fail(
        FailureReason::FailureReasonInsufficientBalance,
    ));
    let outcome = lnd.pay(&bolt11, 100, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        outcome,
        PaymentOutcome::Failed(PaymentFailure::InsufficientBalance)
    );
    assert_eq!(
        lnd.payment(hash, Duration::ZERO).await.unwrap(),
        Some(PaymentOutcome::Failed(PaymentFailure::InsufficientBalance))
    );

    // A fee above the limit: lnd finds no route.
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 101 });
    let outcome = lnd.pay(&bolt11, 100, Duration::from_secs(5)).await.unwrap();
    assert_eq!(outcome, PaymentOutcome::Failed(PaymentFailure::NoRoute));

    // After failures, a new attempt may start and succeed.
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 0 });
    let outcome = lnd.pay(&bolt11, 100, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        outcome,
        PaymentOutcome::Succeeded {
            preimage: Some(preimage),
            fee_msat: 0
        }
    );
    assert_eq!(fake.payments().len(), 4);
}

#[tokio::test]
async fn held_payment_returns_in_flight_then_tracks_to_success() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);
    fake.set_pay_behavior(PayBehavior::Hold);
    let (bolt11, hash, preimage) = wallet_invoice(20_000);

    let started = Instant::now();
    let outcome = lnd.pay(&bolt11, 500, Duration::from_secs(1)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(outcome, PaymentOutcome::InFlight);
    assert!(took >= Duration::from_secs(1), "returned after {took:?}");
    assert!(took < Duration::from_secs(8), "returned after {took:?}");
    assert_eq!(fake.payments()[0].status, FakePaymentStatus::InFlight);

    // Answer at once: still in flight.
    assert_eq!(
        lnd.payment(hash, Duration::ZERO).await.unwrap(),
        Some(PaymentOutcome::InFlight)
    );
    // A bounded wait that ends before the release: in flight.
    assert_eq!(
        lnd.payment(hash, Duration::from_millis(300)).await.unwrap(),
        Some(PaymentOutcome::InFlight)
    );

    // A wait that sees the release.
    let release = {
        let lnd = lnd.clone();
        tokio::spawn(async move { lnd.payment(hash, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.release(hash));
    let tracked = release.await.unwrap().unwrap();
    assert_eq!(
        tracked,
        Some(PaymentOutcome::Succeeded {
            preimage: Some(preimage),
            fee_msat: 0
        })
    );
}

#[tokio::test]
async fn second_pay_of_the_same_hash_is_refused() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);

    // While in flight.
    fake.set_pay_behavior(PayBehavior::Hold);
    let (held, held_hash, _) = wallet_invoice(1_000);
    let first = lnd
        .pay(&held, 10, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(first, PaymentOutcome::InFlight);
    let err = lnd
        .pay(&held, 10, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::AlreadyInFlight), "{err:?}");
    assert!(!err.payment_definitely_not_started());

    // After success.
    fake.set_pay_behavior(PayBehavior::Succeed { fee_msat: 1 });
    let (paid, paid_hash, _) = wallet_invoice(2_000);
    let ok = lnd.pay(&paid, 10, Duration::from_secs(5)).await.unwrap();
    assert!(matches!(ok, PaymentOutcome::Succeeded { .. }));
    let err = lnd
        .pay(&paid, 10, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::AlreadyPaid), "{err:?}");

    // The fake saw four calls but recorded one payment per hash.
    assert_eq!(fake.send_attempts(), 4);
    let payments = fake.payments();
    assert_eq!(payments.len(), 2);
    assert_eq!(
        payments
            .iter()
            .filter(|p| p.payment_hash == held_hash)
            .count(),
        1
    );
    assert_eq!(
        payments
            .iter()
            .filter(|p| p.payment_hash == paid_hash)
            .count(),
        1
    );
}

#[tokio::test]
async fn invalid_invoices_are_refused_before_recording() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);

    let (mainnet, _, _) =
        FakeLnd::wallet_invoice(Some(1_000), Duration::from_secs(600), Currency::Bitcoin);
    let err = lnd
        .pay(&mainnet, 10, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::WrongNetwork), "{err:?}");

    let (expired, _, _) =
        FakeLnd::wallet_invoice(Some(1_000), Duration::from_secs(1), Currency::Regtest);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let err = lnd
        .pay(&expired, 10, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::InvoiceExpired), "{err:?}");

    let err = lnd
        .pay("lnbcrt1notaninvoice", 10, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::InvalidInvoice(_)), "{err:?}");

    let (amountless, _, _) =
        FakeLnd::wallet_invoice(None, Duration::from_secs(600), Currency::Regtest);
    let err = lnd
        .pay(&amountless, 10, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::InvalidInvoice(_)), "{err:?}");

    let own = lnd.create_invoice(invoice_request(5_000)).await.unwrap();
    let err = lnd
        .pay(&own.bolt11, 10, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::SelfPayment), "{err:?}");

    for e in [
        NodeError::WrongNetwork,
        NodeError::InvoiceExpired,
        NodeError::SelfPayment,
    ] {
        assert!(e.payment_definitely_not_started());
    }
    assert!(fake.payments().is_empty());
    assert_eq!(fake.send_attempts(), 5);
}

#[tokio::test]
async fn a_new_connection_tracks_a_held_payment_to_its_end() {
    let fake = FakeLnd::start().await;
    fake.set_pay_behavior(PayBehavior::Hold);
    let (bolt11, hash, _) = wallet_invoice(3_000);
    {
        let first = node(&fake);
        let outcome = first
            .pay(&bolt11, 10, Duration::from_millis(100))
            .await
            .unwrap();
        assert_eq!(outcome, PaymentOutcome::InFlight);
    } // the first node and its connection are gone ("crash")

    let fresh = node(&fake);
    assert_eq!(
        fresh.payment(hash, Duration::ZERO).await.unwrap(),
        Some(PaymentOutcome::InFlight)
    );
    let track = tokio::spawn(async move { fresh.payment(hash, Duration::from_secs(10)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(fake.finish(hash, Finish::Fail(FailureReason::FailureReasonTimeout)));
    assert_eq!(
        track.await.unwrap().unwrap(),
        Some(PaymentOutcome::Failed(PaymentFailure::Timeout))
    );

    // A hash lnd never saw.
    let (_, unknown, _) = wallet_invoice(1);
    assert_eq!(
        node(&fake).payment(unknown, Duration::ZERO).await.unwrap(),
        None
    );
    assert_eq!(
        node(&fake)
            .payment(unknown, Duration::from_secs(1))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn settlement_stream_replays_from_an_index_then_goes_live() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);
    let mut hashes = Vec::new();
    for i in 0..4u64 {
        let created = lnd
            .create_invoice(invoice_request(1_000 * (i + 1)))
            .await
            .unwrap();
        hashes.push(created.payment_hash);
    }

    // From 0: lnd replays nothing, so subscribe first and settle three.
    let mut from_zero = subscribe(&fake, &lnd, 0).await;
    for h in &hashes[..3] {
        fake.settle_invoice(*h);
    }
    for (i, h) in hashes[..3].iter().enumerate() {
        let s = next_settlement(&mut from_zero).await;
        assert_eq!(s.payment_hash, *h);
        assert_eq!(s.settle_index, i as u64 + 1);
        assert_eq!(s.preimage.payment_hash(), *h);
        assert_eq!(s.amount_paid_msat, 1_000 * (i as u64 + 1));
    }

    // From 2: only #3 is replayed, then #4 arrives live; no duplicates.
    let mut from_two = subscribe(&fake, &lnd, 2).await;
    let s3 = next_settlement(&mut from_two).await;
    assert_eq!((s3.settle_index, s3.payment_hash), (3, hashes[2]));
    fake.settle_invoice(hashes[3]);
    let s4 = next_settlement(&mut from_two).await;
    assert_eq!((s4.settle_index, s4.payment_hash), (4, hashes[3]));
    assert_no_settlement(&mut from_two).await;

    let s4b = next_settlement(&mut from_zero).await;
    assert_eq!(s4b.settle_index, 4);
    assert_no_settlement(&mut from_zero).await;

    // A late subscriber from 0 gets no backlog (lnd's rule), from 1 gets 2..4.
    let mut late_zero = subscribe(&fake, &lnd, 0).await;
    assert_no_settlement(&mut late_zero).await;
    let mut from_one = subscribe(&fake, &lnd, 1).await;
    let got: Vec<u64> = [
        next_settlement(&mut from_one).await,
        next_settlement(&mut from_one).await,
        next_settlement(&mut from_one).await,
    ]
    .iter()
    .map(|s| s.settle_index)
    .collect();
    assert_eq!(got, vec![2, 3, 4]);
}

#[tokio::test]
async fn wrong_macaroon_is_a_macaroon_error() {
    let fake = FakeLnd::start().await;
    let cfg = LndConfig {
        macaroon: vec![1, 2, 3, 4],
        ..fake.lnd_config()
    };
    let err = LndNode::connect(cfg).unwrap().info().await.unwrap_err();
    assert!(
        matches!(err, NodeError::Macaroon(ref m) if m.contains("verification failed")),
        "{err:?}"
    );

    let cfg = LndConfig {
        macaroon: vec![9; 8],
        ..fake.lnd_config()
    };
    let lnd = LndNode::connect(cfg).unwrap();
    let (bolt11, _, _) = wallet_invoice(1_000);
    let err = lnd
        .pay(&bolt11, 10, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::Macaroon(_)), "{err:?}");
    assert!(fake.payments().is_empty());

    assert!(matches!(
        LndNode::connect(LndConfig {
            macaroon: vec![],
            ..fake.lnd_config()
        }),
        Err(NodeError::Macaroon(_))
    ));
}

#[tokio::test]
async fn another_nodes_certificate_is_a_certificate_error() {
    let fake = FakeLnd::start().await;
    let other = FakeLnd::start().await;
    let cfg = LndConfig {
        tls_cert_pem: other.cert_pem(),
        ..fake.lnd_config()
    };
    let lnd = LndNode::connect(cfg).unwrap();
    let err = lnd.info().await.unwrap_err();
    assert!(matches!(err, NodeError::Certificate(_)), "{err:?}");
    let err = lnd
        .settlements(0)
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, NodeError::Certificate(_)), "{err:?}");

    assert!(matches!(
        LndNode::connect(LndConfig {
            tls_cert_pem: b"not a pem".to_vec(),
            ..fake.lnd_config()
        }),
        Err(NodeError::Certificate(_))
    ));
}

#[tokio::test]
async fn stopped_node_is_unreachable_and_comes_back() {
    let fake = FakeLnd::start().await;
    let lnd = node(&fake);
    lnd.info().await.expect("up");
    let mut settlements = subscribe(&fake, &lnd, 0).await;

    fake.stop().await;
    // The open stream ends or errors.
    let end = tokio::time::timeout(Duration::from_secs(10), settlements.recv())
        .await
        .expect("stream notices the stop");
    assert!(!matches!(end, Some(Ok(_))), "{end:?}");

    let err = lnd.info().await.unwrap_err();
    assert!(matches!(err, NodeError::Unreachable(_)), "{err:?}");
    let (bolt11, hash, _) = wallet_invoice(1_000);
    let err = lnd
        .pay(&bolt11, 10, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, NodeError::Unreachable(_)), "{err:?}");
    assert!(!err.payment_definitely_not_started());
    let err = lnd.payment(hash, Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, NodeError::Unreachable(_)), "{err:?}");

    // Nothing listening at all: a fresh client is unreachable too.
    let err = node(&fake).info().await.unwrap_err();
    assert!(matches!(err, NodeError::Unreachable(_)), "{err:?}");

    // Back on the same port: the same client reconnects.
    fake.restart().await;
    let mut ok = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if lnd.info().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "client reconnected after restart");
    wait_until("fake records nothing", || fake.payments().is_empty()).await;
}
