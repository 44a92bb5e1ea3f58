//! Helpers for the end-to-end tests: the privilege gate, a sensor running on this
//! kernel, and real containers run by runc.
//!
//! These tests need root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN). Without it they
//! say why and pass vacuously, except under CI (`CI=true`), where they fail: CI must
//! never report green for tests that did not run.

pub mod agent;
pub mod cluster;
pub mod collector;
pub mod container;
pub mod facts;
pub mod findings;
pub mod floor;
pub mod holder;
pub mod kubelet;
pub mod peers;
pub mod progtime;
pub mod redis;
pub mod report;
pub mod threadcpu;
pub mod trace;
pub mod workload;

use std::time::{Duration, Instant};

use sensor::{
    event::{Body, Event, Exec},
    kernel::{EventReader, KernelConfig, KernelSensor, WakeupPolicy, preflight},
};

/// A new directory under the temp dir, by its canonical path (the kernel
/// reports paths with symlinks resolved); removed when the guard drops.
pub fn tmp_dir(label: &str) -> TmpDir {
    let dir = std::env::temp_dir().join(nonce(label));
    std::fs::create_dir_all(&dir).expect("creating a temp dir");
    TmpDir(dir.canonicalize().expect("a canonical temp dir"))
}

/// A directory of a test's own, removed with everything in it when dropped: a
/// suite run all day on a developer's machine would otherwise fill its disk
/// (a delivery test leaves a SQLite database and its log). A test that fails
/// keeps its directory, and says where, for whoever looks into the failure.
pub struct TmpDir(std::path::PathBuf);

impl std::ops::Deref for TmpDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TmpDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} after the failure", self.0.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("cannot remove {}: {e}", self.0.display());
        }
    }
}

/// Whether the end-to-end tests can run here. When they cannot, prints why; under
/// CI it panics instead.
pub fn can_load_ebpf(test: &str) -> bool {
    match preflight::check() {
        Ok(()) => true,
        Err(err) => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{test}: cannot load eBPF under CI: {err}");
            }
            eprintln!("{test}: NOT RUN: {err}");
            false
        }
    }
}

/// A kernel config for tests: a short poll interval so tests need not wait long,
/// and no quiet wakeups, so a test's wakeups come from its policy alone.
pub fn test_config(wakeup: WakeupPolicy) -> KernelConfig {
    KernelConfig {
        wakeup,
        poll_interval: Duration::from_millis(20),
        quiet_wakeup: None,
        ..KernelConfig::default()
    }
}

/// Starts the real sensor with the default wakeup policy.
pub fn start() -> (KernelSensor, EventReader) {
    start_with(&test_config(KernelConfig::default().wakeup))
}

/// Starts the real sensor with `config`.
pub fn start_with(config: &KernelConfig) -> (KernelSensor, EventReader) {
    KernelSensor::start(config).unwrap_or_else(|err| panic!("cannot start the sensor: {err:?}"))
}

/// Reads events until one satisfies `done` or `timeout` passes; returns all read.
pub async fn read_until(
    reader: &mut EventReader,
    timeout: Duration,
    mut done: impl FnMut(&[Event]) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + timeout;
    let mut events = Vec::new();
    while Instant::now() < deadline && !done(&events) {
        reader
            .read_batch(&mut events)
            .await
            .expect("reading the ring buffer");
    }
    events
}

/// A token unique to this test run, to find our own processes' events.
pub fn nonce(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{label}-{}-{nanos}", std::process::id())
}

/// The exec part of an event, if it is an exec.
pub fn exec_of(event: &Event) -> Option<&Exec> {
    match &event.body {
        Body::Exec(exec) => Some(exec),
        _ => None,
    }
}

/// The open part of an event, if it is an open.
pub fn open_of(event: &Event) -> Option<&sensor::event::Open> {
    match &event.body {
        Body::Open(open) => Some(open),
        _ => None,
    }
}

/// The privilege part of an event, if it is a set*id, capset, ptrace, ... call.
pub fn priv_of(event: &Event) -> Option<&sensor::event::PrivCall> {
    match &event.body {
        Body::Priv(call) => Some(call),
        _ => None,
    }
}

/// The file-operation part of an event, if it is an unlink, rename, chmod or link.
pub fn fs_of(event: &Event) -> Option<&sensor::event::FsCall> {
    match &event.body {
        Body::Fs(call) => Some(call),
        _ => None,
    }
}

/// The network part of an event, if it is a connect, accept or listen.
pub fn net_of(event: &Event) -> Option<&sensor::event::Net> {
    match &event.body {
        Body::Net(net) => Some(net),
        _ => None,
    }
}

/// The argv of an exec event; empty for other events.
pub fn argv(event: &Event) -> &[String] {
    exec_of(event).map_or(&[], |exec| exec.argv.as_slice())
}

/// A benchmark's numeric option `--name N`, or `default`.
pub fn bench_arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
