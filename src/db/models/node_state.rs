//! `node_state`: named counters shared by all instances, e.g. the highest
//! settle index the invoice watcher has recorded.

use diesel::prelude::*;

use crate::db::schema::node_state;
use crate::db::{DbConn, DbError};

/// Name of the settle-index counter.
pub const SETTLE_INDEX: &str = "settle_index";

/// Reads a counter (0 when never written).
pub fn get(conn: &mut DbConn, name: &str) -> Result<i64, DbError> {
    Ok(node_state::table
        .find(name)
        .select(node_state::value)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Raises a counter to `value` if it is below it (never lowers it, so
/// instances racing on the same stream cannot move it backwards). The row
/// is created by the migration, so this is one conditional UPDATE.
pub fn raise(conn: &mut DbConn, name: &str, value: i64) -> Result<(), DbError> {
    diesel::update(
        node_state::table
            .filter(node_state::name.eq(name))
            .filter(node_state::value.lt(value)),
    )
    .set(node_state::value.eq(value))
    .execute(conn)?;
    Ok(())
}
