//! The processes already running when the agent starts, read from /proc.
//!
//! The kernel programs only see processes as they fork, exec and exit, so after a
//! restart the agent would know nothing of what was already running. [`scan`] reads
//! every process from `/proc` once at start to rebuild the process table, and [`read`]
//! reads one. Processes come and go while /proc is read: one that exits half-way is
//! normal and reported as [`ProcError::Vanished`], never as a failure. Whatever a
//! process controls (its name, arguments, paths) may hold any bytes, so everything is
//! read as bytes, capped where it can be large, and turned into text lossily. Start
//! times stay in clock ticks since boot, and [`ticks_from_boot_ns`] turns the kernel's
//! boot-time nanoseconds into the same ticks, so a process seen here and in a kernel
//! event can be matched.

use std::{
    io::{self, Read},
    os::unix::ffi::OsStrExt,
    path::Path,
};

use ::procfs::process::{Process, Stat};
use sensor_common::event::ARGS_LEN;

use super::procfs_facts::{self, SocketTables};
use crate::event::Facts;

/// Most argument bytes kept, NUL separators included: what an exec event carries, so
/// a process looks the same whether it was read here or seen starting.
pub const MAX_ARGS_BYTES: usize = ARGS_LEN;

/// Most arguments kept: as many as an exec event can hold, unless they are empty.
pub const MAX_ARGS: usize = ARGS_LEN / 2;

/// Error texts a [`Scan`] keeps: enough to tell what went wrong, bounded however
/// many processes fail.
pub const MAX_ERROR_TEXTS: usize = 8;

/// `PF_KTHREAD` in `task_struct.flags` (`include/linux/sched.h`), stat's field 9.
const PF_KTHREAD: u32 = 0x0020_0000;

/// The start time of process `pid` (stat's field 22), if it is alive: one read,
/// for checking that a pid still names the same process.
pub fn start_ticks(proc_root: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read(proc_root.join(pid.to_string()).join("stat")).ok()?;
    // The command name is in parentheses and may hold anything: fields after
    // its last `)`, from field 3 (state) on.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let mut fields = rest.split(' ');
    if matches!(fields.next(), Some("X" | "Z")) {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Clock ticks per second when sysconf cannot say: `USER_HZ` is 100 on every
/// architecture but alpha.
const DEFAULT_USER_HZ: u64 = 100;

const NSEC_PER_SEC: u64 = 1_000_000_000;

/// `status` is a page or two; anything beyond this is not a kernel's.
const MAX_STATUS_BYTES: u64 = 64 * 1024;

/// `cgroup` holds a line per hierarchy, each at most a `PATH_MAX` path.
const MAX_CGROUP_BYTES: u64 = 64 * 1024;

/// One process (a thread group) as /proc shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcEntry {
    /// The process id (the thread group id).
    pub pid: u32,
    /// The parent's process id; 0 for the first process and kthreadd.
    pub ppid: u32,
    /// When it started: `/proc/<pid>/stat` field 22, clock ticks since boot.
    pub start_ticks: u64,
    /// The command name (stat's `comm`, at most 15 bytes), lossy UTF-8.
    pub comm: String,
    /// The executable (`/proc/<pid>/exe`), lossy UTF-8 without a trailing
    /// ` (deleted)`; `None` for kernel threads or when unreadable.
    pub exe: Option<String>,
    /// The executable was deleted or replaced since the process started it.
    pub exe_deleted: bool,
    /// The arguments (`/proc/<pid>/cmdline`), lossy UTF-8, at most [`MAX_ARGS`]
    /// arguments in [`MAX_ARGS_BYTES`] bytes.
    pub args: Vec<String>,
    /// The arguments were longer than the caps and were cut.
    pub args_truncated: bool,
    /// The working directory (`/proc/<pid>/cwd`), lossy UTF-8; `None` when unreadable.
    pub cwd: Option<String>,
    /// The real user id.
    pub uid: u32,
    /// The real group id.
    pub gid: u32,
    /// The audit login uid; `None` when unset or unreadable.
    pub loginuid: Option<u32>,
    /// The controlling terminal's device number (stat's `tty_nr`); 0 for none.
    pub tty: u32,
    /// The cgroup v2 path, from the `0::` line of `/proc/<pid>/cgroup`.
    pub cgroup: Option<String>,
    /// A kernel thread, not a user process.
    pub kernel_thread: bool,
    /// The pid in the process's own pid namespace (the last of `status`'s
    /// `NSpid`): 1 for a container's first process.
    pub vpid: Option<u32>,
    /// Its stdio types, capability sets, session and executable change time
    /// (see [`procfs_facts`]).
    pub facts: Facts,
}

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The process is gone: it exited (and may linger as a zombie), or never was.
    #[error("process {pid} has exited")]
    Vanished {
        /// The process id.
        pid: u32,
    },
    /// procfs could not read one of the process's files.
    #[error("cannot read {file} of process {pid}: {source}")]
    Procfs {
        /// The process id.
        pid: u32,
        /// The file under `/proc/<pid>`.
        file: &'static str,
        /// The error from the procfs crate.
        #[source]
        source: ::procfs::ProcError,
    },
    /// Reading one of the process's files failed.
    #[error("cannot read {file} of process {pid}: {source}")]
    Io {
        /// The process id.
        pid: u32,
        /// The file under `/proc/<pid>`.
        file: &'static str,
        /// The read error.
        #[source]
        source: io::Error,
    },
    /// A file did not have the kernel's format.
    #[error("malformed {file} of process {pid}: {reason}")]
    Malformed {
        /// The process id.
        pid: u32,
        /// The file under `/proc/<pid>`.
        file: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
}

impl ProcError {
    /// Whether the process simply exited: normal while /proc is read.
    pub fn is_vanished(&self) -> bool {
        matches!(self, Self::Vanished { .. })
    }
}

/// Every process in /proc at one pass.
#[derive(Debug, Default)]
pub struct Scan {
    /// The processes read.
    pub entries: Vec<ProcEntry>,
    /// Processes that exited during the scan: normal, not errors.
    pub vanished: u64,
    /// Processes, or /proc itself, that could not be read.
    pub errors: u64,
    /// The first [`MAX_ERROR_TEXTS`] errors' texts.
    pub error_texts: Vec<String>,
}

impl Scan {
    fn failed(&mut self, text: String) {
        self.errors += 1;
        if self.error_texts.len() < MAX_ERROR_TEXTS {
            self.error_texts.push(text);
        }
    }
}

/// Reads process `pid` from `proc_root` (normally `/proc`).
pub fn read(proc_root: &Path, pid: u32) -> Result<ProcEntry, ProcError> {
    let dir = proc_root.join(pid.to_string());
    let process = Process::new_with_root(dir.clone())
        .map_err(|source| procfs_error(pid, "its directory", source))?;
    read_process(&process, pid, &dir, &mut SocketTables::default())
}

/// Reads every process in `proc_root`. Only thread groups are listed there (threads
/// hide under `task/`), so every entry is a process.
pub fn scan(proc_root: &Path) -> Scan {
    let mut scan = Scan::default();
    // One read of each network namespace's socket tables for the whole scan.
    let mut sockets = SocketTables::default();
    let processes = match ::procfs::process::all_processes_with_root(proc_root) {
        Ok(processes) => processes,
        Err(err) => {
            scan.failed(format!(
                "cannot list processes in {}: {err}",
                proc_root.display()
            ));
            return scan;
        }
    };
    for process in processes {
        let process = match process {
            Ok(process) => process,
            Err(::procfs::ProcError::NotFound(_)) => {
                scan.vanished += 1;
                continue;
            }
            Err(err) => {
                scan.failed(format!(
                    "cannot open a process in {}: {err}",
                    proc_root.display()
                ));
                continue;
            }
        };
        // The crate only lists names that parse as an i32; a negative one is no pid.
        let Ok(pid) = u32::try_from(process.pid) else {
            continue;
        };
        let dir = proc_root.join(pid.to_string());
        match read_process(&process, pid, &dir, &mut sockets) {
            Ok(entry) => scan.entries.push(entry),
            Err(err) if err.is_vanished() => scan.vanished += 1,
            Err(err) => scan.failed(err.to_string()),
        }
    }
    scan
}

/// Clock ticks per second (`USER_HZ`), the unit of stat's times.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for a name it does not know.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks)
        .ok()
        .filter(|&t| t > 0)
        .unwrap_or(DEFAULT_USER_HZ)
}

/// Clock ticks since boot for nanoseconds since boot, rounded the way the kernel's
/// `nsec_to_clock_t` rounds `task->start_boottime` into stat's field 22, so both give
/// one start time for one process. 0 when `ticks_per_second` is 0.
pub fn ticks_from_boot_ns(ns: u64, ticks_per_second: u64) -> u64 {
    // The three branches of `nsec_to_clock_t` (kernel/time/time.c), in u128 so that
    // no input overflows.
    let (ns, hz, nsec) = (
        u128::from(ns),
        u128::from(ticks_per_second),
        u128::from(NSEC_PER_SEC),
    );
    let ticks = if hz == 0 {
        0
    } else if nsec % hz == 0 {
        ns / (nsec / hz)
    } else if hz % 512 == 0 {
        ns * hz / 512 / (nsec / 512)
    } else {
        ns * 9 / ((9 * nsec + hz / 2) / hz).max(1)
    };
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

fn read_process(
    process: &Process,
    pid: u32,
    dir: &Path,
    sockets: &mut SocketTables,
) -> Result<ProcEntry, ProcError> {
    let stat = process
        .stat()
        .map_err(|source| procfs_error(pid, "stat", source))?;
    if exited(&stat) {
        return Err(ProcError::Vanished { pid });
    }
    let status = read_capped(process, pid, "status", MAX_STATUS_BYTES)?;
    let (uid, gid, vpid) = status_ids(&status, pid)?;
    let cmdline = read_capped(process, pid, "cmdline", MAX_ARGS_BYTES as u64 + 1)?;
    let (args, args_truncated) = split_args(&cmdline);
    let ppid = u32::try_from(stat.ppid).unwrap_or(0);
    let raw_exe = process.exe().ok().map(|path| lossy(&path));
    let exe_deleted = raw_exe.as_ref().is_some_and(|e| e.ends_with(DELETED));
    let exe = raw_exe.map(|e| e.strip_suffix(DELETED).map(str::to_owned).unwrap_or(e));
    // PF_KTHREAD is what the kernel itself checks. kthreadd and its children are
    // also recognised by pid, but only with no arguments: in a PID namespace pid 2
    // is an ordinary process.
    let kernel_thread = stat.flags & PF_KTHREAD != 0
        || ((pid == 2 || ppid == 2) && args.is_empty() && exe.is_none());
    if exe.is_none() && !kernel_thread {
        // exe is unreadable once a process has exited: tell that from a denied read.
        let stat = process
            .stat()
            .map_err(|source| procfs_error(pid, "stat", source))?;
        if exited(&stat) {
            return Err(ProcError::Vanished { pid });
        }
    }
    let facts = if kernel_thread {
        Facts::default()
    } else {
        procfs_facts::read(dir, &status, stat.session, sockets)
    };
    Ok(ProcEntry {
        pid,
        ppid,
        start_ticks: stat.starttime,
        comm: stat.comm,
        exe,
        exe_deleted,
        args,
        args_truncated,
        cwd: process.cwd().ok().map(|path| lossy(&path)),
        uid,
        gid,
        loginuid: process.loginuid().ok().filter(|&id| id != u32::MAX),
        // tty_nr is a device number: its bits, not its sign, carry the meaning.
        tty: stat.tty_nr as u32,
        cgroup: read_capped(process, pid, "cgroup", MAX_CGROUP_BYTES)
            .ok()
            .and_then(|text| v2_cgroup(&text)),
        kernel_thread,
        vpid,
        facts,
    })
}

/// What readlink shows after a path whose file was unlinked.
const DELETED: &str = " (deleted)";

/// A zombie whose other threads are gone has exited; a zombie leader whose other
/// threads still run has not.
fn exited(stat: &Stat) -> bool {
    match stat.state {
        'X' => true,
        'Z' => stat.num_threads <= 1,
        _ => false,
    }
}

/// The real uid and gid, and the pid in the process's own namespace, from
/// `status`, read as bytes: its `Name:` line is the command name, which may be
/// any bytes, and procfs's own parser refuses non-UTF-8. The kernel escapes
/// newlines in that name, so no process can forge a `Uid:` line.
fn status_ids(status: &[u8], pid: u32) -> Result<(u32, u32, Option<u32>), ProcError> {
    let fields = |key: &[u8]| {
        let line = status
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(key))
            .unwrap_or_default();
        line.split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty())
            .map(|f| {
                std::str::from_utf8(f)
                    .ok()
                    .and_then(|f| f.parse::<u32>().ok())
            })
    };
    let first = |key: &[u8]| fields(key).next().flatten();
    let malformed = |reason| ProcError::Malformed {
        pid,
        file: "status",
        reason,
    };
    let uid = first(b"Uid:").ok_or_else(|| malformed("no Uid line"))?;
    let gid = first(b"Gid:").ok_or_else(|| malformed("no Gid line"))?;
    // The innermost namespace's number comes last; kernels before 4.1 lack the line.
    let vpid = fields(b"NSpid:").next_back().flatten();
    Ok((uid, gid, vpid))
}

/// At most `cap` bytes of one of the process's files.
fn read_capped(
    process: &Process,
    pid: u32,
    file: &'static str,
    cap: u64,
) -> Result<Vec<u8>, ProcError> {
    let handle = process
        .open_relative(file)
        .map_err(|source| procfs_error(pid, file, source))?;
    let mut bytes = Vec::new();
    handle.take(cap).read_to_end(&mut bytes).map_err(|source| {
        if gone(&source) {
            ProcError::Vanished { pid }
        } else {
            ProcError::Io { pid, file, source }
        }
    })?;
    Ok(bytes)
}

/// The arguments of a NUL-separated block, capped, and whether they were cut. As
/// for exec events, an empty argument in the middle is kept and a cut last argument
/// keeps what fits.
fn split_args(block: &[u8]) -> (Vec<String>, bool) {
    let mut truncated = block.len() > MAX_ARGS_BYTES;
    let block = &block[..block.len().min(MAX_ARGS_BYTES)];
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    if block.is_empty() {
        return (Vec::new(), truncated);
    }
    let mut args = Vec::new();
    for arg in block.split(|&b| b == 0) {
        if args.len() == MAX_ARGS {
            truncated = true;
            break;
        }
        args.push(String::from_utf8_lossy(arg).into_owned());
    }
    (args, truncated)
}

/// The path on the `0::` (cgroup v2) line of a `/proc/<pid>/cgroup`.
fn v2_cgroup(text: &[u8]) -> Option<String> {
    text.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"0::"))
        .map(|path| String::from_utf8_lossy(path).into_owned())
}

fn lossy(path: &Path) -> String {
    String::from_utf8_lossy(path.as_os_str().as_bytes()).into_owned()
}

/// An I/O error saying the process is no longer there.
fn gone(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(libc::ESRCH)
}

fn procfs_error(pid: u32, file: &'static str, source: ::procfs::ProcError) -> ProcError {
    match &source {
        // procfs maps both ENOENT and ESRCH to NotFound.
        ::procfs::ProcError::NotFound(_) => ProcError::Vanished { pid },
        ::procfs::ProcError::Io(err, _) if gone(err) => ProcError::Vanished { pid },
        _ => ProcError::Procfs { pid, file, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        ffi::OsStr,
        fs,
        io::Write,
        os::unix::{ffi::OsStrExt, fs::symlink},
        path::PathBuf,
        process::{Child, Command, Stdio},
        sync::mpsc,
        time::{Duration, Instant},
    };

    fn proc_root() -> &'static Path {
        Path::new("/proc")
    }

    /// A child killed and reaped when dropped, so no failing test leaves one behind.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// The child once its exec has finished. `spawn` returns as soon as the child
    /// has its new memory, before the kernel has set its arguments and name, and
    /// /proc shows an empty command line until then.
    fn after_exec(child: &Reaped, comm: &str) -> ProcEntry {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let entry = read(proc_root(), child.0.id()).expect("read the child");
            if entry.comm == comm && !entry.args.is_empty() {
                return entry;
            }
            assert!(Instant::now() < deadline, "exec never finished: {entry:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Spawns `command`, retrying while the kernel says the file is busy: another
    /// test's fork can briefly hold the descriptor a copied executable was written through.
    fn spawn(command: &mut Command) -> Reaped {
        let mut tries = 0;
        loop {
            match command.spawn() {
                Ok(child) => return Reaped(child),
                Err(err) if err.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(err) => panic!("spawn {command:?}: {err}"),
            }
        }
    }

    fn sleeper() -> Reaped {
        Reaped(
            Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    #[test]
    fn scan_finds_this_process_and_no_threads() {
        // A second thread, whose id must not show up as a process.
        let (tx, rx) = mpsc::channel();
        let (stop, parked) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).expect("send tid");
            let _ = parked.recv();
        });
        let tid = u32::try_from(rx.recv().expect("tid")).expect("positive tid");

        let scan = scan(proc_root());
        drop(stop);
        thread.join().expect("thread");
        assert_eq!(scan.errors, 0, "{:?}", scan.error_texts);
        let pid = std::process::id();
        assert!(
            scan.entries.iter().all(|e| e.pid != tid),
            "thread {tid} listed"
        );
        let me = scan
            .entries
            .iter()
            .find(|e| e.pid == pid)
            .expect("this process");
        assert_eq!(me.ppid, std::os::unix::process::parent_id());
        // SAFETY: getuid and getgid have no preconditions.
        assert_eq!((me.uid, me.gid), unsafe {
            (libc::getuid(), libc::getgid())
        });
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(me.cwd.as_deref(), cwd.to_str());
        let args: Vec<String> = std::env::args().collect();
        assert_eq!(me.args, args);
        assert!(!me.args_truncated && !me.kernel_thread && !me.exe_deleted);
        let exe = std::env::current_exe().expect("exe");
        assert_eq!(me.exe.as_deref(), exe.to_str());
        let own_cgroup = fs::read(format!("/proc/{pid}/cgroup")).expect("own cgroup");
        assert_eq!(me.cgroup, v2_cgroup(&own_cgroup));
        assert!(me.cgroup.as_deref().is_some_and(|c| c.starts_with('/')));
        let name = exe
            .file_name()
            .expect("exe name")
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with(&me.comm), "{} vs {name}", me.comm);
    }

    #[test]
    fn kernel_threads_are_flagged() {
        let kthreadd = fs::read_to_string("/proc/2/stat").unwrap_or_default();
        if !kthreadd.contains("(kthreadd)") {
            eprintln!(
                "skipping: pid 2 is not kthreadd here (a PID namespace hides kernel threads)"
            );
            return;
        }
        let entry = read(proc_root(), 2).expect("kthreadd");
        assert!(entry.kernel_thread);
        assert_eq!((entry.exe, entry.args.len()), (None, 0));
        let scan = scan(proc_root());
        let threads = scan.entries.iter().filter(|e| e.kernel_thread).count();
        assert!(threads > 1, "{threads} kernel threads");
        let init = scan.entries.iter().find(|e| e.pid == 1).expect("pid 1");
        assert!(!init.kernel_thread);
    }

    /// A directory under the temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn hostile_names_args_and_paths_come_through_lossily() {
        let base =
            TempDir(std::env::temp_dir().join(format!("sensor-procfs-{}", std::process::id())));
        let dir = base.0.join(OsStr::from_bytes(b"dir\nwith\xffbytes"));
        fs::create_dir_all(&dir).expect("hostile dir");
        // exec through a link so the command name is hostile too.
        let program = dir.join(OsStr::from_bytes(b"s\xffh\nx"));
        symlink("/bin/sh", &program).expect("link to sh");
        let mut command = Command::new(&program);
        command
            .args(["-c", "read _ignored", "line1\nline2"])
            .arg(OsStr::from_bytes(b"\xff\xfe"))
            .arg("")
            .args(std::iter::repeat_n("a", 10_000))
            .current_dir(&dir)
            .stdin(Stdio::piped());
        let mut child = spawn(&mut command);

        let entry = after_exec(&child, "s\u{fffd}h\nx");
        assert_eq!(entry.cwd.as_deref(), Some(lossy(&dir).as_str()));
        assert!(
            entry
                .cwd
                .as_deref()
                .is_some_and(|c| c.ends_with("dir\nwith\u{fffd}bytes"))
        );
        let exe = fs::canonicalize("/bin/sh").expect("sh");
        assert_eq!(entry.exe.as_deref(), exe.to_str());
        assert_eq!(entry.args[0], lossy(&program));
        assert_eq!(
            entry.args[1..6],
            [
                "-c",
                "read _ignored",
                "line1\nline2",
                "\u{fffd}\u{fffd}",
                ""
            ]
        );
        assert!(
            entry.args[6..].iter().all(|a| a == "a"),
            "{:?}",
            &entry.args[6..]
        );
        assert!(entry.args_truncated);
        assert!(entry.args.len() <= MAX_ARGS);
        // The byte cap counts the process's own bytes, NUL separators included.
        let fixed = program.as_os_str().len() + 1 + [3, 14, 12, 3, 1].iter().sum::<usize>();
        assert_eq!(entry.args.len(), 6 + (MAX_ARGS_BYTES - fixed).div_ceil(2));
        assert!(!entry.kernel_thread && !entry.exe_deleted);
        // SAFETY: getuid has no preconditions.
        assert_eq!(entry.uid, unsafe { libc::getuid() });

        drop(child.0.stdin.take().map(|mut stdin| stdin.write_all(b"\n")));
        let status = child.0.wait().expect("sh exits");
        assert!(status.success());
    }

    #[test]
    fn a_deleted_executable_is_flagged() {
        let base =
            TempDir(std::env::temp_dir().join(format!("sensor-procfs-del-{}", std::process::id())));
        fs::create_dir_all(&base.0).expect("temp dir");
        let copy = base.0.join("sleep-copy");
        fs::copy(fs::canonicalize("/bin/sleep").expect("sleep"), &copy).expect("copy sleep");
        let child = spawn(Command::new(&copy).arg("30"));
        after_exec(&child, "sleep-copy");
        fs::remove_file(&copy).expect("delete the copy");
        let entry = read(proc_root(), child.0.id()).expect("read the child");
        assert!(entry.exe_deleted);
        assert_eq!(entry.exe.as_deref(), copy.to_str());
    }

    #[test]
    fn exited_processes_are_vanished_not_failures() {
        // Reaped: its /proc directory is gone.
        let mut child = sleeper();
        let pid = child.0.id();
        child.0.kill().expect("kill");
        child.0.wait().expect("reap");
        let err = read(proc_root(), pid).expect_err("a reaped process");
        assert!(err.is_vanished(), "{err}");

        // Exited but not reaped yet: a zombie has exited too.
        let mut child = sleeper();
        let pid = child.0.id();
        child.0.kill().expect("kill");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z ")) {
            assert!(Instant::now() < deadline, "no zombie");
            std::thread::sleep(Duration::from_millis(1));
        }
        let err = read(proc_root(), pid).expect_err("a zombie");
        assert!(err.is_vanished(), "{err}");
        drop(child);

        // A pid no process can have.
        let err = read(proc_root(), u32::MAX).expect_err("no such pid");
        assert!(err.is_vanished(), "{err}");
    }

    #[test]
    fn a_missing_proc_root_is_an_error_not_a_panic() {
        let scan = scan(Path::new("/nonexistent/proc"));
        assert_eq!((scan.entries.len(), scan.errors), (0, 1));
        assert!(
            scan.error_texts[0].contains("/nonexistent/proc"),
            "{:?}",
            scan.error_texts
        );
    }

    #[test]
    fn start_ticks_match_the_kernels_boot_time() {
        let hz = clock_ticks_per_second();
        let before = crate::event::clock::boot_ns_now();
        let child = sleeper();
        let after = crate::event::clock::boot_ns_now();
        let entry = read(proc_root(), child.0.id()).expect("read the child");
        let (low, high) = (
            ticks_from_boot_ns(before, hz),
            ticks_from_boot_ns(after, hz),
        );
        assert!(
            low <= entry.start_ticks && entry.start_ticks <= high,
            "{low} <= {} <= {high}",
            entry.start_ticks
        );
    }

    #[test]
    fn ticks_round_like_nsec_to_clock_t() {
        assert_eq!(clock_ticks_per_second(), 100, "USER_HZ on x86-64");
        // USER_HZ dividing a second: plain division, rounding down.
        assert_eq!(ticks_from_boot_ns(0, 100), 0);
        assert_eq!(ticks_from_boot_ns(9_999_999, 100), 0);
        assert_eq!(ticks_from_boot_ns(10_000_000, 100), 1);
        assert_eq!(ticks_from_boot_ns(123_456_789_012, 100), 12_345);
        assert_eq!(ticks_from_boot_ns(1_500_000_000, 1000), 1_500);
        // USER_HZ 1024 (alpha): x * 1024 / 512 / (10^9 / 512).
        assert_eq!(
            ticks_from_boot_ns(1_000_000_000, 1024),
            2 * 1_000_000_000 / 1_953_125
        );
        // USER_HZ 60, the kernel's third branch: x * 9 / ((9 * 10^9 + 30) / 60).
        assert_eq!(ticks_from_boot_ns(1_000_000_000, 60), 60);
        assert_eq!(ticks_from_boot_ns(3_600_000_000_000, 60), 216_000);
        // ... which is approximate: one second at 7 Hz is 6 ticks there, not 7.
        assert_eq!(ticks_from_boot_ns(1_000_000_000, 7), 6);
        // Hostile rates give an answer, never a panic.
        assert_eq!(ticks_from_boot_ns(123, 0), 0);
        assert_eq!(ticks_from_boot_ns(u64::MAX, 1), u64::MAX / 1_000_000_000);
        let _ = ticks_from_boot_ns(u64::MAX, u64::MAX);
        let _ = ticks_from_boot_ns(u64::MAX, 3);
    }

    #[test]
    fn arguments_are_capped_in_count_and_bytes() {
        assert_eq!(split_args(b""), (vec![], false));
        // A lone empty argument reads as none, as in exec events.
        assert_eq!(split_args(b"\0"), (vec![], false));
        let (args, cut) = split_args(b"sh\0-c\0\0x\0");
        assert_eq!(
            (args, cut),
            (
                vec!["sh".into(), "-c".into(), String::new(), "x".into()],
                false
            )
        );
        // Empty arguments cost one byte each: the count cap comes first.
        let (args, cut) = split_args(&[0; 1500]);
        assert_eq!((args.len(), cut), (MAX_ARGS, true));
        // Exactly the byte cap fits; one more is cut, mid-argument.
        let full = [b'a'; MAX_ARGS_BYTES];
        assert!(!split_args(&full).1);
        let mut over = full.to_vec();
        over.push(b'b');
        let (args, cut) = split_args(&over);
        assert_eq!((args[0].len(), cut), (MAX_ARGS_BYTES, true));
    }
}
