//! `api_tokens`: admin API tokens, stored only as sha256 hashes.

use diesel::prelude::*;

use crate::db::schema::api_tokens;
use crate::db::types::TokenId;
use crate::db::{DbConn, DbError};

/// An admin API token (its hash; the token itself is shown once at creation).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    /// Id (`tok_…`).
    pub id: TokenId,
    /// Operator-given name.
    pub name: String,
    /// Lowercase hex sha256 of the token.
    pub token_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last authenticated request.
    pub last_used_at: Option<i64>,
    /// Set when revoked.
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    /// Stores a new token row.
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(api_tokens::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Finds an active token by its hash.
    pub fn find_active_by_hash(conn: &mut DbConn, hash: &str) -> Result<Option<ApiToken>, DbError> {
        Ok(api_tokens::table
            .filter(api_tokens::token_hash.eq(hash))
            .filter(api_tokens::revoked_at.is_null())
            .select(ApiToken::as_select())
            .first(conn)
            .optional()?)
    }

    /// Number of active tokens (to decide whether to mint one on first start).
    pub fn count_active(conn: &mut DbConn) -> Result<i64, DbError> {
        Ok(api_tokens::table
            .filter(api_tokens::revoked_at.is_null())
            .count()
            .get_result(conn)?)
    }

    /// Every token, active ones first, newest first within each group.
    pub fn list(conn: &mut DbConn) -> Result<Vec<ApiToken>, DbError> {
        Ok(api_tokens::table
            .order((
                api_tokens::revoked_at.is_not_null(),
                api_tokens::created_at.desc(),
                api_tokens::id.desc(),
            ))
            .select(ApiToken::as_select())
            .load(conn)?)
    }

    /// Revokes the active token with this id or name; `None` when there is
    /// none. The next request with it finds no active row, on every
    /// instance: nothing caches a token.
    pub fn revoke(
        conn: &mut DbConn,
        id_or_name: &str,
        now: i64,
    ) -> Result<Option<ApiToken>, DbError> {
        let active = api_tokens::table
            .filter(api_tokens::revoked_at.is_null())
            .filter(
                api_tokens::id
                    .eq(id_or_name)
                    .or(api_tokens::name.eq(id_or_name)),
            );
        let Some(row) = active
            .select(ApiToken::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(None);
        };
        diesel::update(api_tokens::table.find(&row.id))
            .filter(api_tokens::revoked_at.is_null())
            .set(api_tokens::revoked_at.eq(now))
            .execute(conn)?;
        Ok(Some(ApiToken {
            revoked_at: Some(now),
            ..row
        }))
    }

    /// Records a use, at most once a minute per token (a write per admin
    /// request would only add load).
    pub fn touch(conn: &mut DbConn, id: &TokenId, now: i64) -> Result<(), DbError> {
        diesel::update(api_tokens::table.find(id))
            .filter(
                api_tokens::last_used_at
                    .is_null()
                    .or(api_tokens::last_used_at.lt(now - 60)),
            )
            .set(api_tokens::last_used_at.eq(now))
            .execute(conn)?;
        Ok(())
    }
}
