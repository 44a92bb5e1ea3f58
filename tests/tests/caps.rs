//! Capability sets and sessions on the real kernel: a root process and a
//! container with a reduced set against /proc/PID/status, setpriv's capset
//! before its exec, and session ids against `ps -o sid` with their leader.

use std::{process::Command, time::Duration};

use sensor::event::{Body, EventKind, facts::cap_names};
use sensor_tests::{
    argv, can_load_ebpf,
    container::{Container, Layout, Spec},
    exec_of,
    facts::{
        Seen, caps_of, config, enrich_until, enricher, exec_with, execs_with, ps_sid, status_caps,
    },
    nonce, start_with,
};

#[tokio::test]
async fn capabilities_match_proc_status_and_follow_capset() {
    if !can_load_ebpf("capabilities") {
        return;
    }
    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    let marker = nonce("caps");
    // A reduced set, as a pod's securityContext gives one.
    let kept = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let container = Container::create_spec_with(
        &Spec {
            nonce: &marker,
            args: &["/bin/sleep", "30"],
            uid: 0,
            gid: 0,
            files: &[],
            host_network: false,
            layout: Layout::Cgroupfs,
        },
        |config| {
            let set: serde_json::Value = kept.iter().map(|c| serde_json::Value::from(*c)).collect();
            config["process"]["capabilities"] = serde_json::json!({
                "bounding": set, "effective": set, "permitted": set,
                "inheritable": [], "ambient": [],
            });
        },
    );
    let init_pid = container.init_pid();
    container.start();
    // A root shell on the host, and setpriv, whose capset adds an inheritable
    // capability before it execs.
    let mut root = Command::new("/bin/sh")
        .args(["-c", "exec /bin/sleep 5", &marker])
        .spawn()
        .expect("sh");
    let mut setpriv = Command::new("/usr/bin/setpriv")
        .args(["--inh-caps=+net_raw", "/bin/sh", "-c", "exec /bin/sleep 5"])
        .arg(format!("{marker}-setpriv"))
        .spawn()
        .expect("setpriv");
    let root_pid = root.id();
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(15), |seen| {
        seen.iter()
            .any(|s| s.event.task.pid == init_pid && exec_of(&s.event).is_some())
            && execs_with(seen, &format!("{marker}-setpriv")).len() >= 2
            && seen.iter().any(|s| {
                s.event.task.pid == root_pid
                    && argv(&s.event).first().is_some_and(|a| a == "/bin/sleep")
            })
    })
    .await;

    let init = seen
        .iter()
        .rfind(|s| s.event.task.pid == init_pid && exec_of(&s.event).is_some())
        .expect("the container's exec");
    assert_eq!(caps_of(init), status_caps(init_pid), "{init:?}");
    let caps = init.facts.and_then(|f| f.caps).expect("caps");
    assert_eq!(cap_names(caps.effective), "CAP_KILL CAP_NET_BIND_SERVICE");
    assert_eq!(cap_names(caps.inheritable), "");
    assert_eq!(init.sys_admin, Some(false));

    let host = seen
        .iter()
        .find(|s| {
            s.event.task.pid == root_pid
                && argv(&s.event).first().is_some_and(|a| a == "/bin/sleep")
        })
        .expect("the root sleep");
    assert_eq!(caps_of(host), status_caps(root_pid));
    assert_eq!(
        host.sys_admin,
        Some(true),
        "root on the host has CAP_SYS_ADMIN"
    );

    // setpriv's capset, seen before its exec: the table takes the new sets.
    let pid = setpriv.id();
    let capset = seen
        .iter()
        .rfind(|s| s.event.task.pid == pid && s.event.kind() == EventKind::Capset)
        .expect("setpriv's capset");
    let Body::Priv(call) = &capset.event.body else {
        panic!("a capset body")
    };
    assert_eq!(call.result, 0, "{call:?}");
    assert!(
        caps_of(capset).2 & (1 << 13) != 0,
        "CAP_NET_RAW inheritable after capset: {capset:?}"
    );
    let sh = exec_with(&seen, &format!("{marker}-setpriv"), "sh");
    assert_eq!(caps_of(sh), status_caps(pid));
    for child in [&mut root, &mut setpriv] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test]
async fn the_session_is_what_ps_shows_and_its_leader_names_it() {
    if !can_load_ebpf("session") {
        return;
    }
    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    let marker = nonce("session");
    let mut leader = Command::new("/usr/bin/setsid")
        .args([
            "/bin/sh",
            "-c",
            "/bin/sh -c 'exec /bin/sleep 5' \"$0\"; true",
        ])
        .arg(&marker)
        .spawn()
        .expect("setsid");
    let leader_pid = leader.id();
    let inner = |s: &&Seen| s.event.task.pid != leader_pid;
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
        execs_with(seen, &marker).iter().any(inner)
    })
    .await;
    // The inner shell, which the leader forked and which becomes sleep.
    let sleep = execs_with(&seen, &marker)
        .into_iter()
        .find(inner)
        .expect("the inner shell");
    let pid = sleep.event.task.pid;
    let sid = sleep.facts.and_then(|f| f.sid).expect("a session id");
    assert_eq!(sid, ps_sid(pid), "{sleep:?}");
    assert_ne!(sid, pid, "sleep is not its session's leader");
    assert_eq!(sid, ps_sid(leader.id()), "the shell leads the session");
    assert_eq!(sleep.sname.as_deref(), Some("sh"));
    // The test process's own session, and its leader, are another.
    let mine = ps_sid(std::process::id());
    assert_ne!(mine, sid);
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let _ = leader.kill();
    let _ = leader.wait();
}
