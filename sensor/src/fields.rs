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
        "The opened file's type: f file, d directory, l symlink, c/b character/block device, p pipe, s socket.";
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
