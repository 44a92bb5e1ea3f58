use prost::Message as _;
use serde_json::json;

use super::*;

/// A finding as `sensor run` prints it for a shell in a pod.
fn sample() -> Json {
    json!({
        "time": "2026-11-23T17:28:46.439914700Z",
        "rule": "Terminal shell in container",
        "priority": "Notice",
        "output": "17:28:46.439914700: Notice A shell was spawned (user=root shell=sh)",
        "output_fields": {
            "evt.rawtime": 1_795_454_926_439_914_700_u64,
            "evt.type": "execve",
            "proc.pid": 8653,
            "proc.ppid": 8647,
            "proc.name": "sh",
            "proc.exepath": "/bin/busybox",
            "proc.cmdline": "sh -i",
            "proc.argv": ["sh", "-i"],
            "proc.exec_id": "8653-1795454926",
            "proc.pexec_id": "8647-1795454900",
            "proc.pname": "runc",
            "proc.pexepath": "/usr/sbin/runc",
            "proc.pcmdline": "runc exec",
            "proc.aname": ["sh", "runc", "containerd-shim", "systemd"],
            "proc.aexepath": ["/bin/busybox", "/usr/sbin/runc", "/usr/bin/containerd-shim", "/lib/systemd/systemd"],
            "user.loginuid": -1,
            "proc.is_exe_changed": false,
            "fd.num": null,
            "container.id": "0123456789ab",
            "container.full_id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "container.name": "web",
            "container.image": "nginx:1.27",
            "container.type": "containerd",
            "k8s.ns.name": "prod",
            "k8s.pod.name": "web-7d9f-abc12",
            "k8s.pod.uid": "5f0c-uid",
            "k8s.pod.labels": {"app": "web", "tier": "front"},
            "k8s.workload.kind": "Deployment",
            "k8s.workload.name": "web",
            "k8s.node.name": "node-1",
            "odd": [1, "two"],
            "ratio": 0.5
        },
        "tags": ["container", "shell", "mitre_execution", "T1059"],
        "hostname": "node-1",
        "source": "syscall",
        "uuid": "01936f2e-5a1b-7c3d-8e4f-a1b2c3d4e5f6",
        "count": 3,
        "suppressed": 2
    })
}

#[test]
fn a_sensor_finding_converts_with_its_context() {
    let f = finding_from_falco_json(&sample()).expect("converts");
    assert_eq!(f.id, "01936f2e-5a1b-7c3d-8e4f-a1b2c3d4e5f6");
    assert_eq!(f.time_unix_nano, 1_795_454_926_439_914_700);
    assert_eq!(f.rule, "Terminal shell in container");
    assert_eq!(f.priority(), Priority::Notice);
    assert_eq!(f.output, "A shell was spawned (user=root shell=sh)");
    assert_eq!(f.tags.len(), 4);
    assert_eq!((f.source.as_str(), f.node.as_str()), ("syscall", "node-1"));
    assert_eq!((f.count, f.suppressed), (3, 2));

    let names: Vec<_> = f.ancestry.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["sh", "runc", "containerd-shim", "systemd"]);
    assert_eq!(f.ancestry[0].pid, 8653);
    assert_eq!(f.ancestry[0].cmdline, "sh -i");
    assert_eq!(f.ancestry[0].exec_id, "8653-1795454926");
    assert_eq!(f.ancestry[1].pid, 8647);
    assert_eq!(f.ancestry[1].exepath, "/usr/sbin/runc");
    assert_eq!(f.ancestry[1].exec_id, "8647-1795454900");
    assert_eq!(f.ancestry[3].exepath, "/lib/systemd/systemd");
    assert_eq!(
        f.ancestry[3].pid, 0,
        "the sensor does not report a grandparent's pid"
    );

    let c = f.container.as_ref().expect("container");
    assert_eq!(c.id.len(), 64);
    assert_eq!(
        (c.name.as_str(), c.image.as_str(), c.runtime.as_str()),
        ("web", "nginx:1.27", "containerd")
    );
    let pod = f.pod.as_ref().expect("pod");
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("prod", "web-7d9f-abc12")
    );
    assert_eq!(pod.labels.get("tier").map(String::as_str), Some("front"));
    assert_eq!(
        (pod.workload_kind.as_str(), pod.workload_name.as_str()),
        ("Deployment", "web")
    );
    assert_eq!(pod.node, "node-1");

    let kind = |k: &str| f.fields.get(k).and_then(|v| v.kind.clone());
    assert_eq!(kind("proc.pid"), Some(Kind::UintValue(8653)));
    assert_eq!(kind("user.loginuid"), Some(Kind::IntValue(-1)));
    assert_eq!(kind("proc.is_exe_changed"), Some(Kind::BoolValue(false)));
    assert_eq!(kind("ratio"), Some(Kind::DoubleValue(0.5)));
    assert_eq!(kind("fd.num"), None, "null is a field without a value");
    assert!(f.fields.contains_key("fd.num"));
    assert!(matches!(kind("proc.argv"), Some(Kind::ListValue(l)) if l.values == ["sh", "-i"]));
    assert!(matches!(kind("k8s.pod.labels"), Some(Kind::MapValue(m)) if m.values.len() == 2));
    assert_eq!(kind("odd"), Some(Kind::JsonValue(r#"[1,"two"]"#.into())));
}

#[test]
fn json_to_proto_and_back_is_the_same_finding() {
    let original = sample();
    let f = finding_from_falco_json(&original).expect("converts");
    let bytes = f.encode_to_vec();
    let decoded = Finding::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(decoded, f);
    assert_eq!(finding_to_falco_json(&decoded), original);
}

#[test]
fn a_host_finding_has_no_container_or_pod() {
    let mut j = sample();
    let fields = j["output_fields"].as_object_mut().expect("object");
    fields.retain(|k, _| !k.starts_with("k8s.") && !k.starts_with("container."));
    fields.insert("container.id".into(), "host".into());
    let f = finding_from_falco_json(&j).expect("converts");
    assert_eq!((f.container, f.pod), (None, None));
}

#[test]
fn defaults_and_the_time_without_rawtime() {
    let j = json!({
        "time": "2026-11-23T17:28:46.000000001Z",
        "rule": "r",
        "priority": "INFO",
        "uuid": "u",
    });
    let f = finding_from_falco_json(&j).expect("converts");
    assert_eq!(f.time_unix_nano, 1_795_454_926_000_000_001);
    assert_eq!(f.priority(), Priority::Informational);
    assert_eq!((f.count, f.suppressed), (1, 0));
    assert!(f.fields.is_empty() && f.ancestry.is_empty() && f.tags.is_empty());
    assert_eq!(f.output, "", "no output is an empty one");
}

#[test]
fn bad_findings_are_errors() {
    let with = |key: &str, value: Json| {
        let mut j = sample();
        j[key] = value;
        finding_from_falco_json(&j)
    };
    let without = |key: &str| {
        let mut j = sample();
        j.as_object_mut().expect("object").remove(key);
        finding_from_falco_json(&j)
    };
    assert_eq!(
        finding_from_falco_json(&json!([1])),
        Err(FromJsonError::NotAnObject)
    );
    assert_eq!(
        without("uuid"),
        Err(FromJsonError::Missing { member: "uuid" })
    );
    assert!(matches!(
        with("rule", json!(7)),
        Err(FromJsonError::WrongType { member: "rule", .. })
    ));
    assert!(matches!(
        with("priority", json!("LOUD")),
        Err(FromJsonError::BadPriority { .. })
    ));
    assert!(matches!(
        with("count", json!(-1)),
        Err(FromJsonError::WrongType {
            member: "count",
            ..
        })
    ));
    assert!(matches!(
        with("tags", json!(["a", 1])),
        Err(FromJsonError::WrongType { member: "tags", .. })
    ));
    assert!(matches!(
        with("output_fields", json!("x")),
        Err(FromJsonError::WrongType { .. })
    ));
    let mut j = sample();
    j["output_fields"]
        .as_object_mut()
        .expect("object")
        .remove("evt.rawtime");
    j["time"] = json!("yesterday");
    assert!(matches!(
        finding_from_falco_json(&j),
        Err(FromJsonError::BadTime { .. })
    ));
}
