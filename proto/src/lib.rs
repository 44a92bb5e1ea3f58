//! The protobuf contract shared by the sensor, the collector and `sensorctl`,
//! generated from `proto/` at build time, with the `Collector` service's client
//! ([`v1::collector_client`]) and server ([`v1::collector_server`]). With the `json` feature, [`json`]
//! turns the sensor's Falco-style JSON findings into [`v1::Finding`]s and back.

/// Version 1 of the sensor's messages.
#[allow(missing_docs, clippy::all)] // generated code
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/sensor.v1.rs"));
}

pub mod client;
#[cfg(feature = "json")]
pub mod json;
pub mod wire;

impl v1::Priority {
    /// Every priority, most severe first.
    pub const ALL: [Self; 8] = [
        Self::Emergency,
        Self::Alert,
        Self::Critical,
        Self::Error,
        Self::Warning,
        Self::Notice,
        Self::Informational,
        Self::Debug,
    ];

    /// The name Falco prints in findings: `Warning`, `Critical`, ...; empty for
    /// `Unspecified`.
    pub fn falco_name(self) -> &'static str {
        match self {
            Self::Unspecified => "",
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
    pub fn from_falco_name(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("info") {
            return Some(Self::Informational);
        }
        Self::ALL
            .into_iter()
            .find(|p| p.falco_name().eq_ignore_ascii_case(s))
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::v1::{Event, Exec, Priority, Process, event::Body};

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

    #[test]
    fn priorities_read_as_falco_writes_them() {
        for p in Priority::ALL {
            assert_eq!(Priority::from_falco_name(p.falco_name()), Some(p));
        }
        assert_eq!(
            Priority::from_falco_name("INFO"),
            Some(Priority::Informational)
        );
        assert_eq!(
            Priority::from_falco_name(" warning "),
            Some(Priority::Warning)
        );
        assert_eq!(Priority::from_falco_name(""), None);
        assert_eq!(Priority::from_falco_name("loud"), None);
        // Numbers follow severity: lower is more severe.
        assert!((Priority::Emergency as i32) < (Priority::Debug as i32));
    }
}
