//! `pay_links`: LUD-06 pay links; with a `username` also a LUD-16 Lightning
//! Address. `metadata` is the exact string served (and hashed). Database
//! layer: imports `db` only.

use diesel::prelude::*;

use crate::db::schema::pay_links;
use crate::db::types::{Msat, PayLinkId, PayLinkStatus};
use crate::db::{DbConn, DbError};

/// A pay link row (also its insert and full-update form).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable, AsChangeset)]
#[diesel(table_name = pay_links, treat_none_as_null = true)]
pub struct PayLink {
    /// Id (`pl_…`).
    pub id: PayLinkId,
    /// Lowercase LUD-16 username, unique.
    pub username: Option<String>,
    /// `text/plain` metadata entry.
    pub description: String,
    /// LUD-20 `text/long-desc`.
    pub long_description: Option<String>,
    /// `png` or `jpeg`.
    pub image_mime: Option<String>,
    /// Base64 image for the metadata.
    pub image_base64: Option<String>,
    /// minSendable.
    pub min_msat: Msat,
    /// maxSendable.
    pub max_msat: Msat,
    /// LUD-12 commentAllowed (0 = off).
    pub comment_allowed: i64,
    /// Configured success action, JSON.
    pub success_action: Option<String>,
    /// LUD-18 payerData spec, JSON.
    pub payer_data: Option<String>,
    /// The metadata string served, byte for byte.
    pub metadata: String,
    /// Webhook target.
    pub webhook_url: Option<String>,
    /// Set when disabled.
    pub disabled_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// NIP-57: whether zaps are taken (and advertised) while `[nostr]
    /// enabled = true`.
    pub allows_nostr: bool,
}

impl PayLink {
    /// Active until disabled. The conditional UPDATEs below
    /// (`disabled_at IS NULL`) are this rule in SQL.
    pub fn status(&self) -> PayLinkStatus {
        match self.disabled_at {
            None => PayLinkStatus::Active,
            Some(_) => PayLinkStatus::Disabled,
        }
    }

    /// LUD-12 `commentAllowed` as a length (0 = comments off).
    pub fn comment_chars(&self) -> u32 {
        u32::try_from(self.comment_allowed.max(0)).unwrap_or(u32::MAX)
    }

    /// Inserts a link.
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(pay_links::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// Writes every column of a link that is still active; returns false
    /// (writing nothing) if it was disabled meanwhile, so an edit racing a
    /// disable cannot bring the link back.
    pub fn save_if_active(&self, conn: &mut DbConn) -> Result<bool, DbError> {
        let n = diesel::update(
            pay_links::table
                .find(&self.id)
                .filter(pay_links::disabled_at.is_null()),
        )
        .set(self)
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Disables a link and frees its username (one conditional UPDATE).
    pub fn disable(conn: &mut DbConn, id: &PayLinkId, now: i64) -> Result<bool, DbError> {
        let n = diesel::update(
            pay_links::table
                .find(id)
                .filter(pay_links::disabled_at.is_null()),
        )
        .set((
            pay_links::disabled_at.eq(now),
            pay_links::username.eq(None::<String>),
            pay_links::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// By id.
    pub fn find(conn: &mut DbConn, id: &PayLinkId) -> Result<Option<PayLink>, DbError> {
        Ok(pay_links::table
            .find(id)
            .select(PayLink::as_select())
            .first(conn)
            .optional()?)
    }

    /// By (lowercase) username.
    pub fn find_by_username(conn: &mut DbConn, username: &str) -> Result<Option<PayLink>, DbError> {
        Ok(pay_links::table
            .filter(pay_links::username.eq(username))
            .select(PayLink::as_select())
            .first(conn)
            .optional()?)
    }

    /// Newest first, keyset-paginated below `cursor`; `addresses_only`
    /// keeps links with a username.
    pub fn list(
        conn: &mut DbConn,
        addresses_only: bool,
        limit: i64,
        cursor: Option<(i64, PayLinkId)>,
    ) -> Result<Vec<PayLink>, DbError> {
        use pay_links::dsl as p;
        let mut q = p::pay_links.into_boxed();
        if let Some((created, id)) = cursor {
            q = q.filter(
                p::created_at
                    .lt(created)
                    .or(p::created_at.eq(created).and(p::id.lt(id))),
            );
        }
        if addresses_only {
            q = q.filter(p::username.is_not_null());
        }
        Ok(q.order((p::created_at.desc(), p::id.desc()))
            .limit(limit)
            .select(PayLink::as_select())
            .load(conn)?)
    }
}
