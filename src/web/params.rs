//! Query-string parsing shared by every route group (web layer), and the
//! rule of each query parameter we read ([`crate::text`] says why).

use actix_web::HttpRequest;
use percent_encoding::percent_decode;

use crate::service::pay::MAX_COMMENT_ALLOWED;
use crate::service::Error;
use crate::text::{self, Rule};

/// LUD-03 `k1` (we hand out 64 hex digits).
pub const K1: Rule = Rule::line(128);
/// LUD-03 `pr`: lightning-invoice refuses BOLT11 invoices longer than this.
pub const PR: Rule = Rule::line(lightning_invoice::MAX_LENGTH);
/// LUD-06 `amount` (msat; `u64::MAX` has 20 digits, and a longer number
/// still reads "above the maximum" from the service's own check).
pub const AMOUNT: Rule = Rule::line(64);
/// LUD-12 `comment`: the most any link may allow; the link's own limit is
/// the service's check.
pub const COMMENT: Rule = Rule::multiline(MAX_COMMENT_ALLOWED as usize);
/// LUD-18 `payerdata` (JSON; the service also caps it at 4096 bytes).
pub const PAYERDATA: Rule = Rule::multiline(4096);
/// NIP-57 `nostr`: the zap request (JSON). Its length in bytes is the
/// service's check (`lnurl::zap::MAX_REQUEST_BYTES`), which names NIP-57;
/// this rule only stops what no zap request can be.
pub const NOSTR: Rule = Rule::multiline(crate::lnurl::zap::MAX_REQUEST_BYTES * 2);
/// The signed token `t` of a voucher sheet URL.
pub const SHEET_TOKEN: Rule = Rule::line(256);
/// Admin listings: `cursor`.
pub const CURSOR: Rule = Rule::line(128);
/// Admin listings: `limit`, `status`, `type`, `state`, `addresses`.
pub const FILTER: Rule = Rule::line(64);

/// Percent-decodes one part of a query (`+` is a space, as in forms).
fn decode(part: &str) -> Vec<u8> {
    let spaced = part.replace('+', " ");
    percent_decode(spaced.as_bytes()).collect()
}

/// First value of a query parameter, which must be UTF-8 and follow
/// `rule`; else a 400 / LUD error naming the parameter. Parsed by hand so
/// that unknown extra parameters (LUD-03 allows wallets to add them; they
/// are never read nor stored) and odd encodings never turn into an
/// extractor's error page, and so that invalid UTF-8 is refused instead of
/// being replaced with U+FFFD.
pub fn query_param(req: &HttpRequest, name: &str, rule: Rule) -> Result<Option<String>, Error> {
    form_param(req.query_string(), name, rule)
}

/// [`query_param`] for any `application/x-www-form-urlencoded` text (a
/// form's body): the first value of `name`, UTF-8 and following `rule`.
pub fn form_param(encoded: &str, name: &str, rule: Rule) -> Result<Option<String>, Error> {
    let found = encoded
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| decode(k) == name.as_bytes());
    found
        .map(|(_, v)| text::from_bytes(name, decode(v), rule))
        .transpose()
        .map_err(|e| Error::Invalid(e.to_string()))
}
