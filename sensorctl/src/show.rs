//! How findings and stats print: a table for people, JSON lines for scripts
//! (a finding in the sensor's Falco-format JSON, the same as `sensor run --stdout`).

use std::io::Write;

use clap::ValueEnum;
use sensor_proto::{
    json::finding_to_falco_json,
    v1::{Finding, Priority, StatsBucket},
};

use crate::{
    table::{Column, Paint, render},
    time,
};

/// The output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns, cut to fit.
    #[default]
    Table,
    /// One JSON object per line.
    Json,
}

const FINDING_COLUMNS: [Column; 7] = [
    Column {
        name: "TIME",
        max: 23,
    },
    Column {
        name: "PRIORITY",
        max: 13,
    },
    Column {
        name: "RULE",
        max: 40,
    },
    Column {
        name: "NODE",
        max: 24,
    },
    Column {
        name: "POD",
        max: 48,
    },
    Column {
        name: "PROCESS",
        max: 20,
    },
    Column {
        name: "OUTPUT",
        max: 120,
    },
];

fn paint(p: Priority) -> Paint {
    match p {
        Priority::Emergency | Priority::Alert | Priority::Critical | Priority::Error => Paint::Red,
        Priority::Warning => Paint::Yellow,
        Priority::Informational | Priority::Debug => Paint::Dim,
        Priority::Notice | Priority::Unspecified => Paint::None,
    }
}

fn row(f: &Finding) -> (Paint, Vec<String>) {
    let pod = f
        .pod
        .as_ref()
        .filter(|p| !p.name.is_empty())
        .map_or_else(|| "-".to_owned(), |p| format!("{}/{}", p.namespace, p.name));
    let process = f.ancestry.first().map_or("-", |p| p.name.as_str());
    let mut priority = f.priority().falco_name().to_owned();
    if f.count > 1 {
        priority.push_str(&format!(" x{}", f.count));
    }
    (
        paint(f.priority()),
        vec![
            time::show(f.time_unix_nano),
            priority,
            f.rule.clone(),
            f.node.clone(),
            pod,
            process.to_owned(),
            f.output.clone(),
        ],
    )
}

/// Writes findings in `format`; the table has its heading only when `heading`.
pub fn findings(
    out: &mut impl Write,
    findings: &[Finding],
    format: Format,
    colour: bool,
    heading: bool,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for f in findings {
                serde_json::to_writer(&mut *out, &finding_to_falco_json(f))?;
                out.write_all(b"\n")?;
            }
        }
        Format::Table => {
            let rows: Vec<_> = findings.iter().map(row).collect();
            let text = render(&FINDING_COLUMNS, &rows, colour);
            let text = if heading {
                text.as_str()
            } else {
                text.split_once('\n').map_or("", |(_, rest)| rest)
            };
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}

/// Writes stats buckets in `format`.
pub fn stats(
    out: &mut impl Write,
    buckets: &[StatsBucket],
    by: &str,
    format: Format,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for b in buckets {
                let mut obj = serde_json::json!({
                    by: b.key,
                    "findings": b.findings,
                    "events": b.events,
                });
                if b.start_unix_nano > 0 {
                    obj["start"] = time::show(b.start_unix_nano).into();
                }
                serde_json::to_writer(&mut *out, &obj)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Table => {
            let bucketed = buckets.iter().any(|b| b.start_unix_nano > 0);
            let columns = [
                Column {
                    name: "BUCKET",
                    max: 23,
                },
                Column {
                    name: "KEY",
                    max: 60,
                },
                Column {
                    name: "FINDINGS",
                    max: 20,
                },
                Column {
                    name: "EVENTS",
                    max: 20,
                },
            ];
            let rows: Vec<_> = buckets
                .iter()
                .map(|b| {
                    let start = if bucketed {
                        time::show(b.start_unix_nano)
                    } else {
                        "all".into()
                    };
                    let key = if b.key.is_empty() {
                        "-".into()
                    } else {
                        b.key.clone()
                    };
                    (
                        Paint::None,
                        vec![start, key, b.findings.to_string(), b.events.to_string()],
                    )
                })
                .collect();
            out.write_all(render(&columns, &rows, false).as_bytes())?;
        }
    }
    out.flush()
}
