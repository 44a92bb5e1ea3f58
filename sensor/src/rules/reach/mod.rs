//! What the loaded rules can ever match, as kernel filters: the event kinds to
//! enable, the path prefixes under which opens are reported (per access), and
//! the ports of network events, so that the kernel drops what no rule can see.
//!
//! Soundness comes first: the plan may let through more than the rules need,
//! never less. Each rule's condition is read as a formula over one event type at
//! a time (and, for opens, one shape of open at a time), so a branch about
//! another type is impossible; comparisons the shape fixes (`evt.type`,
//! `evt.is_open_read`, ...) are decided, path and port comparisons bound the
//! event to a set, and everything else, negations of bounds included, may hold
//! for any event. A plan that would not fit the kernel's maps is widened, never
//! refused.

mod decide;
mod lattice;
mod needs;
mod net;
mod open;
mod paths;
#[cfg(test)]
mod tests;

use std::fmt;

use sensor_common::filters::NET_PORTS_MAX;

use self::{lattice::Lattice, needs::Needs, net::Ports, paths::Paths};
use super::Rule;
use crate::{
    event::{EventKind, kind_name},
    kernel::OpenFilter,
};

/// The kernel filters that let through every event the rules can match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPlan {
    /// The event kinds to enable (`KernelSensor::set_kinds`), in number order.
    pub kinds: Vec<EventKind>,
    /// The opens to report (`KernelSensor::set_open_filter`): `None` for every
    /// open; otherwise only those under a read prefix (for an open that reads)
    /// or a write prefix (that writes). Empty lists when no rule needs opens.
    pub open: Option<OpenFilter>,
    /// The ports of network events to report (`KernelSensor::set_net_ports`):
    /// `None` for every port; empty when no rule needs network events.
    pub net_ports: Option<Vec<u16>>,
    /// What was widened to fit the kernel's limits, one line each, for the log.
    pub widened: Vec<String>,
}

/// The filters for the rules in force (the caller passes those enabled and
/// compiled; each one given is taken as in force).
pub fn plan<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> KernelPlan {
    let mut needs = Needs::default();
    for rule in rules {
        needs.add(rule);
    }
    KernelPlan::from_needs(needs)
}

impl KernelPlan {
    /// The kinds the agent needs whatever the rules: exec, fork and exit keep
    /// its process table, which gives every event its process and ancestry.
    pub const AGENT_KINDS: [EventKind; 3] = [EventKind::Exec, EventKind::Fork, EventKind::Exit];

    /// The filters for the rules in force plus what the agent itself needs
    /// ([`KernelPlan::AGENT_KINDS`]): what the agent should program.
    pub fn for_agent<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Self {
        let mut plan = plan(rules);
        plan.add_kinds(&Self::AGENT_KINDS);
        plan
    }

    /// Enables `kinds` too, keeping number order.
    pub fn add_kinds(&mut self, kinds: &[EventKind]) {
        let wanted = |k: &EventKind| self.kinds.contains(k) || kinds.contains(k);
        self.kinds = EventKind::ALL.into_iter().filter(wanted).collect();
    }

    /// Whether events of `kind` are enabled.
    pub fn has(&self, kind: EventKind) -> bool {
        self.kinds.contains(&kind)
    }

    fn from_needs(needs: Needs) -> Self {
        let kinds: Vec<EventKind> = EventKind::ALL
            .into_iter()
            .filter(|k| needs.kinds.contains(&(*k as u32)))
            .collect();
        let mut widened = Vec::new();
        let open = open_filter(needs.reads, needs.writes, needs.read_writes, &mut widened);
        let any_net = kinds.iter().any(|k| {
            matches!(
                k,
                EventKind::Connect | EventKind::Accept | EventKind::Listen | EventKind::Bind
            )
        });
        let net_ports = match needs.ports {
            // One port set serves every network kind: one kind needing every
            // port turns the filter off.
            Ports::All => None,
            _ if !any_net => Some(Vec::new()),
            Ports::Only(ports) if ports.len() > NET_PORTS_MAX as usize => {
                widened.push(format!(
                    "{} ports are more than the kernel's {NET_PORTS_MAX}: every port reported",
                    ports.len()
                ));
                None
            }
            Ports::Only(ports) => Some(ports.into_iter().collect()),
            Ports::Nothing => Some(Vec::new()),
        };
        Self {
            kinds,
            open,
            net_ports,
            widened,
        }
    }
}

/// The open filter for these paths, by the access the kernel judges opens by.
/// A read-write open is reported under a read or a write prefix, so its paths
/// need only be covered by one of them: those neither covers go with the
/// writes, which are rarer than reads.
fn open_filter(
    reads: Paths,
    writes: Paths,
    read_writes: Paths,
    widened: &mut Vec<String>,
) -> Option<OpenFilter> {
    let either = reads.clone().join(writes.clone());
    let writes = writes.join(read_writes.uncovered_by(&either));
    let (reads, writes) = paths::fit(reads, writes, widened);
    if reads == Paths::All && writes == Paths::All {
        return None;
    }
    Some(OpenFilter {
        read: reads.to_list(),
        write: writes.to_list(),
        read_names: reads.names(),
        write_names: writes.names(),
    })
}

/// Entries shown per list in the short form; `{:#}` shows them all.
const SHOWN: usize = 8;

/// One log line: `kinds: exec, fork, exit, open; opens: read under /etc/;
/// write none; ports: all`. The alternate form (`{:#}`) lists every prefix.
impl fmt::Display for KernelPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.kinds.iter().map(|&k| kind_name(k)).collect();
        write!(
            f,
            "kinds: {}",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        )?;
        let all = f.alternate();
        let list = |xs: &[String]| -> String {
            match xs {
                [] => "none".into(),
                [root] if root == "/" => "all".into(),
                xs if all || xs.len() <= SHOWN => format!("under {}", xs.join(", ")),
                xs => format!(
                    "under {} (+{} more)",
                    xs[..SHOWN].join(", "),
                    xs.len() - SHOWN
                ),
            }
        };
        match &self.open {
            None => write!(f, "; opens: all")?,
            Some(open) => {
                let named = |names: &[String]| match names {
                    [] => String::new(),
                    names if all || names.len() <= SHOWN => {
                        format!(" or named {}", names.join(", "))
                    }
                    names => format!(
                        " or named {} (+{} more)",
                        names[..SHOWN].join(", "),
                        names.len() - SHOWN
                    ),
                };
                write!(
                    f,
                    "; opens: read {}{}; write {}{}",
                    list(&open.read),
                    named(&open.read_names),
                    list(&open.write),
                    named(&open.write_names)
                )?
            }
        }
        match &self.net_ports {
            None => write!(f, "; ports: all")?,
            Some(ports) if ports.is_empty() => write!(f, "; ports: none")?,
            Some(ports) => {
                let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
                write!(f, "; ports: {}", list(&ports).trim_start_matches("under "))?
            }
        }
        if !self.widened.is_empty() {
            write!(f, "; widened: {}", self.widened.join("; "))?;
        }
        Ok(())
    }
}
