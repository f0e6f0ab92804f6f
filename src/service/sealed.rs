//! Every value sealed with the server key, as a whole (issue 11 items 2
//! and 6). Service layer: imports `db` and `secrets` only.
//!
//! - [`reseal_v1`] runs at every start, after the migrations and the key
//!   check. Values written before they were bound to their rows (v1: no
//!   `v2:` prefix) are opened and sealed again with `purpose ‖ row` as
//!   associated data. A SQL migration cannot do this (it has no key), so the
//!   stored text itself says which format a value is in: no version table
//!   to keep in step, and rows an older instance writes during a rolling
//!   upgrade are picked up by the next start. After the first run the scan
//!   finds nothing, and `open` refuses v1 values from then on, so a v1 value
//!   copied in from an old dump does not open either.
//! - [`SealedService::rotate`] (`lnurld key rotate`) re-seals every value
//!   under a new key, recomputes the links' keyed lookup hashes and the key
//!   check value, in one transaction.

use crate::db::models::offline::OfflineRegistration;
use crate::db::models::{sealed, server_key_check};
use crate::db::Db;

use super::secrets::{is_v1, Purpose, V2_PREFIX};
use super::{Error, ServerKeys};

/// How many values were re-sealed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Withdraw link secrets.
    pub links: usize,
    /// Webhook endpoint secrets.
    pub webhooks: usize,
    /// Offline wallets' push webhook URLs.
    pub push_webhooks: usize,
}

/// A stored value that does not open is the database's state, not a bug of
/// ours: said as such (the message names the row), not as "internal error".
fn unreadable(e: Error) -> Error {
    match e {
        Error::Internal(m) => Error::Conflict(m),
        e => e,
    }
}

/// Re-seals every v1 value bound to its row, in one transaction. Safe when
/// several instances start at once: the first statement takes the key
/// check row's lock, so they take turns, and the later ones find nothing
/// left to do (each row is also rewritten only if it still holds the value
/// that was read).
///
/// A push webhook URL stored in clear is sealed only if `push_check` (the
/// current `[offline]` policy, and the row's recorded `webhook_host`)
/// allows it: sealing would vouch for a value lnurld never checked (a row
/// written by hand, or a host since taken off the list). One that fails
/// refuses the start, naming the row and what to do, rather than being
/// deleted or silently kept: the operator decides (add the host to
/// `[offline] webhook_hosts`, or delete the registration).
pub async fn reseal_v1<F>(db: &Db, keys: &ServerKeys, push_check: F) -> Result<Resealed, Error>
where
    F: Fn(&str, &str) -> Result<(), String> + Send + 'static,
{
    // Every start comes here (each CLI command too): when there is nothing
    // to do, take no write lock.
    if !db.run(|c| sealed::any_without_prefix(c, V2_PREFIX)).await? {
        return Ok(Resealed::default());
    }
    let keys = keys.clone();
    db.transaction_or(move |c| {
        let mut done = Resealed::default();
        if !server_key_check::lock(c)? {
            return Err(Error::Internal(
                "the server key check is not recorded; cannot re-seal".into(),
            ));
        }
        let old = |purpose: Purpose, row: &str, stored: &str| {
            keys.open_v1(stored).map_err(|why| {
                Error::Conflict(format!(
                    "cannot re-seal the {} (sealed before values were bound to their rows): {why}",
                    purpose.of(row)
                ))
            })
        };
        for (id, stored) in sealed::links(c, Some(V2_PREFIX))? {
            let clear = old(Purpose::LinkSecret, &id, &stored)?;
            let new = keys.seal(Purpose::LinkSecret, &id, &clear)?;
            if sealed::replace_link(c, &id, &stored, &new, None)? {
                done.links += 1;
            }
        }
        for (url, stored) in sealed::webhooks(c, Some(V2_PREFIX))? {
            let clear = old(Purpose::WebhookSecret, &url, &stored)?;
            let new = keys.seal(Purpose::WebhookSecret, &url, &clear)?;
            if sealed::replace_webhook(c, &url, &stored, &new)? {
                done.webhooks += 1;
            }
        }
        // Push webhooks were kept in clear before they were sealed: the
        // stored text is the URL itself.
        for (pubkey, clear) in sealed::offline_webhooks(c, Some(V2_PREFIX))? {
            let host = OfflineRegistration::find(c, &pubkey)?
                .map(|r| r.webhook_host)
                .unwrap_or_default();
            if let Err(why) = push_check(&clear, &host) {
                return Err(Error::Conflict(format!(
                    "cannot seal the {}: {why}. Nothing was changed. Add its host to [offline] webhook_hosts if it is right, or delete the registration (DELETE FROM offline_registrations WHERE pubkey = '{pubkey}'), then start again",
                    Purpose::PushWebhook.of(&pubkey)
                )));
            }
            let new = keys.seal(Purpose::PushWebhook, &pubkey, &clear)?;
            if sealed::replace_offline_webhook(c, &pubkey, &clear, &new)? {
                done.push_webhooks += 1;
            }
        }
        Ok(done)
    })
    .await
}

/// Whether `keys` opens `stored`, sealed for `row`'s `purpose` in either
/// format (for the key check of a database from before the check).
pub fn opens(keys: &ServerKeys, purpose: Purpose, row: &str, stored: &str) -> bool {
    if is_v1(stored) {
        keys.open_v1(stored).is_ok()
    } else {
        keys.open(purpose, row, stored).is_ok()
    }
}

/// The server key as a whole: rotation.
#[derive(Clone)]
pub struct SealedService {
    db: Db,
    keys: ServerKeys,
}

impl SealedService {
    /// From the database and the current key.
    pub fn new(db: Db, keys: ServerKeys) -> SealedService {
        SealedService { db, keys }
    }

    /// Re-seals every value under `new`, recomputes every link's keyed
    /// lookup hash and records `new`'s check value, in one transaction:
    /// on any error (a value that does not open names its row) nothing is
    /// changed. Every instance must be stopped first: a running one keeps
    /// the old key in memory and would seal new links with it.
    pub async fn rotate(&self, new: &ServerKeys) -> Result<Resealed, Error> {
        let (old, new) = (self.keys.clone(), new.clone());
        self.db
            .transaction_or(move |c| {
                if !server_key_check::replace(c, &old.check_value(), &new.check_value())? {
                    return Err(Error::Conflict(
                        "the database's server key check is no longer this key's (was the key rotated meanwhile?)".into(),
                    ));
                }
                let changed = |what: String| {
                    Error::Conflict(format!(
                        "the {what} changed during the rotation; stop every instance and run it again"
                    ))
                };
                let mut done = Resealed::default();
                for (id, stored) in sealed::links(c, None)? {
                    let clear = old
                        .open(Purpose::LinkSecret, &id, &stored)
                        .map_err(unreadable)?;
                    let sealed = new.seal(Purpose::LinkSecret, &id, &clear)?;
                    let lookup = new.lookup(&clear);
                    if !sealed::replace_link(c, &id, &stored, &sealed, Some(&lookup))? {
                        return Err(changed(Purpose::LinkSecret.of(&id)));
                    }
                    done.links += 1;
                }
                for (url, stored) in sealed::webhooks(c, None)? {
                    let clear = old
                        .open(Purpose::WebhookSecret, &url, &stored)
                        .map_err(unreadable)?;
                    let sealed = new.seal(Purpose::WebhookSecret, &url, &clear)?;
                    if !sealed::replace_webhook(c, &url, &stored, &sealed)? {
                        return Err(changed(Purpose::WebhookSecret.of(&url)));
                    }
                    done.webhooks += 1;
                }
                for (pubkey, stored) in sealed::offline_webhooks(c, None)? {
                    let clear = old
                        .open(Purpose::PushWebhook, &pubkey, &stored)
                        .map_err(unreadable)?;
                    let sealed = new.seal(Purpose::PushWebhook, &pubkey, &clear)?;
                    if !sealed::replace_offline_webhook(c, &pubkey, &stored, &sealed)? {
                        return Err(changed(Purpose::PushWebhook.of(&pubkey)));
                    }
                    done.push_webhooks += 1;
                }
                Ok(done)
            })
            .await
    }

    /// Whether the database's recorded key is `keys` (after a failed
    /// rotation: was anything committed?).
    pub async fn database_key_is(&self, keys: &ServerKeys) -> Result<bool, Error> {
        let recorded = self.db.run(server_key_check::get).await?;
        Ok(recorded.is_some_and(|v| keys.check_matches(&v)))
    }
}
