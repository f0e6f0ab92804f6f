//! Invoices a wallet would hand to a withdraw link: real, signed regtest
//! BOLT11s of a throwaway key, each with its own payment hash.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use rand::RngCore;

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// `n` fresh invoices of `amount_msat`, valid for an hour.
pub fn wallet_invoices(n: usize, amount_msat: u64) -> Vec<String> {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&random32()).expect("a 32-byte key");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (0..n)
        .map(|_| {
            let preimage = random32();
            InvoiceBuilder::new(Currency::Regtest)
                .description("load benchmark".into())
                .payment_hash(sha256::Hash::hash(&preimage))
                .payment_secret(PaymentSecret(random32()))
                .duration_since_epoch(now)
                .min_final_cltv_expiry_delta(40)
                .expiry_time(Duration::from_secs(3600))
                .amount_milli_satoshis(amount_msat)
                .build_signed(|m| secp.sign_ecdsa_recoverable(m, &key))
                .expect("a signed invoice")
                .to_string()
        })
        .collect()
}
