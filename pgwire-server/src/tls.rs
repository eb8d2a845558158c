//! TLS from a PEM certificate chain and private key (`--tls-cert`, `--tls-key`): the
//! acceptor pgwire hands a client's SSLRequest to, on rustls with the ring provider.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use pgwire::tokio::TlsAcceptor;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::errors::ServerError;

/// A loaded certificate and key, ready for connections.
#[derive(Clone)]
pub struct Tls {
    /// Accepts a connection's TLS handshake after its SSLRequest (or a direct TLS start).
    pub acceptor: TlsAcceptor,
    /// The certificate file as given: SCRAM-SHA-256-PLUS binds logins to its first
    /// certificate (`tls-server-end-point`), and pgwire computes that from the PEM text.
    pub certificate_pem: Arc<Vec<u8>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the certificate chain (leaf first) and its private key (PKCS#8,
    /// PKCS#1 or SEC1), both PEM.
    pub fn load(certificate: &Path, key: &Path) -> Result<Tls, ServerError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ServerError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let certificate_pem = read(certificate)?;
        let key_pem = read(key)?;
        Tls::from_pem(certificate_pem, &key_pem, certificate, key)
    }

    /// [`Tls::load`] of file contents already read; the paths name the files in errors.
    pub fn from_pem(
        certificate_pem: Vec<u8>,
        key_pem: &[u8],
        certificate_path: &Path,
        key_path: &Path,
    ) -> Result<Tls, ServerError> {
        let tls_error = |path: &Path, message: String| ServerError::Tls {
            path: path.to_path_buf(),
            message,
        };
        let chain = CertificateDer::pem_slice_iter(&certificate_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls_error(certificate_path, format!("not a PEM certificate: {e}")))?;
        if chain.is_empty() {
            return Err(tls_error(
                certificate_path,
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
            tls_error(
                key_path,
                format!("no PEM private key (PKCS#8, PKCS#1 or SEC1) in it: {e}"),
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(certificate_path, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                tls_error(
                    key_path,
                    format!(
                        "cannot serve TLS with this key and the certificate {}: {e}",
                        certificate_path.display()
                    ),
                )
            })?;
        // PostgreSQL 17 clients asking for direct TLS (sslnegotiation=direct) must agree on
        // this ALPN name; pgwire refuses a direct handshake without it.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            certificate_pem: Arc::new(certificate_pem),
        })
    }
}
