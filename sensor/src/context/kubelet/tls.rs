//! TLS to the kubelet with rustls and its `ring` provider: trust the configured CA
//! bundle, or, when asked to skip verification, accept any certificate while still
//! checking the handshake's signatures (so the connection is at least encrypted
//! to whoever holds the certificate's key).

use std::{path::Path, sync::Arc};

use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::WebPkiSupportedAlgorithms,
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_rustls::TlsConnector;

use super::KubeletError;

/// A TLS connector trusting the PEM certificates of `ca_file`, or anything when
/// `insecure` is set.
pub(super) fn connector(ca_file: &Path, insecure: bool) -> Result<TlsConnector, KubeletError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|source| KubeletError::TlsConfig { source })?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth()
    };
    // The kubelet speaks HTTP/2 as well; say HTTP/1.1, which is all we speak.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The trust anchors of a PEM bundle; at least one must be usable.
fn roots(ca_file: &Path) -> Result<RootCertStore, KubeletError> {
    let pem = std::fs::read(ca_file).map_err(|source| KubeletError::CaRead {
        path: ca_file.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| KubeletError::CaPem {
            path: ca_file.to_owned(),
            source,
        })?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(KubeletError::CaEmpty {
            path: ca_file.to_owned(),
        });
    }
    Ok(roots)
}

/// The name a server certificate must carry: a DNS name or an IP address.
pub(super) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    // `Uri::host` keeps an IPv6 address's brackets.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|err| err.to_string())
}

/// A verifier that accepts any certificate chain but checks the handshake
/// signatures, for `insecure_skip_verify`.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
    fn missing_and_non_pem_ca_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("kubelet-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            connector(&dir.join("missing.crt"), false),
            Err(KubeletError::CaRead { .. })
        ));
        let junk = dir.join("junk.crt");
        std::fs::write(&junk, "not a certificate").unwrap();
        assert!(matches!(
            connector(&junk, false),
            Err(KubeletError::CaEmpty { .. })
        ));
        let bad = dir.join("bad.crt");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(
            connector(&bad, false),
            Err(KubeletError::CaPem { .. } | KubeletError::CaEmpty { .. })
        ));
        // Skipping verification needs no CA at all.
        assert!(connector(&dir.join("missing.crt"), true).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn server_names_take_hosts_and_addresses() {
        assert!(server_name("node-1").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("bad name").is_err());
    }
}
