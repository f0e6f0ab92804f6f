//! `[retention]`: how long finished rows are kept, and its checks.

use super::*;

/// `[retention]`: how long finished records are kept, in days (0 = keep
/// forever). Records that the exactly-once or webhook machinery still needs
/// (pending and in-flight withdrawals, events not yet delivered or given
/// up, open invoices) and settled invoices are never pruned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Webhook events delivered (a 2xx answer), counted from delivery.
    #[serde(deserialize_with = "de_u32")]
    pub delivered_events_days: u32,
    /// Webhook events given up on (`failed`) or never sent because no URL
    /// was set (`no_target`), counted from then; an operator may redeliver
    /// them until they go.
    #[serde(deserialize_with = "de_u32")]
    pub failed_events_days: u32,
    /// Pay invoices that expired unpaid, counted from when the sweeper
    /// marked them expired.
    #[serde(deserialize_with = "de_u32")]
    pub expired_invoices_days: u32,
    /// Withdrawals that succeeded or failed, counted from completion
    /// (default 0: kept forever, they are the payout record).
    #[serde(deserialize_with = "de_u32")]
    pub finished_withdrawals_days: u32,
    /// How often the pruning worker runs.
    #[serde(deserialize_with = "de_u32")]
    pub prune_every_secs: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            delivered_events_days: 30,
            failed_events_days: 90,
            expired_invoices_days: 30,
            finished_withdrawals_days: 0,
            prune_every_secs: 3_600,
        }
    }
}

impl Config {
    /// `[retention]`: periods of at most 100 years (so that a cut-off in
    /// seconds never overflows), and a pruning interval of 1 s to 1 day.
    pub(super) fn validate_retention(&self) -> Result<(), ConfigError> {
        let r = &self.retention;
        for (key, days) in [
            ("retention.delivered_events_days", r.delivered_events_days),
            ("retention.failed_events_days", r.failed_events_days),
            ("retention.expired_invoices_days", r.expired_invoices_days),
            (
                "retention.finished_withdrawals_days",
                r.finished_withdrawals_days,
            ),
        ] {
            if days > 36_500 {
                return Err(ConfigError::new(
                    key,
                    "must be at most 36500 days (0 keeps forever)",
                ));
            }
        }
        if r.prune_every_secs == 0 || r.prune_every_secs > 86_400 {
            return Err(ConfigError::new(
                "retention.prune_every_secs",
                "must be between 1 and 86400",
            ));
        }
        Ok(())
    }
}
