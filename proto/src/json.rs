//! Findings between the sensor's JSON (what `Finding::to_falco_json` writes:
//! Falco's `json_output` shape plus `uuid`, `count`, `suppressed`) and
//! [`Finding`]. The process, container and pod messages are read from the
//! catalogue fields (`proc.*`, `container.*`, `k8s.*`); every field also stays in
//! [`Finding::fields`], so nothing is lost. JSON from a file or a peer is
//! untrusted: a missing or mistyped member is an error, never a panic.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use crate::v1::{
    ContainerInfo, Finding, PodInfo, Priority, ProcessInfo, StringList, StringMap, Value,
    value::Kind,
};

/// Why a JSON finding cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FromJsonError {
    /// The finding is not a JSON object.
    #[error("a finding must be a JSON object")]
    NotAnObject,
    /// A member the finding needs is missing.
    #[error("the finding has no `{member}`")]
    Missing {
        /// The member's name.
        member: &'static str,
    },
    /// A member has the wrong JSON type.
    #[error("the finding's `{member}` must be {expected}")]
    WrongType {
        /// The member's name.
        member: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The priority is not one of Falco's.
    #[error("`{priority}` is not a priority (Emergency ... Debug)")]
    BadPriority {
        /// The text found.
        priority: String,
    },
    /// The time is not RFC 3339, and there is no `evt.rawtime`.
    #[error("the finding's time `{time}` is not RFC 3339 ({reason})")]
    BadTime {
        /// The text found.
        time: String,
        /// What the parser said.
        reason: String,
    },
}

fn member<'a>(obj: &'a Map<String, Json>, member: &'static str) -> Result<&'a Json, FromJsonError> {
    obj.get(member).ok_or(FromJsonError::Missing { member })
}

fn string(obj: &Map<String, Json>, name: &'static str) -> Result<String, FromJsonError> {
    member(obj, name)?
        .as_str()
        .map(str::to_owned)
        .ok_or(FromJsonError::WrongType {
            member: name,
            expected: "a string",
        })
}

fn opt_string(obj: &Map<String, Json>, name: &'static str) -> Result<String, FromJsonError> {
    match obj.get(name) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(_) => string(obj, name),
    }
}

fn opt_u64(
    obj: &Map<String, Json>,
    name: &'static str,
    default: u64,
) -> Result<u64, FromJsonError> {
    match obj.get(name) {
        None | Some(Json::Null) => Ok(default),
        Some(v) => v.as_u64().ok_or(FromJsonError::WrongType {
            member: name,
            expected: "a non-negative integer",
        }),
    }
}

/// A finding from the sensor's JSON.
pub fn finding_from_falco_json(json: &Json) -> Result<Finding, FromJsonError> {
    let obj = json.as_object().ok_or(FromJsonError::NotAnObject)?;
    let id = string(obj, "uuid")?;
    let rule = string(obj, "rule")?;
    let priority_name = string(obj, "priority")?;
    let priority = Priority::from_falco_name(&priority_name).ok_or(FromJsonError::BadPriority {
        priority: priority_name,
    })?;
    let time = string(obj, "time")?;
    let empty = Map::new();
    let fields = match obj.get("output_fields") {
        None | Some(Json::Null) => &empty,
        Some(Json::Object(fields)) => fields,
        Some(_) => {
            return Err(FromJsonError::WrongType {
                member: "output_fields",
                expected: "an object",
            });
        }
    };
    let time_unix_nano = match fields.get("evt.rawtime").and_then(Json::as_u64) {
        Some(ns) => ns,
        None => parse_time(&time)?,
    };
    let tags = match obj.get("tags") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(tags)) => tags
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or(FromJsonError::WrongType {
                member: "tags",
                expected: "a list of strings",
            })?,
        Some(_) => {
            return Err(FromJsonError::WrongType {
                member: "tags",
                expected: "a list of strings",
            });
        }
    };
    let output = strip_prefix(&opt_string(obj, "output")?, &time, priority).to_owned();
    Ok(Finding {
        id,
        time_unix_nano,
        rule,
        priority: priority as i32,
        output,
        tags,
        source: opt_string(obj, "source")?,
        node: opt_string(obj, "hostname")?,
        count: opt_u64(obj, "count", 1)?,
        suppressed: opt_u64(obj, "suppressed", 0)?,
        fields: fields
            .iter()
            .map(|(k, v)| (k.clone(), value_from_json(v)))
            .collect(),
        ancestry: ancestry(fields),
        container: container(fields),
        pod: pod(fields),
    })
}

fn parse_time(time: &str) -> Result<u64, FromJsonError> {
    let bad = |reason: String| FromJsonError::BadTime {
        time: time.to_owned(),
        reason,
    };
    let at = humantime::parse_rfc3339(time).map_err(|e| bad(e.to_string()))?;
    let since = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| bad("before 1970".into()))?;
    u64::try_from(since.as_nanos()).map_err(|_| bad("after 2554".into()))
}

/// The rule's own output: Falco's JSON prefixes it with the time of day and the
/// priority (`17:28:46.439914700: Warning ...`), which the message has apart.
fn strip_prefix<'a>(output: &'a str, time: &str, priority: Priority) -> &'a str {
    let clock = time.get(11..29).unwrap_or(time);
    let prefix = format!("{clock}: {} ", priority.falco_name());
    output.strip_prefix(prefix.as_str()).unwrap_or(output)
}

/// One field's value. Numbers that fit are unsigned (JSON does not say which a
/// sensor meant); shapes [`Kind`] has no variant for travel as JSON text.
pub fn value_from_json(v: &Json) -> Value {
    let kind = match v {
        Json::Null => None,
        Json::Bool(b) => Some(Kind::BoolValue(*b)),
        Json::Number(n) => Some(if let Some(u) = n.as_u64() {
            Kind::UintValue(u)
        } else if let Some(i) = n.as_i64() {
            Kind::IntValue(i)
        } else {
            Kind::DoubleValue(n.as_f64().unwrap_or(f64::NAN))
        }),
        Json::String(s) => Some(Kind::StringValue(s.clone())),
        Json::Array(items) => Some(
            match items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
            {
                Some(values) => Kind::ListValue(StringList { values }),
                None => Kind::JsonValue(v.to_string()),
            },
        ),
        Json::Object(map) => Some(
            match map
                .iter()
                .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect::<Option<BTreeMap<_, _>>>()
            {
                Some(values) => Kind::MapValue(StringMap { values }),
                None => Kind::JsonValue(v.to_string()),
            },
        ),
    };
    Value { kind }
}

/// A field's value as JSON: the inverse of [`value_from_json`].
pub fn value_to_json(v: &Value) -> Json {
    match &v.kind {
        None => Json::Null,
        Some(Kind::StringValue(s)) => s.clone().into(),
        Some(Kind::IntValue(i)) => (*i).into(),
        Some(Kind::UintValue(u)) => (*u).into(),
        Some(Kind::BoolValue(b)) => (*b).into(),
        // NaN and infinities have no JSON number: null, as serde_json writes them.
        Some(Kind::DoubleValue(d)) => {
            serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number)
        }
        Some(Kind::ListValue(list)) => list.values.clone().into(),
        Some(Kind::MapValue(map)) => Json::Object(
            map.values
                .iter()
                .map(|(k, v)| (k.clone(), Json::from(v.clone())))
                .collect(),
        ),
        Some(Kind::JsonValue(text)) => {
            serde_json::from_str(text).unwrap_or_else(|_| Json::from(text.clone()))
        }
    }
}

/// A finding's fields as one JSON object, keyed by catalogue name.
pub fn fields_to_json(finding: &Finding) -> Json {
    Json::Object(
        finding
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

/// The finding in the sensor's JSON shape: the inverse of
/// [`finding_from_falco_json`], for clients that print findings as Falco does.
pub fn finding_to_falco_json(finding: &Finding) -> Json {
    let priority = finding.priority().falco_name();
    let time = humantime::format_rfc3339_nanos(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(finding.time_unix_nano),
    )
    .to_string();
    let clock = time.get(11..29).unwrap_or(&time);
    let mut obj = Map::new();
    obj.insert(
        "output".into(),
        format!("{clock}: {priority} {}", finding.output).into(),
    );
    obj.insert("time".into(), time.into());
    obj.insert("rule".into(), finding.rule.clone().into());
    obj.insert("priority".into(), priority.into());
    obj.insert("output_fields".into(), fields_to_json(finding));
    obj.insert("tags".into(), finding.tags.clone().into());
    obj.insert("hostname".into(), finding.node.clone().into());
    obj.insert("source".into(), finding.source.clone().into());
    obj.insert("uuid".into(), finding.id.clone().into());
    obj.insert("count".into(), finding.count.into());
    if finding.suppressed > 0 {
        obj.insert("suppressed".into(), finding.suppressed.into());
    }
    Json::Object(obj)
}

fn text(fields: &Map<String, Json>, name: &str) -> Option<String> {
    fields.get(name)?.as_str().map(str::to_owned)
}

fn pid(fields: &Map<String, Json>, name: &str) -> Option<u32> {
    u32::try_from(fields.get(name)?.as_u64()?).ok()
}

fn list(fields: &Map<String, Json>, name: &str) -> Vec<String> {
    let Some(Json::Array(items)) = fields.get(name) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|i| i.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The process, its parent, then the ancestors `proc.aname` and `proc.aexepath`
/// name (whose first item is the process itself).
fn ancestry(fields: &Map<String, Json>) -> Vec<ProcessInfo> {
    let names = list(fields, "proc.aname");
    let exepaths = list(fields, "proc.aexepath");
    let at = |list: &[String], i: usize| list.get(i).cloned();
    let mut chain = Vec::new();
    let own = ProcessInfo {
        pid: pid(fields, "proc.pid").unwrap_or_default(),
        name: text(fields, "proc.name")
            .or_else(|| at(&names, 0))
            .unwrap_or_default(),
        exepath: text(fields, "proc.exepath")
            .or_else(|| at(&exepaths, 0))
            .unwrap_or_default(),
        cmdline: text(fields, "proc.cmdline").unwrap_or_default(),
        exec_id: text(fields, "proc.exec_id").unwrap_or_default(),
    };
    if own == ProcessInfo::default() {
        return chain;
    }
    chain.push(own);
    let parent = ProcessInfo {
        pid: pid(fields, "proc.ppid").unwrap_or_default(),
        name: text(fields, "proc.pname")
            .or_else(|| at(&names, 1))
            .unwrap_or_default(),
        exepath: text(fields, "proc.pexepath")
            .or_else(|| at(&exepaths, 1))
            .unwrap_or_default(),
        cmdline: text(fields, "proc.pcmdline").unwrap_or_default(),
        exec_id: text(fields, "proc.pexec_id").unwrap_or_default(),
    };
    if parent == ProcessInfo::default() {
        return chain;
    }
    chain.push(parent);
    for i in 2..names.len().max(exepaths.len()) {
        chain.push(ProcessInfo {
            name: at(&names, i).unwrap_or_default(),
            exepath: at(&exepaths, i).unwrap_or_default(),
            ..ProcessInfo::default()
        });
    }
    chain
}

fn container(fields: &Map<String, Json>) -> Option<ContainerInfo> {
    let id = text(fields, "container.full_id").or_else(|| text(fields, "container.id"))?;
    if id == "host" {
        return None;
    }
    Some(ContainerInfo {
        id,
        name: text(fields, "container.name").unwrap_or_default(),
        image: text(fields, "container.image").unwrap_or_default(),
        runtime: text(fields, "container.type").unwrap_or_default(),
    })
}

fn pod(fields: &Map<String, Json>) -> Option<PodInfo> {
    let namespace = text(fields, "k8s.ns.name");
    let name = text(fields, "k8s.pod.name");
    let uid = text(fields, "k8s.pod.uid");
    if namespace.is_none() && name.is_none() && uid.is_none() {
        return None;
    }
    let labels = match fields.get("k8s.pod.labels") {
        Some(Json::Object(labels)) => labels
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (k.clone(), v)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    Some(PodInfo {
        namespace: namespace.unwrap_or_default(),
        name: name.unwrap_or_default(),
        uid: uid.unwrap_or_default(),
        labels,
        workload_kind: text(fields, "k8s.workload.kind").unwrap_or_default(),
        workload_name: text(fields, "k8s.workload.name").unwrap_or_default(),
        node: text(fields, "k8s.node.name").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
