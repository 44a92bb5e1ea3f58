//! Compiling a merged set: lists resolved, macro and rule conditions parsed, rules
//! expanded, and every failure turned into a [`RulesError`] placed in its file.

use std::collections::HashMap;

use super::{
    List, Macro, Origin, Rule, RuleSet, Warning,
    ast::EvtTypes,
    error::{Kind, RulesError},
    exceptions,
    expand::{ExpandError, Expander, resolve_lists},
    output::output_fields,
    parser::{self, Raw},
    place::place,
    set::{Loader, Segments},
};

impl Loader<'_> {
    /// See [`place`].
    fn place(&self, segs: &Segments, offset: usize) -> (String, u64, u64) {
        place(self.files, segs, offset)
    }

    fn place_expand_error(
        &self,
        err: ExpandError,
        kind: Kind,
        name: &str,
        d: (usize, u64),
        segs: &Segments,
        macros: &HashMap<String, (usize, u64, Segments)>,
    ) -> RulesError {
        match err {
            ExpandError::Undefined {
                what,
                name: identifier,
                offset,
                owner,
            } => {
                let (kind, name, segs) =
                    match owner.as_ref().and_then(|m| macros.get(m).map(|x| (m, x))) {
                        Some((m, (_, _, s))) => (Kind::Macro, m.as_str(), s),
                        None => (kind, name, segs),
                    };
                let (file, line, column) = self.place(segs, offset);
                RulesError::Undefined {
                    file,
                    line,
                    column,
                    kind,
                    name: name.to_owned(),
                    what,
                    identifier,
                }
            }
            ExpandError::Cycle { kind: ck, cycle } => {
                let first = cycle.first().cloned().unwrap_or_default();
                let (f, line) = match ck {
                    Kind::Macro => macros.get(&first).map_or(d, |m| (m.0, m.1)),
                    _ => d,
                };
                RulesError::Cycle {
                    file: self.file(f),
                    line,
                    kind: ck,
                    name: first,
                    cycle,
                }
            }
            ExpandError::BadItem { list, error } => RulesError::Item {
                file: self.file(d.0),
                line: d.1,
                item: format!("list `{list}`"),
                problem: format!("bad item: {error}"),
            },
            ExpandError::TooLarge(what) => RulesError::TooLarge {
                file: self.file(d.0),
                line: d.1,
                kind,
                name: name.to_owned(),
                what,
            },
        }
    }

    fn parse(&self, kind: Kind, name: &str, segs: &Segments) -> Result<(String, Raw), RulesError> {
        let text = segs
            .iter()
            .map(|s| s.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let raw = parser::parse(&text).map_err(|source| {
            let (file, line, column) = self.place(segs, source.offset);
            RulesError::Syntax {
                file,
                line,
                column,
                kind,
                name: name.to_owned(),
                source,
            }
        })?;
        Ok((text, raw))
    }

    /// Resolves, parses and expands everything merged so far.
    pub(super) fn compile(mut self) -> Result<RuleSet, RulesError> {
        let defs: HashMap<String, Vec<String>> = self
            .lists
            .drafts
            .iter()
            .map(|d| (d.name.clone(), d.body.clone()))
            .collect();
        let resolved = resolve_lists(&defs).map_err(|(list, e)| {
            let d = self
                .lists
                .index
                .get(&list)
                .and_then(|&i| self.lists.drafts.get(i));
            let at = d.map_or((0, 0), |d| (d.file, d.line));
            self.place_expand_error(e, Kind::List, &list, at, &Vec::new(), &HashMap::new())
        })?;

        let mut raws = HashMap::new();
        let mut texts = Vec::new();
        let mut places = HashMap::new();
        for d in &self.macros.drafts {
            let (text, raw) = self.parse(Kind::Macro, &d.name, &d.body)?;
            raws.insert(d.name.clone(), raw);
            texts.push(text);
            places.insert(d.name.clone(), (d.file, d.line, d.body.clone()));
        }

        let mut expander = Expander::new(&raws, &resolved);
        let mut rules = Vec::new();
        for d in &self.rules.drafts {
            let (text, raw) = self.parse(Kind::Rule, &d.name, &d.body.condition)?;
            let condition = expander.expand(&raw).map_err(|e| {
                self.place_expand_error(
                    e,
                    Kind::Rule,
                    &d.name,
                    (d.file, d.line),
                    &d.body.condition,
                    &places,
                )
            })?;
            let item = &d.body.item;
            let exceptions = item.exceptions.clone().unwrap_or_default();
            let condition =
                exceptions::fold(condition, &exceptions, &resolved).map_err(|problem| {
                    RulesError::Item {
                        file: self.file(d.file),
                        line: d.line,
                        item: format!("rule `{}`", d.name),
                        problem,
                    }
                })?;
            let output = item.output.clone().unwrap_or_default();
            let evt_types = condition.evt_types();
            let source = item.source.clone().unwrap_or_else(|| "syscall".to_owned());
            let warn_evttypes = item.warn_evttypes.unwrap_or(true);
            if warn_evttypes && source == "syscall" && evt_types == EvtTypes::Any {
                self.warnings.push(Warning {
                    file: self.file(d.file),
                    line: d.line,
                    item: format!("rule `{}`", d.name),
                    message:
                        "the condition does not restrict evt.type: it is evaluated for every event"
                            .into(),
                });
            }
            rules.push(Rule {
                name: d.name.clone(),
                origin: Origin {
                    file: self.file(d.file),
                    line: d.line,
                },
                desc: item.desc.clone().unwrap_or_default(),
                condition_text: text,
                fields: condition.fields(),
                condition,
                output_fields: output_fields(&output),
                output,
                evt_types,
                priority: item.priority.unwrap_or(super::Priority::Debug),
                tags: item.tags.clone().unwrap_or_default(),
                enabled: item.enabled.unwrap_or(true),
                exceptions,
                source,
                warn_evttypes,
                skip_if_unknown_filter: item.skip_if_unknown_filter.unwrap_or(false),
                capture: item.capture.unwrap_or(false),
                capture_duration: item.capture_duration,
            });
        }

        let mut macros = Vec::new();
        for (d, text) in self.macros.drafts.iter().zip(texts) {
            // Falco resolves macros only where rules use them: an unused macro is
            // syntax-checked above and otherwise left alone (it may name macros
            // from files not loaded here).
            let condition = if expander.is_done(&d.name) {
                expander.expand_macro(&d.name).ok()
            } else {
                self.warnings.push(Warning {
                    file: self.file(d.file),
                    line: d.line,
                    item: format!("macro `{}`", d.name),
                    message: "not used by any rule".into(),
                });
                None
            };
            macros.push(Macro {
                name: d.name.clone(),
                origin: Origin {
                    file: self.file(d.file),
                    line: d.line,
                },
                condition_text: text,
                condition,
            });
        }
        let lists = self
            .lists
            .drafts
            .iter()
            .map(|d| List {
                name: d.name.clone(),
                origin: Origin {
                    file: self.file(d.file),
                    line: d.line,
                },
                items: d.body.clone(),
                resolved: resolved.get(&d.name).cloned().unwrap_or_default(),
            })
            .collect();
        Ok(RuleSet {
            rules,
            macros,
            lists,
            engine_versions: self.engine_versions,
            plugin_versions: self.plugin_versions,
            warnings: self.warnings,
        })
    }
}
