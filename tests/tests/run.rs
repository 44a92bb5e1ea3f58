//! `sensor run` on the real kernel: a rule matched in a real runc container gives
//! a finding in Falco's JSON with the container's context; rule files reload on
//! change and on SIGHUP, a bad file is refused while the rules in force stay; and
//! identical findings fold into one with a count.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use sensor_tests::{can_load_ebpf, container::Container, nonce, tmp_dir, trace::Trace};
use serde_json::Value;

/// A rule that fires when a container reads `/etc/<marker>`.
fn rule(name: &str, marker: &str) -> String {
    format!(
        r#"
- rule: {name}
  desc: a test rule
  condition: evt.type in (open, openat) and fd.name = /etc/{marker} and container.id != host
  output: "%proc.name read %fd.name in %container.id (cmd=%proc.cmdline parent=%proc.aname[1])"
  priority: WARNING
  tags: [test, T1005]
"#
    )
}

/// Findings until `done` is satisfied or `timeout`.
fn findings_until(
    run: &Trace,
    timeout: Duration,
    mut done: impl FnMut(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<Value> = Vec::new();
    while !done(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = run.lines.recv_timeout(left) else {
            break;
        };
        seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    seen
}

/// Runs a container that reads `/etc/<marker>` `times` times, to its end; the
/// caller keeps it (and so its cgroup) until the findings are in, as a node keeps
/// a pod's cgroup while the pod lives.
fn trigger(marker: &str, times: usize) -> Container {
    let script = format!("i=0; while [ $i -lt {times} ]; do cat /etc/{marker}; i=$((i+1)); done");
    let file = format!("etc/{marker}");
    let c =
        Container::create_with_files(&nonce("run"), &["sh", "-c", &script], 0, 0, &[(&file, "x")]);
    c.start();
    c.wait(Duration::from_secs(30));
    c
}

fn of_rule<'a>(found: &'a [Value], rule: &str, container: &str) -> Vec<&'a Value> {
    found
        .iter()
        .filter(|f| f["rule"] == rule && f["output_fields"]["container.full_id"] == container)
        .collect()
}

fn write(path: &Path, text: &str) {
    // Written aside and renamed, as editors and ConfigMap updates do.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("writing rules");
    std::fs::rename(&tmp, path).expect("renaming rules");
}

#[test]
fn findings_carry_falcos_format_and_the_container() {
    if !can_load_ebpf("findings_carry_falcos_format_and_the_container") {
        return;
    }
    let marker = nonce("secret");
    let dir = tmp_dir("run-rules");
    let rules = dir.join("rules.yaml");
    write(&rules, &rule("Marker read", &marker));
    let run = Trace::run(&[
        "--stdout",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--fold-window-secs",
        "0",
    ]);
    let c = trigger(&marker, 1);
    let id = c.id.clone();
    let found = findings_until(&run, Duration::from_secs(20), |f| {
        !of_rule(f, "Marker read", &id).is_empty()
    });
    let f = of_rule(&found, "Marker read", &id)[0];
    assert_eq!(f["priority"], "Warning");
    assert_eq!(f["source"], "syscall");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("a host name");
    assert_eq!(f["hostname"], host.trim());
    assert_eq!(f["tags"], serde_json::json!(["test", "T1005"]));
    assert_eq!(f["count"], 1);
    let fields = &f["output_fields"];
    assert_eq!(fields["fd.name"], format!("/etc/{marker}"));
    assert_eq!(fields["proc.name"], "cat");
    assert_eq!(fields["container.id"], &id[..12]);
    assert_eq!(fields["proc.aname[1]"], "sh");
    assert!(fields["proc.exec_id"].is_string(), "{fields}");
    assert!(
        fields["k8s.pod.uid"].is_string(),
        "from the cgroup path: {fields}"
    );
    let output = f["output"].as_str().expect("output");
    let expected = format!(
        "Warning cat read /etc/{marker} in {} (cmd=cat /etc/{marker} parent=sh)",
        &id[..12]
    );
    assert!(output.ends_with(&expected), "{output}");
    let time = f["time"].as_str().expect("time");
    assert!(
        time.ends_with('Z') && output.starts_with(&time[11..29]),
        "{time} {output}"
    );
    assert!(f["uuid"].as_str().is_some_and(|u| u.len() == 36), "{f}");
    // A neighbour that reads another file stays quiet.
    let quiet = trigger(&nonce("other"), 1);
    let after = findings_until(&run, Duration::from_secs(3), |_| false);
    assert!(
        of_rule(&after, "Marker read", &quiet.id).is_empty(),
        "{after:?}"
    );
}

/// `GET path` on the agent's metrics endpoint: the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting to the endpoint");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: sensor\r\nConnection: close\r\n\r\n"
    )
    .expect("sending the request");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("reading the answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn metrics_count_findings_and_events_and_readiness_shows() {
    if !can_load_ebpf("metrics_count_findings_and_events_and_readiness_shows") {
        return;
    }
    let marker = nonce("metrics");
    let dir = tmp_dir("run-metrics");
    let rules = dir.join("rules.yaml");
    write(&rules, &rule("Metered", &marker));
    let run = Trace::run(&[
        "--stdout",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--fold-window-secs",
        "600",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let line = run.wait_log("serving /metrics", Duration::from_secs(5));
    let addr = line
        .split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .expect("the bound address in the log")
        .to_owned();
    assert_eq!(get(&addr, "/readyz").0, "HTTP/1.1 200 OK");
    assert_eq!(get(&addr, "/healthz").0, "HTTP/1.1 200 OK");
    assert_eq!(get(&addr, "/nope").0, "HTTP/1.1 404 Not Found");
    let c = trigger(&marker, 3);
    let found = findings_until(&run, Duration::from_secs(20), |f| {
        !of_rule(f, "Metered", &c.id).is_empty()
    });
    assert_eq!(of_rule(&found, "Metered", &c.id).len(), 1);
    // Counts reach the metrics within a tick: folds as they happen, events
    // by kind at the next once-a-second tick, so wait for all of them.
    let wanted = [
        "sensor_findings_total{rule=\"Metered\",priority=\"Warning\"} 1",
        "sensor_findings_folded_total{rule=\"Metered\"} 2",
        "sensor_rules{state=\"loaded\"} 1",
    ];
    let complete = |text: &str| {
        wanted.iter().all(|w| text.lines().any(|l| l == *w))
            && text
                .lines()
                .any(|l| l.starts_with("sensor_events_total{kind=\"open\"} "))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (status, text) = get(&addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        if complete(&text) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for want in wanted {
        assert!(text.lines().any(|l| l == want), "{want} not in\n{text}");
    }
    // The rule asks the kernel for opens alone (and the process table for
    // execs, forks and exits): the trigger's opens are counted as opens, and no
    // event as a kind that was never on.
    let opens = text
        .lines()
        .find_map(|l| l.strip_prefix("sensor_events_total{kind=\"open\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(opens.is_some_and(|n| n >= 3), "{text}");
    assert!(
        !text.contains("sensor_events_total{kind=\"connect\"}"),
        "events counted under a kind the kernel never reported: {text}"
    );
}

#[test]
fn rules_reload_on_change_and_sighup_and_bad_files_are_refused() {
    if !can_load_ebpf("rules_reload_on_change_and_sighup_and_bad_files_are_refused") {
        return;
    }
    let (first, second) = (nonce("first"), nonce("second"));
    let dir = tmp_dir("run-reload");
    let rules = dir.join("rules.yaml");
    write(&rules, &rule("First", &first));
    let run = Trace::run(&[
        "--stdout",
        "--rules",
        dir.to_str().expect("utf-8"),
        "--fold-window-secs",
        "0",
    ]);
    run.wait_log_count("rules loaded", 1, Duration::from_secs(5));

    write(&rules, &rule("Second", &second));
    run.wait_log("rules reloaded", Duration::from_secs(15));
    let c = trigger(&second, 1);
    let id = c.id.clone();
    let found = findings_until(&run, Duration::from_secs(20), |f| {
        !of_rule(f, "Second", &id).is_empty()
    });
    assert_eq!(of_rule(&found, "Second", &id).len(), 1);

    // A syntax error: refused with its place, and "Second" stays in force.
    write(
        &rules,
        "- rule: Broken\n  desc: x\n  condition: evt.type = (\n  output: x\n  priority: WARNING\n",
    );
    let refused = run.wait_log("new rules refused", Duration::from_secs(15));
    assert!(refused.contains("rules.yaml"), "{refused}");
    let c = trigger(&second, 1);
    let id = c.id.clone();
    let found = findings_until(&run, Duration::from_secs(20), |f| {
        !of_rule(f, "Second", &id).is_empty()
    });
    assert_eq!(
        of_rule(&found, "Second", &id).len(),
        1,
        "the old rules still run"
    );

    // Fixed again, then SIGHUP reloads without any change.
    write(&rules, &rule("First", &first));
    run.wait_log_count("rules reloaded", 2, Duration::from_secs(15));
    run.signal(libc::SIGHUP);
    let hup = run.wait_log_count("rules reloaded", 3, Duration::from_secs(15));
    assert!(hup.contains("SIGHUP"), "{hup}");
    let c = trigger(&first, 1);
    let id = c.id.clone();
    let found = findings_until(&run, Duration::from_secs(20), |f| {
        !of_rule(f, "First", &id).is_empty()
    });
    assert_eq!(of_rule(&found, "First", &id).len(), 1);
}

#[test]
fn identical_findings_fold_into_one_with_a_count() {
    if !can_load_ebpf("identical_findings_fold_into_one_with_a_count") {
        return;
    }
    let marker = nonce("fold");
    let dir = tmp_dir("run-fold");
    let rules = dir.join("rules.yaml");
    write(
        &rules,
        &rule("Folded", &marker).replace("(cmd=%proc.cmdline parent=%proc.aname[1])", ""),
    );
    let mut run = Trace::run(&[
        "--stdout",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--fold-window-secs",
        "600",
    ]);
    let c = trigger(&marker, 5);
    let id = c.id.clone();
    let first = findings_until(&run, Duration::from_secs(20), |f| {
        !of_rule(f, "Folded", &id).is_empty()
    });
    assert_eq!(of_rule(&first, "Folded", &id)[0]["count"], 1);
    // The window is open: the four others are counted, and sent at exit.
    let status = run.stop(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    let rest = findings_until(&run, Duration::from_secs(5), |_| false);
    let folded = of_rule(&rest, "Folded", &id);
    assert_eq!(folded.len(), 1, "one summary: {rest:?}");
    assert_eq!(folded[0]["count"], 4);
}
