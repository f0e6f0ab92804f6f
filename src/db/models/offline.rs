//! Offline receive's tables: `offline_registrations` (one phone wallet per
//! pubkey, its push webhook and username), `offline_claims` (signed
//! statements already acted on) and `offline_name_holds` (usernames kept
//! for the owner who released them), `offline_requests` (payers waiting on a
//! phone) and `offline_info` (its last pay request). Database layer:
//! imports `db` only.

use diesel::prelude::*;

use crate::db::schema::{
    offline_claims, offline_info, offline_invoices, offline_name_holds, offline_registrations,
    offline_requests,
};
use crate::db::{DbConn, DbError};

/// A registered phone wallet (also its insert and update form).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = offline_registrations, treat_none_as_null = true)]
pub struct OfflineRegistration {
    /// 66 lowercase hex, compressed secp256k1.
    pub pubkey: String,
    /// Lowercase LUD-16 username; shares its namespace with pay links.
    pub username: Option<String>,
    /// The push webhook as registered (with the app's push token), sealed
    /// with the server key for this pubkey (`v2:…`,
    /// `Purpose::PushWebhook`); never in clear.
    pub webhook_url: String,
    /// The webhook's host alone: what operators are shown.
    pub webhook_host: String,
    /// BOLT12 offer, as registered (stored, not served).
    pub offer: Option<String>,
    /// Unix seconds of the first registration.
    pub created_at: i64,
    /// Unix seconds of the last register call.
    pub refreshed_at: i64,
}

impl OfflineRegistration {
    /// By pubkey.
    pub fn find(conn: &mut DbConn, pubkey: &str) -> Result<Option<OfflineRegistration>, DbError> {
        Ok(offline_registrations::table
            .find(pubkey)
            .select(OfflineRegistration::as_select())
            .first(conn)
            .optional()?)
    }

    /// By (lowercase) username.
    pub fn find_by_username(
        conn: &mut DbConn,
        username: &str,
    ) -> Result<Option<OfflineRegistration>, DbError> {
        Ok(offline_registrations::table
            .filter(offline_registrations::username.eq(username))
            .select(OfflineRegistration::as_select())
            .first(conn)
            .optional()?)
    }

    /// Writes `self` whole: a new row, or every column of the pubkey's row
    /// but `created_at`.
    pub fn save(&self, conn: &mut DbConn) -> Result<(), DbError> {
        let n = diesel::update(offline_registrations::table.find(&self.pubkey))
            .set((
                offline_registrations::username.eq(&self.username),
                offline_registrations::webhook_url.eq(&self.webhook_url),
                offline_registrations::webhook_host.eq(&self.webhook_host),
                offline_registrations::offer.eq(&self.offer),
                offline_registrations::refreshed_at.eq(self.refreshed_at),
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(offline_registrations::table)
                .values(self)
                .execute(conn)?;
        }
        Ok(())
    }

    /// Deletes the pubkey's registration if its stored (sealed) webhook is
    /// still `webhook_url`; the row deleted, if any.
    pub fn delete(
        conn: &mut DbConn,
        pubkey: &str,
        webhook_url: &str,
    ) -> Result<Option<OfflineRegistration>, DbError> {
        let Some(row) = Self::find(conn, pubkey)? else {
            return Ok(None);
        };
        let n = diesel::delete(
            offline_registrations::table
                .find(pubkey)
                .filter(offline_registrations::webhook_url.eq(webhook_url)),
        )
        .execute(conn)?;
        Ok((n == 1).then_some(row))
    }
}

/// A registration as the operator sees it: never its webhook URL (which
/// carries the app's push token), only the host; with its counters.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = offline_registrations)]
pub struct RegistrationStats {
    /// 66 lowercase hex.
    pub pubkey: String,
    /// Lowercase username, if any.
    pub username: Option<String>,
    /// The webhook's host.
    pub webhook_host: String,
    /// Unix seconds of the first registration.
    pub created_at: i64,
    /// Unix seconds of the last register call.
    pub refreshed_at: i64,
    /// Pushes sent (or tried) to its webhook.
    pub pushes_sent: i64,
    /// Replies taken (200): an answer for a payer.
    pub replies_accepted: i64,
    /// Replies that failed a check (422) and answered the payer with an error.
    pub replies_refused: i64,
    /// Payers told the wallet did not answer in time.
    pub timeouts: i64,
}

impl RegistrationStats {
    /// By pubkey.
    pub fn find(conn: &mut DbConn, pubkey: &str) -> Result<Option<RegistrationStats>, DbError> {
        Ok(offline_registrations::table
            .find(pubkey)
            .select(RegistrationStats::as_select())
            .first(conn)
            .optional()?)
    }

    /// Newest first by `(created_at, pubkey)`, below `cursor`.
    pub fn list(
        conn: &mut DbConn,
        limit: i64,
        cursor: Option<(i64, String)>,
    ) -> Result<Vec<RegistrationStats>, DbError> {
        use offline_registrations::dsl as r;
        let mut q = r::offline_registrations.into_boxed();
        if let Some((created, pubkey)) = cursor {
            q = q.filter(
                r::created_at
                    .lt(created)
                    .or(r::created_at.eq(created).and(r::pubkey.lt(pubkey))),
            );
        }
        Ok(q.order((r::created_at.desc(), r::pubkey.desc()))
            .limit(limit)
            .select(RegistrationStats::as_select())
            .load(conn)?)
    }
}

/// A per-registration counter (see [`RegistrationStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tally {
    /// A push is about to be sent.
    Push,
    /// A reply answered a payer.
    Accepted,
    /// A reply failed a check and the payer got an error.
    Refused,
    /// A payer was told the wallet did not answer in time.
    Timeout,
}

/// Adds one to `pubkey`'s `tally` (nothing when it is no longer
/// registered); whether it is registered. Call it in the transaction that
/// records the event; it takes the registration row's lock.
pub fn tally(conn: &mut DbConn, pubkey: &str, tally: Tally) -> Result<bool, DbError> {
    use offline_registrations::dsl as r;
    let row = r::offline_registrations.find(pubkey);
    let n = match tally {
        Tally::Push => diesel::update(row)
            .set(r::pushes_sent.eq(r::pushes_sent + 1))
            .execute(conn)?,
        Tally::Accepted => diesel::update(row)
            .set(r::replies_accepted.eq(r::replies_accepted + 1))
            .execute(conn)?,
        Tally::Refused => diesel::update(row)
            .set(r::replies_refused.eq(r::replies_refused + 1))
            .execute(conn)?,
        Tally::Timeout => diesel::update(row)
            .set(r::timeouts.eq(r::timeouts + 1))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Deletes the pubkey's registration whatever its webhook (the operator's
/// delete); the row deleted, if any.
pub fn delete_registration(
    conn: &mut DbConn,
    pubkey: &str,
) -> Result<Option<RegistrationStats>, DbError> {
    let Some(row) = RegistrationStats::find(conn, pubkey)? else {
        return Ok(None);
    };
    let n = diesel::delete(offline_registrations::table.find(pubkey)).execute(conn)?;
    Ok((n == 1).then_some(row))
}

/// Claims a signed statement: true when this call claimed it, false when it
/// was claimed before. `ON CONFLICT DO NOTHING`, so a replay does not abort
/// a PostgreSQL transaction.
pub fn claim_statement(
    conn: &mut DbConn,
    statement_hash: &str,
    pubkey: &str,
    route: &str,
    expires_at: i64,
) -> Result<bool, DbError> {
    let row = (
        offline_claims::statement_hash.eq(statement_hash),
        offline_claims::pubkey.eq(pubkey),
        offline_claims::route.eq(route),
        offline_claims::expires_at.eq(expires_at),
    );
    let n = match conn {
        DbConn::Sqlite(c) => diesel::insert_into(offline_claims::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Pg(c) => diesel::insert_into(offline_claims::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    Ok(n == 1)
}

/// The route a statement was claimed for, if it was.
pub fn claimed_route(conn: &mut DbConn, statement_hash: &str) -> Result<Option<String>, DbError> {
    Ok(offline_claims::table
        .find(statement_hash)
        .select(offline_claims::route)
        .first(conn)
        .optional()?)
}

/// Takes the username namespace for the rest of the transaction, so two
/// transactions cannot both find a name free in `pay_links` and
/// `offline_registrations` and both take it. PostgreSQL: a transaction
/// advisory lock. SQLite: nothing, its write transactions already run one
/// at a time (every caller writes first).
pub fn lock_usernames(conn: &mut DbConn) -> Result<(), DbError> {
    if let DbConn::Pg(c) = conn {
        // The key is arbitrary and lnurld's own: "lnurld-usernames".
        diesel::sql_query("SELECT pg_advisory_xact_lock(7452771962853716049)").execute(c)?;
    }
    Ok(())
}

/// The pubkey a released name is held for until when, if held at `now`.
pub fn name_hold(
    conn: &mut DbConn,
    name: &str,
    now: i64,
) -> Result<Option<(String, i64)>, DbError> {
    Ok(offline_name_holds::table
        .find(name)
        .filter(offline_name_holds::held_until.gt(now))
        .select((offline_name_holds::pubkey, offline_name_holds::held_until))
        .first(conn)
        .optional()?)
}

/// Holds `name` for `pubkey` until `until` (replacing an older hold).
pub fn hold_name(conn: &mut DbConn, name: &str, pubkey: &str, until: i64) -> Result<(), DbError> {
    diesel::delete(offline_name_holds::table.find(name)).execute(conn)?;
    diesel::insert_into(offline_name_holds::table)
        .values((
            offline_name_holds::name.eq(name),
            offline_name_holds::pubkey.eq(pubkey),
            offline_name_holds::held_until.eq(until),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends the hold of `name` (its owner took it back).
pub fn end_hold(conn: &mut DbConn, name: &str) -> Result<(), DbError> {
    diesel::delete(offline_name_holds::table.find(name)).execute(conn)?;
    Ok(())
}

/// A payer's request relayed to a phone (`offline_requests`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = offline_requests)]
pub struct OfflineRequest {
    /// `orq_…`.
    pub id: String,
    /// sha256 hex of the reply token.
    pub token_hash: String,
    /// The wallet asked.
    pub pubkey: String,
    /// `info`, `invoice` or `verify`.
    pub kind: String,
    /// `info:<pubkey>` while an info request waits (shared by payers).
    pub coalesce_key: Option<String>,
    /// Invoice requests: the amount asked.
    pub amount_msat: Option<i64>,
    /// Invoice requests: the payer's comment.
    pub comment: Option<String>,
    /// Info: the callback sent; invoice: the verify URL template sent.
    pub callback: String,
    /// `waiting`, `answered` or `expired`.
    pub state: String,
    /// The payer's answer, JSON written by lnurld (once answered).
    pub answer: Option<String>,
    /// The relayed invoice's payment hash (UNIQUE).
    pub invoice_hash: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; no reply is taken after it.
    pub deadline: i64,
    /// Verify requests: the payment hash asked about.
    pub verify_hash: Option<String>,
}

/// Request states.
pub mod state {
    /// Pushed, no reply yet.
    pub const WAITING: &str = "waiting";
    /// Replied (the answer may be an error for the payer).
    pub const ANSWERED: &str = "answered";
    /// Nobody replied before the deadline.
    pub const EXPIRED: &str = "expired";
}

impl OfflineRequest {
    /// Inserts the row unless one with its coalesce key (or token) exists;
    /// whether it was inserted.
    pub fn insert_unless_waiting(&self, conn: &mut DbConn) -> Result<bool, DbError> {
        let n = match conn {
            DbConn::Sqlite(c) => diesel::insert_into(offline_requests::table)
                .values(self)
                .on_conflict_do_nothing()
                .execute(c)?,
            DbConn::Pg(c) => diesel::insert_into(offline_requests::table)
                .values(self)
                .on_conflict_do_nothing()
                .execute(c)?,
        };
        Ok(n == 1)
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<OfflineRequest>, DbError> {
        Ok(offline_requests::table
            .find(id)
            .select(OfflineRequest::as_select())
            .first(conn)
            .optional()?)
    }

    /// By the sha256 of its reply token.
    pub fn find_by_token(
        conn: &mut DbConn,
        token_hash: &str,
    ) -> Result<Option<OfflineRequest>, DbError> {
        Ok(offline_requests::table
            .filter(offline_requests::token_hash.eq(token_hash))
            .select(OfflineRequest::as_select())
            .first(conn)
            .optional()?)
    }

    /// The request waiting under a coalesce key.
    pub fn waiting(conn: &mut DbConn, key: &str) -> Result<Option<OfflineRequest>, DbError> {
        Ok(offline_requests::table
            .filter(offline_requests::coalesce_key.eq(key))
            .select(OfflineRequest::as_select())
            .first(conn)
            .optional()?)
    }

    /// Records the answer if the request still waits and its deadline has
    /// not passed (one conditional UPDATE: two replies cannot both
    /// answer); whether it did. A reused `invoice_hash` is a
    /// [`DbError::Duplicate`].
    pub fn answer(
        conn: &mut DbConn,
        id: &str,
        answer: &str,
        invoice_hash: Option<&str>,
        now: i64,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            offline_requests::table
                .find(id)
                .filter(offline_requests::state.eq(state::WAITING))
                .filter(offline_requests::deadline.ge(now)),
        )
        .set((
            offline_requests::state.eq(state::ANSWERED),
            offline_requests::answer.eq(answer),
            offline_requests::invoice_hash.eq(invoice_hash),
            offline_requests::coalesce_key.eq(None::<String>),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Marks a waiting request expired (frees its coalesce key); whether it
    /// did.
    pub fn expire(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
        let n = diesel::update(
            offline_requests::table
                .find(id)
                .filter(offline_requests::state.eq(state::WAITING)),
        )
        .set((
            offline_requests::state.eq(state::EXPIRED),
            offline_requests::coalesce_key.eq(None::<String>),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }
}

/// The last pay request a phone answered (`offline_info`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = offline_info)]
pub struct OfflineInfo {
    /// The wallet.
    pub pubkey: String,
    /// The payer's answer, JSON written by lnurld.
    pub body: String,
    /// The metadata in it.
    pub metadata: String,
    /// The metadata before, while payers may still hold it.
    pub prev_metadata: Option<String>,
    /// minSendable.
    pub min_msat: i64,
    /// maxSendable.
    pub max_msat: i64,
    /// Served from here until then (unix seconds).
    pub cached_until: i64,
}

impl OfflineInfo {
    /// By pubkey.
    pub fn find(conn: &mut DbConn, pubkey: &str) -> Result<Option<OfflineInfo>, DbError> {
        Ok(offline_info::table
            .find(pubkey)
            .select(OfflineInfo::as_select())
            .first(conn)
            .optional()?)
    }

    /// Stores a new answer, keeping the metadata it replaces as `prev`.
    pub fn save(mut self, conn: &mut DbConn) -> Result<(), DbError> {
        if let Some(old) = Self::find(conn, &self.pubkey)? {
            self.prev_metadata = if old.metadata == self.metadata {
                old.prev_metadata
            } else {
                Some(old.metadata)
            };
            diesel::delete(offline_info::table.find(&self.pubkey)).execute(conn)?;
        }
        diesel::insert_into(offline_info::table)
            .values(&self)
            .execute(conn)?;
        Ok(())
    }
}

/// An invoice relayed to a payer (`offline_invoices`), with or without
/// lnurld's verify URL.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = offline_invoices)]
pub struct OfflineInvoice {
    /// Hex, lowercase.
    pub payment_hash: String,
    /// The wallet that gave it.
    pub pubkey: String,
    /// The invoice, lowercase, as relayed.
    pub bolt11: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Hex, once the phone proved the payment.
    pub preimage: Option<String>,
    /// The last unsettled verify answer (JSON written by lnurld).
    pub verify_body: Option<String>,
    /// `verify_body` is served until then (unix seconds).
    pub verify_cached_until: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Whether it was relayed with lnurld's verify URL (LUD-21 verify
    /// serves only those); every relayed invoice is kept, so its payment
    /// hash stays taken.
    pub verifiable: bool,
}

impl OfflineInvoice {
    /// By payment hash.
    pub fn find(conn: &mut DbConn, payment_hash: &str) -> Result<Option<OfflineInvoice>, DbError> {
        Ok(offline_invoices::table
            .find(payment_hash)
            .select(OfflineInvoice::as_select())
            .first(conn)
            .optional()?)
    }

    /// Inserts it; a payment hash kept already is a [`DbError::Duplicate`].
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(offline_invoices::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Records the proved preimage (final: never unset).
    pub fn settle(conn: &mut DbConn, payment_hash: &str, preimage: &str) -> Result<(), DbError> {
        diesel::update(
            offline_invoices::table
                .find(payment_hash)
                .filter(offline_invoices::preimage.is_null()),
        )
        .set(offline_invoices::preimage.eq(preimage))
        .execute(conn)?;
        Ok(())
    }

    /// Keeps an unsettled answer until `until`.
    pub fn cache_verify(
        conn: &mut DbConn,
        payment_hash: &str,
        body: &str,
        until: i64,
    ) -> Result<(), DbError> {
        diesel::update(offline_invoices::table.find(payment_hash))
            .set((
                offline_invoices::verify_body.eq(body),
                offline_invoices::verify_cached_until.eq(until),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// Deletes invoices that expired before `before`.
pub fn purge_invoices(conn: &mut DbConn, before: i64) -> Result<usize, DbError> {
    Ok(
        diesel::delete(offline_invoices::table.filter(offline_invoices::expires_at.lt(before)))
            .execute(conn)?,
    )
}

/// The channel offline replies are announced on (PostgreSQL).
pub const NOTIFY_CHANNEL: &str = "lnurld_offline";

/// Announces an answered request to every instance (PostgreSQL `NOTIFY`,
/// delivered when the caller's transaction commits); nothing on SQLite,
/// whose instances share a file and poll.
pub fn announce(conn: &mut DbConn, id: &str) -> Result<(), DbError> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(NOTIFY_CHANNEL)
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(c)?;
    }
    Ok(())
}

/// Registrations last refreshed before `before`.
pub fn stale_registrations(
    conn: &mut DbConn,
    before: i64,
) -> Result<Vec<OfflineRegistration>, DbError> {
    Ok(offline_registrations::table
        .filter(offline_registrations::refreshed_at.lt(before))
        .select(OfflineRegistration::as_select())
        .limit(1000)
        .load(conn)?)
}

/// Deletes a registration if it is still unrefreshed since `before`.
pub fn delete_if_stale(conn: &mut DbConn, pubkey: &str, before: i64) -> Result<bool, DbError> {
    let n = diesel::delete(
        offline_registrations::table
            .find(pubkey)
            .filter(offline_registrations::refreshed_at.lt(before)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes claims whose window has passed at `now`.
pub fn purge_claims(conn: &mut DbConn, now: i64) -> Result<usize, DbError> {
    Ok(
        diesel::delete(offline_claims::table.filter(offline_claims::expires_at.lt(now)))
            .execute(conn)?,
    )
}

/// Deletes holds that ran out at `now`.
pub fn purge_holds(conn: &mut DbConn, now: i64) -> Result<usize, DbError> {
    Ok(
        diesel::delete(offline_name_holds::table.filter(offline_name_holds::held_until.le(now)))
            .execute(conn)?,
    )
}

/// Deletes requests whose deadline was before `before` (whatever their
/// state: a waiter gives up at its deadline).
pub fn purge_requests(conn: &mut DbConn, before: i64) -> Result<usize, DbError> {
    Ok(
        diesel::delete(offline_requests::table.filter(offline_requests::deadline.lt(before)))
            .execute(conn)?,
    )
}

/// Requests of `pubkey` still waiting at `now`.
pub fn pending_requests(conn: &mut DbConn, pubkey: &str, now: i64) -> Result<i64, DbError> {
    Ok(offline_requests::table
        .filter(offline_requests::pubkey.eq(pubkey))
        .filter(offline_requests::state.eq(state::WAITING))
        .filter(offline_requests::deadline.ge(now))
        .count()
        .get_result(conn)?)
}

/// Deletes a wallet's cached pay request (its registration is gone).
pub fn delete_info(conn: &mut DbConn, pubkey: &str) -> Result<(), DbError> {
    diesel::delete(offline_info::table.find(pubkey)).execute(conn)?;
    Ok(())
}
