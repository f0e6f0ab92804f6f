//! The `dev` backend: the same behaviour as the lnd backend where it applies.

use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use lnurld::node::dev::DevNode;
use lnurld::node::{
    InvoiceRequest, InvoiceState, LightningNode, Network, NodeError, PaymentOutcome, Preimage,
};

use crate::support::fake_lnd::FakeLnd;

fn node() -> (tempfile::TempDir, DevNode) {
    let dir = tempfile::tempdir().unwrap();
    let n = DevNode::open(&dir.path().join("dev.key")).unwrap();
    (dir, n)
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

#[tokio::test]
async fn key_persists_and_info_is_regtest() {
    let dir = tempfile::tempdir().unwrap();
    let a = DevNode::open(&dir.path().join("dev.key"))
        .unwrap()
        .info()
        .await
        .unwrap();
    let b = DevNode::open(&dir.path().join("dev.key"))
        .unwrap()
        .info()
        .await
        .unwrap();
    assert_eq!(a.pubkey, b.pubkey);
    assert_eq!(a.network, Network::Regtest);
}

#[tokio::test]
async fn invoices_are_real_signed_regtest_bolt11() {
    let (_d, n) = node();
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
    // Reusing a preimage is refused, like lnd.
    assert!(n.create_invoice(req(1_000, Some(pre))).await.is_err());
}

#[tokio::test]
async fn pays_valid_invoices_once_and_refuses_bad_ones() {
    let (_d, n) = node();
    let (pr, hash, _) =
        FakeLnd::wallet_invoice(Some(10_000), Duration::from_secs(600), Currency::Regtest);
    let out = n.pay(&pr, 100, Duration::from_secs(5)).await.unwrap();
    assert!(matches!(out, PaymentOutcome::Succeeded { .. }));
    assert!(matches!(
        n.pay(&pr, 100, Duration::from_secs(5)).await,
        Err(NodeError::AlreadyPaid)
    ));
    assert_eq!(n.payment(hash, Duration::ZERO).await.unwrap(), Some(out));
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

#[tokio::test]
async fn settles_own_invoices_and_streams_settlements_from_an_index() {
    let (_d, n) = node();
    let mut hashes = Vec::new();
    for i in 0..4 {
        hashes.push(
            n.create_invoice(req(1_000 + i, None))
                .await
                .unwrap()
                .payment_hash,
        );
    }
    let idx: Vec<u64> = hashes[..3]
        .iter()
        .map(|h| n.settle(*h).unwrap().settle_index)
        .collect();
    assert!(
        idx.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive: {idx:?}"
    );
    assert!(
        n.settle(hashes[0]).is_err(),
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
    n.settle(hashes[3]).unwrap();
    let live = tokio::time::timeout(Duration::from_secs(5), from2.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(live.settle_index, idx[2] + 1);
    assert_eq!(live.payment_hash, hashes[3]);
    assert_eq!(live.preimage.payment_hash(), hashes[3]);

    // A restarted dev node (same key, fresh memory) keeps counting upwards,
    // so a watcher resuming from its stored index misses nothing.
    let restarted = DevNode::open(&_d.path().join("dev.key")).unwrap();
    let inv = restarted.create_invoice(req(1_000, None)).await.unwrap();
    assert!(restarted.settle(inv.payment_hash).unwrap().settle_index > idx[2] + 1);

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
