//! Rule tests against the real thing: one `sensor run --stdout` per test file,
//! with the default rules and no noise control, and many runc containers run in
//! turn, each doing one thing. Every rule has a case: a trigger that must give a
//! finding of the rule (with its priority, the container's id and a key field)
//! and a benign neighbour, a similar harmless action, that must give none.
//! Findings are told apart by the container's full id, never by counts, since
//! other tests run containers on this machine at the same time.

use std::{
    ffi::CString,
    os::fd::{FromRawFd as _, OwnedFd},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    container::{Container, Layout, Spec, cgroup2_mount},
    nonce,
    trace::{Trace, sensor_bin},
};

/// A running `sensor run --stdout`, its findings collected as they come.
pub struct Sensor {
    /// The process; killed on drop.
    pub trace: Trace,
    findings: Arc<Mutex<Vec<Value>>>,
}

impl Sensor {
    /// Starts `sensor run --stdout` with every finding let through (no folding,
    /// no rate limit) and `extra` arguments (`--rules FILE`, ...).
    pub fn start(extra: &[&str]) -> Self {
        let mut trace = Trace::start_command(
            Command::new(sensor_bin())
                .args([
                    "run",
                    "--stdout",
                    "--fold-window-secs",
                    "0",
                    "--rule-rate",
                    "0",
                ])
                .args(extra),
        );
        let (_, none) = std::sync::mpsc::channel();
        let lines = std::mem::replace(&mut trace.lines, none);
        let findings = Arc::new(Mutex::new(Vec::new()));
        let kept = findings.clone();
        std::thread::spawn(move || {
            for line in lines {
                let value: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
                kept.lock().expect("the findings").push(value);
            }
        });
        Self { trace, findings }
    }

    /// The findings so far of the container with this full id.
    pub fn of_container(&self, full_id: &str) -> Vec<Value> {
        self.findings
            .lock()
            .expect("the findings")
            .iter()
            .filter(|f| f["output_fields"]["container.full_id"] == full_id)
            .cloned()
            .collect()
    }

    /// Waits until `done` holds for the findings so far, at most `timeout`;
    /// returns whether it did.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.findings.lock().expect("the findings")) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How an action runs in its container.
#[derive(Clone, Copy, Debug)]
pub enum How {
    /// `/bin/sh -c SCRIPT` is the container's own process.
    Init,
    /// The container sleeps; `runc exec` runs `setsid -c /bin/sh -c SCRIPT` with a
    /// pseudo-terminal as its stdio, so the shell has a controlling terminal
    /// (as `kubectl exec -it` gives).
    Terminal,
    /// The container sleeps; `runc exec` runs `/bin/sh -c SCRIPT` with a TCP
    /// connection (to a listener of the test) as its stdio: what a reverse
    /// shell (`sh -i >& /dev/tcp/HOST/PORT 0>&1`, `socat exec:sh`) looks like.
    SocketStdio,
    /// The container sleeps; a child of the test joins its cgroup (as `runc exec`
    /// does, without its namespaces) and makes the system calls of the function:
    /// for those no busybox applet makes (bpf, ptrace, memfd exec, ...).
    Syscalls(fn()),
}

/// One thing done in a fresh container.
#[derive(Clone, Debug)]
pub struct Act {
    /// The shell script (for [`How::Init`] and [`How::Terminal`]).
    pub script: String,
    /// How it runs.
    pub how: How,
    /// The user id of the container's process.
    pub uid: u32,
    /// Files written into the root filesystem first.
    pub files: Vec<(String, String)>,
    /// Whether the container shares the host's network namespace (to reach a
    /// listener of the test on 127.0.0.1).
    pub host_network: bool,
}

impl Act {
    /// `sh -c script` as root in a container of its own network namespace.
    pub fn sh(script: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            how: How::Init,
            uid: 0,
            files: Vec::new(),
            host_network: false,
        }
    }

    /// The script in a shell with a terminal, started by `runc exec`.
    pub fn terminal(script: impl Into<String>) -> Self {
        Self {
            how: How::Terminal,
            ..Self::sh(script)
        }
    }

    /// The script in a shell whose stdio is a TCP connection.
    pub fn over_socket(script: impl Into<String>) -> Self {
        Self {
            how: How::SocketStdio,
            ..Self::sh(script)
        }
    }

    /// System calls made by a process in the container's cgroup.
    pub fn syscalls(body: fn()) -> Self {
        Self {
            how: How::Syscalls(body),
            ..Self::sh("")
        }
    }

    /// The same, as `uid` (and the same gid).
    pub fn as_user(mut self, uid: u32) -> Self {
        self.uid = uid;
        self
    }

    /// The same, with a file in the root filesystem.
    pub fn file(mut self, path: &str, content: &str) -> Self {
        self.files.push((path.to_owned(), content.to_owned()));
        self
    }

    /// The same, with an executable shell script at `path` (a fake tool: its
    /// process is named after the file).
    pub fn tool(self, path: &str, body: &str) -> Self {
        let script = format!("#!/bin/sh\n{body}\n");
        let chmod = format!("chmod 755 {path}; ");
        let mut act = self.file(path, &script);
        act.script = chmod + &act.script;
        act
    }

    /// The same, in the host's network namespace.
    pub fn host_network(mut self) -> Self {
        self.host_network = true;
        self
    }

    /// Runs the action in a new container and waits for it to finish. The
    /// container is returned, not deleted: its cgroup must outlive the sensor's
    /// reading of its events, or they could not be placed in it.
    pub fn run(&self, label: &str) -> Container {
        let marker = nonce(label);
        let files: Vec<(&str, &str)> = self
            .files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let sleeper = ["/bin/sleep", "20"];
        let script = ["/bin/sh", "-c", self.script.as_str()];
        let args: &[&str] = match self.how {
            How::Init => &script,
            How::Terminal | How::SocketStdio | How::Syscalls(_) => &sleeper,
        };
        let container = Container::create_spec(&Spec {
            nonce: &marker,
            args,
            uid: self.uid,
            gid: self.uid,
            files: &files,
            host_network: self.host_network,
            layout: Layout::Cgroupfs,
        });
        container.start();
        match self.how {
            How::Init => container.wait(Duration::from_secs(20)),
            How::Terminal => exec_with_terminal(&container, &self.script),
            How::SocketStdio => exec_over_socket(&container, &self.script),
            How::Syscalls(body) => in_cgroup(&container, body),
        }
        container
    }
}

/// `runc exec` of `setsid -c /bin/sh -c script`, its stdio a new pseudo-terminal.
fn exec_with_terminal(container: &Container, script: &str) {
    let (mut leader, mut follower) = (-1, -1);
    // SAFETY: openpty writes two descriptors into the given ints; the other
    // arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut leader,
            &mut follower,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty just returned these descriptors; each is owned once.
    let (leader, follower) =
        unsafe { (OwnedFd::from_raw_fd(leader), OwnedFd::from_raw_fd(follower)) };
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup a pty descriptor"));
    // Detached: runc hands the terminal to the process itself (attached, it
    // would copy through pipes of its own).
    let status = Command::new("runc")
        .args(["exec", "-d", &container.id])
        .args(["/bin/setsid", "-c", "/bin/sh", "-c", script])
        .stdin(stdio(&follower))
        .stdout(stdio(&follower))
        .stderr(stdio(&follower))
        .status()
        .expect("running runc exec");
    assert!(status.success(), "runc exec with a terminal: {status}");
    // The shell has ended when the terminal's last follower closes: reads of the
    // leader then fail (EIO).
    drop(follower);
    let mut leader = std::fs::File::from(leader);
    let mut buf = [0u8; 512];
    while std::io::Read::read(&mut leader, &mut buf).is_ok_and(|n| n > 0) {}
}

/// `runc exec` of `/bin/sh -c script`, its stdio a TCP connection to the test.
fn exec_over_socket(container: &Container, script: &str) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding");
    let client = std::net::TcpStream::connect(listener.local_addr().expect("an address"))
        .expect("connecting");
    let (mut server, _) = listener.accept().expect("accepting");
    let client = OwnedFd::from(client);
    let stdio = || Stdio::from(client.try_clone().expect("dup the socket"));
    let status = Command::new("runc")
        .args(["exec", "-d", &container.id, "/bin/sh", "-c", script])
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .status()
        .expect("running runc exec");
    assert!(status.success(), "runc exec over a socket: {status}");
    // The shell has ended when the connection's last copy closes: EOF.
    drop(client);
    let mut buf = [0u8; 512];
    while std::io::Read::read(&mut server, &mut buf).is_ok_and(|n| n > 0) {}
}

/// Forks a child that moves itself into `container`'s cgroup, runs `body` (raw
/// system calls only: the test is multi-threaded) and exits; waits for it.
fn in_cgroup(container: &Container, body: fn()) {
    let procs = cgroup2_mount()
        .join(container.cgroup_path.trim_start_matches('/'))
        .join("cgroup.procs");
    let procs = CString::new(procs.into_os_string().into_encoded_bytes()).expect("a C path");
    // SAFETY: between fork and _exit the child only makes system calls.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain system calls on a path and a buffer that live on.
        unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            // "0" moves the writer itself.
            if fd < 0 || libc::write(fd, c"0".as_ptr().cast(), 1) != 1 {
                libc::_exit(101);
            }
            libc::close(fd);
        }
        body();
        // SAFETY: leaving the child without the harness's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 101,
        "the child could not join {}'s cgroup",
        container.id
    );
}

/// What a finding's key field must be.
#[derive(Clone, Debug)]
pub enum Expect {
    /// Exactly this value.
    Is(Value),
    /// A string containing this.
    Has(&'static str),
}

/// `Expect::Is` of a string.
pub fn is(s: &str) -> Expect {
    Expect::Is(Value::from(s))
}

/// One rule's test: what must fire it and what must not.
#[derive(Clone, Debug)]
pub struct Case {
    /// The rule's name.
    pub rule: &'static str,
    /// Its priority as Falco prints it (Warning, Critical, ...).
    pub priority: &'static str,
    /// A field of the trigger's finding and what it must be.
    pub key: (&'static str, Expect),
    /// Must give a finding of the rule.
    pub trigger: Act,
    /// Must give none.
    pub benign: Act,
}

impl Case {
    /// A case.
    pub fn new(
        rule: &'static str,
        priority: &'static str,
        key: (&'static str, Expect),
        trigger: Act,
        benign: Act,
    ) -> Self {
        Self {
            rule,
            priority,
            key,
            trigger,
            benign,
        }
    }
}

fn holds(expect: &Expect, value: &Value) -> bool {
    match expect {
        Expect::Is(v) => value == v,
        Expect::Has(s) => value.as_str().is_some_and(|v| v.contains(s)),
    }
}

fn of_rule<'a>(findings: &'a [Value], rule: &str) -> Vec<&'a Value> {
    findings.iter().filter(|f| f["rule"] == rule).collect()
}

/// Runs every case's trigger and benign neighbour, each in its own container,
/// then checks the findings; panics with every failure at once.
pub fn check(sensor: &Sensor, cases: &[Case]) {
    let started = Instant::now();
    let mut ran = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let trigger = case.trigger.run(&format!("rule{i}t"));
        let benign = case.benign.run(&format!("rule{i}b"));
        ran.push((case, trigger, benign));
    }
    let ids: Vec<(&str, String)> = ran.iter().map(|(c, t, _)| (c.rule, t.id.clone())).collect();
    // Every trigger's finding, or the timeout; then a moment for any finding
    // of the benign containers still in the ring.
    sensor.wait_until(Duration::from_secs(15), |all| {
        ids.iter().all(|(rule, id)| {
            all.iter()
                .any(|f| f["rule"] == *rule && f["output_fields"]["container.full_id"] == **id)
        })
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut failures = Vec::new();
    for (case, trigger, benign) in &ran {
        let found = sensor.of_container(&trigger.id);
        let hits = of_rule(&found, case.rule);
        // The finding whose key holds, else the first, to say what is wrong.
        let (field, expect) = &case.key;
        let best = hits
            .iter()
            .find(|h| holds(expect, &h["output_fields"][*field]))
            .or(hits.first());
        match best {
            None => {
                let rules: Vec<&Value> = found.iter().map(|f| &f["rule"]).collect();
                failures.push(format!(
                    "{}: no finding from its trigger {:?} (the container gave {rules:?})",
                    case.rule, case.trigger.script
                ));
            }
            Some(hit) => {
                let value = &hit["output_fields"][*field];
                if hit["priority"] != case.priority {
                    failures.push(format!(
                        "{}: priority {} instead of {}",
                        case.rule, hit["priority"], case.priority
                    ));
                }
                if hit["output_fields"]["container.full_id"] != trigger.id.as_str()
                    || hit["output_fields"]["container.id"] != trigger.id[..12]
                {
                    failures.push(format!("{}: not the trigger's container: {hit}", case.rule));
                }
                if !holds(expect, value) {
                    failures.push(format!(
                        "{}: {field} is {value}, expected {expect:?} (output: {})",
                        case.rule, hit["output"]
                    ));
                }
            }
        }
        let quiet = sensor.of_container(&benign.id);
        if let Some(hit) = of_rule(&quiet, case.rule).first() {
            failures.push(format!(
                "{}: its benign neighbour {:?} gave a finding: {}",
                case.rule, case.benign.script, hit["output"]
            ));
        }
    }
    eprintln!(
        "{} rules, {} containers, {:.1} s",
        cases.len(),
        2 * cases.len(),
        started.elapsed().as_secs_f64()
    );
    drop(ran);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
