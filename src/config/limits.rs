//! `[limits]`: rate limits and trusted proxies, and their checks.

use super::*;

/// `[limits]`: token buckets per client IP, per link and per IP for failed
/// admin logins. A bucket holds `*_burst` requests and refills at
/// `*_per_minute`; `0` in either turns that one limit off, `enabled = false`
/// turns them all off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Master switch (off for benchmarks and private deployments).
    #[serde(deserialize_with = "de_bool")]
    pub enabled: bool,
    /// Reverse proxies (IPs or CIDRs) whose `X-Forwarded-For`/`Forwarded`
    /// header names the client; any other peer is the client itself.
    #[serde(deserialize_with = "de_list")]
    pub trusted_proxies: Vec<String>,
    /// Sustained requests per minute of one client IP (IPv6: per /64) on
    /// the public routes.
    #[serde(deserialize_with = "de_u32")]
    pub per_ip_per_minute: u32,
    /// Requests one client IP may make at once before the rate applies.
    #[serde(deserialize_with = "de_u32")]
    pub per_ip_burst: u32,
    /// Sustained requests per minute to one link or username (its LNURL
    /// routes, page and QR together), from all clients.
    #[serde(deserialize_with = "de_u32")]
    pub per_link_per_minute: u32,
    /// Requests one link may take at once before the rate applies.
    #[serde(deserialize_with = "de_u32")]
    pub per_link_burst: u32,
    /// Failed admin API logins (401) per minute from one client IP; past
    /// that every admin request from it is refused until the bucket refills.
    #[serde(deserialize_with = "de_u32")]
    pub admin_auth_failures_per_minute: u32,
    /// Failed admin logins one client IP may make at once.
    #[serde(deserialize_with = "de_u32")]
    pub admin_auth_failures_burst: u32,
    /// Most clients (or links) each limiter remembers at once; idle ones are
    /// forgotten every minute. When full, new keys go unlimited by that
    /// limiter until there is room, so memory stays bounded.
    #[serde(deserialize_with = "de_u32")]
    pub max_keys: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            enabled: true,
            trusted_proxies: Vec::new(),
            per_ip_per_minute: 1_200,
            per_ip_burst: 600,
            per_link_per_minute: 1_200,
            per_link_burst: 600,
            admin_auth_failures_per_minute: 10,
            admin_auth_failures_burst: 20,
            max_keys: 100_000,
        }
    }
}

/// The most a limit's rate or burst may be: far above any real use, and
/// low enough that a typo (an extra digit or two) is caught.
const LIMIT_MAX: u32 = 1_000_000;

impl LimitsConfig {
    /// The trusted proxies as networks (a bare address is a /32 or /128).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| {
                        ConfigError::new(
                            "limits.trusted_proxies",
                            format!(
                                "{p:?} is not an IP address or CIDR (e.g. \"10.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\")"
                            ),
                        )
                    })
            })
            .collect()
    }
}

impl Config {
    /// `[limits]`: rates and bursts in range, the key cap, and every trusted
    /// proxy an address or CIDR.
    pub(super) fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        for (key, value) in [
            ("limits.per_ip_per_minute", l.per_ip_per_minute),
            ("limits.per_ip_burst", l.per_ip_burst),
            ("limits.per_link_per_minute", l.per_link_per_minute),
            ("limits.per_link_burst", l.per_link_burst),
            (
                "limits.admin_auth_failures_per_minute",
                l.admin_auth_failures_per_minute,
            ),
            (
                "limits.admin_auth_failures_burst",
                l.admin_auth_failures_burst,
            ),
        ] {
            if value > LIMIT_MAX {
                return Err(ConfigError::new(
                    key,
                    format!("{value} is more than {LIMIT_MAX}; use 0 to turn this limit off"),
                ));
            }
        }
        if !(100..=10_000_000).contains(&l.max_keys) {
            return Err(ConfigError::new(
                "limits.max_keys",
                "must be between 100 and 10000000",
            ));
        }
        l.trusted_proxy_nets()?;
        Ok(())
    }
}
