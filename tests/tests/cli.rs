//! `sensor trace` as a user runs it: JSON lines with the catalogue's field names,
//! a clean detach on SIGINT and SIGTERM, and a clear error without privileges.

use std::{
    os::unix::process::CommandExt as _,
    process::Command,
    time::{Duration, Instant},
};

use sensor::kernel::{btf::kernel_facts, probes};
use sensor_tests::{
    can_load_ebpf, nonce,
    trace::{Trace, sensor_bin},
};
use serde_json::Value;

/// Programs with the names of ours loaded in the kernel now (the kernel keeps the
/// first 15 bytes of a name).
fn loaded_programs_of_ours() -> usize {
    let ours: Vec<&'static str> = probes::all()
        .map(|p| p.program)
        .chain([probes::OPEN_FAST_PROGRAM])
        .map(|name| &name[..name.len().min(15)])
        .collect();
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|name| ours.contains(&name)))
        .count()
}

fn stops_cleanly_on(signal: libc::c_int) {
    let before = loaded_programs_of_ours();
    let mut trace = Trace::start(&["--poll-ms", "20"]);
    // Every probe's program, and where the kernel allows the open fast path,
    // its program too (attached in place of the full one, which it tail-calls).
    let fast_path = usize::from(kernel_facts().expect("BTF").untrusted_mem);
    assert_eq!(
        loaded_programs_of_ours(),
        before + fast_path + {
            let mut programs: Vec<&str> = probes::available().map(|p| p.program).collect();
            programs.sort_unstable();
            programs.dedup();
            programs.len()
        },
        "sensor trace loaded its programs"
    );

    let marker = nonce("cli");
    let status = Command::new("/bin/echo")
        .arg(&marker)
        .output()
        .expect("echo");
    assert!(status.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let event = loop {
        let line = trace
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("an event line for our echo");
        let value: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        if value["proc.argv"][1] == marker.as_str() {
            break value;
        }
    };
    let object = event.as_object().expect("an object");
    for key in object.keys() {
        assert!(
            sensor::fields::find(key).is_some(),
            "{key} is not in the catalogue"
        );
    }
    assert_eq!(event["evt.type"], "execve");
    assert_eq!(event["proc.name"], "echo");
    // The executable's own path: /bin is a symlink to /usr/bin on merged-/usr systems.
    let echo = std::fs::canonicalize("/bin/echo").expect("/bin/echo exists");
    assert_eq!(event["proc.exepath"], echo.to_str().expect("utf-8"));
    assert_eq!(event["proc.exepath_source"], "executable");
    assert_eq!(event["proc.cmdline"], format!("echo {marker}"));
    assert_eq!(event["proc.ppid"], std::process::id());
    assert!(
        event["evt.rawtime"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000_000_000)
    );

    let status = trace.stop(signal);
    assert!(
        status.success(),
        "sensor trace exits 0 on signal {signal}: {status}"
    );
    // The kernel frees detached programs asynchronously; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while loaded_programs_of_ours() != before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        loaded_programs_of_ours(),
        before,
        "sensor trace detached its programs"
    );
}

#[test]
fn trace_prints_json_lines_and_detaches_on_sigint() {
    if !can_load_ebpf("trace_sigint") {
        return;
    }
    stops_cleanly_on(libc::SIGINT);
}

#[test]
fn trace_detaches_on_sigterm() {
    if !can_load_ebpf("trace_sigterm") {
        return;
    }
    stops_cleanly_on(libc::SIGTERM);
}

#[test]
fn trace_reports_drops_as_json_lines() {
    if !can_load_ebpf("trace_drops") {
        return;
    }
    // A one-page ring that is read every 10 s and never wakes the reader (no
    // threshold it can reach, no quiet wakeups): a burst of execs must overrun it.
    let mut trace = Trace::start(&[
        "--ring-bytes",
        "4096",
        "--wakeup-bytes",
        "1073741824",
        "--quiet-wakeup-us",
        "0",
        "--poll-ms",
        "10000",
        "--events",
        "exec",
    ]);
    let mut workload = sensor_tests::workload::spawn_execs(50, "drops");
    assert!(workload.wait().expect("the workload").success());
    // Other processes on the machine exec too, so a first report may come before
    // the burst; reports follow until the burst's drops are all counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut first = None;
    let last = loop {
        let line = trace
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("drop lines counting the burst within 10 s");
        let value: Value = serde_json::from_str(&line).expect("a JSON line");
        if value["evt.type"] != "drop" {
            continue;
        }
        assert_eq!(value["drop.kind"], "exec", "{value}");
        assert_eq!(value["drop.reason"], "ring_full", "{value}");
        let first = first.get_or_insert_with(|| value.clone());
        assert_eq!(first["drop.count"], first["drop.total"], "the first report");
        if value["drop.total"].as_u64().is_some_and(|n| n >= 40) {
            break value;
        }
    };
    assert!(
        last["drop.count"].as_u64().is_some_and(|n| n > 0),
        "a report counts new drops: {last}"
    );
    assert!(trace.stop(libc::SIGTERM).success());
}

#[test]
fn trace_without_privileges_says_what_is_missing() {
    if !can_load_ebpf("trace_unprivileged") {
        return;
    }
    // As root, run the sensor as `nobody`: setuid drops every capability.
    let out = Command::new(sensor_bin())
        .arg("trace")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("running sensor as nobody");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing capabilities CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN"),
        "{stderr}"
    );
    assert!(stderr.contains("run the sensor as root"), "{stderr}");
    assert!(out.stdout.is_empty(), "no events without privileges");
}

#[test]
fn fields_prints_the_catalogue() {
    let out = Command::new(sensor_bin())
        .args(["fields", "--json"])
        .output()
        .expect("running sensor fields");
    assert!(out.status.success());
    let fields: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = fields
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names.len(), sensor::fields::CATALOGUE.len());
    for name in [
        "evt.type",
        "evt.time",
        "proc.pid",
        "proc.cmdline",
        "user.uid",
        "cgroup.id",
    ] {
        assert!(names.contains(&name), "{name} missing from `sensor fields`");
    }
    let table = Command::new(sensor_bin())
        .arg("fields")
        .output()
        .expect("sensor fields");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.lines().next().is_some_and(|h| h.starts_with("FIELD")));
    assert_eq!(table.lines().count(), names.len() + 1);
}
