//! The pod model the agent attaches to events, built from the kubelet's typed
//! `Pod`: identity, labels, workload, and each container with the ids its
//! instances had, its image and whether it is privileged. Pure functions: missing
//! fields become `None` or empty, never a panic, and ids that are not container ids
//! are left out.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Container, ContainerStatus, EphemeralContainer, Pod, PodSpec};

use super::{
    refs::{digest_from_image_id, parse_container_id, parse_image},
    workload::{Workload, workload_of},
};

/// What the agent knows about a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    /// The pod's UID, as in its cgroup path.
    pub uid: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The service account it runs as.
    pub service_account: Option<String>,
    /// The node it is bound to.
    pub node_name: Option<String>,
    /// The workload that runs it; `None` for a bare pod.
    pub workload: Option<Workload>,
    /// Its init, regular and ephemeral containers, in that order.
    pub containers: Vec<ContainerInfo>,
}

/// Which list of the pod spec a container comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    /// `spec.containers`.
    Regular,
    /// `spec.initContainers`, sidecars (restartPolicy `Always`) included.
    Init,
    /// `spec.ephemeralContainers`, added by `kubectl debug`.
    Ephemeral,
}

/// What the agent knows about one container of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    /// The container's name in the pod spec.
    pub name: String,
    /// The ids (64 lowercase hex) of its current instance and of the previous one,
    /// whose late events may still arrive after a restart; empty before it starts.
    pub ids: Vec<String>,
    /// The runtime that reported the current id: `containerd`, `cri-o`, `docker`.
    pub runtime: Option<String>,
    /// The image as the spec writes it.
    pub image: String,
    /// The image's repository, as written.
    pub image_repository: String,
    /// The image's tag (`latest` when neither a tag nor a digest is written).
    pub image_tag: Option<String>,
    /// The digest of the image that runs (`sha256:...`), from the runtime's image
    /// id, else from the spec's `@digest`.
    pub image_digest: Option<String>,
    /// Whether its security context asks for a privileged container.
    pub privileged: bool,
    /// Which list of the spec it comes from.
    pub kind: ContainerKind,
    /// How often the kubelet restarted it.
    pub restart_count: u32,
}

impl PodInfo {
    /// The pod's model; `None` for a pod without a UID, which no cgroup can name.
    pub fn from_pod(pod: Pod) -> Option<Self> {
        let meta = pod.metadata;
        let uid = meta.uid.filter(|uid| !uid.is_empty())?;
        let labels = meta.labels.unwrap_or_default();
        let spec = pod.spec.unwrap_or_default();
        let status = pod.status.unwrap_or_default();
        let node_name = spec.node_name.clone().filter(|n| !n.is_empty());
        let workload = workload_of(
            meta.owner_references.as_deref().unwrap_or_default(),
            &labels,
            &meta.annotations.unwrap_or_default(),
            node_name.as_deref(),
        );
        let mut containers = Vec::new();
        let lists = [
            (
                ContainerKind::Init,
                init_specs(&spec),
                status.init_container_statuses.unwrap_or_default(),
            ),
            (
                ContainerKind::Regular,
                spec.containers.iter().map(SpecContainer::from).collect(),
                status.container_statuses.unwrap_or_default(),
            ),
            (
                ContainerKind::Ephemeral,
                ephemeral_specs(&spec),
                status.ephemeral_container_statuses.unwrap_or_default(),
            ),
        ];
        for (kind, specs, statuses) in lists {
            containers_of(kind, &specs, &statuses, &mut containers);
        }
        Some(Self {
            uid,
            namespace: meta.namespace.unwrap_or_default(),
            name: meta.name.unwrap_or_default(),
            labels,
            service_account: spec
                .service_account_name
                .or(spec.service_account)
                .filter(|sa| !sa.is_empty()),
            node_name,
            workload,
            containers,
        })
    }

    /// The container that has or had `id`.
    pub fn container_by_id(&self, id: &str) -> Option<&ContainerInfo> {
        self.containers
            .iter()
            .find(|c| c.ids.iter().any(|known| known == id))
    }

    /// The container named `name` (of any kind).
    pub fn container_named(&self, name: &str) -> Option<&ContainerInfo> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// The parts of a spec container that the model keeps; one shape for the two
/// Kubernetes types.
struct SpecContainer<'a> {
    name: &'a str,
    image: Option<&'a str>,
    privileged: bool,
}

impl<'a> From<&'a Container> for SpecContainer<'a> {
    fn from(c: &'a Container) -> Self {
        Self {
            name: &c.name,
            image: c.image.as_deref(),
            privileged: c
                .security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false),
        }
    }
}

impl<'a> From<&'a EphemeralContainer> for SpecContainer<'a> {
    fn from(c: &'a EphemeralContainer) -> Self {
        Self {
            name: &c.name,
            image: c.image.as_deref(),
            privileged: c
                .security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false),
        }
    }
}

fn init_specs(spec: &PodSpec) -> Vec<SpecContainer<'_>> {
    spec.init_containers
        .iter()
        .flatten()
        .map(SpecContainer::from)
        .collect()
}

fn ephemeral_specs(spec: &PodSpec) -> Vec<SpecContainer<'_>> {
    spec.ephemeral_containers
        .iter()
        .flatten()
        .map(SpecContainer::from)
        .collect()
}

/// Joins one list of spec containers with its statuses by name. A status whose
/// name the spec does not have still names a running container, so it is kept.
fn containers_of(
    kind: ContainerKind,
    specs: &[SpecContainer<'_>],
    statuses: &[ContainerStatus],
    out: &mut Vec<ContainerInfo>,
) {
    // By name, so that a hostile pod with many containers costs n, not n².
    let mut by_name: HashMap<&str, &ContainerStatus> = HashMap::new();
    for status in statuses {
        by_name.entry(status.name.as_str()).or_insert(status);
    }
    for spec in specs {
        let status = by_name.remove(spec.name);
        out.push(container(kind, spec, status));
    }
    // Spec order first; the leftovers in status order, for a stable result.
    for status in statuses {
        if by_name.remove(status.name.as_str()).is_some() {
            let spec = SpecContainer {
                name: &status.name,
                image: None,
                privileged: false,
            };
            out.push(container(kind, &spec, Some(status)));
        }
    }
}

fn container(
    kind: ContainerKind,
    spec: &SpecContainer<'_>,
    status: Option<&ContainerStatus>,
) -> ContainerInfo {
    let image = spec
        .image
        .or(status.map(|s| s.image.as_str()))
        .unwrap_or_default();
    let parsed = parse_image(image);
    let mut ids = Vec::new();
    let mut runtime = None;
    if let Some(status) = status {
        let terminated = |state: &Option<k8s_openapi::api::core::v1::ContainerState>| {
            state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| t.container_id.clone())
        };
        let candidates = [
            status.container_id.clone(),
            terminated(&status.state),
            terminated(&status.last_state),
        ];
        for text in candidates.iter().flatten() {
            let Some(parsed) = parse_container_id(text) else {
                continue;
            };
            if runtime.is_none() {
                runtime = parsed.runtime.map(str::to_owned);
            }
            if !ids.iter().any(|id| id == parsed.id) {
                ids.push(parsed.id.to_owned());
            }
        }
    }
    ContainerInfo {
        name: spec.name.to_owned(),
        ids,
        runtime,
        image: image.to_owned(),
        image_repository: parsed.repository,
        image_tag: parsed.tag,
        image_digest: status
            .and_then(|s| digest_from_image_id(&s.image_id))
            .or(parsed.digest),
        privileged: spec.privileged,
        kind,
        restart_count: status.map_or(0, |s| u32::try_from(s.restart_count).unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::kubelet::workload::WorkloadKind;

    const ID1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const ID2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    const ID3: &str = "3333333333333333333333333333333333333333333333333333333333333333";

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_pod_becomes_its_model() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let info = PodInfo::from_pod(pod(serde_json::json!({
            "metadata": {
                "name": "web-5d4f8b7c9-x2x7k", "namespace": "shop", "uid": "uid-1",
                "labels": {"app": "web", "pod-template-hash": "5d4f8b7c9"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-5d4f8b7c9", "uid": "rs", "controller": true}]
            },
            "spec": {
                "serviceAccountName": "web", "nodeName": "node-1",
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [
                    {"name": "app", "image": "registry:5000/shop/web:v2",
                     "securityContext": {"privileged": true}},
                    {"name": "sidecar", "image": "envoy"}
                ]
            },
            "status": {
                "initContainerStatuses": [{"name": "init", "containerID": format!("containerd://{ID3}"),
                    "image": "busybox:1.36", "imageID": "", "restartCount": 0, "ready": false}],
                "containerStatuses": [
                    {"name": "app", "containerID": format!("containerd://{ID2}"),
                     "image": "registry:5000/shop/web:v2", "imageID": format!("registry:5000/shop/web@{digest}"),
                     "restartCount": 1, "ready": true,
                     "lastState": {"terminated": {"exitCode": 137, "containerID": format!("containerd://{ID1}")}}},
                    {"name": "sidecar", "image": "envoy", "imageID": "", "restartCount": 0, "ready": false}
                ]
            }
        })))
        .unwrap();
        assert_eq!(
            (
                info.uid.as_str(),
                info.namespace.as_str(),
                info.name.as_str()
            ),
            ("uid-1", "shop", "web-5d4f8b7c9-x2x7k")
        );
        assert_eq!(info.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(info.service_account.as_deref(), Some("web"));
        assert_eq!(info.node_name.as_deref(), Some("node-1"));
        let workload = info.workload.as_ref().unwrap();
        assert_eq!(
            (&workload.kind, workload.name.as_str()),
            (&WorkloadKind::Deployment, "web")
        );
        let names: Vec<_> = info
            .containers
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        assert_eq!(
            names,
            [
                ("init", ContainerKind::Init),
                ("app", ContainerKind::Regular),
                ("sidecar", ContainerKind::Regular)
            ]
        );
        let app = info.container_named("app").unwrap();
        assert_eq!(app.ids, [ID2, ID1]);
        assert_eq!(app.runtime.as_deref(), Some("containerd"));
        assert_eq!(app.image_repository, "registry:5000/shop/web");
        assert_eq!(app.image_tag.as_deref(), Some("v2"));
        assert_eq!(app.image_digest.as_deref(), Some(digest.as_str()));
        assert!(app.privileged);
        assert_eq!(app.restart_count, 1);
        assert_eq!(
            info.container_by_id(ID1).map(|c| c.name.as_str()),
            Some("app")
        );
        assert_eq!(
            info.container_by_id(ID3).map(|c| c.name.as_str()),
            Some("init")
        );
        // Not started yet: no id, but still known by name.
        let sidecar = info.container_named("sidecar").unwrap();
        assert!(sidecar.ids.is_empty() && sidecar.runtime.is_none() && !sidecar.privileged);
    }

    #[test]
    fn a_pod_without_uid_is_skipped_and_an_empty_one_does_not_panic() {
        assert_eq!(PodInfo::from_pod(pod(serde_json::json!({}))), None);
        assert_eq!(
            PodInfo::from_pod(pod(serde_json::json!({"metadata": {"uid": ""}}))),
            None
        );
        let info = PodInfo::from_pod(pod(serde_json::json!({"metadata": {"uid": "u"}}))).unwrap();
        assert!(info.name.is_empty() && info.containers.is_empty() && info.workload.is_none());
    }

    #[test]
    fn odd_ids_are_ignored_and_unknown_statuses_kept() {
        let info = PodInfo::from_pod(pod(serde_json::json!({
            "metadata": {"uid": "u"},
            "spec": {"containers": [{"name": "a"}],
                     "ephemeralContainers": [{"name": "debug", "image": "busybox",
                         "securityContext": {"privileged": true}}]},
            "status": {
                "containerStatuses": [
                    {"name": "a", "containerID": "containerd://not-hex", "image": "x", "imageID": "junk",
                     "restartCount": -5,
                     "lastState": {"terminated": {"exitCode": 1, "containerID": "docker://"}}},
                    {"name": "ghost", "containerID": format!("cri-o://{ID1}"), "image": "quay.io/g:1",
                     "imageID": "", "restartCount": 0},
                    {"name": "ghost", "containerID": format!("cri-o://{ID2}"), "image": "dup",
                     "imageID": "", "restartCount": 0}
                ],
                "ephemeralContainerStatuses": [{"name": "debug", "containerID": format!("docker://{ID3}"),
                    "image": "busybox", "imageID": "", "restartCount": 0}]
            }
        })))
        .unwrap();
        let a = info.container_named("a").unwrap();
        assert!(a.ids.is_empty() && a.runtime.is_none() && a.image_digest.is_none());
        // The spec has no image: the status's is used.
        assert_eq!((a.image.as_str(), a.restart_count), ("x", 0));
        let ghost = info.container_named("ghost").unwrap();
        assert_eq!(
            (ghost.ids.as_slice(), ghost.image.as_str()),
            (&[ID1.to_owned()][..], "quay.io/g:1")
        );
        assert_eq!(ghost.runtime.as_deref(), Some("cri-o"));
        assert_eq!(
            info.containers.iter().filter(|c| c.name == "ghost").count(),
            1
        );
        let debug = info.container_named("debug").unwrap();
        assert_eq!(debug.kind, ContainerKind::Ephemeral);
        assert_eq!(debug.runtime.as_deref(), Some("docker"));
        assert!(debug.privileged);
    }

    #[test]
    fn many_containers_cost_linear_time() {
        let n = 20_000;
        let containers: Vec<_> = (0..n)
            .map(|i| serde_json::json!({"name": format!("c{i}")}))
            .collect();
        let statuses: Vec<_> = (0..n)
            .map(|i| {
                serde_json::json!({"name": format!("c{i}"), "image": "", "imageID": "",
                "containerID": format!("containerd://{i:064x}"), "restartCount": 0})
            })
            .collect();
        let started = std::time::Instant::now();
        let info = PodInfo::from_pod(pod(serde_json::json!({
            "metadata": {"uid": "u"},
            "spec": {"containers": containers},
            "status": {"containerStatuses": statuses}
        })))
        .unwrap();
        assert_eq!(info.containers.len(), n);
        assert!(info.containers.iter().all(|c| c.ids.len() == 1));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
