//! `[webhooks]`: delivery settings and the target guard applied to them.

use super::*;

/// `[webhooks]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Global webhook URL, used for events of links without their own
    /// `webhook_url`. Unset: such events are recorded but not sent.
    pub url: Option<String>,
    /// How long one delivery attempt may take (connect + answer).
    #[serde(deserialize_with = "de_u32")]
    pub timeout_secs: u32,
    /// First retry delay in milliseconds; it doubles per attempt (with
    /// jitter), capped at one hour.
    #[serde(deserialize_with = "de_u64")]
    pub retry_base_ms: u64,
    /// How long after an event was created (or redelivered) it is retried
    /// before it is marked `failed` (default 3 days).
    #[serde(deserialize_with = "de_u64")]
    pub max_age_secs: u64,
    /// Allow webhook targets on loopback and private networks (127/8,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10, 198.18/15, fc00::/7,
    /// fec0::/10, localhost; see `webhook_target`). Link-local, cloud
    /// metadata, documentation, multicast and reserved addresses stay
    /// refused even then.
    #[serde(deserialize_with = "de_bool")]
    pub allow_private_targets: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            url: None,
            timeout_secs: 10,
            retry_base_ms: 5_000,
            max_age_secs: 3 * 86_400,
            allow_private_targets: false,
        }
    }
}

impl Config {
    /// `[webhooks]`: timeouts, retry pacing, and the default target URL.
    pub(super) fn validate_webhooks(&self) -> Result<(), ConfigError> {
        let w = &self.webhooks;
        if w.timeout_secs == 0 || w.timeout_secs > 300 {
            return Err(ConfigError::new(
                "webhooks.timeout_secs",
                "must be between 1 and 300",
            ));
        }
        if w.retry_base_ms < 100 || w.retry_base_ms > 3_600_000 {
            return Err(ConfigError::new(
                "webhooks.retry_base_ms",
                "must be between 100 and 3600000",
            ));
        }
        if w.max_age_secs == 0 {
            return Err(ConfigError::new(
                "webhooks.max_age_secs",
                "must be at least 1",
            ));
        }
        if let Some(u) = &w.url {
            crate::webhook_target::check_target_url(u, w.allow_private_targets)
                .map_err(|e| ConfigError::new("webhooks.url", e))?;
        }
        Ok(())
    }
}
