//! Settings of the kubelet client and the pod cache, as the agent's config file
//! writes them (durations in humantime form: `10s`, `500ms`, `5m`), with every
//! default in [`KubeletConfig::default`] and the checks in [`KubeletConfig::validate`].

use std::{path::PathBuf, time::Duration};

use serde::{Deserialize, Serialize};

use super::KubeletError;

/// The kubelet's authenticated port.
pub const KUBELET_PORT: u16 = 10250;
/// Where Kubernetes mounts the pod's service account token.
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Where Kubernetes mounts the cluster's CA bundle.
pub const DEFAULT_CA_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// How to reach the kubelet on this node and how often to ask it for its pods.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubeletConfig {
    /// The kubelet's base URL; the client asks `<url>/pods` (a URL already ending in
    /// `/pods` is used as it is). Default `https://<node_name>:10250`. A plain
    /// `http://` URL is for a read-only port: the token is never sent over it.
    pub url: Option<String>,
    /// This node's name (the downward API's `spec.nodeName`); needed when `url` is unset.
    pub node_name: String,
    /// The bearer token, re-read on every fetch because projected tokens rotate.
    /// Default: the service account's token.
    pub token_file: Option<PathBuf>,
    /// PEM CA certificates that sign the kubelet's serving certificate. Default: the
    /// service account's `ca.crt`.
    pub ca_file: Option<PathBuf>,
    /// Accept any serving certificate (kind and other clusters whose kubelets use
    /// self-signed certificates). Off by default; a warning is logged when on.
    pub insecure_skip_verify: bool,
    /// How often the pods are fetched without being asked.
    #[serde(with = "humantime_duration")]
    pub refresh_interval: Duration,
    /// The shortest time between two fetches asked for by cache misses, so that a
    /// flood of unknown containers cannot flood the kubelet.
    #[serde(with = "humantime_duration")]
    pub min_fetch_interval: Duration,
    /// The longest wait between retries while fetches keep failing. After `n`
    /// failures in a row the next fetch waits `min_fetch_interval` × 2^n, up to this.
    #[serde(with = "humantime_duration")]
    pub max_backoff: Duration,
    /// Limit on the TCP connection and TLS handshake.
    #[serde(with = "humantime_duration")]
    pub connect_timeout: Duration,
    /// Limit on a whole fetch, from connecting to the last byte of the body.
    #[serde(with = "humantime_duration")]
    pub request_timeout: Duration,
    /// How long a pod that is gone from `/pods` stays in the cache, so that the
    /// late events of short-lived pods are still attributed.
    #[serde(with = "humantime_duration")]
    pub keep_deleted: Duration,
    /// The largest answer read; a larger one is refused.
    pub max_body_bytes: u64,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        Self {
            url: None,
            node_name: String::new(),
            token_file: None,
            ca_file: None,
            insecure_skip_verify: false,
            refresh_interval: Duration::from_secs(10),
            min_fetch_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            keep_deleted: Duration::from_secs(5 * 60),
            // A full node (110 pods) answers a few MiB; 64 MiB leaves room while
            // bounding what a hostile answer can make us hold.
            max_body_bytes: 64 << 20,
        }
    }
}

impl KubeletConfig {
    /// The configured URL, or the default one for `node_name`.
    pub fn base_url(&self) -> Result<String, KubeletError> {
        match (&self.url, self.node_name.trim()) {
            (Some(url), _) => Ok(url.clone()),
            (None, "") => Err(KubeletError::Config {
                field: "node_name",
                reason: "needed when `url` is not set".into(),
            }),
            (None, node) => Ok(format!("https://{node}:{KUBELET_PORT}")),
        }
    }

    /// The token file, configured or default.
    pub fn token_path(&self) -> PathBuf {
        self.token_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TOKEN_FILE))
    }

    /// The CA file, configured or default.
    pub fn ca_path(&self) -> PathBuf {
        self.ca_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CA_FILE))
    }

    /// Checks the settings that could make the cache spin or never answer.
    pub fn validate(&self) -> Result<(), KubeletError> {
        let positive = [
            ("refresh_interval", self.refresh_interval),
            ("min_fetch_interval", self.min_fetch_interval),
            ("max_backoff", self.max_backoff),
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ];
        for (field, value) in positive {
            if value.is_zero() {
                return Err(KubeletError::Config {
                    field,
                    reason: "must be more than zero".into(),
                });
            }
        }
        if self.max_body_bytes == 0 {
            return Err(KubeletError::Config {
                field: "max_body_bytes",
                reason: "must be more than zero".into(),
            });
        }
        self.base_url().map(drop)
    }
}

/// Durations as humantime text (`10s`, `1m 30s`) in the config file.
mod humantime_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map_err(|err| D::Error::custom(format!("invalid duration {text:?}: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_gives_the_defaults() {
        let config: KubeletConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, KubeletConfig::default());
        assert_eq!(config.refresh_interval, Duration::from_secs(10));
        assert_eq!(config.keep_deleted, Duration::from_secs(300));
        assert!(!config.insecure_skip_verify);
        assert_eq!(config.token_path(), PathBuf::from(DEFAULT_TOKEN_FILE));
        assert_eq!(config.ca_path(), PathBuf::from(DEFAULT_CA_FILE));
    }

    #[test]
    fn durations_are_humantime_text_and_round_trip() {
        let config: KubeletConfig = serde_json::from_str(
            r#"{"node_name": "n1", "refresh_interval": "500ms", "keep_deleted": "2m 30s"}"#,
        )
        .unwrap();
        assert_eq!(config.refresh_interval, Duration::from_millis(500));
        assert_eq!(config.keep_deleted, Duration::from_secs(150));
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<KubeletConfig>(&text).unwrap(),
            config
        );
    }

    #[test]
    fn unknown_fields_and_bad_durations_are_refused() {
        let err = serde_json::from_str::<KubeletConfig>(r#"{"refresh": "1s"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err =
            serde_json::from_str::<KubeletConfig>(r#"{"refresh_interval": "soon"}"#).unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }

    #[test]
    fn the_default_url_needs_the_node_name() {
        let mut config = KubeletConfig::default();
        assert!(matches!(
            config.validate(),
            Err(KubeletError::Config {
                field: "node_name",
                ..
            })
        ));
        config.node_name = "worker-1".into();
        assert_eq!(config.base_url().unwrap(), "https://worker-1:10250");
        config.validate().unwrap();
        config.url = Some("http://127.0.0.1:10255".into());
        assert_eq!(config.base_url().unwrap(), "http://127.0.0.1:10255");
    }

    #[test]
    fn zero_timeouts_are_refused() {
        let config = KubeletConfig {
            node_name: "n".into(),
            request_timeout: Duration::ZERO,
            ..KubeletConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(KubeletError::Config {
                field: "request_timeout",
                ..
            })
        ));
    }
}
