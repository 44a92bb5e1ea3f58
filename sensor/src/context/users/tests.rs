//! The cache against a fake proc root: `<dir>/<pid>/root` directories standing for
//! processes' roots, with files as images and hostile containers write them.

use std::{
    ffi::CString,
    fs,
    os::unix::{ffi::OsStrExt as _, fs::symlink},
    path::PathBuf,
    time::{Duration, Instant},
};

use super::*;
use crate::context::fake_proc::ProcDir;

const HOST_PASSWD: &str =
    "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/zsh\n";
const HOST_GROUP: &str = "root:x:0:\nstaff:x:50:alice\n";
const APP_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nappuser:x:4242:4242::/app:/sbin/nologin\nbob:x:1000:1000::/:/bin/sh\n";
const APP_GROUP: &str = "root:x:0:\nappgroup:x:4242:\n";

/// A fake `/proc` holding pid 1's passwd and group files.
struct FakeProc(ProcDir);

impl FakeProc {
    fn new(label: &str) -> Self {
        let proc = Self(ProcDir::new(&format!("users-{label}")));
        proc.write(1, "etc/passwd", HOST_PASSWD);
        proc.write(1, "etc/group", HOST_GROUP);
        proc
    }

    /// Makes pid 1's root unreadable, as a sandbox that guards its init does.
    fn guard_pid_1(&self) {
        fs::remove_dir_all(self.0.path().join("1")).expect("removing pid 1");
    }

    /// The root directory of process `pid`, made if needed.
    fn root(&self, pid: u32) -> PathBuf {
        let root = self.0.path().join(pid.to_string()).join("root");
        fs::create_dir_all(&root).expect("a fake root");
        root
    }

    fn write(&self, pid: u32, path: &str, content: impl AsRef<[u8]>) {
        let file = self.root(pid).join(path);
        fs::create_dir_all(file.parent().expect("a parent")).expect("a fake /etc");
        fs::write(file, content).expect("writing a fake file");
    }

    fn cache(&self) -> UserCache {
        self.cache_with(UserConfig::default())
    }

    fn cache_with(&self, config: UserConfig) -> UserCache {
        UserCache::new(UserConfig {
            proc_root: self.0.path().into(),
            ..config
        })
    }
}

fn ids(uid: u32, gid: u32) -> Ids {
    Ids {
        uid,
        gid,
        loginuid: None,
    }
}

fn user(names: &Names) -> Option<&str> {
    names.user.as_ref().map(|a| &*a.name)
}

fn group(names: &Names) -> Option<&str> {
    names.group.as_deref()
}

const INTERVAL: Duration = Duration::from_secs(2);

#[test]
fn the_host_is_named_from_pid_1s_root() {
    let proc = FakeProc::new("host");
    let mut cache = proc.cache();
    let now = Instant::now();
    let names = cache.names(None, [4321], ids(0, 0), now);
    assert_eq!(user(&names), Some("root"));
    assert_eq!(group(&names), Some("root"));
    let root = names.user.expect("root's entry");
    assert_eq!((&*root.home, &*root.shell), ("/root", "/bin/bash"));
    let names = cache.names(None, [], ids(1000, 50), now);
    assert_eq!(
        (user(&names), group(&names)),
        (Some("alice"), Some("staff"))
    );
    let names = cache.names(None, [], ids(4242, 4242), now);
    assert_eq!(names, Names::default(), "the host has no uid 4242");
}

#[test]
fn the_host_is_named_through_its_processes_where_pid_1_is_guarded() {
    let proc = FakeProc::new("guarded");
    proc.guard_pid_1();
    proc.write(200, "etc/passwd", HOST_PASSWD);
    let mut cache = proc.cache();
    let names = cache.names(None, [200], ids(1000, 0), Instant::now());
    assert_eq!(user(&names), Some("alice"));
}

#[test]
fn a_container_is_named_from_its_own_root() {
    let proc = FakeProc::new("container");
    proc.write(100, "etc/passwd", APP_PASSWD);
    proc.write(100, "etc/group", APP_GROUP);
    let mut cache = proc.cache();
    let now = Instant::now();
    let names = cache.names(Some("c1"), [100], ids(4242, 4242), now);
    assert_eq!(
        (user(&names), group(&names)),
        (Some("appuser"), Some("appgroup"))
    );
    let app = names.user.expect("appuser's entry");
    assert_eq!((&*app.home, &*app.shell), ("/app", "/sbin/nologin"));
    // The same uid on the host and in the container: each its own name.
    assert_eq!(
        user(&cache.names(Some("c1"), [100], ids(1000, 0), now)),
        Some("bob")
    );
    assert_eq!(
        user(&cache.names(None, [100], ids(1000, 0), now)),
        Some("alice")
    );
    assert_eq!(cache.containers(), 1);
}

#[test]
fn the_login_name_comes_from_the_host() {
    let proc = FakeProc::new("login");
    proc.write(100, "etc/passwd", APP_PASSWD);
    let mut cache = proc.cache();
    let names = cache.names(
        Some("c1"),
        [100],
        Ids {
            uid: 0,
            gid: 0,
            loginuid: Some(1000),
        },
        Instant::now(),
    );
    assert_eq!(user(&names), Some("root"));
    assert_eq!(
        names.login.as_deref(),
        Some("alice"),
        "not the container's bob"
    );
    let unset = cache.names(Some("c1"), [100], ids(0, 0), Instant::now());
    assert_eq!(unset.login, None);
}

#[test]
fn lookups_between_checks_touch_no_file() {
    let proc = FakeProc::new("hits");
    proc.write(100, "etc/passwd", APP_PASSWD);
    proc.write(100, "etc/group", APP_GROUP);
    let mut cache = proc.cache();
    let t0 = Instant::now();
    for i in 0..100 {
        let at = t0 + Duration::from_millis(i * 10);
        let names = cache.names(Some("c1"), [100], ids(4242, 4242), at);
        assert_eq!(user(&names), Some("appuser"));
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.checks, stats.reads, stats.hits),
        (1, 2, 99),
        "{stats:?}"
    );
    // Even with the process gone and its files removed, until the next check.
    fs::remove_dir_all(proc.0.path().join("100")).expect("removing the fake process");
    let names = cache.names(
        Some("c1"),
        [100],
        ids(4242, 4242),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(user(&names), Some("appuser"));
    assert_eq!(cache.stats().checks, 1);
}

#[test]
fn a_changed_file_is_read_again_at_the_next_check() {
    let proc = FakeProc::new("refresh");
    proc.write(100, "etc/passwd", APP_PASSWD);
    proc.write(100, "etc/group", APP_GROUP);
    let mut cache = proc.cache();
    let t0 = Instant::now();
    assert_eq!(
        user(&cache.names(Some("c1"), [100], ids(5000, 0), t0)),
        None
    );
    // A new user, appended as `useradd` would.
    proc.write(
        100,
        "etc/passwd",
        format!("{APP_PASSWD}mallory:x:5000:5000::/:/bin/sh\n"),
    );
    let soon = t0 + INTERVAL / 2;
    assert_eq!(
        user(&cache.names(Some("c1"), [100], ids(5000, 0), soon)),
        None
    );
    let due = t0 + INTERVAL;
    let names = cache.names(Some("c1"), [100], ids(5000, 0), due);
    assert_eq!(user(&names), Some("mallory"));
    let stats = cache.stats();
    assert_eq!(
        (stats.checks, stats.reads),
        (2, 3),
        "the group file is unchanged: {stats:?}"
    );
    // Unchanged files cost a check and no read.
    cache.names(Some("c1"), [100], ids(5000, 0), due + INTERVAL);
    assert_eq!(cache.stats().reads, 3);
    // Replaced by a file of the same size: a new inode.
    let passwd = proc.root(100).join("etc/passwd");
    let replacement = proc.root(100).join("etc/passwd+");
    let same_size = fs::read_to_string(&passwd)
        .expect("passwd")
        .replace("mallory", "trudy__");
    fs::write(&replacement, same_size).expect("writing the replacement");
    fs::rename(&replacement, &passwd).expect("replacing passwd");
    let names = cache.names(Some("c1"), [100], ids(5000, 0), due + INTERVAL * 2);
    assert_eq!(user(&names), Some("trudy__"));
}

#[test]
fn a_root_without_files_is_remembered_until_the_next_check() {
    let proc = FakeProc::new("distroless");
    proc.root(100);
    let mut cache = proc.cache();
    let t0 = Instant::now();
    for i in 0..50 {
        let names = cache.names(Some("c1"), [100], ids(0, 0), t0 + Duration::from_millis(i));
        assert_eq!(names, Names::default());
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.checks, stats.missing, stats.hits),
        (1, 2, 49),
        "{stats:?}"
    );
    proc.write(100, "etc/passwd", APP_PASSWD);
    let names = cache.names(Some("c1"), [100], ids(4242, 0), t0 + INTERVAL);
    assert_eq!(user(&names), Some("appuser"), "the file appeared");
    assert_eq!(group(&names), None, "still no group file");
    // And when it goes away again, so do its names.
    fs::remove_file(proc.root(100).join("etc/passwd")).expect("removing passwd");
    let names = cache.names(Some("c1"), [100], ids(4242, 0), t0 + INTERVAL * 2);
    assert_eq!(user(&names), None);
}

#[test]
fn gone_processes_are_not_retried_per_event_and_keep_what_was_read() {
    let proc = FakeProc::new("gone");
    proc.write(100, "etc/passwd", APP_PASSWD);
    let mut cache = proc.cache();
    let t0 = Instant::now();
    // No such process: nothing, and no retry within the failure back-off.
    for i in 0..10 {
        let at = t0 + Duration::from_millis(i);
        assert_eq!(
            user(&cache.names(Some("c1"), [999], ids(4242, 0), at)),
            None
        );
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.checks, stats.failures, stats.hits),
        (1, 1, 9),
        "{stats:?}"
    );
    // Soon after (not a whole interval), a failed root is tried again.
    let later = t0 + Duration::from_millis(60);
    assert_eq!(
        user(&cache.names(Some("c1"), [999], ids(4242, 0), later)),
        None
    );
    assert_eq!(cache.stats().checks, 2, "{:?}", cache.stats());
    // The event's process is gone but its parent is there.
    let names = cache.names(Some("c1"), [999, 100], ids(4242, 0), t0 + INTERVAL);
    assert_eq!(user(&names), Some("appuser"));
    // All gone: what was read stays.
    fs::remove_dir_all(proc.0.path().join("100")).expect("removing the fake process");
    let names = cache.names(Some("c1"), [100], ids(4242, 0), t0 + INTERVAL * 2);
    assert_eq!(user(&names), Some("appuser"));
    assert_eq!(cache.stats().failures, 3);
}

#[test]
fn a_live_process_is_tried_within_the_back_off_of_a_gone_one() {
    let proc = FakeProc::new("backoff");
    proc.guard_pid_1();
    proc.write(100, "etc/passwd", APP_PASSWD);
    let mut cache = proc.cache();
    let t0 = Instant::now();
    assert_eq!(user(&cache.names(None, [998], ids(4242, 0), t0)), None);
    // Pid 1 and 998 refused; the same chain again is not retried.
    let soon = t0 + Duration::from_millis(1);
    assert_eq!(user(&cache.names(None, [998], ids(4242, 0), soon)), None);
    assert_eq!(
        (cache.stats().checks, cache.stats().hits),
        (1, 1),
        "{:?}",
        cache.stats()
    );
    // Another gone process costs one more failed try, not a wait.
    assert_eq!(user(&cache.names(None, [997], ids(4242, 0), soon)), None);
    assert_eq!(cache.stats().failures, 2, "{:?}", cache.stats());
    // A process that is alive names the event at once, within the back-off.
    let names = cache.names(None, [999, 100], ids(4242, 0), soon);
    assert_eq!(user(&names), Some("appuser"), "{:?}", cache.stats());
    assert_eq!(cache.stats().checks, 3, "{:?}", cache.stats());
}

#[test]
fn symlinks_cannot_leave_the_root() {
    let proc = FakeProc::new("escape");
    // A file outside the container's root that a hostile image points at.
    let outside = proc.0.path().join("outside");
    fs::write(&outside, "stolen:x:4242:4242::/:/bin/sh\n").expect("writing outside");
    let cases: [(u32, &std::path::Path); 3] = [
        (100, &outside),
        (101, std::path::Path::new("../../../../../../../../outside")),
        (102, std::path::Path::new("/proc/self/root/etc/passwd")),
    ];
    let mut cache = proc.cache();
    for (pid, target) in cases {
        fs::create_dir_all(proc.root(pid).join("etc")).expect("a fake /etc");
        symlink(target, proc.root(pid).join("etc/passwd")).expect("a symlink");
        let names = cache.names(
            Some(&format!("c{pid}")),
            [pid],
            ids(4242, 0),
            Instant::now(),
        );
        assert_eq!(user(&names), None, "{target:?} left the root");
    }
    // The whole /etc pointing out of the root.
    fs::create_dir_all(proc.0.path().join("etc-out")).expect("a directory outside");
    fs::write(
        proc.0.path().join("etc-out/passwd"),
        "stolen:x:4242:0::/:\n",
    )
    .expect("writing outside");
    symlink(proc.0.path().join("etc-out"), proc.root(103).join("etc")).expect("a symlink");
    let names = cache.names(Some("c103"), [103], ids(4242, 0), Instant::now());
    assert_eq!(user(&names), None, "/etc left the root");
}

#[test]
fn symlinks_inside_the_root_are_followed_where_openat2_is_allowed() {
    let proc = FakeProc::new("inside");
    proc.write(100, "usr/lib/passwd", APP_PASSWD);
    fs::create_dir_all(proc.root(100).join("etc")).expect("a fake /etc");
    symlink("/usr/lib/passwd", proc.root(100).join("etc/passwd")).expect("a symlink");
    let mut cache = proc.cache();
    let names = cache.names(Some("c1"), [100], ids(4242, 0), Instant::now());
    if read::openat2_refused() {
        assert_eq!(user(&names), None, "the component walk follows no symlink");
    } else {
        assert_eq!(user(&names), Some("appuser"), "resolved inside the root");
    }
}

#[test]
fn fifos_and_directories_are_refused_without_blocking() {
    let proc = FakeProc::new("fifo");
    fs::create_dir_all(proc.root(100).join("etc")).expect("a fake /etc");
    let fifo = CString::new(proc.root(100).join("etc/passwd").as_os_str().as_bytes())
        .expect("a path without NUL");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    fs::create_dir_all(proc.root(100).join("etc/group")).expect("a directory");
    let mut cache = proc.cache();
    let names = cache.names(Some("c1"), [100], ids(0, 0), Instant::now());
    assert_eq!(names, Names::default());
    assert_eq!(cache.stats().failures, 2, "{:?}", cache.stats());
}

#[test]
fn long_files_are_cut_and_counted() {
    let proc = FakeProc::new("cut");
    let passwd: String = (0..1000)
        .map(|i| format!("user{i}:x:{i}:0::/:\n"))
        .collect();
    proc.write(100, "etc/passwd", &passwd);
    let mut cache = proc.cache_with(UserConfig {
        max_file_bytes: 100,
        ..UserConfig::default()
    });
    let now = Instant::now();
    assert_eq!(
        user(&cache.names(Some("c1"), [100], ids(0, 0), now)),
        Some("user0")
    );
    assert_eq!(
        user(&cache.names(Some("c1"), [100], ids(999, 0), now)),
        None
    );
    assert_eq!(cache.stats().cut, 1);
    let mut cache = proc.cache_with(UserConfig {
        max_entries: 10,
        ..UserConfig::default()
    });
    assert_eq!(
        user(&cache.names(Some("c1"), [100], ids(9, 0), now)),
        Some("user9")
    );
    assert_eq!(user(&cache.names(Some("c1"), [100], ids(10, 0), now)), None);
    assert_eq!(cache.stats().cut, 1);
}

#[test]
fn hostile_content_gives_what_it_can() {
    let proc = FakeProc::new("hostile");
    let mut passwd = b"# comment\n+\n\xffname:x:7:7::/h:/bin/sh\nnouid:x:\n".to_vec();
    passwd.extend(std::iter::repeat_n(b'z', 300_000));
    passwd.extend_from_slice(b"\nfirst:x:8:8::/:\nsecond:x:8:8::/:\n");
    proc.write(100, "etc/passwd", &passwd);
    let mut cache = proc.cache();
    let now = Instant::now();
    let names = cache.names(Some("c1"), [100], ids(7, 0), now);
    assert_eq!(user(&names), Some("\u{fffd}name"));
    assert_eq!(
        user(&cache.names(Some("c1"), [100], ids(8, 0), now)),
        Some("first")
    );
    assert_eq!(cache.stats().bad_lines, 2, "{:?}", cache.stats());
}

#[test]
fn containers_are_bounded_least_recently_used_first() {
    let proc = FakeProc::new("bounds");
    for pid in [100, 101, 102] {
        proc.write(pid, "etc/passwd", APP_PASSWD);
    }
    let mut cache = proc.cache_with(UserConfig {
        max_containers: 2,
        ..UserConfig::default()
    });
    let t0 = Instant::now();
    cache.names(Some("c100"), [100], ids(0, 0), t0);
    cache.names(
        Some("c101"),
        [101],
        ids(0, 0),
        t0 + Duration::from_millis(1),
    );
    // c100 is used again, so c101 is the one to go.
    cache.names(
        Some("c100"),
        [100],
        ids(0, 0),
        t0 + Duration::from_millis(2),
    );
    cache.names(
        Some("c102"),
        [102],
        ids(0, 0),
        t0 + Duration::from_millis(3),
    );
    assert_eq!(cache.containers(), 2);
    assert_eq!(cache.stats().evicted, 1);
    let reads = cache.stats().reads;
    cache.names(
        Some("c100"),
        [100],
        ids(0, 0),
        t0 + Duration::from_millis(4),
    );
    assert_eq!(cache.stats().reads, reads, "c100 was kept");
    cache.names(
        Some("c101"),
        [101],
        ids(0, 0),
        t0 + Duration::from_millis(5),
    );
    assert_eq!(cache.stats().reads, reads + 1, "c101 was read again");
}

#[test]
fn memory_of_all_roots_is_bounded() {
    let proc = FakeProc::new("memory");
    let passwd: String = (0..100)
        .map(|i| format!("user{i}:x:{i}:0::/home/user{i}:/bin/sh\n"))
        .collect();
    for pid in 100..110 {
        proc.write(pid, "etc/passwd", &passwd);
    }
    // Room for the host and about three containers.
    let mut cache = proc.cache_with(UserConfig {
        max_total_bytes: 40_000,
        ..UserConfig::default()
    });
    let t0 = Instant::now();
    for pid in 100..110u32 {
        let at = t0 + Duration::from_millis(pid.into());
        let names = cache.names(Some(&format!("c{pid}")), [pid], ids(5, 0), at);
        assert_eq!(user(&names), Some("user5"), "the newest is always kept");
        assert!(cache.total_bytes <= 40_000, "{}", cache.total_bytes);
    }
    assert!(cache.containers() < 10);
    assert_eq!(cache.stats().evicted, 10 - cache.containers() as u64);
}
