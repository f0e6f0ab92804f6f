//! What a person holding a withdraw link is shown: the page's data and the
//! live state (`GET /w/{secret}/status`), as one word, a label and a
//! sentence. Used by `web/pages/` and `web/qr.rs`.
//!
//! Service layer: imports `db` models, `lnurl` encoding and the server keys;
//! formats no HTTP. LNURLs are the uppercase LUD-01 form (dense alphanumeric
//! QR mode): <https://github.com/lnurl/luds/blob/luds/01.md>.

use serde::Serialize;

use super::{count, secret_shape_ok, with_withdrawals, WithdrawService};
use crate::db::models::withdraw_link::Availability;
use crate::db::models::{WithdrawLink, Withdrawal, WithdrawalState};
use crate::db::types::Msat;
use crate::lnurl;
use crate::service::{found, now, Error};

/// What a person sees about a withdraw link, as one word.
///
/// Multi-use links: while uses are left the link is `Ready` (right after a
/// successful withdrawal the detail line says so, so the person who just
/// withdrew sees it was paid); `Paid` is the end of a single-use link whose
/// payment succeeded; a multi-use link with no uses left is `UsedUp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawState {
    /// Can be scanned and withdrawn now.
    Ready,
    /// Multi-use link between uses: usable again once its wait is over.
    Waiting,
    /// A wallet claimed a use; the node is paying its invoice.
    Paying,
    /// Single-use link: the money was sent.
    Paid,
    /// No uses left (multi-use link, or a single-use one without a
    /// recorded successful payment).
    UsedUp,
    /// Past its expiry.
    Expired,
    /// Disabled by the operator.
    Disabled,
}

impl WithdrawState {
    /// The JSON/attribute value (`ready`, `paying`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawState::Ready => "ready",
            WithdrawState::Waiting => "waiting",
            WithdrawState::Paying => "paying",
            WithdrawState::Paid => "paid",
            WithdrawState::UsedUp => "used_up",
            WithdrawState::Expired => "expired",
            WithdrawState::Disabled => "disabled",
        }
    }

    /// Short label for people.
    pub fn label(self) -> &'static str {
        match self {
            WithdrawState::Ready => "Ready to withdraw",
            WithdrawState::Waiting => "Available again later",
            WithdrawState::Paying => "Claimed — paying…",
            WithdrawState::Paid => "Paid",
            WithdrawState::UsedUp => "Used up",
            WithdrawState::Expired => "Expired",
            WithdrawState::Disabled => "Disabled",
        }
    }

    /// Whether the state can no longer change (the page stops polling).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            WithdrawState::Paid
                | WithdrawState::UsedUp
                | WithdrawState::Expired
                | WithdrawState::Disabled
        )
    }
}

/// Live state of a withdraw link (`GET /w/{secret}/status`). Holds nothing
/// secret beyond what the URL already is.
#[derive(Debug, Clone, Serialize)]
pub struct WithdrawStatus {
    /// One word, see [`WithdrawState`].
    pub state: WithdrawState,
    /// Short label for people (for [`WithdrawState::Waiting`], the time it
    /// is available again).
    pub label: String,
    /// One sentence for people: what happened, what to do.
    pub detail: String,
    /// Uses the link was created with.
    pub uses: u64,
    /// Uses not yet claimed.
    pub uses_left: u64,
    /// Seconds until the next use may be claimed (multi-use links with a
    /// wait), 0 when it may be claimed now.
    pub wait_secs: u64,
    /// [`WithdrawState::is_final`]: the page's script stops polling, so the
    /// list of final states lives here only.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// Everything the withdraw page shows.
#[derive(Debug, Clone)]
pub struct WithdrawPage {
    /// The link's secret (part of every URL below).
    pub secret: String,
    /// Uppercase bech32 LNURL (LUD-01).
    pub lnurl: String,
    /// Title given by the operator (may be empty).
    pub title: String,
    /// Description given by the operator (may be empty).
    pub description: String,
    /// Minimum.
    pub min_msat: Msat,
    /// Maximum.
    pub max_msat: Msat,
    /// Unix seconds of expiry, if any.
    pub expires_at: Option<i64>,
    /// Current state.
    pub status: WithdrawStatus,
}

fn status_of(l: &WithdrawLink, ws: &[Withdrawal], t: i64) -> WithdrawStatus {
    let uses = count(l.uses_total);
    let uses_left = count(l.uses_left);
    let paying = ws.iter().any(|w| {
        matches!(
            w.state,
            WithdrawalState::Pending | WithdrawalState::InFlight | WithdrawalState::NeedsReview
        )
    });
    let (state, detail) = if paying {
        (
            WithdrawState::Paying,
            "A wallet claimed this link; the payment is on its way. Keep this page open."
                .to_owned(),
        )
    } else {
        match l.availability(t) {
            Availability::Disabled => (
                WithdrawState::Disabled,
                "The issuer has disabled this link; it cannot be withdrawn.".to_owned(),
            ),
            Availability::UsedUp => used_up(uses, last_done(ws)),
            Availability::Expired => (
                WithdrawState::Expired,
                "This link has expired and can no longer be withdrawn.".to_owned(),
            ),
            Availability::Usable => (WithdrawState::Ready, ready_detail(ws, 0, uses, uses_left)),
            Availability::Waiting { secs_left } => (
                WithdrawState::Waiting,
                ready_detail(ws, secs_left, uses, uses_left),
            ),
        }
    };
    // Counted whatever the state (a disabled link still reports its wait).
    let wait_secs = l.wait_secs(t);
    WithdrawStatus {
        state,
        // The wallet is told the wait in seconds; a person gets the time,
        // with the relative hint in the detail line.
        label: if state == WithdrawState::Waiting {
            format!("Available again at {}", available_at_text(t, wait_secs))
        } else {
            state.label().to_owned()
        },
        detail,
        uses,
        uses_left,
        wait_secs,
        is_final: state.is_final(),
    }
}

/// The state of the most recently finished withdrawal (rows are oldest
/// first), if any finished.
fn last_done(ws: &[Withdrawal]) -> Option<WithdrawalState> {
    ws.iter()
        .filter(|w| {
            matches!(
                w.state,
                WithdrawalState::Succeeded | WithdrawalState::Failed
            )
        })
        .max_by_key(|w| (w.completed_at.unwrap_or(w.created_at), w.created_at))
        .map(|w| w.state)
}

/// A link with no uses left: `Paid` for a single-use link whose payment
/// succeeded, `UsedUp` otherwise.
fn used_up(uses: u64, last_done: Option<WithdrawalState>) -> (WithdrawState, String) {
    let paid_last = last_done == Some(WithdrawalState::Succeeded);
    if uses <= 1 && paid_last {
        (
            WithdrawState::Paid,
            "The money was sent to the wallet that scanned this code.".to_owned(),
        )
    } else if paid_last {
        (
            WithdrawState::UsedUp,
            format!("The last withdrawal was paid; all {uses} uses of this link are taken."),
        )
    } else {
        (
            WithdrawState::UsedUp,
            "This link has already been used.".to_owned(),
        )
    }
}

/// The sentence of a `Ready` link: how the last withdrawal went, when the
/// next may be made, and the uses left of a multi-use link.
fn ready_detail(ws: &[Withdrawal], wait_secs: u64, uses: u64, uses_left: u64) -> String {
    let mut detail = match last_done(ws) {
        Some(WithdrawalState::Succeeded) => "The last withdrawal was paid. ".to_owned(),
        Some(WithdrawalState::Failed) => {
            "The last payment attempt failed; the amount is still available. ".to_owned()
        }
        _ => String::new(),
    };
    if wait_secs > 0 {
        detail.push_str(&format!(
            "The next withdrawal is possible in {}.",
            human_duration(wait_secs)
        ));
    } else {
        detail.push_str("Scan the code with a Lightning wallet, or open the link on this phone.");
    }
    if uses > 1 {
        detail.push_str(&format!(" {uses_left} of {uses} uses left."));
    }
    detail
}

/// `14:06 UTC` (today) or `2026-12-02 14:06 UTC`: the moment `wait_secs`
/// after `t`, rounded up to the minute so the time shown is never early.
fn available_at_text(t: i64, wait_secs: u64) -> String {
    let at = t.saturating_add(i64::try_from(wait_secs).unwrap_or(i64::MAX));
    let at = at.saturating_add(59) / 60 * 60;
    let (Ok(now), Ok(then)) = (
        time::OffsetDateTime::from_unix_timestamp(t),
        time::OffsetDateTime::from_unix_timestamp(at),
    ) else {
        return "a later time".to_owned();
    };
    let f = if now.date() == then.date() {
        then.format(time::macros::format_description!("[hour]:[minute] UTC"))
    } else {
        then.format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
    };
    f.unwrap_or_else(|_| "a later time".to_owned())
}

/// "45 seconds", "3 minutes", "2 hours" (rounded up, for a sentence).
fn human_duration(secs: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if secs < 90 {
        plural(secs, "second")
    } else if secs < 90 * 60 {
        plural(secs.div_ceil(60), "minute")
    } else {
        plural(secs.div_ceil(3600), "hour")
    }
}

impl WithdrawService {
    async fn link_and_withdrawals(
        &self,
        secret: &str,
    ) -> Result<(String, WithdrawLink, Vec<Withdrawal>), Error> {
        if !secret_shape_ok(secret) {
            return Err(Error::NotFound("unknown withdraw link".into()));
        }
        let secret = secret.to_ascii_lowercase();
        let lookup = self.keys.lookup(&secret);
        let (l, ws) = found(&self.db, "unknown withdraw link", move |c| {
            with_withdrawals(c, |c| WithdrawLink::find_by_lookup(c, &lookup))
        })
        .await?;
        Ok((secret, l, ws))
    }

    /// The uppercase LNURL of the withdraw link with this secret (for its
    /// QR image); `NotFound` for an unknown secret.
    pub async fn withdraw_lnurl(&self, secret: &str) -> Result<String, Error> {
        self.link_by_secret(secret).await?;
        let secret = secret.to_ascii_lowercase();
        Ok(lnurl::bech32::encode_upper(&self.withdraw_url(&secret)))
    }

    /// What the withdraw page shows.
    pub async fn withdraw_page(&self, secret: &str) -> Result<WithdrawPage, Error> {
        let (secret, l, ws) = self.link_and_withdrawals(secret).await?;
        let status = status_of(&l, &ws, now());
        Ok(WithdrawPage {
            lnurl: lnurl::bech32::encode_upper(&self.withdraw_url(&secret)),
            secret,
            title: l.title,
            description: l.description,
            min_msat: l.min_msat,
            max_msat: l.max_msat,
            expires_at: l.expires_at,
            status,
        })
    }

    /// Live state of a withdraw link.
    pub async fn withdraw_status(&self, secret: &str) -> Result<WithdrawStatus, Error> {
        let (_, l, ws) = self.link_and_withdrawals(secret).await?;
        Ok(status_of(&l, &ws, now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::types::{WithdrawLinkId, WithdrawalId};
    use WithdrawalState::{Failed, InFlight, Pending, Succeeded};

    fn link(uses_total: i64, uses_left: i64) -> WithdrawLink {
        WithdrawLink::sample(uses_total, uses_left)
    }

    fn wd(state: WithdrawalState, created_at: i64) -> Withdrawal {
        Withdrawal {
            id: WithdrawalId::from_raw(format!("wd_{created_at}")),
            state,
            completed_at: matches!(state, Succeeded | Failed).then_some(created_at + 1),
            ..Withdrawal::pending(
                WithdrawLinkId::from_raw("wl_1"),
                String::new(),
                String::new(),
                Msat::new(1000).expect("1000 msat fits"),
                Msat::ZERO,
                created_at,
            )
        }
    }

    #[test]
    fn single_use_states() {
        let t = 100;
        assert_eq!(status_of(&link(1, 1), &[], t).state, WithdrawState::Ready);
        assert_eq!(
            status_of(&link(1, 0), &[wd(Pending, 5)], t).state,
            WithdrawState::Paying
        );
        assert_eq!(
            status_of(&link(1, 0), &[wd(InFlight, 5)], t).state,
            WithdrawState::Paying
        );
        assert_eq!(
            status_of(&link(1, 0), &[wd(Succeeded, 5)], t).state,
            WithdrawState::Paid
        );
        // A failed payment gives the use back: ready again, and it says so.
        let s = status_of(&link(1, 1), &[wd(Failed, 5)], t);
        assert_eq!(s.state, WithdrawState::Ready);
        assert!(s.detail.contains("failed"));
        let mut l = link(1, 1);
        l.expires_at = Some(t);
        assert_eq!(status_of(&l, &[], t).state, WithdrawState::Expired);
        l.disabled_at = Some(t);
        assert_eq!(status_of(&l, &[], t).state, WithdrawState::Disabled);
    }

    #[test]
    fn multi_use_states() {
        let t = 100;
        let s = status_of(&link(3, 2), &[wd(Succeeded, 5)], t);
        assert_eq!(s.state, WithdrawState::Ready);
        assert!(s.detail.contains("was paid"), "{}", s.detail);
        assert!(s.detail.contains("2 of 3 uses left"), "{}", s.detail);
        let mut l = link(3, 2);
        l.wait_seconds = 120;
        l.next_use_at = t + 120;
        let s = status_of(&l, &[wd(Succeeded, 5)], t);
        assert_eq!((s.state, s.wait_secs), (WithdrawState::Waiting, 120));
        // t = 100 is 00:01:40 on 1970-01-01; +120 s is 00:03:40, shown as 00:04.
        assert_eq!(s.label, "Available again at 00:04 UTC");
        assert!(!s.is_final);
        assert!(s.detail.contains("2 minutes"), "{}", s.detail);
        let ws = [wd(Succeeded, 5), wd(Succeeded, 6), wd(Succeeded, 7)];
        assert_eq!(status_of(&link(3, 0), &ws, t).state, WithdrawState::UsedUp);
        let ws = [wd(Succeeded, 5), wd(InFlight, 6)];
        assert_eq!(status_of(&link(3, 1), &ws, t).state, WithdrawState::Paying);
    }

    #[test]
    fn status_json_says_whether_it_is_final() {
        let t = 100;
        let json = |s: WithdrawStatus| serde_json::to_string(&s).expect("status serializes");
        let paid = json(status_of(&link(1, 0), &[wd(Succeeded, 5)], t));
        assert!(paid.starts_with(r#"{"state":"paid","label":"#), "{paid}");
        assert!(paid.ends_with(r#","wait_secs":0,"final":true}"#), "{paid}");
        let paying = json(status_of(&link(1, 0), &[wd(Pending, 5)], t));
        assert!(paying.ends_with(r#","final":false}"#), "{paying}");
        let ready = json(status_of(&link(1, 1), &[], t));
        assert!(ready.ends_with(r#","final":false}"#), "{ready}");
    }

    #[test]
    fn available_again_reads_as_a_time() {
        // 2026-12-01 14:00:00 UTC.
        let t = 1_796_133_600;
        assert_eq!(available_at_text(t, 0), "14:00 UTC");
        assert_eq!(available_at_text(t, 1), "14:01 UTC");
        assert_eq!(available_at_text(t, 3598), "15:00 UTC");
        assert_eq!(available_at_text(t, 86_400), "2026-12-02 14:00 UTC");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(7200), "2 hours");
        // Minutes from 90 seconds on (rounded), hours from 90 minutes
        // (5,400 s) on: just below each edge the smaller unit still shows.
        assert_eq!(human_duration(89), "89 seconds");
        assert_eq!(human_duration(90), "2 minutes");
        assert_eq!(human_duration(5399), "90 minutes");
        assert_eq!(human_duration(5400), "2 hours");
    }

    #[test]
    fn a_single_use_link_usable_now_says_only_how_to_withdraw() {
        // No "in 0 seconds" for a link without a wait, and no "1 of 1 uses
        // left" for a single-use link.
        assert_eq!(
            status_of(&link(1, 1), &[], 100).detail,
            "Scan the code with a Lightning wallet, or open the link on this phone."
        );
    }
}
