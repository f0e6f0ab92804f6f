//! Node layer, `lnd` backend: TLS certificate pinning and endpoint checks.
//!
//! May import `node` (its error type) and nothing else of the crate; sees no
//! generated gRPC types.
//!
//! lnd's `tls.cert` is self-signed with CA=true, which webpki refuses as an
//! end-entity cert, so the configured certificate is *pinned* by a custom
//! rustls verifier (byte-for-byte DER equality) instead of trusted.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};

use crate::node::NodeError;

/// Text of the pin-mismatch error; `map_status` finds it in the error chain.
pub(super) const PIN_MISMATCH: &str = "server certificate does not match the pinned tls.cert";

/// Adds `host:port` a scheme and refuses plaintext.
pub(super) fn normalize_endpoint(endpoint: &str) -> Result<String, NodeError> {
    crate::node::https_endpoint(
        endpoint,
        "lnd",
        "plaintext http:// endpoint: lnd's gRPC port always uses TLS, use https://",
    )
}

/// The certificates of a PEM file; at least one.
pub(super) fn parse_pem_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, NodeError> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NodeError::Certificate(format!("cannot parse tls_cert PEM: {e}")))?;
    if certs.is_empty() {
        return Err(NodeError::Certificate(
            "tls_cert holds no PEM CERTIFICATE block".into(),
        ));
    }
    Ok(certs)
}

/// The error the verifier reports when the server shows another certificate.
#[derive(Debug)]
struct CertificatePinMismatch;

impl fmt::Display for CertificatePinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PIN_MISMATCH)
    }
}

impl std::error::Error for CertificatePinMismatch {}

/// Accepts exactly the configured certificate(s), whatever their CA flag,
/// names or validity dates (lnd's cert names `localhost` and is often
/// reached by IP). The handshake signature is still verified against the
/// pinned certificate's key, which is what proves the server holds it.
#[derive(Debug)]
pub(super) struct PinnedCertVerifier {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertVerifier {
    pub(super) fn new(pinned: Vec<CertificateDer<'static>>) -> PinnedCertVerifier {
        PinnedCertVerifier {
            pinned,
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for PinnedCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(CertificatePinMismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:10009").unwrap(),
            "https://127.0.0.1:10009"
        );
        assert_eq!(
            normalize_endpoint("https://lnd:10009/").unwrap(),
            "https://lnd:10009"
        );
        assert!(matches!(
            normalize_endpoint("http://lnd:10009"),
            Err(NodeError::Unsupported(_))
        ));
    }
}
