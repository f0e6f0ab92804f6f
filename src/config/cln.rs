//! The `[node]` section of a CLN backend (config layer, used only by its
//! parent [`super`]): endpoint, the grpc plugin's three PEM files and the
//! TLS name. Every refusal is one line naming the key and, for a file, the
//! file and what is wrong with it.

use std::path::{Path, PathBuf};

use super::node::require_keys;
use super::{Config, ConfigError};

/// The name in the grpc plugin's server certificate.
pub const DEFAULT_TLS_DOMAIN: &str = "cln";

/// The PEM files of a CLN backend, read and checked.
pub struct ClnFiles {
    /// `ca.pem`.
    pub ca_cert: Vec<u8>,
    /// `client.pem`.
    pub client_cert: Vec<u8>,
    /// `client-key.pem`.
    pub client_key: Vec<u8>,
}

/// Reads `path` for `key`; a missing or unreadable file names both.
fn read(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))
}

/// A file that must hold at least one PEM certificate.
fn read_cert(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let pem = read(key, path)?;
    let certs = rustls_pemfile::certs(&mut &pem[..]).collect::<Result<Vec<_>, _>>();
    match certs {
        Ok(c) if !c.is_empty() => Ok(pem),
        Ok(_) => Err(ConfigError::new(
            key,
            format!("{} holds no PEM certificate", path.display()),
        )),
        Err(e) => Err(ConfigError::new(
            key,
            format!("{} is not a readable PEM certificate: {e}", path.display()),
        )),
    }
}

/// A file that must hold a PEM private key.
fn read_key(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let pem = read(key, path)?;
    match rustls_pemfile::private_key(&mut &pem[..]) {
        Ok(Some(_)) => Ok(pem),
        Ok(None) => Err(ConfigError::new(
            key,
            format!("{} holds no PEM private key", path.display()),
        )),
        Err(e) => Err(ConfigError::new(
            key,
            format!("{} is not a readable PEM private key: {e}", path.display()),
        )),
    }
}

impl Config {
    /// The `[node]` section of a CLN backend: every key present, the
    /// endpoint https (given its scheme when it has none), each file
    /// readable and of the right kind, `tls_domain` a DNS name.
    pub(super) fn validate_cln(&mut self) -> Result<(), ConfigError> {
        let n = &self.node;
        require_keys(
            "cln",
            &[
                (
                    "node.endpoint",
                    n.endpoint.as_deref().is_none_or(str::is_empty),
                    "e.g. https://127.0.0.1:9736, CLN's grpc-port",
                ),
                (
                    "node.ca_cert",
                    n.ca_cert.is_none(),
                    "path of the grpc plugin's ca.pem",
                ),
                (
                    "node.client_cert",
                    n.client_cert.is_none(),
                    "path of the grpc plugin's client.pem",
                ),
                (
                    "node.client_key",
                    n.client_key.is_none(),
                    "path of the grpc plugin's client-key.pem",
                ),
            ],
        )?;
        self.https_node_endpoint("CLN's grpc plugin always uses TLS")?;
        let domain = self
            .node
            .tls_domain
            .as_deref()
            .unwrap_or(DEFAULT_TLS_DOMAIN);
        if rustls::pki_types::ServerName::try_from(domain).is_err() {
            return Err(ConfigError::new(
                "node.tls_domain",
                format!(
                    "{domain:?} is not a DNS name (the grpc plugin's certificate names \"cln\")"
                ),
            ));
        }
        self.cln_files()?;
        Ok(())
    }

    /// Reads the three PEM files of a CLN backend.
    pub fn cln_files(&self) -> Result<ClnFiles, ConfigError> {
        let path = |p: &Option<PathBuf>| p.clone().unwrap_or_default();
        Ok(ClnFiles {
            ca_cert: read_cert("node.ca_cert", &path(&self.node.ca_cert))?,
            client_cert: read_cert("node.client_cert", &path(&self.node.client_cert))?,
            client_key: read_key("node.client_key", &path(&self.node.client_key))?,
        })
    }

    /// `node.tls_domain`, or the grpc plugin's `cln`.
    pub fn cln_tls_domain(&self) -> String {
        self.node
            .tls_domain
            .clone()
            .unwrap_or_else(|| DEFAULT_TLS_DOMAIN.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::super::NodeKind;
    use super::*;

    fn cln_config(dir: &Path) -> Config {
        let mut c = Config {
            secret_key: Some("11".repeat(32)),
            ..Config::default()
        };
        c.node.kind = NodeKind::Cln;
        c.node.endpoint = Some("127.0.0.1:9736".into());
        c.node.ca_cert = Some(dir.join("ca.pem"));
        c.node.client_cert = Some(dir.join("client.pem"));
        c.node.client_key = Some(dir.join("client-key.pem"));
        c
    }

    #[test]
    fn missing_keys_and_files_are_named() {
        let dir = std::env::temp_dir().join(format!("lnurld-cln-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = cln_config(&dir);
        c.node.client_key = None;
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "node.client_key");

        let mut c = cln_config(&dir);
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "node.ca_cert");
        assert!(e.problem.contains("ca.pem"), "{e}");

        std::fs::write(dir.join("ca.pem"), "not a pem").unwrap();
        let e = cln_config(&dir).validate().unwrap_err();
        assert!(e.problem.contains("holds no PEM certificate"), "{e}");

        let mut c = cln_config(&dir);
        c.node.endpoint = Some("http://127.0.0.1:9736".into());
        assert_eq!(c.validate().unwrap_err().key, "node.endpoint");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn env_names_follow_the_usual_scheme() {
        let load = |vars: &[(&str, &str)]| {
            let env = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
            Config::load(
                Some(Path::new("/dev/null")),
                env,
                &super::super::Overrides::default(),
            )
        };
        let e = load(&[("LNURLD_NODE__KIND", "cln")]).unwrap_err();
        assert_eq!(e.key, "node");
        for key in [
            "node.endpoint",
            "node.ca_cert",
            "node.client_cert",
            "node.client_key",
        ] {
            assert!(e.problem.contains(key), "{e}");
        }
        let e = load(&[
            ("LNURLD_NODE__KIND", "cln"),
            ("LNURLD_NODE__ENDPOINT", "127.0.0.1:9736"),
            ("LNURLD_NODE__CA_CERT", "/nonexistent/ca.pem"),
            ("LNURLD_NODE__CLIENT_CERT", "/nonexistent/client.pem"),
            ("LNURLD_NODE__CLIENT_KEY", "/nonexistent/client-key.pem"),
            ("LNURLD_NODE__TLS_DOMAIN", "cln"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "node.ca_cert");
        assert_eq!(e.origin.as_deref(), Some("env LNURLD_NODE__CA_CERT"));
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
