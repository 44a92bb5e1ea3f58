//! `sensor rules check FILE...`: loads rule files as the agent would and says, for
//! each rule, whether the sensor can run it or why not; `sensor rules list`: the
//! rules that run.
//!
//! A rule is skipped, never the file, when it reads a field the catalogue does not
//! have or can only match event types the sensor does not report; a file with a
//! syntax error is refused with its line and column.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use crate::{
    engine::{Engine, files::RuleFiles},
    rules::{EvtTypes, RuleSet},
};

/// The `sensor rules` commands.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load rule files in order and list each rule as loaded or skipped, with why.
    Check {
        /// Rule files or directories (YAML, Falco's format), loaded in this order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the rules that run: priority, event types and tags.
    List {
        /// Rule files or directories; default: the rule set shipped with the sensor.
        files: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn engine(files: &[PathBuf]) -> anyhow::Result<Engine> {
    let texts = RuleFiles::new(files.to_vec()).read()?;
    let named: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let set = RuleSet::load(&named)?;
    for warning in set.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(Engine::new(&set))
}

pub(super) fn run(command: &RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Check { files, json } => check(files, *json),
        RulesCommand::List { files, json } => list(files, *json),
    }
}

fn check(files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let engine = engine(files)?;
    let verdicts = engine.verdicts();
    for v in verdicts {
        if json {
            println!("{}", serde_json::to_string(v)?);
        } else {
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

/// One rule that runs, for `sensor rules list`.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    rule: &'a str,
    priority: &'a str,
    evt_types: Vec<&'a str>,
    tags: &'a [String],
    origin: String,
}

fn list(files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let engine = engine(files)?;
    for c in engine.rules() {
        let r = &c.rule;
        let listed = Listed {
            rule: &r.name,
            priority: r.priority.falco_name(),
            evt_types: match &r.evt_types {
                EvtTypes::Any => vec!["*"],
                EvtTypes::Only(t) => t.iter().map(String::as_str).collect(),
            },
            tags: &r.tags,
            origin: r.origin.to_string(),
        };
        if json {
            println!("{}", serde_json::to_string(&listed)?);
        } else {
            println!(
                "{:<13} {:<45} {:<30} {}",
                listed.priority,
                listed.rule,
                listed.evt_types.join(","),
                listed.tags.join(",")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(text: &str) -> Vec<crate::engine::Verdict> {
        let set = RuleSet::load(&[("test.yaml", text)]).expect("a valid file");
        Engine::new(&set).verdicts().to_vec()
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
