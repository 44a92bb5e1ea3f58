//! Pods from the kubelet on this node: who owns the container an event came from.
//!
//! [`client`] fetches the kubelet's `GET /pods` over HTTPS with the service
//! account's token and parses it with the typed Kubernetes structs; [`pods`] turns
//! each pod into the [`PodInfo`] the agent needs, with [`workload`] naming its
//! controller and [`refs`] parsing image names and container ids; [`cache`] keeps
//! the pods in a [`PodCache`] that the event loop reads without blocking, refreshed
//! on a timer and on a miss, rate-limited, and keeping the last good data while the
//! kubelet is away; [`stats`] counts fetches and failures by reason.

pub mod cache;
pub mod client;
pub mod config;
mod error;
pub mod pods;
pub mod refs;
mod snapshot;
pub mod stats;
mod tls;
pub mod workload;

pub use cache::{PodCache, PodContainer};
pub use client::KubeletClient;
pub use config::KubeletConfig;
pub use error::KubeletError;
pub use pods::{ContainerInfo, ContainerKind, PodInfo};
pub use stats::{FailureReason, KubeletStats};
pub use workload::{Workload, WorkloadKind};
