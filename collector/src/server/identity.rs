//! Who a client is: the node name in its verified client certificate. The
//! first DNS SubjectAltName wins, else the subject's common name; the kubelet's
//! `system:node:` prefix is dropped so a node's kubelet-style certificate names
//! the node as the sensor reports it.

use std::sync::Arc;

use tonic::{Status, transport::CertificateDer};
use x509_parser::{certificate::X509Certificate, extensions::GeneralName, prelude::FromDer as _};

const KUBELET_PREFIX: &str = "system:node:";

/// The node name of the peer whose verified chain is `certs` (the end-entity
/// certificate first, as rustls gives it).
pub(super) fn node_name(
    certs: Option<Arc<Vec<CertificateDer<'static>>>>,
) -> Result<String, Status> {
    // The TLS layer already refused peers without a valid certificate; no
    // certificate here means a transport without TLS, which serve never builds.
    let certs = certs.ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    name_of(leaf.as_ref()).ok_or_else(|| {
        Status::permission_denied("the client certificate names no node (no DNS SAN, no CN)")
    })
}

/// The node a DER certificate names, if any.
pub fn name_of(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|ext| {
            ext.value.general_names.iter().find_map(|n| match n {
                GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
        });
    let name = san.or_else(|| {
        cert.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned)
    })?;
    let name = name
        .strip_prefix(KUBELET_PREFIX)
        .unwrap_or(&name)
        .to_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    use super::name_of;

    fn cert(cn: Option<&str>, dns: Option<&str>) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        if let Some(dns) = dns {
            params.subject_alt_names = vec![SanType::DnsName(dns.try_into().expect("ia5"))];
        }
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("signs").der().to_vec()
    }

    #[test]
    fn the_dns_san_wins_then_the_cn_without_the_kubelet_prefix() {
        assert_eq!(
            name_of(&cert(Some("other"), Some("node-a"))).as_deref(),
            Some("node-a")
        );
        assert_eq!(
            name_of(&cert(Some("system:node:node-b"), None)).as_deref(),
            Some("node-b")
        );
        assert_eq!(
            name_of(&cert(Some("node-c"), None)).as_deref(),
            Some("node-c")
        );
        assert_eq!(name_of(&cert(None, None)), None);
        assert_eq!(name_of(&cert(Some("system:node:"), None)), None);
        assert_eq!(name_of(b"not a certificate"), None);
    }
}
