//! Offline receive, the payer side on the wire: the pushes lnurld sends to a
//! phone (exactly the Breez notification service's templates,
//! `shared/spec/OFFLINE-RECEIVE.md` §2) and the checks of the phone's reply
//! before anything of it reaches a payer (§4). lnurld writes the payer's
//! answer itself from what passed; it never forwards the phone's bytes.
//!
//! Pure (no I/O, no clock: callers pass `now`). Imports `lightning-invoice`,
//! `serde_json` and [`super::metadata`].

use std::str::FromStr;

use bitcoin::hashes::Hash;
use lightning_invoice::{Bolt11Invoice, Currency};
use serde_json::{json, Map, Value};

use super::invoice::currency_name;
use super::metadata::description_hash;

/// The longest reason of a phone's `{"status":"ERROR"}` relayed to a payer.
pub const MAX_REASON_CHARS: usize = 200;
/// Longest a cached answer is kept, whatever the phone's `max-age` says.
pub const MAX_CACHE_SECS: i64 = 86_400;
/// An invoice must have at least this long left when it is relayed.
pub const MIN_INVOICE_LIFE_SECS: i64 = 60;
/// How far an invoice's timestamp may be from the request's time (phones'
/// clocks drift).
pub const CLOCK_SKEW_SECS: i64 = 300;

/// The `lnurlpay_info` push: `{template, data: {callback_url, reply_url}}`.
pub fn info_push(callback_url: &str, reply_url: &str) -> Value {
    json!({
        "template": "lnurlpay_info",
        "data": {"callback_url": callback_url, "reply_url": reply_url},
    })
}

/// The `lnurlpay_invoice` push: `{amount, comment?, verify_url, reply_url}`
/// (the NDS drops any other field). `verify_url` keeps the literal
/// `{payment_hash}` placeholder, as breez-lnurl sends it.
pub fn invoice_push(
    amount_msat: u64,
    comment: Option<&str>,
    verify_url: &str,
    reply_url: &str,
) -> Value {
    let mut data = Map::new();
    data.insert("amount".into(), json!(amount_msat));
    if let Some(c) = comment {
        data.insert("comment".into(), json!(c));
    }
    data.insert("verify_url".into(), json!(verify_url));
    data.insert("reply_url".into(), json!(reply_url));
    json!({"template": "lnurlpay_invoice", "data": data})
}

/// The `lnurlpay_verify` push: `{payment_hash, reply_url}` (the NDS drops
/// any other field).
pub fn verify_push(payment_hash: &str, reply_url: &str) -> Value {
    json!({
        "template": "lnurlpay_verify",
        "data": {"payment_hash": payment_hash, "reply_url": reply_url},
    })
}

/// What a phone's reply becomes for the payer.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked<T> {
    /// It passed every check: this is the payer's answer.
    Answer(T),
    /// The phone said `{"status":"ERROR","reason"}`: the reason, cut.
    WalletError(String),
}

/// The `{"status":"ERROR"}` form, if the reply is one.
fn wallet_error(v: &Value) -> Option<String> {
    if v.get("status").and_then(Value::as_str) != Some("ERROR") {
        return None;
    }
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("no reason given");
    Some(reason.chars().take(MAX_REASON_CHARS).collect())
}

fn object(body: &[u8]) -> Result<Value, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the reply is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("the reply is not a JSON object".into());
    }
    Ok(v)
}

/// A checked pay request (LUD-06), as lnurld serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoAnswer {
    /// The callback lnurld sent (and the reply repeated).
    pub callback: String,
    /// minSendable, msat.
    pub min_msat: u64,
    /// maxSendable, msat.
    pub max_msat: u64,
    /// The metadata string, unchanged: invoices commit to its hash.
    pub metadata: String,
    /// LUD-12, when the phone allows comments.
    pub comment_allowed: Option<u64>,
}

impl InfoAnswer {
    /// The payer's JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "tag": "payRequest",
            "callback": self.callback,
            "minSendable": self.min_msat,
            "maxSendable": self.max_msat,
            "metadata": self.metadata,
        });
        if let Some(c) = self.comment_allowed {
            v["commentAllowed"] = json!(c);
        }
        v
    }
}

/// Checks a reply to `lnurlpay_info`: `tag` `payRequest`, `callback` what
/// was sent, 1000 ≤ minSendable ≤ maxSendable (whole sats: Liquid wallets
/// round msat down), `metadata` a JSON array with a `text/plain` entry.
pub fn check_info(body: &[u8], sent_callback: &str) -> Result<Checked<InfoAnswer>, String> {
    let v = object(body)?;
    if let Some(r) = wallet_error(&v) {
        return Ok(Checked::WalletError(r));
    }
    if v.get("tag").and_then(Value::as_str) != Some("payRequest") {
        return Err("tag must be \"payRequest\"".into());
    }
    let callback = v
        .get("callback")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if callback != sent_callback {
        return Err(format!("callback must be {sent_callback}, the one sent"));
    }
    let num = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .ok_or(format!("{k} must be a whole number of msat"))
    };
    let (min, max) = (num("minSendable")?, num("maxSendable")?);
    if min < 1000 || min > max {
        return Err(
            "minSendable and maxSendable must satisfy 1000 ≤ minSendable ≤ maxSendable".into(),
        );
    }
    if min % 1000 != 0 || max % 1000 != 0 {
        return Err(
            "minSendable and maxSendable must be whole sats (multiples of 1000 msat)".into(),
        );
    }
    let metadata = v
        .get("metadata")
        .and_then(Value::as_str)
        .ok_or("metadata must be a string")?;
    let entries: Vec<Value> =
        serde_json::from_str(metadata).map_err(|_| "metadata must be a JSON array".to_owned())?;
    let plain = entries.iter().any(|e| {
        e.get(0).and_then(Value::as_str) == Some("text/plain")
            && e.get(1).is_some_and(Value::is_string)
    });
    if !plain {
        return Err("metadata must have a [\"text/plain\", …] entry".into());
    }
    let comment_allowed = v
        .get("commentAllowed")
        .and_then(Value::as_u64)
        .filter(|c| *c > 0)
        .map(|c| c.min(1000));
    Ok(Checked::Answer(InfoAnswer {
        callback: callback.to_owned(),
        min_msat: min,
        max_msat: max,
        metadata: metadata.to_owned(),
        comment_allowed,
    }))
}

/// What an invoice reply is checked against.
#[derive(Clone)]
pub struct InvoiceContext<'a> {
    /// The node's network.
    pub currency: Currency,
    /// The amount the payer asked for.
    pub amount_msat: u64,
    /// The metadata strings the payer may have been served (current,
    /// previous): the description hash must be one of theirs.
    pub metadata: &'a [String],
    /// When the payer asked (unix seconds).
    pub requested_at: i64,
    /// The verify URL of a payment hash (hex): the only `verify` allowed.
    pub verify_url: &'a dyn Fn(&str) -> String,
}

/// A checked invoice answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceAnswer {
    /// The invoice, lowercase.
    pub pr: String,
    /// Its payment hash, hex.
    pub payment_hash: String,
    /// lnurld's verify URL for it, when the phone offered verify.
    pub verify: Option<String>,
    /// When the invoice expires (unix seconds).
    pub expires_at: i64,
}

impl InvoiceAnswer {
    /// The payer's JSON (LUD-06, with LUD-21's `verify` when the phone
    /// offered it: lnurld then relays verify requests to the phone).
    pub fn to_json(&self) -> Value {
        let mut v = json!({"pr": self.pr, "routes": []});
        if let Some(url) = &self.verify {
            v["verify"] = json!(url);
        }
        v
    }
}

/// Checks a reply to `lnurlpay_invoice`: only `{pr, routes, verify?}`; the
/// invoice parses with a valid signature, is of the network, is for exactly
/// the amount asked, commits to the metadata served, has at least a minute
/// left and a timestamp near the request, and `verify` is absent, null or
/// lnurld's own URL for its payment hash. Whether the payment hash was ever
/// relayed before is the caller's (database) check.
pub fn check_invoice(
    body: &[u8],
    ctx: &InvoiceContext<'_>,
    now: i64,
) -> Result<Checked<InvoiceAnswer>, String> {
    let v = object(body)?;
    if let Some(r) = wallet_error(&v) {
        return Ok(Checked::WalletError(r));
    }
    if let Some(k) = v.as_object().and_then(|o| {
        o.keys()
            .find(|k| !matches!(k.as_str(), "pr" | "routes" | "verify"))
    }) {
        return Err(format!(
            "unexpected field {k:?}; an invoice reply is {{pr, routes, verify?}}"
        ));
    }
    if !v
        .get("routes")
        .is_none_or(|r| r.as_array().is_some_and(Vec::is_empty))
    {
        return Err("routes must be an empty array".into());
    }
    let pr = v
        .get("pr")
        .and_then(Value::as_str)
        .ok_or("pr must be a BOLT11 invoice")?
        .trim()
        .to_ascii_lowercase();
    let inv = Bolt11Invoice::from_str(&pr)
        .map_err(|e| format!("pr is not a valid BOLT11 invoice: {e}"))?;
    if inv.currency() != ctx.currency {
        return Err(format!(
            "the invoice is for {}, not {}",
            currency_name(&inv.currency()),
            currency_name(&ctx.currency)
        ));
    }
    if inv.amount_milli_satoshis() != Some(ctx.amount_msat) {
        return Err(format!(
            "the invoice must be for exactly {} msat, as asked",
            ctx.amount_msat
        ));
    }
    let hash = match inv.description() {
        lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(h) => h.0.to_byte_array(),
        lightning_invoice::Bolt11InvoiceDescriptionRef::Direct(_) => {
            return Err("the invoice must commit to the metadata with a description hash".into())
        }
    };
    if !ctx
        .metadata
        .iter()
        .any(|m| description_hash(m, None) == hash)
    {
        return Err("the invoice's description hash is not sha256 of the metadata served".into());
    }
    let timestamp = i64::try_from(inv.duration_since_epoch().as_secs()).unwrap_or(i64::MAX);
    if timestamp < ctx.requested_at - CLOCK_SKEW_SECS || timestamp > now + CLOCK_SKEW_SECS {
        return Err("the invoice's timestamp is not near the time of the request".into());
    }
    let expires_at =
        timestamp.saturating_add(i64::try_from(inv.expiry_time().as_secs()).unwrap_or(i64::MAX));
    if expires_at < now + MIN_INVOICE_LIFE_SECS {
        return Err(format!(
            "the invoice expires in less than {MIN_INVOICE_LIFE_SECS} s"
        ));
    }
    let payment_hash = hex::encode(AsRef::<[u8]>::as_ref(inv.payment_hash()));
    let ours = (ctx.verify_url)(&payment_hash);
    let verify = match v.get("verify") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if *s == ours => Some(ours),
        Some(_) => return Err(format!("verify must be absent or {ours}")),
    };
    Ok(Checked::Answer(InvoiceAnswer {
        pr,
        payment_hash,
        verify,
        expires_at,
    }))
}

/// A checked LUD-21 verify answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyAnswer {
    /// Whether the phone says it was paid (proved by the preimage).
    pub settled: bool,
    /// Hex preimage when settled: its sha256 is the payment hash.
    pub preimage: Option<String>,
}

impl VerifyAnswer {
    /// The payer's LUD-21 JSON; `pr` is the invoice lnurld relayed.
    pub fn to_json(&self, pr: &str) -> Value {
        json!({
            "status": "OK",
            "settled": self.settled,
            "preimage": self.preimage,
            "pr": pr,
        })
    }
}

/// Checks a reply to `lnurlpay_verify` for the invoice `pr` of
/// `payment_hash` (hex, lowercase): only `{status?, settled, preimage?,
/// pr?}`; `status` `OK` when given; `settled` a boolean; when settled a
/// preimage whose sha256 is the payment hash (so a phone cannot say
/// "paid" without proving it), else no preimage; `pr`, when given, the
/// invoice relayed for that hash.
pub fn check_verify(
    body: &[u8],
    payment_hash: &str,
    pr: &str,
) -> Result<Checked<VerifyAnswer>, String> {
    let v = object(body)?;
    if let Some(r) = wallet_error(&v) {
        return Ok(Checked::WalletError(r));
    }
    if let Some(k) = v.as_object().and_then(|o| {
        o.keys()
            .find(|k| !matches!(k.as_str(), "status" | "settled" | "preimage" | "pr"))
    }) {
        return Err(format!(
            "unexpected field {k:?}; a verify reply is {{status, settled, preimage, pr}}"
        ));
    }
    match v.get("status") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "OK" => {}
        Some(_) => return Err("status must be \"OK\" (or \"ERROR\" with a reason)".into()),
    }
    let settled = v
        .get("settled")
        .and_then(Value::as_bool)
        .ok_or("settled must be true or false")?;
    match v.get("pr") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.trim().eq_ignore_ascii_case(pr) => {}
        Some(_) => return Err("pr must be the invoice relayed for this payment hash".into()),
    }
    let preimage = match v.get("preimage") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_ascii_lowercase()),
        Some(_) => return Err("preimage must be a hex string or null".into()),
    };
    match (settled, preimage) {
        (false, None) => Ok(Checked::Answer(VerifyAnswer {
            settled: false,
            preimage: None,
        })),
        (false, Some(_)) => Err("preimage must be null while settled is false".into()),
        (true, None) => Err("a settled invoice's preimage is missing".into()),
        (true, Some(p)) => {
            let raw = hex::decode(&p)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or("preimage must be 64 hex characters")?;
            let hash = bitcoin::hashes::sha256::Hash::hash(&raw);
            if hex::encode(hash.to_byte_array()) != payment_hash {
                return Err("sha256 of the preimage is not the payment hash".into());
            }
            Ok(Checked::Answer(VerifyAnswer {
                settled: true,
                preimage: Some(p),
            }))
        }
    }
}

/// The seconds of a `Cache-Control: max-age=N` header, at most
/// [`MAX_CACHE_SECS`]; 0 without one.
pub fn max_age(cache_control: Option<&str>) -> i64 {
    cache_control
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .filter_map(|n| n.trim().parse::<i64>().ok())
        .next()
        .unwrap_or(0)
        .clamp(0, MAX_CACHE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_have_the_nds_shapes() {
        assert_eq!(
            info_push(
                "https://x/lnurlpay/02ab/invoice",
                "https://x/offline/reply/t"
            )
            .to_string(),
            r#"{"data":{"callback_url":"https://x/lnurlpay/02ab/invoice","reply_url":"https://x/offline/reply/t"},"template":"lnurlpay_info"}"#
        );
        let p = invoice_push(
            5000,
            None,
            "https://x/lnurlpay/02ab/{payment_hash}",
            "https://x/r",
        );
        assert_eq!(
            p.to_string(),
            r#"{"data":{"amount":5000,"reply_url":"https://x/r","verify_url":"https://x/lnurlpay/02ab/{payment_hash}"},"template":"lnurlpay_invoice"}"#
        );
        assert_eq!(
            invoice_push(1000, Some("hi"), "v", "r")["data"]["comment"],
            "hi"
        );
    }

    const CB: &str = "https://pay.example/lnurlpay/02ab/invoice";

    fn info(extra: Value) -> Vec<u8> {
        let mut v = json!({
            "callback": CB, "tag": "payRequest", "minSendable": 1000, "maxSendable": 4_000_000_000u64,
            "metadata": "[[\"text/plain\",\"Pay with LNURL\"]]",
        });
        for (k, x) in extra.as_object().cloned().unwrap_or_default() {
            v[k] = x;
        }
        v.to_string().into_bytes()
    }

    #[test]
    fn info_replies_are_checked() {
        let Ok(Checked::Answer(a)) = check_info(&info(json!({})), CB) else {
            panic!("valid")
        };
        assert_eq!(a.metadata, "[[\"text/plain\",\"Pay with LNURL\"]]");
        assert_eq!(a.to_json()["callback"], CB);
        for (bad, why) in [
            (json!({"callback": "https://evil/cb"}), "callback"),
            (json!({"tag": "withdrawRequest"}), "tag"),
            (json!({"minSendable": 999}), "1000"),
            (json!({"minSendable": 5000, "maxSendable": 4000}), "1000"),
            (json!({"minSendable": 1500}), "whole sats"),
            (json!({"metadata": "not json"}), "JSON array"),
            (
                json!({"metadata": "[[\"text/identifier\",\"a@b\"]]"}),
                "text/plain",
            ),
        ] {
            let e = check_info(&info(bad.clone()), CB).expect_err(&bad.to_string());
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(check_info(b"[1]", CB).is_err());
        let long = "x".repeat(500);
        let Ok(Checked::WalletError(r)) = check_info(
            json!({"status": "ERROR", "reason": long})
                .to_string()
                .as_bytes(),
            CB,
        ) else {
            panic!("error form")
        };
        assert_eq!(r.chars().count(), MAX_REASON_CHARS);
    }

    #[test]
    fn verify_replies_are_checked() {
        use bitcoin::hashes::sha256;
        let preimage = [7u8; 32];
        let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
        let pre = hex::encode(preimage);
        assert_eq!(
            verify_push(&hash, "https://x/r").to_string(),
            format!(
                r#"{{"data":{{"payment_hash":"{hash}","reply_url":"https://x/r"}},"template":"lnurlpay_verify"}}"#
            )
        );
        let ok = |v: Value| check_verify(v.to_string().as_bytes(), &hash, "lnbcrt1pr");
        let Ok(Checked::Answer(a)) = ok(
            json!({"status": "OK", "settled": true, "preimage": pre.to_uppercase(), "pr": "lnbcrt1pr"}),
        ) else {
            panic!("settled with its preimage")
        };
        assert_eq!(a.preimage.as_deref(), Some(pre.as_str()));
        assert_eq!(
            a.to_json("lnbcrt1pr").to_string(),
            format!(r#"{{"pr":"lnbcrt1pr","preimage":"{pre}","settled":true,"status":"OK"}}"#)
        );
        let Ok(Checked::Answer(a)) = ok(json!({"settled": false, "preimage": null})) else {
            panic!("open")
        };
        assert_eq!(
            a,
            VerifyAnswer {
                settled: false,
                preimage: None
            }
        );
        for (bad, why) in [
            (
                json!({"settled": true, "preimage": hex::encode([8u8; 32])}),
                "sha256",
            ),
            (json!({"settled": true}), "missing"),
            (json!({"settled": true, "preimage": "abcd"}), "64 hex"),
            (json!({"settled": false, "preimage": pre}), "null while"),
            (json!({"settled": "yes"}), "true or false"),
            (json!({"settled": false, "pr": "lnbcrt1other"}), "relayed"),
            (json!({"settled": false, "status": "PAID"}), "status"),
            (
                json!({"settled": false, "successAction": {}}),
                "unexpected field",
            ),
        ] {
            let e = ok(bad.clone()).expect_err(&bad.to_string());
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(matches!(
            ok(json!({"status": "ERROR", "reason": "asleep"})),
            Ok(Checked::WalletError(r)) if r == "asleep"
        ));
    }

    #[test]
    fn max_age_is_read_and_capped() {
        assert_eq!(max_age(Some("max-age=3")), 3);
        assert_eq!(max_age(Some("public, max-age=604800")), MAX_CACHE_SECS);
        assert_eq!(max_age(Some("no-store")), 0);
        assert_eq!(max_age(None), 0);
    }
}
