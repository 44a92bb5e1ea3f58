//! Kernel struct offsets come from this kernel's BTF, and bad BTF is an error.

use sensor::kernel::btf::{BtfError, facts_from, offsets_from};
use sensor_common::offsets::ABSENT;

#[test]
fn offsets_come_from_the_running_kernels_btf() {
    let raw = std::fs::read(sensor::kernel::preflight::VMLINUX_BTF)
        .expect("this kernel publishes BTF at /sys/kernel/btf/vmlinux");
    let offsets = offsets_from(&raw).expect("the offsets the programs need are in BTF");
    // Facts of the layout that hold on every kernel, whatever the offsets are:
    // `unsigned long arg_start, arg_end;` are declared together in mm_struct, and
    // task_struct holds tgid, real_parent and mm at distinct non-zero offsets.
    assert_eq!(offsets.mm_arg_end, offsets.mm_arg_start + 8, "{offsets:?}");
    assert!(offsets.mm_arg_start > 0);
    let task = [offsets.task_tgid, offsets.task_real_parent, offsets.task_mm];
    assert!(
        task.iter().all(|&o| o > 0 && o.is_multiple_of(4)),
        "{offsets:?}"
    );
    assert!(offsets.task_real_parent.is_multiple_of(8) && offsets.task_mm.is_multiple_of(8));
    assert_ne!(offsets.task_real_parent, offsets.task_mm);
    // The saved registers a syscall's arguments are read from are four distinct
    // words of `pt_regs`; the name's hash and length open `struct qstr`.
    let regs = offsets.regs_args;
    assert!(regs.iter().all(|r| r.is_multiple_of(8)), "{offsets:?}");
    assert!(
        (0..4).all(|i| (i + 1..4).all(|j| regs[i] != regs[j])),
        "{offsets:?}"
    );
    assert_eq!(offsets.dentry_hash_len, offsets.dentry_name, "{offsets:?}");
    assert!(offsets.file_flags > 0 && offsets.file_flags != offsets.file_f_path);
    // The exec facts' members are optional, but this kernel has them all: the
    // three capability sets are adjacent `kernel_cap_t`s, the session's pid
    // pointer lies inside signal_struct, and the change time is two members.
    let optional = [
        offsets.file_f_inode,
        offsets.inode_sb,
        offsets.sb_magic,
        offsets.cred_cap_effective,
        offsets.signal_pids_sid,
        offsets.inode_ctime_sec,
        offsets.inode_ctime_nsec,
    ];
    assert!(optional.iter().all(|&o| o != ABSENT), "{offsets:?}");
    assert!(sensor::kernel::btf::missing_exec_facts(&offsets).is_empty());
    assert_eq!(offsets.cred_cap_permitted, offsets.cred_cap_inheritable + 8);
    assert_eq!(offsets.cred_cap_effective, offsets.cred_cap_permitted + 8);
    assert!(offsets.signal_pids_sid.is_multiple_of(8) && offsets.signal_pids_sid > 0);
    assert_ne!(offsets.inode_ctime_sec, offsets.inode_ctime_nsec);
    // This kernel (6.18) reads through read-only untrusted memory, which the
    // open program's fast path needs; the facts carry the same offsets.
    let facts = facts_from(&raw).expect("the facts the programs need are in BTF");
    assert!(facts.untrusted_mem, "6.18 has enum bpf_features");
    assert_eq!(facts.offsets, offsets);
}

#[test]
fn garbage_btf_is_an_error_not_a_panic() {
    for raw in [&b""[..], b"\x9f\xeb\x01\x00garbage", &[0xff; 64]] {
        let result = std::panic::catch_unwind(|| offsets_from(raw));
        assert!(
            matches!(result, Ok(Err(BtfError::Parse { .. }))),
            "garbage {raw:?} must give a parse error"
        );
    }
}
