//! Every value sealed with the server key, read and rewritten as a whole:
//! `withdraw_links.secret_enc` (with its keyed `secret_lookup`),
//! `webhook_endpoints.secret_enc` and `offline_registrations.webhook_url`. For the start-time re-seal of old values
//! and for key rotation (`service::sealed`), which run these inside one
//! transaction.

use diesel::prelude::*;

use crate::db::schema::{offline_registrations, webhook_endpoints, withdraw_links};
use crate::db::{DbConn, DbError};

/// `(row, sealed value)` pairs: a link's id or an endpoint's URL.
pub type Rows = Vec<(String, String)>;

/// Every withdraw link's `(id, secret_enc)`; with `skip_prefix`, only those
/// whose value does not start with it.
pub fn links(conn: &mut DbConn, skip_prefix: Option<&str>) -> Result<Rows, DbError> {
    use withdraw_links::dsl as l;
    let mut q = l::withdraw_links
        .select((l::id, l::secret_enc))
        .order(l::id)
        .into_boxed();
    if let Some(p) = skip_prefix {
        q = q.filter(l::secret_enc.not_like(format!("{p}%")));
    }
    Ok(q.load(conn)?)
}

/// Every webhook endpoint's `(url, secret_enc)`, as [`links`].
pub fn webhooks(conn: &mut DbConn, skip_prefix: Option<&str>) -> Result<Rows, DbError> {
    use webhook_endpoints::dsl as w;
    let mut q = w::webhook_endpoints
        .select((w::url, w::secret_enc))
        .order(w::url)
        .into_boxed();
    if let Some(p) = skip_prefix {
        q = q.filter(w::secret_enc.not_like(format!("{p}%")));
    }
    Ok(q.load(conn)?)
}

/// Every offline wallet's `(pubkey, webhook_url)`, as [`links`]. Before
/// the URLs were sealed they were stored in clear: such a value has no
/// prefix.
pub fn offline_webhooks(conn: &mut DbConn, skip_prefix: Option<&str>) -> Result<Rows, DbError> {
    use offline_registrations::dsl as r;
    let mut q = r::offline_registrations
        .select((r::pubkey, r::webhook_url))
        .order(r::pubkey)
        .into_boxed();
    if let Some(p) = skip_prefix {
        q = q.filter(r::webhook_url.not_like(format!("{p}%")));
    }
    Ok(q.load(conn)?)
}

/// Replaces a wallet's stored webhook URL if it still holds `old`.
pub fn replace_offline_webhook(
    conn: &mut DbConn,
    pubkey: &str,
    old: &str,
    new: &str,
) -> Result<bool, DbError> {
    use offline_registrations::dsl as r;
    let n = diesel::update(
        r::offline_registrations
            .filter(r::pubkey.eq(pubkey))
            .filter(r::webhook_url.eq(old)),
    )
    .set(r::webhook_url.eq(new))
    .execute(conn)?;
    Ok(n == 1)
}

/// Whether any link or webhook endpoint holds a value that does not start
/// with `prefix` (a read, so a start with nothing to do takes no lock).
pub fn any_without_prefix(conn: &mut DbConn, prefix: &str) -> Result<bool, DbError> {
    use webhook_endpoints::dsl as w;
    use withdraw_links::dsl as l;
    let pattern = format!("{prefix}%");
    let link: Option<String> = l::withdraw_links
        .select(l::id)
        .filter(l::secret_enc.not_like(&pattern))
        .first(conn)
        .optional()?;
    if link.is_some() {
        return Ok(true);
    }
    let hook: Option<String> = w::webhook_endpoints
        .select(w::url)
        .filter(w::secret_enc.not_like(&pattern))
        .first(conn)
        .optional()?;
    if hook.is_some() {
        return Ok(true);
    }
    let push: Option<String> = offline_registrations::table
        .select(offline_registrations::pubkey)
        .filter(offline_registrations::webhook_url.not_like(&pattern))
        .first(conn)
        .optional()?;
    Ok(push.is_some())
}

/// Replaces a link's sealed secret (and its lookup hash, when given) if it
/// still holds `old`; `false` when it does not (someone else rewrote it).
pub fn replace_link(
    conn: &mut DbConn,
    id: &str,
    old: &str,
    new: &str,
    lookup: Option<&str>,
) -> Result<bool, DbError> {
    use withdraw_links::dsl as l;
    let row = l::withdraw_links
        .filter(l::id.eq(id))
        .filter(l::secret_enc.eq(old));
    let n = match lookup {
        Some(h) => diesel::update(row)
            .set((l::secret_enc.eq(new), l::secret_lookup.eq(h)))
            .execute(conn)?,
        None => diesel::update(row)
            .set(l::secret_enc.eq(new))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Replaces an endpoint's sealed secret if it still holds `old`.
pub fn replace_webhook(
    conn: &mut DbConn,
    url: &str,
    old: &str,
    new: &str,
) -> Result<bool, DbError> {
    use webhook_endpoints::dsl as w;
    let n = diesel::update(
        w::webhook_endpoints
            .filter(w::url.eq(url))
            .filter(w::secret_enc.eq(old)),
    )
    .set(w::secret_enc.eq(new))
    .execute(conn)?;
    Ok(n == 1)
}
