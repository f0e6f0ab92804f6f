//! Node layer, `cln` backend: mutual TLS with the grpc plugin's CA.
//!
//! May import `node` (its error type) and nothing else of the crate; sees no
//! generated gRPC types.
//!
//! The plugin makes a P-256 CA (`ca.pem`), a server certificate it signs
//! with SANs `cln` and `localhost`, and a client certificate
//! (`client.pem`, `client-key.pem`); it accepts any client certificate
//! signed by its CA. The server is checked with webpki against `ca.pem` by
//! [`CaVerifier`], which also remembers whether a server was accepted: a
//! refused client certificate only shows later, as a transport error.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use tonic::transport::Identity;

use super::ClnConfig;
use crate::node::NodeError;

/// Text of the error when the server's certificate is not signed by the
/// configured CA; `map_status` finds it in the error chain.
pub(super) const NOT_SIGNED_BY_CA: &str = "the node's server certificate is not signed by ca_cert";

/// Adds `host:port` a scheme and refuses plaintext.
pub(super) fn normalize_endpoint(endpoint: &str) -> Result<String, NodeError> {
    crate::node::https_endpoint(
        endpoint,
        "CLN",
        "plaintext http:// endpoint: CLN's grpc plugin always uses TLS, use https://",
    )
}

/// Whether a transport error's text says the TCP connection itself failed
/// (so no TLS certificate was looked at).
pub(super) fn is_connect_failure(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "tcp connect error",
        "connection refused",
        "dns error",
        "no route to host",
        "network is unreachable",
        "timed out",
        "no answer from",
    ]
    .iter()
    .any(|n| lower.contains(n))
}

/// The certificates of a PEM; at least one. `what` names the file.
fn certs_of(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, NodeError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NodeError::Tls(format!("{what}: cannot parse PEM: {e}")))?;
    if certs.is_empty() {
        return Err(NodeError::Tls(format!(
            "{what}: holds no PEM CERTIFICATE block"
        )));
    }
    Ok(certs)
}

/// The client identity (certificate and key), both checked to parse.
pub(super) fn client_identity(
    cert_pem: &[u8],
    key_pem: &[u8],
    cfg: &ClnConfig,
) -> Result<Identity, NodeError> {
    certs_of(cert_pem, &format!("client_cert {}", cfg.client_cert_name))?;
    match rustls_pemfile::private_key(&mut &key_pem[..]) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(NodeError::Tls(
                "client_key: holds no PEM private key".into(),
            ))
        }
        Err(e) => return Err(NodeError::Tls(format!("client_key: cannot parse PEM: {e}"))),
    }
    Ok(Identity::from_pem(cert_pem, key_pem))
}

/// The error the verifier reports for a server outside the CA.
#[derive(Debug)]
struct NotSignedByCa(String);

impl fmt::Display for NotSignedByCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NOT_SIGNED_BY_CA}: {}", self.0)
    }
}

impl std::error::Error for NotSignedByCa {}

/// webpki's verifier with the CA as its only root, which remembers that a
/// server certificate passed.
#[derive(Debug)]
pub(super) struct CaVerifier {
    inner: Arc<WebPkiServerVerifier>,
    accepted: AtomicBool,
}

impl CaVerifier {
    pub(super) fn new(ca_pem: &[u8], name: &str) -> Result<CaVerifier, NodeError> {
        let what = format!("ca_cert {name}");
        let mut roots = RootCertStore::empty();
        for cert in certs_of(ca_pem, &what)? {
            roots
                .add(cert)
                .map_err(|e| NodeError::Tls(format!("{what}: not a usable CA certificate: {e}")))?;
        }
        let inner = WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| NodeError::Tls(format!("{what}: {e}")))?;
        Ok(CaVerifier {
            inner,
            accepted: AtomicBool::new(false),
        })
    }

    /// Whether some handshake accepted the server's certificate.
    pub(super) fn server_accepted(&self) -> bool {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => {
                self.accepted.store(true, Ordering::SeqCst);
                Ok(v)
            }
            Err(e) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(NotSignedByCa(e.to_string()))),
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:9736").unwrap(),
            "https://127.0.0.1:9736"
        );
        assert!(matches!(
            normalize_endpoint("http://cln:9736"),
            Err(NodeError::Unsupported(_))
        ));
    }
}
