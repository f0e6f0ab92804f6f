//! The wallet's side of LNURL-pay: the pay request of a link (LUD-06) or a
//! Lightning Address (LUD-16), the callback that issues the invoice with
//! its comment (LUD-12), payer data (LUD-18) and success action
//! (LUD-09/10), and verify (LUD-21). Service layer: imports `lnurl`, `db`
//! and `node`.
//! <https://github.com/lnurl/luds/blob/luds/06.md>,
//! <https://github.com/lnurl/luds/blob/luds/21.md>

use rand::RngCore;

use super::settlement::settlement_of;
use super::PayService;
use super::SuccessActionConfig;
use crate::db::models::{CappedInsert, PayInvoice, PayLink};
use crate::db::types::{Msat, PayInvoiceState, PayLinkId};
use crate::lnurl;
use crate::lnurl::fmt_msat;
use crate::lnurl::wire::{PayCallbackResponse, PayRequest, PayerDataSpec, SuccessAction};
use crate::node::{InvoiceRequest, PaymentHash, Preimage};
use crate::paths;
use crate::service::{found, now, Error};

impl PayService {
    fn pay_request_of(&self, l: &PayLink) -> PayRequest {
        let zap_key = self.zaps.pubkey().filter(|_| l.allows_nostr);
        PayRequest {
            callback: self.url(&paths::lnurlp_callback(l.id.as_str())),
            min_sendable: l.min_msat.get(),
            max_sendable: l.max_msat.get(),
            metadata: l.metadata.clone(),
            comment_allowed: Some(l.comment_chars()).filter(|n| *n > 0),
            payer_data: l
                .payer_data
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            // NIP-57: both fields or neither.
            allows_nostr: zap_key.as_ref().map(|_| true),
            nostr_pubkey: zap_key,
        }
    }

    /// LUD-06 step 1 for `/lnurlp/{id}`.
    pub async fn pay_request(&self, id: &PayLinkId) -> Result<PayRequest, Error> {
        let l = self.first_step_pay_link(id).await?;
        Ok(self.pay_request_of(&l))
    }

    /// LUD-16 step 1 for `/.well-known/lnurlp/{username}`.
    pub async fn address_pay_request(&self, username: &str) -> Result<PayRequest, Error> {
        let l = self.first_step_address(username).await?;
        Ok(self.pay_request_of(&l))
    }

    /// LUD-06 step 2: checks everything the payer sent, then asks the node
    /// for an invoice of exactly `amount` msat whose description hash is
    /// sha256(metadata [+ payerdata]) — or, for a NIP-57 zap (`nostr`),
    /// sha256 of the zap request exactly as received. Nothing is written
    /// and the node is not called when a check fails.
    pub async fn pay_callback(
        &self,
        id: &PayLinkId,
        amount: Option<&str>,
        comment: Option<&str>,
        payerdata: Option<&str>,
        nostr: Option<&str>,
    ) -> Result<PayCallbackResponse, Error> {
        let l = self.active_pay_link(id).await?;
        let amount_msat = parse_amount(amount, l.min_msat, l.max_msat)?;
        let comment = comment.filter(|c| !c.is_empty());
        check_comment(&l, comment)?;
        let zap = self.checked_zap(&l, amount_msat, nostr)?;
        // A zap's invoice commits to the zap request alone (NIP-57): LUD-18
        // payer data is then neither asked for nor hashed.
        let payerdata = match zap {
            Some(_) => None,
            None => checked_payer_data(&l, payerdata)?,
        };
        let description = match zap {
            Some(z) => z.to_owned(),
            None => format!("{}{}", l.metadata, payerdata.unwrap_or("")),
        };
        let description_hash = lnurl::description_hash(&description, None);
        // The cap is checked twice. This cheap count keeps a flood away
        // from the node: past the cap, no invoice is made at all. Callbacks
        // racing past it together are caught by the count inside the insert
        // transaction (`insert_capped`), which serialises on the link's
        // row; the node's invoice of the loser is then simply never handed
        // out (it expires unpaid on the node). Reserving a slot before the
        // node call would be exact too, but would need a placeholder row
        // and its clean-up when the node fails.
        if self.max_open_invoices_per_link > 0 {
            let (link, t) = (l.id.clone(), now());
            let open = self
                .db
                .run(move |c| PayInvoice::count_open(c, &link, t))
                .await?;
            if open >= self.max_open_invoices_per_link {
                return Err(too_many_open_invoices());
            }
        }

        let action: Option<SuccessActionConfig> = l
            .success_action
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok());
        let preimage = preimage_for(action.as_ref());
        let expiry_secs = self.invoice_expiry_secs;
        let created = self
            .node
            .create_invoice(InvoiceRequest {
                amount_msat: amount_msat.get(),
                description_hash,
                description: Some(description),
                expiry_secs,
                preimage,
            })
            .await?;
        let success_action = success_action_of(action, preimage)?;
        let t = now();
        let hash = created.payment_hash.to_hex();
        let row = PayInvoice {
            payment_hash: hash.clone(),
            pay_link_id: l.id.clone(),
            bolt11: created.bolt11.clone(),
            amount_msat,
            comment: comment.map(str::to_owned),
            payer_data: payerdata.map(str::to_owned),
            state: PayInvoiceState::Open,
            preimage: None,
            amount_paid_msat: None,
            settle_index: None,
            expires_at: t + i64::from(expiry_secs),
            created_at: t,
            settled_at: None,
            node_pubkey: Some(self.node_pubkey.clone()),
            zap_request: zap.map(str::to_owned),
            zap_receipt: None,
        };
        let cap = self.max_open_invoices_per_link;
        if cap > 0 {
            let done = self
                .db
                .transaction(move |c| row.insert_capped(c, cap, t))
                .await?;
            match done {
                CappedInsert::Inserted => {}
                CappedInsert::Full => return Err(too_many_open_invoices()),
                CappedInsert::LinkInactive => {
                    return Err(Error::NotFound("unknown pay link".into()))
                }
            }
        } else {
            self.db.write(move |c| row.insert(c)).await?;
        }
        Ok(PayCallbackResponse {
            pr: created.bolt11,
            routes: Vec::new(),
            success_action,
            disposable: Some(false),
            verify: Some(self.url(&paths::lnurlp_verify(&hash))),
        })
    }

    /// LUD-21 verify, answered from the database: settlements reach it
    /// through the invoice watcher within moments. Only while an invoice
    /// is open (and not yet marked expired) is the node asked as well, in
    /// case the watcher lags, and then at most once every
    /// [`VERIFY_NODE_CHECK_SECS`] per invoice across all requests and
    /// instances, so a flood of verify requests is a flood of reads, not
    /// of node calls.
    pub async fn verify_invoice(
        &self,
        payment_hash: &str,
    ) -> Result<lnurl::wire::VerifyResponse, Error> {
        let Some(hash) = PaymentHash::from_hex(payment_hash) else {
            return Err(Error::NotFound("Not found".into()));
        };
        let h = hash.to_hex();
        let (inv, (expired_at, checked_at)) = found(&self.db, "Not found", move |c| {
            Ok(match PayInvoice::find(c, &h)? {
                Some(inv) => Some((inv, PayInvoice::marks(c, &h)?)),
                None => None,
            })
        })
        .await?;
        let from_db = |inv: PayInvoice| lnurl::wire::VerifyResponse {
            settled: inv.state == PayInvoiceState::Settled,
            preimage: inv
                .preimage
                .filter(|_| inv.state == PayInvoiceState::Settled),
            pr: inv.bolt11,
        };
        let t = now();
        // Only the node that issued it can say it was paid (invariant 7).
        let ours = inv
            .node_pubkey
            .as_deref()
            .is_none_or(|n| n == self.node_pubkey);
        let may_ask = inv.state == PayInvoiceState::Open
            && ours
            && expired_at.is_none()
            && checked_at.is_none_or(|at| at <= t - VERIFY_NODE_CHECK_SECS);
        if !may_ask {
            return Ok(from_db(inv));
        }
        // Read first, write only when due: the claim is a conditional
        // UPDATE, so of many requests (or instances) one asks the node.
        let h = hash.to_hex();
        let claimed = self
            .db
            .write(move |c| PayInvoice::claim_node_check(c, &h, t, VERIFY_NODE_CHECK_SECS))
            .await?;
        if !claimed {
            return Ok(from_db(inv));
        }
        let answer = self.node.invoice(hash).await?;
        if let Some(s) = answer.and_then(|st| settlement_of(hash, &st)) {
            self.record_settlement(&s).await?;
            return Ok(lnurl::wire::VerifyResponse {
                settled: true,
                preimage: Some(s.preimage.to_hex()),
                pr: inv.bolt11,
            });
        }
        Ok(from_db(inv))
    }
}

impl PayService {
    /// NIP-57: the zap request of a callback, when one was sent, after
    /// every check (`lnurl::zap::check_request`; relays by the webhook
    /// target guard). Zaps are refused where they are not offered: with
    /// `[nostr]` disabled, or on a link that turned them off.
    fn checked_zap<'a>(
        &self,
        l: &PayLink,
        amount: Msat,
        nostr: Option<&'a str>,
    ) -> Result<Option<&'a str>, Error> {
        let Some(raw) = nostr.filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if !self.zaps.enabled() {
            return Err(Error::Invalid(
                "This server does not accept zaps (NIP-57): the nostr parameter cannot be used."
                    .into(),
            ));
        }
        if !l.allows_nostr {
            return Err(Error::Invalid(
                "This link does not accept zaps (NIP-57): pay it without the nostr parameter."
                    .into(),
            ));
        }
        lnurl::zap::check_request(raw, amount.get(), |r| self.zaps.check_relay(r))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(Some(raw))
    }
}

/// How often verify may ask the node about one open invoice.
pub const VERIFY_NODE_CHECK_SECS: i64 = 5;

/// The LUD error past `[pay] max_open_invoices_per_link`.
fn too_many_open_invoices() -> Error {
    Error::Unavailable("This link has too many unpaid invoices right now; try again later.".into())
}

/// LUD-12: a comment only where the link allows one, and no longer than it
/// allows.
fn check_comment(l: &PayLink, comment: Option<&str>) -> Result<(), Error> {
    if let Some(c) = comment {
        if l.comment_allowed <= 0 {
            return Err(Error::Invalid("This link does not accept comments.".into()));
        }
        let n = c.chars().count();
        if i64::try_from(n).map_or(true, |n| n > l.comment_allowed) {
            return Err(Error::Invalid(format!(
                "Comment is too long: {n} characters, at most {} allowed.",
                l.comment_allowed
            )));
        }
    }
    Ok(())
}

/// LUD-18: the payer data that goes into the description hash, checked
/// against the link's spec; `None` means the bare metadata is hashed.
fn checked_payer_data<'a>(
    l: &PayLink,
    payerdata: Option<&'a str>,
) -> Result<Option<&'a str>, Error> {
    let spec: Option<PayerDataSpec> = l
        .payer_data
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    // LUD-18: hash metadata + payerdata only when payerData was offered
    // and the wallet sent it; otherwise the bare metadata.
    Ok(match (&spec, payerdata.filter(|p| !p.is_empty())) {
        (Some(spec), Some(pd)) => {
            if pd.len() > 4096 {
                return Err(Error::Invalid("payerdata is too long".into()));
            }
            lnurl::check_payer_data(spec, pd)?;
            Some(pd)
        }
        (Some(spec), None) => {
            lnurl::check_payer_data(spec, "{}")?;
            None
        }
        (None, _) => None,
    })
}

/// The preimage to create the invoice with: our own for a LUD-10 aes
/// action (it is the encryption key, so it must be known before the node
/// answers), else `None` and the node picks one.
fn preimage_for(action: Option<&SuccessActionConfig>) -> Option<Preimage> {
    match action {
        Some(SuccessActionConfig::Aes { .. }) => {
            let mut p = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut p);
            Some(Preimage(p))
        }
        _ => None,
    }
}

/// The LUD-09/10 success action sent with the invoice; an aes one is
/// encrypted with this invoice's `preimage`.
fn success_action_of(
    action: Option<SuccessActionConfig>,
    preimage: Option<Preimage>,
) -> Result<Option<SuccessAction>, Error> {
    Ok(match action {
        None => None,
        Some(SuccessActionConfig::Message { message }) => Some(SuccessAction::Message { message }),
        Some(SuccessActionConfig::Url { description, url }) => {
            Some(SuccessAction::Url { description, url })
        }
        Some(SuccessActionConfig::Aes {
            description,
            plaintext,
        }) => {
            let p = preimage.ok_or_else(|| Error::Internal("aes without preimage".into()))?;
            let mut iv = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut iv);
            let (ciphertext, iv) = lnurl::aes::encrypt(&p.0, &plaintext, iv)
                .map_err(|e| Error::Internal(e.to_string()))?;
            Some(SuccessAction::Aes {
                description,
                ciphertext,
                iv,
            })
        }
    })
}

/// LUD-06 `amount`: a whole number of msat within the link's bounds.
fn parse_amount(amount: Option<&str>, min: Msat, max: Msat) -> Result<Msat, Error> {
    let (min, max) = (min.get(), max.get());
    let a = amount
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::Invalid("Missing amount parameter (millisatoshis).".into()))?;
    if !a.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid(format!(
            "Amount {a:?} is not a whole number of millisatoshis."
        )));
    }
    let above = || {
        Error::Invalid(format!(
            "The amount is above the maximum of {}.",
            fmt_msat(max)
        ))
    };
    let n: u64 = a.parse().map_err(|_| above())?;
    if n < min {
        return Err(Error::Invalid(format!(
            "The amount ({}) is below the minimum of {}.",
            fmt_msat(n),
            fmt_msat(min)
        )));
    }
    if n > max {
        return Err(Error::Invalid(format!(
            "The amount ({}) is above the maximum of {}.",
            fmt_msat(n),
            fmt_msat(max)
        )));
    }
    // n <= max, which came from a column, so it fits one.
    Msat::new(n).ok_or_else(|| Error::Internal(format!("amount {n} does not fit a column")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_msat_within_bounds() {
        let msat = |n| Msat::new(n).expect("test amount fits");
        assert_eq!(
            parse_amount(Some("1000"), msat(1000), msat(2000)).expect("test input is valid"),
            msat(1000)
        );
        for bad in [
            "",
            "0",
            "999",
            "2001",
            "1e3",
            "1000.0",
            "-1000",
            "+1000",
            "abc",
            "99999999999999999999999",
        ] {
            assert!(
                parse_amount(Some(bad), msat(1000), msat(2000)).is_err(),
                "{bad}"
            );
        }
        assert!(parse_amount(None, msat(1), msat(2)).is_err());
    }
}
