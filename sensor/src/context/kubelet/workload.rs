//! The workload a pod belongs to, named from its controller owner reference: what
//! an analyst calls it (Deployment `web`), not only its direct owner (ReplicaSet
//! `web-5d4f8b7c9`). The kubelet's `/pods` holds only the pod, so the levels above
//! the direct owner are inferred from the names the controllers give.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The label the Deployment controller puts on its ReplicaSets' pods, and the
/// suffix of the ReplicaSet's name.
const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The annotation the kubelet puts on pods read from a manifest file or URL.
const CONFIG_SOURCE: &str = "kubernetes.io/config.source";
/// The annotation of a static pod's mirror in the API server.
const CONFIG_MIRROR: &str = "kubernetes.io/config.mirror";

/// The kind of a workload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// An `apps` Deployment, seen through the ReplicaSet it owns.
    Deployment,
    /// An `apps` ReplicaSet that no Deployment owns (by its name).
    ReplicaSet,
    /// An `apps` StatefulSet.
    StatefulSet,
    /// An `apps` DaemonSet.
    DaemonSet,
    /// A `batch` Job that no CronJob owns (by its name).
    Job,
    /// A `batch` CronJob, seen through the Job it created.
    CronJob,
    /// A core ReplicationController.
    ReplicationController,
    /// The node itself: a static pod, read by the kubelet from a manifest.
    Node,
    /// Any other controller (an operator's custom resource), by its kind.
    Other(String),
}

impl WorkloadKind {
    /// The kind as Kubernetes spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Deployment => "Deployment",
            Self::ReplicaSet => "ReplicaSet",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
            Self::ReplicationController => "ReplicationController",
            Self::Node => "Node",
            Self::Other(kind) => kind,
        }
    }
}

/// The workload that runs a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// What kind of workload.
    pub kind: WorkloadKind,
    /// Its name, in the pod's namespace (for [`WorkloadKind::Node`], the node's name).
    pub name: String,
    /// The ReplicaSet between a Deployment and the pod, or the ReplicaSet itself.
    pub replicaset: Option<String>,
    /// The Job between a CronJob and the pod, or the Job itself.
    pub job: Option<String>,
}

/// The pod's workload from its owner references, labels and annotations; `None`
/// for a pod that nothing owns.
///
/// The controller reference decides (the first reference when none is marked as
/// the controller). A static pod has no owner in the kubelet's own view, only a
/// `kubernetes.io/config.source` of `file` or `http`; its mirror in the API server
/// is owned by the Node: both are [`WorkloadKind::Node`].
pub fn workload_of(
    owners: &[OwnerReference],
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    node_name: Option<&str>,
) -> Option<Workload> {
    let owner = owners
        .iter()
        .find(|owner| owner.controller == Some(true))
        .or_else(|| owners.first());
    match owner {
        Some(owner) => Some(from_owner(owner, labels)),
        None if is_static(annotations) => Some(Workload {
            kind: WorkloadKind::Node,
            name: node_name.unwrap_or_default().to_owned(),
            replicaset: None,
            job: None,
        }),
        None => None,
    }
}

/// Whether the kubelet read this pod from a manifest rather than the API server.
fn is_static(annotations: &BTreeMap<String, String>) -> bool {
    annotations.contains_key(CONFIG_MIRROR)
        || annotations
            .get(CONFIG_SOURCE)
            .is_some_and(|source| source == "file" || source == "http")
}

fn from_owner(owner: &OwnerReference, labels: &BTreeMap<String, String>) -> Workload {
    // The group keeps a custom resource that happens to be called `Job` from
    // passing as a batch Job; the core group has no `/` in its apiVersion.
    let group = owner
        .api_version
        .split_once('/')
        .map_or("", |(group, _)| group);
    let name = owner.name.clone();
    let workload = |kind| Workload {
        kind,
        name: name.clone(),
        replicaset: None,
        job: None,
    };
    match (group, owner.kind.as_str()) {
        ("apps", "ReplicaSet") => match deployment_of(&name, labels) {
            Some(deployment) => Workload {
                kind: WorkloadKind::Deployment,
                name: deployment.to_owned(),
                replicaset: Some(name.clone()),
                job: None,
            },
            None => Workload {
                replicaset: Some(name.clone()),
                ..workload(WorkloadKind::ReplicaSet)
            },
        },
        ("apps", "Deployment") => workload(WorkloadKind::Deployment),
        ("apps", "StatefulSet") => workload(WorkloadKind::StatefulSet),
        ("apps", "DaemonSet") => workload(WorkloadKind::DaemonSet),
        ("batch", "Job") => match cronjob_of(&name) {
            Some(cronjob) => Workload {
                kind: WorkloadKind::CronJob,
                name: cronjob.to_owned(),
                replicaset: None,
                job: Some(name.clone()),
            },
            None => Workload {
                job: Some(name.clone()),
                ..workload(WorkloadKind::Job)
            },
        },
        ("batch", "CronJob") => workload(WorkloadKind::CronJob),
        ("", "ReplicationController") => workload(WorkloadKind::ReplicationController),
        ("", "Node") => workload(WorkloadKind::Node),
        (_, kind) => workload(WorkloadKind::Other(kind.to_owned())),
    }
}

/// The Deployment that named ReplicaSet `<deployment>-<pod-template-hash>`.
fn deployment_of<'a>(replicaset: &'a str, labels: &BTreeMap<String, String>) -> Option<&'a str> {
    let hash = labels
        .get(POD_TEMPLATE_HASH)
        .filter(|hash| !hash.is_empty())?;
    replicaset
        .strip_suffix(hash.as_str())?
        .strip_suffix('-')
        .filter(|deployment| !deployment.is_empty())
}

/// The CronJob that named Job `<cronjob>-<scheduled time in minutes>`.
///
/// Inferred from the name alone: the CronJob controller names its Jobs after the
/// scheduled minute since the epoch (8 digits and more since 1973), and the
/// kubelet's pod carries nothing else that points at the CronJob. A hand-made Job
/// named like that would be taken for a CronJob's.
fn cronjob_of(job: &str) -> Option<&str> {
    let (cronjob, minutes) = job.rsplit_once('-')?;
    (minutes.len() >= 8 && minutes.bytes().all(|b| b.is_ascii_digit()) && !cronjob.is_empty())
        .then_some(cronjob)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(
        api_version: &str,
        kind: &str,
        name: &str,
        controller: Option<bool>,
    ) -> OwnerReference {
        OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: "u".into(),
            controller,
            block_owner_deletion: None,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn of(owner: OwnerReference, labels: &[(&str, &str)]) -> Workload {
        workload_of(&[owner], &map(labels), &map(&[]), Some("node-1")).unwrap()
    }

    #[test]
    fn a_replicaset_named_after_the_template_hash_is_a_deployment() {
        let w = of(
            owner("apps/v1", "ReplicaSet", "web-5d4f8b7c9", Some(true)),
            &[("pod-template-hash", "5d4f8b7c9")],
        );
        assert_eq!(w.kind, WorkloadKind::Deployment);
        assert_eq!(w.name, "web");
        assert_eq!(w.replicaset.as_deref(), Some("web-5d4f8b7c9"));
        // A deployment whose own name has dashes.
        let w = of(
            owner("apps/v1", "ReplicaSet", "my-web-app-7c9d", Some(true)),
            &[("pod-template-hash", "7c9d")],
        );
        assert_eq!(
            (w.kind, w.name.as_str()),
            (WorkloadKind::Deployment, "my-web-app")
        );
    }

    #[test]
    fn a_replicaset_without_a_matching_hash_stays_a_replicaset() {
        for labels in [
            &[][..],
            &[("pod-template-hash", "abc")][..],
            &[("pod-template-hash", "")][..],
            &[("pod-template-hash", "web-5d4f8b7c9")][..],
        ] {
            let w = of(
                owner("apps/v1", "ReplicaSet", "web-5d4f8b7c9", None),
                labels,
            );
            assert_eq!(w.kind, WorkloadKind::ReplicaSet, "{labels:?}");
            assert_eq!(w.name, "web-5d4f8b7c9");
            assert_eq!(w.replicaset.as_deref(), Some("web-5d4f8b7c9"));
        }
    }

    #[test]
    fn a_job_named_after_a_scheduled_minute_is_a_cronjob() {
        let w = of(owner("batch/v1", "Job", "backup-28391040", Some(true)), &[]);
        assert_eq!(w.kind, WorkloadKind::CronJob);
        assert_eq!(w.name, "backup");
        assert_eq!(w.job.as_deref(), Some("backup-28391040"));
        for job in [
            "migrate",
            "migrate-1234567",
            "migrate-2839104x",
            "-28391040",
        ] {
            let w = of(owner("batch/v1", "Job", job, Some(true)), &[]);
            assert_eq!((w.kind, w.name.as_str()), (WorkloadKind::Job, job));
        }
    }

    #[test]
    fn other_controllers_keep_their_kind_and_name() {
        let cases = [
            ("apps/v1", "StatefulSet", WorkloadKind::StatefulSet),
            ("apps/v1", "DaemonSet", WorkloadKind::DaemonSet),
            (
                "v1",
                "ReplicationController",
                WorkloadKind::ReplicationController,
            ),
            ("v1", "Node", WorkloadKind::Node),
            (
                "argoproj.io/v1alpha1",
                "Rollout",
                WorkloadKind::Other("Rollout".into()),
            ),
            // Same kind, another group: not the batch Job.
            ("example.com/v1", "Job", WorkloadKind::Other("Job".into())),
        ];
        for (api_version, kind, want) in cases {
            let w = of(owner(api_version, kind, "x-12345678", Some(true)), &[]);
            assert_eq!(w.kind, want, "{api_version} {kind}");
            assert_eq!(w.name, "x-12345678");
            assert_eq!(w.kind.as_str(), kind);
        }
    }

    #[test]
    fn the_controller_reference_wins_over_other_owners() {
        let owners = [
            owner("v1", "ConfigMap", "cm", None),
            owner("apps/v1", "StatefulSet", "db", Some(true)),
        ];
        let w = workload_of(&owners, &map(&[]), &map(&[]), None).unwrap();
        assert_eq!((w.kind, w.name.as_str()), (WorkloadKind::StatefulSet, "db"));
    }

    #[test]
    fn static_pods_belong_to_the_node_and_bare_pods_to_nothing() {
        let none = map(&[]);
        for annotations in [
            map(&[("kubernetes.io/config.source", "file")]),
            map(&[("kubernetes.io/config.mirror", "abc")]),
        ] {
            let w = workload_of(&[], &none, &annotations, Some("node-1")).unwrap();
            assert_eq!((w.kind, w.name.as_str()), (WorkloadKind::Node, "node-1"));
        }
        let api = map(&[("kubernetes.io/config.source", "api")]);
        assert_eq!(workload_of(&[], &none, &api, Some("node-1")), None);
        assert_eq!(workload_of(&[], &none, &none, None), None);
    }

    #[test]
    fn hostile_owner_names_do_not_panic() {
        for name in ["", "-", "--", "é-é", &"a".repeat(100_000), "-00000000"] {
            let hash = [("pod-template-hash", name)];
            let _ = of(owner("apps/v1", "ReplicaSet", name, Some(true)), &hash);
            let _ = of(owner("batch/v1", "Job", name, Some(true)), &[]);
            let _ = of(owner(name, name, name, Some(true)), &[]);
        }
    }
}
