//! Reading a field of one event. Most values are borrowed from the event and its
//! context; the few that must be built (a command line, a time) are written into
//! per-field buffers that are reused from event to event, so that testing rules
//! allocates nothing once the buffers have grown.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::{
    access::{Access, Arg, Id},
    value::{List, Val},
};
use crate::{
    context::{Who, kubelet::WorkloadKind, process::Process},
    event::{Body, Event, clock::BootClock, file},
    output::context::{write_args, write_cmdline},
};

/// One event with everything known of it: what a rule is tested against.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The event.
    pub event: &'a Event,
    /// Its process, ancestors, container and pod.
    pub who: &'a Who<'a>,
    /// Its number (`evt.num`).
    pub num: u64,
    /// The clocks, for the times.
    pub clock: &'a BootClock,
    /// Clock ticks per second of /proc's start times.
    pub ticks_per_second: u64,
}

/// The buffers of the fields that are built, not borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Cmdline,
    Args,
    Pcmdline,
    Time,
    FdName,
    Res,
    Flags,
    Mode,
}

const SLOTS: usize = 8;

/// Reused buffers for built values; [`Scratch::reset`] before each event.
#[derive(Debug, Default)]
pub struct Scratch {
    bufs: [String; SLOTS],
    filled: u32,
    /// The `evt.arg.*` fields of the rarer kinds (privilege and file operations),
    /// built once per such event when a rule reads one.
    args: Vec<(&'static str, Json)>,
    args_filled: bool,
    /// Values of shared sub-conditions for this event: valid where the stamp
    /// is the current epoch, so a new event needs no clearing.
    memo_stamp: Vec<u32>,
    memo_value: Vec<bool>,
    epoch: u32,
}

impl Scratch {
    /// Forgets the previous event's values (keeping the buffers' memory).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.args_filled = false;
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // Once in four billion events: no stamp may outlive its epoch's
            // next turn, and 0 is never a current epoch.
            self.memo_stamp.fill(0);
            self.epoch = 1;
        }
    }

    /// Makes room for `n` remembered sub-conditions.
    pub fn memos(&mut self, n: usize) {
        self.memo_stamp = vec![0; n];
        self.memo_value = vec![false; n];
        self.epoch = 1;
    }

    /// The value of shared sub-condition `id` for this event, if known.
    pub fn memo(&self, id: u32) -> Option<bool> {
        let i = id as usize;
        (self.memo_stamp.get(i) == Some(&self.epoch)).then(|| self.memo_value[i])
    }

    /// Remembers the value of shared sub-condition `id` for this event.
    pub fn remember(&mut self, id: u32, value: bool) {
        let i = id as usize;
        if let (Some(stamp), Some(v)) = (self.memo_stamp.get_mut(i), self.memo_value.get_mut(i)) {
            *stamp = self.epoch;
            *v = value;
        }
    }

    /// Builds `access`'s value for `s` if it is built rather than borrowed: call
    /// before [`read`].
    pub fn fill(&mut self, access: &Access, s: &Subject<'_>) {
        if let Id::Arg(_) | Id::ArgFlags | Id::ArgMode = access.id
            && !matches!(s.event.body, Body::Open(_))
        {
            if !self.args_filled {
                self.args_filled = true;
                self.args.clear();
                match &s.event.body {
                    Body::Priv(call) => self.args.extend(call.arg_fields()),
                    Body::Fs(call) => self.args.extend(call.arg_fields()),
                    _ => {}
                }
            }
            return;
        }
        let Some(slot) = slot(access.id) else { return };
        let bit = 1 << slot as u32;
        if self.filled & bit != 0 {
            return;
        }
        self.filled |= bit;
        let buf = &mut self.bufs[slot as usize];
        buf.clear();
        build(slot, buf, s);
    }

    fn get(&self, slot: Slot) -> &str {
        &self.bufs[slot as usize]
    }
}

fn slot(id: Id) -> Option<Slot> {
    Some(match id {
        Id::Cmdline => Slot::Cmdline,
        Id::Args => Slot::Args,
        Id::Pcmdline => Slot::Pcmdline,
        Id::EvtTime => Slot::Time,
        Id::FdName => Slot::FdName,
        Id::Res => Slot::Res,
        Id::ArgFlags => Slot::Flags,
        Id::ArgMode => Slot::Mode,
        _ => return None,
    })
}

/// The arguments of the program the process runs: the exec's own, else the
/// table's.
fn argv<'a>(s: &Subject<'a>) -> Option<&'a [String]> {
    match &s.event.body {
        Body::Exec(exec) => Some(&exec.argv),
        _ => s.who.process.map(|p| &*p.args),
    }
}

fn build(slot: Slot, buf: &mut String, s: &Subject<'_>) {
    let event = s.event;
    match slot {
        Slot::Cmdline => {
            // As `sensor trace` prints it: the exec's own name, else the table's.
            let name = match (&event.body, s.who.process) {
                (Body::Exec(_), _) | (_, None) => &event.task.comm,
                (_, Some(p)) => &p.comm,
            };
            if let Some(argv) = argv(s) {
                write_cmdline(buf, name, argv);
            }
        }
        Slot::Args => {
            if let Some(argv) = argv(s) {
                write_args(buf, argv);
            }
        }
        Slot::Pcmdline => {
            if let Some(parent) = s.who.ancestors.first() {
                write_cmdline(buf, &parent.comm, &parent.args);
            }
        }
        Slot::Time => {
            let _ = write!(
                buf,
                "{}",
                humantime::format_rfc3339_nanos(s.clock.wall(event.boot_ns))
            );
        }
        Slot::FdName => {
            if let Body::Net(net) = &event.body {
                net.write_fd_name(buf);
            }
        }
        Slot::Res => {
            if let Some(result) = result(event) {
                let _ = write!(buf, "E{}", file::errno(result));
            }
        }
        Slot::Flags => {
            if let Body::Open(open) = &event.body {
                open.write_flags(buf);
            }
        }
        Slot::Mode => {
            if let Body::Open(open) = &event.body {
                let _ = write!(buf, "{:04o}", open.mode);
            }
        }
    }
}

fn result(event: &Event) -> Option<i64> {
    Some(match &event.body {
        Body::Open(open) => open.result,
        Body::Net(net) => net.result,
        Body::Priv(call) => call.result,
        Body::Fs(call) => call.result,
        Body::Exec(_) | Body::Fork | Body::Exit(_) => return None,
    })
}

fn opt_str(s: Option<&str>) -> Val<'_> {
    s.map_or(Val::Absent, Val::Str)
}

fn comm(p: &Process) -> &str {
    &p.comm
}

fn exepath(p: &Process) -> &str {
    &p.exepath
}

fn argv0(p: &Process) -> &str {
    p.args.first().map_or("", String::as_str)
}

/// `access`'s value for `s`; built values must have been [`Scratch::fill`]ed.
pub fn read<'a>(access: &Access, s: &Subject<'a>, scratch: &'a Scratch) -> Val<'a> {
    let event = s.event;
    let task = &event.task;
    let who = s.who;
    let process = who.process;
    let exec = match &event.body {
        Body::Exec(exec) => Some(exec),
        _ => None,
    };
    let listed = who.pod_container.as_ref();
    let info = listed.map(|l| l.container());
    let pod = listed.map(|l| &**l.pod()).or(who.pod.as_deref());
    let workload = pod.and_then(|p| p.workload.as_ref());
    let built = |slot| Val::Str(scratch.get(slot));
    match access.id {
        Id::EvtType => Val::Str(event.evt_type()),
        Id::EvtTime => built(Slot::Time),
        Id::EvtRawtime => Val::Uint(s.clock.epoch_ns(event.boot_ns)),
        Id::EvtNum => Val::Uint(s.num),
        Id::EvtTruncated if event.truncated.is_empty() => Val::Absent,
        Id::EvtTruncated => Val::List(List::Static(&event.truncated)),
        Id::EvtUnreadable if event.unreadable.is_empty() => Val::Absent,
        Id::EvtUnreadable => Val::List(List::Static(&event.unreadable)),
        Id::Pid => Val::Uint(task.pid.into()),
        Id::Tid => Val::Uint(task.tid.into()),
        Id::Ppid => Val::Uint(task.ppid.into()),
        Id::Name => Val::Str(&task.comm),
        Id::Exepath => match (exec, process) {
            (Some(exec), _) => Val::Str(&exec.exepath),
            (None, Some(p)) => Val::Str(&p.exepath),
            (None, None) => Val::Absent,
        },
        Id::ExepathSource => match exec {
            Some(exec) if exec.exepath_as_given => Val::Str("as_given"),
            Some(_) => Val::Str("executable"),
            None => Val::Absent,
        },
        Id::ExeFromMemfd => exec.map_or(Val::Absent, |e| Val::Bool(e.exe_from_memfd)),
        Id::ExeUnlinked => exec.map_or(Val::Absent, |e| Val::Bool(e.exe_unlinked)),
        Id::Exe => argv(s).map_or(Val::Absent, |a| {
            Val::Str(a.first().map_or("", String::as_str))
        }),
        Id::Args | Id::Cmdline if argv(s).is_none() => Val::Absent,
        Id::Args => built(Slot::Args),
        Id::Cmdline => built(Slot::Cmdline),
        Id::Argv => match (argv(s), &access.arg) {
            (Some(argv), Arg::Index(i)) => opt_str(argv.get(*i).map(String::as_str)),
            (Some(argv), _) => Val::List(List::Strings(argv)),
            (None, _) => Val::Absent,
        },
        Id::Uid => Val::Uint(task.uid.into()),
        Id::Gid => Val::Uint(task.gid.into()),
        Id::CgroupId => Val::Uint(task.cgroup_id),
        Id::Vpid => process
            .and_then(|p| p.vpid)
            .map_or(Val::Absent, |v| Val::Uint(v.into())),
        Id::PidTs => process.map_or(Val::Absent, |p| {
            let ns_per_tick = 1_000_000_000 / s.ticks_per_second.clamp(1, 1_000_000_000);
            Val::Uint(s.clock.epoch_ns(p.start_ticks.saturating_mul(ns_per_tick)))
        }),
        Id::ExecId => Val::Str(&who.exec_id),
        Id::PexecId => opt_str(who.parent_exec_id.as_deref()),
        Id::Cwd => opt_str(process.and_then(|p| p.cwd.as_deref())),
        Id::Tty => process.map_or(Val::Absent, |p| Val::Uint(p.tty.into())),
        Id::Loginuid => process.map_or(Val::Absent, |p| Val::Int(p.loginuid.map_or(-1, i64::from))),
        Id::StdioType(fd) => process.map_or(Val::Absent, |p| {
            Val::Str(p.facts.stdio[usize::from(fd).min(2)].name())
        }),
        Id::CapEffective | Id::CapPermitted | Id::CapInheritable => {
            match process.and_then(|p| p.facts.caps) {
                Some(caps) => Val::Caps(match access.id {
                    Id::CapEffective => caps.effective,
                    Id::CapPermitted => caps.permitted,
                    _ => caps.inheritable,
                }),
                None => Val::Absent,
            }
        }
        Id::Sid => process
            .and_then(|p| p.facts.sid)
            .map_or(Val::Absent, |sid| Val::Uint(sid.into())),
        Id::Sname => opt_str(who.session_leader.map(comm)),
        Id::ExeChanged => who.is_exe_changed().map_or(Val::Absent, Val::Bool),
        Id::ContainerStartTs => who.container_start_ns.map_or(Val::Absent, Val::Uint),
        Id::Pexe => opt_str(who.ancestors.first().map(|p| argv0(p))),
        Id::Duration => process.map_or(Val::Absent, |p| {
            let ns_per_tick = 1_000_000_000 / s.ticks_per_second.clamp(1, 1_000_000_000);
            Val::Uint(
                event
                    .boot_ns
                    .saturating_sub(p.start_ticks.saturating_mul(ns_per_tick)),
            )
        }),
        Id::UserName => opt_str(who.user_name.as_deref()),
        Id::UserHomedir => opt_str(who.user_homedir.as_deref()),
        Id::UserShell => opt_str(who.user_shell.as_deref()),
        Id::GroupName => opt_str(who.group_name.as_deref()),
        Id::LoginName => opt_str(who.user_loginname.as_deref()),
        Id::Pname => opt_str(who.ancestors.first().map(|p| comm(p))),
        Id::Pexepath => opt_str(who.ancestors.first().map(|p| exepath(p))),
        Id::Pcmdline if who.ancestors.is_empty() => Val::Absent,
        Id::Pcmdline => built(Slot::Pcmdline),
        Id::Aname | Id::Aexepath | Id::Aexe => {
            let (pick, own): (fn(&Process) -> &str, Id) = match access.id {
                Id::Aname => (comm, Id::Name),
                Id::Aexepath => (exepath, Id::Exepath),
                _ => (argv0, Id::Exe),
            };
            match access.arg {
                // Item 0 is the process itself, as in Falco.
                Arg::Index(0) => read(
                    &Access {
                        id: own,
                        arg: Arg::None,
                        kind: access.kind,
                    },
                    s,
                    scratch,
                ),
                Arg::Index(i) => opt_str(who.ancestors.get(i - 1).map(|p| pick(p))),
                // Without an index: any ancestor, as in Falco (not the process).
                _ => Val::List(List::Ancestors(&who.ancestors, pick)),
            }
        }
        Id::ContainerEntry => match process {
            Some(p) if p.container.is_some() => Val::Str(p.entry.name()),
            _ => Val::Absent,
        },
        Id::ContainerId => match &who.container {
            Some(c) => Val::Str(c.id.get(..12).unwrap_or(&c.id)),
            None => Val::Str("host"),
        },
        Id::ContainerFullId => match &who.container {
            Some(c) => Val::Str(&c.id),
            None => Val::Str("host"),
        },
        Id::ContainerType => match &who.container {
            Some(c) => match c.runtime {
                Some(runtime) => Val::Str(runtime.name()),
                None => opt_str(info.and_then(|i| i.runtime.as_deref())),
            },
            None => Val::Absent,
        },
        Id::ContainerName => match (&who.container, info) {
            (None, _) => Val::Str("host"),
            (Some(_), info) => opt_str(info.map(|i| i.name.as_str())),
        },
        Id::Image => opt_str(info.map(|i| i.image.as_str())),
        Id::ImageRepository => opt_str(info.map(|i| i.image_repository.as_str())),
        Id::ImageTag => opt_str(info.and_then(|i| i.image_tag.as_deref())),
        Id::ImageDigest => opt_str(info.and_then(|i| i.image_digest.as_deref())),
        Id::Privileged => info.map_or(Val::Absent, |i| Val::Bool(i.privileged)),
        Id::Namespace => opt_str(pod.map(|p| p.namespace.as_str())),
        Id::PodName => opt_str(pod.map(|p| p.name.as_str())),
        Id::PodUid => opt_str(
            pod.map(|p| p.uid.as_str())
                .or_else(|| who.container.as_ref().and_then(|c| c.pod_uid.as_deref())),
        ),
        Id::PodLabel => match &access.arg {
            Arg::Key(key) => opt_str(pod.and_then(|p| p.labels.get(&**key)).map(String::as_str)),
            _ => Val::Absent,
        },
        Id::ServiceAccount => opt_str(pod.and_then(|p| p.service_account.as_deref())),
        Id::WorkloadKind => opt_str(workload.map(|w| w.kind.as_str())),
        Id::WorkloadName => opt_str(workload.map(|w| w.name.as_str())),
        Id::Deployment => opt_str(
            workload
                .filter(|w| w.kind == WorkloadKind::Deployment)
                .map(|w| w.name.as_str()),
        ),
        Id::ReplicaSet => opt_str(workload.and_then(|w| w.replicaset.as_deref())),
        Id::Job => opt_str(workload.and_then(|w| w.job.as_deref())),
        Id::Node => opt_str(pod.and_then(|p| p.node_name.as_deref())),
        _ => read_body(access, s, scratch),
    }
}

/// The fields of the event's own body: file, network, result, arguments, exit.
fn read_body<'a>(access: &Access, s: &Subject<'a>, scratch: &'a Scratch) -> Val<'a> {
    let built = |slot| Val::Str(scratch.get(slot));
    match (&s.event.body, access.id) {
        (Body::Open(open), id) => match id {
            Id::FdName => Val::Str(&open.path),
            Id::FdNameSource => Val::Str(open.source.name()),
            Id::Directory => Val::Str(open.directory()),
            Id::Filename => Val::Str(open.filename()),
            Id::FdNum if open.result >= 0 => Val::Uint(open.result as u64),
            Id::Typechar => match open.typechar() {
                Some('f') => Val::Str("f"),
                Some('d') => Val::Str("d"),
                Some('l') => Val::Str("l"),
                Some('c') => Val::Str("c"),
                Some('b') => Val::Str("b"),
                Some('p') => Val::Str("p"),
                Some('s') => Val::Str("s"),
                _ => Val::Absent,
            },
            Id::OpenRead => Val::Bool(open.is_read()),
            Id::OpenWrite => Val::Bool(open.is_write()),
            Id::ArgFlags => built(Slot::Flags),
            Id::ArgMode => built(Slot::Mode),
            Id::Rawres | Id::Res => result_val(access.id, open.result, scratch),
            _ => Val::Absent,
        },
        (Body::Net(net), id) => {
            let cs = net.client_server();
            match id {
                Id::FdName => built(Slot::FdName),
                Id::FdType => Val::Str(net.fd_type()),
                Id::Typechar => Val::Str(net.typechar()),
                Id::Connected => Val::Bool(net.connected()),
                Id::NameChanged => Val::Bool(false),
                Id::EitherIp => cs.map_or(Val::Absent, |(c, sv)| Val::IpPair(c.ip(), sv.ip())),
                Id::L4proto => Val::Str(net.l4proto()),
                Id::Lip => Val::Ip(net.local.ip()),
                Id::Lport => Val::Uint(net.local.port().into()),
                Id::Rip if cs.is_some() => Val::Ip(net.remote.ip()),
                Id::Rport if cs.is_some() => Val::Uint(net.remote.port().into()),
                Id::Cip => cs.map_or(Val::Absent, |(c, _)| Val::Ip(c.ip())),
                Id::Cport => cs.map_or(Val::Absent, |(c, _)| Val::Uint(c.port().into())),
                Id::Sip => cs.map_or(Val::Absent, |(_, sv)| Val::Ip(sv.ip())),
                Id::Sport => cs.map_or(Val::Absent, |(_, sv)| Val::Uint(sv.port().into())),
                Id::Rawres | Id::Res => result_val(id, net.result, scratch),
                _ => Val::Absent,
            }
        }
        (Body::Fs(call), Id::FdName) => Val::Str(call.fd_name()),
        (Body::Fs(call), Id::FdNameSource) => {
            Val::Str(if call.syscall == crate::event::FsSyscall::Fchmod {
                "opened"
            } else {
                "as_given"
            })
        }
        (Body::Fs(call), id @ (Id::Rawres | Id::Res)) => result_val(id, call.result, scratch),
        (Body::Priv(call), id @ (Id::Rawres | Id::Res)) => result_val(id, call.result, scratch),
        (Body::Fs(_) | Body::Priv(_), Id::Arg(name)) => arg(scratch, name),
        (Body::Fs(_) | Body::Priv(_), Id::ArgFlags) => arg(scratch, crate::fields::EVT_ARG_FLAGS),
        (Body::Fs(_) | Body::Priv(_), Id::ArgMode) => arg(scratch, crate::fields::EVT_ARG_MODE),
        (Body::Exit(exit), Id::ExitCode) => {
            exit.code().map_or(Val::Absent, |c| Val::Uint(c.into()))
        }
        (Body::Exit(exit), Id::ExitSignal) => {
            exit.signal().map_or(Val::Absent, |c| Val::Uint(c.into()))
        }
        _ => Val::Absent,
    }
}

fn result_val(id: Id, result: i64, scratch: &Scratch) -> Val<'_> {
    if id == Id::Rawres {
        return Val::Int(result);
    }
    match file::result_name(result) {
        Some(name) => Val::Str(name),
        None => Val::Str(scratch.get(Slot::Res)),
    }
}

fn arg<'a>(scratch: &'a Scratch, name: &str) -> Val<'a> {
    match scratch
        .args
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
    {
        Some(Json::String(s)) => Val::Str(s),
        Some(Json::Bool(b)) => Val::Bool(*b),
        Some(Json::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Val::Uint(u),
            (None, Some(i)) => Val::Int(i),
            _ => Val::Absent,
        },
        _ => Val::Absent,
    }
}
