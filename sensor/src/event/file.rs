//! File events: what an open did, and the Falco-style views of it (flag names,
//! errno names, read/write, file type).

/// Which syscall opened the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenSyscall {
    /// open(2)
    Open,
    /// openat(2)
    Openat,
    /// openat2(2)
    Openat2,
    /// creat(2)
    Creat,
}

impl OpenSyscall {
    /// From the kernel's number; `None` for a number this agent does not know.
    pub fn from_raw(raw: u32) -> Option<Self> {
        use sensor_common::event::open_syscall as n;
        match raw {
            n::OPEN => Some(Self::Open),
            n::OPENAT => Some(Self::Openat),
            n::OPENAT2 => Some(Self::Openat2),
            n::CREAT => Some(Self::Creat),
            _ => None,
        }
    }

    /// The syscall's name, as `evt.type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Openat => "openat",
            Self::Openat2 => "openat2",
            Self::Creat => "creat",
        }
    }
}

/// How the path of an open was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathSource {
    /// Walked from the opened file: canonical, symlinks resolved.
    Opened,
    /// The open failed: the path as given, made absolute, not normalised.
    AsGiven,
}

impl PathSource {
    /// The value of `fd.name_source`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::AsGiven => "as_given",
        }
    }
}

/// A file open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// The syscall.
    pub syscall: OpenSyscall,
    /// The absolute path, as the process sees it.
    pub path: String,
    /// How the path was found.
    pub source: PathSource,
    /// The new file descriptor, or a negative errno.
    pub result: i64,
    /// `O_*` flags.
    pub flags: u32,
    /// Mode for a created file.
    pub mode: u32,
    /// The opened inode's `i_mode`; 0 if the open failed.
    pub inode_mode: u32,
}

const O_ACCMODE: u32 = 0o3;

/// Flag names in the order Falco prints them; the access mode comes first.
const OPEN_FLAGS: &[(u32, &str)] = &[
    (libc::O_CREAT as u32, "O_CREAT"),
    (libc::O_EXCL as u32, "O_EXCL"),
    (libc::O_NOCTTY as u32, "O_NOCTTY"),
    (libc::O_TRUNC as u32, "O_TRUNC"),
    (libc::O_APPEND as u32, "O_APPEND"),
    (libc::O_NONBLOCK as u32, "O_NONBLOCK"),
    (libc::O_DSYNC as u32, "O_DSYNC"),
    (libc::O_DIRECT as u32, "O_DIRECT"),
    (libc::O_LARGEFILE as u32, "O_LARGEFILE"),
    (libc::O_DIRECTORY as u32, "O_DIRECTORY"),
    (libc::O_NOFOLLOW as u32, "O_NOFOLLOW"),
    (libc::O_NOATIME as u32, "O_NOATIME"),
    (libc::O_CLOEXEC as u32, "O_CLOEXEC"),
    (libc::O_PATH as u32, "O_PATH"),
];

impl Open {
    /// Opened for reading (`O_RDONLY` or `O_RDWR`), as Falco's `evt.is_open_read`.
    pub fn is_read(&self) -> bool {
        let mode = self.flags & O_ACCMODE;
        self.flags & libc::O_PATH as u32 == 0
            && (mode == libc::O_RDONLY as u32 || mode == libc::O_RDWR as u32)
    }

    /// Opened for writing, as Falco's `evt.is_open_write`. An `O_PATH` open
    /// neither reads nor writes: the kernel ignores its access mode, so a rule
    /// on writes must not fire for one (and the kernel filter treats it so).
    pub fn is_write(&self) -> bool {
        let mode = self.flags & O_ACCMODE;
        self.flags & libc::O_PATH as u32 == 0
            && (mode == libc::O_WRONLY as u32 || mode == libc::O_RDWR as u32)
    }

    /// The flags as Falco prints them: `O_RDONLY|O_CLOEXEC`.
    pub fn flags_text(&self) -> String {
        let mut text = String::new();
        self.write_flags(&mut text);
        text
    }

    /// [`Self::flags_text`] into a reused buffer (the rules engine allocates nothing).
    pub fn write_flags(&self, out: &mut String) {
        out.push_str(match self.flags & O_ACCMODE {
            0 => "O_RDONLY",
            1 => "O_WRONLY",
            2 => "O_RDWR",
            _ => "O_ACCMODE3",
        });
        for (_, name) in OPEN_FLAGS.iter().filter(|(bit, _)| self.flags & bit != 0) {
            out.push('|');
            out.push_str(name);
        }
    }

    /// The file type as Falco's `fd.typechar`: `f` file, `d` directory, `l` link,
    /// `c`/`b` character/block device, `p` pipe, `s` socket; `None` if unknown.
    pub fn typechar(&self) -> Option<char> {
        match self.inode_mode & libc::S_IFMT {
            libc::S_IFREG => Some('f'),
            libc::S_IFDIR => Some('d'),
            libc::S_IFLNK => Some('l'),
            libc::S_IFCHR => Some('c'),
            libc::S_IFBLK => Some('b'),
            libc::S_IFIFO => Some('p'),
            libc::S_IFSOCK => Some('s'),
            _ => None,
        }
    }

    /// The directory part of the path (Falco's `fd.directory`).
    pub fn directory(&self) -> &str {
        match self.path.rfind('/') {
            Some(0) => "/",
            Some(at) => &self.path[..at],
            None => "",
        }
    }

    /// The last component of the path (Falco's `fd.filename`).
    pub fn filename(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// Falco's `evt.res`: `SUCCESS`, or the errno's name (`ENOENT`), or `E<n>`.
pub fn result_text(result: i64) -> String {
    result_name(result).map_or_else(|| format!("E{}", errno(result)), str::to_owned)
}

/// [`result_text`] where it is a fixed name: `SUCCESS` or a known errno's.
pub fn result_name(result: i64) -> Option<&'static str> {
    if result >= 0 {
        return Some("SUCCESS");
    }
    let errno = errno(result);
    ERRNO_NAMES
        .iter()
        .find(|(n, _)| *n == errno)
        .map(|(_, name)| *name)
}

/// The errno of a negative result.
pub fn errno(result: i64) -> i32 {
    // checked: a hostile or corrupt i64::MIN must not overflow.
    result
        .checked_neg()
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(i32::MAX)
}

const ERRNO_NAMES: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::EBADF, "EBADF"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EFBIG, "EFBIG"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::EROFS, "EROFS"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ELOOP, "ELOOP"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EDQUOT, "EDQUOT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EALREADY, "EALREADY"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EINPROGRESS, "EINPROGRESS"),
    (libc::EISCONN, "EISCONN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &str, flags: u32, inode_mode: u32) -> Open {
        Open {
            syscall: OpenSyscall::Openat,
            path: path.into(),
            source: PathSource::Opened,
            result: 3,
            flags,
            mode: 0,
            inode_mode,
        }
    }

    #[test]
    fn flags_read_write_and_type_follow_falco() {
        let read = open(
            "/etc/shadow",
            libc::O_RDONLY as u32 | libc::O_CLOEXEC as u32,
            0o100640,
        );
        assert_eq!(read.flags_text(), "O_RDONLY|O_CLOEXEC");
        assert!(read.is_read() && !read.is_write());
        assert_eq!(read.typechar(), Some('f'));
        let create = open(
            "/tmp/x",
            (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u32,
            0o040755,
        );
        assert_eq!(create.flags_text(), "O_WRONLY|O_CREAT|O_TRUNC");
        assert!(create.is_write() && !create.is_read());
        assert_eq!(create.typechar(), Some('d'));
        assert_eq!(open("/x", 0, 0).typechar(), None);
    }

    #[test]
    fn directory_and_filename_split_the_path() {
        let o = open("/etc/ssh/sshd_config", 0, 0);
        assert_eq!((o.directory(), o.filename()), ("/etc/ssh", "sshd_config"));
        let o = open("/shadow", 0, 0);
        assert_eq!((o.directory(), o.filename()), ("/", "shadow"));
        let o = open("", 0, 0);
        assert_eq!((o.directory(), o.filename()), ("", ""));
    }

    #[test]
    fn results_are_named() {
        assert_eq!(result_text(3), "SUCCESS");
        assert_eq!(result_text(-2), "ENOENT");
        assert_eq!(result_text(-13), "EACCES");
        assert_eq!(result_text(-111), "ECONNREFUSED");
        assert_eq!(result_text(-4095), "E4095");
        assert_eq!(result_text(i64::MIN), format!("E{}", i32::MAX));
    }
}
