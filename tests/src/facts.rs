//! Helpers for the exec-facts tests (`stdio`, `caps`, `drift`): an enricher
//! fed from the real ring, what it said of each event, and what /proc and `ps`
//! say to compare with.

use std::{
    net::{TcpListener, TcpStream},
    process::Command,
    time::Duration,
};

use sensor::{
    context::{EnrichConfig, Enricher},
    event::{Event, EventKind, Facts, FdType},
    kernel::{EventReader, KernelConfig, WakeupPolicy},
};

use crate::{argv, test_config};

/// What the enricher said of one event.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The event.
    pub event: Event,
    /// Its process's facts in the table.
    pub facts: Option<Facts>,
    /// Its container's id; `None` on the host.
    pub container: Option<String>,
    /// `container.start_ts`.
    pub container_start_ns: Option<u64>,
    /// `proc.is_exe_changed`.
    pub is_exe_changed: Option<bool>,
    /// `proc.sname`.
    pub sname: Option<String>,
    /// Whether the table's mask says CAP_SYS_ADMIN is effective.
    pub sys_admin: Option<bool>,
}

/// Exec, fork, exit and capset events, each delivered at once.
pub fn config() -> KernelConfig {
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

/// An enricher over this machine's /proc, without a kubelet.
pub fn enricher() -> Enricher {
    Enricher::start(&EnrichConfig::default(), None).expect("the enricher starts")
}

/// Reads, enriches and keeps events until `done` or `timeout`.
pub async fn enrich_until(
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
pub fn execs_with<'a>(seen: &'a [Seen], marker: &str) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| argv(&s.event).iter().any(|a| a == marker))
        .collect()
}

/// The exec with `marker` as an argument whose argv[0] ends with `argv0`.
pub fn exec_with<'a>(seen: &'a [Seen], marker: &str, argv0: &str) -> &'a Seen {
    execs_with(seen, marker)
        .into_iter()
        .find(|s| argv(&s.event).first().is_some_and(|a| a.ends_with(argv0)))
        .unwrap_or_else(|| panic!("no exec of {argv0} with {marker}"))
}

/// What the table says fd 0, 1 and 2 of the event's process are.
pub fn stdio(seen: &Seen) -> [FdType; 3] {
    seen.facts.expect("the process is in the table").stdio
}

/// CapEff, CapPrm, CapInh of `/proc/<pid>/status`.
pub fn status_caps(pid: u32) -> (u64, u64, u64) {
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

/// The table's capability sets of the event's process: effective, permitted, inheritable.
pub fn caps_of(seen: &Seen) -> (u64, u64, u64) {
    let caps = seen.facts.and_then(|f| f.caps).expect("caps are known");
    (caps.effective, caps.permitted, caps.inheritable)
}

/// The session id `ps` shows for `pid`.
pub fn ps_sid(pid: u32) -> u32 {
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
pub fn tcp_pair(addr: &str) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("listen on {addr}: {e}"));
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}
