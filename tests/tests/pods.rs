//! `sensor trace` with a kubelet: exec, open and connect events from real runc
//! containers carry their pod, in both cgroup layouts, also for a pod the kubelet
//! lists only after its container started; when the kubelet goes away events keep
//! their container id and pod UID, and pod metadata comes back with the kubelet.

use std::{
    io::Read as _,
    net::TcpListener,
    time::{Duration, Instant},
};

use sensor_tests::{
    can_load_ebpf,
    container::{Container, Layout, Spec},
    kubelet::{KubeletServer, TestPod},
    nonce,
    trace::Trace,
};
use serde_json::Value;

/// Reads JSON lines until `done` has seen what it wants, or `timeout`.
fn read_until(
    trace: &Trace,
    timeout: Duration,
    mut done: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Ok(line) = trace
        .lines
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let stop = done(&value);
        seen.push(value);
        if stop {
            break;
        }
    }
    seen
}

fn argv1_is(value: &Value, marker: &str) -> bool {
    value["proc.argv"][1] == marker
}

fn container(marker: &str, script: &str, layout: Layout) -> Container {
    Container::create_spec(&Spec {
        nonce: marker,
        args: &["/bin/sh", "-c", script],
        uid: 0,
        gid: 0,
        files: &[("/etc/hostname", "pod-test\n")],
        host_network: true,
        layout,
    })
}

fn web_pod(c: &Container) -> TestPod {
    TestPod::new("shop", "web-5d4f8b7c9-x2k4q", &c.pod_uid)
        .owner_replicaset("web-5d4f8b7c9", "5d4f8b7c9")
        .label("app", "web")
        .service_account("web-sa")
        .container("nginx", "registry.example:5000/team/nginx:1.25", &format!("containerd://{}", c.id))
        .image_id("registry.example:5000/team/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
}

fn trace_with(kubelet: &KubeletServer, extra: &[&str]) -> Trace {
    let url = kubelet.url();
    let ca = kubelet.ca_file().display().to_string();
    let token = kubelet.token_file().display().to_string();
    let mut args = vec![
        "--node-name",
        sensor_tests::kubelet::NODE_NAME,
        "--kubelet-url",
        &url,
        "--kubelet-ca-file",
        &ca,
        "--kubelet-token-file",
        &token,
        "--poll-ms",
        "20",
    ];
    args.extend_from_slice(extra);
    Trace::start(&args)
}

#[test]
fn exec_open_and_connect_carry_their_pod_in_both_cgroup_layouts() {
    if !can_load_ebpf("pods") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = listener.local_addr().expect("its address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.read(&mut [0; 16]);
        }
    });
    let kubelet = KubeletServer::start();
    let (a, b) = (nonce("pod-a"), nonce("pod-b"));
    let script = |marker: &str| {
        format!("/bin/cat /etc/hostname; echo hi | /bin/nc 127.0.0.1 {port}; /bin/echo {marker}")
    };
    let listed = container(&a, &script(&a), Layout::Cgroupfs);
    let late = container(&b, &script(&b), Layout::Systemd);
    kubelet.set_pods([web_pod(&listed).build()]);
    let trace = trace_with(&kubelet, &["--events", "exec,open,connect"]);

    listed.start();
    late.start();
    // The kubelet lists the second pod only after its container ran.
    std::thread::sleep(Duration::from_millis(200));
    kubelet.add_pod(
        TestPod::new("batch", "report-29000000-abcde", &late.pod_uid)
            .owner_job("report-29000000")
            .container("report", "busybox", &format!("containerd://{}", late.id))
            .build(),
    );
    let (mut done_a, mut done_b) = (false, false);
    let seen = read_until(&trace, Duration::from_secs(20), |v| {
        done_a |= argv1_is(v, &a);
        done_b |= argv1_is(v, &b);
        done_a && done_b
    });

    for (c, pod, container_name) in [
        (&listed, "web-5d4f8b7c9-x2k4q", "nginx"),
        (&late, "report-29000000-abcde", "report"),
    ] {
        let mine: Vec<&Value> = seen
            .iter()
            .filter(|v| v["container.full_id"] == c.id.as_str())
            .collect();
        let kinds = |t: &str| {
            mine.iter()
                .filter(|v| v["evt.type"].as_str().is_some_and(|e| e.starts_with(t)))
                .count()
        };
        assert!(kinds("execve") >= 3, "execs of {pod}: {mine:#?}");
        assert!(
            mine.iter()
                .any(|v| v["evt.type"] == "connect" && v["fd.rport"] == port),
            "the connect of {pod}"
        );
        assert!(
            mine.iter().any(|v| v["evt.type"]
                .as_str()
                .is_some_and(|t| t.starts_with("open"))
                && v["fd.name"] == "/etc/hostname"),
            "the open of {pod}"
        );
        for v in &mine {
            assert_eq!(v["k8s.pod.name"], pod, "{v}");
            assert_eq!(v["k8s.pod.uid"], c.pod_uid.as_str(), "{v}");
            assert_eq!(v["container.name"], container_name, "{v}");
            assert_eq!(v["container.id"], &c.id[..12], "{v}");
            assert_eq!(v["proc.container_entry"], "init", "{v}");
        }
    }
    for v in &seen {
        for key in v.as_object().expect("an object").keys() {
            assert!(
                sensor::fields::find(key).is_some(),
                "{key} is not in the catalogue"
            );
        }
    }
    let web = seen
        .iter()
        .find(|v| argv1_is(v, &a))
        .expect("the web pod's echo");
    assert_eq!(web["k8s.ns.name"], "shop");
    assert_eq!(web["k8s.workload.kind"], "Deployment");
    assert_eq!(web["k8s.workload.name"], "web");
    assert_eq!(web["k8s.deployment.name"], "web");
    assert_eq!(web["k8s.rs.name"], "web-5d4f8b7c9");
    assert_eq!(web["k8s.pod.labels"]["app"], "web");
    assert_eq!(web["k8s.pod.service_account"], "web-sa");
    assert_eq!(web["k8s.node.name"], sensor_tests::kubelet::NODE_NAME);
    assert_eq!(
        web["container.image.repository"],
        "registry.example:5000/team/nginx"
    );
    assert_eq!(web["container.image.tag"], "1.25");
    assert_eq!(
        web["container.image.digest"],
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        web["container.type"], "containerd",
        "from the kubelet's container id"
    );
    assert_eq!(web["container.privileged"], false);
    // The shell forks cat (its last command, echo, it execs in its own place).
    let cat = seen
        .iter()
        .find(|v| v["container.full_id"] == listed.id.as_str() && v["proc.argv"][0] == "/bin/cat")
        .expect("the web pod's cat");
    assert_eq!(cat["proc.aname"][0], "cat");
    assert_eq!(cat["proc.pname"], "sh");
    assert_eq!(
        cat["proc.pcmdline"]
            .as_str()
            .map(|c| c.starts_with("sh -c")),
        Some(true)
    );
    let report = seen
        .iter()
        .find(|v| argv1_is(v, &b))
        .expect("the late pod's echo");
    assert_eq!(report["k8s.workload.kind"], "CronJob");
    assert_eq!(report["k8s.workload.name"], "report");
    assert_eq!(report["k8s.job.name"], "report-29000000");
    assert_eq!(
        report["container.type"], "containerd",
        "from the systemd scope's name"
    );
}

#[test]
fn without_the_kubelet_events_keep_their_container_and_pod_uid() {
    if !can_load_ebpf("pods_kubelet_away") {
        return;
    }
    let kubelet = KubeletServer::start();
    let marker = nonce("away");
    // A loop that execs a marked echo every 100 ms, for as long as the test runs.
    let script = format!("while true; do /bin/echo {marker}; /bin/sleep 0.1; done");
    let c = container(&marker, &script, Layout::Cgroupfs);
    kubelet.set_pods([web_pod(&c).build()]);
    // This time the kubelet is set in the config file, as a ConfigMap would.
    let config = kubelet.dir().join("sensor.yaml");
    std::fs::write(
        &config,
        format!(
            "context:\n  kubelet:\n    node_name: {}\n    url: {}\n    ca_file: {}\n    token_file: {}\n    refresh_interval: 2s\n",
            sensor_tests::kubelet::NODE_NAME,
            kubelet.url(),
            kubelet.ca_file().display(),
            kubelet.token_file().display()
        ),
    )
    .expect("writing the config file");
    let config = config.display().to_string();
    let trace = Trace::start(&["--config", &config, "--events", "exec", "--poll-ms", "20"]);
    kubelet.stop();
    c.start();
    let echo = |v: &Value| argv1_is(v, &marker);
    let away = read_until(&trace, Duration::from_secs(10), |v| echo(v));
    let away = away
        .iter()
        .find(|v| echo(v))
        .expect("an echo while the kubelet is away");
    assert_eq!(away["container.full_id"], c.id.as_str());
    assert_eq!(
        away["k8s.pod.uid"],
        c.pod_uid.as_str(),
        "from the cgroup path"
    );
    assert!(away.get("k8s.pod.name").is_none(), "nobody said: {away}");
    trace.wait_log("kubelet", Duration::from_secs(10));

    kubelet.restart();
    let back = read_until(&trace, Duration::from_secs(30), |v| {
        echo(v) && v.get("k8s.pod.name").is_some()
    });
    let back = back.last().expect("events after the kubelet came back");
    assert!(echo(back), "an echo with its pod again within 30 s");
    assert_eq!(back["k8s.pod.name"], "web-5d4f8b7c9-x2k4q");
}

#[test]
fn a_wait_for_a_pod_loses_no_events() {
    if !can_load_ebpf("pods_hold") {
        return;
    }
    // The kubelet answers, but never lists this container: its events wait the
    // whole --pod-wait-ms, while execs keep coming into a small ring: 2,000 exec
    // records are about 5 MiB, five times the ring, so a reader that stopped for
    // the wait would lose some; one that reads on has room to spare.
    let kubelet = KubeletServer::start();
    let marker = nonce("hold");
    let c = container(&marker, &format!("/bin/echo {marker}"), Layout::Cgroupfs);
    let trace = trace_with(
        &kubelet,
        &[
            "--events",
            "exec",
            "--ring-bytes",
            "1048576",
            "--pod-wait-ms",
            "3000",
        ],
    );
    let started = Instant::now();
    c.start();
    let burst = nonce("burst");
    let mut workload = sensor_tests::workload::spawn_execs(2_000, &burst);
    assert!(workload.wait().expect("the workload").success());
    let mut execs = 0;
    let mut drops = 0;
    let mut held = None;
    let _ = read_until(&trace, Duration::from_secs(30), |v| {
        // Records lost, not fields cut: other processes' long argument lists are
        // reported as `truncated` drops too.
        if v["evt.type"] == "drop" && v["drop.reason"] == "ring_full" {
            drops += v["drop.count"].as_u64().unwrap_or(1);
        }
        if argv1_is(v, &marker) {
            held = Some(started.elapsed());
        }
        if v["proc.argv"][0] == "/bin/true" && v["proc.argv"][1] == burst.as_str() {
            execs += 1;
        }
        execs == 2_000 && held.is_some()
    });
    assert_eq!(drops, 0, "no record lost");
    assert_eq!(execs, 2_000, "every exec of the burst");
    let held = held.expect("the container's echo");
    assert!(
        held >= Duration::from_secs(2),
        "the unlisted container's events waited: {held:?}"
    );
}
