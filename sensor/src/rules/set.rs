//! Merging files into one set: items are applied in file order
//! (`append` and `override` change an earlier item, a plain item of the same name
//! replaces it); [`super::compile`] then parses and expands the result.
//! Conditions are parsed only after merging because an appended condition is
//! text joined to the original, as in Falco.

use std::collections::HashMap;

use super::{
    Exception, PluginVersion, RuleSet, Warning,
    error::{Kind, RulesError},
    file::{self, Item, ItemKind, Mode, Placed, RuleItem},
};

/// A rule, macro or list while files are being merged.
pub(super) struct Draft<T> {
    pub(super) name: String,
    pub(super) file: usize,
    pub(super) line: u64,
    pub(super) body: T,
}

/// A condition as a list of pieces from (perhaps) several files, joined by spaces.
pub(super) type Segments = Vec<Placed>;

pub(super) struct RuleBody {
    pub(super) item: RuleItem,
    pub(super) condition: Segments,
}

/// Items of one kind in first-definition order, found by name.
pub(super) struct Table<T> {
    pub(super) drafts: Vec<Draft<T>>,
    pub(super) index: HashMap<String, usize>,
}

impl<T> Table<T> {
    fn new() -> Self {
        Self {
            drafts: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        let i = *self.index.get(name)?;
        self.drafts.get_mut(i).map(|d| &mut d.body)
    }

    /// Defines `name`, replacing (in place) an earlier item of the same name.
    fn define(&mut self, name: String, file: usize, line: u64, body: T) {
        let draft = Draft {
            name: name.clone(),
            file,
            line,
            body,
        };
        match self.index.get(&name).and_then(|&i| self.drafts.get_mut(i)) {
            Some(slot) => *slot = draft,
            None => {
                self.index.insert(name, self.drafts.len());
                self.drafts.push(draft);
            }
        }
    }
}

pub(super) struct Loader<'a> {
    pub(super) files: &'a [(&'a str, &'a str)],
    pub(super) rules: Table<RuleBody>,
    pub(super) macros: Table<Segments>,
    pub(super) lists: Table<Vec<String>>,
    pub(super) engine_versions: Vec<String>,
    pub(super) plugin_versions: Vec<PluginVersion>,
    pub(super) warnings: Vec<Warning>,
}

pub(crate) fn load(files: &[(&str, &str)]) -> Result<RuleSet, RulesError> {
    let mut l = Loader {
        files,
        rules: Table::new(),
        macros: Table::new(),
        lists: Table::new(),
        engine_versions: Vec::new(),
        plugin_versions: Vec::new(),
        warnings: Vec::new(),
    };
    for (index, (name, text)) in files.iter().enumerate() {
        for item in file::read(index, name, text, &mut l.warnings)? {
            l.apply(index, item)?;
        }
    }
    l.compile()
}

/// Merges exceptions: one with a known name adds its values to that one.
fn merge_exceptions(into: &mut Vec<Exception>, new: Vec<Exception>) {
    for e in new {
        match into.iter_mut().find(|x| x.name == e.name) {
            Some(x) => x.values.extend(e.values),
            None => into.push(e),
        }
    }
}

fn join(a: &mut String, b: String) {
    a.push(' ');
    a.push_str(&b);
}

impl Loader<'_> {
    pub(super) fn file(&self, index: usize) -> String {
        self.files
            .get(index)
            .map(|f| f.0.to_owned())
            .unwrap_or_default()
    }

    fn item_err(
        &self,
        file: usize,
        line: u64,
        kind: Kind,
        name: &str,
        problem: String,
    ) -> RulesError {
        RulesError::Item {
            file: self.file(file),
            line,
            item: format!("{kind} `{name}`"),
            problem,
        }
    }

    fn missing(&self, file: usize, line: u64, kind: Kind, name: &str) -> RulesError {
        RulesError::NoSuchItem {
            file: self.file(file),
            line,
            kind,
            name: name.to_owned(),
        }
    }

    fn warn(&mut self, file: usize, line: u64, item: String, message: String) {
        self.warnings.push(Warning {
            file: self.file(file),
            line,
            item,
            message,
        });
    }

    fn apply(&mut self, f: usize, item: Item) -> Result<(), RulesError> {
        let Item {
            name,
            line,
            kind,
            append,
            overrides,
        } = item;
        match kind {
            ItemKind::EngineVersion(v) => self.engine_versions.push(v),
            ItemKind::PluginVersions(v) => self.plugin_versions.extend(
                v.into_iter()
                    .map(|(name, version)| PluginVersion { name, version }),
            ),
            ItemKind::List(items) => {
                let k = Kind::List;
                let modifies = append || !overrides.is_empty();
                let Some(items) = items else {
                    return Err(self.item_err(f, line, k, &name, "has no `items`".into()));
                };
                if !modifies {
                    self.lists.define(name, f, line, items);
                    return Ok(());
                }
                let mode = self.single_override(f, line, k, &name, &overrides, "items")?;
                let Some(old) = self.lists.get_mut(&name) else {
                    return Err(self.missing(f, line, k, &name));
                };
                match mode {
                    Mode::Append => old.extend(items),
                    Mode::Replace => *old = items,
                }
            }
            ItemKind::Macro(condition) => {
                let k = Kind::Macro;
                let Some(condition) = condition else {
                    return Err(self.item_err(f, line, k, &name, "has no `condition`".into()));
                };
                if !append && overrides.is_empty() {
                    self.macros.define(name, f, line, vec![condition]);
                    return Ok(());
                }
                let mode = self.single_override(f, line, k, &name, &overrides, "condition")?;
                let Some(old) = self.macros.get_mut(&name) else {
                    return Err(self.missing(f, line, k, &name));
                };
                match mode {
                    Mode::Append => old.push(condition),
                    Mode::Replace => *old = vec![condition],
                }
            }
            ItemKind::Rule(item) => self.apply_rule(f, line, name, *item, append, overrides)?,
        }
        Ok(())
    }

    /// For lists and macros: `append: true` or an override of `field` alone.
    fn single_override(
        &self,
        f: usize,
        line: u64,
        kind: Kind,
        name: &str,
        overrides: &[(String, Mode)],
        field: &str,
    ) -> Result<Mode, RulesError> {
        match overrides {
            [] => Ok(Mode::Append),
            [(k, mode)] if k == field => Ok(*mode),
            _ => Err(self.item_err(
                f,
                line,
                kind,
                name,
                format!("a {kind} can only override `{field}`"),
            )),
        }
    }

    fn apply_rule(
        &mut self,
        f: usize,
        line: u64,
        name: String,
        mut item: RuleItem,
        append: bool,
        overrides: Vec<(String, Mode)>,
    ) -> Result<(), RulesError> {
        let k = Kind::Rule;
        let only_enabled = item.enabled.is_some()
            && item.condition.is_none()
            && item.output.is_none()
            && item.desc.is_none()
            && item.priority.is_none();
        if !append && overrides.is_empty() {
            // Falco's old way to switch a rule off: `- rule: X` with `enabled` alone.
            if only_enabled {
                let Some(old) = self.rules.get_mut(&name) else {
                    return Err(self.missing(f, line, k, &name));
                };
                old.item.enabled = item.enabled;
                return Ok(());
            }
            for (field, present) in [
                ("condition", item.condition.is_some()),
                ("output", item.output.is_some()),
                ("desc", item.desc.is_some()),
                ("priority", item.priority.is_some()),
            ] {
                if !present {
                    return Err(self.item_err(f, line, k, &name, format!("has no `{field}`")));
                }
            }
            let condition = item.condition.take().into_iter().collect();
            self.rules
                .define(name, f, line, RuleBody { item, condition });
            return Ok(());
        }
        if self.rules.get_mut(&name).is_none() {
            return Err(self.missing(f, line, k, &name));
        }
        if append {
            let Some(old) = self.rules.get_mut(&name) else {
                return Err(self.missing(f, line, k, &name));
            };
            if let Some(c) = item.condition.take() {
                old.condition.push(c);
            }
            if let Some(e) = item.exceptions.take() {
                merge_exceptions(old.item.exceptions.get_or_insert_default(), e);
            }
            // Falco ignores the other fields of an `append: true` rule; say so,
            // since the author evidently meant them to change something.
            let ignored = [
                ("output", item.output.is_some()),
                ("desc", item.desc.is_some()),
                ("priority", item.priority.is_some()),
                ("tags", item.tags.is_some()),
            ];
            for (field, _) in ignored.into_iter().filter(|(_, present)| *present) {
                self.warn(
                    f,
                    line,
                    format!("rule `{name}`"),
                    format!("`{field}` ignored: `append: true` appends only `condition` and `exceptions` (use `override`)"),
                );
            }
            return Ok(());
        }
        // As in Falco: a field given but not named under `override` is a mistake
        // (it would be silently dropped), not a replacement.
        for (field, present) in [
            ("condition", item.condition.is_some()),
            ("output", item.output.is_some()),
            ("desc", item.desc.is_some()),
            ("tags", item.tags.is_some()),
            ("exceptions", item.exceptions.is_some()),
            ("priority", item.priority.is_some()),
            ("enabled", item.enabled.is_some()),
            ("warn_evttypes", item.warn_evttypes.is_some()),
            (
                "skip-if-unknown-filter",
                item.skip_if_unknown_filter.is_some(),
            ),
            ("capture", item.capture.is_some()),
            ("capture_duration", item.capture_duration.is_some()),
        ] {
            if present && !overrides.iter().any(|(f, _)| f == field) {
                return Err(self.item_err(
                    f,
                    line,
                    k,
                    &name,
                    format!("gives `{field}` but `override` does not name it"),
                ));
            }
        }
        for (field, mode) in overrides {
            let err = |s: &Self, problem: String| s.item_err(f, line, k, &name, problem);
            let absent = || format!("overrides `{field}` but does not give it");
            let Some(old) = self.rules.get_mut(&name) else {
                return Err(self.missing(f, line, k, &name));
            };
            let appendable = matches!(
                field.as_str(),
                "condition" | "output" | "desc" | "tags" | "exceptions"
            );
            if mode == Mode::Append && !appendable {
                return Err(err(
                    self,
                    format!("`{field}` can only be replaced, not appended"),
                ));
            }
            let present = match field.as_str() {
                "condition" => item.condition.take().map(|c| match mode {
                    Mode::Append => old.condition.push(c),
                    Mode::Replace => old.condition = vec![c],
                }),
                "output" | "desc" => {
                    let (new, dst) = if field == "output" {
                        (item.output.take(), &mut old.item.output)
                    } else {
                        (item.desc.take(), &mut old.item.desc)
                    };
                    new.map(|n| match (mode, dst.as_mut()) {
                        (Mode::Append, Some(d)) => join(d, n),
                        _ => *dst = Some(n),
                    })
                }
                "tags" => item.tags.take().map(|t| match mode {
                    Mode::Append => old.item.tags.get_or_insert_default().extend(t),
                    Mode::Replace => old.item.tags = Some(t),
                }),
                "exceptions" => item.exceptions.take().map(|e| match mode {
                    Mode::Append => {
                        merge_exceptions(old.item.exceptions.get_or_insert_default(), e)
                    }
                    Mode::Replace => old.item.exceptions = Some(e),
                }),
                "priority" => item.priority.take().map(|v| old.item.priority = Some(v)),
                "enabled" => item.enabled.take().map(|v| old.item.enabled = Some(v)),
                "warn_evttypes" => item
                    .warn_evttypes
                    .take()
                    .map(|v| old.item.warn_evttypes = Some(v)),
                "skip-if-unknown-filter" => item
                    .skip_if_unknown_filter
                    .take()
                    .map(|v| old.item.skip_if_unknown_filter = Some(v)),
                "capture" => item.capture.take().map(|v| old.item.capture = Some(v)),
                "capture_duration" => item
                    .capture_duration
                    .take()
                    .map(|v| old.item.capture_duration = Some(v)),
                _ => {
                    return Err(err(
                        self,
                        format!("cannot override unknown field `{field}`"),
                    ));
                }
            };
            if present.is_none() {
                return Err(err(self, absent()));
            }
        }
        Ok(())
    }
}
