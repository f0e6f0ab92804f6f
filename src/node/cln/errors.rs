//! Node layer, `cln` backend: CLN's errors as [`NodeError`]s.
//!
//! May import `node` (its error type) and nothing else of the crate.
//!
//! cln-grpc (`cln-grpc/src/server.rs`, v26.06.6) answers a failed command
//! with gRPC `UNKNOWN` and the text
//! `Error calling method Xpay: RpcError { code: Some(N), message: "…", data: None }`;
//! the codes are `common/jsonrpc_errors.h`'s. The ones lnurld acts on:
//!
//! - 200 `PAY_IN_PROGRESS`, and -3 (plugin error) whose text says "still in
//!   progress": a payment of this hash is in flight → `AlreadyInFlight`;
//! - 201 `PAY_RHASH_ALREADY_USED` (sendpay: already succeeded) and 219
//!   (xpay: "Already paid this invoice successfully") → `AlreadyPaid`;
//!   `pay` instead answers the earlier success as a success;
//! - 207 `PAY_INVOICE_EXPIRED` → `InvoiceExpired`;
//! - 205 / 206 / 210 / 203 / 215 / 216: the payment failed; `payments.rs`
//!   turns them into [`PaymentFailure`]s after checking with `ListPays`
//!   that nothing is left in flight (205/206 leave no sendpay record);
//! - -32602 (invalid parameters, e.g. an undecodable invoice) →
//!   `InvalidInvoice` (`WrongNetwork` when it names the network);
//! - 900 (duplicate label), 901 (reused preimage) and every other code →
//!   `Refused("CLN error N: message")`, keeping code and message.

use tonic::{Code, Status};

use super::tls::NOT_SIGNED_BY_CA;
use super::RPC_TIMEOUT;
use crate::node::{NodeError, PaymentFailure};

/// `PAY_IN_PROGRESS`.
pub(super) const PAY_IN_PROGRESS: i64 = 200;
/// `PAY_RHASH_ALREADY_USED`.
const PAY_RHASH_ALREADY_USED: i64 = 201;
/// `PAY_INVOICE_EXPIRED`.
const PAY_INVOICE_EXPIRED: i64 = 207;
/// `PAY_INJECTPAYMENTONION_ALREADY_PAID`: xpay's "already paid".
pub(super) const ALREADY_PAID: i64 = 219;
/// `PLUGIN_ERROR`.
const PLUGIN_ERROR: i64 = -3;
/// JSON-RPC invalid parameters.
const INVALID_PARAMS: i64 = -32602;
/// `INVOICE_WAIT_TIMED_OUT` of `waitanyinvoice`.
pub(super) const WAIT_TIMED_OUT: i64 = 904;

/// A command's error as cln-grpc reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RpcError {
    pub code: i64,
    pub message: String,
}

/// Parses cln-grpc's `RpcError { code: Some(N), message: "…", … }` text.
pub(super) fn rpc_error(status: &Status) -> Option<RpcError> {
    if status.code() != Code::Unknown {
        return None;
    }
    let text = status.message();
    let start = text.find("RpcError {")?;
    let rest = &text[start..];
    let code = rest
        .split_once("code: Some(")
        .and_then(|(_, r)| r.split_once(')'))
        .and_then(|(n, _)| n.trim().parse().ok())?;
    let message = rest
        .split_once("message: \"")
        .map(|(_, r)| unescape_debug(r))
        .unwrap_or_default();
    Some(RpcError { code, message })
}

/// The contents of a Rust `Debug` string up to its closing quote.
fn unescape_debug(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

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

/// The domain error of a CLN command error.
pub(super) fn map_rpc_error(e: &RpcError) -> NodeError {
    let lower = e.message.to_ascii_lowercase();
    match e.code {
        PAY_IN_PROGRESS => NodeError::AlreadyInFlight,
        PLUGIN_ERROR if lower.contains("still in progress") => NodeError::AlreadyInFlight,
        PAY_RHASH_ALREADY_USED | ALREADY_PAID => NodeError::AlreadyPaid,
        PAY_INVOICE_EXPIRED => NodeError::InvoiceExpired,
        INVALID_PARAMS if lower.contains("network") => NodeError::WrongNetwork,
        INVALID_PARAMS => NodeError::InvalidInvoice(e.message.clone()),
        code => NodeError::Refused(format!("CLN error {code}: {}", e.message)),
    }
}

/// The failure of a payment CLN gave up on, for the codes that mean one.
pub(super) fn payment_failure(code: i64) -> Option<PaymentFailure> {
    Some(match code {
        // PAY_ROUTE_NOT_FOUND, PAY_ROUTE_TOO_EXPENSIVE, PAY_UNREACHABLE
        205 | 206 | 216 => PaymentFailure::NoRoute,
        // PAY_STOPPED_RETRYING: attempts ran out (retry_for elapsed).
        210 => PaymentFailure::Timeout,
        // PAY_DESTINATION_PERM_FAIL: the payee refused (unknown invoice).
        203 => PaymentFailure::IncorrectPaymentDetails,
        // PAY_INSUFFICIENT_FUNDS
        215 => PaymentFailure::InsufficientBalance,
        _ => return None,
    })
}

/// Turns a gRPC status into the domain error lnurld acts on. `ca_cert`
/// names the CA file for a server certificate it did not sign.
pub(super) fn map_status(status: &Status, ca_cert: &str) -> NodeError {
    let full = describe(status);
    if full.contains(NOT_SIGNED_BY_CA) || format!("{status:?}").contains("NotSignedByCa") {
        return NodeError::Tls(format!(
            "ca_cert {ca_cert}: the node's server certificate is not signed by this CA, or \
             does not name node.tls_domain ({full})"
        ));
    }
    if let Some(e) = rpc_error(status) {
        return map_rpc_error(&e);
    }
    match status.code() {
        Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded => {
            NodeError::Unreachable(full)
        }
        // A status made locally from a transport failure.
        _ if std::error::Error::source(status).is_some() => NodeError::Unreachable(full),
        Code::Unknown if status.message().contains("transport error") => {
            NodeError::Unreachable(full)
        }
        Code::Unimplemented => NodeError::Unsupported("the node lacks this gRPC method"),
        _ => NodeError::Protocol(full),
    }
}

/// The error of a call CLN did not answer in time.
pub(super) fn timed_out(what: &str) -> NodeError {
    NodeError::Unreachable(format!("{what}: no answer from CLN within {RPC_TIMEOUT:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cln(method: &str, code: i64, message: &str) -> Status {
        Status::unknown(format!(
            "Error calling method {method}: RpcError {{ code: Some({code}), message: {message:?}, data: None }}"
        ))
    }

    #[test]
    fn rpc_errors_are_parsed() {
        let s = cln("Xpay", 219, "Already paid this invoice successfully");
        assert_eq!(
            rpc_error(&s),
            Some(RpcError {
                code: 219,
                message: "Already paid this invoice successfully".into()
            })
        );
        let s = cln("Invoice", 900, "Duplicate label \"x\"");
        assert_eq!(rpc_error(&s).unwrap().message, "Duplicate label \"x\"");
        assert_eq!(rpc_error(&cln("Pay", -3, "x")).unwrap().code, -3);
        assert_eq!(rpc_error(&Status::unknown("other")), None);
    }

    #[test]
    fn codes_map_to_domain_errors() {
        type Check = fn(&NodeError) -> bool;
        let cases: Vec<(Status, Check)> = vec![
            (
                cln("Xpay", 219, "Already paid this invoice successfully"),
                |e| matches!(e, NodeError::AlreadyPaid),
            ),
            (cln("Pay", 201, "Already succeeded"), |e| {
                matches!(e, NodeError::AlreadyPaid)
            }),
            (cln("Xpay", 200, "in progress"), |e| {
                matches!(e, NodeError::AlreadyInFlight)
            }),
            (
                cln("Xpay", -3, "Payment with hash ab still in progress"),
                |e| matches!(e, NodeError::AlreadyInFlight),
            ),
            (
                cln("Xpay", -3, "Something broke"),
                |e| matches!(e, NodeError::Refused(m) if m == "CLN error -3: Something broke"),
            ),
            (cln("Xpay", 207, "Invoice expired 5 seconds ago"), |e| {
                matches!(e, NodeError::InvoiceExpired)
            }),
            (cln("Xpay", -32602, "invstring: Bad bech32 string"), |e| {
                matches!(e, NodeError::InvalidInvoice(_))
            }),
            (
                cln("Xpay", -32602, "Invoice is for another network regtest"),
                |e| matches!(e, NodeError::WrongNetwork),
            ),
            (
                cln("Invoice", 900, "Duplicate label"),
                |e| matches!(e, NodeError::Refused(m) if m.starts_with("CLN error 900: ")),
            ),
            (
                cln("Foo", 1234, "new"),
                |e| matches!(e, NodeError::Refused(m) if m == "CLN error 1234: new"),
            ),
            (Status::unavailable("tcp connect error"), |e| {
                matches!(e, NodeError::Unreachable(_))
            }),
        ];
        for (status, check) in cases {
            let mapped = map_status(&status, "ca.pem");
            assert!(check(&mapped), "{status:?} mapped to {mapped:?}");
        }
        assert_eq!(payment_failure(205), Some(PaymentFailure::NoRoute));
        assert_eq!(payment_failure(206), Some(PaymentFailure::NoRoute));
        assert_eq!(payment_failure(210), Some(PaymentFailure::Timeout));
        assert_eq!(payment_failure(216), Some(PaymentFailure::NoRoute));
        // The payee refused (unknown hash, wrong amount): what lnd calls
        // incorrect payment details, recorded as the withdrawal's reason.
        assert_eq!(
            payment_failure(203),
            Some(PaymentFailure::IncorrectPaymentDetails)
        );
        assert_eq!(
            payment_failure(215),
            Some(PaymentFailure::InsufficientBalance)
        );
        assert_eq!(payment_failure(219), None);
    }
}
