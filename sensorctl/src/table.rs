//! Tables for people: aligned columns, each cut to a width that keeps a row on
//! one line, with terminal-hostile characters made visible. A finding's strings
//! come from the monitored workload (a process can name itself anything), so
//! nothing reaches the terminal raw: control characters, escapes included,
//! print as `\n`, `\e`, `\x07`.

use std::fmt::Write as _;

/// One column: its heading and the most characters it shows.
pub struct Column {
    /// The heading.
    pub name: &'static str,
    /// The widest a cell may be; longer ones end in `…`.
    pub max: usize,
}

/// Colours by priority, when writing to a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    /// No colour.
    None,
    /// Red (Emergency to Error).
    Red,
    /// Yellow (Warning).
    Yellow,
    /// Dim (Informational, Debug).
    Dim,
}

impl Paint {
    fn codes(self) -> (&'static str, &'static str) {
        match self {
            Self::None => ("", ""),
            Self::Red => ("\x1b[31m", "\x1b[0m"),
            Self::Yellow => ("\x1b[33m", "\x1b[0m"),
            Self::Dim => ("\x1b[2m", "\x1b[0m"),
        }
    }
}

/// `s` with every control character escaped.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Renders rows under `columns`: each cell cleaned and cut, each column as wide
/// as its widest cell, the last column not padded.
pub fn render(columns: &[Column], rows: &[(Paint, Vec<String>)], colour: bool) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(_, row)| {
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| cut(&clean(row.get(i).map_or("", String::as_str)), c.max))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, row: &[String], paint: Paint| {
        let (on, off) = if colour { paint.codes() } else { ("", "") };
        out.push_str(on);
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(off);
        out.push('\n');
    };
    let heads: Vec<String> = columns.iter().map(|c| c.name.to_owned()).collect();
    line(&mut out, &heads, Paint::None);
    for ((paint, _), row) in rows.iter().zip(&cells) {
        line(&mut out, row, *paint);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_cells_are_escaped_cut_and_aligned() {
        let cols = [
            Column {
                name: "RULE",
                max: 10,
            },
            Column {
                name: "OUT",
                max: 40,
            },
        ];
        let rows = vec![
            (Paint::Red, vec!["a".into(), "line\none\x1b[2J\x07".into()]),
            (
                Paint::None,
                vec!["a very long rule name".into(), "x".into()],
            ),
        ];
        let plain = render(&cols, &rows, false);
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines.len(), 3, "{plain}");
        assert_eq!(lines[0], "RULE        OUT");
        assert_eq!(lines[1], "a           line\\none\\e[2J\\x07");
        assert_eq!(lines[2], "a very lo…  x");
        assert!(!plain.contains('\x1b'));
        let coloured = render(&cols, &rows, true);
        assert!(coloured.contains("\x1b[31ma "), "{coloured:?}");
    }
}
