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

use std::sync::Arc;

use serde::Serialize;

pub use access::{Access, Arg, FieldError, Id, Kind, resolve};
pub use read::{Scratch, Subject, read};
pub use value::{List, Val};

use crate::{
    event::{TYPE_SLOTS, evt_type_slot, evt_types},
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
    /// Its condition, compiled (each event type has its own specialised copy).
    condition: compile::Node,
    /// The fields its output prints, resolved, with their references.
    pub output: Vec<(FieldRef, Access)>,
    /// The fields its condition reads, resolved.
    pub reads: Vec<(FieldRef, Access)>,
}

/// The rules that can match one event type, each with its condition
/// specialised for that type.
type Bucket = Box<[(u32, compile::Node)]>;

/// The compiled rules, indexed by event type.
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Compiled>,
    /// By [`crate::event::Event::type_slot`].
    by_type: Vec<Bucket>,
    verdicts: Vec<Verdict>,
    scratch: Scratch,
}

impl Engine {
    /// Compiles every enabled rule of `set` that the sensor can run.
    pub fn new(set: &RuleSet) -> Self {
        let mut engine = Self::default();
        let memos = compile::Memos::new(
            set.rules()
                .iter()
                .filter(|r| r.enabled)
                .map(|r| &r.condition),
        );
        for rule in set.rules() {
            let reason = if rule.enabled {
                match compile_rule(rule, &memos) {
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
        engine.scratch.memos(memos.len());
        engine.by_type = vec![Bucket::default(); TYPE_SLOTS];
        for ty in evt_types() {
            let Some(slot) = evt_type_slot(ty) else {
                continue;
            };
            let bucket: Vec<(u32, compile::Node)> = engine
                .rules
                .iter()
                .enumerate()
                .filter(|(_, c)| match &c.rule.evt_types {
                    EvtTypes::Any => true,
                    EvtTypes::Only(types) => types.contains(ty),
                })
                .map(|(i, c)| (i as u32, c.condition.specialize(ty)))
                .filter(|(_, node)| !matches!(node, compile::Node::Const(false)))
                .collect();
            engine.by_type[slot] = bucket.into();
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
    pub fn candidates(&self, evt_type: &str) -> Vec<u32> {
        evt_type_slot(evt_type)
            .and_then(|slot| self.by_type.get(slot))
            .map_or_else(Vec::new, |b| b.iter().map(|(i, _)| *i).collect())
    }

    /// Whether some rule can match `event` (else its context need not be
    /// looked up).
    pub fn any_candidate(&self, event: &crate::event::Event) -> bool {
        self.by_type
            .get(event.type_slot())
            .is_some_and(|b| !b.is_empty())
    }

    /// Appends to `out` the index of every rule `s` matches, in rule order.
    pub fn matches(&mut self, s: &Subject<'_>, out: &mut Vec<u32>) {
        let Some(bucket) = self.by_type.get(s.event.type_slot()) else {
            return;
        };
        self.scratch.reset();
        for (i, node) in bucket.iter() {
            if node.eval(s, &mut self.scratch) {
                out.push(*i);
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

    /// The output of rule `index` (as [`Engine::matches`] returned it) for this
    /// event, rendered alone: noise control can fold a duplicate by it without
    /// the rest of the finding being built.
    pub fn output(&mut self, index: u32, s: &Subject<'_>) -> Option<String> {
        let rule = self.rules.get(index as usize)?;
        Some(finding::render_output(rule, s, &mut self.scratch))
    }

    /// The finding of rule `index` for this event, with the `output` that
    /// [`Engine::output`] rendered for the same event just before.
    pub fn finding_with_output(
        &mut self,
        index: u32,
        s: &Subject<'_>,
        hostname: &Arc<str>,
        output: String,
    ) -> Option<finding::Finding> {
        let rule = self.rules.get(index as usize)?;
        Some(finding::build_with_output(
            rule,
            s,
            &mut self.scratch,
            hostname,
            output,
        ))
    }
}

fn compile_rule(rule: &Rule, memos: &compile::Memos<'_>) -> Result<Compiled, String> {
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
    let condition = compile::compile_with(&rule.condition, memos)?;
    Ok(Compiled {
        rule: Arc::new(rule.clone()),
        condition,
        output,
        reads,
    })
}
