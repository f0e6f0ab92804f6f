//! `[withdraw]`: payouts, fee limits, leases, and their checks.

use super::*;

/// `[withdraw]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WithdrawConfig {
    /// Routing fee limit in parts per million of the amount.
    #[serde(deserialize_with = "de_u64")]
    pub max_fee_ppm: u64,
    /// The fee limit is never below this (small payments need a floor),
    /// unless that floor is more than `max_fee_floor_ppm` of the amount.
    #[serde(deserialize_with = "de_u64")]
    pub min_fee_limit_msat: u64,
    /// The most the floor may be, in parts per million of the amount: a
    /// fixed floor on a 1-sat payment would let a routing hop the payee
    /// controls take more than the payment is worth, on every use.
    #[serde(deserialize_with = "de_u64")]
    pub max_fee_floor_ppm: u64,
    /// How long the node may try to find a route before giving up.
    #[serde(deserialize_with = "de_u32")]
    pub payment_timeout_secs: u32,
    /// How long a payer's claim on a withdrawal lasts before another
    /// instance may take over tracking it.
    #[serde(deserialize_with = "de_u32")]
    pub lease_secs: u32,
    /// On SIGTERM/SIGINT, how long the payer may go on handing withdrawals
    /// answered OK to the node (and waiting for their outcomes) after the
    /// HTTP server has stopped.
    #[serde(deserialize_with = "de_u32")]
    pub shutdown_grace_secs: u32,
}

impl Default for WithdrawConfig {
    fn default() -> Self {
        WithdrawConfig {
            max_fee_ppm: 10_000,
            min_fee_limit_msat: 2_000,
            max_fee_floor_ppm: 50_000,
            payment_timeout_secs: 60,
            lease_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

impl WithdrawConfig {
    /// Fee limit for a payment of `amount_msat`:
    /// `max(amount × max_fee_ppm, min(min_fee_limit_msat, amount × max_fee_floor_ppm))`.
    pub fn max_fee_msat(&self, amount_msat: u64) -> u64 {
        let ppm = |p: u64| {
            u64::try_from(u128::from(amount_msat) * u128::from(p) / 1_000_000).unwrap_or(u64::MAX)
        };
        let floor = self.min_fee_limit_msat.min(ppm(self.max_fee_floor_ppm));
        ppm(self.max_fee_ppm).max(floor)
    }
}

impl Config {
    /// `[withdraw]`: payment timeout and lease.
    pub(super) fn validate_withdraw(&self) -> Result<(), ConfigError> {
        if self.withdraw.payment_timeout_secs == 0 {
            return Err(ConfigError::new(
                "withdraw.payment_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.withdraw.lease_secs == 0 {
            return Err(ConfigError::new(
                "withdraw.lease_secs",
                "must be at least 1",
            ));
        }
        // Past 1,000,000 ppm a fee could exceed the payment itself.
        for (key, v) in [
            ("withdraw.max_fee_ppm", self.withdraw.max_fee_ppm),
            (
                "withdraw.max_fee_floor_ppm",
                self.withdraw.max_fee_floor_ppm,
            ),
        ] {
            if v > 1_000_000 {
                return Err(ConfigError::new(
                    key,
                    "must be at most 1000000 (the whole amount)",
                ));
            }
        }
        // 0 would leave every withdrawal answered during the HTTP drain
        // `pending` until the next start; an hour is past any supervisor's
        // stop timeout, so a larger value is a typo.
        if !(1..=3600).contains(&self.withdraw.shutdown_grace_secs) {
            return Err(ConfigError::new(
                "withdraw.shutdown_grace_secs",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }
}
