//! Parsing `/etc/passwd` and `/etc/group` as glibc's `files` backend reads them,
//! from bytes a container controls.
//!
//! The files come from images and from whoever is root in a container, so they may
//! hold anything: bytes that are not UTF-8 (turned into text lossily, as the rest of
//! the event), lines of any length, missing fields, comments. A line that does not
//! name an id is skipped and counted; nothing panics. Where glibc has an answer the
//! parser follows it: leading blanks and `#` comments are skipped, and when two
//! lines give the same id the first one wins, as `getpwuid` and `getgrgid` return
//! the first match. NIS compat lines (`+name`, `-name`, `+@netgroup`, a lone `+`)
//! name no local account and are skipped without being counted as bad.

use std::{collections::HashMap, sync::Arc};

/// Longest account or group name kept. Linux tools allow 32 bytes; glibc has no
/// limit, so this only keeps a hostile line from filling memory with one name.
pub const MAX_NAME_BYTES: usize = 256;

/// Longest home directory or shell kept: `PATH_MAX`.
pub const MAX_PATH_BYTES: usize = 4096;

/// Memory counted for one entry beyond its strings: the map slot and the
/// reference-counted headers, roughly. Used to bound the cache, not exact.
pub const ENTRY_OVERHEAD: usize = 64;

/// One line of a passwd file: what the fields `user.name`, `user.homedir` and
/// `user.shell` report. Cloning copies three reference counts, never the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The login name (the first field).
    pub name: Arc<str>,
    /// The home directory (the sixth field; empty when the line has none).
    pub home: Arc<str>,
    /// The login shell (the seventh field; empty when the line has none, which
    /// login programs read as `/bin/sh`).
    pub shell: Arc<str>,
}

/// What one file gave.
#[derive(Debug)]
pub struct Parsed<T> {
    /// The entries by id, the first line of each id.
    pub entries: HashMap<u32, T>,
    /// Approximate memory the entries hold.
    pub bytes: usize,
    /// Lines skipped because they name no id or hold oversized fields.
    pub bad_lines: u64,
    /// Entries were left out: more than the bound, or the file was cut.
    pub cut: bool,
}

/// Parses a passwd file (`name:password:uid:gid:gecos:home:shell`). `complete` is
/// false when the bytes are a file's first part only: its last line, perhaps cut
/// in the middle, is then left out. At most `max_entries` ids are kept.
pub fn passwd(bytes: &[u8], complete: bool, max_entries: usize) -> Parsed<Account> {
    parse(bytes, complete, max_entries, |fields| {
        let mut fields = fields.splitn(7, |&b| b == b':');
        let name = name(fields.next()?)?;
        let _password = fields.next()?;
        let uid = id(fields.next()?)?;
        // The group and the comment name nothing we report; a line may end early,
        // as hand-written ones do, and still name its user.
        let _gid = fields.next();
        let _gecos = fields.next();
        let home = path(fields.next().unwrap_or_default())?;
        let shell = path(fields.next().unwrap_or_default())?;
        let bytes = name.len() + home.len() + shell.len();
        Some((uid, Account { name, home, shell }, bytes))
    })
}

/// Parses a group file (`name:password:gid:members`); see [`passwd`]. Only the
/// names are kept: the member lists can be long and no field reports them.
pub fn group(bytes: &[u8], complete: bool, max_entries: usize) -> Parsed<Arc<str>> {
    parse(bytes, complete, max_entries, |fields| {
        let mut fields = fields.splitn(4, |&b| b == b':');
        let name = name(fields.next()?)?;
        let _password = fields.next()?;
        let gid = id(fields.next()?)?;
        let bytes = name.len();
        Some((gid, name, bytes))
    })
}

/// The line loop shared by both files; `line` returns `None` for a bad line.
fn parse<T>(
    bytes: &[u8],
    complete: bool,
    max_entries: usize,
    line: impl Fn(&[u8]) -> Option<(u32, T, usize)>,
) -> Parsed<T> {
    let mut parsed = Parsed {
        entries: HashMap::new(),
        bytes: 0,
        bad_lines: 0,
        cut: !complete,
    };
    // Bytes past the last newline of a cut file are a line's start, not a line.
    let whole = if complete {
        bytes
    } else {
        bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(&[][..], |end| &bytes[..end])
    };
    for raw in whole.split(|&b| b == b'\n') {
        let text = raw.trim_ascii_start();
        if text.is_empty()
            || text.starts_with(b"#")
            || text.starts_with(b"+")
            || text.starts_with(b"-")
        {
            continue;
        }
        let Some((id, value, size)) = (!text.contains(&0)).then(|| line(text)).flatten() else {
            parsed.bad_lines += 1;
            continue;
        };
        if parsed.entries.contains_key(&id) {
            continue;
        }
        if parsed.entries.len() >= max_entries {
            parsed.cut = true;
            break;
        }
        parsed.entries.insert(id, value);
        parsed.bytes += size + ENTRY_OVERHEAD;
    }
    parsed
}

/// A name: not empty, not oversized.
fn name(field: &[u8]) -> Option<Arc<str>> {
    (!field.is_empty() && field.len() <= MAX_NAME_BYTES).then(|| text(field))
}

/// A home directory or shell: may be empty, not oversized.
fn path(field: &[u8]) -> Option<Arc<str>> {
    (field.len() <= MAX_PATH_BYTES).then(|| text(field))
}

fn text(field: &[u8]) -> Arc<str> {
    Arc::from(String::from_utf8_lossy(field))
}

/// A decimal id: digits only (no sign, no blanks), within `u32`.
fn id(field: &[u8]) -> Option<u32> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(parsed: &Parsed<Account>) -> Vec<(u32, &str)> {
        let mut names: Vec<_> = parsed
            .entries
            .iter()
            .map(|(id, a)| (*id, &*a.name))
            .collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn reads_the_fields_falco_reports() {
        let file = b"root:x:0:0:root:/root:/bin/bash\n\
                     appuser:x:4242:4242:App User,,,:/home/app:/bin/sh\n";
        let parsed = passwd(file, true, 100);
        assert_eq!(parsed.bad_lines, 0);
        assert!(!parsed.cut);
        let app = &parsed.entries[&4242];
        assert_eq!(&*app.name, "appuser");
        assert_eq!(&*app.home, "/home/app");
        assert_eq!(&*app.shell, "/bin/sh");
        assert_eq!(&*parsed.entries[&0].name, "root");
        let groups = group(b"root:x:0:\nappgroup:x:4242:appuser,other\n", true, 100);
        assert_eq!(&*groups.entries[&4242], "appgroup");
        assert_eq!(groups.entries.len(), 2);
    }

    #[test]
    fn the_first_line_of_an_id_wins() {
        let file = b"first:x:7:7::/:\nsecond:x:7:7::/:\n";
        let parsed = passwd(file, true, 100);
        assert_eq!(names(&parsed), [(7, "first")]);
        let groups = group(b"g1:x:9:\ng2:x:9:\n", true, 100);
        assert_eq!(&*groups.entries[&9], "g1");
    }

    #[test]
    fn comments_blanks_and_nis_lines_are_not_accounts() {
        let file = b"# a comment\n\n   \n  root:x:0:0::/root:/bin/sh\n\
                     +\n+nisuser::::::\n-baduser:x:5:5::/:\n+@netgroup\n#x:x:1:1::/:\n";
        let parsed = passwd(file, true, 100);
        assert_eq!(names(&parsed), [(0, "root")]);
        assert_eq!(parsed.bad_lines, 0, "none of these is a bad line");
    }

    #[test]
    fn lines_without_an_id_are_counted_and_skipped() {
        let file = b"nouid:x::0::/:\nshort\nname:x\nneg:x:-1:0::/:\nbig:x:4294967296:0::/:\n\
                     sign:x:+5:0::/:\nspace:x: 5:0::/:\n:x:6:0::/:\nnul\0:x:8:0::/:\nok:x:9\n";
        let parsed = passwd(file, true, 100);
        assert_eq!(names(&parsed), [(9, "ok")], "a line may end after its uid");
        assert_eq!(parsed.entries[&9].shell.len(), 0);
        assert_eq!(parsed.bad_lines, 9);
        let groups = group(b"g:x\n:x:1:\nok:x:2\nbad:x:z:\n", true, 100);
        assert_eq!(groups.entries.len(), 1);
        assert_eq!(groups.bad_lines, 3);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced() {
        let parsed = passwd(b"\xff\xfeuser:x:1:1::/h\xc3:/bin/\x80sh\n", true, 100);
        let a = &parsed.entries[&1];
        assert_eq!(&*a.name, "\u{fffd}\u{fffd}user");
        assert_eq!(&*a.home, "/h\u{fffd}");
        assert_eq!(&*a.shell, "/bin/\u{fffd}sh");
    }

    #[test]
    fn huge_lines_and_fields_do_not_pass() {
        let mut file = vec![b'a'; MAX_NAME_BYTES + 1];
        file.extend_from_slice(b":x:1:1::/:/bin/sh\n");
        file.extend_from_slice(b"u:x:2:2::/");
        file.extend(std::iter::repeat_n(b'h', MAX_PATH_BYTES));
        file.extend_from_slice(b":/bin/sh\n");
        file.extend(std::iter::repeat_n(b':', 1 << 20));
        file.extend_from_slice(b"\nok:x:3:3::/:/bin/sh\n");
        let parsed = passwd(&file, true, 100);
        assert_eq!(names(&parsed), [(3, "ok")]);
        assert_eq!(parsed.bad_lines, 3);
        assert!(parsed.bytes < 1024, "{}", parsed.bytes);
    }

    #[test]
    fn a_cut_file_loses_its_last_partial_line() {
        let parsed = passwd(b"a:x:1:1::/:\nb:x:2:2::/:", false, 100);
        assert_eq!(names(&parsed), [(1, "a")]);
        assert!(parsed.cut);
        let parsed = passwd(b"no newline at all:x:1", false, 100);
        assert!(parsed.entries.is_empty());
        // Complete: the last line counts even without its newline.
        let parsed = passwd(b"a:x:1:1::/:\nb:x:2:2::/:", true, 100);
        assert_eq!(parsed.entries.len(), 2);
        assert!(!parsed.cut);
    }

    #[test]
    fn entries_are_bounded() {
        let file: String = (0..100).map(|i| format!("u{i}:x:{i}:0::/:\n")).collect();
        let parsed = passwd(file.as_bytes(), true, 10);
        assert_eq!(parsed.entries.len(), 10);
        assert!(parsed.cut);
        assert_eq!(&*parsed.entries[&9].name, "u9");
        // Duplicates of kept ids do not count against the bound.
        let file = "a:x:1:0::/:\na2:x:1:0::/:\nb:x:2:0::/:\n";
        let parsed = passwd(file.as_bytes(), true, 2);
        assert_eq!(parsed.entries.len(), 2);
        assert!(!parsed.cut);
    }

    #[test]
    fn garbage_never_panics() {
        // Mostly separators and digits, so some lines nearly parse.
        const ALPHABET: &[u8] = b":\n0123456789#+-\xff a\0";
        let mut seed: u32 = 0x9e37_79b9;
        for len in [0, 1, 2, 7, 64, 1000, 5000] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    ALPHABET[seed as usize % ALPHABET.len()]
                })
                .collect();
            for complete in [true, false] {
                let _ = passwd(&bytes, complete, 16);
                let _ = group(&bytes, complete, 16);
            }
        }
    }
}
