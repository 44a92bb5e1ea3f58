//! Opens as the kernel's open filter and the rules tell them apart: by syscall,
//! access mode, `O_PATH` and result. Each such shape fixes the fields rules test
//! most (`evt.is_open_read`, `evt.is_open_write`, the access part of
//! `evt.arg.flags`, `evt.res`) and the access the kernel judges the open by, so
//! the plan is worked out shape by shape and never has to guess how a flag test
//! relates to the kernel's classification.

use super::{decide, lattice::Atom, paths, paths::Paths};
use crate::{
    event::{Open, OpenSyscall, file::PathSource},
    rules::{CmpOp, Expr, Value},
};

/// What the kernel wants watched for an open to be reported (sensor-ebpf
/// `file/filter.rs`, `wanted`): a read needs a read prefix, a write a write
/// prefix, a read-write open either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// Watched for reading.
    Read,
    /// Watched for writing.
    Write,
    /// Watched for reading or for writing.
    ReadWrite,
}

/// One kind of open, as far as the filter and the fields below can tell.
#[derive(Clone, Copy, Debug)]
pub(super) struct OpenShape {
    syscall: OpenSyscall,
    /// `flags & O_ACCMODE`, as passed: 0 to 3.
    access_mode: u32,
    o_path: bool,
    succeeded: bool,
}

const O_PATH: u32 = libc::O_PATH as u32;

impl OpenShape {
    /// Whether opens of this shape succeeded.
    pub(super) fn succeeded(self) -> bool {
        self.succeeded
    }

    /// Every shape an open by `syscall` can have. creat(2) always passes
    /// `O_CREAT|O_WRONLY|O_TRUNC` (the kernel side reports exactly that).
    pub(super) fn all(syscall: OpenSyscall) -> Vec<Self> {
        let mut shapes = Vec::new();
        for succeeded in [true, false] {
            if syscall == OpenSyscall::Creat {
                shapes.push(Self {
                    syscall,
                    access_mode: libc::O_WRONLY as u32,
                    o_path: false,
                    succeeded,
                });
                continue;
            }
            for access_mode in 0..4 {
                for o_path in [false, true] {
                    shapes.push(Self {
                        syscall,
                        access_mode,
                        o_path,
                        succeeded,
                    });
                }
            }
        }
        shapes
    }

    /// The access the kernel judges this open by. A successful open is judged
    /// by the opened file's `f_flags`, and Linux clears the access mode of an
    /// `O_PATH` open before opening (`build_open_how` keeps only
    /// `O_PATH_FLAGS`), so it counts as a read even when the flags asked for
    /// writing; a failed open is judged by the flags as passed.
    pub(super) fn access(self) -> Access {
        let mode = if self.succeeded && self.o_path {
            0
        } else {
            self.access_mode
        };
        match mode {
            0 => Access::Read,
            1 => Access::Write,
            _ => Access::ReadWrite,
        }
    }

    /// An open of this shape, for the sensor's own views of it (`is_read`,
    /// `flags_text`, ...), so the plan reads the fields exactly as events do.
    fn sample(self) -> Open {
        Open {
            syscall: self.syscall,
            path: String::new(),
            source: if self.succeeded {
                PathSource::Opened
            } else {
                PathSource::AsGiven
            },
            result: if self.succeeded { 3 } else { -2 },
            flags: self.access_mode | if self.o_path { O_PATH } else { 0 },
            mode: 0,
            inode_mode: 0,
        }
    }

    /// What the comparison `expr` is for every open of this shape.
    pub(super) fn atom(self, expr: &Expr) -> Atom<Paths> {
        let (field, op, value) = match expr {
            Expr::Compare { field, op, value } => (field, *op, value),
            Expr::Exists(field) if self.lacks(&field.name) => return Atom::Decided(false),
            _ => return Atom::Unknown,
        };
        if field.arg.is_some() {
            return Atom::Unknown;
        }
        if self.lacks(&field.name) {
            // Falco's rule: a comparison of a field the event does not carry
            // is false, whatever the operator (libsinsp's filter checks return
            // no match when they extract no value).
            return Atom::Decided(false);
        }
        let open = self.sample();
        let decided = match field.name.as_str() {
            "evt.type" => decide::string(op, value, self.syscall.name()),
            "evt.is_open_read" => decide::boolean(op, value, open.is_read()),
            "evt.is_open_write" => decide::boolean(op, value, open.is_write()),
            "evt.arg.flags" => flag(op, value, &open),
            "evt.res" if self.succeeded => decide::string(op, value, "SUCCESS"),
            "evt.res" => failed_res(op, value),
            "evt.rawres" | "fd.num" if self.succeeded => decide::range(op, value, 0, i64::MAX),
            "evt.rawres" => decide::range(op, value, i64::MIN, -1),
            _ => {
                if let Some(paths) = paths::atom(field, op, value, self.succeeded) {
                    return Atom::Within(paths);
                }
                if let Some(paths) = paths::not_equal(field, op, value) {
                    return Atom::Outside(paths);
                }
                None
            }
        };
        decided.map_or(Atom::Unknown, Atom::Decided)
    }

    /// Whether opens of this shape lack `field` (fields.rs: `fd.num` is absent
    /// when the open failed, and `fd.typechar` comes from the opened inode).
    fn lacks(self, field: &str) -> bool {
        !self.succeeded && matches!(field, "fd.num" | "fd.typechar")
    }
}

/// `evt.arg.flags contains X` where the shape fixes the answer: X is the access
/// mode's name or `O_PATH`. The flags text is `O_*` names joined by `|` and no
/// other name contains one of these, so a substring test is a token test.
/// Tests of other flags (`O_TRUNC`, `O_CREAT`) are left undecided: the shape
/// does not carry them.
fn flag(op: CmpOp, value: &Value, open: &Open) -> Option<bool> {
    const FIXED: [&str; 5] = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE3", "O_PATH"];
    match (op, value) {
        (CmpOp::Contains, Value::Str(token)) if FIXED.contains(&token.as_str()) => {
            Some(open.flags_text().split('|').any(|t| t == token))
        }
        _ => None,
    }
}

/// `evt.res` of a failed open: an errno's name or `E<n>` (`file::result_text`),
/// so never `SUCCESS` and always starting with `E`.
fn failed_res(op: CmpOp, value: &Value) -> Option<bool> {
    match (op, value) {
        (CmpOp::Eq, Value::Str(v)) if v == "SUCCESS" => Some(false),
        (CmpOp::Ne, Value::Str(v)) if v == "SUCCESS" => Some(true),
        (CmpOp::In, Value::List(vs)) if vs.iter().all(|v| v == "SUCCESS") => Some(false),
        (CmpOp::StartsWith, Value::Str(v)) if "E".starts_with(v.as_str()) => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::file::result_text;

    /// The flag tokens decided here agree with the flags text of every open of
    /// the shape, whatever other flags it has.
    #[test]
    fn flag_tokens_match_the_flags_text_with_any_other_flags() {
        let others = [
            0,
            libc::O_CREAT | libc::O_TRUNC,
            libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            libc::O_APPEND | libc::O_NONBLOCK | libc::O_DSYNC | libc::O_DIRECT,
            libc::O_EXCL | libc::O_NOCTTY | libc::O_LARGEFILE | libc::O_NOATIME,
        ];
        for syscall in (0..64).filter_map(OpenSyscall::from_raw) {
            for shape in OpenShape::all(syscall) {
                for other in others {
                    let mut open = shape.sample();
                    open.flags |= other as u32;
                    for token in ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE3", "O_PATH"] {
                        let value = Value::Str(token.into());
                        assert_eq!(
                            flag(CmpOp::Contains, &value, &shape.sample()),
                            Some(open.flags_text().contains(token)),
                            "{shape:?} {token} {other:#o}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn failed_results_are_never_success() {
        for errno in [1, 2, 13, 4095, i64::MAX] {
            let text = result_text(-errno);
            assert!(text.starts_with('E') && text != "SUCCESS", "{text}");
        }
    }

    #[test]
    fn o_path_opens_that_succeed_are_judged_as_reads() {
        let shape = |access_mode, o_path, succeeded| OpenShape {
            syscall: OpenSyscall::Openat,
            access_mode,
            o_path,
            succeeded,
        };
        assert_eq!(shape(1, true, true).access(), Access::Read);
        assert_eq!(shape(1, true, false).access(), Access::Write);
        assert_eq!(shape(2, false, true).access(), Access::ReadWrite);
        assert_eq!(shape(3, false, false).access(), Access::ReadWrite);
        // ... and the sensor's own field agrees: an O_PATH open writes nothing.
        assert!(!shape(1, true, true).sample().is_write());
    }
}
