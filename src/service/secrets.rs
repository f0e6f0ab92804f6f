//! Server keys and link secrets (DESIGN.md invariant 5).
//!
//! A withdraw link's secret is the bearer capability in its URL. The database
//! keeps it only AEAD-encrypted (so the operator can show the link again and
//! reprint vouchers) and finds links by a keyed hash of it, so a database
//! dump alone spends nothing. The master key lives outside the database.

use std::fmt;
use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Error;

/// Associated data of every value sealed before values were bound to their
/// rows (v1): the same for link and webhook secrets, and no row id.
const V1_AAD: &[u8] = b"lnurld withdraw secret v1";

/// Marks a value sealed with `purpose ‖ row` as associated data. Standard
/// base64 has no `:`, so a v1 value can never start with it.
pub const V2_PREFIX: &str = "v2:";

/// Keys derived from the server's master key.
#[derive(Clone)]
pub struct ServerKeys {
    enc: [u8; 32],
    lookup: [u8; 32],
    k1: [u8; 32],
    check: [u8; 32],
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKeys(..)")
    }
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// A new random URL-safe secret: 16 random bytes as 32 hex characters.
pub fn random_secret() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

impl ServerKeys {
    /// Derives the sub-keys from a 32-byte master key.
    pub fn from_master(master: &[u8; 32]) -> ServerKeys {
        ServerKeys {
            enc: hmac(master, b"lnurld/v1/encrypt"),
            lookup: hmac(master, b"lnurld/v1/lookup"),
            k1: hmac(master, b"lnurld/v1/k1"),
            check: hmac(master, b"lnurld/v1/key-check"),
        }
    }

    /// The value recorded in the database on first start
    /// (`service::key_check`): tells whether a key is the one the database
    /// was created with, and reveals nothing else about it.
    pub fn check_value(&self) -> String {
        hex::encode(self.check)
    }

    /// Constant-time comparison of a recorded check value with ours.
    pub fn check_matches(&self, recorded: &str) -> bool {
        let ours = self.check_value();
        ours.len() == recorded.len() && bool::from(ours.as_bytes().ct_eq(recorded.as_bytes()))
    }

    /// From `secret_key` hex if given, else from `key_file`; `None` when
    /// `secret_key` is unset and `key_file` does not exist (nothing is
    /// created: see [`ServerKeys::create_file`]).
    pub fn read(
        secret_key_hex: Option<&str>,
        key_file: &Path,
    ) -> Result<Option<ServerKeys>, Error> {
        if secret_key_hex.is_some() {
            return Self::load(secret_key_hex, key_file).map(Some);
        }
        match std::fs::metadata(key_file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => Self::load(None, key_file).map(Some),
        }
    }

    /// A fresh random key in a new `key_file` (mode 0600); fails if it exists.
    pub fn create_file(key_file: &Path) -> Result<ServerKeys, Error> {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        crate::files::write_private(key_file, &hex::encode(b)).map_err(|e| {
            Error::Internal(format!(
                "cannot create key file {}: {e}",
                key_file.display()
            ))
        })?;
        tracing::info!(path = %key_file.display(), "created a new server key file; back it up with the database");
        Ok(ServerKeys::from_master(&b))
    }

    /// From `secret_key` hex if given, else from `key_file`, creating it
    /// (mode 0600) with a fresh random key on first start.
    pub fn load(secret_key_hex: Option<&str>, key_file: &Path) -> Result<ServerKeys, Error> {
        if let Some(h) = secret_key_hex {
            let b = hex::decode(h.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| Error::Internal("secret_key is not 64 hex characters".into()))?;
            return Ok(ServerKeys::from_master(&b));
        }
        match std::fs::read_to_string(key_file) {
            Ok(text) => {
                crate::files::warn_if_exposed(key_file);
                let b = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| {
                        Error::Internal(format!(
                            "key file {} does not hold 64 hex characters",
                            key_file.display()
                        ))
                    })?;
                Ok(ServerKeys::from_master(&b))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create_file(key_file),
            Err(e) => Err(Error::Internal(format!(
                "cannot read key file {}: {e}",
                key_file.display()
            ))),
        }
    }

    /// Keyed hash of a secret, used to find its link.
    pub fn lookup(&self, secret: &str) -> String {
        hex::encode(hmac(&self.lookup, secret.as_bytes()))
    }

    /// The LUD-03 `k1` of a link: unguessable without the secret, stable
    /// for the link, and needs no storage.
    pub fn k1(&self, secret: &str) -> String {
        hex::encode(hmac(&self.k1, secret.as_bytes()))
    }

    /// Constant-time check of a `k1` a wallet sent.
    pub fn k1_matches(&self, secret: &str, k1: &str) -> bool {
        let expected = self.k1(secret);
        expected.len() == k1.len() && bool::from(expected.as_bytes().ct_eq(k1.as_bytes()))
    }

    /// Seals `clear` for storage in `row`'s `purpose` column:
    /// `v2:` base64(nonce ‖ ciphertext), with `purpose ‖ row` as associated
    /// data, so the value opens only in the row and column it was sealed
    /// for. Someone with write access to the database but no key cannot
    /// move an expensive link's secret onto a cheap voucher, nor a link
    /// secret into a webhook endpoint.
    pub fn seal(&self, purpose: Purpose, row: &str, clear: &str) -> Result<String, Error> {
        let aad = purpose.aad(row);
        let sealed = self.aead_seal(clear, &aad)?;
        Ok(format!("{V2_PREFIX}{sealed}"))
    }

    /// Opens what [`ServerKeys::seal`] sealed for `row`'s `purpose` column.
    /// The error names the row: a value copied from another row or column,
    /// or sealed under another key, does not open.
    pub fn open(&self, purpose: Purpose, row: &str, stored: &str) -> Result<String, Error> {
        let Some(body) = stored.strip_prefix(V2_PREFIX) else {
            return Err(Error::Internal(format!(
                "the {} is not sealed for its row (an old unbound value, which only a start re-seals)",
                purpose.of(row)
            )));
        };
        self.aead_open(body, &purpose.aad(row))
            .map_err(|why| Error::Internal(format!("cannot open the {}: {why}", purpose.of(row))))
    }

    /// Opens a value sealed the way lnurld did before values were bound to
    /// their rows (one context for every column). Only the start-time
    /// re-seal (`service::sealed`) and the key check of a database from
    /// before it use this.
    /// The error is the reason only; the caller names the row.
    pub fn open_v1(&self, stored: &str) -> Result<String, &'static str> {
        self.aead_open(stored, V1_AAD)
    }

    fn aead_seal(&self, clear: &str, aad: &[u8]) -> Result<String, Error> {
        let cipher = XChaCha20Poly1305::new((&self.enc).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: clear.as_bytes(),
                    aad,
                },
            )
            .map_err(|_| Error::Internal("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// The clear text, or why not (a short reason without the value).
    fn aead_open(&self, body: &str, aad: &[u8]) -> Result<String, &'static str> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "the stored value is not base64")?;
        if raw.len() < 24 {
            return Err("the stored value is too short");
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.enc).into());
        let pt = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .map_err(|_| "it was sealed for another row or purpose, or under another server key")?;
        String::from_utf8(pt).map_err(|_| "the stored value is not UTF-8")
    }
}

/// Whether a stored value is in the old format that was not bound to its
/// row (`service::sealed` re-seals those at start).
pub fn is_v1(stored: &str) -> bool {
    !stored.starts_with(V2_PREFIX)
}

/// Which column a sealed value belongs to; part of its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `withdraw_links.secret_enc`; the row is the link's id.
    LinkSecret,
    /// `webhook_endpoints.secret_enc`; the row is the endpoint's URL.
    WebhookSecret,
    /// `offline_registrations.webhook_url` (its query carries the app's
    /// push token); the row is the wallet's pubkey.
    PushWebhook,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::LinkSecret => b"withdraw-link-secret",
            Purpose::WebhookSecret => b"webhook-secret",
            Purpose::PushWebhook => b"offline-push-webhook",
        }
    }

    /// `lnurld/v2/` ‖ label ‖ NUL ‖ row. Labels hold no NUL, so no
    /// (purpose, row) pair can be spelled as another.
    fn aad(self, row: &str) -> Vec<u8> {
        let mut aad = b"lnurld/v2/".to_vec();
        aad.extend_from_slice(self.label());
        aad.push(0);
        aad.extend_from_slice(row.as_bytes());
        aad
    }

    /// "secret of withdraw link wl_…" / "secret of webhook endpoint https://…".
    pub fn of(self, row: &str) -> String {
        match self {
            Purpose::LinkSecret => format!("secret of withdraw link {row}"),
            Purpose::WebhookSecret => format!("signing secret of webhook endpoint {row}"),
            Purpose::PushWebhook => format!("push webhook of offline wallet {row}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_are_not_stored_in_clear() {
        let keys = ServerKeys::from_master(&[7u8; 32]);
        let s = random_secret();
        let enc = keys
            .seal(Purpose::LinkSecret, "wl_a", &s)
            .expect("test input is valid");
        assert!(!enc.contains(&s));
        assert_eq!(
            keys.open(Purpose::LinkSecret, "wl_a", &enc)
                .expect("test input is valid"),
            s
        );
        let other = ServerKeys::from_master(&[8u8; 32]);
        assert!(other.open(Purpose::LinkSecret, "wl_a", &enc).is_err());
        assert_ne!(keys.lookup(&s), other.lookup(&s));
        assert!(keys.k1_matches(&s, &keys.k1(&s)));
        assert!(!keys.k1_matches(&s, &other.k1(&s)));
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_row_and_purpose() {
        let keys = ServerKeys::from_master(&[7u8; 32]);
        let enc = keys
            .seal(Purpose::LinkSecret, "wl_a", "s3cret")
            .expect("test input is valid");
        let moved = keys
            .open(Purpose::LinkSecret, "wl_b", &enc)
            .expect_err("another row");
        assert!(moved.to_string().contains("withdraw link wl_b"), "{moved}");
        let other_purpose = keys
            .open(Purpose::WebhookSecret, "wl_a", &enc)
            .expect_err("another purpose");
        assert!(
            other_purpose.to_string().contains("webhook endpoint wl_a"),
            "{other_purpose}"
        );
        // An old value is refused by `open`; only `open_v1` reads it.
        let v1 = keys.aead_seal("s3cret", V1_AAD).expect("seal");
        assert!(is_v1(&v1) && !is_v1(&enc));
        assert!(keys.open(Purpose::LinkSecret, "wl_a", &v1).is_err());
        assert_eq!(keys.open_v1(&v1).expect("v1 opens"), "s3cret");
        // A row id cannot be forged by spelling the purpose into it.
        assert_ne!(
            Purpose::LinkSecret.aad("x"),
            Purpose::WebhookSecret.aad("x")
        );
    }

    #[test]
    fn the_check_value_tells_keys_apart() {
        let a = ServerKeys::from_master(&[7u8; 32]);
        let b = ServerKeys::from_master(&[8u8; 32]);
        assert!(a.check_matches(&a.check_value()));
        assert!(ServerKeys::from_master(&[7u8; 32]).check_matches(&a.check_value()));
        assert!(!b.check_matches(&a.check_value()));
        assert!(!a.check_matches(""));
        // Not one of the keys that seal or find secrets.
        for k in [a.enc, a.lookup, a.k1] {
            assert_ne!(hex::encode(k), a.check_value());
        }
    }
}
