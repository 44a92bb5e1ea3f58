//! Trigger programs: the same work every run, so tests and benchmarks compare like
//! with like.

use std::process::{Child, Command, Stdio};

/// Starts a shell that execs `/bin/true <marker>` `count` times, one after another.
/// The execs come from another process, so their cost is not charged to the caller.
pub fn spawn_execs(count: usize, marker: &str) -> Child {
    let script = format!("i=0; while [ $i -lt {count} ]; do /bin/true {marker}; i=$((i+1)); done");
    Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .expect("starting the exec workload")
}

/// Whether an event is one of the workload's execs.
pub fn is_marked(event: &sensor::event::Event, marker: &str) -> bool {
    crate::exec_of(event).is_some_and(|exec| {
        exec.argv.first().is_some_and(|arg0| arg0 == "/bin/true")
            && exec.argv.get(1).is_some_and(|arg| arg == marker)
    })
}
