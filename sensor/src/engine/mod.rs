//! The rules engine: compiles the rules of a [`RuleSet`] against the field
//! catalogue and tests events against them. Rules are indexed by event type, so
//! an event is only tested against the rules that can match it, and testing
//! allocates nothing: values are borrowed from the event and its context, and the
//! few built ones go into reused buffers ([`Scratch`]).
//!
//! A rule the sensor cannot run (a field it lacks, an event type it does not
//! report, a comparison that does not fit the field) is skipped with a
//! [`Verdict`] that says why; the other rules run.

mod access;
mod compare;
mod compile;
pub mod files;
pub mod finding;
pub mod noise;
mod read;
#[cfg(test)]
mod tests;
mod value;

use std::{collections::HashMap, sync::Arc};

use serde::Serialize;

pub use access::{Access, Arg, FieldError, Id, Kind, resolve};
pub use read::{Scratch, Subject, read};
pub use value::{List, Val};

use crate::{
    event::evt_types,
    rules::{EvtTypes, FieldRef, Rule, RuleSet},
};

/// What became of one rule.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Verdict {
    /// The rule's name.
    pub rule: String,
    /// Whether it runs.
    pub loaded: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A rule ready to run.
#[derive(Debug)]
pub struct Compiled {
    /// The rule as loaded.
    pub rule: Arc<Rule>,
    condition: compile::Node,
    /// The fields its output prints, resolved, with their references.
    pub output: Vec<(FieldRef, Access)>,
    /// The fields its condition reads, resolved.
    pub reads: Vec<(FieldRef, Access)>,
}

/// The compiled rules, indexed by event type.
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Compiled>,
    by_type: HashMap<&'static str, Box<[u32]>>,
    verdicts: Vec<Verdict>,
    scratch: Scratch,
}

impl Engine {
    /// Compiles every enabled rule of `set` that the sensor can run.
    pub fn new(set: &RuleSet) -> Self {
        let mut engine = Self::default();
        for rule in set.rules() {
            let reason = if rule.enabled {
                match compile_rule(rule) {
                    Ok(compiled) => {
                        engine.rules.push(compiled);
                        None
                    }
                    Err(why) => Some(why),
                }
            } else {
                Some("disabled (enabled: false)".to_owned())
            };
            engine.verdicts.push(Verdict {
                rule: rule.name.clone(),
                loaded: reason.is_none(),
                reason,
            });
        }
        for ty in evt_types() {
            let matching: Box<[u32]> = engine
                .rules
                .iter()
                .enumerate()
                .filter(|(_, c)| match &c.rule.evt_types {
                    EvtTypes::Any => true,
                    EvtTypes::Only(types) => types.contains(ty),
                })
                .map(|(i, _)| i as u32)
                .collect();
            if !matching.is_empty() {
                engine.by_type.insert(ty, matching);
            }
        }
        engine
    }

    /// What became of each rule of the set, in its order.
    pub fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }

    /// The rules that run.
    pub fn rules(&self) -> &[Compiled] {
        &self.rules
    }

    /// The rule `index` of [`Self::matches`].
    pub fn rule(&self, index: u32) -> Option<&Compiled> {
        self.rules.get(index as usize)
    }

    /// The rules that can match events of type `evt_type`.
    pub fn candidates(&self, evt_type: &str) -> &[u32] {
        self.by_type.get(evt_type).map_or(&[], |r| r)
    }

    /// Appends to `out` the index of every rule `s` matches, in rule order.
    pub fn matches(&mut self, s: &Subject<'_>, out: &mut Vec<u32>) {
        let Some(candidates) = self.by_type.get(s.event.evt_type()) else {
            return;
        };
        self.scratch.reset();
        for &i in candidates.iter() {
            if self.rules[i as usize].condition.eval(s, &mut self.scratch) {
                out.push(i);
            }
        }
    }

    /// The finding of rule `index` (from [`Self::matches`]) for `s`, the event
    /// just tested.
    pub fn finding(
        &mut self,
        index: u32,
        s: &Subject<'_>,
        hostname: &Arc<str>,
    ) -> Option<finding::Finding> {
        let rule = self.rules.get(index as usize)?;
        Some(finding::build(rule, s, &mut self.scratch, hostname))
    }
}

fn compile_rule(rule: &Rule) -> Result<Compiled, String> {
    if rule.source != "syscall" {
        return Err(format!("source `{}` is not this sensor's", rule.source));
    }
    // Name every missing field at once: that is what the author must fix.
    let missing: std::collections::BTreeSet<&str> = rule
        .fields
        .iter()
        .chain(&rule.output_fields)
        .filter(|f| crate::fields::find(&f.name).is_none())
        .map(|f| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.into_iter().collect();
        return Err(format!("no field {}", names.join(", ")));
    }
    if let EvtTypes::Only(types) = &rule.evt_types {
        let known = evt_types();
        if !types.iter().any(|t| known.contains(&t.as_str())) {
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            return Err(format!(
                "no event type it matches is reported: {}",
                types.join(", ")
            ));
        }
    }
    let resolve = |refs: &mut dyn Iterator<Item = &FieldRef>| {
        refs.map(|f| compile::field(f).map(|a| (f.clone(), a)))
            .collect::<Result<Vec<_>, _>>()
    };
    let output = resolve(&mut rule.output_fields.iter())?;
    let reads = resolve(&mut rule.fields.iter())?;
    let condition = compile::compile(&rule.condition)?;
    Ok(Compiled {
        rule: Arc::new(rule.clone()),
        condition,
        output,
        reads,
    })
}
