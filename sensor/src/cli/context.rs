//! Flags that say where the process, container and pod context comes from, shared
//! by the commands that report events.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use crate::{
    config::ContextConfig,
    context::{EnrichConfig, kubelet::KubeletConfig},
};

/// Options for the process, container and pod context.
#[derive(Debug, Clone, Args)]
pub struct ContextArgs {
    /// This node's name: the kubelet is asked for this node's pods. Setting it
    /// (or --kubelet-url) turns pod metadata on.
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// The kubelet's base URL (default `https://<node-name>:10250`).
    #[arg(long, value_name = "URL")]
    pub kubelet_url: Option<String>,
    /// The bearer token for the kubelet (default: the pod's service account token).
    #[arg(long, value_name = "FILE")]
    pub kubelet_token_file: Option<PathBuf>,
    /// The CA that signed the kubelet's serving certificate (default: the service
    /// account's CA).
    #[arg(long, value_name = "FILE")]
    pub kubelet_ca_file: Option<PathBuf>,
    /// Do not verify the kubelet's certificate (kind clusters, whose kubelets serve
    /// self-signed ones). Off by default.
    #[arg(long)]
    pub kubelet_insecure_skip_verify: bool,
    /// How long the events of a container the kubelet has not listed yet wait for
    /// its pod, once per container, in milliseconds (the kubelet is asked at most
    /// once a second). Default 2500.
    #[arg(long, value_name = "MS")]
    pub pod_wait_ms: Option<u64>,
    /// The proc filesystem to read processes from (the host's). Default `/proc`.
    #[arg(long, value_name = "DIR")]
    pub proc_root: Option<PathBuf>,
}

/// How long a new container's events wait for its pod when nothing says.
const POD_WAIT: Duration = Duration::from_millis(2500);

impl ContextArgs {
    /// The kubelet's configuration: the config file's, with what the flags say
    /// over it; `None` when neither names a kubelet.
    pub fn kubelet(&self, file: &ContextConfig) -> Option<KubeletConfig> {
        let flagged = self.node_name.is_some() || self.kubelet_url.is_some();
        if !flagged && file.kubelet.is_none() {
            return None;
        }
        let mut config = file.kubelet.clone().unwrap_or_default();
        if let Some(node) = &self.node_name {
            config.node_name.clone_from(node);
        }
        if let Some(url) = &self.kubelet_url {
            config.url = Some(url.clone());
        }
        if let Some(token) = &self.kubelet_token_file {
            config.token_file = Some(token.clone());
        }
        if let Some(ca) = &self.kubelet_ca_file {
            config.ca_file = Some(ca.clone());
        }
        config.insecure_skip_verify |= self.kubelet_insecure_skip_verify;
        Some(config)
    }

    /// The enricher's configuration.
    pub fn enrich(&self, file: &ContextConfig) -> EnrichConfig {
        let proc_root = self.proc_root.clone().or_else(|| file.proc_root.clone());
        EnrichConfig {
            proc_root: proc_root.unwrap_or_else(|| PathBuf::from("/proc")),
            ..EnrichConfig::default()
        }
    }

    /// How long to wait for a new container's pod.
    pub fn pod_wait(&self, file: &ContextConfig) -> Duration {
        self.pod_wait_ms
            .map(Duration::from_millis)
            .or(file.pod_wait)
            .unwrap_or(POD_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        context: ContextArgs,
    }

    fn args(argv: &[&str]) -> ContextArgs {
        Cli::parse_from(std::iter::once("sensor").chain(argv.iter().copied())).context
    }

    #[test]
    fn flags_win_over_the_config_file() {
        let file = crate::config::AgentConfig::parse(
            "context:\n  pod_wait: 1s\n  proc_root: /host/proc\n  kubelet:\n    node_name: from-file\n    refresh_interval: 3s\n",
        )
        .expect("a config")
        .context;
        let none = args(&[]);
        let kubelet = none.kubelet(&file).expect("the file names a kubelet");
        assert_eq!(kubelet.node_name, "from-file");
        assert_eq!(none.pod_wait(&file), Duration::from_secs(1));
        assert_eq!(none.enrich(&file).proc_root, PathBuf::from("/host/proc"));

        let flags = args(&[
            "--node-name",
            "from-flag",
            "--pod-wait-ms",
            "5",
            "--proc-root",
            "/p",
        ]);
        let kubelet = flags.kubelet(&file).expect("a kubelet");
        assert_eq!(kubelet.node_name, "from-flag");
        assert_eq!(
            kubelet.refresh_interval,
            Duration::from_secs(3),
            "the file's still"
        );
        assert_eq!(flags.pod_wait(&file), Duration::from_millis(5));
        assert_eq!(flags.enrich(&file).proc_root, PathBuf::from("/p"));

        let empty = ContextConfig::default();
        assert!(none.kubelet(&empty).is_none(), "no kubelet named anywhere");
        assert_eq!(none.pod_wait(&empty), POD_WAIT);
    }
}
