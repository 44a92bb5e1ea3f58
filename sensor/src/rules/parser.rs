//! The condition parser: Falco's filter grammar by recursive descent, into a raw
//! tree that still holds macro and list names (with their offsets, so expansion
//! can point at an undefined one). Precedence is `not` > `and` > `or`, as in Falco:
//!
//! ```text
//! or   := and ("or" and)*
//! and  := not ("and" not)*
//! not  := "not" not | "(" or ")" | field "exists" | field op value | macro_name
//! ```
//!
//! Nesting (parentheses and `not`) is limited to [`MAX_DEPTH`] so hostile input
//! gets an error instead of overflowing the stack.

use super::{
    ast::{CmpOp, FieldRef},
    error::SyntaxError,
    lexer::Cursor,
};

/// The deepest nesting of parentheses and `not` a condition may have. Falco's
/// stable rules nest fewer than 10 deep; 100 leaves room and keeps the recursion
/// (four frames a level) far from any thread's stack limit.
pub const MAX_DEPTH: usize = 100;

/// A condition as written, before macros and lists are expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Raw {
    And(Vec<Raw>),
    Or(Vec<Raw>),
    Not(Box<Raw>),
    Compare {
        field: FieldRef,
        op: CmpOp,
        value: RawValue,
    },
    Exists(FieldRef),
    /// A bare identifier where a condition is expected: a macro, if one is defined.
    Macro {
        name: String,
        offset: usize,
    },
}

/// A right side as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawValue {
    Str(String),
    /// `(a, "b", list_name)`: bare items may be list names.
    List(Vec<RawItem>),
    /// `in list_name` without parentheses.
    ListName {
        name: String,
        offset: usize,
    },
    Field(FieldRef),
}

/// One item of a parenthesised list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawItem {
    /// Quoted: never a list name.
    Quoted(String),
    /// Bare: a list name if one is defined, else the string itself.
    Bare(String),
}

/// Parses one condition.
pub(crate) fn parse(src: &str) -> Result<Raw, SyntaxError> {
    let mut p = Parser {
        cur: Cursor::new(src),
        depth: 0,
    };
    p.cur.skip_ws();
    if p.cur.at_end() {
        return Err(SyntaxError::new(0, "empty condition"));
    }
    let expr = p.or()?;
    p.cur.skip_ws();
    if !p.cur.at_end() {
        return Err(p.unexpected("`and`, `or` or the end of the condition"));
    }
    Ok(expr)
}

struct Parser<'a> {
    cur: Cursor<'a>,
    depth: usize,
}

impl Parser<'_> {
    fn unexpected(&self, expected: &str) -> SyntaxError {
        SyntaxError::new(
            self.cur.pos(),
            format!("expected {expected}, found {}", self.cur.found()),
        )
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError::new(
                self.cur.pos(),
                format!("nested more than {MAX_DEPTH} deep (parentheses and `not`)"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Raw, SyntaxError> {
        let mut xs = vec![self.and()?];
        loop {
            self.cur.skip_ws();
            if !self.cur.keyword("or") {
                break;
            }
            xs.push(self.and()?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Raw::Or(xs)
        })
    }

    fn and(&mut self) -> Result<Raw, SyntaxError> {
        let mut xs = vec![self.not()?];
        loop {
            self.cur.skip_ws();
            if !self.cur.keyword("and") {
                break;
            }
            xs.push(self.not()?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Raw::And(xs)
        })
    }

    fn not(&mut self) -> Result<Raw, SyntaxError> {
        self.cur.skip_ws();
        if self.cur.keyword("not") {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Raw::Not(Box::new(inner)));
        }
        if self.cur.eat('(') {
            self.enter()?;
            let inner = self.or()?;
            self.cur.skip_ws();
            if !self.cur.eat(')') {
                return Err(self.unexpected("`)`, `and` or `or`"));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        let offset = self.cur.pos();
        let name = self.cur.name();
        if name.is_empty() || name == "and" || name == "or" {
            // A keyword is never a macro name: `a.b = 1 and and` is an error here,
            // not an undefined macro `and` later.
            return Err(SyntaxError::new(
                offset,
                format!(
                    "expected a field, a macro name, `not` or `(`, found {}",
                    if name.is_empty() {
                        self.cur.found()
                    } else {
                        format!("`{name}`")
                    }
                ),
            ));
        }
        if !name.contains('.') {
            return self.macro_ref(name, offset);
        }
        let field = self.field_rest(name)?;
        self.cur.skip_ws();
        if self.cur.keyword("exists") {
            return Ok(Raw::Exists(field));
        }
        let op = self.op(&field)?;
        let value = self.value(op)?;
        Ok(Raw::Compare { field, op, value })
    }

    /// A bare identifier where a condition is expected: a macro name. What would
    /// follow a field or a function instead gets its own message, because "expected
    /// `and`" would hide the real mistake.
    fn macro_ref(&mut self, name: &str, offset: usize) -> Result<Raw, SyntaxError> {
        if self.cur.peek() == Some('(') {
            return Err(SyntaxError::new(
                offset,
                format!("`{name}(...)`: field transformers and functions are not supported"),
            ));
        }
        let after = self.cur.pos();
        self.cur.skip_ws();
        let looks_like_field = matches!(self.cur.peek(), Some('[' | '=' | '<' | '>'))
            || self.cur.symbol_op().is_some();
        self.cur.set_pos(after);
        if looks_like_field {
            return Err(SyntaxError::new(
                offset,
                format!("`{name}` is not a field name (field names have a dot, like `proc.name`)"),
            ));
        }
        Ok(Raw::Macro {
            name: name.to_owned(),
            offset,
        })
    }

    /// After a field's name: its optional `[arg]`, which must follow without space.
    fn field_rest(&mut self, name: &str) -> Result<FieldRef, SyntaxError> {
        if name.ends_with('.') || name.contains("..") {
            return Err(SyntaxError::new(
                self.cur.pos(),
                format!("`{name}` is not a field name"),
            ));
        }
        let mut field = FieldRef::new(name);
        if self.cur.eat('[') {
            field.arg = Some(self.cur.field_arg()?);
            if !self.cur.eat(']') {
                return Err(self.unexpected("`]` after the field argument"));
            }
        }
        Ok(field)
    }

    fn op(&mut self, field: &FieldRef) -> Result<CmpOp, SyntaxError> {
        if let Some(op) = self.cur.symbol_op() {
            return Ok(op);
        }
        let at = self.cur.pos();
        let word = self.cur.name();
        CmpOp::from_word(word).ok_or_else(|| {
            SyntaxError::new(
                at,
                format!(
                    "expected an operator after `{field}`, found {}",
                    if word.is_empty() {
                        self.cur.found()
                    } else {
                        format!("`{word}`")
                    }
                ),
            )
        })
    }

    fn value(&mut self, op: CmpOp) -> Result<RawValue, SyntaxError> {
        self.cur.skip_ws();
        if op.takes_list() {
            if self.cur.eat('(') {
                return self.list().map(RawValue::List);
            }
            let offset = self.cur.pos();
            let name = self.cur.name();
            if name.is_empty() || name.contains('.') {
                return Err(SyntaxError::new(
                    offset,
                    format!("`{}` needs a list: `(a, b)` or a list name", op.as_str()),
                ));
            }
            return Ok(RawValue::ListName {
                name: name.to_owned(),
                offset,
            });
        }
        let at = self.cur.pos();
        if matches!(self.cur.peek(), Some('"' | '\'')) {
            if op.takes_number() {
                return Err(SyntaxError::new(
                    at,
                    format!("expected a number after `{}`, found a string", op.as_str()),
                ));
            }
            return self.cur.quoted().map(RawValue::Str);
        }
        let word = self.cur.bare();
        if word == "val" && self.cur.eat('(') {
            self.cur.skip_ws();
            let at = self.cur.pos();
            let name = self.cur.name();
            if !name.contains('.') {
                return Err(SyntaxError::new(
                    at,
                    format!("expected a field name inside `val(...)`, found `{name}`"),
                ));
            }
            let field = self.field_rest(name)?;
            self.cur.skip_ws();
            if !self.cur.eat(')') {
                return Err(self.unexpected("`)` closing `val(`"));
            }
            return Ok(RawValue::Field(field));
        }
        if word.is_empty() {
            return Err(SyntaxError::new(
                at,
                format!(
                    "expected a value after `{}`, found {}",
                    op.as_str(),
                    self.cur.found()
                ),
            ));
        }
        if op.takes_number() && !is_number(word) {
            return Err(SyntaxError::new(
                at,
                format!("expected a number after `{}`, found `{word}`", op.as_str()),
            ));
        }
        Ok(RawValue::Str(word.to_owned()))
    }

    /// The items of a list after its `(`, through its `)`.
    fn list(&mut self) -> Result<Vec<RawItem>, SyntaxError> {
        let mut items = Vec::new();
        self.cur.skip_ws();
        if self.cur.eat(')') {
            return Ok(items);
        }
        loop {
            self.cur.skip_ws();
            if matches!(self.cur.peek(), Some('"' | '\'')) {
                items.push(RawItem::Quoted(self.cur.quoted()?));
            } else {
                let word = self.cur.bare();
                if word.is_empty() {
                    return Err(self.unexpected("a list item"));
                }
                items.push(RawItem::Bare(word.to_owned()));
            }
            self.cur.skip_ws();
            if self.cur.eat(')') {
                return Ok(items);
            }
            if !self.cur.eat(',') {
                return Err(self.unexpected("`,` or `)` in a list"));
            }
        }
    }
}

/// A number as libsinsp reads one: decimal with an optional fraction and exponent,
/// or hexadecimal (`0x1f`).
fn is_number(word: &str) -> bool {
    if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_alphanumeric());
    }
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word.strip_prefix(['+', '-']).unwrap_or(word);
    let n = digits(rest);
    if n == 0 {
        return false;
    }
    let mut rest = &rest[n..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = &frac[digits(frac)..];
    }
    if let Some(exp) = rest.strip_prefix(['e', 'E']) {
        let Some(exp) = exp.strip_prefix(['+', '-']) else {
            return false;
        };
        let n = digits(exp);
        return n > 0 && n == exp.len();
    }
    rest.is_empty()
}
