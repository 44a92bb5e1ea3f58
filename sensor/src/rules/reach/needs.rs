//! What a set of rules needs from the kernel, gathered rule by rule and event
//! type by event type: the kinds, per access the open paths, the ports.

use std::collections::BTreeSet;

use super::{
    lattice::{Lattice, eval},
    net::{self, Ports},
    open::{Access, OpenShape},
    paths::Paths,
};
use crate::{
    event::{EventKind, OpenSyscall, event_type_kind, evt_types},
    rules::{EvtTypes, Rule},
};

/// The union of what the rules seen so far can match.
#[derive(Debug)]
pub(super) struct Needs {
    /// Kinds by number (`EventKind` has no order of its own).
    pub kinds: BTreeSet<u32>,
    /// Paths of opens judged as reads that some rule can match.
    pub reads: Paths,
    /// ... judged as writes.
    pub writes: Paths,
    /// ... judged as read-writes: reported under a read or a write prefix.
    pub read_writes: Paths,
    /// Ports of network events some rule can match.
    pub ports: Ports,
}

impl Default for Needs {
    fn default() -> Self {
        Self {
            kinds: BTreeSet::new(),
            reads: Paths::Nothing,
            writes: Paths::Nothing,
            read_writes: Paths::Nothing,
            ports: Ports::Nothing,
        }
    }
}

impl Needs {
    /// Adds what `rule` can match. Its `evt_types` is a sound bound (no event
    /// of another type can make it true), so only those types are looked at;
    /// within each, the condition itself is evaluated with `evt.type` fixed, so
    /// a branch about another type contributes nothing.
    pub fn add(&mut self, rule: &Rule) {
        let types = evt_types().into_iter().filter(|t| match &rule.evt_types {
            EvtTypes::Any => true,
            EvtTypes::Only(only) => only.contains(*t),
        });
        let condition = &rule.condition;
        for evt_type in types {
            let Some(kind) = event_type_kind(evt_type) else {
                continue;
            };
            let needed = match kind {
                EventKind::Open => self.add_opens(rule, evt_type),
                EventKind::Connect | EventKind::Accept | EventKind::Listen | EventKind::Bind => {
                    let ports = eval(condition, true, &|e| net::atom(kind, evt_type, e));
                    let needed = !ports.is_nothing();
                    self.ports = std::mem::replace(&mut self.ports, Ports::Nothing).join(ports);
                    needed
                }
                _ => eval(condition, true, &|e| net::other_atom(evt_type, e)),
            };
            if needed {
                self.kinds.insert(kind as u32);
            }
        }
    }

    /// Adds the opens of type `evt_type` that `rule` can match, shape by shape;
    /// whether there are any.
    fn add_opens(&mut self, rule: &Rule, evt_type: &str) -> bool {
        let Some(syscall) = (0..64)
            .filter_map(OpenSyscall::from_raw)
            .find(|s| s.name() == evt_type)
        else {
            return false;
        };
        let mut needed = false;
        for shape in OpenShape::all(syscall) {
            let paths = eval(&rule.condition, true, &|e| shape.atom(e));
            // The kernel judges only a successful open by its file's name (a
            // failed one has no file): a failed open a name bounds is watched
            // wherever it is.
            let paths = if shape.succeeded() {
                paths
            } else {
                paths.without_names()
            };
            if paths.is_nothing() {
                continue;
            }
            needed = true;
            let slot = match shape.access() {
                Access::Read => &mut self.reads,
                Access::Write => &mut self.writes,
                Access::ReadWrite => &mut self.read_writes,
            };
            *slot = std::mem::replace(slot, Paths::Nothing).join(paths);
        }
        needed
    }
}
