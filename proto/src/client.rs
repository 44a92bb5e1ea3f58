//! How a sensor and `sensorctl` reach the collector: an HTTPS URL and the TLS
//! files of mutual authentication (the client's certificate and key, and the CA
//! that signed the collector's certificate). One place, so both clients refuse
//! the same bad input with the same words.

use std::{fs, path::PathBuf, time::Duration};

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The TLS files of a client.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// The client's certificate (PEM); its name is the client's identity.
    pub cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// The CA that signed the collector's certificate (PEM).
    pub ca: Option<PathBuf>,
}

/// Why the collector's endpoint cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The URL is not `https://HOST:PORT`.
    #[error("bad collector URL `{url}`: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// A TLS file is missing from the options.
    #[error("the collector needs {0} (mutual TLS is always on)")]
    Missing(&'static str),
    /// A TLS file cannot be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which file.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// tonic refused the TLS settings.
    #[error("bad TLS settings: {0}")]
    Tls(#[from] tonic::transport::Error),
}

fn read(what: &'static str, path: Option<&PathBuf>) -> Result<Vec<u8>, EndpointError> {
    let path = path.ok_or(EndpointError::Missing(what))?;
    let bytes = fs::read(path).map_err(|source| EndpointError::Read {
        what,
        path: path.clone(),
        source,
    })?;
    if !bytes.windows(10).any(|w| w == b"-----BEGIN") {
        return Err(EndpointError::Read {
            what,
            path: path.clone(),
            source: std::io::Error::other("not a PEM file"),
        });
    }
    Ok(bytes)
}

/// The collector's endpoint: mutual TLS with `tls`, HTTP/2 keep-alives so a dead
/// peer is noticed within a minute, and bounded connect time.
pub fn endpoint(url: &str, tls: &TlsFiles) -> Result<Endpoint, EndpointError> {
    let bad = |reason: &str| EndpointError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.len() > 2048 || url.chars().any(char::is_control) {
        return Err(bad("too long or holds control characters"));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(bad("it must begin with https:// (TLS is always on)"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let cert = read("a client certificate (--tls-cert)", tls.cert.as_ref())?;
    let key = read("the client certificate's key (--tls-key)", tls.key.as_ref())?;
    let ca = read("the collector's CA (--tls-ca)", tls.ca.as_ref())?;
    let config = ClientTlsConfig::new()
        .domain_name(host)
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(cert, key));
    let endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| bad(&e.to_string()))?
        .tls_config(config)?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_files_are_checked() {
        let none = TlsFiles::default();
        for url in [
            "http://h:1",
            "h:1",
            "https://",
            "https://:443",
            "https://a\nb:1",
        ] {
            assert!(
                matches!(endpoint(url, &none), Err(EndpointError::BadUrl { .. })),
                "{url}"
            );
        }
        assert!(matches!(
            endpoint("https://collector:8443", &none),
            Err(EndpointError::Missing(_))
        ));
        let dir = std::env::temp_dir().join(format!("sensor-proto-tls-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        fs::write(&junk, b"not pem").unwrap();
        let files = TlsFiles {
            cert: Some(junk.clone()),
            key: Some(junk.clone()),
            ca: Some(dir.join("missing.pem")),
        };
        let err = endpoint("https://[::1]:8443", &files)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a PEM file"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
