//! Findings as a cluster's sensors make them, for the collector and store
//! benchmarks: node `k` runs its own pods, each pod is in one namespace, each
//! rule has its one priority; files and processes vary from finding to finding.

use std::collections::BTreeMap;

use sensor_proto::v1::{
    ContainerInfo, Finding, PodInfo, Priority, ProcessInfo, Value, value::Kind,
};

/// The processes findings are about.
pub const PROCS: [&str; 8] = [
    "sh", "bash", "cat", "curl", "nc", "python3", "java", "nginx",
];

fn text(s: impl Into<String>) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.into())),
    }
}

/// Pods that run on each node.
pub const PODS_PER_NODE: u64 = 25;

/// A finding as the sensor makes them, from a cluster as clusters are: node
/// `node_index` runs its own 25 pods, each pod is in one of 20 namespaces, and each
/// of the 50 rules has its one priority; the files (1,000) and processes
/// vary from finding to finding. A dozen fields.
pub fn finding(node_index: u64, node: &str, n: u64, time_ns: u64) -> Finding {
    let rule_n = n % 50;
    let rule = format!("Rule {rule_n}");
    let pod_n = node_index * PODS_PER_NODE + n % PODS_PER_NODE;
    let ns = format!("ns-{}", pod_n % 20);
    let pod = format!("web-{}-{}", pod_n / 13, pod_n % 13);
    let proc_name = PROCS[(n % PROCS.len() as u64) as usize];
    let file = format!("/etc/file-{}", n % 1000);
    let mut fields = BTreeMap::new();
    for (k, v) in [
        ("proc.name", proc_name.to_owned()),
        ("proc.cmdline", format!("{proc_name} -c id {n}")),
        ("proc.exepath", format!("/usr/bin/{proc_name}")),
        ("fd.name", file.clone()),
        ("evt.type", "openat".into()),
        ("user.name", "root".into()),
        ("container.id", format!("{pod_n:012x}")),
        ("container.image", "registry.example/shop/web:1.0".into()),
        ("k8s.ns.name", ns.clone()),
        ("k8s.pod.name", pod.clone()),
    ] {
        fields.insert(k.to_owned(), text(v));
    }
    fields.insert(
        "proc.pid".into(),
        Value {
            kind: Some(Kind::UintValue(n % 65536)),
        },
    );
    Finding {
        id: format!("{node}-{n:012}"),
        time_unix_nano: time_ns,
        rule,
        priority: Priority::ALL[(rule_n % 8) as usize] as i32,
        output: format!(
            "{proc_name} read {file} in pod {ns}/{pod} (user=root cmd={proc_name} -c id {n})"
        ),
        tags: vec!["container".into(), "T1005".into()],
        source: "syscall".into(),
        node: node.to_owned(),
        count: 1,
        suppressed: 0,
        fields,
        ancestry: vec![ProcessInfo {
            pid: (n % 65536) as u32,
            name: proc_name.into(),
            exepath: format!("/usr/bin/{proc_name}"),
            cmdline: format!("{proc_name} -c id {n}"),
            exec_id: format!("{n:x}"),
        }],
        container: Some(ContainerInfo {
            id: format!("{pod_n:064x}"),
            name: "web".into(),
            image: "registry.example/shop/web:1.0".into(),
            runtime: "containerd".into(),
        }),
        pod: Some(PodInfo {
            namespace: ns,
            name: pod,
            uid: format!("{pod_n:08x}-0000-4000-8000-000000000000"),
            labels: [("app".to_owned(), "web".to_owned())].into(),
            workload_kind: "Deployment".into(),
            workload_name: "web".into(),
            node: node.to_owned(),
        }),
    }
}
