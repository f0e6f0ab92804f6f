//! Foreign payees for the tests: real signed BOLT11 invoices of a wallet
//! that is not the fake node, and the preimage a payment to one reveals.
//!
//! The wallet derives each invoice's preimage from the invoice's payment
//! secret and a key every fake knows (stateless, as LDK's inbound payments
//! derive theirs), so a fake that pays a wallet invoice reports the payee's
//! real preimage without any registry shared between tests.

use std::str::FromStr;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::SecretKey;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Currency, Description};
use lnurld::node::{PaymentHash, Preimage};

use super::invoices::sign_invoice;
use super::{random32, FakeLnd};

/// The test wallet's key for deriving preimages (not a secret: only fakes
/// and the tests' wallet use it).
const WALLET_PREIMAGE_KEY: &[u8] = b"lnurld tests: wallet preimage key";

/// The preimage of the wallet invoice with this payment secret.
fn wallet_preimage(payment_secret: [u8; 32]) -> Preimage {
    let mut data = WALLET_PREIMAGE_KEY.to_vec();
    data.extend_from_slice(&payment_secret);
    Preimage(sha256::Hash::hash(&data).to_byte_array())
}

/// The preimage the payee of `bolt11` reveals when paid: known when it is a
/// wallet invoice of [`FakeLnd::wallet_invoice`], `None` otherwise.
pub(crate) fn payee_preimage(bolt11: &str) -> Option<Preimage> {
    let inv = Bolt11Invoice::from_str(bolt11).ok()?;
    let preimage = wallet_preimage(inv.payment_secret().0);
    (preimage.payment_hash().0 == inv.payment_hash().to_byte_array()).then_some(preimage)
}

impl FakeLnd {
    /// A real signed BOLT11 of a *foreign* payee (a wallet's invoice): random
    /// node key and payment secret, the preimage derived from the secret (so
    /// paying it through any fake reports this preimage).
    pub fn wallet_invoice(
        amount_msat: Option<u64>,
        expiry: Duration,
        currency: Currency,
    ) -> (String, PaymentHash, Preimage) {
        let key = SecretKey::from_slice(&random32()).expect("key");
        let payment_secret = random32();
        let preimage = wallet_preimage(payment_secret);
        let hash = preimage.payment_hash();
        let inv = sign_invoice(
            currency,
            &key,
            amount_msat,
            Bolt11InvoiceDescription::Direct(
                Description::new("wallet invoice".into()).expect("description"),
            ),
            hash.0,
            payment_secret,
            expiry,
            40,
            None,
        );
        (inv.to_string(), hash, preimage)
    }
}
