//! Rule exceptions folded into the condition, as Falco compiles them, so the
//! engine evaluates one tree: each exception becomes `and not (...)`. With one
//! field, `values` is a list and the comparison defaults to `in` (with a
//! one-value operator such as `startswith`, any of the values matches); with a
//! list of fields, each value is a tuple matched field by field, `=` by default.
//! A value that names a list stands for its items, as in a condition.

use std::collections::HashMap;

use super::{
    Exception, ExceptionValue, OneOrMany,
    ast::{CmpOp, Expr, FieldRef, Value},
};

/// `condition` with every exception of the rule added as `and not (...)`.
/// The error text names the exception; the caller adds the rule.
pub(crate) fn fold(
    condition: Expr,
    exceptions: &[Exception],
    lists: &HashMap<String, Vec<String>>,
) -> Result<Expr, String> {
    let mut clauses = Vec::new();
    for e in exceptions {
        if let Some(clause) =
            exception(e, lists).map_err(|p| format!("exception `{}`: {p}", e.name))?
        {
            clauses.push(Expr::Not(Box::new(clause)));
        }
    }
    if clauses.is_empty() {
        return Ok(condition);
    }
    Ok(match condition {
        Expr::And(mut xs) => {
            xs.extend(clauses);
            Expr::And(xs)
        }
        other => {
            clauses.insert(0, other);
            Expr::And(clauses)
        }
    })
}

fn field(name: &str) -> Result<FieldRef, String> {
    let raw = super::parse_condition(&format!("{name} exists"))
        .map_err(|_| format!("`{name}` is not a field"))?;
    match raw {
        Expr::Exists(f) => Ok(f),
        _ => Err(format!("`{name}` is not a field")),
    }
}

fn op(text: &str) -> Result<CmpOp, String> {
    CmpOp::from_text(text.trim()).ok_or_else(|| format!("`{text}` is not a comparison operator"))
}

/// Scalars, with list names replaced by their items.
fn items(v: &ExceptionValue, lists: &HashMap<String, Vec<String>>, out: &mut Vec<String>) {
    match v {
        ExceptionValue::Scalar(s) => match lists.get(s) {
            Some(xs) => out.extend(xs.iter().cloned()),
            None => out.push(s.clone()),
        },
        ExceptionValue::List(xs) => xs.iter().for_each(|x| items(x, lists, out)),
    }
}

fn compare(
    f: &FieldRef,
    op: CmpOp,
    v: &ExceptionValue,
    lists: &HashMap<String, Vec<String>>,
) -> Result<Expr, String> {
    let value = if op.takes_list() {
        let mut out = Vec::new();
        items(v, lists, &mut out);
        Value::List(out)
    } else {
        match v {
            ExceptionValue::Scalar(s) => Value::Str(s.clone()),
            ExceptionValue::List(_) => {
                return Err(format!(
                    "a list given to `{}`, which takes one value",
                    op.as_str()
                ));
            }
        }
    };
    Ok(Expr::Compare {
        field: f.clone(),
        op,
        value,
    })
}

/// The exception's clause, `None` when it has no values (it excepts nothing).
fn exception(e: &Exception, lists: &HashMap<String, Vec<String>>) -> Result<Option<Expr>, String> {
    if e.values.is_empty() {
        return Ok(None);
    }
    match &e.fields {
        OneOrMany::One(name) => {
            let f = field(name)?;
            let op = match &e.comps {
                None => CmpOp::In,
                Some(OneOrMany::One(c)) => op(c)?,
                Some(OneOrMany::Many(_)) => {
                    return Err("one field needs one comparison in `comps`".into());
                }
            };
            if op.takes_list() {
                return compare(&f, op, &ExceptionValue::List(e.values.clone()), lists).map(Some);
            }
            let alts = e
                .values
                .iter()
                .map(|v| compare(&f, op, v, lists))
                .collect::<Result<_, _>>()?;
            Ok(Some(Expr::Or(alts)))
        }
        OneOrMany::Many(names) => {
            let fields = names
                .iter()
                .map(|n| field(n))
                .collect::<Result<Vec<_>, _>>()?;
            let ops = match &e.comps {
                None => vec![CmpOp::Eq; fields.len()],
                Some(OneOrMany::Many(cs)) if cs.len() == fields.len() => {
                    cs.iter().map(|c| op(c)).collect::<Result<_, _>>()?
                }
                Some(_) => {
                    return Err(format!(
                        "`comps` needs one comparison for each of the {} fields",
                        fields.len()
                    ));
                }
            };
            let mut alts = Vec::new();
            for v in &e.values {
                let ExceptionValue::List(tuple) = v else {
                    return Err("with a list of fields, each value must be a list (a tuple)".into());
                };
                if tuple.len() != fields.len() {
                    return Err(format!(
                        "a value has {} items for {} fields",
                        tuple.len(),
                        fields.len()
                    ));
                }
                let parts = fields
                    .iter()
                    .zip(&ops)
                    .zip(tuple)
                    .map(|((f, op), v)| compare(f, *op, v, lists))
                    .collect::<Result<_, _>>()?;
                alts.push(Expr::And(parts));
            }
            Ok(Some(Expr::Or(alts)))
        }
    }
}
