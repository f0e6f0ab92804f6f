//! The key zap receipts are signed with: `[nostr] secret_key` (hex or
//! `nsec1…`, shared by all instances), else the key file
//! [`KEY_FILE_NAME`] beside the server key file, created with mode 0600 by
//! a start that may create files. Service layer: imports `files`.

use std::path::Path;

use nostr::prelude::{Keys, SecretKey};

use crate::config::NostrConfig;
use crate::service::Error;

/// Name of the key file beside the server key file.
pub const KEY_FILE_NAME: &str = "lnurld-nostr.key";

/// The receipt key of `config`, reading `key_file` when no `secret_key` is
/// configured. A missing file is created when `create` (a `serve` or
/// `migrate`), else `Ok(None)`: commands that may not create files never
/// sign receipts.
pub fn load_key(
    config: &NostrConfig,
    key_file: &Path,
    create: bool,
) -> Result<Option<Keys>, Error> {
    if let Some(s) = &config.secret_key {
        return parse(s.trim(), "[nostr] secret_key").map(Some);
    }
    match std::fs::read_to_string(key_file) {
        Ok(text) => {
            crate::files::warn_if_exposed(key_file);
            parse(text.trim(), &format!("key file {}", key_file.display())).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let keys = Keys::new(SecretKey::generate());
            crate::files::write_private(key_file, &keys.secret_key().to_secret_hex()).map_err(
                |e| {
                    Error::Internal(format!(
                        "cannot create Nostr key file {}: {e}",
                        key_file.display()
                    ))
                },
            )?;
            tracing::info!(path = %key_file.display(), pubkey = %keys.public_key().to_hex(), "created a new Nostr key file for zap receipts; back it up with the server key");
            Ok(Some(keys))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Internal(format!(
            "cannot read Nostr key file {}: {e}",
            key_file.display()
        ))),
    }
}

fn parse(s: &str, what: &str) -> Result<Keys, Error> {
    SecretKey::parse(s).map(Keys::new).map_err(|_| {
        Error::Internal(format!(
            "{what} is not a secp256k1 secret key (64 hex characters or nsec1…)"
        ))
    })
}
