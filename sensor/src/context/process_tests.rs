//! The process table on made-up events: fork, exec and exit, pid reuse, how a
//! process entered its container, ancestry, and the sweep of lost exits.

use std::sync::Arc;

use super::*;
use crate::{
    context::fake_proc::ProcDir,
    event::{Exec, Exit, Task},
};

/// 100 ticks per second: 10 ms per tick.
const TICK_NS: u64 = 10_000_000;

fn table() -> ProcessTable {
    ProcessTable::new(TableConfig {
        // No /proc here: a miss is made from the event's header.
        proc_root: "/nonexistent-proc".into(),
        ticks_per_second: 100,
        max_processes: 1000,
    })
}

fn event(pid: u32, ppid: u32, start_tick: u64, body: Body) -> Event {
    Event {
        boot_ns: start_tick * TICK_NS + 1,
        task: Task {
            pid,
            tid: pid,
            ppid,
            uid: 0,
            gid: 0,
            comm: format!("p{pid}"),
            cgroup_id: 1,
            start_ns: start_tick * TICK_NS + 5,
            exec_seq: 1,
        },
        truncated: vec![],
        unreadable: vec![],
        body,
    }
}

fn exec(path: &str, vpid: u32) -> Body {
    Body::Exec(Exec {
        via_execveat: false,
        exepath: path.into(),
        exepath_as_given: false,
        exe_unlinked: false,
        exe_from_memfd: false,
        argv: vec![path.into(), "-x".into()],
        loginuid: Some(1000),
        tty: 0x8800,
        vpid,
        facts: crate::event::Facts::default(),
    })
}

fn c(id: &str) -> Option<Arc<str>> {
    Some(id.into())
}

#[test]
fn a_child_runs_its_parents_program_until_it_execs_and_leaves_at_exit() {
    let mut t = table();
    t.observe(&event(10, 1, 5, exec("/bin/sh", 10)), None);
    t.observe(&event(11, 10, 7, Body::Fork), None);
    let child = t.get(11).expect("the child");
    assert_eq!(
        (&*child.exepath, child.args.len(), child.ppid),
        ("/bin/sh", 2, 10)
    );
    assert_eq!(child.loginuid, Some(1000), "inherited");

    t.observe(&event(11, 10, 7, exec("/bin/cat", 11)), None);
    let child = t.get(11).expect("the child");
    assert_eq!(&*child.exepath, "/bin/cat");
    assert_eq!(child.start_ticks, 7);
    let names: Vec<_> = t.ancestors(11).map(|p| p.pid).collect();
    assert_eq!(names, [10]);

    let exit = event(11, 10, 7, Body::Exit(Exit { status: 0 }));
    t.observe(&exit, None);
    assert!(
        t.get(11).is_some(),
        "still there while its exit is reported"
    );
    t.retire(&exit);
    assert!(t.get(11).is_none());
    assert_eq!(
        (t.stats().forks, t.stats().execs, t.stats().exits),
        (1, 2, 1)
    );
}

#[test]
fn a_reused_pid_is_a_new_process() {
    let mut t = table();
    t.observe(&event(20, 1, 5, exec("/bin/old", 20)), None);
    // Its exit was lost; a new process gets pid 20.
    t.observe(&event(20, 1, 50, Body::Fork), None);
    let new = t.get(20).expect("the new process");
    assert_eq!(new.start_ticks, 50);
    assert_eq!(&*new.exepath, "", "nothing of the old program");
    assert_eq!(t.stats().pid_reused, 1);
    // The old process's exit, late, must not remove the new one.
    t.retire(&event(20, 1, 5, Body::Exit(Exit { status: 0 })));
    assert!(t.get(20).is_some());
    // An event of another kind from an unknown start replaces it too.
    t.observe(&event(20, 1, 90, Body::Fork), None);
    assert_eq!(t.get(20).map(|p| p.start_ticks), Some(90));
}

#[test]
fn the_entry_into_a_container_is_the_first_process_or_a_later_exec() {
    let mut t = table();
    // runc on the host; the container's first process (vpid 1) and its child.
    t.observe(&event(30, 1, 1, exec("/usr/bin/runc", 30)), None);
    t.observe(&event(31, 30, 2, Body::Fork), None);
    t.observe(&event(31, 30, 2, exec("/bin/sh", 1)), c("aa"));
    t.observe(&event(32, 31, 3, Body::Fork), c("aa"));
    // A later `runc exec`: a host parent, a pid namespace that says 7.
    t.observe(&event(33, 30, 4, Body::Fork), None);
    t.observe(&event(33, 30, 4, exec("/bin/cat", 7)), c("aa"));
    t.observe(&event(34, 33, 5, Body::Fork), c("aa"));
    let entry = |t: &ProcessTable, pid| t.get(pid).map(|p| p.entry);
    assert_eq!(entry(&t, 30), Some(Entry::Host));
    assert_eq!(entry(&t, 31), Some(Entry::Init));
    assert_eq!(entry(&t, 32), Some(Entry::Init), "inherited");
    assert_eq!(entry(&t, 33), Some(Entry::Exec));
    assert_eq!(entry(&t, 34), Some(Entry::Exec), "inherited");
    // The session's parent exits; its child is re-parented to the container's
    // first process, and still came in through the exec.
    let exit = event(33, 30, 4, Body::Exit(Exit { status: 0 }));
    t.retire(&exit);
    t.observe(&event(34, 31, 5, exec("/bin/sleep", 9)), c("aa"));
    assert_eq!(entry(&t, 34), Some(Entry::Exec));
    assert_eq!(t.get(34).map(|p| p.ppid), Some(31), "the new parent");
    // Same program in another container is a different entry.
    t.observe(&event(35, 32, 6, exec("/bin/sh", 3)), c("bb"));
    assert_eq!(entry(&t, 35), Some(Entry::Exec));
}

#[test]
fn ancestry_stops_at_a_loop_or_a_gap() {
    let mut t = table();
    t.observe(&event(40, 41, 1, Body::Fork), None);
    t.observe(&event(41, 40, 1, Body::Fork), None);
    assert!(t.ancestors(40).count() <= MAX_DEPTH);
    t.observe(&event(50, 49, 1, Body::Fork), None);
    assert_eq!(t.ancestors(50).count(), 0, "the parent is unknown");
    assert_eq!(t.ancestors(999).count(), 0);
}

#[test]
fn a_scan_loads_parents_before_children_and_skips_kernel_threads() {
    let mut t = table();
    let entry = |pid, ppid, start, vpid, cgroup: &str| ProcEntry {
        pid,
        ppid,
        start_ticks: start,
        comm: format!("p{pid}"),
        exe: Some(format!("/bin/p{pid}")),
        args: vec![format!("p{pid}")],
        cgroup: Some(cgroup.into()),
        vpid: Some(vpid),
        ..ProcEntry::default()
    };
    let kthread = ProcEntry {
        pid: 2,
        kernel_thread: true,
        ..ProcEntry::default()
    };
    // Children listed before their parents, as pids wrap around.
    let scan = vec![
        entry(5, 4, 30, 2, "/c"),
        entry(4, 3, 20, 1, "/c"),
        entry(3, 1, 10, 3, "/"),
        kthread,
    ];
    t.load(scan, |e| {
        (e.cgroup.as_deref() == Some("/c")).then(|| "cc".into())
    });
    assert_eq!(t.len(), 3);
    assert_eq!(t.get(4).map(|p| p.entry), Some(Entry::Init));
    assert_eq!(t.get(5).map(|p| p.entry), Some(Entry::Init));
    assert_eq!(t.get(3).map(|p| p.entry), Some(Entry::Host));
    assert_eq!(t.stats().scanned, 3);
    // The scan cannot show a process's exec count; its events will.
    assert_eq!(t.get(5).and_then(|p| p.exec_seq), None);
    t.observe(&event(6, 5, 31, Body::Fork), c("cc"));
    assert_eq!(t.get(6).map(|p| &*p.exepath), Some("/bin/p5"));
}

#[test]
fn a_sweep_drops_what_proc_no_longer_shows_and_the_cap_holds() {
    let mut t = ProcessTable::new(TableConfig {
        proc_root: "/nonexistent-proc".into(),
        ticks_per_second: 100,
        max_processes: 3,
    });
    for pid in 60..63 {
        t.observe(&event(pid, 1, 1, Body::Fork), None);
    }
    assert_eq!(t.len(), 3);
    // Full: the sweep finds none of them in this (empty) /proc.
    t.observe(&event(63, 1, 1, Body::Fork), None);
    assert_eq!((t.len(), t.stats().swept), (1, 3));

    // With the real /proc, this test process survives a sweep.
    let me = std::process::id();
    let mut real = ProcessTable::new(TableConfig {
        proc_root: "/proc".into(),
        ..TableConfig::default()
    });
    let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).expect("our stat");
    let start: u64 = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .nth(19)
        .and_then(|f| f.parse().ok())
        .expect("a start time");
    real.observe(&event(me, 1, start, Body::Fork), None);
    real.observe(&event(u32::MAX - 1, 1, 1, Body::Fork), None);
    assert_eq!(real.sweep(), 1, "only the made-up process goes");
    assert!(real.get(me).is_some());
}

fn exec_with(path: &str, vpid: u32, facts: Facts) -> Body {
    let Body::Exec(mut exec) = exec(path, vpid) else {
        unreachable!("exec() makes an exec")
    };
    exec.facts = facts;
    Body::Exec(exec)
}

fn facts(sid: u32, effective: u64, stdin: crate::event::FdType) -> Facts {
    Facts {
        stdio: [
            stdin,
            crate::event::FdType::Pipe,
            crate::event::FdType::Char,
        ],
        caps: Some(crate::event::Caps {
            effective,
            permitted: effective,
            inheritable: 0,
        }),
        sid: Some(sid),
        exe_ctime_ns: Some(1_000),
    }
}

#[test]
fn a_fork_copies_the_exec_facts_an_exec_replaces_them_a_capset_changes_caps() {
    use crate::event::{FdType, PrivCall, PrivSyscall};
    let mut t = table();
    let sh = facts(10, u64::MAX, FdType::Char);
    t.observe(&event(10, 1, 5, exec_with("/bin/sh", 10, sh)), None);
    t.observe(&event(11, 10, 7, Body::Fork), None);
    let child = t.get(11).expect("the child");
    assert_eq!(child.facts, sh, "inherited at fork");
    assert!(child.has_cap(21), "CAP_SYS_ADMIN from its parent");

    let nc = facts(10, 1 << 13, FdType::Ipv4);
    t.observe(&event(11, 10, 7, exec_with("/bin/nc", 11, nc)), None);
    let child = t.get(11).expect("the child");
    assert_eq!(child.facts, nc, "replaced at exec");
    assert!(child.has_cap(13) && !child.has_cap(21) && !child.has_cap(99));

    let capset = |result, version| PrivCall {
        syscall: PrivSyscall::Capset,
        result,
        args: [version, 1 << 12, 1 << 12 | 1 << 13, 0],
        name: String::new(),
    };
    t.observe(&event(11, 10, 7, Body::Priv(capset(-1, 0x2008_0522))), None);
    assert!(t.get(11).is_some_and(|p| p.has_cap(13)), "a failed capset");
    t.observe(&event(11, 10, 7, Body::Priv(capset(0, 0x2008_0522))), None);
    let caps = t.get(11).and_then(|p| p.facts.caps).expect("caps");
    assert_eq!(
        (caps.effective, caps.permitted),
        (1 << 12, 1 << 12 | 1 << 13)
    );
    assert_eq!(t.get(11).map(|p| p.facts.stdio[0]), Some(FdType::Ipv4));

    // A process first seen in an event knows none of them.
    t.observe(&event(40, 1, 9, Body::Fork), None);
    assert_eq!(t.get(40).map(|p| p.facts), Some(Facts::default()));
    assert!(t.get(40).is_some_and(|p| !p.has_cap(0)));
}

#[test]
fn the_session_leader_is_the_process_whose_pid_is_the_sid_or_its_eldest_ancestor() {
    use crate::event::FdType;
    let mut t = table();
    t.observe(
        &event(
            10,
            1,
            5,
            exec_with("/bin/sh", 10, facts(10, 0, FdType::Char)),
        ),
        None,
    );
    t.observe(
        &event(
            11,
            10,
            6,
            exec_with("/bin/sh", 11, facts(10, 0, FdType::Char)),
        ),
        None,
    );
    t.observe(
        &event(
            12,
            11,
            7,
            exec_with("/bin/cat", 12, facts(10, 0, FdType::Pipe)),
        ),
        None,
    );
    assert_eq!(t.session_leader(12).map(|p| p.pid), Some(10));
    assert_eq!(
        t.session_leader(10).map(|p| p.pid),
        Some(10),
        "its own leader"
    );
    // The leader gone: the eldest ancestor in the same session, as Falco.
    t.retire(&event(10, 1, 5, Body::Exit(Exit { status: 0 })));
    assert_eq!(t.session_leader(12).map(|p| p.pid), Some(11));
    // A session of its own, with its leader unknown: none.
    t.observe(
        &event(
            13,
            12,
            8,
            exec_with("/bin/sh", 13, facts(99, 0, FdType::Char)),
        ),
        None,
    );
    assert!(t.session_leader(13).is_none());
    // A sid of 0 (no session) or unknown names no leader.
    t.observe(
        &event(14, 1, 8, exec_with("/bin/x", 14, facts(0, 0, FdType::Char))),
        None,
    );
    assert!(t.session_leader(14).is_none());
    assert!(t.session_leader(999).is_none());
}

#[test]
fn a_container_started_with_its_earliest_process_and_is_forgotten_without_any() {
    let mut t = table();
    t.observe(&event(20, 1, 50, exec("/bin/sh", 1)), c("cc"));
    t.observe(&event(21, 20, 60, Body::Fork), c("cc"));
    assert_eq!(t.container_start_ns("cc"), Some(50 * TICK_NS + 5));
    // An earlier start, seen late (runc init, moved into the cgroup), wins.
    t.observe(&event(19, 1, 40, Body::Fork), c("cc"));
    assert_eq!(t.container_start_ns("cc"), Some(40 * TICK_NS + 5));
    assert_eq!(t.container_start_ns("host"), None);
    // No such processes in this (empty) /proc: the sweep drops them, and the
    // container with them.
    t.sweep();
    assert_eq!(t.container_start_ns("cc"), None);
}

/// A /proc holding one live process, `pid`, started at `start_tick`, whose
/// working directory is `cwd`.
fn proc_with_cwd(pid: u32, start_tick: u64, cwd: &str) -> ProcDir {
    let dir = ProcDir::new("process-cwd");
    let at = dir.path().join(pid.to_string());
    std::fs::create_dir_all(&at).expect("the pid dir");
    std::os::unix::fs::symlink(cwd, at.join("cwd")).expect("the cwd link");
    // Fields 3 to 21, then the start time (field 22).
    let stat = format!("{pid} (p{pid}) S{} {start_tick} 0\n", " 0".repeat(18));
    std::fs::write(at.join("stat"), stat).expect("the stat file");
    dir
}

#[test]
fn an_exec_reads_the_working_directory_unless_its_exit_is_already_read() {
    let proc = proc_with_cwd(11, 7, "/srv/app");
    let table_at = |root: &std::path::Path| {
        ProcessTable::new(TableConfig {
            proc_root: root.into(),
            ticks_per_second: 100,
            max_processes: 1000,
        })
    };
    let run = event(11, 1, 7, exec("/bin/true", 11));
    let exit = event(11, 1, 7, Body::Exit(Exit { status: 0 }));

    let mut t = table_at(proc.path());
    t.expect_exits(std::slice::from_ref(&run));
    t.observe(&run, None);
    assert_eq!(t.get(11).and_then(|p| p.cwd.as_deref()), Some("/srv/app"));

    // The same exec in a batch that also holds its exit: the process is gone,
    // so /proc is not asked (the fake one would still answer).
    let mut t = table_at(proc.path());
    let batch = [run.clone(), exit];
    t.expect_exits(&batch);
    t.observe(&batch[0], None);
    assert_eq!(t.get(11).and_then(|p| p.cwd.as_deref()), None);
    // Another process of that pid (a later start) is not taken for it.
    let reused = event(11, 1, 9, exec("/bin/true", 11));
    let proc2 = proc_with_cwd(11, 9, "/srv/other");
    let mut t = table_at(proc2.path());
    t.expect_exits(&batch);
    t.observe(&reused, None);
    assert_eq!(t.get(11).and_then(|p| p.cwd.as_deref()), Some("/srv/other"));
}
