//! Findings: what a matched rule reports. Each carries the rule, its priority and
//! tags, its rendered output, a unique id, the node, and every field of the event
//! and its context, so that an analyst needs nothing else to see which pod did
//! what. [`Finding::to_falco_json`] writes them the way Falco's JSON output does,
//! so tools built for Falco read them.

use std::{fmt::Write as _, sync::Arc};

use serde_json::{Map, Value as Json};

use super::{
    Compiled,
    read::{Scratch, Subject, read},
    value::Val,
};
use crate::{
    event::facts::cap_names,
    output::{context as who_json, json},
    rules::{Priority, render},
};

/// Falco's text for a value the event does not have.
pub const NA: &str = "<NA>";

/// One finding.
#[derive(Clone, Debug)]
pub struct Finding {
    /// A unique id (a UUID, version 7: ordered by time).
    pub id: String,
    /// When the event happened, ns since the Unix epoch.
    pub time_ns: u64,
    /// The same, RFC 3339 in UTC.
    pub time: String,
    /// The rule's name.
    pub rule: Arc<str>,
    /// The rule's priority.
    pub priority: Priority,
    /// The rule's output with the event's values.
    pub output: String,
    /// The rule's tags (MITRE ATT&CK ids among them).
    pub tags: Arc<[String]>,
    /// The rule's source (`syscall`).
    pub source: Arc<str>,
    /// The node.
    pub hostname: Arc<str>,
    /// Every field of the event and its context, and each field the rule's
    /// condition and output read, by catalogue name (`proc.aname[2]` with its
    /// argument).
    pub fields: Map<String, Json>,
    /// How many identical findings this one stands for (1: itself alone; a
    /// summary at the end of a fold window counts those folded into it).
    pub count: u64,
    /// Findings of the same rule its rate limit held back before this one.
    pub suppressed: u64,
    /// The container (`host` outside containers), for folding duplicates.
    pub container_id: String,
}

/// A value as text, the way outputs print it.
pub fn write_text(out: &mut String, v: Val<'_>) {
    match v {
        Val::Absent => out.push_str(NA),
        Val::Str(s) => out.push_str(s),
        Val::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Val::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Val::IpPair(a, b) => {
            let _ = write!(out, "{a},{b}");
        }
        Val::Caps(set) => out.push_str(&cap_names(set)),
        Val::List(list) => {
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(item);
            }
        }
    }
}

/// A value as JSON.
pub fn to_json(v: Val<'_>) -> Json {
    match v {
        Val::Absent => Json::Null,
        Val::Str(s) => s.into(),
        Val::Uint(n) => n.into(),
        Val::Int(n) => n.into(),
        Val::Bool(b) => b.into(),
        Val::Ip(ip) => ip.to_string().into(),
        Val::IpPair(a, b) => vec![a.to_string(), b.to_string()].into(),
        Val::List(list) => list.iter().collect::<Vec<_>>().into(),
        Val::Caps(set) => cap_names(set).into(),
    }
}

/// The key a field reference has in a finding's fields: `proc.aname[2]`.
fn key(f: &crate::rules::FieldRef) -> String {
    match &f.arg {
        Some(arg) => format!("{}[{arg}]", f.name),
        None => f.name.clone(),
    }
}

/// The finding of rule `c` for `s`.
pub fn build(c: &Compiled, s: &Subject<'_>, scratch: &mut Scratch, hostname: &Arc<str>) -> Finding {
    let output = render_output(c, s, scratch);
    build_with_output(c, s, scratch, hostname, output)
}

/// The finding's `container_id`: the container's id, or `host`. Noise control
/// folds by it, before and after a finding is built, so both read it here.
pub fn container_key<'a>(who: &'a crate::context::Who<'_>) -> &'a str {
    who.container.as_ref().map_or("host", |c| c.id.as_str())
}

/// The rule's output for this event: the part of a finding that tells it from
/// another of its rule and container (what noise control folds by).
pub fn render_output(c: &Compiled, s: &Subject<'_>, scratch: &mut Scratch) -> String {
    for (_, access) in &c.output {
        scratch.fill(access, s);
    }
    let scratch = &*scratch;
    render(&c.rule.output, |f, out| {
        match c.output.iter().find(|(r, _)| r == f) {
            Some((_, access)) => write_text(out, read(access, s, scratch)),
            None => out.push_str(NA),
        }
    })
}

/// The finding of this event, given the output [`render_output`] rendered for
/// it (with the same scratch, for the same event).
pub fn build_with_output(
    c: &Compiled,
    s: &Subject<'_>,
    scratch: &mut Scratch,
    hostname: &Arc<str>,
    output: String,
) -> Finding {
    for (_, access) in &c.reads {
        scratch.fill(access, s);
    }
    let scratch = &*scratch;
    let mut event = json::event(s.event, s.clock);
    let mut fields = match event.as_object_mut() {
        Some(obj) => {
            who_json::add(obj, s.who, s.clock, s.ticks_per_second);
            std::mem::take(obj)
        }
        None => Map::new(),
    };
    fields.insert(crate::fields::EVT_NUM.into(), s.num.into());
    for (f, access) in c.output.iter().chain(&c.reads) {
        let value = to_json(read(access, s, scratch));
        // The event's own JSON has the unargumented fields already (with the
        // process itself as proc.aname's first item, as `sensor trace` prints).
        fields.entry(key(f)).or_insert(value);
    }
    let time_ns = s.clock.epoch_ns(s.event.boot_ns);
    let time = humantime::format_rfc3339_nanos(s.clock.wall(s.event.boot_ns)).to_string();
    let container_id = container_key(s.who).to_owned();
    Finding {
        id: uuid::Uuid::now_v7().to_string(),
        time_ns,
        time,
        rule: c.rule.name.as_str().into(),
        priority: c.rule.priority,
        output,
        tags: c.rule.tags.clone().into(),
        source: c.rule.source.as_str().into(),
        hostname: hostname.clone(),
        fields,
        count: 1,
        suppressed: 0,
        container_id,
    }
}

impl Finding {
    /// The finding as Falco writes one with `json_output: true`: `time`, `rule`,
    /// `priority`, `output` (prefixed with the time of day and the priority, as
    /// Falco's is), `output_fields`, `tags`, `hostname`, `source`; and this
    /// sensor's `uuid`, `count` and (when the rule's rate limit held some back)
    /// `suppressed`.
    pub fn to_falco_json(&self) -> Json {
        // RFC 3339 "2026-12-02T01:02:03.123456789Z": the time of day is 11..29.
        let clock = self.time.get(11..29).unwrap_or(&self.time);
        let output = format!("{clock}: {} {}", self.priority.falco_name(), self.output);
        let mut obj = Map::new();
        obj.insert("time".into(), self.time.clone().into());
        obj.insert("rule".into(), (*self.rule).into());
        obj.insert("priority".into(), self.priority.falco_name().into());
        obj.insert("output".into(), output.into());
        obj.insert("output_fields".into(), Json::Object(self.fields.clone()));
        obj.insert(
            "tags".into(),
            self.tags.iter().cloned().collect::<Vec<_>>().into(),
        );
        obj.insert("hostname".into(), (*self.hostname).into());
        obj.insert("source".into(), (*self.source).into());
        obj.insert("uuid".into(), self.id.clone().into());
        obj.insert("count".into(), self.count.into());
        if self.suppressed > 0 {
            obj.insert("suppressed".into(), self.suppressed.into());
        }
        Json::Object(obj)
    }
}
