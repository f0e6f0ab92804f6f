//! Node layer, `lnd` backend: turns gRPC statuses into [`NodeError`]s
//! (`spec/LND.md` §3).
//!
//! May import `node` (its error type) and nothing else of the crate. The
//! error a status becomes decides whether lnurld gives a withdrawal back,
//! tracks it or waits for the node, so every text matched here is one lnd
//! sends.

use tonic::{Code, Status};

use super::tls::PIN_MISMATCH;
use super::RPC_TIMEOUT;
use crate::node::NodeError;

/// The status message plus every source's text, for logs and matching.
fn describe(status: &Status) -> String {
    let mut out = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        let text = err.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        source = err.source();
    }
    if out.is_empty() {
        out = format!("{:?}", status.code());
    }
    out
}

/// Turns a gRPC status into the domain error lnurld acts on.
pub(super) fn map_status(status: &Status) -> NodeError {
    let full = describe(status);
    if full.contains(PIN_MISMATCH) || format!("{status:?}").contains("CertificatePinMismatch") {
        return NodeError::Certificate(full);
    }
    let msg = status.message().to_owned();
    let lower = msg.to_ascii_lowercase();
    match status.code() {
        // lnd's dedup: one record per hash (the SQL backend may prefix text).
        Code::AlreadyExists if lower.contains("already paid") => NodeError::AlreadyPaid,
        Code::AlreadyExists => NodeError::AlreadyInFlight,
        Code::NotFound => NodeError::NotFound,
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded => {
            NodeError::Unreachable(full)
        }
        Code::Unauthenticated | Code::PermissionDenied => NodeError::Macaroon(msg),
        // A status made locally from a transport failure (a server-sent
        // status has no source): the node was not (fully) reached, whatever
        // its text says. Checked before the texts below, which only mean
        // something when lnd itself said them.
        _ if std::error::Error::source(status).is_some() => NodeError::Unreachable(full),
        // Everything below is lnd's own text on a plain Go error (Unknown).
        code if code != Code::Unknown => {
            NodeError::Refused(if msg.is_empty() { full } else { msg })
        }
        _ if lower.contains("verification failed")
            || lower.contains("expected 1 macaroon")
            || lower.contains("permission denied")
            || lower.contains("cannot get macaroon")
            || lower.contains("invalid macaroon") =>
        {
            NodeError::Macaroon(msg)
        }
        _ if lower.contains("invoice expired") => NodeError::InvoiceExpired,
        _ if lower.contains("not for current active network") => NodeError::WrongNetwork,
        _ if lower.contains("self-payments not allowed") => NodeError::SelfPayment,
        _ if lower.contains("wallet locked")
            || lower.contains("in the process of starting up")
            || lower.contains("waiting to start")
            || lower.contains("not yet ready") =>
        {
            NodeError::NotReady(msg)
        }
        _ if is_decoder_error(&lower) => NodeError::InvalidInvoice(msg),
        _ => NodeError::Refused(if msg.is_empty() { full } else { msg }),
    }
}

/// Texts of lnd's zpay32/bech32 decoder and of invoices it will not pay as
/// given (we never set `amt`, so an amountless invoice is unpayable).
fn is_decoder_error(lower: &str) -> bool {
    [
        "zpay32",
        "bech32",
        "checksum",
        "invalid payment request",
        "invalid index",
        "invalid character",
        "invalid separator",
        "invalid length",
        "invalid signature",
        "failed decoding",
        "unable to decode",
        "malformed",
        "unknown network",
        "amount must be specified when paying a zero amount invoice",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The error of a call lnd did not answer within [`RPC_TIMEOUT`].
pub(super) fn timed_out(what: &str) -> NodeError {
    NodeError::Unreachable(format!("{what}: no answer from lnd within {RPC_TIMEOUT:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_domain_errors() {
        type Check = fn(&NodeError) -> bool;
        let cases: Vec<(Status, Check)> = vec![
            (Status::already_exists("invoice is already paid"), |e| {
                matches!(e, NodeError::AlreadyPaid)
            }),
            (
                Status::already_exists("payment is not initializable: payment is in transition"),
                |e| matches!(e, NodeError::AlreadyInFlight),
            ),
            (Status::already_exists("payment already exists"), |e| {
                matches!(e, NodeError::AlreadyInFlight)
            }),
            (Status::not_found("payment isn't initiated"), |e| {
                matches!(e, NodeError::NotFound)
            }),
            (Status::unknown("expected 1 macaroon, got 0"), |e| {
                matches!(e, NodeError::Macaroon(_))
            }),
            (
                Status::unknown("verification failed: signature mismatch after caveat verification"),
                |e| matches!(e, NodeError::Macaroon(_)),
            ),
            (Status::unknown("permission denied"), |e| {
                matches!(e, NodeError::Macaroon(_))
            }),
            (
                Status::unknown("invoice expired. Valid until 2026-01-01 00:00:00 +0000 UTC"),
                |e| matches!(e, NodeError::InvoiceExpired),
            ),
            (
                Status::unknown("invoice not for current active network 'regtest'"),
                |e| matches!(e, NodeError::WrongNetwork),
            ),
            (Status::unknown("self-payments not allowed"), |e| {
                matches!(e, NodeError::SelfPayment)
            }),
            (Status::unknown("wallet locked, unlock it to enable full RPC access"), |e| {
                matches!(e, NodeError::NotReady(_))
            }),
            (
                Status::unknown("the RPC server is in the process of starting up, but not yet ready to accept calls"),
                |e| matches!(e, NodeError::NotReady(_)),
            ),
            (Status::unknown("invalid bech32 string length 7"), |e| {
                matches!(e, NodeError::InvalidInvoice(_))
            }),
            (Status::unknown("something else"), |e| {
                matches!(e, NodeError::Refused(m) if m == "something else")
            }),
            (Status::unavailable("tcp connect error"), |e| {
                matches!(e, NodeError::Unreachable(_))
            }),
        ];
        for (status, check) in cases {
            let mapped = map_status(&status);
            assert!(check(&mapped), "{status:?} mapped to {mapped:?}");
        }
    }
}
