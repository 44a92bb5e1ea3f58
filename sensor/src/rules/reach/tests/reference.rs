//! The reference the random tests check the plan against: conditions
//! evaluated with Falco's semantics on concrete events (field values from the
//! sensor's own event types, as `output/json.rs` prints them), and a model of
//! the kernel's open and port filters.

use sensor_common::filters::{PREFIX_MAX, access};

use super::*;
use crate::{
    event::{Net, NetOp, Open, file::result_text},
    rules::{CmpOp, Expr, Value},
};

/// A field's value on an event, as the sensor reports it; `None` when absent.
#[derive(Debug)]
pub(super) enum V {
    /// A string.
    Str(String),
    /// A number.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

/// The reference: Falco's semantics, where a comparison of an absent field is false.
pub(super) fn holds(expr: &Expr, value_of: &dyn Fn(&str) -> Option<V>) -> bool {
    match expr {
        Expr::And(xs) => xs.iter().all(|x| holds(x, value_of)),
        Expr::Or(xs) => xs.iter().any(|x| holds(x, value_of)),
        Expr::Not(x) => !holds(x, value_of),
        Expr::Exists(f) => value_of(&f.name).is_some(),
        Expr::Compare { field, op, value } => {
            let Some(actual) = value_of(&field.name) else {
                return false;
            };
            compare(&actual, *op, value)
        }
    }
}

fn compare(actual: &V, op: CmpOp, value: &Value) -> bool {
    let one = |v: &Value| match v {
        Value::Str(s) => s.clone(),
        _ => panic!("unexpected value {v:?}"),
    };
    let many = |v: &Value| match v {
        Value::List(xs) => xs.clone(),
        Value::Str(s) => vec![s.clone()],
        Value::Field(_) => panic!("unexpected value {v:?}"),
    };
    match actual {
        V::Str(a) => match op {
            CmpOp::Eq => *a == one(value),
            CmpOp::Ne => *a != one(value),
            CmpOp::In => many(value).contains(a),
            CmpOp::StartsWith => a.starts_with(&one(value)),
            CmpOp::EndsWith => a.ends_with(&one(value)),
            CmpOp::Contains => a.contains(&one(value)),
            CmpOp::Glob => glob(one(value).as_bytes(), a.as_bytes()),
            CmpOp::PMatch => many(value).iter().any(|entry| pmatch(entry, a)),
            _ => panic!("operator {op:?} not generated"),
        },
        V::Int(a) => {
            let n = |v: String| v.parse::<i64>().expect("a number");
            match op {
                CmpOp::Eq => *a == n(one(value)),
                CmpOp::Ne => *a != n(one(value)),
                CmpOp::Lt => *a < n(one(value)),
                CmpOp::Ge => *a >= n(one(value)),
                CmpOp::Gt => *a > n(one(value)),
                CmpOp::In => many(value).into_iter().map(n).any(|v| v == *a),
                _ => panic!("operator {op:?} not generated"),
            }
        }
        V::Bool(a) => match op {
            CmpOp::Eq => a.to_string() == one(value),
            CmpOp::Ne => a.to_string() != one(value),
            _ => panic!("operator {op:?} not generated"),
        },
    }
}

/// `*` any bytes (also '/'), `?` one byte, as Falco's glob.
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match pattern.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((&p, rest)) => s
            .split_first()
            .is_some_and(|(&c, tail)| (p == b'?' || p == c) && glob(rest, tail)),
    }
}

/// Falco's pmatch: the entry's components start the path's, empty ones
/// skipped, a component with a wildcard matched by glob.
fn pmatch(entry: &str, path: &str) -> bool {
    let comps = |s: &str| -> Vec<String> {
        s.split('/')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let (e, p) = (comps(entry), comps(path));
    e.len() <= p.len()
        && e.iter()
            .zip(&p)
            .all(|(e, p)| glob(e.as_bytes(), p.as_bytes()))
}

pub(super) fn open_value(open: &Open, field: &str) -> Option<V> {
    Some(match field {
        "evt.type" => V::Str(open.syscall.name().into()),
        "fd.name" => V::Str(open.path.clone()),
        "fd.directory" => V::Str(open.directory().into()),
        "fd.filename" => V::Str(open.filename().into()),
        "fd.num" if open.result >= 0 => V::Int(open.result),
        "fd.typechar" => V::Str(open.typechar()?.to_string()),
        "evt.rawres" => V::Int(open.result),
        "evt.res" => V::Str(result_text(open.result)),
        "evt.arg.flags" => V::Str(open.flags_text()),
        "evt.is_open_read" => V::Bool(open.is_read()),
        "evt.is_open_write" => V::Bool(open.is_write()),
        "proc.name" => V::Str("a".into()),
        _ => return None,
    })
}

/// The kernel's verdict on a complete (not cut) open under `plan`
/// (sensor-ebpf `file/open.rs` and `file/filter.rs`).
pub(super) fn kernel_reports_open(plan: &KernelPlan, open: &Open) -> bool {
    if !plan.has(EventKind::Open) {
        return false;
    }
    let Some(filter) = &plan.open else {
        return true;
    };
    let entries = filter.entries().expect("the kernel takes the plan");
    let bytes = open.path.as_bytes();
    let judged = &bytes[..bytes.len().min(PREFIX_MAX)];
    let bits = entries
        .iter()
        .filter(|(prefix, _)| judged.starts_with(prefix.as_bytes()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(0, |(_, bits)| *bits)
        // Only a successful open is judged by its file's name.
        | if open.result >= 0 {
            filter
                .name_entries()
                .expect("the kernel takes the plan's names")
                .get(open.filename())
                .copied()
                .unwrap_or(0)
        } else {
            0
        };
    // A successful open is judged by its file's f_flags, where Linux has
    // cleared the access mode of an O_PATH open; a failed one by its flags.
    let o_path = libc::O_PATH as u32;
    let flags = if open.result >= 0 && open.flags & o_path != 0 {
        open.flags & !3
    } else {
        open.flags
    };
    let wanted = match flags & 3 {
        0 => access::READ,
        1 => access::WRITE,
        _ => access::READ | access::WRITE,
    };
    bits & wanted != 0
}

pub(super) fn net_value(net: &Net, field: &str) -> Option<V> {
    let port = |p: u16| Some(V::Int(i64::from(p)));
    let ends = net.client_server();
    match field {
        "evt.type" => Some(V::Str(
            match net.op {
                NetOp::Connect => "connect",
                NetOp::Accept => "accept",
                NetOp::Listen => "listen",
                NetOp::Bind => "bind",
            }
            .into(),
        )),
        "fd.lport" => port(net.local.port()),
        "fd.rport" => ends.and_then(|_| port(net.remote.port())),
        "fd.cport" => ends.and_then(|(client, _)| port(client.port())),
        "fd.sport" => ends.and_then(|(_, server)| port(server.port())),
        "proc.name" => Some(V::Str("a".into())),
        _ => None,
    }
}

pub(super) fn net_kind(op: NetOp) -> EventKind {
    match op {
        NetOp::Connect => EventKind::Connect,
        NetOp::Accept => EventKind::Accept,
        NetOp::Listen => EventKind::Listen,
        NetOp::Bind => EventKind::Bind,
    }
}
