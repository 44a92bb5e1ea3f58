//! File operations: unlink, rename, chmod (with the setuid bit), symlink and link,
//! with absolute paths, from the host (the *at syscalls, through coreutils) and
//! inside a container (the legacy syscalls, through busybox).

use std::{process::Command, time::Duration};

use sensor::{
    event::{Event, EventKind, FsCall, FsSyscall},
    kernel::{KernelConfig, WakeupPolicy},
};
use sensor_tests::{
    can_load_ebpf, container::Container, fs_of, nonce, read_until, start_with, test_config,
};

fn fs_only() -> KernelConfig {
    KernelConfig {
        kinds: vec![
            EventKind::Unlink,
            EventKind::Rename,
            EventKind::Chmod,
            EventKind::Link,
        ],
        ..test_config(WakeupPolicy::EveryEvent)
    }
}

fn arg(call: &FsCall, name: &str) -> String {
    call.arg_fields()
        .into_iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{name} missing from {call:?}"))
}

fn find<'a>(
    events: &'a [Event],
    syscalls: &[FsSyscall],
    path: &str,
) -> Option<(&'a Event, &'a FsCall)> {
    events.iter().find_map(|e| {
        fs_of(e)
            .filter(|c| syscalls.contains(&c.syscall) && c.path == path)
            .map(|c| (e, c))
    })
}

/// Checks the five operations of `SCRIPT` run in `dir`, through `syscalls`.
fn check(events: &[Event], dir: &str, cgroup: Option<u64>, legacy: bool) {
    let pick = |legacy_call, at_call| if legacy { [legacy_call] } else { [at_call] };
    let a = format!("{dir}/a");
    let (_, chmod) =
        find(events, &pick(FsSyscall::Chmod, FsSyscall::Fchmodat), &a).expect("the chmod");
    assert!(arg(chmod, "evt.arg.mode").contains("S_ISUID"), "{chmod:?}");
    assert_eq!(chmod.mode & 0o7777, 0o4755);
    let (event, symlink) = find(
        events,
        &pick(FsSyscall::Symlink, FsSyscall::Symlinkat),
        &format!("{dir}/s"),
    )
    .expect("the symlink");
    assert_eq!(
        arg(symlink, "evt.arg.target"),
        "/etc/shadow",
        "the target as written"
    );
    if let Some(cgroup) = cgroup {
        assert_eq!(event.task.cgroup_id, cgroup);
    }
    let (_, link) = find(events, &pick(FsSyscall::Link, FsSyscall::Linkat), &a).expect("the link");
    assert_eq!(arg(link, "evt.arg.newpath"), format!("{dir}/h"));
    let (_, rename) =
        find(events, &pick(FsSyscall::Rename, FsSyscall::Renameat2), &a).expect("the rename");
    assert_eq!(arg(rename, "evt.arg.newpath"), format!("{dir}/b"));
    let (_, unlink) = find(
        events,
        &pick(FsSyscall::Unlink, FsSyscall::Unlinkat),
        &format!("{dir}/b"),
    )
    .expect("the unlink");
    assert_eq!(unlink.result, 0);
    for call in [chmod, symlink, link, rename, unlink] {
        assert_eq!(call.result, 0, "{call:?}");
    }
}

const SCRIPT: &str =
    "touch a && chmod 4755 a && ln -s /etc/shadow s && ln a h && mv a b && rm b s h";

#[tokio::test]
async fn file_operations_on_the_host_have_absolute_paths() {
    if !can_load_ebpf("fsops_host") {
        return;
    }
    let (_sensor, mut reader) = start_with(&fs_only());
    let dir = std::env::temp_dir().join(nonce("fsops"));
    std::fs::create_dir_all(&dir).expect("creating a dir");
    let dir = dir.canonicalize().expect("canonical");
    let status = Command::new("/bin/sh")
        .args(["-c", SCRIPT])
        .current_dir(&dir)
        .status();
    assert!(status.is_ok_and(|s| s.success()));
    let d = dir.to_str().expect("utf-8").to_string();
    let unlinked = format!("{d}/b");
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        find(events, &[FsSyscall::Unlinkat], &unlinked).is_some()
    })
    .await;
    check(&events, &d, None, false);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn file_operations_in_a_container_have_container_paths() {
    if !can_load_ebpf("fsops_container") {
        return;
    }
    let (_sensor, mut reader) = start_with(&fs_only());
    let marker = nonce("cfs");
    let script = format!("cd /tmp && {SCRIPT}");
    let container = Container::create(&marker, &["/bin/sh", "-c", &script], 0, 0);
    let cgroup = container.cgroup_id();
    container.start();
    container.wait(Duration::from_secs(20));
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        find(events, &[FsSyscall::Unlink], "/tmp/b").is_some()
    })
    .await;
    let mine: Vec<Event> = events
        .into_iter()
        .filter(|e| e.task.cgroup_id == cgroup)
        .collect();
    check(&mine, "/tmp", Some(cgroup), true);
}

fn mount_of<'a>(events: &'a [Event], dir: &str) -> Option<(&'a Event, &'a FsCall)> {
    find(events, &[FsSyscall::Mount], dir)
}

#[tokio::test]
async fn mounts_report_target_source_type_and_flags() {
    if !can_load_ebpf("mount") {
        return;
    }
    let config = KernelConfig {
        kinds: vec![EventKind::Mount],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (_sensor, mut reader) = start_with(&config);
    let dir = std::env::temp_dir().join(nonce("mnt"));
    std::fs::create_dir_all(&dir).expect("creating a mount point");
    let dir = dir.canonicalize().expect("canonical");
    let target = std::ffi::CString::new(dir.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: valid strings; we unmount right after.
    let rc = unsafe {
        libc::mount(
            c"sensor-tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "mount failed: {}", std::io::Error::last_os_error());
    // SAFETY: our own mount.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };

    // Inside a container without CAP_SYS_ADMIN the attempt fails, and is reported.
    let marker = nonce("cmnt");
    let container = Container::create(
        &marker,
        &[
            "/bin/sh",
            "-c",
            "mkdir -p /mnt && mount -t tmpfs sensorfs /mnt; true",
        ],
        0,
        0,
    );
    let cgroup = container.cgroup_id();
    container.start();
    container.wait(Duration::from_secs(20));

    let d = dir.to_str().expect("utf-8").to_string();
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        mount_of(events, &d).is_some() && mount_of(events, "/mnt").is_some()
    })
    .await;
    let (event, host) = mount_of(&events, &d).expect("the host's mount");
    assert_eq!(event.evt_type(), "mount");
    assert_eq!(host.result, 0);
    assert_eq!(arg(host, "evt.arg.dev"), "sensor-tmpfs");
    assert_eq!(arg(host, "evt.arg.type"), "tmpfs");
    assert_eq!(arg(host, "evt.arg.flags"), "MS_NOSUID|MS_NODEV");
    let (event, refused) = mount_of(&events, "/mnt").expect("the container's mount");
    assert_eq!(event.task.cgroup_id, cgroup);
    assert_eq!(refused.result, -i64::from(libc::EPERM));
    assert_eq!(arg(refused, "evt.arg.type"), "tmpfs");
    let _ = std::fs::remove_dir(dir);
}
