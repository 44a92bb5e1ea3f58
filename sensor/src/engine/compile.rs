//! A rule's expanded condition compiled into a tree the engine evaluates: fields
//! resolved to [`Access`]es, right sides parsed, and each `and`/`or` ordered so
//! that the cheapest tests run first (the conditions have no side effects, so the
//! order changes the cost, never the result).

use std::collections::HashMap;

use super::{
    access::{self, Access},
    compare::{self, Compare, StrTest},
    read::{Scratch, Subject, read},
    value::Val,
};
use crate::rules::{CmpOp, Expr, FieldRef, Value};

/// A compiled condition.
#[derive(Clone, Debug)]
pub enum Node {
    /// All hold.
    All(Box<[Node]>),
    /// One holds.
    Any(Box<[Node]>),
    /// Does not hold.
    Not(Box<Node>),
    /// A field against a constant; `negate` for `!=`.
    Cmp {
        /// The field.
        access: Access,
        /// The test.
        compare: Compare,
        /// Whether the test's result is inverted (`!=`).
        negate: bool,
    },
    /// A field against another field of the same event (`val(...)`).
    Fields {
        /// The left field.
        left: Access,
        /// The operator.
        op: CmpOp,
        /// The right field.
        right: Access,
    },
    /// The field has a value.
    Exists(Access),
    /// Decided when the rule was compiled for one event type.
    Const(bool),
    /// A part several rules share (a macro, a common test), evaluated once per
    /// event and remembered under this number.
    Memo(u32, Box<Node>),
}

/// The parts of conditions that more than one rule (or one rule twice) has:
/// each gets a number, and its value is remembered per event.
#[derive(Debug, Default)]
pub struct Memos<'e> {
    ids: HashMap<&'e Expr, u32>,
}

impl<'e> Memos<'e> {
    /// Numbers every sub-condition that occurs more than once in `conditions`.
    pub fn new(conditions: impl IntoIterator<Item = &'e Expr>) -> Self {
        fn count<'e>(e: &'e Expr, seen: &mut HashMap<&'e Expr, u32>) {
            *seen.entry(e).or_default() += 1;
            match e {
                Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| count(i, seen)),
                Expr::Not(inner) => count(inner, seen),
                Expr::Compare { .. } | Expr::Exists(_) => {}
            }
        }
        let mut seen = HashMap::new();
        for e in conditions {
            count(e, &mut seen);
        }
        let mut ids = HashMap::new();
        for (e, n) in seen {
            // evt.type tests are decided per type; the rest is worth a memo.
            let decided =
                matches!(e, Expr::Compare { field, .. } if field.name == crate::fields::EVT_TYPE);
            if n > 1 && !decided {
                let id = ids.len() as u32;
                ids.insert(e, id);
            }
        }
        Self { ids }
    }

    /// How many numbers there are.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Resolves a field reference of a condition or template.
pub fn field(f: &FieldRef) -> Result<Access, String> {
    access::resolve(&f.name, f.arg.as_deref()).map_err(|e| e.to_string())
}

/// Compiles an expanded condition, its shared parts numbered by `memos`.
pub fn compile_with(expr: &Expr, memos: &Memos<'_>) -> Result<Node, String> {
    let node = compile_node(expr, memos)?;
    Ok(match memos.ids.get(expr) {
        Some(&id) => Node::Memo(id, Box::new(node)),
        None => node,
    })
}

fn compile_node(expr: &Expr, memos: &Memos<'_>) -> Result<Node, String> {
    Ok(match expr {
        Expr::And(items) => Node::All(ordered(items, memos)?),
        Expr::Or(items) => Node::Any(ordered(items, memos)?),
        Expr::Not(inner) => Node::Not(Box::new(compile_with(inner, memos)?)),
        Expr::Exists(f) => Node::Exists(field(f)?),
        Expr::Compare {
            field: f,
            op,
            value: Value::Field(other),
        } => {
            let (left, right) = (field(f)?, field(other)?);
            if !matches!(
                op,
                CmpOp::Eq | CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge
            ) {
                return Err(format!(
                    "`{}` cannot compare two fields ({} and {})",
                    op.as_str(),
                    f.name,
                    other.name
                ));
            }
            Node::Fields {
                left,
                op: *op,
                right,
            }
        }
        Expr::Compare {
            field: f,
            op,
            value,
        } => {
            let access = field(f)?;
            let (compare, negate) = compare::compile(access.kind, *op, value)
                .map_err(|why| format!("{} {}: {why}", f.name, op.as_str()))?;
            Node::Cmp {
                access,
                compare,
                negate,
            }
        }
    })
}

fn ordered(items: &[Expr], memos: &Memos<'_>) -> Result<Box<[Node]>, String> {
    let mut nodes = items
        .iter()
        .map(|e| compile_with(e, memos))
        .collect::<Result<Vec<_>, _>>()?;
    nodes.sort_by_key(cost);
    Ok(nodes.into())
}

/// A rough cost of evaluating `node`, for ordering.
fn cost(node: &Node) -> u32 {
    let read = |a: &Access| match a.id {
        // Built into a buffer on first use.
        access::Id::Cmdline
        | access::Id::Args
        | access::Id::Pcmdline
        | access::Id::EvtTime
        | access::Id::FdName
        | access::Id::ArgFlags
        | access::Id::ArgMode
        | access::Id::Arg(_) => 4,
        access::Id::Aname | access::Id::Aexepath | access::Id::Aexe | access::Id::Argv => 2,
        _ => 1,
    };
    match node {
        Node::Const(_) => 0,
        Node::Memo(_, inner) => cost(inner),
        Node::All(items) | Node::Any(items) => items.iter().map(cost).sum(),
        Node::Not(inner) => cost(inner),
        Node::Exists(a) => read(a),
        Node::Fields { left, right, .. } => read(left) + read(right),
        Node::Cmp {
            access, compare, ..
        } => {
            read(access)
                + match compare {
                    Compare::Str(StrTest::Regex(_)) => 8,
                    Compare::Str(StrTest::Glob(..) | StrTest::IContains(_)) => 3,
                    Compare::Str(StrTest::PMatch(p)) => 1 + p.len() as u32 / 4,
                    _ => 0,
                }
        }
    }
}

impl Node {
    /// The condition as it is for events of type `evt_type`: every test of
    /// `evt.type` decided, and what they decide folded away. The engine keeps
    /// one such tree per rule and event type, so the `evt.type in (...)` that
    /// begins most rules costs nothing, and a rule that cannot match a type is
    /// not tested on it at all (`Const(false)`).
    pub fn specialize(&self, evt_type: &'static str) -> Node {
        match self {
            Self::All(items) | Self::Any(items) => {
                let all = matches!(self, Self::All(_));
                let mut kept = Vec::with_capacity(items.len());
                for item in items.iter() {
                    match item.specialize(evt_type) {
                        // true in an `and` and false in an `or` change nothing...
                        Self::Const(b) if b == all => {}
                        // ... false in an `and`, true in an `or` decide it.
                        Self::Const(b) => return Self::Const(b),
                        node => kept.push(node),
                    }
                }
                match kept.len() {
                    0 => Self::Const(all),
                    1 => kept.pop().unwrap_or(Self::Const(all)),
                    _ if all => Self::All(kept.into()),
                    _ => Self::Any(kept.into()),
                }
            }
            Self::Not(inner) => match inner.specialize(evt_type) {
                Self::Const(b) => Self::Const(!b),
                node => Self::Not(Box::new(node)),
            },
            Self::Cmp {
                access,
                compare,
                negate,
            } if access.id == access::Id::EvtType => Self::Const(
                compare
                    .holds(Val::Str(evt_type))
                    .is_some_and(|b| b != *negate),
            ),
            Self::Exists(access) if access.id == access::Id::EvtType => Self::Const(true),
            Self::Memo(id, inner) => match inner.specialize(evt_type) {
                Self::Const(b) => Self::Const(b),
                node => Self::Memo(*id, Box::new(node)),
            },
            other => other.clone(),
        }
    }

    /// Whether the condition holds for `s`.
    pub fn eval(&self, s: &Subject<'_>, scratch: &mut Scratch) -> bool {
        match self {
            Self::Const(b) => *b,
            Self::Memo(id, inner) => match scratch.memo(*id) {
                Some(known) => known,
                None => {
                    let value = inner.eval(s, scratch);
                    scratch.remember(*id, value);
                    value
                }
            },
            Self::All(items) => items.iter().all(|n| n.eval(s, scratch)),
            Self::Any(items) => items.iter().any(|n| n.eval(s, scratch)),
            Self::Not(inner) => !inner.eval(s, scratch),
            Self::Exists(a) => {
                scratch.fill(a, s);
                read(a, s, scratch) != Val::Absent
            }
            Self::Cmp {
                access,
                compare,
                negate,
            } => {
                scratch.fill(access, s);
                compare
                    .holds(read(access, s, scratch))
                    .is_some_and(|b| b != *negate)
            }
            Self::Fields { left, op, right } => {
                scratch.fill(left, s);
                scratch.fill(right, s);
                fields_hold(*op, read(left, s, scratch), read(right, s, scratch))
            }
        }
    }
}

fn fields_hold(op: CmpOp, a: Val<'_>, b: Val<'_>) -> bool {
    use std::cmp::Ordering;
    let number = |v: Val<'_>| match v {
        Val::Uint(u) => Some(i128::from(u)),
        Val::Int(i) => Some(i128::from(i)),
        _ => None,
    };
    let ord = match (a, b) {
        (Val::Absent, _) | (_, Val::Absent) => return false,
        (Val::Str(x), Val::Str(y)) => x.cmp(y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(&y),
        (Val::Ip(x), Val::Ip(y)) => x.cmp(&y),
        (Val::IpPair(..), _) | (_, Val::IpPair(..)) => return false,
        (Val::Caps(x), Val::Caps(y)) => x.cmp(&y),
        (x, y) => match (number(x), number(y)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => return false,
        },
    };
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
        _ => false,
    }
}
