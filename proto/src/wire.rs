//! Reading a few of an encoded [`Finding`](crate::v1::Finding)'s fields
//! without decoding the rest. The collector keeps each finding as the bytes it
//! received and reads from them only what it indexes or a filter asks for: a
//! full decode allocates every string of the event, and was most of the
//! collector's work per finding.

use prost::{DecodeError, Message as _, bytes::Buf as _, encoding::decode_varint};

use crate::v1::Value;

/// Why an encoding could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A length or a fixed-width value runs past the end.
    #[error("the message is cut short")]
    Truncated,
    /// A wire type that this schema does not use (groups) or protobuf lacks.
    #[error("wire type {0} is not expected here")]
    WireType(u64),
    /// A field number protobuf does not allow.
    #[error("field number {0} is not allowed")]
    FieldNumber(u64),
    /// A string that is not UTF-8.
    #[error("a string is not UTF-8")]
    NotUtf8,
    /// A varint or a field value does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// `Finding.fields` (a map: on the wire, one `{key = 1, value = 2}` message per entry).
const FIELDS: u64 = 11;
const LEN: u64 = 2;

/// Reads the field `(number, wire type)` header.
fn key(buf: &mut &[u8]) -> Result<(u64, u64), WireError> {
    let key = decode_varint(buf)?;
    let number = key >> 3;
    // Field numbers run from 1 to 2^29 - 1; a decoder refuses the rest.
    if number == 0 || number >= 1 << 29 {
        return Err(WireError::FieldNumber(number));
    }
    Ok((number, key & 7))
}

/// Takes the next length-delimited payload.
fn payload<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let len = usize::try_from(decode_varint(buf)?).unwrap_or(usize::MAX);
    if len > buf.len() {
        return Err(WireError::Truncated);
    }
    let (head, rest) = buf.split_at(len);
    *buf = rest;
    Ok(head)
}

/// Skips one field's value of `wire` type.
fn skip(buf: &mut &[u8], wire: u64) -> Result<(), WireError> {
    let width = match wire {
        0 => {
            decode_varint(buf)?;
            return Ok(());
        }
        1 => 8,
        LEN => {
            payload(buf)?;
            return Ok(());
        }
        5 => 4,
        // Groups (3, 4) are not in this schema; anything else is not protobuf.
        other => return Err(WireError::WireType(other)),
    };
    if buf.len() < width {
        return Err(WireError::Truncated);
    }
    buf.advance(width);
    Ok(())
}

/// The values of the fields named in `names` (`None` for each one the finding
/// does not have), read from the finding's encoding. A key that appears twice
/// takes its last value, as a decoder would.
pub fn field_values<const N: usize>(
    finding: &[u8],
    names: [&str; N],
) -> Result<[Option<Value>; N], WireError> {
    let mut out = [const { None }; N];
    let mut buf = finding;
    while !buf.is_empty() {
        let (number, wire) = key(&mut buf)?;
        if number != FIELDS || wire != LEN {
            skip(&mut buf, wire)?;
            continue;
        }
        let mut entry = payload(&mut buf)?;
        let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
        while !entry.is_empty() {
            match key(&mut entry)? {
                (1, LEN) => name = payload(&mut entry)?,
                (2, LEN) => value = payload(&mut entry)?,
                (_, wire) => skip(&mut entry, wire)?,
            }
        }
        if let Some(i) = names.iter().position(|n| n.as_bytes() == name) {
            out[i] = Some(Value::decode(value)?);
        }
    }
    Ok(out)
}

/// A string field: its bytes must be UTF-8, as a decoder requires.
fn string(buf: &mut &[u8]) -> Result<(), WireError> {
    std::str::from_utf8(payload(buf)?).map_err(|_| WireError::NotUtf8)?;
    Ok(())
}

/// Checks one field of a message whose fields `rule` describes: `Some(LEN)`
/// for a string, `Some(other)` for a wire type to skip, and a closure for a
/// nested message; `None` for a number the schema lacks (skipped, as a
/// decoder does).
fn check_message(mut buf: &[u8], rule: impl Fn(u64) -> Option<Check>) -> Result<(), WireError> {
    while !buf.is_empty() {
        let (number, wire) = key(&mut buf)?;
        match rule(number) {
            None => skip(&mut buf, wire)?,
            Some(Check::Str) if wire == LEN => string(&mut buf)?,
            Some(Check::Scalar(expected)) if wire == expected => skip(&mut buf, wire)?,
            Some(Check::Message(inner)) if wire == LEN => inner(payload(&mut buf)?)?,
            Some(_) => return Err(WireError::WireType(wire)),
        }
    }
    Ok(())
}

/// What a field must hold.
enum Check {
    Str,
    Scalar(u64),
    Message(fn(&[u8]) -> Result<(), WireError>),
}

const VARINT: u64 = 0;

fn check_string_list(b: &[u8]) -> Result<(), WireError> {
    check_message(b, |n| (n == 1).then_some(Check::Str))
}

fn check_string_entry(b: &[u8]) -> Result<(), WireError> {
    check_message(b, |n| matches!(n, 1 | 2).then_some(Check::Str))
}

fn check_string_map(b: &[u8]) -> Result<(), WireError> {
    check_message(b, |n| {
        (n == 1).then_some(Check::Message(check_string_entry))
    })
}

fn check_value(b: &[u8]) -> Result<(), WireError> {
    check_message(b, |n| match n {
        1 | 15 => Some(Check::Str),
        2..=4 => Some(Check::Scalar(VARINT)),
        5 => Some(Check::Scalar(1)),
        6 => Some(Check::Message(check_string_list)),
        7 => Some(Check::Message(check_string_map)),
        _ => None,
    })
}

fn check_field_entry(b: &[u8]) -> Result<(), WireError> {
    check_message(b, |n| match n {
        1 => Some(Check::Str),
        2 => Some(Check::Message(check_value)),
        _ => None,
    })
}

fn check_process(b: &[u8]) -> Result<(), WireError> {
    check_message(b, |n| match n {
        1 => Some(Check::Scalar(VARINT)),
        2..=5 => Some(Check::Str),
        _ => None,
    })
}

/// Checks the parts of an encoded Finding that [`FindingHead`](crate::v1::FindingHead)
/// does not decode (the output, `suppressed`, the fields, the ancestry), without
/// allocating: with the head decoded too, a finding that passes decodes as a
/// [`Finding`](crate::v1::Finding). The collector stores findings as bytes and
/// returns them to analysts later, so a bad one must be refused when it arrives.
pub fn check_finding_rest(finding: &[u8]) -> Result<(), WireError> {
    check_message(finding, |n| match n {
        5 => Some(Check::Str),
        10 => Some(Check::Scalar(VARINT)),
        11 => Some(Check::Message(check_field_entry)),
        12 => Some(Check::Message(check_process)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message as _;

    use super::field_values;
    use crate::v1::{Finding, FindingHead, PodInfo, ProcessInfo, Value, value::Kind};

    fn text(s: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(s.into())),
        }
    }

    fn finding() -> Finding {
        let fields: BTreeMap<String, Value> = [
            ("proc.name".to_owned(), text("cat")),
            ("fd.name".to_owned(), text("/etc/shadow")),
            (
                "proc.pid".to_owned(),
                Value {
                    kind: Some(Kind::UintValue(42)),
                },
            ),
        ]
        .into();
        Finding {
            id: "0190-a".into(),
            time_unix_nano: 1_700_000_000_000_000_000,
            rule: "Read sensitive file".into(),
            priority: 4,
            output: "cat read /etc/shadow".into(),
            tags: vec!["T1003".into()],
            source: "syscall".into(),
            node: "node-1".into(),
            count: 3,
            suppressed: 1,
            fields,
            ancestry: vec![
                ProcessInfo {
                    pid: 42,
                    name: "cat".into(),
                    ..ProcessInfo::default()
                },
                ProcessInfo {
                    pid: 1,
                    name: "sh".into(),
                    ..ProcessInfo::default()
                },
            ],
            container: None,
            pod: Some(PodInfo {
                namespace: "prod".into(),
                name: "web-1".into(),
                ..PodInfo::default()
            }),
        }
    }

    #[test]
    fn fields_are_read_from_the_encoding() {
        let bytes = finding().encode_to_vec();
        let [name, pid, missing] =
            field_values(&bytes, ["fd.name", "proc.pid", "k8s.ns.name"]).expect("reads");
        assert_eq!(name, Some(text("/etc/shadow")));
        assert_eq!(
            pid.and_then(|v| v.kind),
            Some(Kind::UintValue(42)),
            "typed values keep their type"
        );
        assert_eq!(missing, None);
    }

    #[test]
    fn the_head_is_the_finding_without_what_it_leaves_out() {
        let f = finding();
        let head = FindingHead::decode(f.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(
            (head.id, head.time_unix_nano, head.rule, head.priority),
            (f.id, f.time_unix_nano, f.rule, f.priority)
        );
        assert_eq!(
            (head.tags, head.source, head.node),
            (f.tags, f.source, f.node)
        );
        assert_eq!(
            (head.count, head.container, head.pod),
            (f.count, f.container, f.pod)
        );
        let first = ProcessInfo::decode(head.ancestry[0].as_ref()).expect("decodes");
        assert_eq!(first, f.ancestry[0]);
        assert_eq!(head.ancestry.len(), 2);
    }

    #[test]
    fn what_passes_the_checks_decodes_as_a_finding() {
        let bytes = finding().encode_to_vec();
        assert!(super::check_finding_rest(&bytes).is_ok());
        // Every single-byte change of a real finding: whenever the head
        // decodes and the rest passes, the whole finding decodes.
        let mut accepted = 0;
        for i in 0..bytes.len() {
            for x in [0x00, 0x01, 0x0a, 0x7f, 0x80, 0xc3, 0xff] {
                let mut b = bytes.clone();
                b[i] = x;
                if FindingHead::decode(b.as_slice()).is_ok()
                    && super::check_finding_rest(&b).is_ok()
                {
                    accepted += 1;
                    if let Err(e) = Finding::decode(b.as_slice()) {
                        panic!("byte {i} = {x:#x}: {e}");
                    }
                }
            }
        }
        for cut in 0..bytes.len() {
            let b = &bytes[..cut];
            if FindingHead::decode(b).is_ok() && super::check_finding_rest(b).is_ok() {
                assert!(Finding::decode(b).is_ok(), "cut at {cut}");
            }
        }
        assert!(accepted > 100, "the mutations reached the checks");
        let mut bad = finding();
        bad.output = "x".into();
        let mut b = bad.encode_to_vec();
        let at = b.iter().position(|&c| c == b'x').expect("the output");
        b[at] = 0xff;
        assert!(
            super::check_finding_rest(&b).is_err(),
            "an output that is not UTF-8"
        );
    }

    #[test]
    fn garbage_is_an_error_and_never_a_panic() {
        let bytes = finding().encode_to_vec();
        for cut in 0..bytes.len() {
            // Any prefix either reads or fails; none panics.
            let _ = field_values(&bytes[..cut], ["fd.name"]);
        }
        assert!(field_values(&[0x5a, 0xff], ["fd.name"]).is_err());
        assert!(field_values(&[0x0b], ["fd.name"]).is_err(), "a group");
    }
}
