//! The typed tree of a fully expanded condition: what the engine evaluates and what
//! the kernel filters are derived from. No macro or list names remain in it; values
//! stay strings because only the engine knows each field's type.

use std::{collections::BTreeSet, fmt};

/// A condition after macro and list expansion.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// All of these hold (n-ary so that long `and not` chains stay shallow).
    And(Vec<Expr>),
    /// At least one of these holds.
    Or(Vec<Expr>),
    /// This does not hold.
    Not(Box<Expr>),
    /// A field compared with a value.
    Compare {
        /// The field on the left.
        field: FieldRef,
        /// The operator.
        op: CmpOp,
        /// The right side.
        value: Value,
    },
    /// The field has a value (`proc.pname exists`).
    Exists(FieldRef),
}

/// A field name with its optional argument: `proc.aname[2]` is `proc.aname` and `2`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldRef {
    /// The dotted name, e.g. `k8s.pod.label`.
    pub name: String,
    /// The text between the brackets, e.g. `app`.
    pub arg: Option<String>,
}

impl FieldRef {
    /// A field without an argument.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            arg: None,
        }
    }
}

/// The right side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// One value, bare or quoted (quotes and escapes removed).
    Str(String),
    /// A parenthesised list, with list names replaced by their items.
    List(Vec<String>),
    /// Another field of the same event: `val(proc.pname)`.
    Field(FieldRef),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
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
    /// `in`: the value is one of the list's.
    In,
    /// `intersects`: a multi-valued field shares a value with the list.
    Intersects,
    /// `contains`.
    Contains,
    /// `icontains` (case-insensitive).
    IContains,
    /// `startswith`.
    StartsWith,
    /// `endswith`.
    EndsWith,
    /// `glob`.
    Glob,
    /// `iglob` (case-insensitive).
    IGlob,
    /// `pmatch`: a path is below one of the list's prefixes.
    PMatch,
    /// `bcontains` (bytes given in hex).
    BContains,
    /// `bstartswith` (bytes given in hex).
    BStartsWith,
    /// `regex` (newer Falco).
    Regex,
}

impl CmpOp {
    /// The operator for a word, if it is one (`exists` is not: it takes no value).
    pub(crate) fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "in" => Self::In,
            "intersects" => Self::Intersects,
            "contains" => Self::Contains,
            "icontains" => Self::IContains,
            "startswith" => Self::StartsWith,
            "endswith" => Self::EndsWith,
            "glob" => Self::Glob,
            "iglob" => Self::IGlob,
            "pmatch" => Self::PMatch,
            "bcontains" => Self::BContains,
            "bstartswith" => Self::BStartsWith,
            "regex" => Self::Regex,
            _ => return None,
        })
    }

    /// The operator written as `text` (as in exception `comps`), if it is one.
    pub(crate) fn from_text(text: &str) -> Option<Self> {
        Some(match text {
            "=" | "==" => Self::Eq,
            "!=" => Self::Ne,
            "<" => Self::Lt,
            "<=" => Self::Le,
            ">" => Self::Gt,
            ">=" => Self::Ge,
            word => return Self::from_word(word),
        })
    }

    /// Whether the right side must be a number (`<`, `<=`, `>`, `>=`), as in Falco.
    pub fn takes_number(self) -> bool {
        matches!(self, Self::Lt | Self::Le | Self::Gt | Self::Ge)
    }

    /// Whether the right side is a list (`in`, `intersects`, `pmatch`).
    pub fn takes_list(self) -> bool {
        matches!(self, Self::In | Self::Intersects | Self::PMatch)
    }

    /// The operator as written in a condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::In => "in",
            Self::Intersects => "intersects",
            Self::Contains => "contains",
            Self::IContains => "icontains",
            Self::StartsWith => "startswith",
            Self::EndsWith => "endswith",
            Self::Glob => "glob",
            Self::IGlob => "iglob",
            Self::PMatch => "pmatch",
            Self::BContains => "bcontains",
            Self::BStartsWith => "bstartswith",
            Self::Regex => "regex",
        }
    }
}

/// The event types a condition can match, for indexing rules and kernel filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvtTypes {
    /// The condition does not (provably) constrain `evt.type`: any event may match.
    Any,
    /// The condition can only be true for these `evt.type` values.
    Only(BTreeSet<String>),
}

impl EvtTypes {
    /// Both must hold: the tighter of the two.
    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Any, x) | (x, Self::Any) => x,
            (Self::Only(a), Self::Only(b)) => Self::Only(a.intersection(&b).cloned().collect()),
        }
    }

    /// Either may hold: the union, unconstrained if either is.
    fn or(self, other: Self) -> Self {
        match (self, other) {
            (Self::Only(mut a), Self::Only(b)) => {
                a.extend(b);
                Self::Only(a)
            }
            _ => Self::Any,
        }
    }
}

impl Expr {
    /// Every field the condition reads, including `val(...)` references.
    pub fn fields(&self) -> BTreeSet<FieldRef> {
        let mut out = BTreeSet::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields(&self, out: &mut BTreeSet<FieldRef>) {
        match self {
            Self::And(xs) | Self::Or(xs) => xs.iter().for_each(|x| x.collect_fields(out)),
            Self::Not(x) => x.collect_fields(out),
            Self::Compare { field, value, .. } => {
                out.insert(field.clone());
                if let Value::Field(f) = value {
                    out.insert(f.clone());
                }
            }
            Self::Exists(f) => {
                out.insert(f.clone());
            }
        }
    }

    /// The `evt.type` values this condition can match, computed soundly: `Only(s)`
    /// means no event whose type is outside `s` can make it true. Only `=`, `==` and
    /// `in` on `evt.type` constrain it; under `not` the result is `Any` (an "all but"
    /// set is not tracked: it would rarely narrow a kernel filter and is easy to get
    /// wrong with `!=` and negated `in` mixed).
    pub fn evt_types(&self) -> EvtTypes {
        match self {
            Self::And(xs) => xs
                .iter()
                .map(Self::evt_types)
                .fold(EvtTypes::Any, EvtTypes::and),
            Self::Or(xs) => {
                let mut it = xs.iter().map(Self::evt_types);
                match it.next() {
                    Some(first) => it.fold(first, EvtTypes::or),
                    None => EvtTypes::Any,
                }
            }
            Self::Compare {
                field,
                op: CmpOp::Eq,
                value: Value::Str(s),
            } if is_evt_type(field) => EvtTypes::Only(BTreeSet::from([s.clone()])),
            Self::Compare {
                field,
                op: CmpOp::In,
                value: Value::List(xs),
            } if is_evt_type(field) => EvtTypes::Only(xs.iter().cloned().collect()),
            Self::Not(_) | Self::Compare { .. } | Self::Exists(_) => EvtTypes::Any,
        }
    }
}

fn is_evt_type(f: &FieldRef) -> bool {
    f.name == "evt.type" && f.arg.is_none()
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arg {
            Some(arg) => write!(f, "{}[{arg}]", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Writes a string so that the parser reads it back as the same value.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Fully parenthesised, values quoted: for messages and tests, and re-parseable.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::And(xs) | Self::Or(xs) => {
                let sep = if matches!(self, Self::And(_)) {
                    " and "
                } else {
                    " or "
                };
                f.write_str("(")?;
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str(")")
            }
            Self::Not(x) => write!(f, "not {x}"),
            Self::Exists(field) => write!(f, "{field} exists"),
            Self::Compare { field, op, value } => {
                write!(f, "{field} {} ", op.as_str())?;
                match value {
                    Value::Str(s) => write_quoted(f, s),
                    Value::Field(r) => write!(f, "val({r})"),
                    Value::List(xs) => {
                        f.write_str("(")?;
                        for (i, x) in xs.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write_quoted(f, x)?;
                        }
                        f.write_str(")")
                    }
                }
            }
        }
    }
}
