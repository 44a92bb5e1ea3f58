//! Macro and list expansion: turns a parsed condition into an [`Expr`] with no
//! names left in it. Lists are resolved once, each to its flat items; macros are
//! expanded on first use and remembered, so a macro used by every rule is expanded
//! once. Cycles are reported with their path, and the expanded tree's depth and
//! size are bounded, because macros used twice at each of 40 levels would
//! otherwise expand to 2^40 nodes.

use std::collections::HashMap;

use super::{
    ast::{Expr, Value},
    error::{Kind, SyntaxError},
    lexer::unquote_item,
    parser::{Raw, RawItem, RawValue},
};

/// The deepest expanded condition (parser nesting plus one level per macro use).
pub const MAX_EXPANDED_DEPTH: usize = 250;
/// The most nodes (comparisons and operators) one expanded condition may have.
pub const MAX_NODES: usize = 100_000;
/// The most items one list may resolve to.
pub const MAX_LIST_ITEMS: usize = 100_000;
/// The deepest chain of lists naming lists.
const MAX_LIST_NESTING: usize = 64;

/// Why a condition or list could not be expanded.
#[derive(Debug)]
pub(crate) enum ExpandError {
    /// `name` is not defined; `offset` is in the condition of `owner` (a macro
    /// name), or of the item being expanded when `owner` is `None`.
    Undefined {
        what: Kind,
        name: String,
        offset: usize,
        owner: Option<String>,
    },
    /// The first name is repeated at the end.
    Cycle { kind: Kind, cycle: Vec<String> },
    /// A list item opens a quote it does not close, or the like.
    BadItem { list: String, error: SyntaxError },
    /// A limit was hit; the text says which.
    TooLarge(String),
}

/// Resolves every list to its flat items, in the order written.
pub(crate) fn resolve_lists(
    defs: &HashMap<String, Vec<String>>,
) -> Result<HashMap<String, Vec<String>>, (String, ExpandError)> {
    let mut done = HashMap::new();
    let mut names: Vec<&String> = defs.keys().collect();
    // Sorted so that the error reported for a broken set is the same every run.
    names.sort();
    for name in names {
        let mut stack = Vec::new();
        resolve_list(name, defs, &mut done, &mut stack).map_err(|e| (name.clone(), e))?;
    }
    Ok(done)
}

fn resolve_list(
    name: &str,
    defs: &HashMap<String, Vec<String>>,
    done: &mut HashMap<String, Vec<String>>,
    stack: &mut Vec<String>,
) -> Result<(), ExpandError> {
    if done.contains_key(name) {
        return Ok(());
    }
    if let Some(i) = stack.iter().position(|n| n == name) {
        let mut cycle = stack[i..].to_vec();
        cycle.push(name.to_owned());
        return Err(ExpandError::Cycle {
            kind: Kind::List,
            cycle,
        });
    }
    if stack.len() >= MAX_LIST_NESTING {
        return Err(ExpandError::TooLarge(format!(
            "lists nested more than {MAX_LIST_NESTING} deep"
        )));
    }
    let Some(items) = defs.get(name) else {
        return Ok(());
    };
    stack.push(name.to_owned());
    let mut out = Vec::new();
    for item in items {
        match unquote_item(item) {
            Some(Ok(s)) => out.push(s),
            Some(Err(error)) => {
                return Err(ExpandError::BadItem {
                    list: name.to_owned(),
                    error,
                });
            }
            None if defs.contains_key(item.as_str()) => {
                resolve_list(item, defs, done, stack)?;
                out.extend(done.get(item.as_str()).into_iter().flatten().cloned());
            }
            None => out.push(item.clone()),
        }
        if out.len() > MAX_LIST_ITEMS {
            return Err(ExpandError::TooLarge(format!(
                "list `{name}` has more than {MAX_LIST_ITEMS} items"
            )));
        }
    }
    stack.pop();
    done.insert(name.to_owned(), out);
    Ok(())
}

/// An expanded subtree with its size and height.
#[derive(Clone)]
struct Sized {
    expr: Expr,
    nodes: usize,
    height: usize,
}

/// Expands conditions against one set of macros and resolved lists.
pub(crate) struct Expander<'a> {
    macros: &'a HashMap<String, Raw>,
    lists: &'a HashMap<String, Vec<String>>,
    done: HashMap<String, Sized>,
    stack: Vec<String>,
}

impl<'a> Expander<'a> {
    /// An expander over parsed macros and resolved lists.
    pub(crate) fn new(
        macros: &'a HashMap<String, Raw>,
        lists: &'a HashMap<String, Vec<String>>,
    ) -> Self {
        Self {
            macros,
            lists,
            done: HashMap::new(),
            stack: Vec::new(),
        }
    }

    /// Expands one condition.
    pub(crate) fn expand(&mut self, raw: &Raw) -> Result<Expr, ExpandError> {
        self.expr(raw, 0).map(|s| s.expr)
    }

    /// Expands the macro `name` as if it were a rule's whole condition.
    pub(crate) fn expand_macro(&mut self, name: &str) -> Result<Expr, ExpandError> {
        self.use_macro(name, 0, 0).map(|s| s.expr)
    }

    fn owner(&self) -> Option<String> {
        self.stack.last().cloned()
    }

    /// `depth` is how deep the recursion is, which bounds the output's height.
    fn expr(&mut self, raw: &Raw, depth: usize) -> Result<Sized, ExpandError> {
        if depth > MAX_EXPANDED_DEPTH {
            return Err(ExpandError::TooLarge(format!(
                "nested more than {MAX_EXPANDED_DEPTH} deep"
            )));
        }
        let leaf = |expr| Sized {
            expr,
            nodes: 1,
            height: 1,
        };
        Ok(match raw {
            Raw::And(xs) | Raw::Or(xs) => {
                let mut out = Vec::with_capacity(xs.len());
                let (mut nodes, mut height) = (1, 0);
                for x in xs {
                    let s = self.expr(x, depth + 1)?;
                    nodes = self.count(nodes, s.nodes)?;
                    height = height.max(s.height);
                    out.push(s.expr);
                }
                let expr = if matches!(raw, Raw::And(_)) {
                    Expr::And(out)
                } else {
                    Expr::Or(out)
                };
                Sized {
                    expr,
                    nodes,
                    height: height + 1,
                }
            }
            Raw::Not(x) => {
                let s = self.expr(x, depth + 1)?;
                Sized {
                    expr: Expr::Not(Box::new(s.expr)),
                    nodes: self.count(1, s.nodes)?,
                    height: s.height + 1,
                }
            }
            Raw::Exists(f) => leaf(Expr::Exists(f.clone())),
            Raw::Compare { field, op, value } => leaf(Expr::Compare {
                field: field.clone(),
                op: *op,
                value: self.value(value)?,
            }),
            Raw::Macro { name, offset } => self.use_macro(name, *offset, depth)?,
        })
    }

    fn count(&self, a: usize, b: usize) -> Result<usize, ExpandError> {
        let n = a.saturating_add(b);
        if n > MAX_NODES {
            return Err(ExpandError::TooLarge(format!(
                "more than {MAX_NODES} nodes"
            )));
        }
        Ok(n)
    }

    fn use_macro(&mut self, name: &str, offset: usize, depth: usize) -> Result<Sized, ExpandError> {
        if let Some(s) = self.done.get(name) {
            if depth + s.height > MAX_EXPANDED_DEPTH {
                return Err(ExpandError::TooLarge(format!(
                    "nested more than {MAX_EXPANDED_DEPTH} deep"
                )));
            }
            return Ok(s.clone());
        }
        if let Some(i) = self.stack.iter().position(|n| n == name) {
            let mut cycle = self.stack[i..].to_vec();
            cycle.push(name.to_owned());
            return Err(ExpandError::Cycle {
                kind: Kind::Macro,
                cycle,
            });
        }
        let Some(raw) = self.macros.get(name) else {
            return Err(ExpandError::Undefined {
                what: Kind::Macro,
                name: name.to_owned(),
                offset,
                owner: self.owner(),
            });
        };
        self.stack.push(name.to_owned());
        let s = self.expr(raw, depth + 1)?;
        self.stack.pop();
        self.done.insert(name.to_owned(), s.clone());
        Ok(s)
    }

    fn value(&self, v: &RawValue) -> Result<Value, ExpandError> {
        Ok(match v {
            RawValue::Str(s) => Value::Str(s.clone()),
            RawValue::Field(f) => Value::Field(f.clone()),
            RawValue::ListName { name, offset } => {
                let items = self.lists.get(name).ok_or_else(|| ExpandError::Undefined {
                    what: Kind::List,
                    name: name.clone(),
                    offset: *offset,
                    owner: self.owner(),
                })?;
                Value::List(items.clone())
            }
            RawValue::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        RawItem::Quoted(s) => out.push(s.clone()),
                        RawItem::Bare(s) => match self.lists.get(s) {
                            Some(xs) => out.extend(xs.iter().cloned()),
                            None => out.push(s.clone()),
                        },
                    }
                    if out.len() > MAX_LIST_ITEMS {
                        return Err(ExpandError::TooLarge(format!(
                            "a list of more than {MAX_LIST_ITEMS} items"
                        )));
                    }
                }
                Value::List(out)
            }
        })
    }
}

impl Expander<'_> {
    /// Whether a rule's expansion has used the macro `name`.
    pub(crate) fn is_done(&self, name: &str) -> bool {
        self.done.contains_key(name)
    }
}
