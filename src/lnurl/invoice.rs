//! `lnurl` layer: BOLT11 checks for the [LUD-03](https://github.com/lnurl/luds/blob/luds/03.md)
//! withdraw callback (DESIGN invariant 4: parse and signature, network, not
//! expired, amount present and within the link's bounds).
//!
//! Pure; imports only `lightning-invoice`. The caller passes the current time,
//! so these checks are deterministic and testable. Whether the payment hash was
//! already used is for the service layer (it needs the database).

use std::str::FromStr;

use lightning_invoice::{Bolt11Invoice, Currency};

use super::Error;

/// Inputs longer than this cannot be BOLT11 invoices (lightning-invoice's own cap).
const MAX_INVOICE_CHARS: usize = lightning_invoice::MAX_LENGTH;

/// A withdraw invoice that passed every check of [`check_withdraw_invoice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedInvoice {
    /// The invoice's payment hash.
    pub payment_hash: [u8; 32],
    /// The invoice's amount, in millisatoshis.
    pub amount_msat: u64,
    /// When the invoice expires, in unix seconds.
    pub expires_at: i64,
    /// The invoice, trimmed, without `lightning:` and lowercase.
    pub bolt11: String,
}

/// A person-readable name of a BOLT11 network.
pub fn currency_name(currency: &Currency) -> &'static str {
    match currency {
        Currency::Bitcoin => "Bitcoin mainnet",
        Currency::BitcoinTestnet => "Bitcoin testnet",
        Currency::Regtest => "Bitcoin regtest",
        Currency::Simnet => "Bitcoin simnet",
        Currency::Signet => "Bitcoin signet",
    }
}

/// Checks the `pr` a wallet sent to a withdraw callback.
///
/// Trims it, strips a `lightning:` prefix (any case), accepts an all-upper or
/// all-lower case invoice, parses it and verifies its signature, then requires:
/// the network `currency`, not expired at `now_unix` (expired when
/// `timestamp + expiry ≤ now`), an amount, and `min_msat ≤ amount ≤ max_msat`.
/// Never panics, whatever the input.
pub fn check_withdraw_invoice(
    pr: &str,
    currency: Currency,
    now_unix: i64,
    min_msat: u64,
    max_msat: u64,
) -> Result<CheckedInvoice, Error> {
    let bolt11 = normalized_bolt11(pr)?;
    let invoice = Bolt11Invoice::from_str(&bolt11)
        .map_err(|e| Error::InvalidInvoice(format!("not a valid BOLT11 invoice: {e}")))?;

    let got = invoice.currency();
    if got != currency {
        return Err(Error::WrongNetwork {
            expected: currency_name(&currency).into(),
            got: currency_name(&got).into(),
        });
    }

    let expires_at = invoice
        .expires_at()
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(i64::MAX);
    if expires_at <= now_unix {
        return Err(Error::InvoiceExpired);
    }

    let amount_msat = invoice
        .amount_milli_satoshis()
        .ok_or(Error::AmountlessInvoice)?;
    if amount_msat < min_msat {
        return Err(Error::AmountTooLow {
            amount_msat,
            min_msat,
        });
    }
    if amount_msat > max_msat {
        return Err(Error::AmountTooHigh {
            amount_msat,
            max_msat,
        });
    }

    let payment_hash: &[u8; 32] = invoice.payment_hash().as_ref();
    Ok(CheckedInvoice {
        payment_hash: *payment_hash,
        amount_msat,
        expires_at,
        bolt11,
    })
}

/// The invoice text in lower case, without spaces around it or a
/// `lightning:` prefix (any case); refuses what cannot be an invoice before
/// the decoder sees it.
fn normalized_bolt11(pr: &str) -> Result<String, Error> {
    let s = pr.trim();
    let s = strip_prefix_ignore_case(s, "lightning:")
        .unwrap_or(s)
        .trim();
    if s.is_empty() {
        return Err(Error::InvalidInvoice(
            "not a valid BOLT11 invoice: it is empty".into(),
        ));
    }
    if s.len() > MAX_INVOICE_CHARS {
        return Err(Error::InvalidInvoice(
            "not a valid BOLT11 invoice: it is too long".into(),
        ));
    }
    if !s.is_ascii() {
        return Err(Error::InvalidInvoice(
            "not a valid BOLT11 invoice: it contains characters that cannot be in an invoice"
                .into(),
        ));
    }
    if s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::InvalidInvoice(
            "not a valid BOLT11 invoice: it mixes upper and lower case letters".into(),
        ));
    }
    Ok(s.to_ascii_lowercase())
}

/// `s` without `prefix` when it starts with it, ignoring ASCII case (the
/// `lightning:` URI prefix; the bech32 tests strip it the same way).
pub(super) fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256, Hash};
    use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
    use lightning_invoice::{InvoiceBuilder, PaymentSecret};
    use std::time::Duration;

    const NOW: i64 = 1_800_000_000;

    struct Inv {
        currency: Currency,
        amount_msat: Option<u64>,
        timestamp: u64,
        expiry_secs: u64,
    }

    impl Default for Inv {
        fn default() -> Self {
            Inv {
                currency: Currency::Regtest,
                amount_msat: Some(50_000),
                timestamp: NOW as u64 - 10,
                expiry_secs: 3600,
            }
        }
    }

    fn key() -> SecretKey {
        loop {
            if let Ok(k) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                return k;
            }
        }
    }

    /// A real, signed invoice; returns it and the payee key.
    fn make(inv: Inv) -> (String, PublicKey, [u8; 32]) {
        let secp = Secp256k1::new();
        let sk = key();
        let hash: [u8; 32] = rand::random();
        let builder = InvoiceBuilder::new(inv.currency)
            .description("test".into())
            .payment_hash(sha256::Hash::from_byte_array(hash))
            .payment_secret(PaymentSecret([7; 32]))
            .duration_since_epoch(Duration::from_secs(inv.timestamp))
            .min_final_cltv_expiry_delta(144)
            .expiry_time(Duration::from_secs(inv.expiry_secs));
        let builder = match inv.amount_msat {
            Some(a) => builder.amount_milli_satoshis(a),
            None => builder,
        };
        let invoice = builder
            .build_signed(|msg| secp.sign_ecdsa_recoverable(msg, &sk))
            .unwrap();
        (
            invoice.to_string(),
            PublicKey::from_secret_key(&secp, &sk),
            hash,
        )
    }

    fn check(pr: &str) -> Result<CheckedInvoice, Error> {
        check_withdraw_invoice(pr, Currency::Regtest, NOW, 1_000, 100_000)
    }

    #[test]
    fn accepts_a_good_invoice() {
        let (pr, _, hash) = make(Inv::default());
        let c = check(&pr).unwrap();
        assert_eq!(c.amount_msat, 50_000);
        assert_eq!(c.payment_hash, hash);
        assert_eq!(c.expires_at, NOW - 10 + 3600);
        assert_eq!(c.bolt11, pr);
    }

    #[test]
    fn accepts_prefix_case_and_whitespace() {
        let (pr, _, _) = make(Inv::default());
        for input in [
            format!("lightning:{pr}"),
            format!("LIGHTNING:{}", pr.to_ascii_uppercase()),
            format!("  {}\n", pr.to_ascii_uppercase()),
            format!(" Lightning:{pr} "),
        ] {
            assert_eq!(check(&input).unwrap().bolt11, pr, "{input}");
        }
    }

    /// A default invoice for `amount_msat` (`None`: amountless).
    fn with_amount(amount_msat: Option<u64>) -> String {
        make(Inv {
            amount_msat,
            ..Inv::default()
        })
        .0
    }

    #[test]
    fn bounds_are_inclusive() {
        // 1_001: msat precision is kept (no rounding to sats).
        for amount in [1_000, 1_001, 100_000] {
            let pr = with_amount(Some(amount));
            assert_eq!(check(&pr).unwrap().amount_msat, amount);
        }
    }

    #[test]
    fn rejects_amounts_out_of_bounds() {
        for (amount, refusal) in [
            (
                Some(999),
                Error::AmountTooLow {
                    amount_msat: 999,
                    min_msat: 1_000,
                },
            ),
            (
                Some(100_001),
                Error::AmountTooHigh {
                    amount_msat: 100_001,
                    max_msat: 100_000,
                },
            ),
            (None, Error::AmountlessInvoice),
        ] {
            assert_eq!(check(&with_amount(amount)), Err(refusal));
        }
    }

    #[test]
    fn rejects_expired() {
        // Expires exactly now.
        let (pr, _, _) = make(Inv {
            timestamp: NOW as u64 - 3600,
            expiry_secs: 3600,
            ..Inv::default()
        });
        assert_eq!(check(&pr), Err(Error::InvoiceExpired));
        // One second left.
        let (pr, _, _) = make(Inv {
            timestamp: NOW as u64 - 3599,
            expiry_secs: 3600,
            ..Inv::default()
        });
        assert!(check(&pr).is_ok());
        // A short expiry long past.
        let (pr, _, _) = make(Inv {
            timestamp: NOW as u64 - 100,
            expiry_secs: 60,
            ..Inv::default()
        });
        assert_eq!(check(&pr), Err(Error::InvoiceExpired));
    }

    #[test]
    fn rejects_wrong_network() {
        for other in [
            Currency::Bitcoin,
            Currency::BitcoinTestnet,
            Currency::Signet,
            Currency::Simnet,
        ] {
            let (pr, _, _) = make(Inv {
                currency: other.clone(),
                ..Inv::default()
            });
            assert_eq!(
                check(&pr),
                Err(Error::WrongNetwork {
                    expected: "Bitcoin regtest".into(),
                    got: currency_name(&other).into(),
                })
            );
        }
        let (pr, _, _) = make(Inv {
            currency: Currency::Bitcoin,
            ..Inv::default()
        });
        assert!(check_withdraw_invoice(&pr, Currency::Bitcoin, NOW, 0, u64::MAX).is_ok());
    }

    #[test]
    fn rejects_bad_signature() {
        // Names payee A but is signed by B: well-formed bech32, invalid signature.
        let secp = Secp256k1::new();
        let (a, b) = (key(), key());
        let invoice = InvoiceBuilder::new(Currency::Regtest)
            .description("test".into())
            .payment_hash(sha256::Hash::from_byte_array([1; 32]))
            .payment_secret(PaymentSecret([7; 32]))
            .duration_since_epoch(Duration::from_secs(NOW as u64))
            .min_final_cltv_expiry_delta(144)
            .amount_milli_satoshis(50_000)
            .payee_pub_key(PublicKey::from_secret_key(&secp, &a))
            .build_signed(|msg| secp.sign_ecdsa_recoverable(msg, &b))
            .unwrap();
        let err = check(&invoice.to_string()).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInvoice(ref m) if m.contains("signature")),
            "{err:?}"
        );

        // Any changed character breaks the checksum.
        let (pr, _, _) = make(Inv::default());
        let mut chars: Vec<char> = pr.chars().collect();
        let i = chars.len() - 20;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let tampered: String = chars.into_iter().collect();
        assert!(matches!(check(&tampered), Err(Error::InvalidInvoice(_))));
    }

    #[test]
    fn never_panics_on_garbage() {
        let (pr, _, _) = make(Inv::default());
        let mut mixed = pr.clone();
        mixed.replace_range(0..4, "LNBC");
        let inputs = [
            String::new(),
            "   ".into(),
            "lightning:".into(),
            "lnbc".into(),
            "lnbc1".into(),
            "lnbcrt1".into(),
            "garbage".into(),
            "ünïcødé ⚡".into(),
            format!("{pr}ü"),
            mixed,
            "lnurl1dp68gurn8ghj7um5v93kketj9ehx2amn9uh8wetvdskkkmn0wahz7mrww4excup0dajx2mrv92x9xp"
                .into(),
            "q".repeat(1_000_000),
            format!("lnbcrt1{}", "q".repeat(7000)),
            pr[..pr.len() - 1].to_string(),
        ];
        for input in &inputs {
            let err = check(input).unwrap_err();
            assert!(
                matches!(err, Error::InvalidInvoice(ref m) if m.starts_with("not a valid BOLT11 invoice")),
                "{input:.40}: {err:?}"
            );
        }
    }
}
