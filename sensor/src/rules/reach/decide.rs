//! Comparisons whose field value the event's shape fixes (`evt.type`, an open's
//! read/write flags, its result): decided here, or left undecided (`None`) when
//! the operator or value is one this does not evaluate. Undecided is always safe.

use crate::rules::{CmpOp, Value};

/// `actual op value` for a string field whose value is known.
pub(super) fn string(op: CmpOp, value: &Value, actual: &str) -> Option<bool> {
    match (op, value) {
        (CmpOp::Eq, Value::Str(v)) => Some(actual == v),
        (CmpOp::Ne, Value::Str(v)) => Some(actual != v),
        (CmpOp::In, Value::List(vs)) => Some(vs.iter().any(|v| v == actual)),
        (CmpOp::StartsWith, Value::Str(v)) => Some(actual.starts_with(v.as_str())),
        (CmpOp::EndsWith, Value::Str(v)) => Some(actual.ends_with(v.as_str())),
        (CmpOp::Contains, Value::Str(v)) => Some(actual.contains(v.as_str())),
        (CmpOp::IContains, Value::Str(v)) => Some(
            actual
                .to_ascii_lowercase()
                .contains(&v.to_ascii_lowercase()),
        ),
        _ => None,
    }
}

/// `actual op value` for a boolean field: Falco spells the values `true` and `false`.
pub(super) fn boolean(op: CmpOp, value: &Value, actual: bool) -> Option<bool> {
    let parse = |v: &str| match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    match (op, value) {
        (CmpOp::Eq, Value::Str(v)) => parse(v).map(|v| v == actual),
        (CmpOp::Ne, Value::Str(v)) => parse(v).map(|v| v != actual),
        (CmpOp::In, Value::List(vs)) => {
            let vs: Option<Vec<bool>> = vs.iter().map(|v| parse(v)).collect();
            vs.map(|vs| vs.contains(&actual))
        }
        _ => None,
    }
}

/// `x op value` for an integer field known to lie in `lo..=hi`: decided when it
/// holds for all such `x` or for none.
pub(super) fn range(op: CmpOp, value: &Value, lo: i64, hi: i64) -> Option<bool> {
    let int = |v: &str| v.trim().parse::<i64>().ok();
    // The order operators are monotone in x: equal answers at both ends decide them.
    let ends = |at_lo: bool, at_hi: bool| (at_lo == at_hi).then_some(at_lo);
    match (op, value) {
        (CmpOp::Eq | CmpOp::Ne, Value::Str(v)) => {
            let v = int(v)?;
            let eq = if v < lo || v > hi {
                Some(false)
            } else {
                (lo == hi).then_some(true)
            };
            eq.map(|eq| eq == (op == CmpOp::Eq))
        }
        (CmpOp::In, Value::List(vs)) => {
            let vs: Option<Vec<i64>> = vs.iter().map(|v| int(v)).collect();
            let vs = vs?;
            if vs.iter().all(|&v| v < lo || v > hi) {
                Some(false)
            } else {
                (lo == hi).then_some(true)
            }
        }
        (CmpOp::Lt, Value::Str(v)) => int(v).and_then(|v| ends(lo < v, hi < v)),
        (CmpOp::Le, Value::Str(v)) => int(v).and_then(|v| ends(lo <= v, hi <= v)),
        (CmpOp::Gt, Value::Str(v)) => int(v).and_then(|v| ends(lo > v, hi > v)),
        (CmpOp::Ge, Value::Str(v)) => int(v).and_then(|v| ends(lo >= v, hi >= v)),
        _ => None,
    }
}
