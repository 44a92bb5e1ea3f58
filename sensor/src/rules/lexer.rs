//! The condition scanner. Falco's filter language has no context-free tokens: `<` is
//! an operator after a field and a bare value after `=` (`evt.dir = <`), and
//! `runc:[0:PARENT]` is one bare word. So, like Falco's own parser, this is a cursor
//! the parser asks for the token it expects next, with the character classes of
//! libsinsp's filter parser. Whitespace is ASCII only, as in Falco: odd Unicode
//! spaces are part of a word, never a separator.

use super::{ast::CmpOp, error::SyntaxError};

/// A position in a condition and the scanning primitives over it.
pub(crate) struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

/// A character that may appear in a field or macro name.
fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// A character that ends a bare value (libsinsp's `[^()"'[:space:]=,]`).
fn ends_bare(c: char) -> bool {
    c.is_ascii_whitespace() || matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `src`.
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, pos: 0 }
    }

    /// The byte offset of the next character.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to `pos`, an offset this cursor returned before.
    pub(crate) fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    /// The next character, without consuming it.
    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Skips ASCII whitespace.
    pub(crate) fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_whitespace())
                .len();
    }

    /// Consumes `c` if it is next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `kw` (`and`, `or`, `not`, `exists`) if it is next as a
    /// whole word, so that `notable_macro` is not `not` followed by `able_macro`.
    pub(crate) fn keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        if rest.starts_with(kw) && !rest[kw.len()..].starts_with(is_ident) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    /// Consumes a name: letters, digits, `_` and `.`, starting with a letter or `_`.
    /// Empty when none starts here.
    pub(crate) fn name(&mut self) -> &'a str {
        let rest = self.rest();
        if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return "";
        }
        let len = rest.find(|c| !is_ident(c)).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Consumes a bare value; empty when none starts here.
    pub(crate) fn bare(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest.find(ends_bare).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Consumes a field argument after `[`, up to (not including) `]`: a quoted
    /// string or any run of characters other than `]` and whitespace.
    pub(crate) fn field_arg(&mut self) -> Result<String, SyntaxError> {
        if matches!(self.peek(), Some('"' | '\'')) {
            return self.quoted();
        }
        let rest = self.rest();
        let len = rest
            .find(|c: char| c == ']' || c == '[' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(SyntaxError::new(self.pos, "empty field argument `[]`"));
        }
        self.pos += len;
        Ok(rest[..len].to_owned())
    }

    /// Consumes a symbolic comparison operator if one is next.
    pub(crate) fn symbol_op(&mut self) -> Option<CmpOp> {
        let rest = self.rest();
        // Two-character operators first, so `<=` is not `<` then a value `=`.
        let (op, len) = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("=", CmpOp::Eq),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(s, _)| rest.starts_with(s))
        .map(|(s, op)| (op, s.len()))?;
        self.pos += len;
        Some(op)
    }

    /// Consumes a quoted string starting at the quote, returning it unescaped.
    pub(crate) fn quoted(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        let Some(quote) = self.peek().filter(|c| matches!(c, '"' | '\'')) else {
            return Err(SyntaxError::new(start, "expected a quoted string"));
        };
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            out.push(match e {
                '"' | '\'' | '\\' | '/' => e,
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'b' => '\u{8}',
                'f' => '\u{c}',
                _ => {
                    return Err(SyntaxError::new(
                        self.pos + i,
                        format!("unknown escape `\\{e}` in a quoted string"),
                    ));
                }
            });
        }
        Err(SyntaxError::new(
            start,
            format!("unterminated string: no closing {quote}"),
        ))
    }

    /// A short quote of the text at the cursor, for messages.
    pub(crate) fn found(&self) -> String {
        let rest = self.rest();
        if rest.is_empty() {
            return "the end of the condition".to_owned();
        }
        let word: String = rest
            .chars()
            .take_while(|c| !c.is_ascii_whitespace())
            .take(20)
            .collect();
        format!("`{word}`")
    }

    /// Whether the whole input has been consumed.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }
}

/// A list item as written in YAML: `"(systemd)"` (quotes included) is the quoted
/// string `(systemd)`, because Falco pastes list items into conditions as text.
/// `None` when the item is bare.
pub(crate) fn unquote_item(item: &str) -> Option<Result<String, SyntaxError>> {
    if !item.starts_with(['"', '\'']) {
        return None;
    }
    let mut cur = Cursor::new(item);
    Some(cur.quoted().and_then(|s| {
        cur.skip_ws();
        if cur.at_end() {
            Ok(s)
        } else {
            Err(SyntaxError::new(cur.pos(), "text after the closing quote"))
        }
    }))
}
