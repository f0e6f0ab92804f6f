//! `nodes`: every Lightning node lnurld has been pointed at, and the one it
//! is pointed at now (DESIGN.md invariant 7). Each keeps its own settle
//! index, because a rebuilt or different node numbers its settlements from
//! 1 again. Database layer: imports `db` only.

use diesel::prelude::*;

use crate::db::models::node_state::{self, SETTLE_INDEX};
use crate::db::schema::{nodes, pay_invoices, withdrawals};
use crate::db::types::WithdrawalState;
use crate::db::{DbConn, DbError};

/// A node row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = nodes)]
pub struct NodeRecord {
    /// Identity public key, hex.
    pub pubkey: String,
    /// Network name as lnd spells it.
    pub network: String,
    /// Highest settle index of this node recorded.
    pub settle_index: i64,
    /// The node lnurld works with now (one row at most).
    pub is_current: bool,
    /// Unix seconds it was first recorded (or switched to).
    pub recorded_at: i64,
    /// Unix seconds it was switched away from.
    pub retired_at: Option<i64>,
}

impl NodeRecord {
    /// The current node, if one was ever recorded.
    pub fn current(conn: &mut DbConn) -> Result<Option<NodeRecord>, DbError> {
        Ok(nodes::table
            .filter(nodes::is_current.eq(true))
            .select(NodeRecord::as_select())
            .first(conn)
            .optional()?)
    }

    /// Records `pubkey` as the current node when none is recorded yet, and
    /// returns the current node afterwards (the caller compares). The first
    /// node takes over the settle index kept before nodes were recorded,
    /// and claims every invoice and every sent withdrawal that has no node
    /// yet: they were made with the node lnurld ran with until now.
    /// Two instances starting at once: the partial unique index lets one
    /// insert win and the other reads the winner.
    pub fn record_first(
        conn: &mut DbConn,
        pubkey: &str,
        network: &str,
        now: i64,
    ) -> Result<NodeRecord, DbError> {
        conn.transaction(|c| {
            // Write first, so that SQLite takes its write lock before this
            // transaction reads (two instances starting at once would
            // otherwise both read, and one fail to upgrade its lock).
            diesel::update(nodes::table.filter(nodes::is_current.eq(true)))
                .set(nodes::is_current.eq(true))
                .execute(c)?;
            if let Some(cur) = Self::current(c)? {
                return Ok(cur);
            }
            let row = NodeRecord {
                pubkey: pubkey.to_owned(),
                network: network.to_owned(),
                settle_index: node_state::get(c, SETTLE_INDEX)?,
                is_current: true,
                recorded_at: now,
                retired_at: None,
            };
            let inserted = match c {
                DbConn::Sqlite(s) => diesel::insert_into(nodes::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(s)?,
                DbConn::Pg(p) => diesel::insert_into(nodes::table)
                    .values(&row)
                    .on_conflict_do_nothing()
                    .execute(p)?,
            };
            if inserted == 1 {
                Self::claim_unowned(c, pubkey)?;
            }
            Self::current(c)?.ok_or(DbError::Query(diesel::result::Error::NotFound))
        })
    }

    /// Gives rows written before nodes were recorded to `pubkey`. Pending
    /// withdrawals stay without a node: they were never sent.
    fn claim_unowned(conn: &mut DbConn, pubkey: &str) -> Result<(), DbError> {
        diesel::update(pay_invoices::table.filter(pay_invoices::node_pubkey.is_null()))
            .set(pay_invoices::node_pubkey.eq(pubkey))
            .execute(conn)?;
        diesel::update(
            withdrawals::table
                .filter(withdrawals::node_pubkey.is_null())
                .filter(withdrawals::state.ne(WithdrawalState::Pending)),
        )
        .set(withdrawals::node_pubkey.eq(pubkey))
        .execute(conn)?;
        Ok(())
    }

    /// Makes `pubkey` the current node, retiring the one before, with a
    /// fresh settle index (a node switched back to may have been rebuilt:
    /// from 0 nothing is skipped, and reconciling covers the rest).
    pub fn switch_to(
        conn: &mut DbConn,
        pubkey: &str,
        network: &str,
        now: i64,
    ) -> Result<(), DbError> {
        use nodes::dsl as n;
        diesel::update(n::nodes.filter(n::is_current.eq(true)))
            .set((n::is_current.eq(false), n::retired_at.eq(now)))
            .execute(conn)?;
        let revived = diesel::update(n::nodes.filter(n::pubkey.eq(pubkey)))
            .set((
                n::is_current.eq(true),
                n::network.eq(network),
                n::settle_index.eq(0_i64),
                n::recorded_at.eq(now),
                n::retired_at.eq(None::<i64>),
            ))
            .execute(conn)?;
        if revived == 0 {
            diesel::insert_into(n::nodes)
                .values(&NodeRecord {
                    pubkey: pubkey.to_owned(),
                    network: network.to_owned(),
                    settle_index: 0,
                    is_current: true,
                    recorded_at: now,
                    retired_at: None,
                })
                .execute(conn)?;
        }
        Ok(())
    }

    /// The highest settle index recorded for `pubkey` (0 when none).
    pub fn settle_index(conn: &mut DbConn, pubkey: &str) -> Result<i64, DbError> {
        Ok(nodes::table
            .find(pubkey)
            .select(nodes::settle_index)
            .first(conn)
            .optional()?
            .unwrap_or(0))
    }

    /// Raises `pubkey`'s settle index to `value` if below it (never lowers
    /// it: instances racing on one stream cannot move it back).
    pub fn raise_settle_index(conn: &mut DbConn, pubkey: &str, value: i64) -> Result<(), DbError> {
        use nodes::dsl as n;
        diesel::update(
            n::nodes
                .filter(n::pubkey.eq(pubkey))
                .filter(n::settle_index.lt(value)),
        )
        .set(n::settle_index.eq(value))
        .execute(conn)?;
        Ok(())
    }
}
