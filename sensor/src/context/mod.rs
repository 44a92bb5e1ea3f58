//! Who did it: the process, its ancestors, its container and its pod, for every event.
//!
//! [`procfs`] reads the processes already running when the agent starts, [`process`]
//! keeps the table from then on with fork, exec and exit events, [`cgroups`] turns
//! an event's cgroup id into its path, [`container`] reads the container id and pod
//! UID from that path, and [`kubelet`] fills in the pod's metadata from the kubelet
//! on this node; [`users`] names the user and group ids from the passwd and
//! group files of the process's root.

pub mod cgroups;
pub mod container;
mod enrich;
pub mod exec_id;
#[cfg(test)]
mod fake_proc;
pub mod kubelet;
pub mod process;
pub mod procfs;
pub mod procfs_facts;
pub mod starts;
pub mod users;

pub use enrich::{EnrichConfig, EnrichError, Enricher, Who};
