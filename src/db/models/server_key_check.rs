//! `server_key_check`: one row with a value derived from the server key, so
//! that a start with another key can be refused (see
//! `service::key_check`).

use diesel::prelude::*;

use crate::db::schema::{server_key_check, webhook_endpoints, withdraw_links};
use crate::db::{DbConn, DbError};

/// The only row's id (a CHECK keeps it the only one).
const ROW: i64 = 1;

/// The recorded check value, if any.
pub fn get(conn: &mut DbConn) -> Result<Option<String>, DbError> {
    Ok(server_key_check::table
        .find(ROW)
        .select(server_key_check::check_value)
        .first(conn)
        .optional()?)
}

/// Records `value` unless a value is recorded already (then it is left as
/// it is: the caller reads back which one won).
pub fn record_if_absent(conn: &mut DbConn, value: &str, now: i64) -> Result<(), DbError> {
    let inserted = diesel::insert_into(server_key_check::table)
        .values((
            server_key_check::id.eq(ROW),
            server_key_check::check_value.eq(value),
            server_key_check::created_at.eq(now),
        ))
        .execute(conn);
    match inserted.map_err(DbError::from) {
        Ok(_) | Err(DbError::Duplicate(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Takes the check row's write lock: the first statement of a transaction
/// that rewrites sealed values. On SQLite a transaction must start with a
/// write for the busy handler to queue it; on PostgreSQL the row lock makes
/// two instances doing this at once take turns. `false` when there is no
/// row (the key check records it before anything is sealed).
pub fn lock(conn: &mut DbConn) -> Result<bool, DbError> {
    use server_key_check::dsl as k;
    let n = diesel::update(k::server_key_check.find(ROW))
        .set(k::check_value.eq(k::check_value))
        .execute(conn)?;
    Ok(n == 1)
}

/// Replaces the check value `old` with `new` (key rotation); `false` when
/// the recorded value is not `old`. Also takes the lock [`lock`] takes.
pub fn replace(conn: &mut DbConn, old: &str, new: &str) -> Result<bool, DbError> {
    use server_key_check::dsl as k;
    let n = diesel::update(k::server_key_check.find(ROW).filter(k::check_value.eq(old)))
        .set(k::check_value.eq(new))
        .execute(conn)?;
    Ok(n == 1)
}

/// One sealed value of each kind, with its row (a withdraw link's id, a
/// webhook endpoint's URL), for a database written before the check
/// existed: the key must open them before its check value is recorded.
pub type Samples = (Option<(String, String)>, Option<(String, String)>);

/// See [`Samples`].
pub fn sealed_samples(conn: &mut DbConn) -> Result<Samples, DbError> {
    let link = withdraw_links::table
        .select((withdraw_links::id, withdraw_links::secret_enc))
        .order(withdraw_links::id)
        .first::<(String, String)>(conn)
        .optional()?;
    let webhook = webhook_endpoints::table
        .select((webhook_endpoints::url, webhook_endpoints::secret_enc))
        .order(webhook_endpoints::url)
        .first::<(String, String)>(conn)
        .optional()?;
    Ok((link, webhook))
}
