//! Offline receive, the phone side: the phone's reply to a payer's request
//! (`POST /offline/reply/{token}`), checked by
//! [`crate::lnurl::offline_reply`] before anything of it reaches the payer,
//! and taken at most once, while the payer still waits (see `payer.rs` for
//! the waiting side).

use serde_json::Value;

use super::payer::hash_hex;
use super::OfflineService;
use crate::db::models::offline::{
    announce, state, OfflineInfo, OfflineInvoice, OfflineRequest, Tally,
};
use crate::db::DbError;
use crate::lnurl::offline_reply::{self as wire, Checked, InvoiceContext};
use crate::metrics::Counter;
use crate::service::{now, Error};

/// Why a reply was not taken (the phone's answer: 404, 409, 410, 422).
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// No request has this token.
    #[error("unknown reply token")]
    Unknown,
    /// The request was answered already.
    #[error("this request was already answered")]
    Answered,
    /// The payer was already told the wallet did not answer.
    #[error("too late: the payer's request has expired")]
    Late,
    /// The reply failed a check; the payer got an error.
    #[error("{0}")]
    Refused(String),
    /// Our own trouble.
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<DbError> for ReplyError {
    fn from(e: DbError) -> Self {
        ReplyError::Other(e.into())
    }
}

/// What an accepted reply writes beside its answer (same transaction).
enum Record {
    /// The pay request, cached for later payers.
    Info(OfflineInfo),
    /// A relayed invoice: its payment hash stays taken, and verify serves
    /// it when it was relayed with our verify URL.
    Invoice(OfflineInvoice),
    /// A verify answer: the proved preimage, or the unsettled answer and
    /// until when it is served again.
    Verify {
        payment_hash: String,
        preimage: Option<String>,
        body: String,
        cached_until: i64,
    },
}

/// How long an unsettled verify answer is served again at most, whatever
/// the phone's `max-age`.
pub const UNSETTLED_CACHE_SECS: i64 = 60;

impl OfflineService {
    /// `POST /offline/reply/{token}`: the phone's reply, counted in
    /// `/metrics` by outcome. See [`Self::take_reply`].
    pub async fn reply(
        &self,
        token: &str,
        body: &[u8],
        cache_control: Option<&str>,
    ) -> Result<(), ReplyError> {
        let r = self.take_reply(token, body, cache_control).await;
        self.metrics.count(match &r {
            Ok(()) => Counter::OfflineRepliesAccepted,
            Err(ReplyError::Refused(_)) => Counter::OfflineRepliesRefused,
            Err(ReplyError::Unknown | ReplyError::Answered | ReplyError::Late) => {
                Counter::OfflineRepliesUnmatched
            }
            Err(ReplyError::Other(_)) => return r,
        });
        r
    }

    /// The phone's reply. Checked before
    /// anything of it reaches the payer; a reply that fails a check answers
    /// the payer with an error too (and the phone with 422 and the reason).
    async fn take_reply(
        &self,
        token: &str,
        body: &[u8],
        cache_control: Option<&str>,
    ) -> Result<(), ReplyError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReplyError::Unknown);
        }
        let th = hash_hex(&token.to_ascii_lowercase());
        let row = self
            .db
            .run(move |c| OfflineRequest::find_by_token(c, &th))
            .await?
            .ok_or(ReplyError::Unknown)?;
        let t = now();
        match row.state.as_str() {
            state::ANSWERED => return Err(ReplyError::Answered),
            state::EXPIRED => return Err(ReplyError::Late),
            _ if row.deadline < t => return Err(ReplyError::Late),
            _ => {}
        }
        let pk = row.pubkey.clone();
        let info = self.db.run(move |c| OfflineInfo::find(c, &pk)).await?;
        // The payer's answer, what is recorded with it, and the payment
        // hash it claims.
        let (answer, record, invoice_hash): (Value, Option<Record>, Option<String>) =
            match row.kind.as_str() {
                "info" => match wire::check_info(body, &row.callback) {
                    Err(why) => return self.refuse(&row, why).await,
                    Ok(Checked::WalletError(r)) => (wallet_said(&r), None, None),
                    Ok(Checked::Answer(a)) => {
                        let json = a.to_json();
                        let cache = OfflineInfo {
                            pubkey: row.pubkey.clone(),
                            body: json.to_string(),
                            metadata: a.metadata.clone(),
                            prev_metadata: None,
                            min_msat: i64::try_from(a.min_msat).unwrap_or(i64::MAX),
                            max_msat: i64::try_from(a.max_msat).unwrap_or(i64::MAX),
                            cached_until: t + wire::max_age(cache_control),
                        };
                        (json, Some(Record::Info(cache)), None)
                    }
                },
                "verify" => {
                    let hash = row.verify_hash.clone().unwrap_or_default();
                    let h = hash.clone();
                    let Some(inv) = self.db.run(move |c| OfflineInvoice::find(c, &h)).await? else {
                        return self
                            .refuse(&row, "this invoice is no longer known".into())
                            .await;
                    };
                    match wire::check_verify(body, &hash, &inv.bolt11) {
                        Err(why) => return self.refuse(&row, why).await,
                        Ok(Checked::WalletError(r)) => (wallet_said(&r), None, None),
                        Ok(Checked::Answer(a)) => {
                            let json = a.to_json(&inv.bolt11);
                            // "Not paid yet" may stop being true at any
                            // moment: served again for a minute at most,
                            // and never once the invoice can no longer be
                            // paid. A proved payment is kept for good.
                            let cached_until = (t + wire::max_age(cache_control)
                                .min(UNSETTLED_CACHE_SECS))
                            .min(inv.expires_at);
                            let record = Record::Verify {
                                payment_hash: hash,
                                preimage: a.preimage.clone(),
                                body: json.to_string(),
                                cached_until,
                            };
                            (json, Some(record), None)
                        }
                    }
                }
                _ => {
                    let metadata: Vec<String> = info
                        .iter()
                        .flat_map(|i| {
                            std::iter::once(i.metadata.clone()).chain(i.prev_metadata.clone())
                        })
                        .collect();
                    let pubkey = row.pubkey.clone();
                    let verify_url = |h: &str| self.verify_url(&pubkey, h);
                    let ctx = InvoiceContext {
                        currency: self.currency.clone(),
                        amount_msat: row.amount_msat.unwrap_or(0).max(0) as u64,
                        metadata: &metadata,
                        requested_at: row.created_at,
                        verify_url: &verify_url,
                    };
                    match wire::check_invoice(body, &ctx, t) {
                        Err(why) => return self.refuse(&row, why).await,
                        Ok(Checked::WalletError(r)) => (wallet_said(&r), None, None),
                        Ok(Checked::Answer(a)) => {
                            // Kept whether or not the payer is given our
                            // verify URL: its payment hash stays taken until
                            // the purge, 30 days after it expires
                            // (offline_requests.invoice_hash goes an hour
                            // after the deadline).
                            let record = Record::Invoice(OfflineInvoice {
                                payment_hash: a.payment_hash.clone(),
                                pubkey: row.pubkey.clone(),
                                bolt11: a.pr.clone(),
                                expires_at: a.expires_at,
                                preimage: None,
                                verify_body: None,
                                verify_cached_until: 0,
                                created_at: t,
                                verifiable: a.verify.is_some(),
                            });
                            (a.to_json(), Some(record), Some(a.payment_hash.clone()))
                        }
                    }
                }
            };
        let id = row.id.clone();
        let pubkey = row.pubkey.clone();
        let text = answer.to_string();
        let notify = self.config.notify;
        let done = self
            .db
            .transaction_or(move |c| -> Result<bool, ReplyError> {
                let answered =
                    match OfflineRequest::answer(c, &id, &text, invoice_hash.as_deref(), t) {
                        Err(DbError::Duplicate(_)) => return Err(reused()),
                        other => other?,
                    };
                if !answered {
                    return Ok(false);
                }
                // The registration row next, before offline_info: the
                // operator's delete and unregister take the registration
                // and then offline_info, and on PostgreSQL two
                // transactions taking rows in opposite orders can
                // deadlock. A wallet removed meanwhile gets no pay request
                // cached (it would outlive its registration).
                let registered = super::rows::tally(c, &pubkey, Tally::Accepted)?;
                match record {
                    Some(Record::Info(info)) if registered => info.save(c)?,
                    Some(Record::Info(_)) => {}
                    Some(Record::Invoice(inv)) => match inv.insert(c) {
                        // Kept from a payer whose request row is purged.
                        Err(DbError::Duplicate(_)) => return Err(reused()),
                        other => other?,
                    },
                    Some(Record::Verify {
                        payment_hash,
                        preimage: Some(p),
                        ..
                    }) => OfflineInvoice::settle(c, &payment_hash, &p)?,
                    Some(Record::Verify {
                        payment_hash,
                        preimage: None,
                        body,
                        cached_until,
                    }) => OfflineInvoice::cache_verify(c, &payment_hash, &body, cached_until)?,
                    None => {}
                }
                if answered && notify {
                    announce(c, &id)?;
                }
                Ok(answered)
            })
            .await;
        let done = match done {
            Err(ReplyError::Refused(why)) => return self.refuse(&row, why).await,
            other => other?,
        };
        self.wake.notify_waiters();
        if done {
            Ok(())
        } else {
            // Answered or expired between the read and the write.
            Err(ReplyError::Late)
        }
    }

    /// Answers the payer with an error for a reply that failed a check.
    async fn refuse(&self, row: &OfflineRequest, why: String) -> Result<(), ReplyError> {
        tracing::info!(pubkey = %row.pubkey, kind = %row.kind, reason = %why, "offline reply refused");
        let id = row.id.clone();
        let text = serde_json::json!({
            "status": "ERROR",
            "reason": "the recipient's wallet sent an answer that failed lnurld's checks",
        })
        .to_string();
        let pubkey = row.pubkey.clone();
        let t = now();
        let notify = self.config.notify;
        self.db
            .transaction(move |c| {
                if OfflineRequest::answer(c, &id, &text, None, t)? {
                    super::rows::tally(c, &pubkey, Tally::Refused)?;
                    if notify {
                        announce(c, &id)?;
                    }
                }
                Ok(())
            })
            .await?;
        self.wake.notify_waiters();
        Err(ReplyError::Refused(why))
    }
}

fn reused() -> ReplyError {
    ReplyError::Refused("this invoice was already relayed to a payer; make a new one".into())
}

fn wallet_said(reason: &str) -> Value {
    serde_json::json!({"status": "ERROR", "reason": format!("the recipient's wallet: {reason}")})
}
