//! Exec events from real processes on this kernel: argv, parent, credentials and
//! cgroup, truncation of oversized arguments and paths, and execveat(2).

use std::{ffi::CString, os::unix::process::CommandExt as _, process::Command, time::Duration};

use sensor::event::Event;
use sensor_common::event::{ARGS_LEN, FILENAME_LEN};
use sensor_tests::{
    argv, can_load_ebpf, container::own_cgroup_id, exec_of, nonce, read_until, start,
};

fn exec_by_pid(events: &[Event], pid: u32) -> Option<&Event> {
    events
        .iter()
        .find(|e| e.task.pid == pid && exec_of(e).is_some())
}

#[tokio::test]
async fn child_exec_reports_argv_parent_credentials_and_cgroup() {
    if !can_load_ebpf("child_exec") {
        return;
    }
    let (_sensor, mut reader) = start();
    let marker = nonce("child");
    let child = Command::new("/bin/echo")
        .args([marker.as_str(), "two words", ""])
        .uid(4242)
        .gid(4343)
        .output()
        .expect("running /bin/echo");
    assert!(child.status.success());

    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events.iter().any(|e| argv(e).get(1) == Some(&marker))
    })
    .await;
    let event = events
        .iter()
        .find(|e| argv(e).get(1) == Some(&marker))
        .unwrap_or_else(|| panic!("no exec event for {marker} among {} events", events.len()));
    let exec = exec_of(event).expect("an exec event");
    assert_eq!(event.evt_type(), "execve");
    assert_eq!(exec.argv, ["/bin/echo", marker.as_str(), "two words", ""]);
    // The executable's own path: /bin is a symlink to /usr/bin on merged-/usr systems.
    let echo = std::fs::canonicalize("/bin/echo").expect("/bin/echo exists");
    assert_eq!(exec.exepath, echo.to_str().expect("utf-8"));
    assert!(!exec.exepath_as_given && !exec.exe_unlinked && !exec.exe_from_memfd);
    assert_eq!(event.task.comm, "echo");
    assert_eq!(
        event.task.ppid,
        std::process::id(),
        "the test process is the parent"
    );
    assert_eq!((event.task.uid, event.task.gid), (4242, 4343));
    assert_eq!(event.task.pid, event.task.tid);
    assert_eq!(event.task.cgroup_id, own_cgroup_id());
    assert!(
        event.truncated.is_empty() && event.unreadable.is_empty(),
        "{event:?}"
    );
}

#[tokio::test]
async fn oversized_argv_and_path_are_cut_and_flagged() {
    if !can_load_ebpf("oversized") {
        return;
    }
    let (sensor, mut reader) = start();
    // A path longer than the kernel side keeps, made of directories of 200 bytes.
    let mut dir = std::env::temp_dir().join(nonce("deep"));
    for i in 0..3 {
        dir = dir.join(format!("{i}{}", "d".repeat(199)));
    }
    std::fs::create_dir_all(&dir).expect("creating a deep directory");
    let exe = dir.join("true");
    std::fs::copy("/bin/true", &exe).expect("copying /bin/true");
    assert!(exe.as_os_str().len() > FILENAME_LEN);
    let huge = "x".repeat(ARGS_LEN * 2);
    let status = Command::new(&exe)
        .arg(&huge)
        .status()
        .expect("running the deep true");
    assert!(status.success());

    let exe_str = exe.to_string_lossy().into_owned();
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events.iter().any(|e| {
            exec_of(e).is_some_and(|x| exe_str.starts_with(&x.exepath) && x.exepath.len() > 100)
        })
    })
    .await;
    let event = events
        .iter()
        .find(|e| {
            exec_of(e).is_some_and(|x| exe_str.starts_with(&x.exepath) && x.exepath.len() > 100)
        })
        .expect("an exec event for the deep path");
    let exec = exec_of(event).expect("an exec event");
    assert_eq!(
        exec.exepath.len(),
        FILENAME_LEN - 1,
        "cut to the buffer, less its NUL"
    );
    assert_eq!(event.truncated, ["proc.exepath", "proc.argv"]);
    let joined = exec.argv.join("\0");
    assert_eq!(joined.len(), ARGS_LEN, "cut to exactly the buffer");
    assert!(exec.argv[1].chars().all(|c| c == 'x'));

    let counts = sensor.counters().read().expect("reading the drop counters");
    let truncated: u64 = counts
        .iter()
        .filter(|((_, reason), _)| reason.name() == "truncated")
        .map(|(_, n)| n)
        .sum();
    assert!(truncated >= 2, "truncations are counted: {counts:?}");
    let _ =
        std::fs::remove_dir_all(std::env::temp_dir().join(dir.iter().nth(2).expect("a tmp child")));
}

#[tokio::test]
async fn execveat_is_reported_as_such() {
    if !can_load_ebpf("execveat") {
        return;
    }
    let (_sensor, mut reader) = start();
    let marker = nonce("execveat");
    let pid = execveat_in_child(libc::AT_FDCWD, "/bin/true", &marker, 0);

    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        exec_by_pid(events, pid as u32).is_some()
    })
    .await;
    let event = exec_by_pid(&events, pid as u32).expect("an exec event for the execveat child");
    assert_eq!(event.evt_type(), "execveat");
    assert_eq!(argv(event), ["true", marker.as_str()]);
}

/// Forks a child that runs `execveat(dirfd, path, ["true", arg], [], flags)` and
/// waits for it; returns its pid.
fn execveat_in_child(dirfd: i32, path: &str, arg: &str, flags: i32) -> i32 {
    let path = CString::new(path).expect("no NUL");
    let arg0 = CString::new("true").expect("no NUL");
    let arg1 = CString::new(arg).expect("no NUL");
    let child_argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: the child only calls execveat and _exit, both async-signal-safe, on
    // memory prepared before the fork.
    let pid = unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::syscall(
                libc::SYS_execveat,
                dirfd,
                path.as_ptr(),
                child_argv.as_ptr(),
                envp.as_ptr(),
                flags,
            );
            libc::_exit(127);
        }
        pid
    };
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(libc::WEXITSTATUS(status), 0, "execveat of {path:?} failed");
    pid
}

/// Runs the executable behind `fd` in a child (fexecve); returns the child's pid.
fn exec_fd_in_child(fd: i32, arg: &str) -> i32 {
    execveat_in_child(fd, "", arg, libc::AT_EMPTY_PATH)
}

#[tokio::test]
async fn fileless_and_deleted_executables_are_flagged() {
    if !can_load_ebpf("fileless") {
        return;
    }
    let (_sensor, mut reader) = start();
    let true_bin = std::fs::read("/bin/true").expect("reading /bin/true");

    // A memfd holding /bin/true: nothing on disk.
    let name = CString::new("sensor-fileless").expect("no NUL");
    // SAFETY: a valid name; we own the returned fd.
    let memfd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    assert!(memfd >= 0);
    // SAFETY: writing our buffer to our fd.
    let written = unsafe { libc::write(memfd, true_bin.as_ptr().cast(), true_bin.len()) };
    assert_eq!(written as usize, true_bin.len());
    let memfd_pid = exec_fd_in_child(memfd, &nonce("memfd"));

    // A copy of /bin/true, opened, then unlinked before it runs.
    let path = std::env::temp_dir().join(nonce("deleted-true"));
    std::fs::write(&path, &true_bin).expect("writing a copy");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let file = std::fs::File::open(&path).expect("opening the copy");
    std::fs::remove_file(&path).expect("unlinking the copy");
    let deleted_pid = exec_fd_in_child(std::os::fd::AsRawFd::as_raw_fd(&file), &nonce("deleted"));

    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        exec_by_pid(events, memfd_pid as u32).is_some()
            && exec_by_pid(events, deleted_pid as u32).is_some()
    })
    .await;
    let fileless =
        exec_of(exec_by_pid(&events, memfd_pid as u32).expect("the memfd exec")).expect("an exec");
    assert!(
        fileless.exe_from_memfd && fileless.exe_unlinked,
        "{fileless:?}"
    );
    assert!(
        fileless.exepath.contains("memfd:sensor-fileless"),
        "{}",
        fileless.exepath
    );
    assert!(fileless.via_execveat);
    let deleted = exec_of(exec_by_pid(&events, deleted_pid as u32).expect("the deleted exec"))
        .expect("an exec");
    assert!(
        deleted.exe_unlinked && !deleted.exe_from_memfd,
        "{deleted:?}"
    );
    assert_eq!(deleted.exepath, path.to_str().expect("utf-8"));
    // SAFETY: closing our fd.
    unsafe { libc::close(memfd) };
}
