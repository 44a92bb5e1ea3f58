//! What an exec reports of its process beyond the program: the files at fd 0, 1
//! and 2, the capability sets and the session. Detection rules ask these of
//! every process (a shell whose stdin is a TCP socket is a reverse shell), and
//! the exec is where each of them is set anew. A member this kernel's BTF lacks,
//! or a read that fails, loses that one fact (flagged), never the event.

use sensor_common::{
    DropReason, EventKind, ExecEvent,
    event::{StdioFile, flags, stdio_state},
    offsets::ABSENT,
};

use crate::{
    emit::count,
    kernel::{Current, Window, read_at},
    maps,
};

/// `S_IFMT` and the file types that need a second look (POSIX values, the same
/// on every architecture).
const S_IFMT: u16 = 0o170_000;
const S_IFSOCK: u16 = 0o140_000;
const S_IFREG: u16 = 0o100_000;

/// Fills the session id, the capability sets and the stdio files of `event`.
#[inline(always)]
pub fn fill(event: &mut ExecEvent, task: Current) {
    // A member this kernel lacks is flagged but not counted: the agent said so
    // once at load, and a count on every exec would only repeat it.
    let o = maps::offsets();
    match task.sid() {
        Ok(sid) => event.sid = sid,
        Err(_) => {
            event.sid = 0;
            event.header.flags |= flags::SID_UNREADABLE;
            if o.signal_pids_sid != ABSENT {
                count(EventKind::Exec, DropReason::ReadFailed);
            }
        }
    }
    if caps(event, task.cred()).is_err() {
        event.cap_effective = 0;
        event.cap_permitted = 0;
        event.cap_inheritable = 0;
        event.header.flags |= flags::CAPS_UNREADABLE;
        if o.cred_cap_effective != ABSENT {
            count(EventKind::Exec, DropReason::ReadFailed);
        }
    }
    stdio(event, task);
}

/// The three capability sets: adjacent in `struct cred`, so one read.
#[inline(always)]
fn caps(event: &mut ExecEvent, cred: u64) -> Result<(), i32> {
    let o = maps::offsets();
    let (eff, prm, inh) = (
        o.cred_cap_effective,
        o.cred_cap_permitted,
        o.cred_cap_inheritable,
    );
    if eff == ABSENT || prm == ABSENT || inh == ABSENT {
        return Err(-1);
    }
    let lo = eff.min(prm).min(inh);
    let hi = eff.max(prm).max(inh) + 8;
    let aligned = (eff | prm | inh) & 7 == 0;
    match Window::read(cred, lo, hi) {
        Ok(w) if aligned => {
            event.cap_effective = w.u64_at(eff);
            event.cap_permitted = w.u64_at(prm);
            event.cap_inheritable = w.u64_at(inh);
        }
        _ => {
            event.cap_effective = read_at(cred, eff)?;
            event.cap_permitted = read_at(cred, prm)?;
            event.cap_inheritable = read_at(cred, inh)?;
        }
    }
    Ok(())
}

/// The files at fd 0, 1 and 2: their three pointers lie side by side in the
/// fd array, one read.
#[inline(always)]
fn stdio(event: &mut ExecEvent, task: Current) {
    event.stdio = [StdioFile::default(); 3];
    let (fds, max_fds) = task.fds();
    let files: [u64; 3] = if max_fds >= 3 {
        match read_at(fds, 0) {
            Ok(files) => files,
            Err(_) => {
                // All three stay `UNREAD`.
                count(EventKind::Exec, DropReason::ReadFailed);
                return;
            }
        }
    } else {
        // A table shorter than three (never seen: the smallest holds 64) has
        // the rest closed.
        let mut files = [0u64; 3];
        for (fd, file) in files.iter_mut().enumerate() {
            if (fd as u32) < max_fds {
                *file = read_at(fds, fd as u32 * 8).unwrap_or(0);
            }
        }
        files
    };
    event.stdio[0] = describe(files[0]);
    event.stdio[1] = describe(files[1]);
    event.stdio[2] = describe(files[2]);
}

/// The type and, for a socket, the family of the open file `file` (0: none).
#[inline(always)]
fn describe(file: u64) -> StdioFile {
    let mut out = StdioFile::default();
    if file == 0 {
        out.state = stdio_state::CLOSED;
        return out;
    }
    if let Ok(found) = open_file(file, &mut out) {
        out.state = found;
    } else if maps::offsets().file_f_inode != ABSENT {
        count(EventKind::Exec, DropReason::ReadFailed);
    }
    out
}

/// Fills `out` from an open file; the state to report.
#[inline(always)]
fn open_file(file: u64, out: &mut StdioFile) -> Result<u16, i32> {
    let o = maps::offsets();
    let (at_inode, at_data) = (o.file_f_inode, o.file_private_data);
    if at_inode == ABSENT {
        return Err(-1);
    }
    // `private_data` and `f_inode` are neighbours in `struct file`.
    let (inode, data) = match Window::read(file, at_inode.min(at_data), at_inode.max(at_data) + 8) {
        Ok(w) if (at_inode | at_data) & 7 == 0 => (w.u64_at(at_inode), w.u64_at(at_data)),
        _ => (
            read_at(file, at_inode)?,
            read_at(file, at_data).unwrap_or(0),
        ),
    };
    let sb: u64 = if o.inode_sb == ABSENT {
        out.mode = read_at(inode, o.inode_mode)?;
        0
    } else {
        match Window::read(inode, o.inode_mode.min(o.inode_sb), o.inode_sb + 8) {
            Ok(w) if o.inode_mode < o.inode_sb && o.inode_sb & 7 == 0 && o.inode_mode & 1 == 0 => {
                out.mode = w.u16_at(o.inode_mode);
                w.u64_at(o.inode_sb)
            }
            _ => {
                out.mode = read_at(inode, o.inode_mode)?;
                read_at(inode, o.inode_sb).unwrap_or(0)
            }
        }
    };
    let kind = out.mode & S_IFMT;
    if kind == S_IFSOCK {
        // A socket's file keeps its `struct socket` in `private_data`.
        let sk: u64 = read_at(data, o.socket_sk)?;
        out.family = read_at(sk, o.skc_family)?;
    } else if (kind == S_IFREG || kind == 0) && sb != 0 && o.sb_magic != ABSENT {
        // Anon inodes (eventfd, signalfd, ...) look like regular files, or
        // like nothing, until their filesystem names them.
        out.fs_magic = read_at(sb, o.sb_magic).unwrap_or(0);
    }
    Ok(stdio_state::OPEN)
}

/// The nanoseconds of an inode time: since 6.13 (multigrain timestamps) the
/// top bit of `i_ctime_nsec` flags whether the time was queried, and
/// nanoseconds never reach it.
const NSEC_MASK: u32 = 0x7fff_ffff;

/// Reads the executable's change time into `event` from its inode, with its
/// link count (which `exe_path` needs) in the same read where the layout lets
/// it; returns the link count.
#[inline(always)]
pub fn exe_inode(event: &mut ExecEvent, inode: u64) -> Result<u32, i32> {
    let o = maps::offsets();
    let (nlink, sec, nsec) = (o.inode_nlink, o.inode_ctime_sec, o.inode_ctime_nsec);
    if sec == ABSENT || nsec == ABSENT {
        return read_at(inode, nlink);
    }
    let lo = nlink.min(sec).min(nsec);
    let hi = (nlink + 4).max(sec + 8).max(nsec + 4);
    let aligned = sec & 7 == 0 && (nlink | nsec) & 3 == 0;
    if let Ok(w) = Window::read(inode, lo, hi)
        && aligned
    {
        event.exe_ctime_sec = w.u64_at(sec) as i64;
        event.exe_ctime_nsec = w.u32_at(nsec) & NSEC_MASK;
        event.header.flags &= !flags::EXE_CTIME_UNREADABLE;
        return Ok(w.u32_at(nlink));
    }
    let links = read_at(inode, nlink);
    if let (Ok(s), Ok(n)) = (read_at::<i64>(inode, sec), read_at::<u32>(inode, nsec)) {
        event.exe_ctime_sec = s;
        event.exe_ctime_nsec = n & NSEC_MASK;
        event.header.flags &= !flags::EXE_CTIME_UNREADABLE;
    }
    links
}
