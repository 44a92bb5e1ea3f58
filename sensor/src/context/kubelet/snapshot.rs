//! One immutable view of the pods, indexed by pod UID and by container id, and the
//! step from one view to the next: what the kubelet lists now, plus what it listed
//! before and no longer does, kept for a while so that the late events of a pod
//! that just ended (or of a container's previous instance) are still attributed.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use super::{cache::PodContainer, pods::PodInfo};

/// A value and, once the kubelet stopped listing it, since when.
#[derive(Clone, Debug)]
struct Kept<T> {
    value: T,
    gone_since: Option<Instant>,
}

/// The pods and containers known at one time.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    pods: HashMap<String, Kept<Arc<PodInfo>>>,
    containers: HashMap<String, Kept<PodContainer>>,
    /// Pods the kubelet listed in the fetch that made this view.
    listed: usize,
}

impl Snapshot {
    /// The pod with `uid`.
    pub(super) fn pod(&self, uid: &str) -> Option<Arc<PodInfo>> {
        self.pods.get(uid).map(|kept| kept.value.clone())
    }

    /// The container that has or had `id`.
    pub(super) fn container(&self, id: &str) -> Option<PodContainer> {
        self.containers.get(id).map(|kept| kept.value.clone())
    }

    /// Every pod, those kept after they were gone included.
    pub(super) fn pods(&self) -> impl Iterator<Item = &Arc<PodInfo>> {
        self.pods.values().map(|kept| &kept.value)
    }

    /// Pods held, kept ones included.
    pub(super) fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Container ids held, kept ones included.
    pub(super) fn container_count(&self) -> usize {
        self.containers.len()
    }

    /// Pods listed by the fetch that made this view.
    pub(super) fn listed(&self) -> usize {
        self.listed
    }

    /// The next view: `listed` as the kubelet has them now, and what this view has
    /// that `listed` lacks, until it has been gone for `keep`.
    pub(super) fn next(&self, listed: Vec<PodInfo>, now: Instant, keep: Duration) -> Self {
        let mut pods = HashMap::with_capacity(listed.len());
        let mut containers = HashMap::new();
        for info in listed {
            let pod = Arc::new(info);
            for (index, container) in pod.containers.iter().enumerate() {
                for id in &container.ids {
                    containers.entry(id.clone()).or_insert_with(|| Kept {
                        value: PodContainer::new(pod.clone(), index),
                        gone_since: None,
                    });
                }
            }
            pods.insert(
                pod.uid.clone(),
                Kept {
                    value: pod,
                    gone_since: None,
                },
            );
        }
        let count = pods.len();
        keep_gone(&self.pods, &mut pods, now, keep);
        keep_gone(&self.containers, &mut containers, now, keep);
        Self {
            pods,
            containers,
            listed: count,
        }
    }
}

/// Adds to `new` the entries of `old` that it lacks and that have been gone for
/// less than `keep`, marking since when they are gone.
fn keep_gone<T: Clone>(
    old: &HashMap<String, Kept<T>>,
    new: &mut HashMap<String, Kept<T>>,
    now: Instant,
    keep: Duration,
) {
    for (key, kept) in old {
        if new.contains_key(key) {
            continue;
        }
        let gone_since = kept.gone_since.unwrap_or(now);
        if now.saturating_duration_since(gone_since) < keep {
            new.insert(
                key.clone(),
                Kept {
                    value: kept.value.clone(),
                    gone_since: Some(gone_since),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::kubelet::pods::{ContainerInfo, ContainerKind};

    fn pod(uid: &str, ids: &[&str]) -> PodInfo {
        PodInfo {
            uid: uid.into(),
            namespace: "ns".into(),
            name: format!("pod-{uid}"),
            labels: Default::default(),
            service_account: None,
            node_name: None,
            workload: None,
            containers: vec![ContainerInfo {
                name: "c".into(),
                ids: ids.iter().map(|id| id.to_string()).collect(),
                runtime: Some("containerd".into()),
                image: "busybox".into(),
                image_repository: "busybox".into(),
                image_tag: Some("latest".into()),
                image_digest: None,
                privileged: false,
                kind: ContainerKind::Regular,
                restart_count: 0,
            }],
        }
    }

    #[test]
    fn gone_pods_and_ids_stay_for_keep_then_go() {
        let keep = Duration::from_secs(60);
        let t0 = Instant::now();
        let view =
            Snapshot::default().next(vec![pod("a", &["1", "2"]), pod("b", &["3"])], t0, keep);
        assert_eq!(
            (view.pod_count(), view.container_count(), view.listed()),
            (2, 3, 2)
        );
        // `b` is gone and `a` lost its older id "2".
        let t1 = t0 + Duration::from_secs(10);
        let view = view.next(vec![pod("a", &["1"])], t1, keep);
        assert_eq!(
            (view.pod_count(), view.container_count(), view.listed()),
            (2, 3, 1)
        );
        assert_eq!(view.container("3").unwrap().pod().uid, "b");
        assert_eq!(view.container("2").unwrap().container().name, "c");
        // Still gone just before `keep` has passed since t1: kept.
        let view = view.next(
            vec![pod("a", &["1"])],
            t1 + keep - Duration::from_secs(1),
            keep,
        );
        assert!(view.pod("b").is_some());
        // Gone for `keep`: evicted, though the fetches in between saw it gone.
        let view = view.next(vec![pod("a", &["1"])], t1 + keep, keep);
        assert!(view.pod("b").is_none() && view.container("3").is_none());
        assert!(view.container("2").is_none());
        assert_eq!(view.container("1").unwrap().pod().uid, "a");
    }

    #[test]
    fn a_pod_listed_again_is_no_longer_gone() {
        let keep = Duration::from_secs(60);
        let t0 = Instant::now();
        let view = Snapshot::default().next(vec![pod("a", &["1"])], t0, keep);
        let view = view.next(vec![], t0 + Duration::from_secs(50), keep);
        let view = view.next(vec![pod("a", &["1"])], t0 + Duration::from_secs(55), keep);
        let view = view.next(vec![pod("a", &["1"])], t0 + Duration::from_secs(500), keep);
        assert!(view.pod("a").is_some());
    }

    #[test]
    fn the_newest_listing_of_a_pod_wins() {
        let t0 = Instant::now();
        let keep = Duration::from_secs(60);
        let view = Snapshot::default().next(vec![pod("a", &["1"])], t0, keep);
        let mut renamed = pod("a", &["1"]);
        renamed.name = "renamed".into();
        let view = view.next(vec![renamed], t0, keep);
        assert_eq!(view.pod("a").unwrap().name, "renamed");
        assert_eq!(view.container("1").unwrap().pod().name, "renamed");
    }
}
