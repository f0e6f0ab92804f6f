//! Settings: `lnurld.toml`, overlaid by `LNURLD_*` environment variables,
//! overlaid by command-line flags (lowest to highest precedence).
//!
//! Env vars name nested keys with a double underscore
//! (`LNURLD_NODE__KIND=lnd`). Unknown keys are refused, and `validate()`
//! runs before the port is bound: every refusal is one line naming the key.
//! How env vars are layered and their strings parsed is in `config/env.rs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use url::Url;

use crate::db::DbUrl;
use env::{de_bool, de_list, de_u32, de_u64, env_is_not_a_key, set_path};
use sources::{Origin, Origins};

mod cln;
mod env;
mod sources;

/// Why the configuration was refused: the key, where it was given, and the
/// problem — `config: node.kind (env LNURLD_NODE__KIND): unknown variant…`.
#[derive(Debug, thiserror::Error)]
#[error("config: {key}{}: {problem}", origin.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
pub struct ConfigError {
    /// Dotted key (`node.tls_cert`), or the file name for file errors.
    pub key: String,
    /// Where the value came from (`lnurld.toml line 4`, `env LNURLD_…`,
    /// `--listen`), when it was given.
    pub origin: Option<String>,
    /// What is wrong, in words.
    pub problem: String,
}

impl ConfigError {
    fn new(key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_owned(),
            origin: None,
            problem: problem.into(),
        }
    }

    fn from(mut self, origins: &Origins) -> ConfigError {
        if self.origin.is_none() {
            self.origin = origins.of(&self.key).map(ToString::to_string);
        }
        self
    }
}

/// The whole configuration. `Debug` redacts the secrets (server key,
/// macaroon hex, database password), so a logged config leaks nothing.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Public base URL wallets reach this server at (https, or http only for
    /// localhost and .onion). Every LNURL is built from it.
    pub public_url: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Whether `public_url` was given (file, env or flag); when it was not,
    /// it follows `listen`.
    #[serde(skip)]
    pub public_url_set: bool,
    /// `LNURLD_*` variables that are no setting: ignored, and listed in one
    /// warning at start.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
    /// `sqlite://path` (default `sqlite://lnurld.db`) or `postgres://…`.
    pub database_url: String,
    /// Size of the database connection pool.
    #[serde(deserialize_with = "de_u32")]
    pub database_max_connections: u32,
    /// Server key (64 hex chars) that encrypts link secrets; shared by all
    /// instances. Defaults to a key file (see `key_file`).
    pub secret_key: Option<String>,
    /// File holding the server key; created on first start. Default:
    /// `lnurld.key` beside the SQLite file, or in the working directory.
    pub key_file: Option<PathBuf>,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// Lightning node backend.
    pub node: NodeConfig,
    /// Withdraw (LUD-03) payout policy.
    pub withdraw: WithdrawConfig,
    /// Pay links (LUD-06).
    pub pay: PayConfig,
    /// Lightning Addresses (LUD-16).
    pub address: AddressConfig,
    /// Webhook delivery (events to the operator's systems).
    pub webhooks: WebhooksConfig,
    /// Rate limits on the public routes and on failed admin logins.
    pub limits: LimitsConfig,
    /// How long finished records are kept.
    pub retention: RetentionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: "http://127.0.0.1:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url_set: false,
            ignored_env: Vec::new(),
            database_url: "sqlite://lnurld.db".into(),
            database_max_connections: 10,
            secret_key: None,
            key_file: None,
            log_format: LogFormat::Text,
            node: NodeConfig::default(),
            withdraw: WithdrawConfig::default(),
            pay: PayConfig::default(),
            address: AddressConfig::default(),
            webhooks: WebhooksConfig::default(),
            limits: LimitsConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Which node backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Embedded regtest node: moves no real money.
    Dev,
    /// LND over gRPC.
    Lnd,
    /// Core Lightning over its `grpc` plugin (mTLS).
    Cln,
}

/// The dev node's starting balance unless `[node] dev_balance_sat` says
/// otherwise: 1,000,000 sat, enough to try withdrawals, small enough that
/// an overdraft is easy to try too.
pub const DEFAULT_DEV_BALANCE_SAT: u64 = 1_000_000;
/// Most `[node] dev_balance_sat` may be: 21 million BTC.
pub const MAX_DEV_BALANCE_SAT: u64 = 2_100_000_000_000_000;

/// `[node]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// `dev` (default), `lnd` or `cln`.
    pub kind: NodeKind,
    /// gRPC endpoint: LND's `https://host:10009`, or CLN's grpc plugin
    /// (`grpc-port`), e.g. `https://127.0.0.1:9736`.
    pub endpoint: Option<String>,
    /// CLN: path of the grpc plugin's `ca.pem`.
    pub ca_cert: Option<PathBuf>,
    /// CLN: path of the grpc plugin's `client.pem`.
    pub client_cert: Option<PathBuf>,
    /// CLN: path of the grpc plugin's `client-key.pem`.
    pub client_key: Option<PathBuf>,
    /// CLN: the name the server certificate is checked against
    /// (default `cln`, as the grpc plugin's certificate names it).
    pub tls_domain: Option<String>,
    /// Path of LND's `tls.cert` (pinned exactly).
    pub tls_cert: Option<PathBuf>,
    /// Macaroon: a file path, or the hex of the macaroon itself.
    pub macaroon: Option<String>,
    /// File holding the dev node's key (created 0600 on first start).
    /// Default: `lnurld-dev-node.key` beside the SQLite file, or in the
    /// working directory.
    pub dev_key_file: Option<PathBuf>,
    /// Ask the node for route hints to its private channels in pay-link
    /// invoices (lnd's AddInvoice `private`). The dev node has no channels
    /// and ignores it.
    pub private_invoices: bool,
    /// The dev node's starting balance, in sats (default 1,000,000). Its
    /// balance is this plus what its invoices received minus what it paid.
    #[serde(deserialize_with = "de_u64")]
    pub dev_balance_sat: u64,
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A macaroon given as hex is a bearer credential; a path is not.
        let macaroon = self.macaroon.as_deref().map(|m| {
            if Path::new(m).exists() {
                m.to_owned()
            } else {
                "<redacted>".to_owned()
            }
        });
        f.debug_struct("NodeConfig")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("tls_cert", &self.tls_cert)
            .field("macaroon", &macaroon)
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("tls_domain", &self.tls_domain)
            .field("dev_key_file", &self.dev_key_file)
            .field("private_invoices", &self.private_invoices)
            .field("dev_balance_sat", &self.dev_balance_sat)
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("public_url", &self.public_url)
            .field("listen", &self.listen)
            .field("database_url", &crate::db::redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("key_file", &self.key_file)
            .field("log_format", &self.log_format)
            .field("node", &self.node)
            .field("withdraw", &self.withdraw)
            .field("pay", &self.pay)
            .field("address", &self.address)
            .field("webhooks", &self.webhooks)
            .field("limits", &self.limits)
            .field("retention", &self.retention)
            .finish()
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            kind: NodeKind::Dev,
            endpoint: None,
            tls_cert: None,
            macaroon: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            tls_domain: None,
            dev_key_file: None,
            private_invoices: false,
            dev_balance_sat: DEFAULT_DEV_BALANCE_SAT,
        }
    }
}

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

/// `[pay]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayConfig {
    /// Expiry of invoices issued for pay links.
    #[serde(deserialize_with = "de_u32")]
    pub invoice_expiry_secs: u32,
    /// Most unpaid, unexpired invoices one pay link (or Lightning Address)
    /// may have at once; past it the callback refuses before asking the
    /// node. 0 = no cap.
    #[serde(deserialize_with = "de_u32")]
    pub max_open_invoices_per_link: u32,
}

impl Default for PayConfig {
    fn default() -> Self {
        PayConfig {
            invoice_expiry_secs: 3600,
            max_open_invoices_per_link: 1_000,
        }
    }
}

/// `[address]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AddressConfig {
    /// Domain of Lightning Addresses (`alice@<domain>`). Defaults to the
    /// host of `public_url`.
    pub domain: Option<String>,
}

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

/// The public URL when none is given: the listen address itself when it is
/// a loopback one, else this machine's loopback on the same port (a start
/// warns that only this machine can reach it).
fn follow_listen(listen: SocketAddr) -> String {
    if listen.ip().is_loopback() {
        format!("http://{listen}")
    } else {
        format!("http://127.0.0.1:{}", listen.port())
    }
}

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

/// Values given as command-line flags (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

impl Config {
    /// Loads file + env + flags. `file` is the explicit `--config` path;
    /// without one, `lnurld.toml` in the working directory is read if present.
    pub fn load<I>(file: Option<&Path>, env: I, flags: &Overrides) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut table = toml::Table::new();
        let mut origins = Origins::default();
        let (path, required) = match file {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("lnurld.toml"), false),
        };
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                table = Self::file_layer(&shown, &text)?;
                origins.add_file(&shown, &text, &table);
            }
            Err(e) if required || e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ConfigError::new(&shown, format!("cannot read: {e}")));
            }
            Err(_) => {}
        }

        // Each variable is tried on its own first, so a bad value is
        // reported with the variable's name, and a variable that is no key
        // of ours (a deploy script's LNURLD_CHECKOUT) is set aside, not fatal.
        let mut ignored_env = Vec::new();
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with("LNURLD_") && !env_is_not_a_key(name))
            .collect();
        vars.sort();
        for (name, value) in vars {
            let rest = &name["LNURLD_".len()..];
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            let key = path.join(".");
            let mut alone = toml::Table::new();
            let checked = set_path(&mut alone, &path, toml::Value::String(value.clone()))
                .map_err(|p| p.to_string())
                .and_then(|()| {
                    toml::Value::Table(alone)
                        .try_into::<Config>()
                        .map(drop)
                        .map_err(|e| e.message().to_owned())
                });
            match checked {
                Ok(()) => {}
                Err(m) if m.starts_with("unknown field") || m.contains("is not a table") => {
                    ignored_env.push(name);
                    continue;
                }
                Err(m) => {
                    return Err(ConfigError {
                        key,
                        origin: Some(Origin::Env(name).to_string()),
                        problem: m,
                    })
                }
            }
            set_path(&mut table, &path, toml::Value::String(value)).map_err(|p| ConfigError {
                key: key.clone(),
                origin: Some(Origin::Env(name.clone()).to_string()),
                problem: p,
            })?;
            origins.set(&key, Origin::Env(name));
        }

        let public_url_set = table.contains_key("public_url") || flags.public_url.is_some();
        let mut config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    // Each layer was checked alone; what is left is how they meet.
                    ConfigError::new("settings", e.message().to_owned())
                })?;
        if let Some(l) = flags.listen {
            config.listen = l;
            origins.set("listen", Origin::Flag("--listen"));
        }
        if let Some(u) = &flags.public_url {
            config.public_url = u.clone();
            origins.set("public_url", Origin::Flag("--public-url"));
        }
        if let Some(d) = &flags.database_url {
            config.database_url = d.clone();
            origins.set("database_url", Origin::Flag("--database-url"));
        }
        config.public_url_set = public_url_set;
        if !public_url_set {
            config.public_url = follow_listen(config.listen);
        }
        config.ignored_env = ignored_env;
        config.validate().map_err(|e| e.from(&origins))?;
        Ok(config)
    }

    /// The config file's table, checked on its own so that a refusal names
    /// the key and its line.
    fn file_layer(shown: &str, text: &str) -> Result<toml::Table, ConfigError> {
        let at_line = |e: &toml::de::Error| {
            let (line, key) = sources::key_at(text, e.span().map_or(0, |s| s.start));
            ConfigError {
                key: key.unwrap_or_else(|| shown.to_owned()),
                origin: Some(
                    Origin::File {
                        file: shown.to_owned(),
                        line,
                    }
                    .to_string(),
                ),
                problem: e.message().to_owned(),
            }
        };
        let table = text.parse::<toml::Table>().map_err(|e| {
            let mut err = at_line(&e);
            err.problem = format!("not valid TOML: {}", err.problem);
            err
        })?;
        toml::from_str::<Config>(text).map_err(|e| at_line(&e))?;
        Ok(table)
    }

    /// Checks everything that can be checked before binding the port, one
    /// section after the other (the first refusal wins), and normalises what
    /// it checked (public URL without a trailing `/`, LND endpoint with its
    /// scheme, address domain in lowercase).
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let url = self.public_url()?;
        self.public_url = url.as_str().trim_end_matches('/').to_owned();
        self.validate_storage()?;
        if self.node.kind == NodeKind::Lnd {
            self.validate_lnd()?;
        }
        self.validate_dev_node()?;
        if self.node.kind == NodeKind::Cln {
            self.validate_cln()?;
        }
        self.validate_withdraw()?;
        self.validate_pay()?;
        self.validate_address()?;
        self.validate_webhooks()?;
        self.validate_limits()?;
        self.validate_retention()
    }

    /// `[limits]`: rates and bursts in range, the key cap, and every trusted
    /// proxy an address or CIDR.
    fn validate_limits(&self) -> Result<(), ConfigError> {
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

    /// `[retention]`: periods of at most 100 years (so that a cut-off in
    /// seconds never overflows), and a pruning interval of 1 s to 1 day.
    fn validate_retention(&self) -> Result<(), ConfigError> {
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

    /// `database_url`, `database_max_connections` and `secret_key`.
    fn validate_storage(&self) -> Result<(), ConfigError> {
        DbUrl::parse(&self.database_url)
            .map_err(|e| ConfigError::new("database_url", e.to_string()))?;
        if self.database_max_connections == 0 {
            return Err(ConfigError::new(
                "database_max_connections",
                "must be at least 1",
            ));
        }
        if let Some(k) = &self.secret_key {
            let ok = hex::decode(k.trim())
                .map(|b| b.len() == 32)
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::new(
                    "secret_key",
                    "must be 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`",
                ));
            }
        }
        Ok(())
    }

    /// The `[node]` section of an LND backend: endpoint (given its `https://`
    /// scheme when it has none), TLS certificate and macaroon.
    fn validate_lnd(&mut self) -> Result<(), ConfigError> {
        // Every missing key at once: one start to learn them all.
        let missing: Vec<&str> = [
            (
                "node.endpoint",
                self.node.endpoint.as_deref().is_none_or(str::is_empty),
            ),
            ("node.tls_cert", self.node.tls_cert.is_none()),
            (
                "node.macaroon",
                self.node.macaroon.as_deref().is_none_or(str::is_empty),
            ),
        ]
        .into_iter()
        .filter_map(|(key, absent)| absent.then_some(key))
        .collect();
        if let [one] = missing[..] {
            let example = match one {
                "node.endpoint" => "e.g. https://127.0.0.1:10009",
                "node.tls_cert" => "path of LND's tls.cert",
                _ => "path of a macaroon file, or its hex",
            };
            return Err(ConfigError::new(
                one,
                format!("required when node.kind = \"lnd\" ({example})"),
            ));
        }
        if !missing.is_empty() {
            return Err(ConfigError::new(
                "node",
                format!(
                    "{} are required when node.kind = \"lnd\"",
                    missing.join(", ")
                ),
            ));
        }
        let endpoint = self.node.endpoint.as_deref().unwrap_or("");
        let with_scheme = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("https://{endpoint}")
        };
        match Url::parse(&with_scheme) {
            Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
            _ => {
                return Err(ConfigError::new(
                    "node.endpoint",
                    format!("{endpoint:?} is not https://host:port (LND's gRPC always uses TLS)"),
                ))
            }
        }
        self.node.endpoint = Some(with_scheme);
        self.validate_tls_cert()?;
        self.macaroon_bytes()?;
        Ok(())
    }

    /// `node.tls_cert`: present, readable, and a PEM certificate.
    fn validate_tls_cert(&self) -> Result<(), ConfigError> {
        match &self.node.tls_cert {
            None => Err(ConfigError::new(
                "node.tls_cert",
                "required when node.kind = \"lnd\" (path of LND's tls.cert)",
            )),
            Some(p) => {
                let pem = std::fs::read(p).map_err(|e| {
                    ConfigError::new("node.tls_cert", format!("cannot read {}: {e}", p.display()))
                })?;
                if !String::from_utf8_lossy(&pem).contains("BEGIN CERTIFICATE") {
                    return Err(ConfigError::new(
                        "node.tls_cert",
                        format!("{} holds no PEM certificate", p.display()),
                    ));
                }
                Ok(())
            }
        }
    }

    /// `[node] dev_balance_sat`: at most 21 million BTC, so that the
    /// balance in msat fits the database's BIGINT with room to receive.
    fn validate_dev_node(&self) -> Result<(), ConfigError> {
        if self.node.dev_balance_sat > MAX_DEV_BALANCE_SAT {
            return Err(ConfigError::new(
                "node.dev_balance_sat",
                format!("must be at most {MAX_DEV_BALANCE_SAT} (21 million BTC)"),
            ));
        }
        Ok(())
    }

    /// `[withdraw]`: payment timeout and lease.
    fn validate_withdraw(&self) -> Result<(), ConfigError> {
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

    /// `[pay]`: invoice expiry.
    fn validate_pay(&self) -> Result<(), ConfigError> {
        if self.pay.invoice_expiry_secs < 60 || self.pay.invoice_expiry_secs > 31_536_000 {
            return Err(ConfigError::new(
                "pay.invoice_expiry_secs",
                "must be between 60 and 31536000",
            ));
        }
        Ok(())
    }

    /// `[address]`: the Lightning Address domain, kept in lowercase.
    fn validate_address(&mut self) -> Result<(), ConfigError> {
        if let Some(d) = &self.address.domain {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !ok {
                return Err(ConfigError::new(
                    "address.domain",
                    format!("{d:?} is not a domain name"),
                ));
            }
            self.address.domain = Some(d.to_ascii_lowercase());
        }
        Ok(())
    }

    /// `[webhooks]`: timeouts, retry pacing, and the default target URL.
    fn validate_webhooks(&self) -> Result<(), ConfigError> {
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

    /// What a start should warn about: settings that are valid but probably
    /// not what the operator meant, one line each. Where `public_url` points
    /// matters only to a command that listens (`serving`): a CLI command
    /// given `--public-url` alone is not told about the port it does not use.
    pub fn warnings(&self, serving: bool) -> Vec<String> {
        let mut out = Vec::new();
        if !self.ignored_env.is_empty() {
            out.push(format!(
                "ignoring environment variables that are no lnurld setting: {}",
                self.ignored_env.join(", ")
            ));
        }
        if !serving {
            return out;
        }
        let Ok(url) = self.public_url() else {
            return out;
        };
        let on_this_machine = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if !self.public_url_set && !self.listen.ip().is_loopback() {
            out.push(format!(
                "public_url is not set, so links point at {}, which only this machine can reach; set public_url to the address wallets use",
                self.public_url
            ));
        } else if self.public_url_set
            && on_this_machine
            && url.port_or_known_default() != Some(self.listen.port())
        {
            out.push(format!(
                "public_url {} is on this machine but not on the port lnurld listens on ({}): wallets and pages will find nothing there",
                self.public_url, self.listen
            ));
        }
        out
    }

    /// The parsed public URL, checked: https, or http for localhost/.onion.
    pub fn public_url(&self) -> Result<Url, ConfigError> {
        let url = Url::parse(&self.public_url)
            .map_err(|e| ConfigError::new("public_url", format!("not a URL: {e}")))?;
        let host = url
            .host_str()
            .ok_or_else(|| ConfigError::new("public_url", "has no host"))?
            .to_ascii_lowercase();
        match url.scheme() {
            "https" => {}
            "http" => {
                let local = host == "localhost"
                    || host == "127.0.0.1"
                    || host == "[::1]"
                    || host.ends_with(".onion");
                if !local {
                    return Err(ConfigError::new(
                        "public_url",
                        format!(
                            "http is only allowed for localhost or .onion hosts; wallets require https for {host}"
                        ),
                    ));
                }
            }
            other => {
                return Err(ConfigError::new(
                    "public_url",
                    format!("scheme {other:?} is not http or https"),
                ))
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                "public_url",
                "must not have a query or fragment",
            ));
        }
        Ok(url)
    }

    /// The macaroon's raw bytes, from a file or from hex.
    pub fn macaroon_bytes(&self) -> Result<Vec<u8>, ConfigError> {
        let m = self
            .node
            .macaroon
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    "node.macaroon",
                    "required when node.kind = \"lnd\" (a file path or the macaroon's hex)",
                )
            })?;
        let path = Path::new(m);
        if path.exists() {
            return std::fs::read(path)
                .map_err(|e| ConfigError::new("node.macaroon", format!("cannot read {m}: {e}")));
        }
        if m.len() % 2 == 0 && m.chars().all(|c| c.is_ascii_hexdigit()) {
            if let Ok(b) = hex::decode(m) {
                return Ok(b);
            }
        }
        Err(ConfigError::new(
            "node.macaroon",
            format!("{m:?} is neither a readable file nor hex"),
        ))
    }

    /// Domain used for Lightning Addresses.
    pub fn address_domain(&self) -> String {
        self.address.domain.clone().unwrap_or_else(|| {
            self.public_url()
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(Some(Path::new("/dev/null")), env, &Overrides::default())
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut c = Config {
            secret_key: Some("ab".repeat(32)),
            database_url: "postgres://u:hunter2@h/db".into(),
            ..Config::default()
        };
        c.node.macaroon = Some("0201036c6e6402f801".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains(&"ab".repeat(32)), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("0201036c6e64"), "{shown}");
        assert!(shown.contains("public_url"));
    }

    #[test]
    fn refusals_name_the_key_and_where_it_was_given() {
        let e = load_env(&[("LNURLD_NODE__KIND", "LND")]).unwrap_err();
        assert_eq!(e.key, "node.kind");
        let shown = e.to_string();
        assert!(
            shown.starts_with("config: node.kind (env LNURLD_NODE__KIND): "),
            "{shown}"
        );
        assert!(shown.contains("LND"), "{shown}");
        let e = load_env(&[("LNURLD_WITHDRAW__MAX_FEE_PPM", "ten")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: withdraw.max_fee_ppm (env LNURLD_WITHDRAW__MAX_FEE_PPM): \"ten\" is not a whole number"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lnurld.toml");
        let from_file = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(Some(&file), Vec::new(), &Overrides::default()).unwrap_err()
        };
        let shown_file = file.display().to_string();
        let e = from_file("listen = \"127.0.0.1:9000\"\n\n[node]\nkind = \"LND\"\n");
        assert_eq!(e.key, "node.kind");
        assert_eq!(
            e.origin.as_deref(),
            Some(format!("{shown_file} line 4").as_str())
        );
        let e = from_file("[withdraw]\nmax_fee_ppm = \"ten\"\n");
        assert_eq!(e.key, "withdraw.max_fee_ppm");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = from_file("[node]\ncolour = \"red\"\n");
        assert_eq!(e.key, "node.colour");
        assert!(e.problem.contains("unknown field"), "{e}");
        assert!(!e.to_string().contains("config: config"), "{e}");
        // A value valid in type but refused by the checks: its line too.
        let e = from_file("public_url = \"http://pay.example.com\"\n");
        assert_eq!(e.key, "public_url");
        assert!(e.to_string().contains("line 1"), "{e}");
        // Flags are named as flags.
        let flags = Overrides {
            public_url: Some("http://10.0.0.1".into()),
            ..Overrides::default()
        };
        let e = Config::load(Some(Path::new("/dev/null")), Vec::new(), &flags).unwrap_err();
        assert_eq!(e.origin.as_deref(), Some("--public-url"));

        // All of the missing LND keys at once.
        let e = load_env(&[("LNURLD_NODE__KIND", "lnd")]).unwrap_err();
        for key in ["node.endpoint", "node.tls_cert", "node.macaroon"] {
            assert!(e.problem.contains(key), "{e}");
        }
        assert!(e.to_string().contains("env LNURLD_NODE__KIND"), "{e}");
    }

    #[test]
    fn public_url_follows_listen_unless_given() {
        let listen = |l: &str, url: Option<&str>| {
            let flags = Overrides {
                listen: Some(l.parse().unwrap()),
                public_url: url.map(str::to_owned),
                ..Overrides::default()
            };
            Config::load(Some(Path::new("/dev/null")), Vec::new(), &flags).unwrap()
        };
        let c = listen("127.0.0.1:44473", None);
        assert_eq!(c.public_url, "http://127.0.0.1:44473");
        assert!(c.warnings(true).is_empty(), "{:?}", c.warnings(true));
        assert_eq!(listen("[::1]:9000", None).public_url, "http://[::1]:9000");
        // Given, on this machine, on another port: allowed, with a warning.
        let c = listen("127.0.0.1:44473", Some("http://127.0.0.1:8080"));
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert!(
            c.warnings(true)[0].contains("127.0.0.1:44473"),
            "{:?}",
            c.warnings(true)
        );
        // Behind a proxy: no warning whatever the ports.
        let c = listen("127.0.0.1:44473", Some("https://pay.example.com"));
        assert!(c.warnings(true).is_empty(), "{:?}", c.warnings(true));
        // On every interface, with nothing given: only this machine can
        // follow the links, and the start says so.
        let c = listen("0.0.0.0:7000", None);
        assert_eq!(c.public_url, "http://127.0.0.1:7000");
        assert!(
            c.warnings(true)[0].contains("only this machine"),
            "{:?}",
            c.warnings(true)
        );
        // From the file or the environment counts as given.
        let c = Config::load(
            Some(Path::new("/dev/null")),
            vec![(
                "LNURLD_PUBLIC_URL".to_owned(),
                "http://localhost:8080".to_owned(),
            )],
            &Overrides {
                listen: Some("127.0.0.1:9999".parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.public_url, "http://localhost:8080");
        assert_eq!(c.warnings(true).len(), 1);
        // A CLI command does not listen: nothing to say about the port.
        assert!(c.warnings(false).is_empty());
    }

    #[test]
    fn fee_limit_has_a_floor_capped_by_the_amount() {
        let w = WithdrawConfig::default();
        // The README's table of maximum fees, row by row (sat → msat).
        for (amount_sat, fee_msat) in [
            (1, 50),
            (100, 2_000),
            (10_000, 100_000),
            (1_000_000, 10_000_000),
        ] {
            assert_eq!(
                w.max_fee_msat(amount_sat * 1_000),
                fee_msat,
                "{amount_sat} sat"
            );
        }
        // Between the two: the floor itself.
        assert_eq!(w.max_fee_msat(50_000), 2_000);
        let no_cap = WithdrawConfig {
            max_fee_floor_ppm: 1_000_000,
            ..WithdrawConfig::default()
        };
        assert_eq!(no_cap.max_fee_msat(1_000), 1_000);
        assert_eq!(w.max_fee_msat(u64::MAX), u64::MAX / 100);
    }

    #[test]
    fn fee_ppm_past_the_whole_amount_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lnurld.toml");
        std::fs::write(&file, "[withdraw]\nmax_fee_floor_ppm = 1000001\n").unwrap();
        let e = Config::load(Some(&file), Vec::new(), &Overrides::default()).unwrap_err();
        assert_eq!(e.key, "withdraw.max_fee_floor_ppm");
    }

    #[test]
    fn shutdown_grace_has_a_default_and_bounds() {
        assert_eq!(load_env(&[]).unwrap().withdraw.shutdown_grace_secs, 10);
        let c = load_env(&[("LNURLD_WITHDRAW__SHUTDOWN_GRACE_SECS", "3600")]).unwrap();
        assert_eq!(c.withdraw.shutdown_grace_secs, 3600);
        for bad in ["0", "3601"] {
            let e = load_env(&[("LNURLD_WITHDRAW__SHUTDOWN_GRACE_SECS", bad)]).unwrap_err();
            assert_eq!(e.key, "withdraw.shutdown_grace_secs", "{bad}");
            assert!(e.problem.contains("between 1 and 3600"), "{e}");
        }
    }

    #[test]
    fn env_overrides_nested_keys_and_numbers() {
        let c = load_env(&[
            ("LNURLD_WITHDRAW__MAX_FEE_PPM", "42"),
            ("LNURLD_PUBLIC_URL", "https://pay.example.com/"),
            ("LNURLD_TEST_POSTGRES_URL", "postgres://ignored"),
        ])
        .unwrap();
        assert_eq!(c.withdraw.max_fee_ppm, 42);
        assert_eq!(c.public_url, "https://pay.example.com");
        assert_eq!(c.address_domain(), "pay.example.com");
    }

    #[test]
    fn retention_and_open_invoice_cap_from_env() {
        let d = load_env(&[]).unwrap();
        assert_eq!(d.retention.delivered_events_days, 30);
        assert_eq!(d.retention.failed_events_days, 90);
        assert_eq!(d.retention.expired_invoices_days, 30);
        assert_eq!(d.retention.finished_withdrawals_days, 0);
        assert_eq!(d.pay.max_open_invoices_per_link, 1_000);
        let c = load_env(&[
            ("LNURLD_RETENTION__DELIVERED_EVENTS_DAYS", "7"),
            ("LNURLD_RETENTION__FINISHED_WITHDRAWALS_DAYS", "365"),
            ("LNURLD_RETENTION__PRUNE_EVERY_SECS", "60"),
            ("LNURLD_PAY__MAX_OPEN_INVOICES_PER_LINK", "0"),
        ])
        .unwrap();
        assert_eq!(c.retention.delivered_events_days, 7);
        assert_eq!(c.retention.finished_withdrawals_days, 365);
        assert_eq!(c.retention.prune_every_secs, 60);
        assert_eq!(c.pay.max_open_invoices_per_link, 0);
        let e = load_env(&[("LNURLD_RETENTION__FAILED_EVENTS_DAYS", "36501")]).unwrap_err();
        assert_eq!(e.key, "retention.failed_events_days");
        let e = load_env(&[("LNURLD_RETENTION__PRUNE_EVERY_SECS", "0")]).unwrap_err();
        assert_eq!(e.key, "retention.prune_every_secs");
        let e = load_env(&[("LNURLD_RETENTION__EXPIRED_INVOICES_DAYS", "-1")]).unwrap_err();
        assert!(e.to_string().contains("-1"), "{e}");
    }

    #[test]
    fn webhooks_section_from_env() {
        let c = load_env(&[
            ("LNURLD_WEBHOOKS__URL", "http://10.1.2.3/hook"),
            ("LNURLD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
            ("LNURLD_WEBHOOKS__TIMEOUT_SECS", "3"),
        ])
        .unwrap();
        assert_eq!(c.webhooks.url.as_deref(), Some("http://10.1.2.3/hook"));
        assert!(c.webhooks.allow_private_targets);
        assert_eq!(c.webhooks.timeout_secs, 3);
        assert_eq!(c.webhooks.max_age_secs, 3 * 86_400);
        let e = load_env(&[("LNURLD_WEBHOOKS__URL", "http://10.1.2.3/hook")]).unwrap_err();
        assert_eq!(e.key, "webhooks.url");
        let e = load_env(&[("LNURLD_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "maybe")]).unwrap_err();
        assert!(e.to_string().contains("maybe"), "{e}");
    }

    #[test]
    fn limits_section_from_env() {
        let c = load_env(&[
            ("LNURLD_LIMITS__ENABLED", "false"),
            ("LNURLD_LIMITS__PER_IP_BURST", "0"),
            (
                "LNURLD_LIMITS__TRUSTED_PROXIES",
                "10.0.0.1, 192.168.0.0/16,fd00::/8",
            ),
        ])
        .unwrap();
        assert!(!c.limits.enabled);
        assert_eq!(c.limits.per_ip_burst, 0);
        assert_eq!(
            c.limits.per_link_burst,
            LimitsConfig::default().per_link_burst
        );
        let nets = c.limits.trusted_proxy_nets().unwrap();
        let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.1/32", "192.168.0.0/16", "fd00::/8"]);
    }

    #[test]
    fn limits_refusals_name_the_key() {
        let e =
            load_env(&[("LNURLD_LIMITS__TRUSTED_PROXIES", "10.0.0.1,proxy.local")]).unwrap_err();
        assert_eq!(e.key, "limits.trusted_proxies");
        assert!(e.problem.contains("\"proxy.local\""), "{e}");
        let e = load_env(&[("LNURLD_LIMITS__TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err();
        assert_eq!(e.key, "limits.trusted_proxies");
        let e = load_env(&[("LNURLD_LIMITS__PER_LINK_PER_MINUTE", "5000000")]).unwrap_err();
        assert_eq!(e.key, "limits.per_link_per_minute");
        assert!(e.problem.contains("use 0 to turn this limit off"), "{e}");
        let e = load_env(&[("LNURLD_LIMITS__MAX_KEYS", "0")]).unwrap_err();
        assert_eq!(e.key, "limits.max_keys");
        let e = load_env(&[("LNURLD_LIMITS__PER_IP_BURST", "-1")]).unwrap_err();
        assert!(
            e.to_string().contains("\"-1\" is not a whole number"),
            "{e}"
        );
        // No such key: not fatal (it may be another program's variable),
        // and named in the start's warning.
        let c = load_env(&[("LNURLD_LIMITS__PER_IP_BURST_MAX", "1")]).unwrap();
        assert!(c.warnings(true)[0].contains("LNURLD_LIMITS__PER_IP_BURST_MAX"));
    }

    #[test]
    fn dev_balance_has_a_default_and_a_ceiling() {
        let c = load_env(&[]).unwrap();
        assert_eq!(c.node.dev_balance_sat, DEFAULT_DEV_BALANCE_SAT);
        let c = load_env(&[("LNURLD_NODE__DEV_BALANCE_SAT", "2100000000000000")]).unwrap();
        assert_eq!(c.node.dev_balance_sat, MAX_DEV_BALANCE_SAT);
        let e = load_env(&[("LNURLD_NODE__DEV_BALANCE_SAT", "2100000000000001")]).unwrap_err();
        assert_eq!(e.key, "node.dev_balance_sat");
        assert!(e.problem.contains("21 million BTC"), "{e}");
        let e = load_env(&[("LNURLD_NODE__DEV_BALANCE_SAT", "lots")]).unwrap_err();
        assert_eq!(e.key, "node.dev_balance_sat");
    }
}
