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

/// A few values sealed with the server key (a withdraw link's secret, a
/// webhook endpoint's secret), for a database written before the check
/// existed: the key must open them before its check value is recorded.
pub fn sealed_samples(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let mut samples: Vec<String> = withdraw_links::table
        .select(withdraw_links::secret_enc)
        .order(withdraw_links::id)
        .limit(1)
        .load(conn)?;
    samples.extend(
        webhook_endpoints::table
            .select(webhook_endpoints::secret_enc)
            .order(webhook_endpoints::url)
            .limit(1)
            .load::<String>(conn)?,
    );
    Ok(samples)
}
