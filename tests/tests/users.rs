//! User and group names in `sensor trace` output, as each process sees them: a
//! runc container with its own `/etc/passwd` and `/etc/group` names its uid 4242
//! `appuser` and its gid 4243 `appgroup`, which the host has never heard of, while
//! a host process of uid 0 is `root`; the login name comes from the host's files.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use sensor_tests::{
    can_load_ebpf,
    container::{Container, Layout, Spec},
    nonce,
    trace::Trace,
};
use serde_json::Value;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      appuser:x:4242:4243:App User:/home/app:/bin/sh\n";
const GROUP: &str = "root:x:0:\nappgroup:x:4243:appuser\n";

/// Field `index` of uid `uid`'s line in the passwd file at `path`.
fn passwd_field(path: &str, uid: u32, index: usize) -> Option<String> {
    let file = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    file.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2) == Some(&uid.to_string().as_str()))
            .then(|| fields.get(index).map(|f| (*f).to_owned()))
            .flatten()
    })
}

/// Runs `script` with `sh -c` after setting its own audit login uid (root may set
/// an unset one), and waits for it.
fn with_loginuid(loginuid: u32, script: &str) {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("echo {loginuid} > /proc/self/loginuid && {script}"))
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "setting the login uid and running {script:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn processes_are_named_from_their_own_root() {
    if !can_load_ebpf("users") {
        return;
    }
    // The point is a user only the image has: the host must not know it.
    assert_eq!(
        passwd_field("/etc/passwd", 4242, 0),
        None,
        "this host has a uid 4242, so the test cannot tell whose file named it"
    );
    let root_home = passwd_field("/etc/passwd", 0, 5).expect("the host's root has a home");
    let marker = nonce("users");
    let script = format!("while true; do /bin/echo {marker}; /bin/sleep 0.1; done");
    let c = Container::create_spec(&Spec {
        nonce: &marker,
        args: &["/bin/sh", "-c", &script],
        uid: 4242,
        gid: 4243,
        files: &[("/etc/passwd", PASSWD), ("/etc/group", GROUP)],
        host_network: false,
        layout: Layout::Cgroupfs,
    });
    let trace = Trace::start(&["--events", "exec", "--poll-ms", "20"]);
    c.start();
    let host_marker = format!("{marker}-host");
    with_loginuid(0, &format!("exec /bin/echo {host_marker}"));
    // A session entered from a host login: `runc exec` runs as the container's
    // user and keeps the login uid of whoever ran it.
    let exec_marker = format!("{marker}-exec");
    with_loginuid(
        4242,
        &format!("exec runc exec {} /bin/echo {exec_marker}", c.id),
    );

    let mut in_container = Vec::new();
    let (mut host, mut exec) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while in_container.len() < 3 || host.is_none() || exec.is_none() {
        let line = trace
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                panic!(
                    "within 20 s: {} container echoes, host {}, exec {}",
                    in_container.len(),
                    host.is_some(),
                    exec.is_some()
                )
            });
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let arg = value["proc.argv"][1].as_str().unwrap_or_default();
        if arg == marker {
            in_container.push(value);
        } else if arg == host_marker {
            host = Some(value);
        } else if arg == exec_marker {
            exec = Some(value);
        }
    }
    let (host, exec) = (host.expect("host echo"), exec.expect("exec echo"));
    for event in in_container.iter().chain([&host, &exec]) {
        for key in event.as_object().expect("an object").keys() {
            assert!(
                sensor::fields::find(key).is_some(),
                "{key} is not in the catalogue"
            );
        }
    }

    // Every one of the container's echoes, not only the first: a short-lived
    // process is named even when it is gone before its event is read.
    for echo in &in_container {
        assert_eq!(echo["container.full_id"], c.id.as_str(), "{echo}");
        assert_eq!(echo["user.uid"], 4242, "{echo}");
        assert_eq!(echo["user.name"], "appuser", "{echo}");
        assert_eq!(echo["user.homedir"], "/home/app", "{echo}");
        assert_eq!(echo["user.shell"], "/bin/sh", "{echo}");
        assert_eq!(echo["group.gid"], 4243, "{echo}");
        assert_eq!(echo["group.name"], "appgroup", "{echo}");
    }

    assert_eq!(host["container.id"], "host", "{host}");
    assert_eq!(host["user.uid"], 0, "{host}");
    assert_eq!(host["user.name"], "root", "{host}");
    assert_eq!(host["user.homedir"], root_home.as_str(), "{host}");
    assert_eq!(host["group.name"], "root", "{host}");
    assert_eq!(host["user.loginuid"], 0, "{host}");
    assert_eq!(host["user.loginname"], "root", "{host}");

    assert_eq!(exec["container.full_id"], c.id.as_str(), "{exec}");
    assert_eq!(exec["user.name"], "appuser", "{exec}");
    assert_eq!(exec["group.name"], "appgroup", "{exec}");
    assert_eq!(exec["user.loginuid"], 4242, "{exec}");
    assert!(
        exec.get("user.loginname").is_none(),
        "a login uid is the node's, and the node has no 4242: {exec}"
    );
}
