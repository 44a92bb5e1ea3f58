//! The field catalogue: the one place where event field names are chosen.
//!
//! `sensor trace` output, rule conditions, findings and collector queries all use
//! these names. They follow Falco's field catalogue where the meaning is the same
//! (`proc.name`, `proc.cmdline`, `group.gid`, ...), so Falco users can read our
//! output and bring their rules over; the few fields Falco lacks are marked as ours.
//! `sensor fields` prints this table.

use serde::Serialize;

/// The JSON type of a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// A UTF-8 string (kernel bytes that are not UTF-8 are replaced with U+FFFD).
    String,
    /// An unsigned integer.
    Uint,
    /// A list of strings.
    List,
    /// A signed integer.
    Int,
    /// true or false.
    Bool,
    /// An object of string keys to string values.
    Map,
}

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Field {
    /// The flat key used in JSON output, rules and queries.
    pub name: &'static str,
    /// The value's type.
    #[serde(rename = "type")]
    pub ty: FieldType,
    /// Whether Falco has this field with the same meaning.
    pub falco: bool,
    /// What the value means.
    pub description: &'static str,
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $konst:ident = $name:literal, $ty:ident, $falco:literal, $desc:literal; )*) => {
        $( $(#[$doc])* pub const $konst: &str = $name; )*
        /// Every field, in the order `sensor fields` prints them.
        pub static CATALOGUE: &[Field] = &[
            $( Field { name: $name, ty: FieldType::$ty, falco: $falco, description: $desc }, )*
        ];
    };
}

catalogue! {
    /// `evt.type`
    EVT_TYPE = "evt.type", String, true,
        "Event type: execve or execveat (a program started), clone (a process started, by fork, vfork, clone or clone3; proc.* is the child), procexit (a process ended), open, openat, openat2 or creat (a file opened), connect, bind, accept or listen (IPv4/IPv6 sockets), setuid, setgid, setreuid, setregid, setresuid, setresgid, setfsuid, setfsgid, capset, ptrace, init_module, finit_module, bpf, memfd_create, io_uring_setup, unlink, unlinkat, rename, renameat, renameat2, chmod, fchmodat, fchmod, symlink, symlinkat, link, linkat, mount, or drop (records lost or cut).";
    /// `evt.time`
    EVT_TIME = "evt.time", String, true,
        "Event time, RFC 3339 in UTC with nanoseconds.";
    /// `evt.rawtime`
    EVT_RAWTIME = "evt.rawtime", Uint, true,
        "Event time in nanoseconds since the Unix epoch.";
    /// `evt.num`
    EVT_NUM = "evt.num", Uint, true,
        "The event's number in the order the agent read them, from 1 at its start.";
    /// `evt.truncated`
    EVT_TRUNCATED = "evt.truncated", List, false,
        "Fields whose value the kernel had to cut to its buffer (present only when some were).";
    /// `evt.unreadable`
    EVT_UNREADABLE = "evt.unreadable", List, false,
        "Fields the kernel could not read; their value is empty (present only when some were).";
    /// `proc.pid`
    PROC_PID = "proc.pid", Uint, true,
        "Process id (thread group id) in the host's pid namespace.";
    /// `thread.tid`
    THREAD_TID = "thread.tid", Uint, true,
        "Id of the thread that caused the event, in the host's pid namespace.";
    /// `proc.ppid`
    PROC_PPID = "proc.ppid", Uint, true,
        "Parent process id in the host's pid namespace.";
    /// `proc.name`
    PROC_NAME = "proc.name", String, true,
        "The process's command name (the kernel's comm, at most 15 bytes).";
    /// `proc.exepath`
    PROC_EXEPATH = "proc.exepath", String, true,
        "The executable's absolute path as the process sees it (inside a container, from the container's root), walked from the executable file, symlinks resolved; when that walk fails, the path passed to exec (see proc.exepath_source).";
    /// `proc.exepath_source`
    PROC_EXEPATH_SOURCE = "proc.exepath_source", String, false,
        "How proc.exepath was found: executable (walked from the file) or as_given (the path passed to exec).";
    /// `proc.is_exe_from_memfd`
    PROC_IS_EXE_FROM_MEMFD = "proc.is_exe_from_memfd", Bool, true,
        "The executable is a memfd (memfd_create): fileless execution.";
    /// `proc.is_exe_unlinked`
    PROC_IS_EXE_UNLINKED = "proc.is_exe_unlinked", Bool, false,
        "The executable has no link left on disk: deleted after start, or a memfd.";
    /// `proc.exe`
    PROC_EXE = "proc.exe", String, true,
        "The first command-line argument (argv[0]).";
    /// `proc.args`
    PROC_ARGS = "proc.args", String, true,
        "The arguments after argv[0], joined by spaces.";
    /// `proc.argv`
    PROC_ARGV = "proc.argv", List, false,
        "Every argument, argv[0] first, as a list: unambiguous where arguments contain spaces.";
    /// `proc.cmdline`
    PROC_CMDLINE = "proc.cmdline", String, true,
        "proc.name followed by proc.args.";
    /// `user.uid`
    USER_UID = "user.uid", Uint, true,
        "Real user id of the process, in the host's user namespace.";
    /// `group.gid`
    GROUP_GID = "group.gid", Uint, true,
        "Real group id of the process, in the host's user namespace.";
    /// `cgroup.id`
    CGROUP_ID = "cgroup.id", Uint, false,
        "Id of the process's cgroup v2: the inode number of its cgroup directory.";
    /// `proc.vpid`
    PROC_VPID = "proc.vpid", Uint, true,
        "Process id in the process's own pid namespace: 1 for a container's first process (known from its exec, or from /proc).";
    /// `proc.pid.ts`
    PROC_PID_TS = "proc.pid.ts", Uint, true,
        "When the process started, in nanoseconds since the Unix epoch, at the precision /proc shows (a clock tick, 10 ms), so it is the same whether the agent saw the process start or found it running.";
    /// `proc.duration`
    PROC_DURATION = "proc.duration", Uint, true,
        "In rules and outputs: nanoseconds from the process's start (proc.pid.ts) to the event.";
    /// `proc.exec_id`
    PROC_EXEC_ID = "proc.exec_id", String, false,
        "A name for this program run by this process, unique across the node's boots and across nodes, and the same after an agent restart: boot, start time, pid and exec count.";
    /// `proc.pexec_id`
    PROC_PEXEC_ID = "proc.pexec_id", String, false,
        "The parent's proc.exec_id, when the parent's exec count is known.";
    /// `proc.cwd`
    PROC_CWD = "proc.cwd", String, true,
        "The working directory when the process started its program, as the process sees it (absent when the process was gone before the agent could read it).";
    /// `proc.tty`
    PROC_TTY = "proc.tty", Uint, true,
        "The controlling terminal as /proc/<pid>/stat encodes it; 0 for none.";
    /// `user.loginuid`
    USER_LOGINUID = "user.loginuid", Int, true,
        "The audit login uid: who logged in, kept across su and sudo; -1 when unset.";
    /// `user.name`
    USER_NAME = "user.name", String, true,
        "The name of user.uid in the passwd file of the process's root: inside a container its image's /etc/passwd, on the host the host's; a user added to the file shows within a few seconds. Absent when the file has no such uid or cannot be read (distroless images have none). The uid is the host's, so in a container with its own user namespace it rarely matches the file.";
    /// `user.homedir`
    USER_HOMEDIR = "user.homedir", String, true,
        "The home directory in user.name's passwd entry.";
    /// `user.shell`
    USER_SHELL = "user.shell", String, true,
        "The login shell in user.name's passwd entry (empty when the entry names none).";
    /// `group.name`
    GROUP_NAME = "group.name", String, true,
        "The name of group.gid in the group file of the process's root, as user.name.";
    /// `user.loginname`
    USER_LOGINNAME = "user.loginname", String, true,
        "The name of user.loginuid in the host's passwd file: the login uid is set when someone logs in to the node, and follows them into containers (runc exec, nsenter), which cannot set their own. Absent when the login uid is unset or has no name.";
    /// `proc.pname`
    PROC_PNAME = "proc.pname", String, true,
        "The parent's proc.name.";
    /// `proc.pexepath`
    PROC_PEXEPATH = "proc.pexepath", String, true,
        "The parent's proc.exepath.";
    /// `proc.pcmdline`
    PROC_PCMDLINE = "proc.pcmdline", String, true,
        "The parent's proc.cmdline.";
    /// `proc.aname`
    PROC_ANAME = "proc.aname", List, true,
        "proc.name of the process and its known ancestors: item N is Falco's proc.aname[N] (0 the process, 1 its parent, 2 its grandparent, ...).";
    /// `proc.aexepath`
    PROC_AEXEPATH = "proc.aexepath", List, true,
        "proc.exepath of the process and its known ancestors, as proc.aname.";
    /// `proc.container_entry`
    PROC_CONTAINER_ENTRY = "proc.container_entry", String, false,
        "How the process came into its container: init (the container's first process or a descendant of it), exec (entered later, as kubectl exec does, or descends from such a process), unknown (its entry was before the agent started and left no trace). Absent on the host.";
    /// `proc.stdin.type`
    PROC_STDIN_TYPE = "proc.stdin.type", String, true,
        "What fd 0 (stdin) is after the process's last exec: file, directory, char (a character device: a terminal, /dev/null), block, pipe (FIFOs too), ipv4, ipv6, unix, netlink, socket (another family), anon (an anon inode: eventfd, signalfd, epoll, inotify, pidfd, ...), none (not open) or unknown. Falco's values where Falco has them (a shell whose stdin is ipv4 or ipv6 is a reverse shell); char, block, anon, none and socket are ours. For a process found running at start, from /proc.";
    /// `proc.stdout.type`
    PROC_STDOUT_TYPE = "proc.stdout.type", String, true,
        "What fd 1 (stdout) is, as proc.stdin.type.";
    /// `proc.stderr.type`
    PROC_STDERR_TYPE = "proc.stderr.type", String, true,
        "What fd 2 (stderr) is, as proc.stdin.type.";
    /// `thread.cap_effective`
    THREAD_CAP_EFFECTIVE = "thread.cap_effective", String, true,
        "The effective capability set, as Falco prints it: capability names in number order separated by spaces (CAP_CHOWN CAP_SYS_ADMIN), empty for none. Read at exec, changed by a successful capset (a set*id call that changes them shows at the next exec); kept per process (a capset by another thread of the process changes it for the process). For a process found running at start, from /proc (CapEff).";
    /// `thread.cap_permitted`
    THREAD_CAP_PERMITTED = "thread.cap_permitted", String, true,
        "The permitted capability set, as thread.cap_effective.";
    /// `thread.cap_inheritable`
    THREAD_CAP_INHERITABLE = "thread.cap_inheritable", String, true,
        "The inheritable capability set, as thread.cap_effective.";
    /// `proc.sid`
    PROC_SID = "proc.sid", Uint, true,
        "The session id in the host's pid namespace: the pid of the session's leader (as ps -o sid shows from the host). Read at exec; a setsid after it shows at the next exec.";
    /// `proc.sname`
    PROC_SNAME = "proc.sname", String, true,
        "The proc.name of the session leader: the process whose pid is proc.sid or, once it is gone, the eldest known ancestor in the same session (as Falco); absent when neither is known.";
    /// `proc.is_exe_changed`
    PROC_IS_EXE_CHANGED = "proc.is_exe_changed", Bool, false,
        "Container drift: the executable's inode changed (created, written, chmod-ed, linked) after the process's container started, read as its ctime at exec against container.start_ts. True for a binary copied or downloaded into a running container and run; false for the image's own. False on the host; absent when either time is unknown.";
    /// `proc.pexe`
    PROC_PEXE = "proc.pexe", String, true,
        "The parent's proc.exe (its argv[0]).";
    /// `proc.aexe`
    PROC_AEXE = "proc.aexe", List, true,
        "proc.exe (argv[0]) of the process and its known ancestors, as proc.aname.";
    /// `container.id`
    CONTAINER_ID = "container.id", String, true,
        "The container's id, first 12 hex digits; host for processes outside containers.";
    /// `container.full_id`
    CONTAINER_FULL_ID = "container.full_id", String, true,
        "The container's full 64-hex id; host outside containers.";
    /// `container.type`
    CONTAINER_TYPE = "container.type", String, true,
        "The container runtime: containerd, cri-o or docker (from the cgroup path, else from the kubelet); absent when neither tells.";
    /// `container.name`
    CONTAINER_NAME = "container.name", String, true,
        "The container's name in its pod; host outside containers.";
    /// `container.start_ts`
    CONTAINER_START_TS = "container.start_ts", Uint, true,
        "When the container started, in nanoseconds since the Unix epoch: the start of the earliest process the agent has known in its cgroup: the runtime's first one there (runc's `runc init`, which sets the container up and forks its pid 1, tens of ms before the entry point runs). Not the cgroup directory's times: cgroupfs gives no birth time, and a directory's ctime is when its inode was last brought into the cache, not when it was made. Absent on the host.";
    /// `container.image`
    CONTAINER_IMAGE = "container.image", String, true,
        "The image as the pod spec names it.";
    /// `container.image.repository`
    CONTAINER_IMAGE_REPOSITORY = "container.image.repository", String, true,
        "The image's repository, registry included when the spec names one.";
    /// `container.image.tag`
    CONTAINER_IMAGE_TAG = "container.image.tag", String, true,
        "The image's tag (latest when the spec gives neither tag nor digest).";
    /// `container.image.digest`
    CONTAINER_IMAGE_DIGEST = "container.image.digest", String, true,
        "The digest of the image the container runs (sha256:...), from the kubelet's status.";
    /// `container.privileged`
    CONTAINER_PRIVILEGED = "container.privileged", Bool, true,
        "Whether the container runs privileged.";
    /// `k8s.ns.name`
    K8S_NS_NAME = "k8s.ns.name", String, true,
        "The pod's namespace.";
    /// `k8s.pod.name`
    K8S_POD_NAME = "k8s.pod.name", String, true,
        "The pod's name.";
    /// `k8s.pod.uid`
    K8S_POD_UID = "k8s.pod.uid", String, true,
        "The pod's UID: from the cgroup path, so present even before the kubelet lists the pod.";
    /// `k8s.pod.labels`
    K8S_POD_LABELS = "k8s.pod.labels", Map, true,
        "The pod's labels, as an object of names to values; rules read one as k8s.pod.label[NAME].";
    /// `k8s.pod.label`
    K8S_POD_LABEL = "k8s.pod.label", String, true,
        "In rules and queries, k8s.pod.label[NAME]: the value of the pod's label NAME.";
    /// `k8s.pod.service_account`
    K8S_POD_SERVICE_ACCOUNT = "k8s.pod.service_account", String, false,
        "The pod's service account.";
    /// `k8s.workload.kind`
    K8S_WORKLOAD_KIND = "k8s.workload.kind", String, false,
        "What runs the pod: Deployment (through its ReplicaSet), ReplicaSet, StatefulSet, DaemonSet, Job, CronJob (inferred from its Job's name), ReplicationController, Node (a static pod), or the owner's kind.";
    /// `k8s.workload.name`
    K8S_WORKLOAD_NAME = "k8s.workload.name", String, false,
        "The name of the workload that runs the pod.";
    /// `k8s.deployment.name`
    K8S_DEPLOYMENT_NAME = "k8s.deployment.name", String, true,
        "The Deployment that runs the pod, when one does.";
    /// `k8s.rs.name`
    K8S_RS_NAME = "k8s.rs.name", String, true,
        "The ReplicaSet that owns the pod, when one does.";
    /// `k8s.job.name`
    K8S_JOB_NAME = "k8s.job.name", String, false,
        "The Job that owns the pod (also when a CronJob made it), when one does.";
    /// `k8s.node.name`
    K8S_NODE_NAME = "k8s.node.name", String, false,
        "The node the pod runs on.";
    /// `fd.name`
    FD_NAME = "fd.name", String, true,
        "For a file: its absolute path as the process sees it (inside a container, from the container's root). For a successful open, the path of the object opened, symlinks resolved; for a failed one, the path given, made absolute (see fd.name_source). Paths the kernel could not walk to the root are listed in evt.unreadable; cut ones in evt.truncated. For a network event, as Falco: client->server (ip:port->ip:port), or the local ip:port of a listener.";
    /// `fd.type`
    FD_TYPE = "fd.type", String, true,
        "For network events: ipv4 or ipv6.";
    /// `fd.l4proto`
    FD_L4PROTO = "fd.l4proto", String, true,
        "For network events: tcp, udp, icmp, raw or unknown.";
    /// `fd.lip`
    FD_LIP = "fd.lip", String, true,
        "Local IP address of a network event.";
    /// `fd.lport`
    FD_LPORT = "fd.lport", Uint, true,
        "Local port of a network event (0 if not bound yet); for a bind, the port the kernel bound (the one it picked for port 0).";
    /// `fd.rip`
    FD_RIP = "fd.rip", String, true,
        "Remote IP address of a connect or accept.";
    /// `fd.rport`
    FD_RPORT = "fd.rport", Uint, true,
        "Remote port of a connect or accept.";
    /// `fd.cip`
    FD_CIP = "fd.cip", String, true,
        "Client IP address: the local side of a connect, the remote side of an accept.";
    /// `fd.cport`
    FD_CPORT = "fd.cport", Uint, true,
        "Client port.";
    /// `fd.sip`
    FD_SIP = "fd.sip", String, true,
        "Server IP address: the remote side of a connect, the local side of an accept.";
    /// `fd.sport`
    FD_SPORT = "fd.sport", Uint, true,
        "Server port.";
    /// `fd.ip`
    FD_IP = "fd.ip", String, true,
        "In rules: the client or the server IP address of a connect or accept; a comparison holds if it holds for either (fd.ip = 10.0.0.1, fd.ip != 0.0.0.0).";
    /// `fd.net`
    FD_NET = "fd.net", String, true,
        "In rules: fd.ip compared with CIDR ranges (fd.net = 10.0.0.0/8).";
    /// `fd.cnet`
    FD_CNET = "fd.cnet", String, true,
        "In rules: fd.cip compared with CIDR ranges.";
    /// `fd.snet`
    FD_SNET = "fd.snet", String, true,
        "In rules: fd.sip compared with CIDR ranges (fd.snet in (rfc_1918_addresses)).";
    /// `fd.lnet`
    FD_LNET = "fd.lnet", String, true,
        "In rules: fd.lip compared with CIDR ranges.";
    /// `fd.rnet`
    FD_RNET = "fd.rnet", String, true,
        "In rules: fd.rip compared with CIDR ranges.";
    /// `fd.connected`
    FD_CONNECTED = "fd.connected", Bool, true,
        "In rules, for network events: whether the socket is connected (a connect that succeeded or is in progress, an accept).";
    /// `fd.name_changed`
    FD_NAME_CHANGED = "fd.name_changed", Bool, true,
        "In rules, for network events: whether the event changed the socket's name; false, since each network event reports its own endpoints.";
    /// `fd.name_source`
    FD_NAME_SOURCE = "fd.name_source", String, false,
        "How fd.name was found: opened (walked from the opened file) or as_given (the open failed; the given path, made absolute, not normalised).";
    /// `fd.directory`
    FD_DIRECTORY = "fd.directory", String, true,
        "The directory part of fd.name.";
    /// `fd.filename`
    FD_FILENAME = "fd.filename", String, true,
        "The last component of fd.name.";
    /// `fd.num`
    FD_NUM = "fd.num", Uint, true,
        "The file descriptor an open returned (absent when it failed).";
    /// `fd.typechar`
    FD_TYPECHAR = "fd.typechar", String, true,
        "The opened file's type: f file, d directory, l symlink, c/b character/block device, p pipe, s socket; for network events, as Falco: 4 (IPv4) or 6 (IPv6).";
    /// `evt.rawres`
    EVT_RAWRES = "evt.rawres", Int, true,
        "The syscall's return value: 0, a file descriptor or another value, or a negative errno.";
    /// `evt.res`
    EVT_RES = "evt.res", String, true,
        "SUCCESS, or the errno's name (ENOENT, EACCES, ...).";
    /// `evt.arg.flags`
    EVT_ARG_FLAGS = "evt.arg.flags", String, true,
        "Flags as Falco prints them: open (O_RDONLY|O_CLOEXEC), memfd_create (MFD_CLOEXEC), unlinkat (AT_REMOVEDIR), renameat2 (RENAME_NOREPLACE), linkat (AT_SYMLINK_FOLLOW), mount (MS_BIND|MS_REC).";
    /// `evt.arg.mode`
    EVT_ARG_MODE = "evt.arg.mode", String, true,
        "open: the mode given for a created file, in octal; chmod: the new mode as Falco prints it (S_IRUSR|...|S_ISUID).";
    /// `evt.is_open_read`
    EVT_IS_OPEN_READ = "evt.is_open_read", Bool, true,
        "Whether the file was opened for reading.";
    /// `evt.is_open_write`
    EVT_IS_OPEN_WRITE = "evt.is_open_write", Bool, true,
        "Whether the file was opened for writing.";
    /// `evt.arg.uid`
    EVT_ARG_UID = "evt.arg.uid", Int, true,
        "setuid/setfsuid: the uid asked for.";
    /// `evt.arg.gid`
    EVT_ARG_GID = "evt.arg.gid", Int, true,
        "setgid/setfsgid: the gid asked for.";
    /// `evt.arg.ruid`
    EVT_ARG_RUID = "evt.arg.ruid", Int, true,
        "setreuid/setresuid: the real uid asked for (-1: unchanged).";
    /// `evt.arg.euid`
    EVT_ARG_EUID = "evt.arg.euid", Int, true,
        "setreuid/setresuid: the effective uid asked for (-1: unchanged).";
    /// `evt.arg.suid`
    EVT_ARG_SUID = "evt.arg.suid", Int, true,
        "setresuid: the saved uid asked for (-1: unchanged).";
    /// `evt.arg.rgid`
    EVT_ARG_RGID = "evt.arg.rgid", Int, true,
        "setregid/setresgid: the real gid asked for (-1: unchanged).";
    /// `evt.arg.egid`
    EVT_ARG_EGID = "evt.arg.egid", Int, true,
        "setregid/setresgid: the effective gid asked for (-1: unchanged).";
    /// `evt.arg.sgid`
    EVT_ARG_SGID = "evt.arg.sgid", Int, true,
        "setresgid: the saved gid asked for (-1: unchanged).";
    /// `evt.arg.cap_effective`
    EVT_ARG_CAP_EFFECTIVE = "evt.arg.cap_effective", String, true,
        "capset: the effective capabilities asked for, by name.";
    /// `evt.arg.cap_permitted`
    EVT_ARG_CAP_PERMITTED = "evt.arg.cap_permitted", String, true,
        "capset: the permitted capabilities asked for, by name.";
    /// `evt.arg.cap_inheritable`
    EVT_ARG_CAP_INHERITABLE = "evt.arg.cap_inheritable", String, true,
        "capset: the inheritable capabilities asked for, by name.";
    /// `evt.arg.request`
    EVT_ARG_REQUEST = "evt.arg.request", String, true,
        "ptrace: the request (PTRACE_ATTACH, PTRACE_POKETEXT, ...).";
    /// `evt.arg.pid`
    EVT_ARG_PID = "evt.arg.pid", Int, true,
        "ptrace: the target process id.";
    /// `evt.arg.cmd`
    EVT_ARG_CMD = "evt.arg.cmd", String, true,
        "bpf: the command (BPF_PROG_LOAD, BPF_MAP_CREATE, ...).";
    /// `evt.arg.name`
    EVT_ARG_NAME = "evt.arg.name", String, true,
        "memfd_create: the name given to the memory file.";
    /// `evt.arg.entries`
    EVT_ARG_ENTRIES = "evt.arg.entries", Uint, true,
        "io_uring_setup: the submission queue entries asked for.";
    /// `evt.arg.len`
    EVT_ARG_LEN = "evt.arg.len", Uint, true,
        "init_module: the size of the module image.";
    /// `evt.arg.fd`
    EVT_ARG_FD = "evt.arg.fd", Int, true,
        "finit_module: the file descriptor of the module.";
    /// `evt.arg.path`
    EVT_ARG_PATH = "evt.arg.path", String, true,
        "unlink/chmod: the path acted on, made absolute as given.";
    /// `evt.arg.oldpath`
    EVT_ARG_OLDPATH = "evt.arg.oldpath", String, true,
        "rename/link: the existing path, made absolute as given.";
    /// `evt.arg.newpath`
    EVT_ARG_NEWPATH = "evt.arg.newpath", String, true,
        "rename/link: the new path, made absolute as given.";
    /// `evt.arg.linkpath`
    EVT_ARG_LINKPATH = "evt.arg.linkpath", String, true,
        "symlink: the new link, made absolute as given.";
    /// `evt.arg.target`
    EVT_ARG_TARGET = "evt.arg.target", String, true,
        "symlink: the target as written into the link (a relative one is relative to the link's directory).";
    /// `evt.arg.dir`
    EVT_ARG_DIR = "evt.arg.dir", String, true,
        "mount: the target directory, made absolute as given.";
    /// `evt.arg.dev`
    EVT_ARG_DEV = "evt.arg.dev", String, true,
        "mount: the source as given (a device, a directory for a bind mount, or a name).";
    /// `evt.arg.type`
    EVT_ARG_TYPE = "evt.arg.type", String, true,
        "mount: the filesystem type.";
    /// `exit.code`
    EXIT_CODE = "exit.code", Uint, false,
        "In a procexit event: the exit code, when the process exited by itself.";
    /// `exit.signal`
    EXIT_SIGNAL = "exit.signal", Uint, false,
        "In a procexit event: the number of the signal that killed the process.";
    /// `drop.kind`
    DROP_KIND = "drop.kind", String, false,
        "In a `drop` event: the kind of record that was lost or cut.";
    /// `drop.reason`
    DROP_REASON = "drop.reason", String, false,
        "In a `drop` event: ring_full (record lost), read_failed (field unreadable), truncated (field cut), decode_error (record refused by the agent).";
    /// `drop.count`
    DROP_COUNT = "drop.count", Uint, false,
        "In a `drop` event: how many since the previous report.";
    /// `drop.total`
    DROP_TOTAL = "drop.total", Uint, false,
        "In a `drop` event: how many since the sensor started.";
}

/// Looks a field up by name.
pub fn find(name: &str) -> Option<&'static Field> {
    CATALOGUE.iter().find(|field| field.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dotted() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len, "duplicate field names");
        for name in names {
            assert!(name.contains('.'), "{name} has no class prefix");
            assert!(!name.contains(char::is_whitespace), "{name} has whitespace");
        }
        assert_eq!(find(PROC_CMDLINE).map(|f| f.ty), Some(FieldType::String));
        assert!(find("proc.nope").is_none());
    }
}
