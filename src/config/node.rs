//! `[node]`: which backend, how to reach it, and its checks.

use super::*;

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

impl Config {
    /// The `[node]` section of an LND backend: endpoint (given its `https://`
    /// scheme when it has none), TLS certificate and macaroon.
    pub(super) fn validate_lnd(&mut self) -> Result<(), ConfigError> {
        require_keys(
            "lnd",
            &[
                (
                    "node.endpoint",
                    self.node.endpoint.as_deref().is_none_or(str::is_empty),
                    "e.g. https://127.0.0.1:10009",
                ),
                (
                    "node.tls_cert",
                    self.node.tls_cert.is_none(),
                    "path of LND's tls.cert",
                ),
                (
                    "node.macaroon",
                    self.node.macaroon.as_deref().is_none_or(str::is_empty),
                    "path of a macaroon file, or its hex",
                ),
            ],
        )?;
        self.https_node_endpoint("LND's gRPC always uses TLS")?;
        self.validate_tls_cert()?;
        self.macaroon_bytes()?;
        Ok(())
    }

    /// `node.tls_cert`: present, readable, and a PEM certificate.
    pub(super) fn validate_tls_cert(&self) -> Result<(), ConfigError> {
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
    pub(super) fn validate_dev_node(&self) -> Result<(), ConfigError> {
        if self.node.dev_balance_sat > MAX_DEV_BALANCE_SAT {
            return Err(ConfigError::new(
                "node.dev_balance_sat",
                format!("must be at most {MAX_DEV_BALANCE_SAT} (21 million BTC)"),
            ));
        }
        Ok(())
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
}

/// Every missing key of a backend at once (one start to learn them all):
/// `(key, absent, what to give)`. One missing key is named with an example.
pub(super) fn require_keys(
    kind: &str,
    keys: &[(&'static str, bool, &str)],
) -> Result<(), ConfigError> {
    let missing: Vec<_> = keys.iter().filter(|(_, absent, _)| *absent).collect();
    match missing[..] {
        [] => Ok(()),
        [(one, _, example)] => Err(ConfigError::new(
            one,
            format!("required when node.kind = \"{kind}\" ({example})"),
        )),
        _ => Err(ConfigError::new(
            "node",
            format!(
                "{} are required when node.kind = \"{kind}\"",
                missing
                    .iter()
                    .map(|(key, _, _)| *key)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

impl Config {
    /// `[node] endpoint` as an https URL, given its scheme when it has
    /// none; `why` says why plaintext is refused.
    pub(super) fn https_node_endpoint(&mut self, why: &str) -> Result<(), ConfigError> {
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
                    format!("{endpoint:?} is not https://host:port ({why})"),
                ))
            }
        }
        self.node.endpoint = Some(with_scheme);
        Ok(())
    }
}
