//! Analysts' filters: the subset of the rule condition language the store can
//! answer (`k8s.ns.name = prod and proc.name in (sh, bash)`), parsed into a small
//! tree. The grammar is Falco's, with its precedence (`not` > `and` > `or`):
//!
//! ```text
//! or    := and ("or" and)*
//! and   := not ("and" not)*
//! not   := "not" not | "(" or ")" | field "exists" | field op value
//! value := word | "quoted" | 'quoted' | "(" value ("," value)* ")"
//! ```
//!
//! The sensor's own parser (`sensor::rules::parse_condition`) lives in the sensor
//! crate, with eBPF, kubelet and engine code behind it; the collector must not
//! build all that, so this is a second, smaller parser. Macros, lists and
//! `val(...)` have no meaning to a store and are refused. A filter comes from a
//! client and is untrusted: its length, nesting and list sizes are bounded and
//! every failure is an error with the byte offset, never a panic.

/// The longest filter accepted, in bytes.
pub const MAX_LEN: usize = 16 * 1024;
/// The deepest nesting of parentheses and `not`.
pub const MAX_DEPTH: usize = 64;
/// The most items one `in (...)` list may have.
pub const MAX_LIST: usize = 1000;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// All of these hold.
    And(Vec<Expr>),
    /// At least one of these holds.
    Or(Vec<Expr>),
    /// This does not hold.
    Not(Box<Expr>),
    /// A field compared with a value.
    Compare {
        /// The field on the left.
        field: Field,
        /// The operator.
        op: Op,
        /// The right side.
        value: Operand,
        /// Where the field starts in the filter (for errors found later).
        offset: usize,
    },
    /// The field has a value.
    Exists {
        /// The field.
        field: Field,
        /// Where it starts in the filter.
        offset: usize,
    },
}

/// A field name with its optional argument: `k8s.pod.label[app]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The dotted name.
    pub name: String,
    /// The text between the brackets.
    pub arg: Option<String>,
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.arg {
            Some(arg) => write!(f, "{}[{arg}]", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A comparison operator the store supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `in (...)`.
    In,
    /// `contains`.
    Contains,
    /// `icontains` (ASCII case-insensitive).
    IContains,
    /// `startswith`.
    StartsWith,
    /// `endswith`.
    EndsWith,
}

/// The right side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    /// One value.
    One(String),
    /// A parenthesised list.
    List(Vec<String>),
}

/// Why a filter cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// The text is not a filter.
    #[error("filter: {message} at byte {offset}")]
    Syntax {
        /// Where, in bytes from the start.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// The store cannot answer this field.
    #[error(
        "filter: the field `{field}` (at byte {offset}) is not supported here; supported: {supported}"
    )]
    UnsupportedField {
        /// The field as written.
        field: String,
        /// Where it starts.
        offset: usize,
        /// What is.
        supported: &'static str,
    },
    /// The store cannot apply this operator (to this field).
    #[error("filter: `{op}` is not supported on `{field}` (at byte {offset})")]
    UnsupportedOperator {
        /// The operator as written.
        op: String,
        /// The field.
        field: String,
        /// Where the field starts.
        offset: usize,
    },
    /// A value the field cannot have (a priority that is not one).
    #[error("filter: `{value}` is not a valid value for `{field}` (at byte {offset})")]
    BadValue {
        /// The field.
        field: String,
        /// The value.
        value: String,
        /// Where the field starts.
        offset: usize,
    },
}

fn syntax(offset: usize, message: impl Into<String>) -> FilterError {
    FilterError::Syntax {
        offset,
        message: message.into(),
    }
}

/// Falco operators this store does not evaluate: named in the error, so that a
/// rule's condition pasted as a filter says what to change.
const UNSUPPORTED_OPS: &[&str] = &[
    "glob",
    "iglob",
    "pmatch",
    "regex",
    "intersects",
    "bcontains",
    "bstartswith",
    "endswithi",
];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Comma,
    /// `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`.
    Sym(&'static str),
    Word(String),
    Quoted(String),
}

/// A character that ends a bare word (libsinsp's `[^()"'[:space:]=,]`).
fn ends_bare(c: char) -> bool {
    c.is_ascii_whitespace() || matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let mut toks = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_ascii_whitespace() {
            chars.next();
            continue;
        }
        let tok = match c {
            '(' => {
                chars.next();
                Tok::LParen
            }
            ')' => {
                chars.next();
                Tok::RParen
            }
            ',' => {
                chars.next();
                Tok::Comma
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let eq = chars.next_if(|&(_, c)| c == '=').is_some();
                Tok::Sym(match (c, eq) {
                    ('=', _) => "=",
                    ('!', true) => "!=",
                    ('<', false) => "<",
                    ('<', true) => "<=",
                    ('>', false) => ">",
                    ('>', true) => ">=",
                    _ => return Err(syntax(at, "`!` must be followed by `=`")),
                })
            }
            '"' | '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(syntax(at, "unterminated quoted value")),
                        Some((_, q)) if q == c => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, e)) => text.push(e),
                            None => return Err(syntax(at, "unterminated quoted value")),
                        },
                        Some((_, other)) => text.push(other),
                    }
                }
                Tok::Quoted(text)
            }
            _ => {
                let mut word = String::new();
                while let Some((_, c)) = chars.next_if(|&(_, c)| !ends_bare(c)) {
                    word.push(c);
                }
                Tok::Word(word)
            }
        };
        toks.push((at, tok));
    }
    Ok(toks)
}

/// Parses a filter. Empty (or only whitespace) is an error: a caller that wants
/// every finding passes no filter.
pub fn parse(src: &str) -> Result<Expr, FilterError> {
    if src.len() > MAX_LEN {
        return Err(syntax(MAX_LEN, format!("longer than {MAX_LEN} bytes")));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: src.len(),
    };
    let expr = p.or(0)?;
    match p.toks.get(p.pos) {
        None => Ok(expr),
        Some((at, _)) => Err(syntax(*at, "expected `and`, `or` or the end")),
    }
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(at, _)| *at)
    }

    fn next(&mut self) -> Option<(usize, Tok)> {
        let tok = self.toks.get(self.pos).cloned();
        self.pos += usize::from(tok.is_some());
        tok
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut items = vec![self.and(depth)?];
        while self.keyword("or") {
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut items = vec![self.not(depth)?];
        while self.keyword("and") {
            items.push(self.not(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(syntax(
                self.offset(),
                format!("nested deeper than {MAX_DEPTH}"),
            ));
        }
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not(depth + 1)?)));
        }
        let at = self.offset();
        match self.next() {
            Some((_, Tok::LParen)) => {
                let inner = self.or(depth + 1)?;
                match self.next() {
                    Some((_, Tok::RParen)) => Ok(inner),
                    _ => Err(syntax(at, "`(` is never closed")),
                }
            }
            Some((at, Tok::Word(word))) => self.comparison(at, &word),
            None => Err(syntax(at, "expected a field, `not` or `(`")),
            Some(_) => Err(syntax(at, "expected a field, `not` or `(`")),
        }
    }

    fn comparison(&mut self, at: usize, word: &str) -> Result<Expr, FilterError> {
        let field = field(at, word)?;
        let op_at = self.offset();
        let op = match self.next() {
            Some((_, Tok::Sym(sym))) => match sym {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some((_, Tok::Word(w))) => match w.as_str() {
                "exists" => return Ok(Expr::Exists { field, offset: at }),
                "in" => Op::In,
                "contains" => Op::Contains,
                "icontains" => Op::IContains,
                "startswith" => Op::StartsWith,
                "endswith" => Op::EndsWith,
                other if UNSUPPORTED_OPS.contains(&other) => {
                    return Err(FilterError::UnsupportedOperator {
                        op: other.to_owned(),
                        field: field.to_string(),
                        offset: at,
                    });
                }
                _ => return Err(syntax(op_at, format!("`{w}` is not an operator"))),
            },
            _ => {
                return Err(syntax(
                    op_at,
                    format!("expected an operator after `{field}`"),
                ));
            }
        };
        let value = if op == Op::In {
            Operand::List(self.list()?)
        } else {
            Operand::One(self.value()?)
        };
        Ok(Expr::Compare {
            field,
            op,
            value,
            offset: at,
        })
    }

    fn value(&mut self) -> Result<String, FilterError> {
        let at = self.offset();
        match self.next() {
            Some((_, Tok::Word(w))) if w.starts_with("val(") => Err(syntax(
                at,
                "comparing two fields (`val(...)`) is not supported",
            )),
            Some((_, Tok::Word(w) | Tok::Quoted(w))) => Ok(w),
            _ => Err(syntax(at, "expected a value")),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, FilterError> {
        let at = self.offset();
        if !matches!(self.next(), Some((_, Tok::LParen))) {
            return Err(syntax(at, "expected `(` and a list of values"));
        }
        let mut items = Vec::new();
        if matches!(self.peek(), Some(Tok::RParen)) {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            if items.len() == MAX_LIST {
                return Err(syntax(at, format!("a list longer than {MAX_LIST} items")));
            }
            items.push(self.value()?);
            let sep = self.offset();
            match self.next() {
                Some((_, Tok::Comma)) => {}
                Some((_, Tok::RParen)) => return Ok(items),
                _ => return Err(syntax(sep, "expected `,` or `)` in the list")),
            }
        }
    }
}

/// A field name: `[A-Za-z0-9_.]+`, optionally with `[arg]`.
fn field(at: usize, word: &str) -> Result<Field, FilterError> {
    let (name, arg) = match word.split_once('[') {
        Some((name, rest)) => match rest.strip_suffix(']') {
            Some(arg) if !arg.is_empty() => (name, Some(arg.to_owned())),
            _ => {
                return Err(syntax(
                    at,
                    format!("`{word}`: a field's argument is `[...]`"),
                ));
            }
        },
        None => (word, None),
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    if name.is_empty()
        || !name.chars().all(ident)
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return Err(syntax(at, format!("`{word}` is not a field name")));
    }
    Ok(Field {
        name: name.to_owned(),
        arg,
    })
}

#[cfg(test)]
mod tests;
