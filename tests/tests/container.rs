//! An exec inside a real container (runc, busybox, a kubelet-like cgroup path)
//! carries the container's cgroup id, its argv, parent and user.

use std::time::Duration;

use sensor_tests::{
    can_load_ebpf,
    container::{Container, own_cgroup_id},
    exec_of, nonce, read_until, start,
};

#[tokio::test]
async fn exec_in_a_container_carries_its_cgroup() {
    if !can_load_ebpf("container_exec") {
        return;
    }
    let (_sensor, mut reader) = start();
    let marker = nonce("container");
    let script = format!("/bin/echo {marker}; /bin/true");
    let container = Container::create(&marker, &["/bin/sh", "-c", &script], 1234, 5678);
    let cgroup_id = container.cgroup_id();
    let init_pid = container.init_pid();
    container.start();
    container.wait(Duration::from_secs(20));
    assert!(
        container.stdout().contains(&marker),
        "the container ran its script"
    );

    let is_echo =
        |e: &sensor::event::Event| exec_of(e).is_some_and(|x| x.argv.get(1) == Some(&marker));
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events.iter().any(is_echo)
    })
    .await;
    let echo = events.iter().find(|e| is_echo(e)).unwrap_or_else(|| {
        panic!(
            "no exec event for the container's echo among {}",
            events.len()
        )
    });
    let exec = exec_of(echo).expect("an exec event");
    assert_eq!(exec.argv, ["/bin/echo", marker.as_str()]);
    assert_eq!(
        echo.task.cgroup_id, cgroup_id,
        "the container's cgroup v2 inode"
    );
    assert_eq!(
        echo.task.ppid, init_pid,
        "the container's shell is the parent"
    );
    assert_eq!((echo.task.uid, echo.task.gid), (1234, 5678));
    assert!(
        exec.vpid > 1,
        "the echo is not the container's first process: {}",
        exec.vpid
    );

    // The container's first program, exec'd by runc init, is in the cgroup too.
    let shell = events
        .iter()
        .find(|e| e.task.pid == init_pid && exec_of(e).is_some())
        .expect("an exec event for the container's init");
    let exec = exec_of(shell).expect("an exec event");
    assert_eq!(exec.argv, ["/bin/sh", "-c", script.as_str()]);
    assert_eq!(
        exec.vpid, 1,
        "the first process in the container's pid namespace"
    );
    assert_eq!(shell.task.cgroup_id, cgroup_id);
    assert_ne!(
        cgroup_id,
        own_cgroup_id(),
        "the container is not in our cgroup"
    );
}

/// Process, network and privilege events from inside one container: the shell's
/// children (clone and procexit), busybox setpriv changing ids, and busybox nc
/// listening for and accepting a connection from the host.
#[tokio::test]
async fn process_network_and_privilege_events_in_a_container() {
    use sensor::event::{Body, EventKind, NetOp, PrivSyscall};
    if !can_load_ebpf("container_kinds") {
        return;
    }
    let (_sensor, mut reader) = start();
    // A free port: bind, note it, release it for nc.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let marker = nonce("kinds");
    // busybox: setpriv sets inheritable capabilities (capset), su drops to nobody
    // (setgid, setuid), nc listens and accepts once.
    let script = format!(
        "/bin/setpriv --inh-caps +kill /bin/true; /bin/su -s /bin/true nobody; \
         /bin/nc -l -p {port} </dev/null; /bin/echo {marker}"
    );
    let container = Container::create_inner(
        &marker,
        &["/bin/sh", "-c", &script],
        0,
        0,
        &[
            (
                "/etc/passwd",
                "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/true\n",
            ),
            ("/etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ],
        true,
    );
    let cgroup_id = container.cgroup_id();
    container.start();
    // nc needs a moment to listen: retry the connect for a while.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => break stream,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(err) => panic!("nc in the container never listened: {err}"),
        }
    };
    drop(stream);
    container.wait(Duration::from_secs(20));

    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events.iter().any(|e| {
            e.task.cgroup_id == cgroup_id
                && exec_of(e).is_some_and(|x| x.argv.get(1) == Some(&marker))
        })
    })
    .await;
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.task.cgroup_id == cgroup_id)
        .collect();
    let kinds: Vec<EventKind> = mine.iter().map(|e| e.kind()).collect();
    for kind in [
        EventKind::Fork,
        EventKind::Exit,
        EventKind::Exec,
        EventKind::SetId,
        EventKind::Listen,
        EventKind::Accept,
    ] {
        assert!(
            kinds.contains(&kind),
            "no {kind:?} event from the container: {kinds:?}"
        );
    }
    let setid = mine
        .iter()
        .find_map(|e| match &e.body {
            Body::Priv(call)
                if matches!(
                    call.syscall,
                    PrivSyscall::Setresuid | PrivSyscall::Setreuid | PrivSyscall::Setuid
                ) =>
            {
                Some(call)
            }
            _ => None,
        })
        .expect("su changed the uid to nobody");
    assert_eq!(setid.result, 0, "{setid:?}");
    let capset = mine
        .iter()
        .find_map(|e| match &e.body {
            // runc init sets the container's capabilities first; setpriv's adds an
            // inheritable one.
            Body::Priv(call) if call.syscall == PrivSyscall::Capset && call.args[3] != 0 => {
                Some(call)
            }
            _ => None,
        })
        .expect("setpriv set capabilities");
    assert_eq!(capset.args[3], 1 << 5, "CAP_KILL inheritable: {capset:?}");
    let listen = mine
        .iter()
        .find_map(|e| match &e.body {
            Body::Net(net) if net.op == NetOp::Listen => Some(net),
            _ => None,
        })
        .expect("nc listened");
    assert_eq!(listen.local.port(), port);
    let accept = mine
        .iter()
        .find_map(|e| match &e.body {
            Body::Net(net) if net.op == NetOp::Accept => Some(net),
            _ => None,
        })
        .expect("nc accepted");
    assert_eq!(accept.local.port(), port);
    // nc listens dual-stack: the host's IPv4 peer shows as ::ffff:127.0.0.1.
    assert!(
        accept.remote.ip().to_canonical().is_loopback(),
        "{accept:?}"
    );
}
