//! The default rules on privilege and the kernel: set*id to root by a non-root
//! process, ptrace, bpf, io_uring, mounts, setuid bits, writes to the host's
//! kernel settings. Raw system calls no busybox applet makes are made by a
//! child of the test that joins the container's cgroup (see
//! `sensor_tests::findings::How::Syscalls`).
//!
//! Kernel module loads (init_module, finit_module) have no tracepoint on this
//! kernel: their rule is tested on hand-made events in the sensor's unit tests
//! (`sensor/src/engine/default_rules_tests.rs`).

use sensor_tests::{
    can_load_ebpf,
    findings::{Act, Case, Expect, Sensor, check, is},
};
use serde_json::json;

/// Drops to uid and gid 1000, then asks for uid 0 (refused).
fn setuid_root_as_user() {
    // SAFETY (all below): raw system calls in a forked child.
    unsafe {
        libc::setresgid(1000, 1000, 1000);
        libc::setresuid(1000, 1000, 1000);
        libc::setuid(0);
    }
}

/// Drops to 1000, then asks for 1000 again: no gain.
fn setuid_self_as_user() {
    unsafe {
        libc::setresgid(1000, 1000, 1000);
        libc::setresuid(1000, 1000, 1000);
        libc::setuid(1000);
    }
}

fn setgid_root_as_user() {
    unsafe {
        libc::setresgid(1000, 1000, 1000);
        libc::setresuid(1000, 1000, 1000);
        libc::setgid(0);
    }
}

fn setgid_self_as_user() {
    unsafe {
        libc::setresgid(1000, 1000, 1000);
        libc::setresuid(1000, 1000, 1000);
        libc::setgid(1000);
    }
}

/// PTRACE_ATTACH to a pid that cannot exist: refused, but the attempt is what
/// counts (and no real process is stopped).
fn ptrace_attach() {
    unsafe {
        libc::ptrace(libc::PTRACE_ATTACH, 0x3fff_fff0, 0, 0);
    }
}

/// PTRACE_TRACEME: a program letting its parent debug it.
fn ptrace_traceme() {
    unsafe {
        libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
    }
}

/// BPF_PROG_LOAD with no attributes: refused, but the attempt is the event.
fn bpf_prog_load() {
    unsafe {
        libc::syscall(libc::SYS_bpf, 5, 0, 0);
    }
}

/// BPF_MAP_LOOKUP_ELEM with no attributes: reading a map, not loading code.
fn bpf_map_lookup() {
    unsafe {
        libc::syscall(libc::SYS_bpf, 1, 0, 0);
    }
}

fn io_uring_setup() {
    unsafe {
        let mut params = [0u8; 120];
        libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr());
    }
}

/// A memfd, which the sensor also reports: a neighbour on the same path.
fn memfd_only() {
    unsafe {
        libc::memfd_create(c"buffer".as_ptr(), libc::MFD_CLOEXEC);
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "Non-root process asked for root",
            "Warning",
            ("evt.arg.uid", Expect::Is(json!(0))),
            Act::syscalls(setuid_root_as_user),
            Act::syscalls(setuid_self_as_user),
        ),
        Case::new(
            "Non-root process asked for root group",
            "Warning",
            ("evt.arg.gid", Expect::Is(json!(0))),
            Act::syscalls(setgid_root_as_user),
            Act::syscalls(setgid_self_as_user),
        ),
        Case::new(
            "Ptrace attach in container",
            "Warning",
            ("evt.arg.request", is("PTRACE_ATTACH")),
            Act::syscalls(ptrace_attach),
            Act::syscalls(ptrace_traceme),
        ),
        Case::new(
            "BPF program loaded from container",
            "Error",
            ("evt.arg.cmd", is("BPF_PROG_LOAD")),
            Act::syscalls(bpf_prog_load),
            Act::syscalls(bpf_map_lookup),
        ),
        Case::new(
            "Io_uring set up in container",
            "Notice",
            ("evt.arg.entries", Expect::Is(json!(4))),
            Act::syscalls(io_uring_setup),
            Act::syscalls(memfd_only),
        ),
        Case::new(
            "Mount in container",
            "Warning",
            ("evt.arg.type", is("tmpfs")),
            Act::sh("mkdir -p /mnt/x; mount -t tmpfs none /mnt/x; true"),
            Act::sh("mount; true"),
        ),
        Case::new(
            "Setuid or setgid bit set",
            "Warning",
            ("fd.name", is("/tmp/f")),
            Act::sh("touch /tmp/f; chmod u+s /tmp/f"),
            Act::sh("touch /tmp/f; chmod 640 /tmp/f"),
        ),
        Case::new(
            "Executable made in temporary directory",
            "Notice",
            ("fd.name", is("/tmp/payload")),
            Act::sh("touch /tmp/payload; chmod +x /tmp/payload"),
            Act::sh("touch /tmp/payload; chmod 600 /tmp/payload"),
        ),
        Case::new(
            "Write to host kernel setting from container",
            "Critical",
            ("fd.name", is("/proc/sysrq-trigger")),
            // Read-only in the container: refused. `h` only prints help if not.
            Act::sh("echo h > /proc/sysrq-trigger; true"),
            Act::sh("cat /proc/sys/kernel/hostname"),
        ),
    ]
}

#[test]
fn privilege_rules_fire_on_their_triggers_and_not_their_neighbours() {
    if !can_load_ebpf("rules_privilege") {
        return;
    }
    let sensor = Sensor::start(&[]);
    check(&sensor, &cases());
}
