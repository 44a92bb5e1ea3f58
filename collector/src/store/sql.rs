//! Filters as SQL over the `findings` table. Only fixed SQL text comes from
//! here: every value, and every field name read from a finding, is a bound
//! parameter, so a filter from a client cannot change the statement.
//!
//! Fields with a column of their own (`rule`, `priority`, `node`, `k8s.ns.name`,
//! ...) use it and its index; other catalogue fields are read from the stored
//! finding with `field(body, name [, key])` (see the store's functions). Comparisons follow Falco's: a field the finding does
//! not have makes every comparison false (and `not` of it true), so each leaf is
//! wrapped in `COALESCE(..., 0)` under a `not`, against SQL's third truth value.

use rusqlite::types::Value as Sql;
use sensor_proto::v1::Priority;

use crate::filter::{Expr, Field, FilterError, Op, Operand};

/// A piece of a `WHERE` clause and its parameters, in order.
#[derive(Debug, Default)]
pub(super) struct Clause {
    pub(super) sql: String,
    pub(super) params: Vec<Sql>,
}

/// Fields with their own column.
const COLUMNS: &[(&str, &str)] = &[
    ("rule", "rule"),
    ("priority", "priority"),
    ("node", "node"),
    ("hostname", "node"),
    ("source", "source"),
    ("id", "id"),
    ("uuid", "id"),
    ("k8s.ns.name", "namespace"),
    ("k8s.pod.name", "pod"),
    ("container.id", "container_id"),
    ("proc.name", "proc_name"),
    ("fd.name", "fd_name"),
];

/// Catalogue families read from a finding's fields.
const FAMILIES: &[&str] = &[
    "evt.",
    "proc.",
    "thread.",
    "user.",
    "group.",
    "container.",
    "k8s.",
    "fd.",
    "fs.",
    "cgroup.",
];

/// What filters may name, for errors and for clients' help.
pub fn field_names() -> &'static str {
    "rule, priority, node (hostname), source, id (uuid), tags, and the sensor's \
     catalogue fields: evt.*, proc.*, thread.*, user.*, group.*, container.*, k8s.* \
     (k8s.pod.label[KEY] too), fd.*, fs.*, cgroup.*"
}

fn unsupported(field: &Field, offset: usize) -> FilterError {
    FilterError::UnsupportedField {
        field: field.to_string(),
        offset,
        supported: field_names(),
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::In => "in",
        Op::Contains => "contains",
        Op::IContains => "icontains",
        Op::StartsWith => "startswith",
        Op::EndsWith => "endswith",
    }
}

/// The SQL for a filter.
pub(super) fn translate(expr: &Expr) -> Result<Clause, FilterError> {
    let mut c = Clause::default();
    write(&mut c, expr, false)?;
    Ok(c)
}

/// Writes `expr`; `negated` when it is under a `not`. Outside one, a leaf that
/// is NULL (the field is missing) already acts as false in `WHERE`, since
/// `and` and `or` alone never turn unknown into true; so the leaf is written
/// bare and an index on its column can answer it. Under a `not` it must be
/// false, not unknown, for `not` to make it true: there it is wrapped.
fn write(c: &mut Clause, expr: &Expr, negated: bool) -> Result<(), FilterError> {
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            let joint = if matches!(expr, Expr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            c.sql.push('(');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    c.sql.push_str(joint);
                }
                write(c, item, negated)?;
            }
            c.sql.push(')');
        }
        Expr::Not(inner) => {
            c.sql.push_str("(NOT ");
            write(c, inner, true)?;
            c.sql.push(')');
        }
        Expr::Exists { field, offset } => {
            c.sql.push('(');
            subject(c, field, *offset)?;
            c.sql.push_str(" IS NOT NULL)");
        }
        Expr::Compare {
            field,
            op,
            value,
            offset,
        } => {
            c.sql.push_str(if negated { "COALESCE(" } else { "(" });
            if field.name == "priority" && field.arg.is_none() {
                priority(c, field, *op, value, *offset)?;
            } else if field.name == "tags" && field.arg.is_none() {
                tags(c, field, *op, value, *offset)?;
            } else {
                compare(c, field, *op, value, *offset)?;
            }
            c.sql.push_str(if negated { ", 0)" } else { ")" });
        }
    }
    Ok(())
}

/// Whether the field is a JSON value (typed) rather than a text column.
fn subject(c: &mut Clause, field: &Field, offset: usize) -> Result<bool, FilterError> {
    if field.arg.is_none()
        && let Some((_, column)) = COLUMNS.iter().find(|(name, _)| *name == field.name)
    {
        c.sql.push_str(column);
        return Ok(false);
    }
    if !FAMILIES.iter().any(|f| field.name.starts_with(f)) {
        return Err(unsupported(field, offset));
    }
    match (&field.name[..], &field.arg) {
        // The sensor sends a pod's labels as one map field.
        ("k8s.pod.label", Some(arg)) => {
            c.sql.push_str("field(body, ?, ?)");
            c.params.push(Sql::Text("k8s.pod.labels".into()));
            c.params.push(Sql::Text(arg.clone()));
        }
        // Fields with an argument are sent under their full name: `proc.aname[2]`.
        (name, Some(arg)) => {
            c.sql.push_str("field(body, ?)");
            c.params.push(Sql::Text(format!("{name}[{arg}]")));
        }
        (name, None) => {
            c.sql.push_str("field(body, ?)");
            c.params.push(Sql::Text(name.to_owned()));
        }
    }
    Ok(true)
}

/// The SQL values a filter's text may equal in JSON: the text, and the number
/// or boolean it spells (JSON keeps `8653` and `"8653"` apart; a filter does not).
fn candidates(text: &str) -> Vec<Sql> {
    let mut out = vec![Sql::Text(text.to_owned())];
    if let Ok(i) = text.parse::<i64>() {
        out.push(Sql::Integer(i));
    } else if let Ok(u) = text.parse::<u64>() {
        // Beyond i64: SQLite keeps such JSON numbers as reals.
        out.push(Sql::Real(u as f64));
    } else if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        out.push(Sql::Real(f));
    } else if text == "true" {
        out.push(Sql::Integer(1));
    } else if text == "false" {
        out.push(Sql::Integer(0));
    }
    out
}

/// The value an ordering comparison binds: a number when the text is one.
fn ordered(text: &str) -> Sql {
    if let Ok(i) = text.parse::<i64>() {
        Sql::Integer(i)
    } else if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        Sql::Real(f)
    } else {
        Sql::Text(text.to_owned())
    }
}

fn one<'a>(
    field: &Field,
    op: Op,
    value: &'a Operand,
    offset: usize,
) -> Result<&'a str, FilterError> {
    match value {
        Operand::One(v) => Ok(v),
        Operand::List(_) => Err(FilterError::UnsupportedOperator {
            op: op_name(op).into(),
            field: field.to_string(),
            offset,
        }),
    }
}

fn placeholders(c: &mut Clause, values: Vec<Sql>) {
    c.sql.push('(');
    for (i, v) in values.into_iter().enumerate() {
        c.sql.push_str(if i == 0 { "?" } else { ", ?" });
        c.params.push(v);
    }
    c.sql.push(')');
}

fn compare(
    c: &mut Clause,
    field: &Field,
    op: Op,
    value: &Operand,
    offset: usize,
) -> Result<(), FilterError> {
    // The subject's SQL, written once per use with its own parameters.
    let mut subj = Clause::default();
    let typed = subject(&mut subj, field, offset)?;
    let put_subject = |c: &mut Clause| {
        c.sql.push_str(&subj.sql);
        c.params.extend(subj.params.iter().cloned());
    };
    let eq_values = |v: &str| {
        if typed {
            candidates(v)
        } else {
            vec![Sql::Text(v.to_owned())]
        }
    };
    match op {
        Op::Eq | Op::Ne => {
            let v = one(field, op, value, offset)?;
            c.sql.push('(');
            if op == Op::Ne {
                put_subject(c);
                c.sql.push_str(" IS NOT NULL AND ");
            }
            put_subject(c);
            c.sql
                .push_str(if op == Op::Eq { " IN " } else { " NOT IN " });
            placeholders(c, eq_values(v));
            c.sql.push(')');
        }
        Op::In => {
            let Operand::List(items) = value else {
                return Err(FilterError::UnsupportedOperator {
                    op: "in".into(),
                    field: field.to_string(),
                    offset,
                });
            };
            if items.is_empty() {
                c.sql.push('0');
                return Ok(());
            }
            put_subject(c);
            c.sql.push_str(" IN ");
            placeholders(c, items.iter().flat_map(|v| eq_values(v)).collect());
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let v = one(field, op, value, offset)?;
            put_subject(c);
            c.sql.push(' ');
            c.sql.push_str(op_name(op));
            c.sql.push_str(" ?");
            c.params.push(if typed {
                ordered(v)
            } else {
                Sql::Text(v.to_owned())
            });
        }
        Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith => {
            let v = one(field, op, value, offset)?;
            if v.is_empty() {
                c.sql.push('(');
                put_subject(c);
                c.sql.push_str(" IS NOT NULL)");
                return Ok(());
            }
            let needle = Sql::Text(v.to_owned());
            match op {
                Op::Contains => {
                    c.sql.push_str("instr(");
                    put_subject(c);
                    c.sql.push_str(", ?) > 0");
                    c.params.push(needle);
                }
                Op::IContains => {
                    c.sql.push_str("instr(lower(");
                    put_subject(c);
                    c.sql.push_str("), lower(?)) > 0");
                    c.params.push(needle);
                }
                Op::StartsWith => {
                    c.sql.push_str("substr(");
                    put_subject(c);
                    c.sql.push_str(", 1, length(?)) = ?");
                    c.params.extend([needle.clone(), needle]);
                }
                _ => {
                    c.sql.push_str("substr(");
                    put_subject(c);
                    c.sql.push_str(", -length(?)) = ?");
                    c.params.extend([needle.clone(), needle]);
                }
            }
        }
    }
    Ok(())
}

/// `priority`: by name, ordered by severity, so `priority >= warning` is
/// Warning or anything more severe, as with Falco's minimum priority. The column
/// holds the protobuf number, which is lower for more severe.
fn priority(
    c: &mut Clause,
    field: &Field,
    op: Op,
    value: &Operand,
    offset: usize,
) -> Result<(), FilterError> {
    let level = |v: &str| {
        Priority::from_falco_name(v)
            .map(|p| Sql::Integer(i64::from(p as i32)))
            .ok_or_else(|| FilterError::BadValue {
                field: field.to_string(),
                value: v.to_owned(),
                offset,
            })
    };
    let sql_op = match op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Gt => "<",
        Op::Ge => "<=",
        Op::Lt => ">",
        Op::Le => ">=",
        Op::In => {
            let Operand::List(items) = value else {
                return Err(FilterError::UnsupportedOperator {
                    op: "in".into(),
                    field: field.to_string(),
                    offset,
                });
            };
            if items.is_empty() {
                c.sql.push('0');
                return Ok(());
            }
            c.sql.push_str("priority IN ");
            let levels = items.iter().map(|v| level(v)).collect::<Result<_, _>>()?;
            placeholders(c, levels);
            return Ok(());
        }
        _ => {
            return Err(FilterError::UnsupportedOperator {
                op: op_name(op).into(),
                field: field.to_string(),
                offset,
            });
        }
    };
    let v = level(one(field, op, value, offset)?)?;
    c.sql.push_str("priority ");
    c.sql.push_str(sql_op);
    c.sql.push_str(" ?");
    c.params.push(v);
    Ok(())
}

/// `tags`: a finding has several, and `=`, `contains` and `in` all ask whether
/// one of them is the value (Falco's `tags contains T1059`).
fn tags(
    c: &mut Clause,
    field: &Field,
    op: Op,
    value: &Operand,
    offset: usize,
) -> Result<(), FilterError> {
    let values: Vec<Sql> = match (op, value) {
        (Op::Eq | Op::Contains, Operand::One(v)) => vec![Sql::Text(v.clone())],
        (Op::In, Operand::List(items)) => items.iter().map(|v| Sql::Text(v.clone())).collect(),
        _ => {
            return Err(FilterError::UnsupportedOperator {
                op: op_name(op).into(),
                field: field.to_string(),
                offset,
            });
        }
    };
    if values.is_empty() {
        c.sql.push('0');
        return Ok(());
    }
    c.sql
        .push_str("EXISTS (SELECT 1 FROM json_each(findings.tags) WHERE json_each.value IN ");
    placeholders(c, values);
    c.sql.push(')');
    Ok(())
}
