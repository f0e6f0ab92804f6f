//! The server key check (issue 11): the database records a value derived
//! from the server key on first start, and every later start (`serve`, each
//! CLI command) compares its key with it. A second instance with the wrong
//! `secret_key` would otherwise start, say it is healthy, and answer every
//! link "unknown withdraw link". Imports `db` and `secrets` only.

use crate::db::models::server_key_check;
use crate::db::{now_unix, Db, DbError};

use super::secrets::Purpose;
use super::{sealed, ServerKeys};

/// How a key compared with the database's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The recorded value is this key's.
    Matches,
    /// Nothing was recorded yet; this key's value is now.
    Recorded,
    /// The database belongs to another key.
    Mismatch,
}

/// Whether the database already belongs to some server key: a check value
/// is recorded, or it holds values sealed with a key (written before the
/// check existed). A start must then not make up a new key.
pub async fn database_has_key(db: &Db) -> Result<bool, DbError> {
    db.run(|c| {
        let (link, webhook) = server_key_check::sealed_samples(c)?;
        Ok(server_key_check::get(c)?.is_some() || link.is_some() || webhook.is_some())
    })
    .await
}

/// Compares `keys` with the recorded check value, recording it when there
/// is none.
pub async fn verify(db: &Db, keys: &ServerKeys) -> Result<KeyCheck, DbError> {
    let recorded = db.run(server_key_check::get).await?;
    if let Some(value) = recorded {
        return Ok(verdict(keys, &value, KeyCheck::Matches));
    }
    // A database from before the check: the key it holds values under is
    // the one to record, so a wrong key that happens to start first after
    // an upgrade cannot claim it.
    let (link, webhook) = db.run(server_key_check::sealed_samples).await?;
    let opens = |purpose, sample: &Option<(String, String)>| {
        sample
            .as_ref()
            .is_none_or(|(row, stored)| sealed::opens(keys, purpose, row, stored))
    };
    if !opens(Purpose::LinkSecret, &link) || !opens(Purpose::WebhookSecret, &webhook) {
        return Ok(KeyCheck::Mismatch);
    }
    let value = keys.check_value();
    let now = now_unix();
    db.write(move |c| server_key_check::record_if_absent(c, &value, now))
        .await?;
    // Another instance may have recorded its key between our read and write.
    match db.run(server_key_check::get).await? {
        Some(value) => Ok(verdict(keys, &value, KeyCheck::Recorded)),
        None => Err(DbError::Unavailable(
            "the server key check was written but cannot be read back".into(),
        )),
    }
}

fn verdict(keys: &ServerKeys, recorded: &str, ok: KeyCheck) -> KeyCheck {
    if keys.check_matches(recorded) {
        ok
    } else {
        KeyCheck::Mismatch
    }
}
