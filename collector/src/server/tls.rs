//! Mutual TLS: the server's certificate and key, and the CA every client's
//! certificate must chain to. There is no plaintext mode and no optional client
//! authentication: a peer without a valid certificate fails the handshake, so
//! it reaches no service at all, the health service included.

use std::{path::Path, time::Duration};

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::ServeError;

/// The PEM files of the server's TLS set-up, read once at start.
#[derive(Clone)]
pub struct TlsPem {
    /// The server's certificate chain.
    pub cert: Vec<u8>,
    /// Its private key.
    pub key: Vec<u8>,
    /// The CA that signs the sensors' (and analysts') client certificates.
    pub client_ca: Vec<u8>,
}

impl std::fmt::Debug for TlsPem {
    // The key stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPem").finish_non_exhaustive()
    }
}

impl TlsPem {
    /// Reads the three files.
    pub fn from_files(cert: &Path, key: &Path, client_ca: &Path) -> Result<Self, ServeError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ServeError::ReadTls {
                path: path.to_owned(),
                source,
            })
        };
        Ok(Self {
            cert: read(cert)?,
            key: read(key)?,
            client_ca: read(client_ca)?,
        })
    }

    /// tonic's TLS configuration: client certificates required.
    pub(super) fn server_config(&self, handshake_timeout: Duration) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.client_ca))
            .client_auth_optional(false)
            // A peer that opens TCP and never finishes the handshake must not
            // hold a connection forever.
            .timeout(handshake_timeout)
    }
}
