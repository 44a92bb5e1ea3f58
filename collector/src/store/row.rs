//! A finding made ready to store: checked, given the node that sent it, and
//! the columns analysts filter on read out of its encoding. The ingest streams
//! prepare their batches side by side on the runtime's threads, so the one
//! writer thread (SQLite has one writer) spends its time writing and nothing
//! else: this preparation was a third of its work. Only what is indexed is
//! decoded ([`FindingHead`], [`wire::field_values`]); the rest is checked
//! without allocating ([`wire::check_finding_rest`]), and the bytes are stored
//! as they came.

use prost::{Message as _, bytes::Bytes};
use sensor_proto::{
    v1::{Finding, FindingHead, ProcessInfo, Value, value::Kind},
    wire,
};

use super::StoreError;

/// The longest finding id stored (a UUID has 36 characters).
pub const MAX_ID: usize = 128;

/// One finding as a store writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The sensor's unique id.
    pub id: String,
    /// The event's time, ns since the epoch.
    pub time_ns: i64,
    /// The rule.
    pub rule: String,
    /// The priority's number.
    pub priority: i32,
    /// The authenticated node that sent it (whatever the finding said).
    pub node: String,
    /// The event source (`syscall`).
    pub source: String,
    /// `k8s.ns.name`, else the pod context's namespace.
    pub namespace: Option<String>,
    /// `k8s.pod.name`, else the pod context's name.
    pub pod: Option<String>,
    /// `container.id` (12 characters), else the container context's id cut to 12.
    pub container_id: Option<String>,
    /// `proc.name`, else the first process of the ancestry.
    pub proc_name: Option<String>,
    /// `fd.name`, the file or socket the event was about.
    pub fd_name: Option<String>,
    /// The tags as a JSON array.
    pub tags: String,
    /// Events the finding stands for (folding).
    pub count: i64,
    /// The encoded finding, with the sender's node: what queries return, and
    /// what filters on catalogue fields read (see `wire::field_values`).
    pub body: Bytes,
}

fn text(v: Option<Value>) -> Option<String> {
    match v?.kind? {
        Kind::StringValue(s) => Some(s),
        _ => None,
    }
}

fn bad(id: &str, reason: &'static str) -> StoreError {
    StoreError::BadFinding {
        id: id.chars().take(MAX_ID).collect(),
        reason,
    }
}

impl Row {
    /// Prepares an encoded finding sent by `node`, reading only what is
    /// indexed; a finding the store cannot keep (one that does not decode,
    /// without an id, with an absurd time) is refused with the reason.
    pub fn new(node: &str, encoded: Bytes) -> Result<Self, StoreError> {
        const UNREADABLE: &str = "it does not decode as a sensor.v1.Finding";
        let head = FindingHead::decode(encoded.as_ref()).map_err(|_| bad("", UNREADABLE))?;
        wire::check_finding_rest(&encoded).map_err(|_| bad(&head.id, UNREADABLE))?;
        if head.id.is_empty() || head.id.len() > MAX_ID {
            return Err(bad(&head.id, "its id is empty or longer than 128 bytes"));
        }
        let time_ns = i64::try_from(head.time_unix_nano)
            .map_err(|_| bad(&head.id, "its time is after the year 2262"))?;
        let [namespace, pod, container_id, proc_name, fd_name] = wire::field_values(
            &encoded,
            [
                "k8s.ns.name",
                "k8s.pod.name",
                "container.id",
                "proc.name",
                "fd.name",
            ],
        )
        .map_err(|_| bad(&head.id, UNREADABLE))?;
        // The node is the peer that sent it, not what the finding says; a
        // sensor names itself as its certificate does, so this is rare.
        let body = if head.node == node {
            encoded
        } else {
            let mut f = Finding::decode(encoded.as_ref()).map_err(|_| bad(&head.id, UNREADABLE))?;
            node.clone_into(&mut f.node);
            f.encode_to_vec().into()
        };
        let first = head
            .ancestry
            .first()
            .and_then(|p| ProcessInfo::decode(p.as_ref()).ok());
        Ok(Self {
            namespace: text(namespace).or(head.pod.as_ref().map(|p| p.namespace.clone())),
            pod: text(pod).or(head.pod.as_ref().map(|p| p.name.clone())),
            container_id: text(container_id).or(head
                .container
                .as_ref()
                .map(|c| c.id.get(..12).unwrap_or(&c.id).to_owned())),
            proc_name: text(proc_name).or(first.map(|p| p.name)),
            fd_name: text(fd_name),
            tags: serde_json::Value::from(head.tags).to_string(),
            priority: head.priority,
            count: i64::try_from(head.count).unwrap_or(i64::MAX),
            id: head.id,
            time_ns,
            rule: head.rule,
            node: node.to_owned(),
            source: head.source,
            body,
        })
    }

    /// Prepares a batch; the first finding refused refuses it.
    pub fn all(node: &str, findings: Vec<Bytes>) -> Result<Vec<Self>, StoreError> {
        findings.into_iter().map(|f| Self::new(node, f)).collect()
    }

    /// Prepares a decoded finding (imports, tests).
    pub fn from_finding(node: &str, finding: &Finding) -> Result<Self, StoreError> {
        Self::new(node, finding.encode_to_vec().into())
    }

    /// What retention by size counts for this finding: its message, without
    /// the store's own overhead.
    pub fn bytes(&self) -> i64 {
        i64::try_from(self.body.len()).unwrap_or(i64::MAX)
    }
}
