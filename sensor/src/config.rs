//! The agent's config file: YAML (a ConfigMap in a cluster), every key optional,
//! unknown keys refused, so a typo is an error at start rather than a setting
//! silently ignored. Command-line flags and their environment variables win over
//! the file.
//!
//! ```yaml
//! context:
//!   proc_root: /host/proc
//!   pod_wait: 2500ms
//!   kubelet:
//!     node_name: node-1
//!     url: https://node-1:10250
//!     ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
//!     refresh_interval: 10s
//! ```

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::context::kubelet::KubeletConfig;

/// The config file's largest accepted size: a config is a few kilobytes.
const MAX_BYTES: u64 = 1 << 20;

/// The whole config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Where the process, container and pod context comes from.
    pub context: ContextConfig,
}

/// The `context` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContextConfig {
    /// The proc filesystem to read processes from (default `/proc`).
    pub proc_root: Option<PathBuf>,
    /// How long a new container's events wait for its pod (default 2.5 s).
    #[serde(with = "humantime_opt")]
    pub pod_wait: Option<Duration>,
    /// The kubelet to ask for this node's pods; absent: no pod metadata (unless
    /// flags name a kubelet).
    pub kubelet: Option<KubeletConfig>,
}

/// The config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is larger than any config.
    #[error("the config file {path} is larger than {MAX_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// It is not valid YAML of the expected shape.
    #[error("bad config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
}

impl AgentConfig {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let read = |source| ConfigError::Read {
            path: path.into(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_BYTES {
            return Err(ConfigError::TooLarge { path: path.into() });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.into(),
            message,
        })
    }

    /// Parses config text; the error is the parser's message.
    pub fn parse(text: &str) -> Result<Self, String> {
        // An empty file (or one of comments only) is the default config.
        if text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(Self::default());
        }
        let config: Self = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        if let Some(kubelet) = &config.context.kubelet {
            kubelet.validate().map_err(|e| e.to_string())?;
        }
        Ok(config)
    }
}

/// An optional duration written as humantime text (`2500ms`, `10s`).
mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserialize as _, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_config_is_read() {
        let config = AgentConfig::parse(
            "context:\n  proc_root: /host/proc\n  pod_wait: 500ms\n  kubelet:\n    node_name: n1\n    insecure_skip_verify: true\n    refresh_interval: 3s\n",
        )
        .expect("a valid config");
        let context = config.context;
        assert_eq!(context.proc_root, Some(PathBuf::from("/host/proc")));
        assert_eq!(context.pod_wait, Some(Duration::from_millis(500)));
        let kubelet = context.kubelet.expect("a kubelet section");
        assert_eq!(kubelet.node_name, "n1");
        assert!(kubelet.insecure_skip_verify);
        assert_eq!(kubelet.refresh_interval, Duration::from_secs(3));
        assert_eq!(kubelet.keep_deleted, KubeletConfig::default().keep_deleted);
    }

    #[test]
    fn empty_files_are_the_default() {
        for text in ["", "\n\n", "# nothing here\n"] {
            let config = AgentConfig::parse(text).expect("the default");
            assert!(config.context.kubelet.is_none());
        }
    }

    #[test]
    fn bad_configs_say_where() {
        for (text, expect) in [
            ("context:\n  proc_rot: /proc\n", "proc_rot"),
            ("context:\n  pod_wait: soon\n", "soon"),
            ("context: [1, 2\n", "line"),
            (
                "context:\n  kubelet:\n    refresh_interval: 0s\n",
                "refresh_interval",
            ),
            ("contexts: {}\n", "contexts"),
        ] {
            let err = AgentConfig::parse(text).expect_err(text);
            assert!(err.contains(expect), "{text:?}: {err}");
        }
    }

    #[test]
    fn hostile_files_are_errors_not_panics() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let anchors = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n";
        for text in [
            deep.as_str(),
            anchors,
            "\u{0}\u{ffff}",
            "context: !!binary AAAA\n",
        ] {
            assert!(
                AgentConfig::parse(text).is_err(),
                "{:?}",
                &text[..text.len().min(40)]
            );
        }
        let dir = std::env::temp_dir().join(format!("sensor-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_BYTES + 1) as usize]).expect("writing");
        assert!(matches!(
            AgentConfig::load(&big),
            Err(ConfigError::TooLarge { .. })
        ));
        assert!(matches!(
            AgentConfig::load(&dir.join("missing.yaml")),
            Err(ConfigError::Read { .. })
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
