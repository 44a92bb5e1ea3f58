//! Opening `/etc/passwd` and `/etc/group` inside another process's root without
//! ever leaving it.
//!
//! `<proc>/<pid>/root` is the process's root directory, but a path walked from it
//! is walked by the agent: an absolute symlink in the container (`/etc/passwd ->
//! /etc/shadow`) or a `..` would resolve against the agent's own filesystem, so a
//! container could make the agent read, and report as user names, any file the
//! agent can see. `openat2` with `RESOLVE_IN_ROOT` resolves every component as if
//! the container's root were `/` (Linux 5.6; the sensor needs 5.15). Where a
//! seccomp filter refuses `openat2`, the fixed path is walked one component at a
//! time without following any symlink: safe, at the cost of images whose
//! `/etc/passwd` is a symlink. Either way the file is opened non-blocking and read
//! only when it is a regular file, so a FIFO or a device cannot stall or flood the
//! event loop.

use std::{
    ffi::CStr,
    fs::File,
    io::{self, Read as _},
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::fs::{MetadataExt as _, OpenOptionsExt as _},
    },
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

/// A file under the root's `/etc`.
#[derive(Clone, Copy, Debug)]
pub struct EtcFile {
    /// Relative to the root, for `openat2`.
    path: &'static CStr,
    /// Its name in `etc`, for the component walk.
    name: &'static CStr,
}

/// `/etc/passwd`.
pub const PASSWD: EtcFile = EtcFile {
    path: c"etc/passwd",
    name: c"passwd",
};

/// `/etc/group`.
pub const GROUP: EtcFile = EtcFile {
    path: c"etc/group",
    name: c"group",
};

/// What identifies a version of a file without reading it: editors and
/// `useradd` replace the file (a new inode), `echo >>` grows it, and an edit in
/// place changes its change time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// Why a file could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// It is not there (`ENOENT`, `ENOTDIR`): an image without it, such as a
    /// distroless one. A state like any other, not a failure.
    Missing,
    /// It is there but is not a regular file (a FIFO, a device, a directory, or
    /// a symlink where the component walk follows none).
    NotRegular,
    /// Anything else: the process is gone, access is denied, an I/O error.
    Failed(io::Error),
}

/// `O_PATH` on the root: nothing is read through it, and it works on any root.
pub fn open_root(proc_root: &Path, pid: u32) -> io::Result<File> {
    File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(proc_root.join(pid.to_string()).join("root"))
}

/// Opens `file` in `root` and says which version it is.
pub fn open(root: &File, file: EtcFile) -> Result<(File, Stamp), OpenError> {
    let fd = open_in_root(root, file).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => OpenError::Missing,
        Some(libc::ELOOP) => OpenError::NotRegular,
        _ => OpenError::Failed(e),
    })?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(OpenError::Failed)?;
    if !meta.file_type().is_file() {
        return Err(OpenError::NotRegular);
    }
    let stamp = Stamp {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    };
    Ok((file, stamp))
}

/// Reads at most `max` bytes; says whether that was the whole file.
pub fn read(mut file: File, max: usize) -> io::Result<(Vec<u8>, bool)> {
    let mut bytes = Vec::new();
    // One byte past the bound tells a file of exactly `max` bytes from a longer one.
    (&mut file).take(max as u64 + 1).read_to_end(&mut bytes)?;
    let complete = bytes.len() <= max;
    bytes.truncate(max);
    Ok((bytes, complete))
}

/// Set once `openat2` is refused, so later opens go straight to the walk.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Whether `openat2` was refused here, so symlinks are not followed at all.
#[cfg(test)]
pub fn openat2_refused() -> bool {
    NO_OPENAT2.load(Ordering::Relaxed)
}

/// Flags of the file itself: non-blocking so a FIFO opens and is then refused
/// rather than waiting for a writer; never a controlling terminal.
const FILE_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;

fn open_in_root(root: &File, file: EtcFile) -> io::Result<OwnedFd> {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2(root, file.path) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                tracing::info!(
                    error = %e,
                    "openat2 is refused here: user names come only from passwd and group files that are not symlinks"
                );
            }
            result => return result,
        }
    }
    walk(root, file)
}

/// The fixed path, one component at a time, following no symlink.
fn walk(root: &File, file: EtcFile) -> io::Result<OwnedFd> {
    let etc = openat(
        root,
        c"etc",
        libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
    )?;
    openat(&File::from(etc), file.name, FILE_FLAGS | libc::O_NOFOLLOW)
}

/// `struct open_how` (`linux/openat2.h`), which the kernel extends by size: ours
/// is version 0, 24 bytes. Defined here because libc's cannot be built outside it.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn openat2(dir: &File, path: &CStr) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: FILE_FLAGS as u64,
        mode: 0,
        // Magic links (`/proc/self/root`, `/proc/<pid>/fd/N`) jump anywhere, even
        // from inside the root.
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: `dir` is an open descriptor, `path` a NUL-terminated string and `how`
    // a live `open_how` of the size passed; the kernel reads both and returns a new
    // descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &raw const how,
            size_of::<OpenHow>(),
        )
    };
    owned(fd)
}

fn openat(dir: &File, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `dir` is an open descriptor and `name` a NUL-terminated string.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
    owned(fd.into())
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// The walk used where `openat2` is refused, which this machine may not do.
    #[test]
    fn the_component_walk_follows_no_symlink() {
        let dir = std::env::temp_dir().join(format!("sensor-users-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (plain, linked, etc_linked) = (
            dir.join("plain"),
            dir.join("linked"),
            dir.join("etc-linked"),
        );
        for root in [&plain, &linked] {
            std::fs::create_dir_all(root.join("etc")).expect("a fake /etc");
        }
        std::fs::create_dir_all(&etc_linked).expect("a fake root");
        std::fs::write(plain.join("etc/passwd"), "root:x:0:0::/:\n").expect("passwd");
        symlink(plain.join("etc/passwd"), linked.join("etc/passwd")).expect("a symlink");
        symlink(plain.join("etc"), etc_linked.join("etc")).expect("a symlink");
        let root = |dir: &Path| File::open(dir).expect("a root");
        assert!(walk(&root(&plain), PASSWD).is_ok());
        let err = walk(&root(&linked), PASSWD).expect_err("a symlinked passwd");
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        let err = walk(&root(&etc_linked), PASSWD).expect_err("a symlinked etc");
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
        let err = walk(&root(&plain), GROUP).expect_err("no group file");
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
