//! The exec facts ([`Facts`]) of a process already running when the agent
//! starts, from /proc: what exec events report for new programs. Capability
//! sets come from `status` (`CapEff`, `CapPrm`, `CapInh`), the session from
//! `stat`, the executable's change time from a `stat` of `exe`, and fd 0, 1 and
//! 2 from their links under `fd/`: `anon_inode:` links are anon inodes, a
//! `stat` through the link gives any other file's type, and a socket's family
//! is where /proc lists its inode (`net/tcp`, `net/unix`, ...: the tables of
//! the process's own network namespace). Everything here is read as untrusted
//! bytes: a malformed line is skipped, never a panic.

use std::{
    collections::HashMap,
    fs,
    io::Read,
    os::unix::{
        ffi::OsStrExt,
        fs::{FileTypeExt, MetadataExt},
    },
    path::Path,
};

use crate::event::{
    Caps, FdType,
    facts::{self, Facts},
};

/// Bytes read at most of one /proc/net table: a busy node lists many sockets,
/// but past this a table is not one the agent should hold in memory.
const MAX_TABLE_BYTES: u64 = 32 << 20;

/// Sockets kept at most per network namespace, all tables together.
const MAX_SOCKETS: usize = 1 << 20;

/// The socket tables of /proc/PID/net: the family they list, and which
/// whitespace-separated column of a line holds the socket's inode.
const TABLES: [(&str, FdType, usize); 11] = [
    ("unix", FdType::Unix, 6),
    ("tcp", FdType::Ipv4, 9),
    ("tcp6", FdType::Ipv6, 9),
    ("udp", FdType::Ipv4, 9),
    ("udp6", FdType::Ipv6, 9),
    ("raw", FdType::Ipv4, 9),
    ("raw6", FdType::Ipv6, 9),
    ("udplite", FdType::Ipv4, 9),
    ("udplite6", FdType::Ipv6, 9),
    ("netlink", FdType::Netlink, 9),
    ("packet", FdType::Socket, 8),
];

/// Socket families by inode, per network namespace, read once per namespace
/// the first time a process of it has a socket at fd 0, 1 or 2.
#[derive(Debug, Default)]
pub struct SocketTables {
    by_netns: HashMap<u64, HashMap<u64, FdType>>,
}

impl SocketTables {
    /// The type of the socket with inode `ino` open in the process at `dir`
    /// (`/proc/<pid>`): by its family when a table lists it, else `socket`.
    pub fn socket_type(&mut self, dir: &Path, ino: u64) -> FdType {
        // The namespace file's inode names the namespace.
        let Ok(netns) = fs::metadata(dir.join("ns/net")).map(|m| m.ino()) else {
            return FdType::Socket;
        };
        let sockets = self
            .by_netns
            .entry(netns)
            .or_insert_with(|| read_tables(dir));
        sockets.get(&ino).copied().unwrap_or(FdType::Socket)
    }
}

fn read_tables(dir: &Path) -> HashMap<u64, FdType> {
    let mut sockets = HashMap::new();
    for (name, family, column) in TABLES {
        let Ok(file) = fs::File::open(dir.join("net").join(name)) else {
            continue;
        };
        let mut text = Vec::new();
        if file.take(MAX_TABLE_BYTES).read_to_end(&mut text).is_err() {
            continue;
        }
        for ino in table_inodes(&text, column) {
            if sockets.len() >= MAX_SOCKETS {
                return sockets;
            }
            // The first table to list an inode wins; no inode is in two.
            sockets.entry(ino).or_insert(family);
        }
    }
    sockets
}

/// The socket inodes of a /proc/net table: column `column` of every line after
/// the header, where it is a number other than 0 (a socket with no inode).
pub fn table_inodes(text: &[u8], column: usize) -> impl Iterator<Item = u64> + '_ {
    text.split(|&b| b == b'\n').skip(1).filter_map(move |line| {
        let field = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty())
            .nth(column)?;
        std::str::from_utf8(field)
            .ok()?
            .parse::<u64>()
            .ok()
            .filter(|&ino| ino != 0)
    })
}

/// The capability sets in a `status` file; `None` unless all three are there.
pub fn caps_from_status(status: &[u8]) -> Option<Caps> {
    let set = |key: &[u8]| {
        let line = status
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(key))?;
        let hex = std::str::from_utf8(line).ok()?.trim();
        if hex.is_empty() || hex.len() > 16 {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()
    };
    Some(Caps {
        effective: set(b"CapEff:")?,
        permitted: set(b"CapPrm:")?,
        inheritable: set(b"CapInh:")?,
    })
}

/// What fd `fd` of the process at `dir` is.
pub fn fd_type(dir: &Path, fd: u32, sockets: &mut SocketTables) -> FdType {
    let link = dir.join("fd").join(fd.to_string());
    match fs::read_link(&link) {
        Ok(target) => {
            let target = target.as_os_str().as_bytes();
            // pidfds read `anon_inode:[pidfd]`, or `pidfd:` where pidfs says so.
            if target.starts_with(b"anon_inode:") || target.starts_with(b"pidfd:") {
                return FdType::Anon;
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return FdType::NotOpen,
        Err(_) => return FdType::Unknown,
    }
    // A stat through the link is a stat of the open file itself.
    match fs::metadata(&link) {
        Ok(meta) if meta.file_type().is_socket() => sockets.socket_type(dir, meta.ino()),
        Ok(meta) => FdType::of_mode(meta.mode()),
        Err(_) => FdType::Unknown,
    }
}

/// The facts of the process at `dir` (`/proc/<pid>`), given its `status` bytes
/// and its session (`stat`'s field 6).
pub fn read(dir: &Path, status: &[u8], session: i32, sockets: &mut SocketTables) -> Facts {
    let exe_ctime_ns = fs::metadata(dir.join("exe"))
        .ok()
        .and_then(|m| u32::try_from(m.ctime_nsec()).ok().map(|n| (m.ctime(), n)))
        .and_then(|(sec, nsec)| facts::epoch_ns(sec, nsec));
    Facts {
        stdio: [0, 1, 2].map(|fd| fd_type(dir, fd, sockets)),
        caps: caps_from_status(status),
        sid: u32::try_from(session).ok(),
        exe_ctime_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io::Write as _,
        net::{TcpListener, TcpStream},
        os::fd::AsRawFd as _,
    };

    #[test]
    fn caps_parse_from_status_and_garbage_is_none() {
        let status = b"Name:\tCapEff:\xff\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n";
        let caps = caps_from_status(status).expect("caps");
        assert_eq!(caps.effective, 0x1ff_ffff_ffff);
        assert_eq!((caps.permitted, caps.inheritable), (0x1ff_ffff_ffff, 0));
        for bad in [
            &b""[..],
            b"CapEff:\t0\nCapPrm:\t0\n",
            b"CapEff:\tzz\nCapPrm:\t0\nCapInh:\t0\n",
            b"CapEff:\t10000000000000000\nCapPrm:\t0\nCapInh:\t0\n",
            b"CapEff:\t\nCapPrm:\t0\nCapInh:\t0\n",
            b"CapEff:\t\xff\xfe\nCapPrm:\t0\nCapInh:\t0\n",
        ] {
            assert_eq!(caps_from_status(bad), None, "{bad:?}");
        }
        // The real thing: this process's own.
        let own = fs::read("/proc/self/status").expect("status");
        assert!(caps_from_status(&own).is_some());
    }

    #[test]
    fn socket_tables_give_inodes_and_skip_garbage() {
        let tcp = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n   1: garbage\n   2: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1\n";
        assert_eq!(table_inodes(tcp, 9).collect::<Vec<_>>(), [123456]);
        let unix = b"Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/systemd/notify\n0000000000000000: 00000003 00000000 00000000 0001 03 34567\n\xff\xfe\n";
        assert_eq!(table_inodes(unix, 6).collect::<Vec<_>>(), [23456, 34567]);
        assert_eq!(table_inodes(b"", 6).count(), 0);
        assert_eq!(table_inodes(&[b'\n'; 100], 6).count(), 0);
        let huge = b"h\n1 2 3 4 5 6 99999999999999999999999\n";
        assert_eq!(table_inodes(huge, 6).count(), 0);
    }

    #[test]
    fn this_process_descriptors_have_their_types() {
        let me = Path::new("/proc/self");
        let mut sockets = SocketTables::default();
        // fd types of descriptors we open, read through /proc like anyone's.
        let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (r, mut w) = std::io::pipe().expect("a pipe");
        w.write_all(b"x").expect("write");
        let dir = tempdir();
        let opened = fs::File::open(&dir).expect("open a directory");
        let null = fs::File::open("/dev/null").expect("open /dev/null");
        let cases = [
            (client.as_raw_fd(), FdType::Ipv4),
            (r.as_raw_fd(), FdType::Pipe),
            (opened.as_raw_fd(), FdType::Directory),
            (null.as_raw_fd(), FdType::Char),
        ];
        for (fd, want) in cases {
            let fd = u32::try_from(fd).expect("an fd");
            assert_eq!(fd_type(me, fd, &mut sockets), want, "fd {fd}");
        }
        // SAFETY: eventfd has no preconditions; the fd is closed below.
        let event = unsafe { libc::eventfd(0, 0) };
        assert!(event >= 0);
        assert_eq!(fd_type(me, event as u32, &mut sockets), FdType::Anon);
        // SAFETY: our own eventfd, opened above.
        unsafe { libc::close(event) };
        assert_eq!(fd_type(me, 1 << 20, &mut sockets), FdType::NotOpen);
        assert_eq!(
            fd_type(Path::new("/nonexistent/proc/1"), 0, &mut sockets),
            FdType::NotOpen
        );
        let _ = fs::remove_dir(&dir);
        let facts = read(
            me,
            &fs::read(me.join("status")).expect("status"),
            1,
            &mut sockets,
        );
        assert!(facts.caps.is_some() && facts.exe_ctime_ns.is_some());
        assert_eq!(facts.sid, Some(1));
        assert_eq!(read(me, b"", -1, &mut sockets).sid, None);
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sensor-facts-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("a temp dir");
        dir
    }
}
