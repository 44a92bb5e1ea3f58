//! What can go wrong between the agent and the kubelet, one variant per cause, each
//! mapped to the [`FailureReason`] it is counted and logged under.

use std::{io, path::PathBuf, time::Duration};

use super::stats::FailureReason;

/// An error of the kubelet client: a bad setting, or a fetch of `/pods` that failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// A setting is out of range or missing.
    #[error("invalid kubelet setting `{field}`: {reason}")]
    Config {
        /// The setting's name in the config file.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The kubelet URL cannot be used.
    #[error("invalid kubelet URL {url:?}: {reason}")]
    Url {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA file cannot be read.
    #[error("cannot read the kubelet CA file {}", path.display())]
    CaRead {
        /// The CA file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: io::Error,
    },
    /// The CA file is not PEM certificates.
    #[error("the kubelet CA file {} is not PEM certificates", path.display())]
    CaPem {
        /// The CA file.
        path: PathBuf,
        /// What the PEM reader found.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The CA file holds no certificate that rustls accepts as a trust anchor.
    #[error("the kubelet CA file {} holds no usable certificate", path.display())]
    CaEmpty {
        /// The CA file.
        path: PathBuf,
    },
    /// rustls refused the TLS settings.
    #[error("cannot set up TLS for the kubelet")]
    TlsConfig {
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// The bearer token file cannot be read.
    #[error("cannot read the kubelet token file {}", path.display())]
    TokenRead {
        /// The token file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: io::Error,
    },
    /// The bearer token file is empty or holds characters a header cannot carry.
    #[error("the kubelet token file {} holds no usable token", path.display())]
    TokenInvalid {
        /// The token file.
        path: PathBuf,
    },
    /// No TCP connection to the kubelet.
    #[error("cannot connect to the kubelet at {addr}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why the connection failed.
        #[source]
        source: io::Error,
    },
    /// The TCP connection and TLS handshake took longer than the connect timeout.
    #[error("connecting to the kubelet at {addr} took more than {timeout:?}")]
    ConnectTimeout {
        /// `host:port`.
        addr: String,
        /// The connect timeout.
        timeout: Duration,
    },
    /// The TLS handshake failed: an untrusted or mismatched certificate, or no TLS.
    #[error("TLS handshake with the kubelet at {host} failed")]
    Tls {
        /// The name the certificate was checked against.
        host: String,
        /// What rustls said, wrapped in an I/O error by tokio-rustls.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed: the connection closed or the answer was not HTTP.
    #[error("HTTP exchange with the kubelet failed")]
    Http {
        /// What hyper said.
        #[source]
        source: hyper::Error,
    },
    /// The whole request took longer than the request timeout.
    #[error("the kubelet did not answer within {timeout:?}")]
    Timeout {
        /// The request timeout.
        timeout: Duration,
    },
    /// The kubelet refused the token (401) or its authorization (403).
    #[error("the kubelet refused access with HTTP {status}: {body}")]
    Auth {
        /// 401 or 403.
        status: u16,
        /// The start of the answer's body, which names the missing permission.
        body: String,
    },
    /// The kubelet answered with an HTTP status other than 2xx.
    #[error("the kubelet answered HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The answer is larger than the body size limit.
    #[error("the kubelet's answer is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Reading the answer's body failed.
    #[error("reading the kubelet's answer failed")]
    Body {
        /// What hyper said.
        #[source]
        source: hyper::Error,
    },
    /// The answer is not JSON of a pod list.
    #[error("the kubelet's answer is not a pod list")]
    Parse {
        /// Where and why parsing stopped.
        #[source]
        source: serde_json::Error,
    },
    /// The answer is JSON, but of another kind than `v1` `PodList`.
    #[error("the kubelet answered kind {kind:?} of apiVersion {api_version:?}, not a v1 PodList")]
    WrongKind {
        /// The `kind` it answered (shortened).
        kind: String,
        /// The `apiVersion` it answered (shortened).
        api_version: String,
    },
    /// The task that parses the answer ended abnormally.
    #[error("parsing the kubelet's answer did not finish")]
    Worker {
        /// What tokio said about the task.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl KubeletError {
    /// The reason this error is counted and logged under.
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Config { .. }
            | Self::Url { .. }
            | Self::CaRead { .. }
            | Self::CaPem { .. }
            | Self::CaEmpty { .. }
            | Self::TlsConfig { .. } => FailureReason::Config,
            Self::TokenRead { .. } | Self::TokenInvalid { .. } => FailureReason::Token,
            Self::Connect { .. } | Self::ConnectTimeout { .. } => FailureReason::Connect,
            Self::Tls { .. } => FailureReason::Tls,
            Self::Http { .. } | Self::Body { .. } => FailureReason::Protocol,
            Self::Timeout { .. } => FailureReason::Timeout,
            Self::Auth { .. } => FailureReason::Auth,
            Self::Status { .. } => FailureReason::HttpStatus,
            Self::BodyTooLarge { .. } => FailureReason::BodyTooLarge,
            Self::Parse { .. } | Self::WrongKind { .. } | Self::Worker { .. } => {
                FailureReason::Parse
            }
        }
    }

    /// The error with its chain of causes on one line, for logs and `last_error`.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// At most `max` characters of `text`, marked when cut: hostile answers can carry
/// megabytes where a log line expects a word.
pub(super) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}...", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "abc...");
        assert_eq!(shorten("ééé", 2), "éé...");
        assert_eq!(shorten("", 0), "");
    }

    #[test]
    fn chain_names_every_cause() {
        let err = KubeletError::Connect {
            addr: "node:10250".into(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(
            err.chain(),
            "cannot connect to the kubelet at node:10250: refused"
        );
        assert_eq!(err.reason(), FailureReason::Connect);
    }
}
