//! The peers a benchmark measures this sensor against, as their users run them:
//! `opensnoop` and `execsnoop` from Debian's libbpf-tools, printing every event,
//! and a bpftrace one-liner that only counts in the kernel (the cheapest possible
//! observer of the same tracepoints).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

/// A peer observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// libbpf-tools `opensnoop`: every open, printed.
    Opensnoop,
    /// libbpf-tools `execsnoop`: every exec, printed.
    Execsnoop,
    /// `bpftrace`, counting opens, execs and connects in a kernel map.
    BpftraceCount,
}

/// The bpftrace program: one count per tracepoint hit, nothing sent to user space
/// until it exits.
const BPFTRACE_COUNT: &str = "tracepoint:syscalls:sys_exit_open, \
tracepoint:syscalls:sys_exit_openat, tracepoint:syscalls:sys_exit_openat2, \
tracepoint:sched:sched_process_exec, tracepoint:syscalls:sys_exit_connect \
{ @[probe] = count(); }";

impl Peer {
    /// Every peer.
    pub const ALL: [Peer; 3] = [Peer::Opensnoop, Peer::Execsnoop, Peer::BpftraceCount];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Opensnoop => "opensnoop",
            Peer::Execsnoop => "execsnoop",
            Peer::BpftraceCount => "bpftrace-count",
        }
    }

    fn command(self) -> Command {
        match self {
            Peer::Opensnoop => Command::new("/usr/sbin/opensnoop"),
            Peer::Execsnoop => Command::new("/usr/sbin/execsnoop"),
            Peer::BpftraceCount => {
                let mut command = Command::new("bpftrace");
                command.args(["-e", BPFTRACE_COUNT]);
                command
            }
        }
    }

    /// Starts the peer with its output in `out` (the file its user would keep)
    /// and waits until its programs are attached.
    pub fn start(self, out: &Path) -> anyhow::Result<Running> {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let child = self
            .command()
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (Debian's libbpf-tools and bpftrace; `cargo xtask bench` installs them)",
                    self.name()
                )
            })?;
        let mut running = Running { peer: self, child };
        running.wait_attached()?;
        Ok(running)
    }
}

/// A running peer; stopped with SIGINT (as its user stops it) on drop.
pub struct Running {
    peer: Peer,
    child: Child,
}

impl Running {
    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the peer holds its attachments: tracepoints attached with
    /// perf events or BPF links, their number unchanged for 300 ms. Their output
    /// is buffered, so a printed header says nothing about when they start.
    fn wait_attached(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut last, mut since) = (0, Instant::now());
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited before attaching: {status}", self.peer.name());
            }
            let now = attachments(self.child.id());
            if now != last {
                (last, since) = (now, Instant::now());
            } else if now > 0 && since.elapsed() >= Duration::from_millis(300) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not attach within 60 s", self.peer.name());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the peer and waits for it.
    pub fn stop(mut self) {
        self.interrupt();
    }

    fn interrupt(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.interrupt();
        }
    }
}

/// How many perf-event and BPF-link descriptors `pid` holds.
fn attachments(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| {
            let target = target.to_string_lossy();
            target == "anon_inode:[perf_event]" || target == "anon_inode:bpf_link"
        })
        .count()
}
