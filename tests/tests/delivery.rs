//! Findings from a real container to the collector and back out through
//! `sensorctl`, on the real kernel: with their pod; across a collector outage
//! (every finding arrives, once); and across a SIGKILL of the sensor (what it
//! had spooled is delivered by the next run).

use std::{
    collections::BTreeSet,
    path::Path,
    time::{Duration, Instant},
};

use sensor_tests::{
    can_load_ebpf,
    collector::{Collector, free_addr, make_certs, node},
    container::Container,
    kubelet::{KubeletServer, TestPod},
    nonce, tmp_dir,
    trace::Trace,
};
use serde_json::Value;

/// How long the collector stays down in the outage test (the issue asks for a
/// minute; `DELIVERY_OUTAGE_SECS` shortens it for a quick local run).
fn outage() -> Duration {
    let secs = std::env::var("DELIVERY_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// A rule that fires when a container opens a file under `/etc/<marker>`.
fn rules(dir: &Path, marker: &str) -> String {
    let path = dir.join("rules.yaml");
    let text = format!(
        r#"
- rule: Marker read
  desc: a test rule
  condition: evt.type in (open, openat) and fd.name startswith /etc/{marker} and container.id != host
  output: "%proc.name read %fd.name in %container.id"
  priority: WARNING
  tags: [test, T1005]
"#
    );
    std::fs::write(&path, text).expect("writing rules");
    path.display().to_string()
}

/// `sensor run` with the rules, findings on stdout too (to compare), no noise
/// control, pods from `kubelet` (the node's name, which the sensor's certificate
/// carries, turns the kubelet on), shipping to `collector` with the spool in
/// `spool`.
fn sensor(collector: &Collector, kubelet: &KubeletServer, rules: &str, spool: &Path) -> Trace {
    sensor_with(collector, kubelet, rules, spool, &[])
}

/// [`sensor`] with `extra` arguments.
fn sensor_with(
    collector: &Collector,
    kubelet: &KubeletServer,
    rules: &str,
    spool: &Path,
    extra: &[&str],
) -> Trace {
    let (url, ca, token) = (
        kubelet.url(),
        kubelet.ca_file().display().to_string(),
        kubelet.token_file().display().to_string(),
    );
    let mut args: Vec<String> = [
        "--stdout",
        "--rules",
        rules,
        "--fold-window-secs",
        "0",
        "--rule-rate",
        "0",
        "--node-name",
        node(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(collector.sensor_args(node(), spool));
    for (flag, value) in [
        ("--kubelet-url", url),
        ("--kubelet-ca-file", ca),
        ("--kubelet-token-file", token),
    ] {
        args.extend([flag.to_owned(), value]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Trace::run(&args)
}

/// A container that reads `/etc/<marker>-1` .. `-n`, run to its end.
fn reader(marker: &str, n: usize) -> Container {
    let files: Vec<(String, &str)> = (1..=n)
        .map(|i| (format!("etc/{marker}-{i}"), "x"))
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    // In number order (a glob would sort -10 before -2): the last read is `-n`.
    let script = format!("i=1; while [ $i -le {n} ]; do cat /etc/{marker}-$i; i=$((i+1)); done");
    Container::create_with_files(&nonce("deliver"), &["sh", "-c", &script], 0, 0, &files)
}

/// Findings of the marker rule on stdout until `n` came (or 30 s).
fn stdout_ids(run: &Trace, n: usize) -> BTreeSet<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ids = BTreeSet::new();
    while ids.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = run.lines.recv_timeout(left) else {
            break;
        };
        let f: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if f["rule"] == "Marker read" {
            ids.insert(f["uuid"].as_str().expect("a uuid").to_owned());
        }
    }
    assert_eq!(ids.len(), n, "findings on stdout");
    ids
}

fn ids(found: &[Value]) -> Vec<String> {
    found
        .iter()
        .map(|f| f["uuid"].as_str().expect("a uuid").to_owned())
        .collect()
}

#[test]
fn a_finding_reaches_sensorctl_with_its_pod() {
    if !can_load_ebpf("a_finding_reaches_sensorctl_with_its_pod") {
        return;
    }
    let dir = tmp_dir("delivery-pod");
    make_certs(&dir, &[node()]);
    let collector = Collector::start_logged(&dir, free_addr());
    let kubelet = KubeletServer::start();
    let marker = nonce("secret");
    let rules = rules(&dir, &marker);
    let mut run = sensor(&collector, &kubelet, &rules, &dir.join("spool"));
    let c = reader(&marker, 1);
    kubelet.add_pod(
        TestPod::new("shop", "web-5d4f8b7c9-x2k4q", &c.pod_uid)
            .owner_replicaset("web-5d4f8b7c9", "5d4f8b7c9")
            .label("app", "web")
            .container(
                "app",
                "registry.example/shop/web:1.0",
                &format!("containerd://{}", c.id),
            ),
    );
    c.start();
    c.wait(Duration::from_secs(30));
    let sent = stdout_ids(&run, 1);
    let filter = format!("fd.name startswith /etc/{marker} and k8s.ns.name = shop");
    let found = collector.wait_findings(&filter, 1, Duration::from_secs(30));
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(ids(&found), sent.into_iter().collect::<Vec<_>>());
    assert_eq!(f["rule"], "Marker read");
    assert_eq!(f["priority"], "Warning");
    assert_eq!(f["hostname"], node());
    assert_eq!(f["tags"], serde_json::json!(["test", "T1005"]));
    let fields = &f["output_fields"];
    assert_eq!(fields["k8s.ns.name"], "shop", "{fields}");
    assert_eq!(fields["k8s.pod.name"], "web-5d4f8b7c9-x2k4q");
    assert_eq!(fields["k8s.pod.uid"], c.pod_uid.as_str());
    assert_eq!(fields["container.full_id"], c.id.as_str());
    assert_eq!(fields["fd.name"], format!("/etc/{marker}-1"));
    assert_eq!(fields["proc.name"], "cat");
    // The table for people shows the pod too.
    let table = collector.sensorctl(&["findings", "--where", &filter]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    assert!(
        text.contains("shop/web-5d4f8b7c9-x2k4q") && text.contains("Marker read"),
        "{text}"
    );
    // A filter that holds for nothing finds nothing.
    assert!(
        collector
            .findings(&format!("{filter} and k8s.ns.name = prod"))
            .is_empty()
    );
    // A sensor stopped as the kubelet stops it ends its stream cleanly: the
    // collector sees an end, not a broken connection.
    assert!(run.stop(libc::SIGTERM).success());
    let log = collector.log();
    assert!(
        log.contains("ingest stream closed") && !log.contains("ingest stream ended"),
        "{log}"
    );
}

#[test]
fn findings_made_while_the_collector_is_down_arrive_once() {
    if !can_load_ebpf("findings_made_while_the_collector_is_down_arrive_once") {
        return;
    }
    const N: usize = 20;
    let dir = tmp_dir("delivery-outage");
    make_certs(&dir, &[node()]);
    let addr = free_addr();
    let mut collector = Collector::start(&dir, addr);
    let marker = nonce("outage");
    let rules = rules(&dir, &marker);
    let kubelet = KubeletServer::start();
    let run = sensor(&collector, &kubelet, &rules, &dir.join("spool"));
    run.wait_log("connected to the collector", Duration::from_secs(20));
    collector.kill();
    let c = reader(&marker, N);
    c.start();
    c.wait(Duration::from_secs(30));
    let sent = stdout_ids(&run, N);
    std::thread::sleep(outage());
    let collector = Collector::start(&dir, addr);
    let filter = format!("fd.name startswith /etc/{marker}");
    // The sensor's backoff is at most 30 s.
    let found = collector.wait_findings(&filter, N, Duration::from_secs(60));
    let got = ids(&found);
    assert_eq!(got.len(), N, "every finding arrives, once: {got:?}");
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), sent);
    // Resends after the outage did not make copies: the stats count N.
    let stats = collector.sensorctl(&["stats", "--by", "rule", "--where", &filter, "-o", "json"]);
    let line = String::from_utf8_lossy(&stats.stdout);
    let stats: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(stats["findings"], N, "{stats}");
    drop(c);
}

#[test]
fn a_killed_sensor_delivers_its_spool_when_it_comes_back() {
    if !can_load_ebpf("a_killed_sensor_delivers_its_spool_when_it_comes_back") {
        return;
    }
    const N: usize = 10;
    let dir = tmp_dir("delivery-restart");
    make_certs(&dir, &[node()]);
    let addr = free_addr();
    // No collector yet: the findings can only wait in the spool.
    let mut collector = Collector::start(&dir, addr);
    collector.kill();
    let marker = nonce("restart");
    let rules = rules(&dir, &marker);
    let spool = dir.join("spool");
    let kubelet = KubeletServer::start();
    let mut run = sensor(&collector, &kubelet, &rules, &spool);
    let c = reader(&marker, N);
    c.start();
    c.wait(Duration::from_secs(30));
    let sent = stdout_ids(&run, N);
    run.child.kill().expect("SIGKILL to the sensor");
    run.child.wait().expect("the sensor ends");
    let collector = Collector::start(&dir, addr);
    let filter = format!("fd.name startswith /etc/{marker}");
    // Nobody sent them: the collector holds none until the sensor is back.
    std::thread::sleep(Duration::from_secs(1));
    assert!(collector.findings(&filter).is_empty());
    let _run = sensor(&collector, &kubelet, &rules, &spool);
    let found = collector.wait_findings(&filter, N, Duration::from_secs(60));
    assert_eq!(ids(&found).into_iter().collect::<BTreeSet<_>>(), sent);
    assert_eq!(found.len(), N);
    drop(c);
}

#[test]
fn a_full_spool_drops_the_oldest_findings_and_says_how_many() {
    if !can_load_ebpf("a_full_spool_drops_the_oldest_findings_and_says_how_many") {
        return;
    }
    const N: usize = 300;
    let dir = tmp_dir("delivery-full");
    make_certs(&dir, &[node()]);
    let addr = free_addr();
    let mut collector = Collector::start(&dir, addr);
    collector.kill();
    let marker = nonce("full");
    let rules = rules(&dir, &marker);
    let kubelet = KubeletServer::start();
    // 128 KiB holds a few dozen findings; the container makes 300 while no
    // collector listens.
    let run = sensor_with(
        &collector,
        &kubelet,
        &rules,
        &dir.join("spool"),
        &["--spool-max-bytes", "128KiB"],
    );
    let c = reader(&marker, N);
    c.start();
    c.wait(Duration::from_secs(30));
    stdout_ids(&run, N);
    run.wait_log("spool was full", Duration::from_secs(10));
    let collector = Collector::start(&dir, addr);
    let lost = collector.wait_findings(
        "rule = \"Sensor lost findings\"",
        1,
        Duration::from_secs(60),
    );
    assert!(!lost.is_empty(), "a finding says findings were lost");
    let reported: u64 = lost
        .iter()
        .map(|f| f["output_fields"]["drop.count"].as_u64().expect("a count"))
        .sum();
    let filter = format!("fd.name startswith /etc/{marker}");
    // What the spool kept arrives: the newest findings, the last file's among them.
    let last = format!("/etc/{marker}-{N}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let kept = loop {
        let kept = collector.findings(&filter);
        if kept
            .iter()
            .any(|f| f["output_fields"]["fd.name"] == last.as_str())
            || Instant::now() >= deadline
        {
            break kept;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        kept.iter()
            .any(|f| f["output_fields"]["fd.name"] == last.as_str()),
        "the newest finding is kept"
    );
    assert!(
        kept.len() < N,
        "the spool cannot hold {N}: {} arrived",
        kept.len()
    );
    assert!(
        reported >= (N - kept.len()) as u64,
        "{reported} reported lost, {} of {N} arrived",
        kept.len()
    );
    drop(c);
}
