//! Detection rules in Falco's language: loading rule files and parsing their
//! conditions into a typed tree. [`RuleSet::load`] reads files in order, applies
//! `append` and `override` items to earlier ones, expands macros and lists, and
//! gives each [`Rule`] its expanded condition ([`Expr`]), the fields it reads, the
//! fields its output prints and the event types it can match. Evaluation is not
//! here: this is the front end the engine and the kernel filters are built from;
//! [`plan`] derives those filters (what the rules can ever match).
//! Any problem refuses the whole set with a [`RulesError`] naming file, item, line
//! and column; oddities that Falco accepts (unknown keys, unknown kinds of item,
//! names no condition can refer to) become [`Warning`]s.

mod ast;
mod compile;
mod error;
mod exceptions;
mod expand;
mod file;
mod lexer;
mod output;
mod parser;
mod place;
mod reach;
mod set;
#[cfg(test)]
mod tests;
mod yaml;

use std::{collections::BTreeSet, fmt};

use expand::Expander;

pub use ast::{CmpOp, EvtTypes, Expr, FieldRef, Value};
pub use error::{Kind, RulesError, SyntaxError};
pub use expand::{MAX_EXPANDED_DEPTH, MAX_LIST_ITEMS, MAX_NODES};
pub use output::{Piece, output_fields, pieces, render};
pub use parser::MAX_DEPTH;
pub use reach::{KernelPlan, plan};

/// Parses a stand-alone condition, one that uses no macros or lists (an ad-hoc
/// filter, say). A bare identifier is an error here, since nothing defines it.
pub fn parse_condition(text: &str) -> Result<Expr, SyntaxError> {
    use expand::ExpandError;
    let raw = parser::parse(text)?;
    let (macros, lists) = (Default::default(), Default::default());
    Expander::new(&macros, &lists)
        .expand(&raw)
        .map_err(|e| match e {
            ExpandError::Undefined {
                what, name, offset, ..
            } => SyntaxError::new(offset, format!("`{name}` is not a defined {what}")),
            ExpandError::TooLarge(what) => SyntaxError::new(0, format!("too large: {what}")),
            // Cycles and bad list items need definitions, and there are none.
            ExpandError::Cycle { .. } | ExpandError::BadItem { .. } => {
                SyntaxError::new(0, "unexpected macro or list")
            }
        })
}

/// A rule's priority, most severe first (Falco's syslog-like levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// `EMERGENCY`.
    Emergency,
    /// `ALERT`.
    Alert,
    /// `CRITICAL`.
    Critical,
    /// `ERROR`.
    Error,
    /// `WARNING`.
    Warning,
    /// `NOTICE`.
    Notice,
    /// `INFORMATIONAL` or `INFO`.
    Informational,
    /// `DEBUG`.
    Debug,
}

impl Priority {
    /// The name Falco prints in findings: `Warning`, `Critical`, ...
    pub fn falco_name(self) -> &'static str {
        match self {
            Self::Emergency => "Emergency",
            Self::Alert => "Alert",
            Self::Critical => "Critical",
            Self::Error => "Error",
            Self::Warning => "Warning",
            Self::Notice => "Notice",
            Self::Informational => "Informational",
            Self::Debug => "Debug",
        }
    }

    /// Reads a priority the way Falco does: case-insensitive, `INFO` for short.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "EMERGENCY" => Self::Emergency,
            "ALERT" => Self::Alert,
            "CRITICAL" => Self::Critical,
            "ERROR" => Self::Error,
            "WARNING" => Self::Warning,
            "NOTICE" => Self::Notice,
            "INFORMATIONAL" | "INFO" => Self::Informational,
            "DEBUG" => Self::Debug,
            _ => return None,
        })
    }
}

/// A string or a list of strings, as exception `fields` and `comps` may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OneOrMany {
    /// One: the exception's values are single values.
    One(String),
    /// Several: each value is a tuple with one entry per field.
    Many(Vec<String>),
}

impl Default for OneOrMany {
    fn default() -> Self {
        Self::Many(Vec::new())
    }
}

/// One exception value: a scalar, or a list (a tuple, or a list for `in`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExceptionValue {
    /// A single value.
    Scalar(String),
    /// A tuple or a list of values.
    List(Vec<ExceptionValue>),
}

/// A rule exception as written; the engine turns it into `and not (...)` clauses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exception {
    /// Its name, unique within the rule (appends with the same name add values).
    pub name: String,
    /// The fields compared.
    pub fields: OneOrMany,
    /// The operators, one per field; `None` means Falco's default (`=`, or `in`).
    pub comps: Option<OneOrMany>,
    /// The values, each a tuple matching `fields`.
    pub values: Vec<ExceptionValue>,
}

/// Where an item was defined: the file's name as given to the loader, and the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: String,
    /// The item's first line.
    pub line: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Something accepted but worth telling the operator (an unknown key, an unused macro).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: String,
    /// The item's line.
    pub line: u64,
    /// The item, e.g. "rule `Foo`".
    pub item: String,
    /// What was noticed.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.item, self.message
        )
    }
}

/// A rule after merging all files and expanding its condition.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its name (`rule:`).
    pub name: String,
    /// Where it was first defined.
    pub origin: Origin,
    /// `desc`.
    pub desc: String,
    /// The condition text after appends, as parsed.
    pub condition_text: String,
    /// The condition with every macro and list expanded, and each exception
    /// added as `and not (...)` the way Falco compiles them.
    pub condition: Expr,
    /// `output`: the finding's message template.
    pub output: String,
    /// The fields `output` prints.
    pub output_fields: Vec<FieldRef>,
    /// Every field the condition reads.
    pub fields: BTreeSet<FieldRef>,
    /// The event types the condition can match.
    pub evt_types: EvtTypes,
    /// `priority`.
    pub priority: Priority,
    /// `tags` (MITRE ids and the like).
    pub tags: Vec<String>,
    /// `enabled` (default true).
    pub enabled: bool,
    /// `exceptions` as written (they are also folded into `condition`).
    pub exceptions: Vec<Exception>,
    /// `source` (default `syscall`).
    pub source: String,
    /// `warn_evttypes` (default true).
    pub warn_evttypes: bool,
    /// `skip-if-unknown-filter` (default false).
    pub skip_if_unknown_filter: bool,
    /// `capture` (default false).
    pub capture: bool,
    /// `capture_duration` in milliseconds.
    pub capture_duration: Option<u64>,
}

/// A macro after merging, its condition expanded as if it were a rule's.
#[derive(Clone, Debug)]
pub struct Macro {
    /// Its name.
    pub name: String,
    /// Where it was first defined.
    pub origin: Origin,
    /// The condition text after appends.
    pub condition_text: String,
    /// The expanded condition, or `None` when no rule uses the macro (an unused
    /// macro is only checked for syntax, as in Falco).
    pub condition: Option<Expr>,
}

/// A list after merging, with nested lists resolved.
#[derive(Clone, Debug)]
pub struct List {
    /// Its name.
    pub name: String,
    /// Where it was first defined.
    pub origin: Origin,
    /// The items as written (after appends).
    pub items: Vec<String>,
    /// The items with nested lists replaced by theirs and quotes removed.
    pub resolved: Vec<String>,
}

/// `required_plugin_versions` entries: recorded, not enforced (plugins do not apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginVersion {
    /// The plugin's name.
    pub name: String,
    /// The version the rules need.
    pub version: String,
}

/// All rules, macros and lists of a set of files.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    macros: Vec<Macro>,
    lists: Vec<List>,
    engine_versions: Vec<String>,
    plugin_versions: Vec<PluginVersion>,
    warnings: Vec<Warning>,
}

impl RuleSet {
    /// Loads `(name, text)` files in order: later files append to, override or
    /// replace earlier items. Refuses the whole set on the first error.
    pub fn load(files: &[(&str, &str)]) -> Result<Self, RulesError> {
        set::load(files)
    }

    /// The rules, in the order first defined.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule named `name`.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// The macros, in the order first defined.
    pub fn macros(&self) -> &[Macro] {
        &self.macros
    }

    /// The lists, in the order first defined.
    pub fn lists(&self) -> &[List] {
        &self.lists
    }

    /// Every `required_engine_version` seen (recorded, not enforced).
    pub fn engine_versions(&self) -> &[String] {
        &self.engine_versions
    }

    /// Every `required_plugin_versions` entry seen (recorded, not enforced).
    pub fn plugin_versions(&self) -> &[PluginVersion] {
        &self.plugin_versions
    }

    /// What was accepted but deserves a look.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}
