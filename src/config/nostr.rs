//! `[nostr]`: NIP-57 zaps — the key receipts are signed with, which relay
//! addresses zap requests may name, and how long receipts are published.

use super::*;

/// `[nostr]`. `Debug` redacts `secret_key`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NostrConfig {
    /// Take zaps: pay links and addresses answer `allowsNostr` and
    /// `nostrPubkey`, the callback accepts `nostr=`, and settled zaps get a
    /// signed receipt (kind 9735) published to the request's relays.
    #[serde(deserialize_with = "de_bool")]
    pub enabled: bool,
    /// The key receipts are signed with (64 hex characters or `nsec1…`);
    /// shared by all instances. Defaults to the key file
    /// `lnurld-nostr.key` beside the server key file, created (mode 0600)
    /// on first start.
    pub secret_key: Option<String>,
    /// Accept `ws://` relays besides `wss://` (for tests and private
    /// relays). Which addresses a relay may have is the webhook target
    /// guard's rule, with `[webhooks] allow_private_targets`.
    #[serde(deserialize_with = "de_bool")]
    pub allow_insecure_relays: bool,
    /// How long after settlement a receipt is retried at a relay that has
    /// not accepted it (default one hour); then that relay is `failed`.
    #[serde(deserialize_with = "de_u64")]
    pub publish_window_secs: u64,
    /// How long one publishing attempt may take (connect, send, the
    /// relay's `OK`).
    #[serde(deserialize_with = "de_u32")]
    pub timeout_secs: u32,
    /// First retry delay in milliseconds; it doubles per attempt (with
    /// jitter), capped at one hour.
    #[serde(deserialize_with = "de_u64")]
    pub retry_base_ms: u64,
}

impl Default for NostrConfig {
    fn default() -> Self {
        NostrConfig {
            enabled: false,
            secret_key: None,
            allow_insecure_relays: false,
            publish_window_secs: 3_600,
            timeout_secs: 10,
            retry_base_ms: 5_000,
        }
    }
}

impl std::fmt::Debug for NostrConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NostrConfig")
            .field("enabled", &self.enabled)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_insecure_relays", &self.allow_insecure_relays)
            .field("publish_window_secs", &self.publish_window_secs)
            .field("timeout_secs", &self.timeout_secs)
            .field("retry_base_ms", &self.retry_base_ms)
            .finish()
    }
}

impl Config {
    /// `[nostr]`: the key parses, the pacing is sane.
    pub(super) fn validate_nostr(&self) -> Result<(), ConfigError> {
        let n = &self.nostr;
        if let Some(k) = &n.secret_key {
            ::nostr::prelude::SecretKey::parse(k.trim()).map_err(|_| {
                ConfigError::new(
                    "nostr.secret_key",
                    "must be a secp256k1 secret key: 64 hex characters or nsec1…",
                )
            })?;
        }
        if n.publish_window_secs == 0 {
            return Err(ConfigError::new(
                "nostr.publish_window_secs",
                "must be at least 1",
            ));
        }
        if n.timeout_secs == 0 || n.timeout_secs > 300 {
            return Err(ConfigError::new(
                "nostr.timeout_secs",
                "must be between 1 and 300",
            ));
        }
        if n.retry_base_ms < 100 || n.retry_base_ms > 3_600_000 {
            return Err(ConfigError::new(
                "nostr.retry_base_ms",
                "must be between 100 and 3600000",
            ));
        }
        Ok(())
    }
}
