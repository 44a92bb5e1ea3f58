//! `cargo xtask run`: the product on this host, as a developer wants it. It
//! makes development certificates (once), starts the collector on loopback with
//! its SQLite file, starts the agent pointed at it, and shows findings as they
//! arrive through `sensorctl tail`. Ctrl-C stops all three cleanly, the last
//! started first, so the agent hands its findings to a collector still
//! running: each gets SIGINT, a grace period, and only then SIGKILL. The three
//! run in process groups of their own, so the terminal's Ctrl-C reaches only
//! this task, which then stops them in that order.
//!
//! Everything lives under `target/dev/`: `certs/`, `findings.db`, `spool/`.

use std::{
    os::unix::process::CommandExt as _,
    process::{Child, Command},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::cmd::{build_binaries, is_root, run as run_cmd, workspace_root};

/// Where the collector listens.
const COLLECTOR_ADDR: &str = "127.0.0.1:50051";
/// Where the agent serves its metrics.
const METRICS_ADDR: &str = "127.0.0.1:9464";
/// How long each process may take to stop after SIGINT.
const GRACE: Duration = Duration::from_secs(10);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The host's name: the node name of findings and of the agent's certificate.
fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A command for a binary of the workspace, through sudo when it needs root
/// (non-interactive: [`run`] asks for the password first, in the foreground,
/// since a process in a group of its own cannot read the terminal).
fn bin(name: &str, as_root: bool) -> Command {
    let path = workspace_root().join("target/debug").join(name);
    if as_root && !is_root() {
        let mut sudo = Command::new("sudo");
        sudo.arg("-n").arg(path);
        sudo
    } else {
        Command::new(path)
    }
}

/// Starts `command` in a process group of its own (see the module's doc).
fn spawn(what: &str, command: &mut Command) -> Result<Child> {
    command
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start the {what}"))
}

/// Runs the collector, the agent (with `sensor_args` added) and `sensorctl tail`.
pub fn run(sensor_args: &[String]) -> Result<()> {
    run_cmd(&mut build_binaries())?;
    let dir = workspace_root().join("target/dev");
    let certs = dir.join("certs");
    let node = node_name();
    if !certs.join(format!("{node}.pem")).exists() || !certs.join("analyst.pem").exists() {
        run_cmd(
            bin("collector", false)
                .args(["dev-certs", "--dir"])
                .arg(&certs)
                .args(["--node", &node, "--client", "analyst"]),
        )?;
    }
    if !is_root() {
        run_cmd(Command::new("sudo").arg("-v")).context("the agent needs root, through sudo")?;
    }
    let file = |name: &str| certs.join(name);
    let url = format!(
        "https://localhost:{}",
        COLLECTOR_ADDR.rsplit(':').next().unwrap_or("50051")
    );
    // SIGHUP too: a closed terminal no longer reaches the children's own
    // groups, so this task stops them.
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signum in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is signal-safe;
        // a handler (unlike an ignored signal) is reset in children at exec.
        unsafe { libc::signal(signum, handler) };
    }
    let mut children: Vec<(&str, Child)> = Vec::new();
    let result = (|| -> Result<()> {
        let collector = spawn(
            "collector",
            bin("collector", false)
                .args(["--listen", COLLECTOR_ADDR, "--db"])
                .arg(dir.join("findings.db"))
                .arg("--tls-cert")
                .arg(file("server.pem"))
                .arg("--tls-key")
                .arg(file("server-key.pem"))
                .arg("--client-ca")
                .arg(file("ca.pem")),
        )?;
        children.push(("collector", collector));
        wait_listening(COLLECTOR_ADDR)?;
        let agent = spawn(
            "agent",
            bin("sensor", true)
                .args(["run", "--collector", &url, "--tls-cert"])
                .arg(file(&format!("{node}.pem")))
                .arg("--tls-key")
                .arg(file(&format!("{node}-key.pem")))
                .arg("--tls-ca")
                .arg(file("ca.pem"))
                .arg("--spool-dir")
                .arg(dir.join("spool"))
                // No --node-name: it would turn the kubelet on, and a
                // development host has none. The agent names findings by the
                // host name, which is the certificate's name.
                .args(["--metrics-addr", METRICS_ADDR])
                .args(sensor_args),
        )?;
        children.push(("agent", agent));
        let tail = spawn(
            "sensorctl tail",
            bin("sensorctl", false)
                .args(["--collector", &url, "--tls-cert"])
                .arg(file("analyst.pem"))
                .arg("--tls-key")
                .arg(file("analyst-key.pem"))
                .arg("--tls-ca")
                .arg(file("ca.pem"))
                .arg("tail"),
        )?;
        children.push(("sensorctl tail", tail));
        eprintln!(
            "xtask: collector on {COLLECTOR_ADDR} (database {}), agent metrics on http://{METRICS_ADDR}/metrics; findings follow. Ctrl-C stops.",
            dir.join("findings.db").display()
        );
        while !STOP.load(Ordering::SeqCst) {
            for (what, child) in &mut children {
                if let Some(status) = child.try_wait()? {
                    bail!("the {what} stopped: {status}");
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    })();
    // The last started stops first: the agent hands its findings to a live
    // collector.
    for (what, mut child) in children.into_iter().rev() {
        stop(what, &mut child);
    }
    result
}

fn wait_listening(addr: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() >= deadline || STOP.load(Ordering::SeqCst) {
            bail!("the collector did not listen on {addr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// SIGINT (unless it has stopped already), then SIGKILL after the grace period.
fn stop(what: &str, child: &mut Child) {
    if let Ok(Some(status)) = child.try_wait() {
        eprintln!("xtask: the {what} stopped ({status})");
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGINT) };
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("xtask: the {what} stopped ({status})");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("xtask: the {what} did not stop within {GRACE:?}; killing it");
    let _ = child.kill();
    let _ = child.wait();
}
