//! `sensor rules check FILE...`: loads rule files as the agent would and says, for
//! each rule, whether the sensor can run it or why not.
//!
//! A rule is skipped, never the file, when it reads a field the catalogue does not
//! have or can only match event types the sensor does not report; a file with a
//! syntax error is refused with its line and column.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use serde::Serialize;

use crate::{
    event::evt_types,
    fields,
    rules::{EvtTypes, Rule, RuleSet},
};

/// The `sensor rules` commands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load rule files in order and list each rule as loaded or skipped, with why.
    Check {
        /// Rule files (YAML, Falco's format), loaded in this order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// What became of one rule.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Verdict {
    /// The rule's name.
    pub rule: String,
    /// Whether the sensor can run it.
    pub loaded: bool,
    /// Why not, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Largest rule file accepted: Falco's whole stable set is about 70 KB.
const MAX_FILE_BYTES: u64 = 16 << 20;

pub(super) fn run(command: &RulesCommand) -> anyhow::Result<()> {
    let RulesCommand::Check { files, json } = command;
    let mut texts = Vec::with_capacity(files.len());
    for path in files {
        let len = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        anyhow::ensure!(
            len <= MAX_FILE_BYTES,
            "{} is larger than {MAX_FILE_BYTES} bytes",
            path.display()
        );
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        texts.push((path.display().to_string(), text));
    }
    let named: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let set = RuleSet::load(&named)?;
    for warning in set.warnings() {
        tracing::warn!("{warning}");
    }
    let verdicts: Vec<Verdict> = set.rules().iter().map(judge).collect();
    if *json {
        for v in &verdicts {
            println!("{}", serde_json::to_string(v)?);
        }
    } else {
        for v in &verdicts {
            match &v.reason {
                None => println!("loaded   {}", v.rule),
                Some(why) => println!("skipped  {}: {why}", v.rule),
            }
        }
    }
    let loaded = verdicts.iter().filter(|v| v.loaded).count();
    eprintln!("{loaded} loaded, {} skipped", verdicts.len() - loaded);
    Ok(())
}

/// Whether the sensor can run `rule`, and why not.
pub fn judge(rule: &Rule) -> Verdict {
    let verdict = |reason: Option<String>| Verdict {
        rule: rule.name.clone(),
        loaded: reason.is_none(),
        reason,
    };
    if rule.source != "syscall" {
        return verdict(Some(format!(
            "source `{}` is not this sensor's",
            rule.source
        )));
    }
    let missing: Vec<&str> = rule
        .fields
        .iter()
        .chain(&rule.output_fields)
        .map(|f| f.name.as_str())
        .filter(|name| fields::find(name).is_none())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        return verdict(Some(format!("no field {}", missing.join(", "))));
    }
    if let EvtTypes::Only(types) = &rule.evt_types {
        let known = evt_types();
        if !types.iter().any(|t| known.contains(&t.as_str())) {
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            return verdict(Some(format!(
                "no event type it matches is reported: {}",
                types.join(", ")
            )));
        }
    }
    verdict(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(text: &str) -> Vec<Verdict> {
        let set = RuleSet::load(&[("test.yaml", text)]).expect("a valid file");
        set.rules().iter().map(judge).collect()
    }

    #[test]
    fn rules_are_loaded_or_skipped_with_the_reason() {
        let v = verdicts(
            r#"
- rule: shadow
  desc: reads shadow
  condition: evt.type in (open, openat) and fd.name = /etc/shadow and container.id != host
  output: "%proc.name read %fd.name in %k8s.pod.name"
  priority: WARNING
- rule: needs a field we lack
  desc: x
  condition: evt.type = execve and proc.is_vpgid_leader = true
  output: "%proc.name"
  priority: NOTICE
- rule: only events we do not report
  desc: x
  condition: evt.type in (sendto, recvfrom) and proc.name = nc
  output: "%proc.name"
  priority: NOTICE
- rule: another source
  desc: x
  condition: ka.verb = create
  output: x
  priority: NOTICE
  source: k8s_audit
"#,
        );
        assert_eq!(
            v.iter().map(|v| v.loaded).collect::<Vec<_>>(),
            [true, false, false, false]
        );
        assert_eq!(
            v[1].reason.as_deref(),
            Some("no field proc.is_vpgid_leader")
        );
        assert!(
            v[2].reason
                .as_deref()
                .is_some_and(|r| r.contains("recvfrom, sendto")),
            "{:?}",
            v[2]
        );
        assert!(
            v[3].reason
                .as_deref()
                .is_some_and(|r| r.contains("k8s_audit"))
        );
    }

    #[test]
    fn falcos_stable_rules_are_each_judged() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../rules/compat/falco_rules.yaml"
        ))
        .expect("the compat rules");
        let v = verdicts(&text);
        assert_eq!(v.len(), 25);
        for verdict in &v {
            assert_eq!(verdict.loaded, verdict.reason.is_none(), "{verdict:?}");
        }
        assert!(
            v.iter().any(|v| !v.loaded),
            "Falco's set uses fields we lack"
        );
    }
}
