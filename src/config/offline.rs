//! `[offline]`: offline receive for phone wallets (issue 14), off by
//! default, and its checks.

use super::*;

/// `[offline]`: phone wallets register a push webhook and get a Lightning
/// Address that lnurld serves while they sleep (breez-lnurl's protocol).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineConfig {
    /// Master switch. Off: none of the `/lnurlpay/…` routes exist.
    #[serde(deserialize_with = "de_bool")]
    pub enabled: bool,
    /// Hosts a registered `webhook_url` may point at (the push relays, e.g.
    /// `notifier.breez.technology`); any other host is refused.
    #[serde(deserialize_with = "de_list")]
    pub webhook_hosts: Vec<String>,
    /// Development and tests only: also allow `http://` webhooks (still
    /// only on `webhook_hosts`; loopback only with `[webhooks]
    /// allow_private_targets`). Never in production: the push token would
    /// travel in clear.
    #[serde(deserialize_with = "de_bool")]
    pub allow_insecure_webhooks: bool,
    /// How many days a username its owner released (changed or
    /// unregistered) stays reserved for that owner's pubkey.
    #[serde(deserialize_with = "de_u32")]
    pub name_hold_days: u32,
    /// How long a payer's request waits for the phone's reply (payers give
    /// up after about 30 s); then the payer gets a LUD error saying so.
    #[serde(deserialize_with = "de_u32")]
    pub reply_timeout_secs: u32,
    /// PostgreSQL: announce replies with `pg_notify` and LISTEN for them, so
    /// a payer waiting on one instance hears at once of a reply another
    /// instance took. Off: only polling (`poll_ms`) tells.
    #[serde(deserialize_with = "de_bool")]
    pub notify: bool,
    /// How often a waiting payer's request is read again (ms), so replies
    /// taken elsewhere are seen even when a notification is lost.
    #[serde(deserialize_with = "de_u32")]
    pub poll_ms: u32,
    /// Pushes one wallet may be sent per minute (sustained); `0` = no limit.
    /// Coalesced and cached answers send none.
    #[serde(deserialize_with = "de_u32")]
    pub pushes_per_minute: u32,
    /// Pushes one wallet may be sent at once before the rate applies.
    #[serde(deserialize_with = "de_u32")]
    pub push_burst: u32,
    /// Registration calls (register, unregister, recover) one client IP
    /// (IPv6: its /64) may make per hour; `0` = no limit.
    #[serde(deserialize_with = "de_u32")]
    pub registrations_per_ip_per_hour: u32,
    /// Payers that may wait on one wallet at once; more get a LUD error.
    #[serde(deserialize_with = "de_u32")]
    pub max_pending_per_pubkey: u32,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        OfflineConfig {
            enabled: false,
            webhook_hosts: Vec::new(),
            allow_insecure_webhooks: false,
            name_hold_days: 30,
            reply_timeout_secs: 25,
            notify: true,
            poll_ms: 250,
            pushes_per_minute: 10,
            push_burst: 3,
            registrations_per_ip_per_hour: 20,
            max_pending_per_pubkey: 10,
        }
    }
}

impl Config {
    /// `[offline]`: every webhook host a host name or address that may ever
    /// be a target (normalised to lowercase), at least one when enabled,
    /// and the hold within a year.
    pub(super) fn validate_offline(&mut self) -> Result<(), ConfigError> {
        let allow_private = self.webhooks.allow_private_targets;
        let o = &mut self.offline;
        let mut hosts = Vec::with_capacity(o.webhook_hosts.len());
        for h in &o.webhook_hosts {
            let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
            let probe = format!("https://{h}/");
            // Exactly a host: the URL built around it has it as its host and
            // nothing else (no port, user, path or query slipped in).
            let is_host = url::Url::parse(&probe).is_ok_and(|u| {
                u.host_str() == Some(h.as_str())
                    && u.port().is_none()
                    && u.username().is_empty()
                    && u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if !is_host {
                return Err(ConfigError::new(
                    "offline.webhook_hosts",
                    format!("{h:?} is not a host name (give names like \"notifier.breez.technology\", no scheme, port or path)"),
                ));
            }
            crate::webhook_target::check_target_url(&probe, allow_private)
                .map_err(|e| ConfigError::new("offline.webhook_hosts", format!("{h} {e}")))?;
            hosts.push(h);
        }
        o.webhook_hosts = hosts;
        if o.enabled && o.webhook_hosts.is_empty() {
            return Err(ConfigError::new(
                "offline.webhook_hosts",
                "is empty, so no wallet could register; name the push relays wallets use (e.g. [\"notifier.breez.technology\"])",
            ));
        }
        if !(1..=60).contains(&o.reply_timeout_secs) {
            return Err(ConfigError::new(
                "offline.reply_timeout_secs",
                "must be between 1 and 60 (payers give up after about 30 s)",
            ));
        }
        if !(10..=60_000).contains(&o.poll_ms) {
            return Err(ConfigError::new(
                "offline.poll_ms",
                "must be between 10 and 60000",
            ));
        }
        if o.max_pending_per_pubkey == 0 {
            return Err(ConfigError::new(
                "offline.max_pending_per_pubkey",
                "must be at least 1",
            ));
        }
        for (key, v) in [
            ("offline.pushes_per_minute", o.pushes_per_minute),
            ("offline.push_burst", o.push_burst),
            (
                "offline.registrations_per_ip_per_hour",
                o.registrations_per_ip_per_hour,
            ),
            ("offline.max_pending_per_pubkey", o.max_pending_per_pubkey),
        ] {
            if v > 1_000_000 {
                return Err(ConfigError::new(key, "must be at most 1000000"));
            }
        }
        if o.name_hold_days > 365 {
            return Err(ConfigError::new(
                "offline.name_hold_days",
                "must be at most 365",
            ));
        }
        Ok(())
    }
}
