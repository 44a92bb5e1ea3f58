//! One rules file's items, typed: the YAML is read, each item's kind found from its
//! key (`rule`, `macro`, `list`, ...), its fields checked for type, and unknown keys
//! turned into warnings. Merging files and parsing conditions happen later, in
//! [`super::set`], because `append` and `override` items change earlier files' items.

use serde_saphyr::{Location, Spanned};

use super::{
    Exception, ExceptionValue, OneOrMany, Priority, Warning,
    error::RulesError,
    yaml::{ItemMap, Yaml},
};

/// Where a string came from, to place errors inside it later.
#[derive(Clone, Debug)]
pub(crate) struct Placed {
    pub(crate) text: String,
    /// Index of the file in the loader's input.
    pub(crate) file: usize,
    /// The YAML value's position.
    pub(crate) loc: Location,
}

/// How an `override` entry changes a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Append,
    Replace,
}

/// A `rule:` item; every field optional here, since append/override items carry only some.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuleItem {
    pub(crate) desc: Option<String>,
    pub(crate) condition: Option<Placed>,
    pub(crate) output: Option<String>,
    pub(crate) priority: Option<Priority>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) enabled: Option<bool>,
    pub(crate) exceptions: Option<Vec<Exception>>,
    pub(crate) source: Option<String>,
    pub(crate) warn_evttypes: Option<bool>,
    pub(crate) skip_if_unknown_filter: Option<bool>,
    pub(crate) capture: Option<bool>,
    pub(crate) capture_duration: Option<u64>,
}

/// An item of a rules file.
#[derive(Clone, Debug)]
pub(crate) enum ItemKind {
    Rule(Box<RuleItem>),
    Macro(Option<Placed>),
    List(Option<Vec<String>>),
    EngineVersion(String),
    PluginVersions(Vec<(String, String)>),
}

/// An item with its name, line and modifiers.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) name: String,
    pub(crate) line: u64,
    pub(crate) kind: ItemKind,
    pub(crate) append: bool,
    pub(crate) overrides: Vec<(String, Mode)>,
}

/// Reads file number `index` of the load.
pub(crate) fn read(
    index: usize,
    file: &str,
    text: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Item>, RulesError> {
    // Several YAML documents (`---`) are several lists of items, as in Falco;
    // empty documents are skipped.
    // YAML 1.2 booleans only: with 1.1's, a rule named `off` or a list item
    // `no` would turn into `false` (Falco's yaml-cpp keeps scalars as written;
    // `boolean` below takes its yes/no/on/off where a boolean is meant).
    let options = serde_saphyr::options! { strict_booleans: true };
    let docs: Vec<Option<Vec<Spanned<ItemMap>>>> =
        serde_saphyr::from_str_multiple_with_options(text, options).map_err(|source| {
            let loc = source.location();
            RulesError::Yaml {
                file: file.to_owned(),
                line: loc.map_or(0, |l| l.line()),
                column: loc.map_or(0, |l| l.column()),
                source: Box::new(source),
            }
        })?;
    let mut out = Vec::new();
    for (n, item) in docs.into_iter().flatten().flatten().enumerate() {
        let Some(entries) = item.value.0 else {
            continue;
        };
        let line = item.referenced.line();
        let mut r = Reader {
            index,
            file,
            line,
            label: format!("item {}", n + 1),
            entries,
        };
        if let Some(item) = r.item(warnings)? {
            out.push(item);
        }
    }
    Ok(out)
}

/// Reads one item's entries, taking each known key out as it goes.
struct Reader<'a> {
    index: usize,
    file: &'a str,
    line: u64,
    label: String,
    entries: Vec<(String, Spanned<Yaml>)>,
}

const KINDS: [&str; 5] = [
    "rule",
    "macro",
    "list",
    "required_engine_version",
    "required_plugin_versions",
];

impl Reader<'_> {
    fn err(&self, problem: impl Into<String>) -> RulesError {
        RulesError::Item {
            file: self.file.to_owned(),
            line: self.line,
            item: self.label.clone(),
            problem: problem.into(),
        }
    }

    fn take(&mut self, key: &str) -> Option<Spanned<Yaml>> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, RulesError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v.value.scalar().map(Some).ok_or_else(|| {
                self.err(format!("`{key}` must be a string, not {}", v.value.kind()))
            }),
        }
    }

    fn placed(&mut self, key: &str) -> Result<Option<Placed>, RulesError> {
        let Some(v) = self.take(key) else {
            return Ok(None);
        };
        match v.value {
            Yaml::Str(text) => Ok(Some(Placed {
                text,
                file: self.index,
                loc: v.referenced,
            })),
            other => Err(self.err(format!("`{key}` must be a string, not {}", other.kind()))),
        }
    }

    fn boolean(&mut self, key: &str) -> Result<Option<bool>, RulesError> {
        match self.take(key).map(|v| v.value) {
            None => Ok(None),
            Some(Yaml::Bool(b)) => Ok(Some(b)),
            // yaml-cpp's spellings, which Falco's files may use.
            Some(Yaml::Str(s))
                if ["true", "yes", "y", "on"]
                    .iter()
                    .any(|t| s.eq_ignore_ascii_case(t)) =>
            {
                Ok(Some(true))
            }
            Some(Yaml::Str(s))
                if ["false", "no", "n", "off"]
                    .iter()
                    .any(|t| s.eq_ignore_ascii_case(t)) =>
            {
                Ok(Some(false))
            }
            Some(other) => Err(self.err(format!(
                "`{key}` must be true or false, not {}",
                other.kind()
            ))),
        }
    }

    fn strings(&mut self, key: &str) -> Result<Option<Vec<String>>, RulesError> {
        match self.take(key).map(|v| v.value) {
            None => Ok(None),
            Some(Yaml::Null) => Ok(Some(Vec::new())),
            Some(Yaml::Seq(xs)) => xs
                .iter()
                .map(|x| {
                    x.scalar().ok_or_else(|| {
                        self.err(format!("`{key}` items must be strings, not {}", x.kind()))
                    })
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(other) => {
                Err(self.err(format!("`{key}` must be a sequence, not {}", other.kind())))
            }
        }
    }

    fn warn(&self, warnings: &mut Vec<Warning>, message: String) {
        warnings.push(Warning {
            file: self.file.to_owned(),
            line: self.line,
            item: self.label.clone(),
            message,
        });
    }

    /// The item, or `None` for one of a kind this version does not know: Falco
    /// warns and skips those, so files written for newer versions still load.
    fn item(&mut self, warnings: &mut Vec<Warning>) -> Result<Option<Item>, RulesError> {
        let found: Vec<&str> = KINDS
            .into_iter()
            .filter(|k| self.entries.iter().any(|(key, _)| key == k))
            .collect();
        let kind = match found.as_slice() {
            [k] => *k,
            [] => {
                let keys: Vec<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
                self.warn(
                    warnings,
                    format!(
                        "unknown kind of item (keys: {}; expected one of {}): ignored",
                        keys.join(", "),
                        KINDS.join(", ")
                    ),
                );
                return Ok(None);
            }
            _ => {
                return Err(self.err(format!(
                    "has more than one of the keys {}",
                    found.join(", ")
                )));
            }
        };
        let name = match kind {
            "rule" | "macro" | "list" => {
                let name = self.string(kind)?.unwrap_or_default();
                if name.is_empty() {
                    return Err(self.err(format!("`{kind}` needs a name")));
                }
                self.label = format!("{kind} `{name}`");
                self.check_name(kind, &name, warnings);
                name
            }
            _ => {
                self.label = kind.to_owned();
                kind.to_owned()
            }
        };
        let append = self.boolean("append")?.unwrap_or(false);
        let overrides = self.overrides()?;
        if append && !overrides.is_empty() {
            return Err(self.err("`append` and `override` cannot be used together"));
        }
        let kind = match kind {
            "rule" => ItemKind::Rule(Box::new(self.rule()?)),
            "macro" => ItemKind::Macro(self.placed("condition")?),
            "list" => ItemKind::List(self.strings("items")?),
            "required_engine_version" => {
                ItemKind::EngineVersion(self.string(kind)?.unwrap_or_default())
            }
            _ => ItemKind::PluginVersions(self.plugins()?),
        };
        for (key, _) in std::mem::take(&mut self.entries) {
            self.warn(warnings, format!("unknown key `{key}` ignored"));
        }
        Ok(Some(Item {
            name,
            line: self.line,
            kind,
            append,
            overrides,
        }))
    }

    /// Falco's naming rules (macros: identifiers; lists: bare words): a name
    /// outside them cannot be referred to from a condition, so say so.
    fn check_name(&self, kind: &str, name: &str, warnings: &mut Vec<Warning>) {
        let ok = match kind {
            "macro" => {
                name.starts_with(|c: char| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
            "list" => !name.contains(|c: char| {
                c.is_ascii_whitespace() || matches!(c, '(' | ')' | '"' | '\'' | '=' | ',')
            }),
            _ => true,
        };
        if !ok {
            self.warn(
                warnings,
                format!("invalid {kind} name: conditions cannot refer to it"),
            );
        }
    }

    fn overrides(&mut self) -> Result<Vec<(String, Mode)>, RulesError> {
        match self.take("override").map(|v| v.value) {
            None => Ok(Vec::new()),
            Some(Yaml::Map(entries)) => entries
                .into_iter()
                .map(|(field, mode)| match mode.scalar().as_deref() {
                    Some("append") => Ok((field, Mode::Append)),
                    Some("replace") => Ok((field, Mode::Replace)),
                    _ => Err(self.err(format!(
                        "override of `{field}` must be `append` or `replace`"
                    ))),
                })
                .collect(),
            Some(other) => Err(self.err(format!("`override` must be a map, not {}", other.kind()))),
        }
    }

    fn rule(&mut self) -> Result<RuleItem, RulesError> {
        let priority = match self.string("priority")? {
            None => None,
            Some(p) => Some(
                Priority::parse(&p).ok_or_else(|| self.err(format!("unknown priority `{p}`")))?,
            ),
        };
        let capture_duration = match self.string("capture_duration")? {
            None => None,
            Some(d) => Some(d.parse().map_err(|_| {
                self.err(format!(
                    "`capture_duration` must be a whole number of milliseconds, not `{d}`"
                ))
            })?),
        };
        Ok(RuleItem {
            desc: self.string("desc")?,
            condition: self.placed("condition")?,
            // Trimmed as Falco does: a folded `>` output ends with a newline.
            output: self.string("output")?.map(|o| o.trim().to_owned()),
            priority,
            tags: self.strings("tags")?,
            enabled: self.boolean("enabled")?,
            exceptions: self.exceptions()?,
            source: self.string("source")?,
            warn_evttypes: self.boolean("warn_evttypes")?,
            skip_if_unknown_filter: self.boolean("skip-if-unknown-filter")?,
            capture: self.boolean("capture")?,
            capture_duration,
        })
    }

    fn exceptions(&mut self) -> Result<Option<Vec<Exception>>, RulesError> {
        let list = match self.take("exceptions").map(|v| v.value) {
            None => return Ok(None),
            Some(Yaml::Null) => return Ok(Some(Vec::new())),
            Some(Yaml::Seq(xs)) => xs,
            Some(other) => {
                return Err(self.err(format!(
                    "`exceptions` must be a sequence, not {}",
                    other.kind()
                )));
            }
        };
        let mut out = Vec::new();
        for x in list {
            let Yaml::Map(entries) = x else {
                return Err(self.err("each exception must be a map with `name`"));
            };
            let mut e = Exception::default();
            for (key, v) in entries {
                match key.as_str() {
                    "name" => e.name = v.scalar().unwrap_or_default(),
                    "fields" => e.fields = self.one_or_many(&key, v)?,
                    "comps" => e.comps = Some(self.one_or_many(&key, v)?),
                    "values" => e.values = self.exception_values(v)?,
                    _ => return Err(self.err(format!("unknown exception key `{key}`"))),
                }
            }
            if e.name.is_empty() {
                return Err(self.err("an exception needs a `name`"));
            }
            out.push(e);
        }
        Ok(Some(out))
    }

    fn one_or_many(&self, key: &str, v: Yaml) -> Result<OneOrMany, RulesError> {
        if let Some(s) = v.scalar() {
            return Ok(OneOrMany::One(s));
        }
        match v {
            Yaml::Seq(xs) => xs
                .iter()
                .map(|x| {
                    x.scalar()
                        .ok_or_else(|| self.err(format!("exception `{key}` items must be strings")))
                })
                .collect::<Result<_, _>>()
                .map(OneOrMany::Many),
            other => Err(self.err(format!(
                "exception `{key}` must be a string or a sequence, not {}",
                other.kind()
            ))),
        }
    }

    fn exception_values(&self, v: Yaml) -> Result<Vec<ExceptionValue>, RulesError> {
        match v {
            Yaml::Null => Ok(Vec::new()),
            Yaml::Seq(xs) => xs.into_iter().map(|x| self.exception_value(x, 0)).collect(),
            other => Err(self.err(format!(
                "exception `values` must be a sequence, not {}",
                other.kind()
            ))),
        }
    }

    fn exception_value(&self, v: Yaml, depth: usize) -> Result<ExceptionValue, RulesError> {
        // Values are tuples of scalars or lists of scalars: two levels below `values`.
        if let Some(s) = v.scalar() {
            return Ok(ExceptionValue::Scalar(s));
        }
        match v {
            Yaml::Seq(xs) if depth < 2 => xs
                .into_iter()
                .map(|x| self.exception_value(x, depth + 1))
                .collect::<Result<_, _>>()
                .map(ExceptionValue::List),
            other => Err(self.err(format!("unexpected {} in exception values", other.kind()))),
        }
    }

    fn plugins(&mut self) -> Result<Vec<(String, String)>, RulesError> {
        let Some(Yaml::Seq(xs)) = self.take("required_plugin_versions").map(|v| v.value) else {
            return Err(self.err("must be a sequence of `name` and `version`"));
        };
        let mut out = Vec::new();
        for x in xs {
            let Yaml::Map(entries) = x else {
                return Err(self.err("each entry must be a map with `name` and `version`"));
            };
            let get = |k: &str| {
                entries
                    .iter()
                    .find(|(key, _)| key == k)
                    .and_then(|(_, v)| v.scalar())
            };
            out.push((
                get("name").unwrap_or_default(),
                get("version").unwrap_or_default(),
            ));
        }
        Ok(out)
    }
}
