//! One rule, one truth table: `WithdrawLink::availability` decides whether a
//! withdraw link can be used, and the SQL that must decide atomically (the
//! claim of a use) or in the query (the admin list filters) mirrors it. Here
//! both are run against a real database for every combination of uses left,
//! expiry, disabling and the wait between uses, and must agree row by row.

use lnurld::db::models::withdraw_link::Availability;
use lnurld::db::models::WithdrawLink;
use lnurld::db::types::{Msat, WithdrawLinkId, WithdrawLinkStatus};

use crate::both_dbs;
use crate::support::db::TestDb;

both_dbs!(claim_and_list_sql_agree_with_availability);

/// The clock of the whole table (unix seconds); rows sit around it.
const NOW: i64 = 1_000_000;
const BUCKETS: &[WithdrawLinkStatus] = WithdrawLinkStatus::ALL;

/// One row of the truth table.
#[derive(Debug, Clone, Copy)]
struct Case {
    uses_left: i64,
    expires_at: Option<i64>,
    disabled: bool,
    next_use_at: i64,
    wait_seconds: i64,
}

impl Case {
    fn all() -> Vec<Case> {
        let mut cases = Vec::new();
        for uses_left in [0, 1, 3] {
            // Past, exactly now (already expired), future, never.
            for expires_at in [Some(NOW - 100), Some(NOW), Some(NOW + 100), None] {
                for disabled in [false, true] {
                    // Never waited, wait ends exactly now (usable), still waiting.
                    for next_use_at in [0, NOW, NOW + 60] {
                        // A link without a wait never waits, whatever
                        // `next_use_at` says (the last claim's time).
                        for wait_seconds in [0, 60] {
                            cases.push(Case {
                                uses_left,
                                expires_at,
                                disabled,
                                next_use_at,
                                wait_seconds,
                            });
                        }
                    }
                }
            }
        }
        cases
    }

    fn id(i: usize) -> WithdrawLinkId {
        WithdrawLinkId::from_raw(format!("wl_case{i:03}"))
    }

    fn row(self, i: usize) -> WithdrawLink {
        WithdrawLink {
            id: Case::id(i),
            secret_lookup: format!("lookup{i:03}"),
            secret_enc: String::new(),
            min_msat: Msat::new(1000).unwrap(),
            max_msat: Msat::new(1000).unwrap(),
            uses_total: 3,
            uses_left: self.uses_left,
            wait_seconds: self.wait_seconds,
            next_use_at: self.next_use_at,
            expires_at: self.expires_at,
            title: String::new(),
            description: String::new(),
            webhook_url: None,
            external_id: None,
            batch_id: None,
            balance_check: false,
            pay_link: None,
            disabled_at: None,
            // Distinct, so the list's order (and the test's output) is stable.
            created_at: i as i64,
            updated_at: i as i64,
        }
    }
}

/// What the method and the SQL said about one row.
#[derive(Debug)]
struct Verdict {
    case: Case,
    availability: Availability,
    /// Every list filter whose SQL returned the row.
    listed_in: Vec<WithdrawLinkStatus>,
    /// Whether the claim's SQL claimed a use.
    claimed: bool,
    /// `(uses_left, next_use_at)` before and after the claim.
    before: (i64, i64),
    after: (i64, i64),
}

async fn claim_and_list_sql_agree_with_availability(db: TestDb) {
    let pool = db.pool().await;
    pool.migrate().await.unwrap();
    let cases = Case::all();
    let verdicts = pool
        .run(move |c| {
            for (i, case) in cases.iter().enumerate() {
                WithdrawLink::insert(c, &case.row(i))?;
                if case.disabled {
                    WithdrawLink::disable(c, &Case::id(i), NOW - 1)?;
                }
            }
            let mut verdicts = Vec::new();
            for (i, case) in cases.iter().enumerate() {
                let id = Case::id(i);
                let row = WithdrawLink::find(c, &id)?.expect("row just inserted");
                let mut listed_in = Vec::new();
                for &bucket in BUCKETS {
                    let rows = WithdrawLink::list(c, Some(bucket), None, NOW, 1000, None)?;
                    if rows.iter().any(|r| r.id == id) {
                        listed_in.push(bucket);
                    }
                }
                // Last: a claim changes the row.
                let claimed = WithdrawLink::claim_use(c, &id, NOW)?;
                let again = WithdrawLink::find(c, &id)?.expect("row still there");
                verdicts.push(Verdict {
                    case: *case,
                    availability: row.availability(NOW),
                    listed_in,
                    claimed,
                    before: (row.uses_left, row.next_use_at),
                    after: (again.uses_left, again.next_use_at),
                });
            }
            Ok(verdicts)
        })
        .await
        .unwrap();

    let wrong: Vec<String> = verdicts
        .iter()
        .filter(|v| {
            // A claim takes one use and starts the wait; a refused claim
            // changes nothing.
            let effect = if v.claimed {
                (v.before.0 - 1, NOW + v.case.wait_seconds)
            } else {
                v.before
            };
            v.claimed != (v.availability == Availability::Usable)
                || v.listed_in != [v.availability.bucket()]
                || v.after != effect
        })
        .map(|v| {
            format!(
                "{:?}: availability {:?}, listed in {:?}, claimed {}, (uses_left, next_use_at) {:?} -> {:?}",
                v.case, v.availability, v.listed_in, v.claimed, v.before, v.after
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the SQL and WithdrawLink::availability disagree on {} of {} rows:\n{}",
        wrong.len(),
        verdicts.len(),
        wrong.join("\n")
    );
    // The table reaches every answer the method can give.
    for answer in [
        Availability::Usable,
        Availability::Waiting { secs_left: 60 },
        Availability::UsedUp,
        Availability::Expired,
        Availability::Disabled,
    ] {
        assert!(
            verdicts.iter().any(|v| v.availability == answer),
            "no row is {answer:?}"
        );
    }
}
