//! Flags that say where the process, container and pod context comes from, shared
//! by the commands that report events.

use std::{path::PathBuf, time::Duration};

use clap::Args;

use crate::context::{EnrichConfig, kubelet::KubeletConfig};

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
    /// once a second).
    #[arg(long, default_value_t = 2500, value_name = "MS")]
    pub pod_wait_ms: u64,
    /// The proc filesystem to read processes from (the host's).
    #[arg(long, default_value = "/proc", value_name = "DIR")]
    pub proc_root: PathBuf,
}

impl ContextArgs {
    /// The kubelet's configuration, when the flags name a kubelet.
    pub fn kubelet(&self) -> Option<KubeletConfig> {
        if self.node_name.is_none() && self.kubelet_url.is_none() {
            return None;
        }
        Some(KubeletConfig {
            url: self.kubelet_url.clone(),
            node_name: self.node_name.clone().unwrap_or_default(),
            token_file: self.kubelet_token_file.clone(),
            ca_file: self.kubelet_ca_file.clone(),
            insecure_skip_verify: self.kubelet_insecure_skip_verify,
            ..KubeletConfig::default()
        })
    }

    /// The enricher's configuration.
    pub fn enrich(&self) -> EnrichConfig {
        EnrichConfig {
            proc_root: self.proc_root.clone(),
            ..EnrichConfig::default()
        }
    }

    /// How long to wait for a new container's pod.
    pub fn pod_wait(&self) -> Duration {
        Duration::from_millis(self.pod_wait_ms)
    }
}
