//! A finding as a spool record: the protobuf message the collector stores,
//! made from the finding's Falco JSON by the conversion the collector itself
//! uses for imported JSON lines, so both sides agree on every field.

use prost::Message as _;
use sensor_proto::{json::finding_from_falco_json, v1};

use crate::engine::finding::Finding;

/// The record for `finding`. Errors only if the JSON lacks what the message
/// needs, which would be a bug in the sensor: the caller counts and logs it.
pub fn encode(finding: &Finding) -> Result<Vec<u8>, String> {
    let message = finding_from_falco_json(&finding.to_falco_json()).map_err(|e| e.to_string())?;
    Ok(message.encode_to_vec())
}

/// The finding in a record read back from the spool.
pub fn decode(record: &[u8]) -> Result<v1::Finding, prost::DecodeError> {
    v1::Finding::decode(record)
}
