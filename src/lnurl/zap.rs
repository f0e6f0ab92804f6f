//! [NIP-57](https://github.com/nostr-protocol/nips/blob/master/57.md) on the
//! LNURL server's side: the eight checks of a zap request (kind 9734) that
//! a pay callback receives in `nostr=`, and the zap receipt (kind 9735)
//! published once the invoice is paid. Pure: events, keys and BIP-340
//! signatures come from the `nostr` crate; which relay addresses may be
//! used is decided by the caller (`check_relay`), so this module stays free
//! of any address policy.
//!
//! The zap request is kept as the exact string received: the invoice's
//! description hash is sha256 of it and the receipt's `description` tag
//! quotes it. It is never re-serialised (a re-serialisation may order or
//! escape differently, and the hash would then no longer match).

use nostr::nips::nip01::Coordinate;
use nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, Keys, Kind, PublicKey, Tag, Timestamp,
};

/// Largest zap request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Most relays one zap request may list.
pub const MAX_RELAYS: usize = 20;

/// Why a zap request was refused. Each `Display` names the NIP-57 rule, so
/// the sender's client can tell what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZapError {
    /// Longer than [`MAX_REQUEST_BYTES`].
    #[error("The zap request is too large: {0} bytes, at most 65536 allowed.")]
    TooLarge(usize),
    /// Not a NIP-01 event at all.
    #[error("The zap request is not a valid Nostr event (NIP-57 rule 1): {0}.")]
    NotAnEvent(String),
    /// `id` is not the hash of the event.
    #[error("The zap request's id does not match its content (NIP-57 rule 1).")]
    BadId,
    /// `sig` is not a valid BIP-340 signature of `id` by `pubkey`.
    #[error("The zap request's signature is not valid (NIP-57 rule 1).")]
    BadSignature,
    /// Not kind 9734.
    #[error("The zap request must be of kind 9734, not {0} (NIP-57 rule 1).")]
    WrongKind(u16),
    /// No tags at all.
    #[error("The zap request has no tags (NIP-57 rule 2).")]
    NoTags,
    /// Not exactly one valid `p` tag.
    #[error("The zap request must have exactly one p tag with a hex public key, it has {0} (NIP-57 rule 3).")]
    PTags(usize),
    /// More than one `e` tag, or one without an event id.
    #[error("The zap request may have at most one e tag with a hex event id (NIP-57 rule 4).")]
    ETags,
    /// No `relays` tag, or one that lists no relay.
    #[error("The zap request must have a relays tag listing the relays for the receipt (NIP-57 rule 5).")]
    NoRelays,
    /// More relays than [`MAX_RELAYS`].
    #[error("The zap request lists {0} relays, at most 20 are accepted (NIP-57 rule 5).")]
    TooManyRelays(usize),
    /// A relay this server will not publish to.
    #[error("The zap request's relay {0:?} is refused: {1} (NIP-57 rule 5).")]
    BadRelay(String, String),
    /// `amount` tag differs from the callback's `amount`.
    #[error("The zap request's amount tag ({tag}) does not equal the amount parameter ({query} msat) (NIP-57 rule 6).")]
    AmountMismatch {
        /// The tag's value.
        tag: String,
        /// The query's amount.
        query: u64,
    },
    /// `a` tag that is no `<kind>:<pubkey>:<d>` coordinate.
    #[error("The zap request's a tag is not a valid event coordinate (NIP-57 rule 7).")]
    BadCoordinate,
    /// More than one `P` tag, or one without a public key.
    #[error("The zap request may have at most one P tag with a hex public key (NIP-57 rule 8).")]
    UpperPTags,
}

/// A zap request that passed every check.
#[derive(Debug, Clone)]
pub struct ZapRequest {
    /// The event as parsed (the exact string stays with the caller).
    pub event: Event,
    /// Hex public key of the sender (the request's author).
    pub sender: String,
    /// Hex public key of the recipient (the `p` tag).
    pub recipient: String,
    /// Hex id of the zapped event (the `e` tag), if any.
    pub event_id: Option<String>,
    /// The relays to publish the receipt to, without duplicates, in the
    /// order listed.
    pub relays: Vec<String>,
}

/// The tags named `name`.
fn tags_named<'a>(e: &'a Event, name: &'a str) -> impl Iterator<Item = &'a Tag> + 'a {
    e.tags.iter().filter(move |t| t.kind() == name)
}

/// Is `s` 64 lowercase-or-uppercase hex digits?
fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every relay the `relays` tags list, in order, duplicates included.
fn listed_relays(e: &Event) -> Vec<&str> {
    tags_named(e, "relays")
        .flat_map(|t| t.as_slice().iter().skip(1).map(String::as_str))
        .collect()
}

/// The relays a (checked) zap request asks the receipt to go to, without
/// duplicates, in the order listed.
pub fn relays_of(e: &Event) -> Vec<String> {
    let mut relays: Vec<String> = Vec::new();
    for r in listed_relays(e) {
        if !relays.iter().any(|x| x == r) {
            relays.push(r.to_owned());
        }
    }
    relays
}

/// Applies NIP-57's rules to the decoded `nostr` parameter of a callback
/// for `amount_msat`. `check_relay` says why a relay URL is refused (`Err`)
/// or accepts it.
pub fn check_request(
    raw: &str,
    amount_msat: u64,
    check_relay: impl Fn(&str) -> Result<(), String>,
) -> Result<ZapRequest, ZapError> {
    if raw.len() > MAX_REQUEST_BYTES {
        return Err(ZapError::TooLarge(raw.len()));
    }
    // Rule 1: a NIP-01 event whose id and signature hold, of kind 9734.
    let event = Event::from_json(raw).map_err(|e| ZapError::NotAnEvent(e.to_string()))?;
    if !event.verify_id() {
        return Err(ZapError::BadId);
    }
    if !event.verify_signature() {
        return Err(ZapError::BadSignature);
    }
    if event.kind != Kind::ZapRequest {
        return Err(ZapError::WrongKind(event.kind.as_u16()));
    }
    // Rule 2.
    if event.tags.is_empty() {
        return Err(ZapError::NoTags);
    }
    // Rule 3.
    let p: Vec<&Tag> = tags_named(&event, "p").collect();
    let recipient = match p.as_slice() {
        [one] => one
            .content()
            .filter(|v| is_hex64(v) && PublicKey::from_hex(v).is_ok())
            .ok_or(ZapError::PTags(1))?
            .to_ascii_lowercase(),
        more => return Err(ZapError::PTags(more.len())),
    };
    // Rule 4.
    let e: Vec<&Tag> = tags_named(&event, "e").collect();
    let event_id = match e.as_slice() {
        [] => None,
        [one] => Some(
            one.content()
                .filter(|v| is_hex64(v) && EventId::from_hex(v).is_ok())
                .ok_or(ZapError::ETags)?
                .to_ascii_lowercase(),
        ),
        _ => return Err(ZapError::ETags),
    };
    // Rule 5: relays; every one must be one we may publish to.
    let listed = listed_relays(&event);
    if listed.is_empty() {
        return Err(ZapError::NoRelays);
    }
    if listed.len() > MAX_RELAYS {
        return Err(ZapError::TooManyRelays(listed.len()));
    }
    for r in listed {
        check_relay(r).map_err(|why| ZapError::BadRelay(r.to_owned(), why))?;
    }
    let relays = relays_of(&event);
    // Rule 6.
    for t in tags_named(&event, "amount") {
        let v = t.content().unwrap_or("");
        let same = !v.is_empty()
            && v.bytes().all(|b| b.is_ascii_digit())
            && v.parse::<u64>().ok() == Some(amount_msat);
        if !same {
            return Err(ZapError::AmountMismatch {
                tag: v.to_owned(),
                query: amount_msat,
            });
        }
    }
    // Rule 7: `<kind>:<pubkey hex>:<d-tag>` (no bech32 forms in a tag).
    for t in tags_named(&event, "a") {
        let v = t.content().unwrap_or("");
        if Coordinate::from_kpi_format(v).is_err() {
            return Err(ZapError::BadCoordinate);
        }
    }
    // Rule 8: at most one P, holding a public key.
    let upper: Vec<&Tag> = tags_named(&event, "P").collect();
    match upper.as_slice() {
        [] => {}
        [one] => {
            one.content()
                .filter(|v| is_hex64(v) && PublicKey::from_hex(v).is_ok())
                .ok_or(ZapError::UpperPTags)?;
        }
        _ => return Err(ZapError::UpperPTags),
    }
    Ok(ZapRequest {
        sender: event.pubkey.to_hex(),
        recipient,
        event_id,
        relays,
        event,
    })
}

/// Who zapped whom, as the operator sees it (webhook `zap`, admin API):
/// read from a stored request (checked when it came) and receipt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ZapSummary {
    /// Hex public key of the sender.
    pub sender: String,
    /// Hex public key of the recipient (`p`).
    pub recipient: String,
    /// Hex id of the zapped event (`e`), if any.
    pub event_id: Option<String>,
    /// Hex id of the signed receipt, once the invoice is paid.
    pub receipt_id: Option<String>,
}

/// The [`ZapSummary`] of a stored request and receipt; `None` when the
/// request does not parse (it always does: it was checked when it came).
pub fn summary(request: &str, receipt: Option<&str>) -> Option<ZapSummary> {
    let req = Event::from_json(request).ok()?;
    let first = |name: &str| {
        tags_named(&req, name)
            .next()
            .and_then(|t| t.content())
            .map(str::to_owned)
    };
    Some(ZapSummary {
        sender: req.pubkey.to_hex(),
        recipient: first("p")?,
        event_id: first("e"),
        receipt_id: receipt
            .and_then(|r| Event::from_json(r).ok())
            .map(|e| e.id.to_hex()),
    })
}

/// What a receipt is made of, besides the request.
#[derive(Debug, Clone)]
pub struct Paid<'a> {
    /// The invoice, as issued.
    pub bolt11: &'a str,
    /// Hex preimage.
    pub preimage: &'a str,
    /// Unix seconds the invoice was paid: the receipt's `created_at`, so a
    /// receipt built again is the same event (same id).
    pub settled_at: u64,
}

/// The zap receipt (kind 9735) for `request` (the exact string the wallet
/// sent, already checked), signed by `keys`: `p`, `e`, `a` and `k` copied
/// from the request, `P` the sender, `bolt11`, `description` (the request,
/// byte for byte) and `preimage`, empty content.
///
/// (rust-nostr's own `ZapReceipt` builder re-serialises the request for
/// `description` and drops `k`, hence the tags here.)
pub fn receipt(keys: &Keys, request: &str, paid: &Paid<'_>) -> Result<Event, String> {
    let req = Event::from_json(request).map_err(|e| format!("stored zap request: {e}"))?;
    let mut tags: Vec<Tag> = Vec::new();
    for name in ["p", "e", "a", "k"] {
        if let Some(t) = tags_named(&req, name).next() {
            tags.push(t.clone());
        }
    }
    let tag = |v: [&str; 2]| Tag::parse(v).map_err(|e| e.to_string());
    tags.push(tag(["P", &req.pubkey.to_hex()])?);
    tags.push(tag(["bolt11", paid.bolt11])?);
    tags.push(tag(["description", request])?);
    tags.push(tag(["preimage", paid.preimage])?);
    EventBuilder::new(Kind::ZapReceipt, "")
        .tags(tags)
        .custom_created_at(Timestamp::from_secs(paid.settled_at))
        .finalize(keys)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::nips::nip57::ZapRequestData;
    use nostr::prelude::RelayUrl;

    fn request(keys: &Keys, extra: Vec<Tag>) -> String {
        let to = Keys::generate().public_key();
        let relay = RelayUrl::parse("wss://relay.example").expect("relay url");
        EventBuilder::new(Kind::ZapRequest, "great post")
            .tags(Vec::<Tag>::from(
                ZapRequestData::new(to, [relay]).amount(21_000),
            ))
            .tags(extra)
            .finalize(keys)
            .expect("signs")
            .as_json()
    }

    fn any_relay(_: &str) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn a_request_made_by_rust_nostr_passes_and_its_receipt_verifies() {
        let (sender, server) = (Keys::generate(), Keys::generate());
        let raw = request(&sender, vec![]);
        let z = check_request(&raw, 21_000, any_relay).expect("valid request");
        assert_eq!(z.sender, sender.public_key().to_hex());
        assert_eq!(z.relays, ["wss://relay.example"]);
        let paid = Paid {
            bolt11: "lnbcrt1...",
            preimage: &"ab".repeat(32),
            settled_at: 1_700_000_000,
        };
        let r = receipt(&server, &raw, &paid).expect("receipt");
        r.verify().expect("receipt verifies");
        assert_eq!(r.pubkey, server.public_key());
        assert_eq!(r.created_at.as_secs(), 1_700_000_000);
        let desc = r.tags.iter().find(|t| t.kind() == "description");
        assert_eq!(desc.and_then(|t| t.content()), Some(raw.as_str()));
        // Built again (a retry after a crash): the same event id.
        assert_eq!(receipt(&server, &raw, &paid).expect("receipt").id, r.id);
    }

    #[test]
    fn refusals_name_their_rule() {
        let k = Keys::generate();
        let amount = check_request(&request(&k, vec![]), 20_000, any_relay);
        assert!(matches!(amount, Err(ZapError::AmountMismatch { .. })));
        let two_e = vec![
            Tag::parse(["e", &"1".repeat(64)]).expect("tag"),
            Tag::parse(["e", &"2".repeat(64)]).expect("tag"),
        ];
        assert_eq!(
            check_request(&request(&k, two_e), 21_000, any_relay).err(),
            Some(ZapError::ETags)
        );
        let refused = check_request(&request(&k, vec![]), 21_000, |_| Err("no".into()));
        assert!(matches!(refused, Err(ZapError::BadRelay(..))));
        let big = "x".repeat(MAX_REQUEST_BYTES + 1);
        assert_eq!(
            check_request(&big, 1, any_relay).err(),
            Some(ZapError::TooLarge(MAX_REQUEST_BYTES + 1))
        );
    }
}
