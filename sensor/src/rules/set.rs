//! Merging files into one set and compiling it: items are applied in file order
//! (`append` and `override` change an earlier item, a plain item of the same name
//! replaces it), then lists are resolved, macros and rule conditions parsed, and
//! every rule expanded. Conditions are parsed only after merging because an
//! appended condition is text joined to the original, as in Falco.

use std::collections::HashMap;

use super::{
    Exception, List, Macro, Origin, PluginVersion, Rule, RuleSet, Warning,
    ast::EvtTypes,
    error::{Kind, RulesError},
    expand::{ExpandError, Expander, resolve_lists},
    file::{self, Item, ItemKind, Mode, Placed, RuleItem},
    output::output_fields,
    parser::{self, Raw},
};

/// A rule, macro or list while files are being merged.
struct Draft<T> {
    name: String,
    file: usize,
    line: u64,
    body: T,
}

/// A condition as a list of pieces from (perhaps) several files, joined by spaces.
type Segments = Vec<Placed>;

struct RuleBody {
    item: RuleItem,
    condition: Segments,
}

/// Items of one kind in first-definition order, found by name.
struct Table<T> {
    drafts: Vec<Draft<T>>,
    index: HashMap<String, usize>,
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

struct Loader<'a> {
    files: &'a [(&'a str, &'a str)],
    rules: Table<RuleBody>,
    macros: Table<Segments>,
    lists: Table<Vec<String>>,
    engine_versions: Vec<String>,
    plugin_versions: Vec<PluginVersion>,
    warnings: Vec<Warning>,
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
    fn file(&self, index: usize) -> String {
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
            let mut ignored = Vec::new();
            let Some(old) = self.rules.get_mut(&name) else {
                return Err(self.missing(f, line, k, &name));
            };
            if let Some(c) = item.condition.take() {
                old.condition.push(c);
            }
            if let Some(e) = item.exceptions.take() {
                merge_exceptions(old.item.exceptions.get_or_insert_default(), e);
            }
            if item.output.is_some()
                || item.desc.is_some()
                || item.priority.is_some()
                || item.tags.is_some()
            {
                ignored.push("only `condition` and `exceptions` are appended with `append: true`; use `override` for other fields");
            }
            for msg in ignored {
                self.warn(f, line, format!("rule `{name}`"), msg.to_owned());
            }
            return Ok(());
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
                "source" => item.source.take().map(|v| old.item.source = Some(v)),
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

    /// The file, line and column of byte `offset` of the joined condition `segs`.
    ///
    /// The offset is first mapped to the piece (file) it falls in. Within the piece,
    /// the condition's non-space characters are matched one by one against the YAML
    /// source from the value's start, skipping whitespace and a block scalar's
    /// `>`/`|` line; this gives the exact line and column for plain, quoted-without-
    /// escapes, folded and literal scalars alike. When the match fails (YAML escapes
    /// changed the text), the line is the value's line plus the newlines before the
    /// offset and the column is counted within the condition text.
    fn place(&self, segs: &[Placed], offset: usize) -> (String, u64, u64) {
        let mut start = 0;
        let mut chosen = None;
        for seg in segs {
            if offset <= start + seg.text.len() {
                chosen = Some((seg, offset - start));
                break;
            }
            start += seg.text.len() + 1;
        }
        let Some((seg, local)) = chosen.or_else(|| segs.last().map(|s| (s, s.text.len()))) else {
            return (String::new(), 0, 0);
        };
        let file = self.file(seg.file);
        let source = self.files.get(seg.file).map_or("", |f| f.1);
        let value_start = seg
            .loc
            .span()
            .byte_offset()
            .and_then(|b| usize::try_from(b).ok());
        if let Some((line, col)) = value_start.and_then(|b| locate(source, b, &seg.text, local)) {
            return (file, line, col);
        }
        let before = seg.text.get(..local).unwrap_or(&seg.text);
        let newlines = before.matches('\n').count() as u64;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
        (file, seg.loc.line() + newlines, col)
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

    fn compile(mut self) -> Result<RuleSet, RulesError> {
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
                exceptions: item.exceptions.clone().unwrap_or_default(),
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

/// See [`Loader::place`]: the 1-based line and column in `source` of byte `offset`
/// of `value`, whose YAML scalar starts at byte `start`; `None` if they diverge.
fn locate(source: &str, start: usize, value: &str, offset: usize) -> Option<(u64, u64)> {
    let mut s = source.get(start..)?;
    if s.starts_with(['>', '|']) {
        s = &s[s.find('\n')? + 1..];
    } else if s.starts_with(['"', '\'']) {
        s = &s[1..];
    }
    let mut chars = s.char_indices().peekable();
    let prefix = value.get(..offset)?;
    for c in prefix.chars().filter(|c| !c.is_whitespace()) {
        while chars.next_if(|(_, x)| x.is_whitespace()).is_some() {}
        match chars.next() {
            Some((_, x)) if x == c => {}
            _ => return None,
        }
    }
    // Onto the next token, unless the problem is the end of the text (then the
    // position is right after its last character, not on a following YAML line).
    if value.get(offset..).is_some_and(|r| !r.trim().is_empty()) {
        while chars.next_if(|(_, x)| x.is_whitespace()).is_some() {}
    }
    let at = start
        + (s.as_ptr() as usize - source.get(start..)?.as_ptr() as usize)
        + chars.peek().map_or(s.len(), |(i, _)| *i);
    let before = source.get(..at)?;
    let line = before.matches('\n').count() as u64 + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u64 + 1;
    Some((line, col))
}
