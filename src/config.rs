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
use env::{de_bool, de_list, de_opt_u32, de_u32, de_u64, env_is_not_a_key, set_path};
use sources::{Origin, Origins};

mod cln;
mod env;
mod limits;
mod node;
mod nostr;
mod offline;
mod pay;
mod retention;
mod sources;
#[cfg(test)]
mod tests;
mod webhooks;
mod withdraw;

pub use limits::LimitsConfig;
pub use node::{NodeConfig, NodeKind, DEFAULT_DEV_BALANCE_SAT, MAX_DEV_BALANCE_SAT};
pub use nostr::NostrConfig;
pub use offline::OfflineConfig;
pub use pay::{AddressConfig, PayConfig};
pub use retention::RetentionConfig;
pub use webhooks::WebhooksConfig;
pub use withdraw::WithdrawConfig;

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
    /// Size of the database connection pool; unset: [`Config::pool_size`]
    /// picks one for the backend.
    #[serde(deserialize_with = "de_opt_u32")]
    pub database_max_connections: Option<u32>,
    /// Server key (64 hex chars) that encrypts link secrets; shared by all
    /// instances. Defaults to a key file (see `key_file`).
    pub secret_key: Option<String>,
    /// File holding the server key; created on first start. Default:
    /// `lnurld.key` beside the SQLite file, or in the working directory.
    pub key_file: Option<PathBuf>,
    /// Seconds a link row behind the LNURL first steps is kept in memory
    /// (0: always read the database). Changes made by this process are
    /// seen at once; changes by another instance or a CLI command within
    /// this time.
    #[serde(deserialize_with = "de_u32")]
    pub first_step_cache_secs: u32,
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
    /// NIP-57 zaps.
    pub nostr: NostrConfig,
    /// Offline receive for phone wallets (off by default).
    pub offline: OfflineConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: "http://127.0.0.1:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url_set: false,
            ignored_env: Vec::new(),
            database_url: "sqlite://lnurld.db".into(),
            database_max_connections: None,
            secret_key: None,
            key_file: None,
            first_step_cache_secs: 2,
            log_format: LogFormat::Text,
            node: NodeConfig::default(),
            withdraw: WithdrawConfig::default(),
            pay: PayConfig::default(),
            address: AddressConfig::default(),
            webhooks: WebhooksConfig::default(),
            limits: LimitsConfig::default(),
            retention: RetentionConfig::default(),
            nostr: NostrConfig::default(),
            offline: OfflineConfig::default(),
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
            .field("first_step_cache_secs", &self.first_step_cache_secs)
            .field("log_format", &self.log_format)
            .field("node", &self.node)
            .field("withdraw", &self.withdraw)
            .field("pay", &self.pay)
            .field("address", &self.address)
            .field("webhooks", &self.webhooks)
            .field("limits", &self.limits)
            .field("retention", &self.retention)
            .field("nostr", &self.nostr)
            .field("offline", &self.offline)
            .finish()
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

/// Pool size on SQLite unless configured. The pool only reads there (the
/// writer has a connection of its own), reads are short, and each pooled
/// connection costs a thread, a page cache and its prepared statements:
/// 10 of them held ~5 MiB more at peak in the load benchmark than 4, for
/// no measurable gain on 2 cores (issue 12).
pub const SQLITE_POOL_SIZE: u32 = 4;

/// Pool size on PostgreSQL unless configured: transactions run on pooled
/// connections there, and wait on one another's row locks.
pub const POSTGRES_POOL_SIZE: u32 = 10;

impl Config {
    /// `database_max_connections`, or the backend's default.
    pub fn pool_size(&self) -> u32 {
        self.database_max_connections
            .unwrap_or(match DbUrl::parse(&self.database_url) {
                Ok(DbUrl::Postgres(_)) => POSTGRES_POOL_SIZE,
                _ => SQLITE_POOL_SIZE,
            })
    }

    /// `first_step_cache_secs` as a duration.
    pub fn first_step_cache(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.first_step_cache_secs))
    }

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
        self.validate_retention()?;
        self.validate_nostr()?;
        self.validate_offline()
    }

    /// `database_url`, `database_max_connections` and `secret_key`.
    fn validate_storage(&self) -> Result<(), ConfigError> {
        DbUrl::parse(&self.database_url)
            .map_err(|e| ConfigError::new("database_url", e.to_string()))?;
        if self.database_max_connections == Some(0) {
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
        if self.offline.enabled && self.offline.allow_insecure_webhooks {
            out.push(
                "[offline] allow_insecure_webhooks is on: phone push webhooks may be plain http, so push tokens travel in clear. This is for development and tests only; NEVER enable it in production".to_owned(),
            );
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
}
