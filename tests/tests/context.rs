//! The process, container and pod context on the real kernel: the process table
//! against pid reuse, how a process entered its container (its first process, or a
//! `runc exec` later, also after re-parenting), both kubelet cgroup layouts, and an
//! agent restart that keeps exec ids and lineage.

use std::{process::Command, time::Duration};

use sensor::{
    context::{EnrichConfig, Enricher, process::Entry},
    event::{Event, EventKind},
    kernel::{EventReader, KernelConfig, WakeupPolicy},
};
use sensor_tests::{
    can_load_ebpf,
    container::{Container, Layout, Spec},
    exec_of, nonce, open_of, start_with, test_config,
};

/// What the enricher said of one event, kept for the assertions.
#[derive(Clone, Debug)]
struct Seen {
    event: Event,
    exec_id: String,
    exepath: Option<String>,
    start_ticks: Option<u64>,
    entry: Option<Entry>,
    container: Option<String>,
    pod_uid: Option<String>,
    /// proc.aname: the process, then its ancestors.
    anames: Vec<String>,
    ancestor_pids: Vec<u32>,
}

/// Reads, enriches and keeps events until `done` or `timeout`.
async fn enrich_until(
    reader: &mut EventReader,
    enricher: &mut Enricher,
    timeout: Duration,
    mut done: impl FnMut(&[Seen]) -> bool,
) -> Vec<Seen> {
    let deadline = std::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut batch = Vec::new();
    while std::time::Instant::now() < deadline && !done(&seen) {
        batch.clear();
        reader
            .read_batch(&mut batch)
            .await
            .expect("reading the ring");
        for event in &batch {
            enricher.note(event);
        }
        for event in &batch {
            enricher.observe(event);
            let who = enricher.who(event);
            let mut anames: Vec<String> = who.process.iter().map(|p| p.comm.clone()).collect();
            anames.extend(who.ancestors.iter().map(|p| p.comm.clone()));
            seen.push(Seen {
                event: event.clone(),
                exec_id: who.exec_id.clone(),
                exepath: who.process.map(|p| p.exepath.to_string()),
                start_ticks: who.process.map(|p| p.start_ticks),
                entry: who.process.map(|p| p.entry),
                container: who.container.as_ref().map(|c| c.id.clone()),
                pod_uid: who.container.as_ref().and_then(|c| c.pod_uid.clone()),
                anames,
                ancestor_pids: who.ancestors.iter().map(|p| p.pid).collect(),
            });
            enricher.retire(event);
        }
    }
    seen
}

fn enricher() -> Enricher {
    Enricher::start(&EnrichConfig::default(), None).expect("the enricher starts")
}

fn execs_of<'a>(seen: &'a [Seen], argv0_suffix: &str) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| {
            exec_of(&s.event)
                .is_some_and(|x| x.argv.first().is_some_and(|a| a.ends_with(argv0_suffix)))
        })
        .collect()
}

#[tokio::test]
async fn a_reused_pid_never_inherits_the_earlier_process() {
    if !can_load_ebpf("pid_reuse") {
        return;
    }
    // Exec events only: the table never hears of exits, so the first process
    // stays in it, stale, when the second gets its pid.
    let config = KernelConfig {
        kinds: vec![EventKind::Exec],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (_sensor, mut reader) = start_with(&config);
    let mut table = enricher();
    let marker = nonce("reuse");
    let mut first = Command::new("/bin/sleep")
        .arg("0.01")
        .spawn()
        .expect("sleep");
    let pid = first.id();
    let _ = first.wait();
    // The kernel gives the next new process the pid after ns_last_pid; other
    // processes on the machine may take it first, so try a few times.
    let mut second = None;
    for _ in 0..20 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string())
            .expect("writing ns_last_pid (needs root)");
        let child = run_for_pid(Command::new("/bin/echo").arg(&marker));
        if child == pid {
            second = Some(child);
            break;
        }
    }
    assert_eq!(second, Some(pid), "could not get pid {pid} again");
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
        seen.iter()
            .any(|s| exec_of(&s.event).is_some_and(|x| x.argv.get(1) == Some(&marker)))
    })
    .await;
    let sleep = execs_of(&seen, "sleep");
    let sleep = sleep
        .iter()
        .find(|s| s.event.task.pid == pid)
        .expect("sleep's exec");
    let echo = seen
        .iter()
        .find(|s| exec_of(&s.event).is_some_and(|x| x.argv.get(1) == Some(&marker)))
        .expect("echo's exec");
    assert_eq!(echo.event.task.pid, pid, "the same pid");
    assert!(
        echo.exepath
            .as_deref()
            .is_some_and(|p| p.ends_with("/echo")),
        "{echo:?}"
    );
    assert_ne!(echo.start_ticks, sleep.start_ticks, "a later start");
    assert_ne!(echo.exec_id, sleep.exec_id, "another exec id");
    assert!(
        table.table_stats().pid_reused >= 1,
        "{:?}",
        table.table_stats()
    );
}

/// Runs the command to its end; returns the pid it had.
fn run_for_pid(command: &mut Command) -> u32 {
    let mut child = command
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawning");
    let pid = child.id();
    let _ = child.wait();
    pid
}

#[tokio::test]
async fn processes_know_whether_they_came_in_with_the_container_or_later() {
    if !can_load_ebpf("container_entry") {
        return;
    }
    let config = KernelConfig {
        kinds: vec![EventKind::Exec, EventKind::Fork, EventKind::Exit],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (_sensor, mut reader) = start_with(&config);
    let mut table = enricher();
    let marker = nonce("entry");
    let container = Container::create_spec(&Spec {
        nonce: &marker,
        args: &["/bin/sh", "-c", "/bin/sleep 0.2; exec /bin/sleep 30"],
        uid: 0,
        gid: 0,
        files: &[],
        host_network: false,
        layout: Layout::Systemd,
    });
    let init_pid = container.init_pid();
    container.start();
    // A later session, whose child outlives it: the child is re-parented to the
    // container's first process and must still count as part of the session.
    let session = container.exec(&[
        "/bin/sh",
        "-c",
        "/bin/true session; (/bin/setsid /bin/sh -c '/bin/sleep 0.3; /bin/echo orphan' &); exit 0",
    ]);
    assert!(session.status.success(), "runc exec: {session:?}");
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(15), |seen| {
        seen.iter().any(|s| {
            exec_of(&s.event).is_some_and(|x| x.argv.get(1).is_some_and(|a| a == "orphan"))
        })
    })
    .await;

    let first = seen
        .iter()
        .find(|s| s.event.task.pid == init_pid && exec_of(&s.event).is_some())
        .expect("the container's first exec");
    assert_eq!(first.entry, Some(Entry::Init), "{first:?}");
    assert_eq!(first.container.as_deref(), Some(container.id.as_str()));
    assert_eq!(first.pod_uid.as_deref(), Some(container.pod_uid.as_str()));
    let child = execs_of(&seen, "sleep")
        .into_iter()
        .find(|s| s.container.as_deref() == Some(container.id.as_str()))
        .expect("the first process's child");
    assert_eq!(child.entry, Some(Entry::Init), "{child:?}");
    assert_eq!(child.ancestor_pids.first(), Some(&init_pid));

    let in_session = seen
        .iter()
        .find(|s| exec_of(&s.event).is_some_and(|x| x.argv.get(1).is_some_and(|a| a == "session")))
        .expect("the session's exec");
    assert_eq!(in_session.entry, Some(Entry::Exec), "{in_session:?}");
    assert_eq!(in_session.container.as_deref(), Some(container.id.as_str()));
    assert_eq!(in_session.anames.first().map(String::as_str), Some("true"));
    assert_eq!(in_session.anames.get(1).map(String::as_str), Some("sh"));

    let orphan = seen
        .iter()
        .find(|s| exec_of(&s.event).is_some_and(|x| x.argv.get(1).is_some_and(|a| a == "orphan")))
        .expect("the orphan's echo");
    assert_eq!(
        orphan.entry,
        Some(Entry::Exec),
        "still the session's: {orphan:?}"
    );
    // The setsid shell exec'd its last command, echo, whose parent is now the
    // container's first process.
    assert_eq!(orphan.ancestor_pids.first(), Some(&init_pid), "{orphan:?}");
}

#[tokio::test]
async fn an_agent_restart_keeps_exec_ids_and_lineage() {
    if !can_load_ebpf("agent_restart") {
        return;
    }
    let config = KernelConfig {
        kinds: vec![EventKind::Exec, EventKind::Fork, EventKind::Open],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let marker = nonce("restart");
    let container = Container::create_spec(&Spec {
        nonce: &marker,
        args: &[
            "/bin/sh",
            "-c",
            "while true; do read x < /etc/hostname; /bin/sleep 0.1; done",
        ],
        uid: 0,
        gid: 0,
        files: &[("/etc/hostname", "restart\n")],
        host_network: false,
        layout: Layout::Cgroupfs,
    });
    let init_pid = container.init_pid();
    // The shell's own opens: runc init, which has the same pid, opens files too
    // before it execs the shell.
    let opens_of_init = |seen: &[Seen]| -> Vec<Seen> {
        seen.iter()
            .filter(|s| {
                s.event.task.pid == init_pid
                    && open_of(&s.event).is_some_and(|o| o.path == "/etc/hostname")
            })
            .cloned()
            .collect()
    };

    let before = {
        let (_sensor, mut reader) = start_with(&config);
        let mut table = enricher();
        container.start();
        enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
            !opens_of_init(seen).is_empty()
        })
        .await
    };
    // A new agent: the shell is found in /proc, not in an exec event.
    let after = {
        let (_sensor, mut reader) = start_with(&config);
        let mut table = enricher();
        enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
            !opens_of_init(seen).is_empty()
        })
        .await
    };
    let (before, after) = (&opens_of_init(&before)[0], &opens_of_init(&after)[0]);
    assert_eq!(
        before.exec_id, after.exec_id,
        "the same program run, the same id"
    );
    assert_eq!(before.entry, Some(Entry::Init));
    assert_eq!(after.entry, Some(Entry::Init), "from /proc: {after:?}");
    assert_eq!(after.container.as_deref(), Some(container.id.as_str()));
    assert_eq!(after.exepath, before.exepath, "{after:?}");
    assert_eq!(after.start_ticks, before.start_ticks);
}
