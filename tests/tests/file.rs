//! File opens: absolute paths as the process sees them (relative opens, dirfds,
//! symlinks, inside a container), failed opens with the path as given, flags,
//! results, and the syscalls of the open family.

use std::{ffi::CString, os::fd::AsRawFd as _, process::Command, time::Duration};

use sensor::event::{
    Event, EventKind, Open,
    file::{OpenSyscall, PathSource},
};
use sensor::kernel::{KernelConfig, WakeupPolicy};
use sensor_tests::{
    can_load_ebpf, container::Container, nonce, open_of, read_until, start_with, test_config,
    tmp_dir,
};

fn opens_only() -> KernelConfig {
    KernelConfig {
        kinds: vec![EventKind::Open],
        ..test_config(WakeupPolicy::EveryEvent)
    }
}

fn find<'a>(events: &'a [Event], path: &str) -> Option<(&'a Event, &'a Open)> {
    events
        .iter()
        .find_map(|e| open_of(e).filter(|o| o.path == path).map(|o| (e, o)))
}

async fn wait_for(reader: &mut sensor::kernel::EventReader, paths: &[&str]) -> Vec<Event> {
    read_until(reader, Duration::from_secs(10), |events| {
        paths.iter().all(|p| find(events, p).is_some())
    })
    .await
}

#[tokio::test]
async fn relative_dirfd_symlink_and_failed_opens_have_absolute_paths() {
    if !can_load_ebpf("open_paths") {
        return;
    }
    let (_sensor, mut reader) = start_with(&opens_only());
    let dir = tmp_dir("open");
    let target = dir.join("target.txt");
    std::fs::write(&target, "x").expect("writing");
    std::os::unix::fs::symlink(&target, dir.join("link")).expect("symlink");
    let d = dir.to_str().expect("utf-8");

    // Relative to the working directory, through a symlink, and a failed one.
    let script = "cat target.txt link >/dev/null; cat ./missing 2>/dev/null; true";
    let status = Command::new("/bin/sh")
        .args(["-c", script])
        .current_dir(&dir)
        .status();
    assert!(status.is_ok_and(|s| s.success()));
    // Relative to a directory fd, from this process.
    let dirfd = std::fs::File::open(&dir).expect("opening the dir");
    let name = CString::new("target.txt").expect("no NUL");
    let missing = CString::new("absent").expect("no NUL");
    // SAFETY: valid fd and NUL-terminated strings.
    let fd = unsafe { libc::openat(dirfd.as_raw_fd(), name.as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0);
    // SAFETY: as above.
    let bad = unsafe { libc::openat(dirfd.as_raw_fd(), missing.as_ptr(), libc::O_RDONLY) };
    assert_eq!(bad, -1);

    let target_path = format!("{d}/target.txt");
    let missing_path = format!("{d}/./missing");
    let absent_path = format!("{d}/absent");
    let events = wait_for(&mut reader, &[&target_path, &missing_path, &absent_path]).await;
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };

    let cat_opens: Vec<&Open> = events
        .iter()
        .filter(|e| e.task.comm == "cat")
        .filter_map(open_of)
        .filter(|o| o.path == target_path)
        .collect();
    assert_eq!(
        cat_opens.len(),
        2,
        "target.txt and the link both resolve to the target"
    );
    assert!(
        cat_opens
            .iter()
            .all(|o| o.source == PathSource::Opened && o.result >= 0)
    );

    let (_, missing) = find(&events, &missing_path).expect("the failed relative open");
    assert_eq!(
        (missing.source, missing.result),
        (PathSource::AsGiven, -(libc::ENOENT as i64))
    );

    // This process also wrote the file earlier: pick the open that returned `fd`.
    let (by_fd, opened) = events
        .iter()
        .filter(|e| e.task.pid == std::process::id())
        .find_map(|e| {
            open_of(e)
                .filter(|o| o.path == target_path && o.result == i64::from(fd))
                .map(|o| (e, o))
        })
        .expect("the openat through a dirfd, with the fd it returned");
    assert_eq!(opened.syscall, OpenSyscall::Openat);
    assert_eq!(opened.typechar(), Some('f'));
    assert!(opened.is_read() && !opened.is_write());
    assert_eq!(by_fd.evt_type(), "openat");
    let (_, absent) = find(&events, &absent_path).expect("the failed dirfd open");
    assert_eq!(absent.source, PathSource::AsGiven);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn creat_and_openat2_report_their_syscall_flags_and_mode() {
    if !can_load_ebpf("open_syscalls") {
        return;
    }
    let (_sensor, mut reader) = start_with(&opens_only());
    let dir = tmp_dir("creat");
    let created = dir.join("created");
    let via2 = dir.join("via-openat2");
    let c_created = CString::new(created.to_str().expect("utf-8")).expect("no NUL");
    let c_via2 = CString::new(via2.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: a valid path.
    let fd = unsafe { libc::creat(c_created.as_ptr(), 0o640) };
    assert!(fd >= 0);
    // SAFETY: closing our fd.
    unsafe { libc::close(fd) };
    // struct open_how { u64 flags; u64 mode; u64 resolve; }
    let how: [u64; 3] = [(libc::O_CREAT | libc::O_RDWR) as u64, 0o600, 0];
    // SAFETY: valid pointers and size.
    let fd2 = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c_via2.as_ptr(),
            how.as_ptr(),
            std::mem::size_of_val(&how),
        )
    };
    assert!(
        fd2 >= 0,
        "openat2 failed: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: closing our fd.
    unsafe { libc::close(fd2 as i32) };

    let created_s = created.to_str().expect("utf-8");
    let via2_s = via2.to_str().expect("utf-8");
    let events = wait_for(&mut reader, &[created_s, via2_s]).await;
    let (event, creat) = find(&events, created_s).expect("the creat");
    assert_eq!(event.evt_type(), "creat");
    assert_eq!(creat.mode, 0o640);
    assert_eq!(creat.flags_text(), "O_WRONLY|O_CREAT|O_TRUNC");
    assert!(creat.is_write());
    let (event, opened) = find(&events, via2_s).expect("the openat2");
    assert_eq!(event.evt_type(), "openat2");
    assert_eq!(
        (opened.mode, opened.flags_text().as_str()),
        (0o600, "O_RDWR|O_CREAT")
    );
    assert!(opened.is_read() && opened.is_write());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn paths_deeper_than_the_walk_are_flagged_not_wrong() {
    if !can_load_ebpf("open_deep") {
        return;
    }
    let (_sensor, mut reader) = start_with(&opens_only());
    let top = tmp_dir("deep");
    let mut dir = top.to_path_buf();
    for _ in 0..60 {
        dir = dir.join("d");
    }
    std::fs::create_dir_all(&dir).expect("creating deep dirs");
    let file = dir.join("leaf");
    std::fs::write(&file, "x").expect("writing");
    std::fs::read(&file).expect("reading");
    let full = file.to_str().expect("utf-8").to_string();
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events
            .iter()
            .filter_map(open_of)
            .any(|o| o.path.ends_with("/d/d/leaf") && full.ends_with(&o.path))
    })
    .await;
    let event = events
        .iter()
        .find(|e| {
            open_of(e).is_some_and(|o| o.path.ends_with("/d/d/leaf") && full.ends_with(&o.path))
        })
        .expect("an open of the deep file");
    let open = open_of(event).expect("an open");
    assert!(
        open.path.len() < full.len(),
        "the walk stops before the root"
    );
    assert_eq!(event.unreadable, ["fd.name"], "a partial path is flagged");
    let _ = std::fs::remove_dir_all(top);
}

#[tokio::test]
async fn opens_in_a_container_have_container_paths() {
    if !can_load_ebpf("container_open") {
        return;
    }
    let (_sensor, mut reader) = start_with(&opens_only());
    let marker = nonce("copen");
    let script = "cd /etc && cat shadow && cat nothere; true";
    let container = Container::create_with_files(
        &marker,
        &["/bin/sh", "-c", script],
        0,
        0,
        &[("/etc/shadow", "root:*:19000:0:99999:7:::\n")],
    );
    let cgroup_id = container.cgroup_id();
    container.start();
    container.wait(Duration::from_secs(20));
    assert!(
        container.stdout().contains("root:*"),
        "the container read its shadow"
    );
    let in_container = |e: &&Event| e.task.cgroup_id == cgroup_id;
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        let mine: Vec<Event> = events.iter().filter(in_container).cloned().collect();
        find(&mine, "/etc/shadow").is_some() && find(&mine, "/etc/nothere").is_some()
    })
    .await;
    let mine: Vec<Event> = events.iter().filter(in_container).cloned().collect();
    let (event, shadow) = find(&mine, "/etc/shadow").expect("the container's open of /etc/shadow");
    assert_eq!(shadow.source, PathSource::Opened);
    assert!(shadow.result >= 0);
    assert_eq!(shadow.typechar(), Some('f'));
    assert_eq!(event.task.comm, "cat");
    let (_, nothere) = find(&mine, "/etc/nothere").expect("the failed open");
    assert_eq!(
        (nothere.source, nothere.result),
        (PathSource::AsGiven, -(libc::ENOENT as i64))
    );
    // runc init runs in the container's cgroup before it pivots into the rootfs, so
    // its opens show host paths; the container's own programs must not.
    assert!(
        !mine
            .iter()
            .filter(|e| e.task.comm == "cat" || e.task.comm == "sh")
            .filter_map(open_of)
            .any(|o| o.path.contains("sensor-bundle")),
        "no open by the container's programs shows the host's view of its root"
    );
}

#[tokio::test]
async fn open_filter_reports_watched_file_names_wherever_they_are() {
    if !can_load_ebpf("open_filter_names") {
        return;
    }
    let dir = tmp_dir("names");
    let d = dir.to_str().expect("utf-8").to_string();
    // A name no other process opens; the rule `fd.name endswith /.docker/NAME`
    // watches it so.
    let name = format!("{}.json", nonce("cred"));
    for sub in ["a", "b/c"] {
        std::fs::create_dir_all(dir.join(sub)).expect("creating dirs");
        std::fs::write(dir.join(sub).join(&name), "x").expect("writing");
        std::fs::write(dir.join(sub).join("other"), "x").expect("writing");
    }
    let filter = |names: Vec<String>| sensor::kernel::OpenFilter {
        read: vec![format!("/{}/", nonce("nothing-lives-here"))],
        read_names: names,
        ..sensor::kernel::OpenFilter::default()
    };
    let config = KernelConfig {
        open_filter: Some(filter(vec![name.clone()])),
        ..opens_only()
    };
    let (mut sensor, mut reader) = start_with(&config);
    let read = |path: &str| std::fs::read(dir.join(path)).is_ok();
    // Thrice: a remembered verdict must keep the name watched.
    for _ in 0..3 {
        assert!(read(&format!("a/{name}")));
    }
    assert!(read(&format!("b/c/{name}")));
    assert!(read("a/other"));
    // A failed open has no file to name: prefixes alone judge it (the plan
    // watches every path for failed opens a rule bounds by name).
    assert!(!read(&format!("a/missing/{name}")));
    assert!(!read(&format!("a/{name}x")));
    // Names watched for reads only: a write goes unreported.
    std::fs::write(dir.join("b/c").join(&name), "y").expect("writing");
    // A file bind-mounted over the watched name keeps its source's name in
    // its dentry (Kubernetes mounts a Secret's key so, with subPath): its path
    // ends in the watched name, and it is reported.
    std::fs::create_dir_all(dir.join("m")).expect("creating dirs");
    std::fs::write(dir.join("m/source-key"), "s").expect("writing");
    std::fs::write(dir.join("m").join(&name), "").expect("writing");
    let c = |p: &std::path::Path| CString::new(p.to_str().expect("utf-8")).expect("no NUL");
    let (source, target) = (c(&dir.join("m/source-key")), c(&dir.join("m").join(&name)));
    // SAFETY: valid C strings; a bind mount of a file onto a file.
    let bound = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(
        bound,
        0,
        "bind-mounting a file: {}",
        std::io::Error::last_os_error()
    );
    assert!(read(&format!("m/{name}")));
    // SAFETY: the mount made above.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    let events = read_until(&mut reader, Duration::from_secs(3), |_| false).await;
    let opens: Vec<&Open> = events
        .iter()
        .filter_map(open_of)
        .filter(|o| o.path.starts_with(&d))
        .collect();
    let count = |path: String| opens.iter().filter(|o| o.path == path).count();
    assert_eq!(count(format!("{d}/a/{name}")), 3, "{opens:?}");
    assert_eq!(count(format!("{d}/b/c/{name}")), 1, "{opens:?}");
    assert_eq!(count(format!("{d}/m/{name}")), 1, "{opens:?}");
    assert_eq!(
        opens.len(),
        5,
        "only opens of the watched name for reading: {opens:?}"
    );

    // Without the name, the same file goes unreported: the maps and the
    // remembered verdicts change with the filter.
    sensor
        .set_open_filter(Some(&filter(Vec::new())))
        .expect("changing the filter");
    assert!(read(&format!("a/{name}")));
    let events = read_until(&mut reader, Duration::from_secs(2), |_| false).await;
    assert!(
        !events
            .iter()
            .filter_map(open_of)
            .any(|o| o.path.starts_with(&d)),
        "no name watched, nothing reported"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn open_filter_reports_only_watched_prefixes_and_changes_while_running() {
    if !can_load_ebpf("open_filter") {
        return;
    }
    let dir = tmp_dir("filter");
    let d = dir.to_str().expect("utf-8").to_string();
    for sub in ["watched", "other", "w"] {
        std::fs::create_dir_all(dir.join(sub)).expect("creating dirs");
        std::fs::write(dir.join(sub).join("f"), "x").expect("writing");
    }
    let config = KernelConfig {
        open_filter: Some(sensor::kernel::OpenFilter {
            read: vec![format!("{d}/watched/")],
            write: vec![format!("{d}/w/")],
            ..sensor::kernel::OpenFilter::default()
        }),
        ..opens_only()
    };
    let (mut sensor, mut reader) = start_with(&config);
    let read = |sub: &str| std::fs::read(dir.join(sub).join("f")).expect("reading");
    let write = |sub: &str| std::fs::write(dir.join(sub).join("f"), "y").expect("writing");
    read("watched");
    read("other");
    write("w");
    read("w");
    write("other");
    // Failed opens are judged by the path as given: absolute, and relative to
    // the working directory.
    let missing = |path: &std::path::Path| assert!(std::fs::read(path).is_err());
    missing(&dir.join("watched/missing"));
    missing(&dir.join("other/missing"));
    let relative = Command::new("cat")
        .arg("watched/missing-relative")
        .current_dir(&dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("running cat");
    assert!(!relative.success());
    let (watched, other, w) = (
        format!("{d}/watched/f"),
        format!("{d}/other/f"),
        format!("{d}/w/f"),
    );
    let (gone, gone_relative) = (
        format!("{d}/watched/missing"),
        format!("{d}/watched/missing-relative"),
    );
    let events = read_until(&mut reader, Duration::from_secs(3), |_| false).await;
    let opens: Vec<&Open> = events
        .iter()
        .filter_map(open_of)
        .filter(|o| o.path.starts_with(&d))
        .collect();
    assert_eq!(
        opens.len(),
        4,
        "only the watched read, the watched write and the two failed watched opens: {opens:?}"
    );
    assert!(opens.iter().any(|o| o.path == watched && o.is_read()));
    for path in [&gone, &gone_relative] {
        assert!(
            opens
                .iter()
                .any(|o| &o.path == path && o.result < 0 && o.source == PathSource::AsGiven),
            "{path} failed and is reported as given: {opens:?}"
        );
    }
    assert!(
        opens
            .iter()
            .any(|o| o.path == w && o.is_write() && !o.is_read())
    );

    sensor
        .set_open_filter(None)
        .expect("turning the filter off");
    read("other");
    let events = wait_for(&mut reader, &[&other]).await;
    assert!(
        find(&events, &other).is_some(),
        "with no filter every open is reported"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_million_unwatched_opens_reach_user_space_as_zero_events() {
    if !can_load_ebpf("open_flood") {
        return;
    }
    const OPENS: u64 = 1_000_000;
    let config = KernelConfig {
        open_filter: Some(sensor::kernel::OpenFilter {
            read: vec![format!("/{}/", nonce("nothing-lives-here"))],
            ..sensor::kernel::OpenFilter::default()
        }),
        ..opens_only()
    };
    let (sensor, mut reader) = start_with(&config);
    let filtered = |sensor: &sensor::kernel::KernelSensor| {
        let counts = sensor.counters().read().expect("the counters");
        sensor::kernel::counters::total(&counts, sensor_common::DropReason::Filtered)
    };
    let before = filtered(&sensor);
    let path = CString::new("/etc/hostname").expect("no NUL");
    for _ in 0..OPENS {
        // SAFETY: a valid path; the fd is closed at once.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0);
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
    let events = read_until(&mut reader, Duration::from_millis(500), |_| false).await;
    let opens = events.iter().filter(|e| open_of(e).is_some()).count();
    assert_eq!(
        opens, 0,
        "no open outside the watched prefix reaches user space"
    );
    let dropped = filtered(&sensor) - before;
    assert!(
        dropped >= OPENS,
        "the kernel counted {dropped} filtered opens"
    );
}
