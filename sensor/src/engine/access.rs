//! Which field a rule reads, resolved once when the rule is compiled: a name of the
//! catalogue becomes an [`Id`] the engine reads with a `match`, not a string lookup.

use crate::fields::{self as f, FieldType};

/// A field the engine can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Id {
    /// `evt.type`.
    EvtType,
    /// `evt.time`.
    EvtTime,
    /// `evt.rawtime`.
    EvtRawtime,
    /// `evt.num`.
    EvtNum,
    /// `evt.truncated`.
    EvtTruncated,
    /// `evt.unreadable`.
    EvtUnreadable,
    /// `proc.pid`.
    Pid,
    /// `thread.tid`.
    Tid,
    /// `proc.ppid`.
    Ppid,
    /// `proc.name`.
    Name,
    /// `proc.exepath`.
    Exepath,
    /// `proc.exepath_source`.
    ExepathSource,
    /// `proc.is_exe_from_memfd`.
    ExeFromMemfd,
    /// `proc.is_exe_unlinked`.
    ExeUnlinked,
    /// `proc.exe`.
    Exe,
    /// `proc.args`.
    Args,
    /// `proc.argv`.
    Argv,
    /// `proc.cmdline`.
    Cmdline,
    /// `user.uid`.
    Uid,
    /// `group.gid`.
    Gid,
    /// `cgroup.id`.
    CgroupId,
    /// `proc.vpid`.
    Vpid,
    /// `proc.pid.ts`.
    PidTs,
    /// `proc.exec_id`.
    ExecId,
    /// `proc.pexec_id`.
    PexecId,
    /// `proc.cwd`.
    Cwd,
    /// `proc.tty`.
    Tty,
    /// `user.loginuid`.
    Loginuid,
    /// `proc.pname`.
    Pname,
    /// `proc.pexepath`.
    Pexepath,
    /// `proc.pcmdline`.
    Pcmdline,
    /// `proc.aname`, `proc.aname[N]`.
    Aname,
    /// `proc.aexepath`, `proc.aexepath[N]`.
    Aexepath,
    /// `proc.container_entry`.
    ContainerEntry,
    /// `container.id`.
    ContainerId,
    /// `container.full_id`.
    ContainerFullId,
    /// `container.type`.
    ContainerType,
    /// `container.name`.
    ContainerName,
    /// `container.image`.
    Image,
    /// `container.image.repository`.
    ImageRepository,
    /// `container.image.tag`.
    ImageTag,
    /// `container.image.digest`.
    ImageDigest,
    /// `container.privileged`.
    Privileged,
    /// `k8s.ns.name`.
    Namespace,
    /// `k8s.pod.name`.
    PodName,
    /// `k8s.pod.uid`.
    PodUid,
    /// `k8s.pod.label[NAME]`.
    PodLabel,
    /// `k8s.pod.service_account`.
    ServiceAccount,
    /// `k8s.workload.kind`.
    WorkloadKind,
    /// `k8s.workload.name`.
    WorkloadName,
    /// `k8s.deployment.name`.
    Deployment,
    /// `k8s.rs.name`.
    ReplicaSet,
    /// `k8s.job.name`.
    Job,
    /// `k8s.node.name`.
    Node,
    /// `fd.name`.
    FdName,
    /// `fd.type`.
    FdType,
    /// `fd.l4proto`.
    L4proto,
    /// `fd.lip`.
    Lip,
    /// `fd.lport`.
    Lport,
    /// `fd.rip`.
    Rip,
    /// `fd.rport`.
    Rport,
    /// `fd.cip`.
    Cip,
    /// `fd.cport`.
    Cport,
    /// `fd.sip`.
    Sip,
    /// `fd.sport`.
    Sport,
    /// `fd.name_source`.
    FdNameSource,
    /// `fd.directory`.
    Directory,
    /// `fd.filename`.
    Filename,
    /// `fd.num`.
    FdNum,
    /// `fd.typechar`.
    Typechar,
    /// `evt.rawres`.
    Rawres,
    /// `evt.res`.
    Res,
    /// `evt.is_open_read`.
    OpenRead,
    /// `evt.is_open_write`.
    OpenWrite,
    /// `evt.arg.flags`.
    ArgFlags,
    /// `evt.arg.mode`.
    ArgMode,
    /// `exit.code`.
    ExitCode,
    /// `exit.signal`.
    ExitSignal,
    /// `user.name`.
    UserName,
    /// `user.homedir`.
    UserHomedir,
    /// `user.shell`.
    UserShell,
    /// `group.name`.
    GroupName,
    /// `user.loginname`.
    LoginName,
    /// Another `evt.arg.*` field (of the rarer event kinds), by catalogue name.
    Arg(&'static str),
    /// `proc.stdin.type`, `proc.stdout.type`, `proc.stderr.type`: fd 0, 1, 2.
    StdioType(u8),
    /// `thread.cap_effective`.
    CapEffective,
    /// `thread.cap_permitted`.
    CapPermitted,
    /// `thread.cap_inheritable`.
    CapInheritable,
    /// `proc.sid`.
    Sid,
    /// `proc.sname`.
    Sname,
    /// `proc.is_exe_changed`.
    ExeChanged,
    /// `container.start_ts`.
    ContainerStartTs,
    /// `proc.pexe`.
    Pexe,
    /// `proc.aexe`, `proc.aexe[N]`.
    Aexe,
    /// `proc.duration`.
    Duration,
    /// `fd.ip`, `fd.net`: the client or the server address.
    EitherIp,
    /// `fd.connected`.
    Connected,
    /// `fd.name_changed`.
    NameChanged,
}

/// What kind of value a field has, which decides the operators it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Str,
    /// An unsigned number.
    Uint,
    /// A signed number.
    Int,
    /// true or false.
    Bool,
    /// An IP address.
    Ip,
    /// Several strings.
    List,
    /// A capability set: `contains`/`icontains` test one capability by name.
    Caps,
}

/// How a field's argument is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// No argument.
    None,
    /// `[N]`: an item of a list field.
    Index(usize),
    /// `[NAME]`: a key, as in `k8s.pod.label[app]`.
    Key(Box<str>),
}

/// A resolved field reference: what to read, with its argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// The field.
    pub id: Id,
    /// Its argument.
    pub arg: Arg,
    /// The kind of value it gives (with the argument applied: `proc.aname[1]` is a
    /// string).
    pub kind: Kind,
}

/// Why a field cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Not in the catalogue, or not something an event has.
    #[error("field `{0}` is not one the sensor has")]
    Unknown(String),
    /// An argument the field does not take, or none where it needs one.
    #[error("field `{field}` {why}")]
    BadArg {
        /// The field.
        field: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// The fields with a fixed [`Id`]; `evt.arg.*` fields not listed are [`Id::Arg`].
const IDS: &[(&str, Id)] = &[
    (f::EVT_TYPE, Id::EvtType),
    (f::EVT_TIME, Id::EvtTime),
    (f::EVT_RAWTIME, Id::EvtRawtime),
    (f::EVT_NUM, Id::EvtNum),
    (f::EVT_TRUNCATED, Id::EvtTruncated),
    (f::EVT_UNREADABLE, Id::EvtUnreadable),
    (f::PROC_PID, Id::Pid),
    (f::THREAD_TID, Id::Tid),
    (f::PROC_PPID, Id::Ppid),
    (f::PROC_NAME, Id::Name),
    (f::PROC_EXEPATH, Id::Exepath),
    (f::PROC_EXEPATH_SOURCE, Id::ExepathSource),
    (f::PROC_IS_EXE_FROM_MEMFD, Id::ExeFromMemfd),
    (f::PROC_IS_EXE_UNLINKED, Id::ExeUnlinked),
    (f::PROC_EXE, Id::Exe),
    (f::PROC_ARGS, Id::Args),
    (f::PROC_ARGV, Id::Argv),
    (f::PROC_CMDLINE, Id::Cmdline),
    (f::USER_UID, Id::Uid),
    (f::GROUP_GID, Id::Gid),
    (f::CGROUP_ID, Id::CgroupId),
    (f::PROC_VPID, Id::Vpid),
    (f::PROC_PID_TS, Id::PidTs),
    (f::PROC_EXEC_ID, Id::ExecId),
    (f::PROC_PEXEC_ID, Id::PexecId),
    (f::PROC_CWD, Id::Cwd),
    (f::PROC_TTY, Id::Tty),
    (f::USER_LOGINUID, Id::Loginuid),
    (f::PROC_PNAME, Id::Pname),
    (f::PROC_PEXEPATH, Id::Pexepath),
    (f::PROC_PCMDLINE, Id::Pcmdline),
    (f::PROC_ANAME, Id::Aname),
    (f::PROC_AEXEPATH, Id::Aexepath),
    (f::PROC_CONTAINER_ENTRY, Id::ContainerEntry),
    (f::CONTAINER_ID, Id::ContainerId),
    (f::CONTAINER_FULL_ID, Id::ContainerFullId),
    (f::CONTAINER_TYPE, Id::ContainerType),
    (f::CONTAINER_NAME, Id::ContainerName),
    (f::CONTAINER_IMAGE, Id::Image),
    (f::CONTAINER_IMAGE_REPOSITORY, Id::ImageRepository),
    (f::CONTAINER_IMAGE_TAG, Id::ImageTag),
    (f::CONTAINER_IMAGE_DIGEST, Id::ImageDigest),
    (f::CONTAINER_PRIVILEGED, Id::Privileged),
    (f::K8S_NS_NAME, Id::Namespace),
    (f::K8S_POD_NAME, Id::PodName),
    (f::K8S_POD_UID, Id::PodUid),
    (f::K8S_POD_LABEL, Id::PodLabel),
    (f::K8S_POD_SERVICE_ACCOUNT, Id::ServiceAccount),
    (f::K8S_WORKLOAD_KIND, Id::WorkloadKind),
    (f::K8S_WORKLOAD_NAME, Id::WorkloadName),
    (f::K8S_DEPLOYMENT_NAME, Id::Deployment),
    (f::K8S_RS_NAME, Id::ReplicaSet),
    (f::K8S_JOB_NAME, Id::Job),
    (f::K8S_NODE_NAME, Id::Node),
    (f::FD_NAME, Id::FdName),
    (f::FD_TYPE, Id::FdType),
    (f::FD_L4PROTO, Id::L4proto),
    (f::FD_LIP, Id::Lip),
    (f::FD_LPORT, Id::Lport),
    (f::FD_RIP, Id::Rip),
    (f::FD_RPORT, Id::Rport),
    (f::FD_CIP, Id::Cip),
    (f::FD_CPORT, Id::Cport),
    (f::FD_SIP, Id::Sip),
    (f::FD_SPORT, Id::Sport),
    (f::FD_NAME_SOURCE, Id::FdNameSource),
    (f::FD_DIRECTORY, Id::Directory),
    (f::FD_FILENAME, Id::Filename),
    (f::FD_NUM, Id::FdNum),
    (f::FD_TYPECHAR, Id::Typechar),
    (f::EVT_RAWRES, Id::Rawres),
    (f::EVT_RES, Id::Res),
    (f::EVT_IS_OPEN_READ, Id::OpenRead),
    (f::EVT_IS_OPEN_WRITE, Id::OpenWrite),
    (f::EVT_ARG_FLAGS, Id::ArgFlags),
    (f::EVT_ARG_MODE, Id::ArgMode),
    (f::EXIT_CODE, Id::ExitCode),
    (f::EXIT_SIGNAL, Id::ExitSignal),
    (f::PROC_STDIN_TYPE, Id::StdioType(0)),
    (f::PROC_STDOUT_TYPE, Id::StdioType(1)),
    (f::PROC_STDERR_TYPE, Id::StdioType(2)),
    (f::THREAD_CAP_EFFECTIVE, Id::CapEffective),
    (f::THREAD_CAP_PERMITTED, Id::CapPermitted),
    (f::THREAD_CAP_INHERITABLE, Id::CapInheritable),
    (f::PROC_SID, Id::Sid),
    (f::PROC_SNAME, Id::Sname),
    (f::PROC_IS_EXE_CHANGED, Id::ExeChanged),
    (f::CONTAINER_START_TS, Id::ContainerStartTs),
    (f::PROC_PEXE, Id::Pexe),
    (f::PROC_AEXE, Id::Aexe),
    (f::PROC_DURATION, Id::Duration),
    (f::FD_IP, Id::EitherIp),
    (f::FD_NET, Id::EitherIp),
    (f::FD_CNET, Id::Cip),
    (f::FD_SNET, Id::Sip),
    (f::FD_LNET, Id::Lip),
    (f::FD_RNET, Id::Rip),
    (f::FD_CONNECTED, Id::Connected),
    (f::FD_NAME_CHANGED, Id::NameChanged),
    (f::USER_NAME, Id::UserName),
    (f::USER_HOMEDIR, Id::UserHomedir),
    (f::USER_SHELL, Id::UserShell),
    (f::GROUP_NAME, Id::GroupName),
    (f::USER_LOGINNAME, Id::LoginName),
];

/// Resolves `name` with its optional `[arg]`.
pub fn resolve(name: &str, arg: Option<&str>) -> Result<Access, FieldError> {
    let entry = f::find(name).ok_or_else(|| FieldError::Unknown(name.to_owned()))?;
    let id = match IDS.iter().find(|(n, _)| *n == name) {
        Some((_, id)) => *id,
        None if name.starts_with("evt.arg.") => Id::Arg(entry.name),
        None => return Err(FieldError::Unknown(name.to_owned())),
    };
    let bad = |why| FieldError::BadArg {
        field: name.to_owned(),
        why,
    };
    let base = match id {
        Id::Lip | Id::Rip | Id::Cip | Id::Sip | Id::EitherIp => Kind::Ip,
        Id::CapEffective | Id::CapPermitted | Id::CapInheritable => Kind::Caps,
        _ => match entry.ty {
            FieldType::String => Kind::Str,
            FieldType::Uint => Kind::Uint,
            FieldType::Int => Kind::Int,
            FieldType::Bool => Kind::Bool,
            FieldType::List => Kind::List,
            FieldType::Map => return Err(bad("is a map: read one entry, as k8s.pod.label[NAME]")),
        },
    };
    let (arg, kind) = match (id, arg) {
        (Id::PodLabel, Some(key)) if !key.is_empty() => (Arg::Key(key.into()), Kind::Str),
        (Id::PodLabel, _) => return Err(bad("needs a label name: k8s.pod.label[NAME]")),
        (Id::Aname | Id::Aexepath | Id::Aexe | Id::Argv, Some(index)) => {
            let i = index
                .trim()
                .parse()
                .map_err(|_| bad("takes an index: [0], [1], ..."))?;
            (Arg::Index(i), Kind::Str)
        }
        (_, Some(_)) => return Err(bad("takes no argument")),
        (_, None) => (Arg::None, base),
    };
    Ok(Access { id, arg, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_field_resolves_or_says_why() {
        for field in f::CATALOGUE {
            let name = field.name;
            let arg = match name {
                f::K8S_POD_LABEL => Some("app"),
                _ => None,
            };
            match resolve(name, arg) {
                Ok(_) => {}
                // Outside events: only `drop` reports have these, and rules see
                // no drop reports; the labels map is read one key at a time.
                Err(_) if name.starts_with("drop.") || name == f::K8S_POD_LABELS => {}
                Err(err) => panic!("{name}: {err}"),
            }
        }
    }

    #[test]
    fn arguments_are_checked() {
        assert_eq!(
            resolve("proc.aname", Some("2")).map(|a| (a.arg, a.kind)),
            Ok((Arg::Index(2), Kind::Str))
        );
        assert_eq!(resolve("proc.aname", None).map(|a| a.kind), Ok(Kind::List));
        assert!(resolve("proc.aname", Some("x")).is_err());
        assert!(resolve("proc.name", Some("1")).is_err());
        assert!(resolve("k8s.pod.label", None).is_err());
        assert!(resolve("k8s.pod.labels", None).is_err());
        assert!(matches!(
            resolve("proc.nope", None),
            Err(FieldError::Unknown(_))
        ));
        assert_eq!(resolve("fd.sip", None).map(|a| a.kind), Ok(Kind::Ip));
        assert_eq!(
            resolve("evt.arg.uid", None).map(|a| a.id),
            Ok(Id::Arg("evt.arg.uid"))
        );
    }
}
