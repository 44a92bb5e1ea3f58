//! Sets of open paths as byte-wise prefixes, the form the kernel's open filter
//! holds, and what `fd.name` and `fd.directory` comparisons say about them.
//!
//! Only absolute paths are ever judged by the filter: the kernel walks a
//! successful open's path from the task's root and makes a failed open's given
//! path absolute, and a path it could not finish (cut, or a walk that stopped)
//! is reported without being judged (sensor-ebpf `file/open.rs`). So a prefix
//! that is not absolute covers no judged path, and "/" covers them all.

use std::collections::BTreeSet;

use sensor_common::filters::{PREFIX_MAX, PREFIXES_MAX};

use super::lattice::Lattice;
use crate::rules::{CmpOp, FieldRef, Value};

/// Paths of opens, over-approximated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Paths {
    /// No path.
    Nothing,
    /// The paths that extend one of these: absolute, none extending another,
    /// never "/" (that is [`Paths::All`]).
    Under(BTreeSet<String>),
    /// Every path.
    All,
}

impl Paths {
    /// The paths extending any of `prefixes`, normalised.
    pub(super) fn under<S: Into<String>>(prefixes: impl IntoIterator<Item = S>) -> Self {
        let mut kept = BTreeSet::new();
        for prefix in prefixes {
            let prefix = prefix.into();
            if prefix.is_empty() || prefix == "/" {
                return Self::All;
            }
            // No judged path contains a NUL (the kernel reads C strings and
            // dentry names) or is relative.
            if prefix.starts_with('/') && !prefix.contains('\0') {
                kept.insert(prefix);
            }
        }
        Self::minimal(kept)
    }

    /// Drops each prefix that extends another. Sorted, the strings that extend
    /// a prefix follow it directly, so comparing with the last one kept suffices.
    fn minimal(sorted: BTreeSet<String>) -> Self {
        let mut kept: BTreeSet<String> = BTreeSet::new();
        for prefix in sorted {
            if kept
                .last()
                .is_none_or(|last| !prefix.starts_with(last.as_str()))
            {
                kept.insert(prefix);
            }
        }
        if kept.is_empty() {
            Self::Nothing
        } else {
            Self::Under(kept)
        }
    }

    /// The part of `self` that `by` does not already cover.
    pub(super) fn uncovered_by(self, by: &Self) -> Self {
        match (self, by) {
            (Self::Nothing, _) | (_, Self::All) => Self::Nothing,
            (this, Self::Nothing) => this,
            (Self::All, _) => Self::All,
            (Self::Under(xs), Self::Under(ys)) => Self::minimal(
                xs.into_iter()
                    .filter(|x| prefix_in(ys, x).is_none())
                    .collect(),
            ),
        }
    }

    /// The prefix list for the kernel: "/" for every path, none for no path.
    pub(super) fn to_list(&self) -> Vec<String> {
        match self {
            Self::Nothing => Vec::new(),
            Self::Under(xs) => xs.iter().cloned().collect(),
            Self::All => vec!["/".into()],
        }
    }

    fn map(self, f: impl Fn(&str) -> &str) -> Self {
        match self {
            Self::Under(xs) => Self::under(xs.iter().map(|x| f(x).to_string())),
            other => other,
        }
    }
}

impl Lattice for Paths {
    fn nothing() -> Self {
        Self::Nothing
    }

    fn all() -> Self {
        Self::All
    }

    fn is_nothing(&self) -> bool {
        *self == Self::Nothing
    }

    fn join(self, other: Self) -> Self {
        match (self, other) {
            (Self::All, _) | (_, Self::All) => Self::All,
            (Self::Nothing, x) | (x, Self::Nothing) => x,
            (Self::Under(mut xs), Self::Under(ys)) => {
                xs.extend(ys);
                Self::minimal(xs)
            }
        }
    }

    /// Exact: a path extends both `a` and `b` only if one extends the other,
    /// and then it extends the longer.
    fn meet(self, other: Self) -> Self {
        match (self, other) {
            (Self::Nothing, _) | (_, Self::Nothing) => Self::Nothing,
            (Self::All, x) | (x, Self::All) => x,
            (Self::Under(xs), Self::Under(ys)) => {
                // Each prefix of one side that extends a prefix of the other.
                // Sorted sets make this linear in their sizes (a hostile rule
                // can have lists of many thousand paths on both sides).
                let mut both = BTreeSet::new();
                for (a, b) in [(&xs, &ys), (&ys, &xs)] {
                    both.extend(a.iter().filter(|x| prefix_in(b, x).is_some()).cloned());
                }
                Self::minimal(both)
            }
        }
    }
}

/// The member of `set` (none extending another) that `path` extends, if any.
/// It can only be the greatest member not above `path`: anything sorted between
/// a prefix of `path` and `path` extends that prefix.
fn prefix_in<'s>(set: &'s BTreeSet<String>, path: &str) -> Option<&'s str> {
    use std::ops::Bound;
    set.range::<str, _>((Bound::Unbounded, Bound::Included(path)))
        .next_back()
        .map(String::as_str)
        .filter(|p| path.starts_with(p))
}

/// The paths for which `field op value` can hold on an open, or `None` when the
/// comparison does not bound the path. `canonical`: the path was walked from the
/// opened file (a successful open), so it has no empty components; a failed
/// open's path is the one given, not normalised.
pub(super) fn atom(field: &FieldRef, op: CmpOp, value: &Value, canonical: bool) -> Option<Paths> {
    if field.arg.is_some() {
        return None;
    }
    let strs = |vs: &[String]| vs.to_vec();
    let prefixes: Vec<String> = match (field.name.as_str(), op, value) {
        ("fd.name", CmpOp::Eq | CmpOp::StartsWith, Value::Str(v)) => vec![v.clone()],
        ("fd.name", CmpOp::In, Value::List(vs)) => strs(vs),
        // fd.directory is fd.name up to its last '/' (exclusive), or "/": a path
        // starts with its directory.
        ("fd.name" | "fd.directory", CmpOp::Glob, Value::Str(v)) => vec![glob_literal(v).into()],
        ("fd.directory", CmpOp::StartsWith, Value::Str(v)) => vec![v.clone()],
        ("fd.directory", CmpOp::Eq, Value::Str(v)) => directory_prefix(v).into_iter().collect(),
        ("fd.directory", CmpOp::In, Value::List(vs)) => {
            vs.iter().filter_map(|v| directory_prefix(v)).collect()
        }
        // Falco's pmatch compares components and skips empty ones, so a path
        // given as "//etc//shadow" matches /etc: only a canonical path is bound
        // to a byte prefix. A directory pmatch-ing D puts its path under D too.
        ("fd.name" | "fd.directory", CmpOp::PMatch, Value::List(vs)) if canonical => {
            vs.iter().map(|v| pmatch_prefix(v)).collect()
        }
        _ => return None,
    };
    Some(Paths::under(prefixes))
}

/// The paths for which `fd.name != value` can be false: only `value` itself.
pub(super) fn not_equal(field: &FieldRef, op: CmpOp, value: &Value) -> Option<Paths> {
    match (field.name.as_str(), op, value, &field.arg) {
        ("fd.name", CmpOp::Ne, Value::Str(v), None) => Some(Paths::under([v.clone()])),
        _ => None,
    }
}

/// The prefix every path whose `fd.directory` is `dir` has: `dir/`, and for the
/// root any absolute path. `None` for the empty directory, which only a
/// relative path has.
fn directory_prefix(dir: &str) -> Option<String> {
    match dir {
        "" => None,
        "/" => Some("/".into()),
        dir => Some(format!("{dir}/")),
    }
}

/// A glob's literal start: every string it matches begins with it. Stops at any
/// wildcard, class or escape.
fn glob_literal(pattern: &str) -> &str {
    let end = pattern.find(['*', '?', '[', '\\']).unwrap_or(pattern.len());
    &pattern[..end]
}

/// The prefix of every canonical path that pmatch-es `entry` in Falco's sense
/// (libsinsp `path_prefix_search`): the path's components start with the
/// entry's, empty ones skipped, a component with `*?[` matching one component
/// by glob. A relative entry is read as absolute, as Falco does.
fn pmatch_prefix(entry: &str) -> String {
    let components: Vec<&str> = entry.split('/').filter(|c| !c.is_empty()).collect();
    let literal: Vec<&str> = components
        .iter()
        .take_while(|c| !c.contains(['*', '?', '[']))
        .copied()
        .collect();
    if literal.is_empty() {
        return "/".into();
    }
    let mut prefix = format!("/{}", literal.join("/"));
    if literal.len() < components.len() {
        // A wildcard component follows: the path goes on below this directory.
        prefix.push('/');
    }
    prefix
}

/// Read and write prefixes cut down to what the kernel holds: each at most
/// [`PREFIX_MAX`] bytes, [`PREFIXES_MAX`] distinct in all. Cutting a prefix only
/// widens it, so the result covers at least what was asked; `notes` says what
/// was widened.
pub(super) fn fit(read: Paths, write: Paths, notes: &mut Vec<String>) -> (Paths, Paths) {
    let too_long = |p: &Paths| match p {
        Paths::Under(xs) => xs.iter().filter(|x| x.len() > PREFIX_MAX).count(),
        _ => 0,
    };
    let long = too_long(&read) + too_long(&write);
    if long > 0 {
        notes.push(format!(
            "{long} prefixes longer than {PREFIX_MAX} bytes cut to their first {PREFIX_MAX}"
        ));
    }
    let (mut read, mut write) = (read.map(cut), write.map(cut));
    let count = |r: &Paths, w: &Paths| {
        let mut all: BTreeSet<String> = r.to_list().into_iter().collect();
        all.extend(w.to_list());
        all.len()
    };
    let asked = count(&read, &write);
    if asked <= PREFIXES_MAX as usize {
        return (read, write);
    }
    // Shorten every prefix to at most `depth` directories until they fit; at
    // depth 0 all are "/", one entry.
    let deepest = read
        .to_list()
        .iter()
        .chain(write.to_list().iter())
        .map(|p| p.matches('/').count())
        .max()
        .unwrap_or(0);
    for depth in (0..deepest).rev() {
        read = read.map(|p| to_depth(p, depth));
        write = write.map(|p| to_depth(p, depth));
        if count(&read, &write) <= PREFIXES_MAX as usize {
            notes.push(format!(
                "{asked} prefixes are more than the kernel's {PREFIXES_MAX}: \
                 shortened to {depth} directories"
            ));
            break;
        }
    }
    (read, write)
}

/// `prefix` cut to at most [`PREFIX_MAX`] bytes, on a character boundary.
fn cut(prefix: &str) -> &str {
    let mut end = prefix.len().min(PREFIX_MAX);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    &prefix[..end]
}

/// `prefix` cut after its `depth + 1`th '/': "/a/b/c" at depth 1 is "/a/".
fn to_depth(prefix: &str, depth: usize) -> &str {
    match prefix.match_indices('/').nth(depth) {
        Some((at, _)) => &prefix[..=at],
        None => prefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn under(xs: &[&str]) -> Paths {
        Paths::under(xs.iter().copied())
    }

    #[test]
    fn prefixes_normalise() {
        assert_eq!(
            under(&["/etc/", "/etc/ssh/", "/a"]),
            under(&["/a", "/etc/"])
        );
        assert_eq!(under(&["/etc", "/"]), Paths::All);
        assert_eq!(under(&["", "/etc"]), Paths::All);
        assert_eq!(under(&["etc", "x\0"]), Paths::Nothing);
        assert_eq!(under(&["/a\0b", "/c"]), under(&["/c"]));
        // "/a0" sorts between "/a" and "/a/b" but does not break the scan.
        assert_eq!(under(&["/a", "/a0", "/a/b"]), under(&["/a"]));
    }

    #[test]
    fn meet_keeps_the_longer_of_nested_prefixes() {
        let etc = under(&["/etc"]);
        let files = under(&["/etc/shadow", "/root/x", "/etcetera"]);
        assert_eq!(
            etc.clone().meet(files),
            under(&["/etc/shadow", "/etcetera"])
        );
        assert_eq!(etc.clone().meet(under(&["/usr"])), Paths::Nothing);
        assert_eq!(etc.clone().meet(Paths::All), etc);
        assert_eq!(etc.clone().join(Paths::Nothing), etc);
        assert_eq!(etc.join(Paths::All), Paths::All);
    }

    #[test]
    fn directories_pmatch_and_globs_give_prefixes() {
        assert_eq!(directory_prefix("/etc"), Some("/etc/".into()));
        assert_eq!(directory_prefix("/"), Some("/".into()));
        assert_eq!(directory_prefix(""), None);
        assert_eq!(pmatch_prefix("/etc"), "/etc");
        assert_eq!(pmatch_prefix("/etc/"), "/etc");
        assert_eq!(pmatch_prefix("//usr//lib"), "/usr/lib");
        assert_eq!(pmatch_prefix("etc"), "/etc");
        assert_eq!(pmatch_prefix("/home/*/.ssh"), "/home/");
        assert_eq!(pmatch_prefix("/*"), "/");
        assert_eq!(pmatch_prefix("/"), "/");
        assert_eq!(glob_literal("/home/*/.ssh/*"), "/home/");
        assert_eq!(glob_literal("/tmp/x?"), "/tmp/x");
        assert_eq!(glob_literal("/a[bc]"), "/a");
        assert_eq!(glob_literal("/a\\*"), "/a");
        assert_eq!(glob_literal("*.log"), "");
    }

    #[test]
    fn uncovered_is_what_no_prefix_of_the_other_covers() {
        let rw = under(&["/etc/shadow", "/var/log/"]);
        assert_eq!(
            rw.clone().uncovered_by(&under(&["/etc/"])),
            under(&["/var/log/"])
        );
        assert_eq!(rw.clone().uncovered_by(&Paths::All), Paths::Nothing);
        assert_eq!(Paths::All.uncovered_by(&under(&["/etc/"])), Paths::All);
        assert_eq!(rw.clone().uncovered_by(&Paths::Nothing), rw);
    }

    #[test]
    fn depth_and_length_cuts_are_prefixes() {
        assert_eq!(to_depth("/a/b/c", 0), "/");
        assert_eq!(to_depth("/a/b/c", 1), "/a/");
        assert_eq!(to_depth("/a/b/c", 2), "/a/b/");
        assert_eq!(to_depth("/a/b/c", 3), "/a/b/c");
        let long = format!("/{}é", "x".repeat(PREFIX_MAX - 2));
        assert_eq!(long.len(), PREFIX_MAX + 1);
        assert_eq!(cut(&long).len(), PREFIX_MAX - 1);
        assert!(long.starts_with(cut(&long)));
    }
}
