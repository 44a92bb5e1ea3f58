//! The kernel filters follow the rules: with a rule set that only watches `/etc`,
//! a million opens elsewhere never reach user space (the kernel counts them as
//! filtered), while the open the rule is about still becomes a finding; after the
//! rules change to watch another directory, opens there come through.

use std::{ffi::CString, time::Duration};

use sensor_tests::{
    can_load_ebpf, nonce, tmp_dir,
    trace::{Trace, log_value},
};
use serde_json::Value;

const OPENS: u64 = 1_000_000;

fn rule(name: &str, prefix: &str) -> String {
    format!(
        r#"
- macro: open_read
  condition: evt.type in (open, openat, openat2) and evt.is_open_read = true and evt.rawres >= 0
- rule: {name}
  desc: reads below {prefix}
  condition: open_read and fd.name startswith {prefix}
  output: "%proc.name read %fd.name"
  priority: NOTICE
"#
    )
}

fn open_close(path: &str, times: u64) {
    let path = CString::new(path).expect("no NUL");
    for _ in 0..times {
        // SAFETY: a valid path; the fd is closed at once.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0, "open failed");
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
}

fn finding_for(run: &Trace, rule: &str, path: &str, timeout: Duration) -> Option<Value> {
    let deadline = std::time::Instant::now() + timeout;
    while let Ok(line) = run
        .lines
        .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        let f: Value = serde_json::from_str(&line).expect("a JSON line");
        if f["rule"] == rule && f["output_fields"]["fd.name"] == path {
            return Some(f);
        }
    }
    None
}

#[test]
fn a_million_opens_outside_the_rules_prefixes_never_reach_user_space() {
    if !can_load_ebpf("a_million_opens_outside_the_rules_prefixes_never_reach_user_space") {
        return;
    }
    let dir = tmp_dir("rules-filter");
    let watched = dir.join("watched");
    std::fs::create_dir_all(&watched).expect("mkdir");
    let elsewhere = watched.join("file");
    std::fs::write(&elsewhere, "x").expect("write");
    let elsewhere = elsewhere.to_str().expect("utf-8").to_owned();
    let marker = format!("/etc/{}", nonce("filter"));
    std::fs::write(&marker, "x").expect("write");
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, rule("Etc read", "/etc/")).expect("write");

    let mut run = Trace::run(&["--stdout", "--rules", rules.to_str().expect("utf-8")]);
    let plan = run.wait_log("kernel filters from the rules", Duration::from_secs(5));
    assert!(plan.contains("read under /etc/"), "{plan}");
    assert!(plan.contains("write none"), "{plan}");

    open_close(&elsewhere, OPENS);
    open_close(&marker, 1);
    let f = finding_for(&run, "Etc read", &marker, Duration::from_secs(20));
    assert!(f.is_some(), "the watched open still becomes a finding");

    // New rules on the other directory: the kernel filter follows them.
    let other = format!("{}/", watched.to_str().expect("utf-8"));
    std::fs::write(&rules, rule("Other read", &other)).expect("write");
    run.wait_log("rules reloaded", Duration::from_secs(15));
    open_close(&elsewhere, 1);
    let f = finding_for(&run, "Other read", &elsewhere, Duration::from_secs(20));
    assert!(f.is_some(), "after the reload opens there come through");

    let status = run.stop(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    let stopped = run.wait_log("stopped tracing", Duration::from_secs(5));
    let records = log_value(&stopped, "records").expect("records in the log");
    let filtered = log_value(&stopped, "filtered_in_kernel").expect("filtered in the log");
    assert!(
        filtered >= OPENS,
        "the kernel filtered {filtered} opens, not all {OPENS}: {stopped}"
    );
    // What did reach user space is the machine's other activity (execs, forks,
    // exits, /etc reads): nowhere near the flood.
    assert!(
        records < OPENS / 10,
        "{records} records reached user space during a flood of {OPENS} filtered opens"
    );
    let _ = std::fs::remove_file(&marker);
    let _ = std::fs::remove_dir_all(&dir);
}
