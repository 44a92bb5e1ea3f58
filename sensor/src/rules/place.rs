//! Where in a rules file a position inside a condition is. A condition may be a
//! folded YAML block, quoted, or joined from pieces in several files (appends), so
//! an offset into the parsed text is mapped back to the file, line and column an
//! operator can open in an editor.

use super::file::Placed;

/// The file, line and column of byte `offset` of the joined condition `segs`.
///
/// The offset is first mapped to the piece (file) it falls in. Within the piece,
/// the condition's non-space characters are matched one by one against the YAML
/// source from the value's start, skipping whitespace and a block scalar's
/// `>`/`|` line; this gives the exact line and column for plain, quoted-without-
/// escapes, folded and literal scalars alike. When the match fails (YAML escapes
/// changed the text), the line is the value's line plus the newlines before the
/// offset and the column is counted within the condition text.
pub(super) fn place(files: &[(&str, &str)], segs: &[Placed], offset: usize) -> (String, u64, u64) {
    let mut start = 0;
    let mut chosen = None;
    for seg in segs {
        if offset <= start + seg.text.len() {
            chosen = Some((seg, offset - start));
            break;
        }
        start += seg.text.len() + 1;
    }
    let Some((seg, local)) = chosen.or_else(|| segs.last().map(|s| (s, s.text.len()))) else {
        return (String::new(), 0, 0);
    };
    let file = files
        .get(seg.file)
        .map(|f| f.0.to_owned())
        .unwrap_or_default();
    let source = files.get(seg.file).map_or("", |f| f.1);
    let value_start = seg
        .loc
        .span()
        .byte_offset()
        .and_then(|b| usize::try_from(b).ok());
    if let Some((line, col)) = value_start.and_then(|b| locate(source, b, &seg.text, local)) {
        return (file, line, col);
    }
    let before = seg.text.get(..local).unwrap_or(&seg.text);
    let newlines = before.matches('\n').count() as u64;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    (file, seg.loc.line() + newlines, col)
}

/// See [`place`]: the 1-based line and column in `source` of byte `offset`
/// of `value`, whose YAML scalar starts at byte `start`; `None` if they diverge.
fn locate(source: &str, start: usize, value: &str, offset: usize) -> Option<(u64, u64)> {
    let mut s = source.get(start..)?;
    if s.starts_with(['>', '|']) {
        s = &s[s.find('\n')? + 1..];
    } else if s.starts_with(['"', '\'']) {
        s = &s[1..];
    }
    let mut chars = s.char_indices().peekable();
    let prefix = value.get(..offset)?;
    for c in prefix.chars().filter(|c| !c.is_whitespace()) {
        while chars.next_if(|(_, x)| x.is_whitespace()).is_some() {}
        match chars.next() {
            Some((_, x)) if x == c => {}
            _ => return None,
        }
    }
    // Onto the next token, unless the problem is the end of the text (then the
    // position is right after its last character, not on a following YAML line).
    if value.get(offset..).is_some_and(|r| !r.trim().is_empty()) {
        while chars.next_if(|(_, x)| x.is_whitespace()).is_some() {}
    }
    let at = start
        + (s.as_ptr() as usize - source.get(start..)?.as_ptr() as usize)
        + chars.peek().map_or(s.len(), |(i, _)| *i);
    let before = source.get(..at)?;
    let line = before.matches('\n').count() as u64 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    Some((line, col))
}
