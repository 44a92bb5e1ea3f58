//! The protobuf contract shared by the sensor, the collector and `sensorctl`,
//! generated from `proto/` at build time.

/// Version 1 of the sensor's messages.
#[allow(missing_docs, clippy::all)] // generated code
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/sensor.v1.rs"));
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::v1::{Event, Exec, Process, event::Body};

    #[test]
    fn an_exec_event_round_trips() {
        let event = Event {
            time_unix_nano: 1_700_000_000_000_000_000,
            process: Some(Process {
                pid: 10,
                name: "cat".into(),
                cgroup_id: 42,
                ..Process::default()
            }),
            truncated: vec!["proc.argv".into()],
            unreadable: vec![],
            body: Some(Body::Exec(Exec {
                exepath: "/bin/cat".into(),
                argv: vec!["cat".into(), "/etc/shadow".into()],
                via_execveat: false,
            })),
        };
        let bytes = event.encode_to_vec();
        assert_eq!(Event::decode(bytes.as_slice()), Ok(event));
        assert!(
            Event::decode(&b"\xff\xff\xff"[..]).is_err(),
            "garbage is an error"
        );
    }
}
