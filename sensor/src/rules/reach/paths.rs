//! Sets of open paths as byte-wise prefixes and file names, the forms the
//! kernel's open filter holds, and what `fd.name`, `fd.directory` and
//! `fd.filename` comparisons say about them.
//!
//! Only absolute paths are ever judged by the filter: the kernel walks a
//! successful open's path from the task's root and makes a failed open's given
//! path absolute, and a path it could not finish (cut, or a walk that stopped)
//! is reported without being judged (sensor-ebpf `file/open.rs`). So a prefix
//! that is not absolute covers no judged path, and "/" covers them all.
//!
//! A file name is what follows a path's last '/'. `fd.name endswith
//! /.docker/config.json` bounds no prefix, but every path it holds for is named
//! `config.json`: such rules watch a name instead of every path.

use std::collections::BTreeSet;

use sensor_common::filters::{NAME_MAX, NAMES_MAX, PREFIX_MAX, PREFIXES_MAX};

use super::lattice::Lattice;
use crate::rules::{CmpOp, FieldRef, Value};

/// Paths of opens, over-approximated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Paths {
    /// No path.
    Nothing,
    /// The paths that extend one of `prefixes` (absolute, none extending
    /// another, never "/") or whose file name is one of `names` (no '/', not
    /// empty); never both empty.
    Some {
        /// Watched prefixes.
        prefixes: BTreeSet<String>,
        /// Watched file names.
        names: BTreeSet<String>,
    },
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
        Self::some(kept, BTreeSet::new())
    }

    /// The paths whose file name is one of `names`. A name with a '/' or a NUL
    /// is no file's; an empty one is that of a path ending in '/', which no
    /// name filter can hold: every path.
    pub(super) fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        let mut kept = BTreeSet::new();
        for name in names {
            let name = name.into();
            if name.is_empty() {
                return Self::All;
            }
            if !name.contains(['/', '\0']) {
                kept.insert(name);
            }
        }
        Self::some(BTreeSet::new(), kept)
    }

    /// Normalised: each prefix that extends another dropped, Nothing when
    /// both sets are empty.
    fn some(prefixes: BTreeSet<String>, names: BTreeSet<String>) -> Self {
        let prefixes = minimal(prefixes);
        if prefixes.is_empty() && names.is_empty() {
            Self::Nothing
        } else {
            Self::Some { prefixes, names }
        }
    }

    /// The part of `self` that `by` does not already cover (names are covered
    /// only by the same name: a conservative answer).
    pub(super) fn uncovered_by(self, by: &Self) -> Self {
        match (self, by) {
            (Self::Nothing, _) | (_, Self::All) => Self::Nothing,
            (this, Self::Nothing) => this,
            (Self::All, _) => Self::All,
            (
                Self::Some { prefixes, names },
                Self::Some {
                    prefixes: theirs,
                    names: their_names,
                },
            ) => Self::some(
                prefixes
                    .into_iter()
                    .filter(|x| prefix_in(theirs, x).is_none())
                    .collect(),
                names.difference(their_names).cloned().collect(),
            ),
        }
    }

    /// The prefix list for the kernel: "/" for every path, none for no path.
    pub(super) fn to_list(&self) -> Vec<String> {
        match self {
            Self::Nothing => Vec::new(),
            Self::Some { prefixes, .. } => prefixes.iter().cloned().collect(),
            Self::All => vec!["/".into()],
        }
    }

    /// These paths for opens the kernel cannot judge by name: every path if
    /// any name bounds them.
    pub(super) fn without_names(self) -> Self {
        match self {
            Self::Some { names, .. } if !names.is_empty() => Self::All,
            other => other,
        }
    }

    /// The file names for the kernel (none when every path is watched).
    pub(super) fn names(&self) -> Vec<String> {
        match self {
            Self::Some { names, .. } => names.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn map(self, f: impl Fn(&str) -> &str) -> Self {
        match self {
            Self::Some { prefixes, names } => {
                Self::under(prefixes.iter().map(|x| f(x).to_string()))
                    .join(Self::some(BTreeSet::new(), names))
            }
            other => other,
        }
    }
}

/// Drops each prefix that extends another. Sorted, the strings that extend a
/// prefix follow it directly, so comparing with the last one kept suffices.
fn minimal(sorted: BTreeSet<String>) -> BTreeSet<String> {
    let mut kept: BTreeSet<String> = BTreeSet::new();
    for prefix in sorted {
        if kept
            .last()
            .is_none_or(|last| !prefix.starts_with(last.as_str()))
        {
            kept.insert(prefix);
        }
    }
    kept
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
            (
                Self::Some {
                    mut prefixes,
                    mut names,
                },
                Self::Some {
                    prefixes: p,
                    names: n,
                },
            ) => {
                prefixes.extend(p);
                names.extend(n);
                Self::some(prefixes, names)
            }
        }
    }

    /// Exact for prefixes: a path extends both `a` and `b` only if one extends
    /// the other, and then it extends the longer. A path under a prefix of one
    /// side and named by the other is kept by its prefix alone (a superset),
    /// which also bounds the failed opens the kernel cannot judge by name.
    fn meet(self, other: Self) -> Self {
        match (self, other) {
            (Self::Nothing, _) | (_, Self::Nothing) => Self::Nothing,
            (Self::All, x) | (x, Self::All) => x,
            (
                Self::Some {
                    prefixes: xs,
                    names: xn,
                },
                Self::Some {
                    prefixes: ys,
                    names: yn,
                },
            ) => {
                // Each prefix of one side that extends a prefix of the other.
                // Sorted sets make this linear in their sizes (a hostile rule
                // can have lists of many thousand paths on both sides).
                let mut both = BTreeSet::new();
                for (a, b) in [(&xs, &ys), (&ys, &xs)] {
                    both.extend(a.iter().filter(|x| prefix_in(b, x).is_some()).cloned());
                }
                if !yn.is_empty() {
                    both.extend(xs.iter().cloned());
                }
                if !xn.is_empty() {
                    both.extend(ys.iter().cloned());
                }
                Self::some(both, xn.intersection(&yn).cloned().collect())
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
        // A suffix with a '/' fixes the file name: whatever precedes it, a
        // path ending so has no '/' after the suffix's last one.
        ("fd.name", CmpOp::EndsWith, Value::Str(v)) => {
            return v
                .rsplit_once('/')
                .map(|(_, name)| Paths::named([name.to_owned()]));
        }
        ("fd.filename", CmpOp::Eq, Value::Str(v)) => return Some(Paths::named([v.clone()])),
        ("fd.filename", CmpOp::In, Value::List(vs)) => return Some(Paths::named(strs(vs))),
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
    let (read, write) = fit_names(read, write, notes);
    let too_long = |p: &Paths| match p {
        Paths::Some { prefixes, .. } => prefixes.iter().filter(|x| x.len() > PREFIX_MAX).count(),
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

/// Names cut down to what the kernel holds: each shorter than [`NAME_MAX`]
/// bytes, [`NAMES_MAX`] distinct in all. A side with a name the kernel cannot
/// hold watches every path instead; `notes` says so.
fn fit_names(read: Paths, write: Paths, notes: &mut Vec<String>) -> (Paths, Paths) {
    let too_long = |p: &Paths| p.names().iter().any(|n| n.len() >= NAME_MAX);
    let mut all: BTreeSet<String> = read.names().into_iter().collect();
    all.extend(write.names());
    let too_many = all.len() > NAMES_MAX as usize;
    if too_many {
        notes.push(format!(
            "{} file names are more than the kernel's {NAMES_MAX}: every path watched",
            all.len()
        ));
    }
    let mut fit = |p: Paths| {
        if too_many && !p.names().is_empty() {
            Paths::All
        } else if too_long(&p) {
            notes.push(format!(
                "a file name of {NAME_MAX} bytes or more cannot be watched: every path watched"
            ));
            Paths::All
        } else {
            p
        }
    };
    let read = fit(read);
    let write = fit(write);
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
    fn names_join_and_meet_soundly() {
        let named = |xs: &[&str]| Paths::named(xs.iter().copied());
        assert_eq!(named(&["a", "b/c", "x\0"]), named(&["a"]));
        assert_eq!(named(&["a", ""]), Paths::All);
        assert_eq!(named(&[]), Paths::Nothing);
        let etc = under(&["/etc/"]);
        // Under /etc/ and named a: kept as under /etc/.
        assert_eq!(etc.clone().meet(named(&["a"])), etc);
        assert_eq!(named(&["a", "b"]).meet(named(&["b", "c"])), named(&["b"]));
        assert_eq!(Paths::All.meet(named(&["a"])), named(&["a"]));
        let both = etc.clone().join(named(&["a"]));
        assert_eq!(both.to_list(), ["/etc/"]);
        assert_eq!(both.names(), ["a"]);
        assert_eq!(both.clone().meet(under(&["/usr/"])), under(&["/usr/"]));
        assert_eq!(both.clone().uncovered_by(&named(&["a"])), etc);
        assert_eq!(both.join(Paths::All), Paths::All);
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
