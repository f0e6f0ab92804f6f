//! `lnurl` layer: the one error type of the pure LNURL rules (all LUDs).
//!
//! Every `Display` text is meant for the person holding the wallet: it ends up
//! as the `reason` of a LUD error body (`{"status":"ERROR","reason":…}`), so it
//! says what is wrong in plain words and leaks no internals.

/// Formats a millisatoshi amount for people: `1000` → `1 sat`, `1500` → `1.5 sats`.
pub fn fmt_msat(amount_msat: u64) -> String {
    let sats = amount_msat / 1000;
    let rest = amount_msat % 1000;
    let unit = if amount_msat == 1000 { "sat" } else { "sats" };
    if rest == 0 {
        format!("{sats} {unit}")
    } else {
        let frac = format!("{rest:03}");
        format!("{sats}.{} {unit}", frac.trim_end_matches('0'))
    }
}

/// `1,234,567` (thousands separated, for people).
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Everything that can be wrong with LNURL input or output, as a wallet user would read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not a valid (signed, well-formed) BOLT11 invoice.
    #[error("{0}")]
    InvalidInvoice(String),
    /// The invoice is for another Bitcoin network than the one this service pays on.
    #[error("this invoice is for {got}, but this service pays on {expected}")]
    WrongNetwork {
        /// Human name of the network this service uses (e.g. "Bitcoin mainnet").
        expected: String,
        /// Human name of the invoice's network.
        got: String,
    },
    /// The invoice has already expired.
    #[error("this invoice has expired; please create a new one")]
    InvoiceExpired,
    /// The invoice has no amount; LNURL-withdraw needs one.
    #[error("this invoice has no amount; please create an invoice for a specific amount")]
    AmountlessInvoice,
    /// The amount is below the allowed minimum.
    #[error("the amount ({}) is below the minimum of {}", fmt_msat(*amount_msat), fmt_msat(*min_msat))]
    AmountTooLow {
        /// The amount asked for, in millisatoshis.
        amount_msat: u64,
        /// The smallest amount allowed, in millisatoshis.
        min_msat: u64,
    },
    /// The amount is above the allowed maximum.
    #[error("the amount ({}) is above the maximum of {}", fmt_msat(*amount_msat), fmt_msat(*max_msat))]
    AmountTooHigh {
        /// The amount asked for, in millisatoshis.
        amount_msat: u64,
        /// The largest amount allowed, in millisatoshis.
        max_msat: u64,
    },
    /// The text is not a valid LNURL (LUD-01).
    #[error("not a valid LNURL: {0}")]
    InvalidLnurl(String),
    /// The LUD-18 payer data sent by the wallet is missing something or malformed.
    #[error("invalid payer data: {0}")]
    InvalidPayerData(String),
    /// A LUD-09/10 success action breaks the spec's limits.
    #[error("invalid success action: {0}")]
    InvalidSuccessAction(String),
    /// LUD-06 metadata breaks the spec's limits (e.g. an image too large).
    #[error("invalid metadata: {0}")]
    InvalidMetadata(String),
    /// A LUD-10 AES payload could not be decrypted (wrong key, bad base64 or padding).
    #[error("could not decrypt the secret: {0}")]
    AesDecrypt(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msat_formatting() {
        assert_eq!(fmt_msat(0), "0 sats");
        assert_eq!(fmt_msat(1000), "1 sat");
        assert_eq!(fmt_msat(1500), "1.5 sats");
        assert_eq!(fmt_msat(1), "0.001 sats");
        assert_eq!(fmt_msat(21_000_010), "21000.01 sats");
    }

    #[test]
    fn display_is_human() {
        let e = Error::AmountTooLow {
            amount_msat: 500,
            min_msat: 1000,
        };
        assert_eq!(
            e.to_string(),
            "the amount (0.5 sats) is below the minimum of 1 sat"
        );
        let e = Error::WrongNetwork {
            expected: "Bitcoin mainnet".into(),
            got: "testnet".into(),
        };
        assert_eq!(
            e.to_string(),
            "this invoice is for testnet, but this service pays on Bitcoin mainnet"
        );
    }
}
