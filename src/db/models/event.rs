//! `events`, `event_attempts`, `webhook_endpoints`: the webhook outbox.
//!
//! An event row is inserted in the same transaction as the state change that
//! causes it (a withdrawal becoming final, an invoice settled or expired), so
//! a crash can never lose one. The delivery worker then *claims* due rows
//! with a short lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one
//! conditional UPDATE per row), so with several instances one event is being
//! sent by one of them at a time.
//!
//! States: `pending` (to be sent at `next_attempt_at`) → `delivered` (a 2xx
//! answer) | `failed` (no 2xx within the retry window); `no_target` when no
//! URL was configured when the event happened (kept for the audit log; an
//! operator may redeliver it once a global URL is set).

use diesel::prelude::*;

use crate::db::schema::{event_attempts, events, webhook_endpoints};
use crate::db::types::{AttemptId, EventId, EventState, EventType};
use crate::db::{DbConn, DbError};

/// An event row (also its insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = events)]
pub struct Event {
    /// Id (`evt_…`), also in the payload and the `Lnurld-Event-Id` header.
    pub id: EventId,
    /// What happened.
    pub event_type: EventType,
    /// The exact JSON body that is POSTed.
    pub payload: String,
    /// Where it goes (NULL: nowhere configured).
    pub target_url: Option<String>,
    /// Delivery state.
    pub state: EventState,
    /// Delivery attempts made.
    pub attempts: i64,
    /// Unix seconds of the next attempt (while pending).
    pub next_attempt_at: i64,
    /// Unix seconds the retry window starts (creation, or the last redeliver).
    pub retry_from: i64,
    /// Instance holding the delivery lease.
    pub lease_owner: Option<String>,
    /// Unix seconds until which the lease holds.
    pub lease_until: Option<i64>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Unix seconds of the 2xx answer.
    pub delivered_at: Option<i64>,
}

/// One delivery attempt (also its insert form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = event_attempts)]
pub struct EventAttempt {
    /// Id (`att_…`).
    pub id: AttemptId,
    /// The event.
    pub event_id: EventId,
    /// 1 for the event's first attempt, 2 for the second, …
    pub attempt_no: i64,
    /// Unix seconds the request started.
    pub attempted_at: i64,
    /// URL posted to.
    pub url: String,
    /// HTTP status of the answer, when there was one.
    pub status_code: Option<i64>,
    /// Transport error, refusal or non-2xx summary.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: i64,
}

/// A webhook endpoint and its signing secret (encrypted with the server key).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookEndpoint {
    /// The URL, exactly as configured on links or in config.
    pub url: String,
    /// AEAD-encrypted secret (never stored in clear).
    pub secret_enc: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last rotation.
    pub rotated_at: Option<i64>,
}

/// Filters of the event listing.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this type.
    pub event_type: Option<EventType>,
    /// Only this state.
    pub state: Option<EventState>,
}

impl Event {
    /// Inserts an event (inside the caller's transaction).
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(events::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Inserts many events in one statement (inside the caller's
    /// transaction).
    pub fn insert_many(conn: &mut DbConn, rows: &[Event]) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        // Multi-row INSERT is per backend in diesel's MultiConnection.
        let q = diesel::insert_into(events::table).values(rows);
        match conn {
            DbConn::Pg(c) => q.execute(c)?,
            DbConn::Sqlite(c) => q.execute(c)?,
        };
        Ok(())
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &EventId) -> Result<Option<Event>, DbError> {
        Ok(events::table
            .find(id)
            .select(Event::as_select())
            .first(conn)
            .optional()?)
    }

    /// Newest first, keyset-paginated below `cursor` (created_at, id).
    pub fn list(
        conn: &mut DbConn,
        filter: &EventFilter,
        limit: i64,
        cursor: Option<(i64, EventId)>,
    ) -> Result<Vec<Event>, DbError> {
        use events::dsl as e;
        let mut q = e::events.into_boxed();
        if let Some(t) = &filter.event_type {
            q = q.filter(e::event_type.eq(*t));
        }
        if let Some(s) = &filter.state {
            q = q.filter(e::state.eq(*s));
        }
        if let Some((created, id)) = cursor {
            q = q.filter(
                e::created_at
                    .lt(created)
                    .or(e::created_at.eq(created).and(e::id.lt(id))),
            );
        }
        Ok(q.order((e::created_at.desc(), e::id.desc()))
            .limit(limit)
            .select(Event::as_select())
            .load(conn)?)
    }

    /// Ids of due pending events whose lease is free, oldest first. On
    /// PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED` (the caller's
    /// transaction then leases them), so instances pick disjoint rows.
    fn lock_due(conn: &mut DbConn, now: i64, limit: i64) -> Result<Vec<EventId>, DbError> {
        use events::dsl as e;
        let q = e::events
            .filter(e::state.eq(EventState::Pending))
            .filter(e::next_attempt_at.le(now))
            .filter(e::lease_until.is_null().or(e::lease_until.lt(now)))
            .order(e::next_attempt_at.asc())
            .limit(limit)
            .select(e::id);
        Ok(match conn {
            DbConn::Pg(c) => q.for_update().skip_locked().load(c)?,
            DbConn::Sqlite(c) => q.load(c)?,
        })
    }

    /// Leases one due pending event to `owner`. The conditional UPDATE is
    /// what makes one instance the only sender until the lease runs out.
    fn lease(
        conn: &mut DbConn,
        id: &EventId,
        owner: &str,
        lease_until: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        use events::dsl as e;
        let n = diesel::update(
            e::events
                .filter(e::id.eq(id))
                .filter(e::state.eq(EventState::Pending))
                .filter(e::next_attempt_at.le(now))
                .filter(e::lease_until.is_null().or(e::lease_until.lt(now))),
        )
        .set((
            e::lease_owner.eq(owner),
            e::lease_until.eq(lease_until),
            e::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Claims up to `limit` due events for `owner` (see [`crate::db::claim_rows`]).
    pub fn claim_due(
        conn: &mut DbConn,
        owner: &str,
        lease_until: i64,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Event>, DbError> {
        crate::db::claim_rows(
            conn,
            |c| Self::lock_due(c, now, limit),
            |c, id| Self::lease(c, id, owner, lease_until, now),
            Self::find,
        )
    }

    /// pending → delivered (whoever holds the lease: the receiver has it).
    pub fn mark_delivered(conn: &mut DbConn, id: &EventId, now: i64) -> Result<bool, DbError> {
        use events::dsl as e;
        let n = diesel::update(pending(id))
            .set((
                e::state.eq(EventState::Delivered),
                e::attempts.eq(e::attempts + 1),
                e::delivered_at.eq(now),
                e::last_error.eq(None::<String>),
                released(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// After a failed attempt: schedule the next one at `next_at`, or give
    /// up (`failed`) when `next_at` is `None`. Only while we hold the lease.
    pub fn mark_attempt_failed(
        conn: &mut DbConn,
        id: &EventId,
        owner: &str,
        error: &str,
        next_at: Option<i64>,
        now: i64,
    ) -> Result<bool, DbError> {
        use events::dsl as e;
        let n = diesel::update(pending(id).filter(e::lease_owner.eq(owner)))
            .set((
                e::state.eq(if next_at.is_some() {
                    EventState::Pending
                } else {
                    EventState::Failed
                }),
                e::attempts.eq(e::attempts + 1),
                e::next_attempt_at.eq(next_at.unwrap_or(now)),
                e::last_error.eq(error),
                released(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Back to `pending` now, with a fresh retry window (operator action).
    pub fn redeliver(
        conn: &mut DbConn,
        id: &EventId,
        target_url: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        use events::dsl as e;
        let n = diesel::update(e::events.filter(e::id.eq(id)))
            .set((
                e::state.eq(EventState::Pending),
                e::target_url.eq(target_url),
                e::next_attempt_at.eq(now),
                e::retry_from.eq(now),
                e::delivered_at.eq(None::<i64>),
                released(now),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }
}

/// The event `id` while it is `pending`: an attempt's outcome is written
/// only to such a row.
#[diesel::dsl::auto_type(no_type_alias)]
fn pending<'a>(id: &'a EventId) -> _ {
    let state: EventState = EventState::Pending;
    events::table
        .filter(events::id.eq(id))
        .filter(events::state.eq(state))
}

/// What every end of a lease sets: nobody holds the row any more.
#[diesel::dsl::auto_type(no_type_alias)]
fn released(now: i64) -> _ {
    let no_owner: Option<String> = None;
    let no_lease: Option<i64> = None;
    (
        events::lease_owner.eq(no_owner),
        events::lease_until.eq(no_lease),
        events::updated_at.eq(now),
    )
}

impl EventAttempt {
    /// Records an attempt.
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(event_attempts::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Attempts of these events, oldest first.
    pub fn for_events(conn: &mut DbConn, ids: &[EventId]) -> Result<Vec<EventAttempt>, DbError> {
        use event_attempts::dsl as a;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(a::event_attempts
            .filter(a::event_id.eq_any(ids))
            .order((
                a::event_id.asc(),
                a::attempt_no.asc(),
                a::attempted_at.asc(),
            ))
            .select(EventAttempt::as_select())
            .load(conn)?)
    }
}

impl WebhookEndpoint {
    /// By URL.
    pub fn find(conn: &mut DbConn, url: &str) -> Result<Option<WebhookEndpoint>, DbError> {
        Ok(webhook_endpoints::table
            .find(url)
            .select(WebhookEndpoint::as_select())
            .first(conn)
            .optional()?)
    }

    /// Inserts; a concurrent insert of the same URL is a `Duplicate`.
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(webhook_endpoints::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// All endpoints, by URL.
    pub fn list(conn: &mut DbConn) -> Result<Vec<WebhookEndpoint>, DbError> {
        Ok(webhook_endpoints::table
            .order(webhook_endpoints::url.asc())
            .select(WebhookEndpoint::as_select())
            .load(conn)?)
    }

    /// Replaces the secret.
    pub fn rotate(
        conn: &mut DbConn,
        url: &str,
        secret_enc: &str,
        now: i64,
    ) -> Result<bool, DbError> {
        use webhook_endpoints::dsl as w;
        let n = diesel::update(w::webhook_endpoints.filter(w::url.eq(url)))
            .set((w::secret_enc.eq(secret_enc), w::rotated_at.eq(now)))
            .execute(conn)?;
        Ok(n == 1)
    }
}

/// Retention: finished events (never `pending` ones, which the delivery
/// worker still needs).
impl Event {
    /// Ids of up to `limit` events in `state` that became final (or, for
    /// `no_target`, were written) before `before`, oldest first.
    pub fn finished_before(
        conn: &mut DbConn,
        state: EventState,
        before: i64,
        limit: i64,
    ) -> Result<Vec<EventId>, DbError> {
        use events::dsl as e;
        if state == EventState::Pending {
            return Ok(Vec::new());
        }
        Ok(e::events
            .filter(e::state.eq(state))
            .filter(e::updated_at.lt(before))
            .order(e::updated_at.asc())
            .limit(limit)
            .select(e::id)
            .load(conn)?)
    }

    /// Deletes those of `ids` that are still in `state` and final before
    /// `before`, with their attempts; call in a transaction. The first
    /// statement is a write (SQLite's write lock is then held to the end);
    /// on PostgreSQL the events are locked first, so a concurrent
    /// redeliver either waits or keeps its event whole.
    pub fn delete_finished(
        conn: &mut DbConn,
        ids: &[EventId],
        state: EventState,
        before: i64,
    ) -> Result<usize, DbError> {
        use event_attempts::dsl as a;
        use events::dsl as e;
        if ids.is_empty() || state == EventState::Pending {
            return Ok(0);
        }
        let still = |ids: &[EventId]| {
            e::events
                .filter(e::id.eq_any(ids.to_vec()))
                .filter(e::state.eq(state))
                .filter(e::updated_at.lt(before))
                .select(e::id)
        };
        let ids: Vec<EventId> = match conn {
            DbConn::Pg(c) => still(ids).for_update().load(c)?,
            DbConn::Sqlite(_) => ids.to_vec(),
        };
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::delete(a::event_attempts.filter(a::event_id.eq_any(still(&ids)))).execute(conn)?;
        Ok(diesel::delete(
            e::events
                .filter(e::id.eq_any(&ids))
                .filter(e::state.eq(state))
                .filter(e::updated_at.lt(before)),
        )
        .execute(conn)?)
    }
}
