//! Container id, runtime and pod UID from a cgroup v2 path.
//!
//! Every container runtime puts each container in a cgroup of its own, and the
//! kubelet names the cgroups above it after the pod and its QoS class, so the path
//! of a task's cgroup says which container and which pod it belongs to without asking
//! anyone. The layouts differ by cgroup driver: cgroupfs nests plain names
//! (`/kubepods/burstable/pod<uid>/<id>`), systemd nests slices whose names repeat
//! their ancestors (`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`),
//! and plain Docker uses `/docker/<id>` or `docker-<id>.scope`. The hierarchy may sit
//! anywhere in the path (kind nodes and nested set-ups put `/kubelet` or a node
//! container in front), and a container may have child cgroups of its own. Paths
//! come from the kernel, but a container allowed to write its cgroup tree names the
//! part below its own cgroup: so names are matched exactly, anything that only looks
//! similar is refused, and the outermost match wins, being the one this node's
//! runtime made (a kubelet hierarchy wins over a Docker one, since a kind node is a
//! Docker container around the kubelet's pods).

/// The longest path considered. The kernel builds cgroup paths in a `PATH_MAX`
/// buffer, so anything longer did not come from it and is not worth scanning.
const MAX_PATH_LEN: usize = 4096;

/// Length of a container id: a SHA-256 in lowercase hex.
const CONTAINER_ID_LEN: usize = 64;

/// A container found in a cgroup path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerRef {
    /// The container id: 64 lowercase hex digits.
    pub id: String,
    /// The runtime that named the cgroup; `None` when the layout does not say (the
    /// cgroupfs driver uses the bare id for containerd and Docker alike).
    pub runtime: Option<Runtime>,
    /// The pod's UID when the container is in a kubelet hierarchy: the canonical
    /// 8-4-4-4-12 form for API pods, or 32 hex digits for static pods, whose UID the
    /// kubelet makes from an MD5 of the manifest: either way the form the kubelet's
    /// `/pods` reports.
    pub pod_uid: Option<String>,
    /// The pod's QoS class when the container is in a kubelet hierarchy.
    pub qos: Option<QosClass>,
}

/// The container runtime named in a cgroup path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// containerd's CRI plugin (`cri-containerd-<id>.scope`).
    Containerd,
    /// CRI-O (`crio-<id>`).
    CriO,
    /// Docker, or cri-dockerd under the kubelet (`docker-<id>.scope`, `/docker/<id>`).
    Docker,
}

impl Runtime {
    /// The runtime's usual lowercase name, as operators write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Containerd => "containerd",
            Self::CriO => "cri-o",
            Self::Docker => "docker",
        }
    }
}

/// The QoS class of a pod, from the kubelet's cgroup hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QosClass {
    /// Requests equal limits for every resource: the pod's cgroup is right under `kubepods`.
    Guaranteed,
    /// Some requests below limits: under `burstable`.
    Burstable,
    /// No requests or limits at all: under `besteffort`.
    BestEffort,
}

impl QosClass {
    /// The class's name as Kubernetes spells it in `status.qosClass`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Guaranteed => "Guaranteed",
            Self::Burstable => "Burstable",
            Self::BestEffort => "BestEffort",
        }
    }
}

/// The container a cgroup path belongs to, or `None` for a host process, a pod-level
/// cgroup, CRI-O's `conmon` monitor, or a path in no layout this module knows.
pub fn from_cgroup_path(path: &str) -> Option<ContainerRef> {
    let segments = segments(path)?;
    // When a kubelet hierarchy is present it alone decides: a kind node is itself a
    // Docker container, and the process is in the pod's container, not the node's.
    // The pod's segment must be followed directly by a container's, so the pod's own
    // cgroup and the runtime's monitor give `None` here rather than a guess.
    if let Some(pod) = find_pod(&segments) {
        let (id, runtime) = match container_segment(segments.get(pod.next)?, pod.driver)? {
            Segment::Container { id, runtime } => (id, runtime),
            Segment::Monitor => return None,
        };
        return Some(ContainerRef {
            id: id.to_owned(),
            runtime,
            pod_uid: Some(pod.uid),
            qos: Some(pod.qos),
        });
    }
    if has_kubepods(&segments) {
        return None;
    }
    docker(&segments)
}

/// The pod UID of a cgroup path in a kubelet hierarchy, for the pod's own cgroup as
/// well as for its containers' (same forms as [`ContainerRef::pod_uid`]).
pub fn pod_uid_from_cgroup_path(path: &str) -> Option<String> {
    find_pod(&segments(path)?).map(|pod| pod.uid)
}

/// The path's names, or `None` for input no kernel would print. Leading `..` are
/// allowed: in a cgroup namespace the kernel shows cgroups outside it that way. A
/// `.` or `..` anywhere else would make the names mean something other than they
/// say, so such a path is refused.
fn segments(path: &str) -> Option<Vec<&str>> {
    if path.len() > MAX_PATH_LEN {
        return None;
    }
    let mut out = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        match segment {
            ".." if out.is_empty() => continue,
            "." | ".." => return None,
            _ => out.push(segment),
        }
    }
    Some(out)
}

/// Which kubelet cgroup driver named the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    Cgroupfs,
    Systemd,
}

/// A pod cgroup found in a path.
struct Pod {
    uid: String,
    qos: QosClass,
    driver: Driver,
    /// Index of the segment after the pod's, where a container's would be.
    next: usize,
}

/// Whether a name marks the top of a kubelet hierarchy (`kubepods`, or a systemd
/// slice whose dashed name ends in `kubepods`, such as `kubelet-kubepods.slice`).
fn is_kubepods(segment: &str) -> bool {
    segment == "kubepods" || slice_prefix(segment).is_some()
}

fn has_kubepods(segments: &[&str]) -> bool {
    segments.iter().any(|s| is_kubepods(s))
}

/// For a systemd kubepods slice, the unit name without `.slice`, which every slice
/// below it repeats as a prefix.
fn slice_prefix(segment: &str) -> Option<&str> {
    let name = segment.strip_suffix(".slice")?;
    (name == "kubepods" || name.ends_with("-kubepods")).then_some(name)
}

/// The pod in the outermost kubelet hierarchy: that one is this node's kubelet's,
/// whereas one further down was made inside a container (a cluster in a pod, or a
/// container faking another pod's names).
fn find_pod(segments: &[&str]) -> Option<Pod> {
    let top = segments.iter().position(|s| is_kubepods(s))?;
    let rest = &segments[top + 1..];
    let pod = match slice_prefix(segments[top]) {
        Some(prefix) => systemd_pod(prefix, rest)?,
        None => cgroupfs_pod(rest)?,
    };
    Some(Pod {
        next: top + 1 + pod.next,
        ..pod
    })
}

/// `kubepods/[besteffort|burstable/]pod<uid>`, with `rest` the names after `kubepods`.
fn cgroupfs_pod(rest: &[&str]) -> Option<Pod> {
    let (qos, at) = match rest.first() {
        Some(&"besteffort") => (QosClass::BestEffort, 1),
        Some(&"burstable") => (QosClass::Burstable, 1),
        _ => (QosClass::Guaranteed, 0),
    };
    let uid = pod_uid(rest.get(at)?.strip_prefix("pod")?, '-')?;
    Some(Pod {
        uid,
        qos,
        driver: Driver::Cgroupfs,
        next: at + 1,
    })
}

/// `<p>.slice/[<p>-besteffort.slice/]<p>[-besteffort]-pod<uid>.slice`, where `<p>` is
/// the kubepods slice's name: systemd names a slice after all its ancestors. The
/// UID's dashes become underscores, since a dash separates levels.
fn systemd_pod(prefix: &str, rest: &[&str]) -> Option<Pod> {
    let child = |segment: &str, parent: &str| -> Option<String> {
        let name = segment.strip_suffix(".slice")?.strip_prefix(parent)?;
        name.strip_prefix('-').map(str::to_owned)
    };
    let first = child(rest.first()?, prefix)?;
    let (qos, parent, at) = match first.as_str() {
        "besteffort" => (QosClass::BestEffort, format!("{prefix}-besteffort"), 1),
        "burstable" => (QosClass::Burstable, format!("{prefix}-burstable"), 1),
        _ => (QosClass::Guaranteed, prefix.to_owned(), 0),
    };
    let name = child(rest.get(at)?, &parent)?;
    let uid = pod_uid(name.strip_prefix("pod")?, '_')?;
    Some(Pod {
        uid,
        qos,
        driver: Driver::Systemd,
        next: at + 1,
    })
}

/// A pod UID in its kubelet form: a lowercase UUID whose dashes are `separator`, or
/// the 32 hex digits of a static pod. Returned the way the kubelet reports it.
fn pod_uid(raw: &str, separator: char) -> Option<String> {
    if raw.len() == 32 && is_lower_hex(raw) {
        return Some(raw.to_owned());
    }
    let groups: Vec<&str> = raw.split(separator).collect();
    let shape = [8, 4, 4, 4, 12];
    let valid = groups.len() == shape.len()
        && groups
            .iter()
            .zip(shape)
            .all(|(group, len)| group.len() == len && is_lower_hex(group));
    valid.then(|| groups.join("-"))
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn container_id(s: &str) -> Option<&str> {
    (s.len() == CONTAINER_ID_LEN && is_lower_hex(s)).then_some(s)
}

/// What a name below a pod cgroup is.
enum Segment<'a> {
    Container {
        id: &'a str,
        runtime: Option<Runtime>,
    },
    /// CRI-O's `conmon`, which watches a container from a cgroup next to it. It is
    /// CRI-O's own process, not the container's: reporting it as the container would
    /// blame the workload for what the runtime does (and its id is the container's).
    Monitor,
}

/// A container's cgroup name under a pod: `<id>` or `crio-<id>` with cgroupfs,
/// `<runtime>-<id>.scope` with systemd.
fn container_segment(segment: &str, driver: Driver) -> Option<Segment<'_>> {
    let name = match driver {
        Driver::Systemd => segment.strip_suffix(".scope")?,
        Driver::Cgroupfs => segment,
    };
    if let Some(id) = name.strip_prefix("crio-conmon-") {
        return container_id(id).map(|_| Segment::Monitor);
    }
    let prefixes = [
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
        ("docker-", Runtime::Docker),
    ];
    let prefixed = prefixes.iter().find_map(|&(prefix, runtime)| {
        let id = container_id(name.strip_prefix(prefix)?)?;
        Some(Segment::Container {
            id,
            runtime: Some(runtime),
        })
    });
    match driver {
        // systemd units always carry the runtime's prefix.
        Driver::Systemd => prefixed,
        // cgroupfs: containerd and Docker use the bare id, CRI-O its prefix.
        Driver::Cgroupfs => prefixed.or_else(|| {
            Some(Segment::Container {
                id: container_id(name)?,
                runtime: None,
            })
        }),
    }
}

/// Docker without a kubelet: `/docker/<id>` (cgroupfs) or `<slice>/docker-<id>.scope`
/// (systemd), outermost first: Docker in Docker names the container the host's
/// Docker made, which is the one the host can tell apart.
fn docker(segments: &[&str]) -> Option<ContainerRef> {
    let found = segments.windows(2).find_map(|pair| {
        let [parent, name] = [pair[0], pair[1]];
        if parent == "docker" {
            return container_id(name);
        }
        let scope = name.strip_prefix("docker-")?.strip_suffix(".scope")?;
        parent.ends_with(".slice").then_some(())?;
        container_id(scope)
    })?;
    Some(ContainerRef {
        id: found.to_owned(),
        runtime: Some(Runtime::Docker),
        pod_uid: None,
        qos: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d";
    const UID_: &str = "1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d";
    const STATIC_UID: &str = "6e8a2c1fbb0d4e5a9f3c7d2e1a0b9c8d";

    fn pod_container(runtime: Option<Runtime>, qos: QosClass) -> Option<ContainerRef> {
        Some(ContainerRef {
            id: ID.to_owned(),
            runtime,
            pod_uid: Some(UID.to_owned()),
            qos: Some(qos),
        })
    }

    #[test]
    fn cgroupfs_layouts() {
        let cases = [
            (
                format!("/kubepods/besteffort/pod{UID}/{ID}"),
                QosClass::BestEffort,
            ),
            (
                format!("/kubepods/burstable/pod{UID}/{ID}"),
                QosClass::Burstable,
            ),
            (format!("/kubepods/pod{UID}/{ID}"), QosClass::Guaranteed),
        ];
        for (path, qos) in cases {
            assert_eq!(from_cgroup_path(&path), pod_container(None, qos), "{path}");
            assert_eq!(pod_uid_from_cgroup_path(&path).as_deref(), Some(UID));
        }
        let crio = format!("/kubepods/burstable/pod{UID}/crio-{ID}");
        let want = pod_container(Some(Runtime::CriO), QosClass::Burstable);
        assert_eq!(from_cgroup_path(&crio), want);
    }

    #[test]
    fn systemd_layouts() {
        let pod = |qos: &str| match qos {
            "" => format!("/kubepods.slice/kubepods-pod{UID_}.slice"),
            q => format!("/kubepods.slice/kubepods-{q}.slice/kubepods-{q}-pod{UID_}.slice"),
        };
        let cases = [
            ("besteffort", QosClass::BestEffort),
            ("burstable", QosClass::Burstable),
            ("", QosClass::Guaranteed),
        ];
        let runtimes = [
            ("cri-containerd", Runtime::Containerd),
            ("crio", Runtime::CriO),
            ("docker", Runtime::Docker),
        ];
        for (q, qos) in cases {
            for (prefix, runtime) in runtimes {
                let path = format!("{}/{prefix}-{ID}.scope", pod(q));
                assert_eq!(
                    from_cgroup_path(&path),
                    pod_container(Some(runtime), qos),
                    "{path}"
                );
            }
            assert_eq!(pod_uid_from_cgroup_path(&pod(q)).as_deref(), Some(UID));
        }
    }

    #[test]
    fn conmon_is_not_the_container() {
        let path = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-conmon-{ID}.scope"
        );
        assert_eq!(from_cgroup_path(&path), None);
        assert_eq!(pod_uid_from_cgroup_path(&path).as_deref(), Some(UID));
        assert_eq!(
            from_cgroup_path(&format!("/kubepods/pod{UID}/crio-conmon-{ID}")),
            None
        );
    }

    #[test]
    fn prefixes_in_front_and_children_below() {
        let want = pod_container(Some(Runtime::Containerd), QosClass::BestEffort);
        let kind = format!(
            "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(from_cgroup_path(&kind), want);
        let nested = format!("{kind}/init.scope");
        assert_eq!(from_cgroup_path(&nested), want);
        let systemd_inside = format!("{kind}/system.slice/dbus.service");
        assert_eq!(from_cgroup_path(&systemd_inside), want);

        let want = pod_container(None, QosClass::Burstable);
        let kind_cgroupfs = format!("/kubelet/kubepods/burstable/pod{UID}/{ID}/init.scope");
        assert_eq!(from_cgroup_path(&kind_cgroupfs), want);
        // A kind node is a Docker container itself: the pod's container wins.
        let node = "f".repeat(64);
        let in_node = format!("/docker/{node}/kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(from_cgroup_path(&in_node), want);
        // Names a container made below its own cgroup cannot pass for another pod.
        let other = "d".repeat(64);
        let fake = format!("/kubepods/burstable/pod{UID}/{ID}/kubepods/pod{STATIC_UID}/{other}");
        assert_eq!(from_cgroup_path(&fake), want);
        assert_eq!(pod_uid_from_cgroup_path(&fake).as_deref(), Some(UID));
        // As shown from inside a cgroup namespace rooted elsewhere.
        let outside_ns = format!("/../../kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(from_cgroup_path(&outside_ns), want);
    }

    #[test]
    fn static_pods_keep_their_hash_uid() {
        let path = format!("/kubepods/burstable/pod{STATIC_UID}/{ID}");
        let found = from_cgroup_path(&path).expect("a static pod's container");
        assert_eq!(found.pod_uid.as_deref(), Some(STATIC_UID));
        let systemd = format!("/kubepods.slice/kubepods-pod{STATIC_UID}.slice/crio-{ID}.scope");
        assert_eq!(
            pod_uid_from_cgroup_path(&systemd).as_deref(),
            Some(STATIC_UID)
        );
    }

    #[test]
    fn pod_level_cgroups_have_a_pod_but_no_container() {
        for path in [
            format!("/kubepods/burstable/pod{UID}"),
            format!("/kubepods/pod{UID}"),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice"
            ),
        ] {
            assert_eq!(from_cgroup_path(&path), None, "{path}");
            assert_eq!(
                pod_uid_from_cgroup_path(&path).as_deref(),
                Some(UID),
                "{path}"
            );
        }
        for path in ["/kubepods", "/kubepods/burstable", "/kubepods.slice"] {
            assert_eq!(from_cgroup_path(path), None);
            assert_eq!(pod_uid_from_cgroup_path(path), None);
        }
    }

    #[test]
    fn plain_docker() {
        let want = Some(ContainerRef {
            id: ID.to_owned(),
            runtime: Some(Runtime::Docker),
            pod_uid: None,
            qos: None,
        });
        assert_eq!(from_cgroup_path(&format!("/docker/{ID}")), want);
        assert_eq!(
            from_cgroup_path(&format!("/system.slice/docker-{ID}.scope")),
            want
        );
        assert_eq!(from_cgroup_path(&format!("/docker/{ID}/init.scope")), want);
        let inner = "e".repeat(64);
        assert_eq!(
            from_cgroup_path(&format!("/docker/{ID}/docker/{inner}")),
            want
        );
        assert_eq!(pod_uid_from_cgroup_path(&format!("/docker/{ID}")), None);
    }

    #[test]
    fn host_processes_are_not_containers() {
        for path in [
            "/",
            "/init.scope",
            "/user.slice/user-0.slice/session-1.scope",
            "/system.slice/containerd.service",
            "/system.slice/docker.service",
        ] {
            assert_eq!(from_cgroup_path(path), None, "{path}");
        }
    }

    #[test]
    fn look_alikes_are_refused() {
        let short = &ID[..63];
        let upper = ID.to_uppercase();
        let long = format!("{ID}0");
        let not_hex = format!("{}g", &ID[..63]);
        for id in [short, upper.as_str(), long.as_str(), not_hex.as_str()] {
            assert_eq!(
                from_cgroup_path(&format!("/kubepods/pod{UID}/{id}")),
                None,
                "{id}"
            );
            assert_eq!(from_cgroup_path(&format!("/docker/{id}")), None, "{id}");
            let scope = format!("/system.slice/docker-{id}.scope");
            assert_eq!(from_cgroup_path(&scope), None, "{id}");
        }
        for uid in [
            &UID[..35],
            "1B2C3D4E-5F60-4A1B-8C2D-3E4F5A6B7C8D",
            "1b2c3d4e5-f60-4a1b-8c2d-3e4f5a6b7c8d",
            "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d-",
            "zb2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d",
            &STATIC_UID[..31],
        ] {
            let path = format!("/kubepods/burstable/pod{uid}/{ID}");
            assert_eq!(from_cgroup_path(&path), None, "{uid}");
            assert_eq!(pod_uid_from_cgroup_path(&path), None, "{uid}");
        }
        // Dashes where systemd needs underscores, and the other way round.
        let dashed = format!("/kubepods.slice/kubepods-pod{UID}.slice/crio-{ID}.scope");
        assert_eq!(from_cgroup_path(&dashed), None);
        assert_eq!(from_cgroup_path(&format!("/kubepods/pod{UID_}/{ID}")), None);
        // A QoS slice that does not repeat its parent's name.
        let wrong_parent = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod{UID_}.slice/crio-{ID}.scope"
        );
        assert_eq!(from_cgroup_path(&wrong_parent), None);
        // systemd scopes need the runtime prefix; cgroupfs names need no suffix.
        let bare_scope = format!("/kubepods.slice/kubepods-pod{UID_}.slice/{ID}.scope");
        assert_eq!(from_cgroup_path(&bare_scope), None);
        assert_eq!(
            from_cgroup_path(&format!("/kubepods/pod{UID}/{ID}.scope")),
            None
        );
        // pod segments outside a kubelet hierarchy.
        for path in [
            format!("/pod{UID}/{ID}"),
            format!("/mykubepods/burstable/pod{UID}/{ID}"),
            format!("/system.slice/pod{UID}/{ID}"),
        ] {
            assert_eq!(from_cgroup_path(&path), None, "{path}");
            assert_eq!(pod_uid_from_cgroup_path(&path), None, "{path}");
        }
        // A kubelet hierarchy that does not parse is not read as plain Docker.
        assert_eq!(
            from_cgroup_path(&format!("/kubepods/foo/docker/{ID}")),
            None
        );
        // Docker scopes need a slice above them.
        assert_eq!(from_cgroup_path(&format!("/foo/docker-{ID}.scope")), None);
    }

    #[test]
    fn hostile_input() {
        assert_eq!(from_cgroup_path(""), None);
        assert_eq!(from_cgroup_path("/"), None);
        assert_eq!(from_cgroup_path("//////"), None);
        assert_eq!(pod_uid_from_cgroup_path(""), None);
        let huge = format!("/kubepods/pod{UID}/{ID}{}", "/a".repeat(1_000_000));
        assert_eq!(from_cgroup_path(&huge), None);
        let deep = "/kubepods".repeat(400);
        assert_eq!(from_cgroup_path(&deep), None);
        // Non-ASCII next to and inside the names, where a byte-offset slice would panic.
        for path in [
            format!("/kubepods/pod{UID}/é{}", &ID[1..]),
            format!("/kubepods/pod{}é/{ID}", &UID[..35]),
            format!("/kubepods.slice/kubepods-pod{UID_}.slice/crio-{ID}.scopé"),
            "/ü/кубе/pod/🦀/docker/🦀".to_owned(),
            format!("/docker/{}", "é".repeat(32)),
        ] {
            assert_eq!(from_cgroup_path(&path), None, "{path}");
        }
        // `..` and `.` after a name would change which cgroup is meant.
        for path in [
            format!("/kubepods/burstable/pod{UID}/../{ID}"),
            format!("/kubepods/burstable/pod{UID}/{ID}/.."),
            format!("/kubepods/./pod{UID}/{ID}"),
        ] {
            assert_eq!(from_cgroup_path(&path), None, "{path}");
            assert_eq!(pod_uid_from_cgroup_path(&path), None, "{path}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(Runtime::Containerd.name(), "containerd");
        assert_eq!(Runtime::CriO.name(), "cri-o");
        assert_eq!(Runtime::Docker.name(), "docker");
        assert_eq!(QosClass::Guaranteed.name(), "Guaranteed");
        assert_eq!(QosClass::Burstable.name(), "Burstable");
        assert_eq!(QosClass::BestEffort.name(), "BestEffort");
    }
}
