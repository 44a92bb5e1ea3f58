//! Ports of network events, the one port per event the kernel's port filter
//! tests (sensor-ebpf `net/connect.rs`): the port a connect asks for, the local
//! port of an accepted or listening socket, the port a bind asks for. A rule's
//! port comparison narrows the filter only where its field is that same port.

use std::collections::BTreeSet;

use super::{decide, lattice::Atom, lattice::Lattice};
use crate::{
    event::EventKind,
    rules::{CmpOp, Expr, Value},
};

/// Ports of network events, over-approximated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ports {
    /// No event.
    Nothing,
    /// Events on these ports.
    Only(BTreeSet<u16>),
    /// Events on any port.
    All,
}

impl Ports {
    /// Events on these ports: none for an empty set.
    fn only(ports: BTreeSet<u16>) -> Self {
        if ports.is_empty() {
            Self::Nothing
        } else {
            Self::Only(ports)
        }
    }
}

impl Lattice for Ports {
    fn nothing() -> Self {
        Self::Nothing
    }

    fn all() -> Self {
        Self::All
    }

    fn is_nothing(&self) -> bool {
        *self == Self::Nothing
    }

    fn join(self, other: Self) -> Self {
        match (self, other) {
            (Self::All, _) | (_, Self::All) => Self::All,
            (Self::Nothing, x) | (x, Self::Nothing) => x,
            (Self::Only(mut a), Self::Only(b)) => {
                a.extend(b);
                Self::Only(a)
            }
        }
    }

    fn meet(self, other: Self) -> Self {
        match (self, other) {
            (Self::Nothing, _) | (_, Self::Nothing) => Self::Nothing,
            (Self::All, x) | (x, Self::All) => x,
            (Self::Only(a), Self::Only(b)) => Self::only(a.intersection(&b).copied().collect()),
        }
    }
}

/// Whether `field` is the port the kernel tests for events of `kind`: on a
/// connect the remote one, which is the server's (`fd.rport`, `fd.sport`); on
/// an accept the local one, also the server's (`fd.lport`, `fd.sport`); on a
/// listen or a bind the local one (`fd.lport`; Falco gives these no server).
fn is_tested_port(kind: EventKind, field: &str) -> bool {
    match kind {
        EventKind::Connect => matches!(field, "fd.rport" | "fd.sport"),
        EventKind::Accept => matches!(field, "fd.lport" | "fd.sport"),
        EventKind::Listen | EventKind::Bind => field == "fd.lport",
        _ => false,
    }
}

/// What `expr` is for every network event of `kind` whose type is `evt_type`.
pub(super) fn atom(kind: EventKind, evt_type: &str, expr: &Expr) -> Atom<Ports> {
    let Expr::Compare { field, op, value } = expr else {
        return Atom::Unknown;
    };
    if field.arg.is_some() {
        return Atom::Unknown;
    }
    if field.name == "evt.type" {
        return decide::string(*op, value, evt_type).map_or(Atom::Unknown, Atom::Decided);
    }
    if !is_tested_port(kind, &field.name) {
        return Atom::Unknown;
    }
    let port = |v: &String| v.trim().parse::<u16>().ok();
    let ports: Option<BTreeSet<u16>> = match (op, value) {
        (CmpOp::Eq, Value::Str(v)) => port(v).map(|p| BTreeSet::from([p])),
        (CmpOp::In, Value::List(vs)) => vs.iter().map(port).collect(),
        _ => None,
    };
    match ports {
        // `in ()` holds for no port: not even a bind to 0 can match it.
        Some(ports) if ports.is_empty() => Atom::Within(Ports::Nothing),
        Some(mut ports) => {
            if kind == EventKind::Bind {
                // A bind to port 0 is tested as 0 but reported with the port
                // the kernel picked, which any fd.lport may name.
                ports.insert(0);
            }
            Atom::Within(Ports::only(ports))
        }
        None => Atom::Unknown,
    }
}

/// What `expr` is for every event of a kind without a filter of its own.
pub(super) fn other_atom(evt_type: &str, expr: &Expr) -> Atom<bool> {
    match expr {
        Expr::Compare { field, op, value } if field.name == "evt.type" && field.arg.is_none() => {
            decide::string(*op, value, evt_type).map_or(Atom::Unknown, Atom::Decided)
        }
        _ => Atom::Unknown,
    }
}
