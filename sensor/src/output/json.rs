//! Events as flat JSON objects, one per line, keyed by the field catalogue's names.

use serde_json::{Map, Value, json};

use crate::{
    event::{Body, Event, EventKind, FsSyscall, clock::BootClock, file::result_text, kind_name},
    fields as f,
};

/// The JSON object for one event.
pub fn event(event: &Event, clock: &BootClock) -> Value {
    let mut obj = Map::new();
    obj.insert(f::EVT_TYPE.into(), event.evt_type().into());
    time(&mut obj, clock, event.boot_ns);
    let task = &event.task;
    obj.insert(f::PROC_PID.into(), task.pid.into());
    obj.insert(f::THREAD_TID.into(), task.tid.into());
    obj.insert(f::PROC_PPID.into(), task.ppid.into());
    obj.insert(f::PROC_NAME.into(), task.comm.clone().into());
    obj.insert(f::USER_UID.into(), task.uid.into());
    obj.insert(f::GROUP_GID.into(), task.gid.into());
    obj.insert(f::CGROUP_ID.into(), task.cgroup_id.into());
    match &event.body {
        Body::Exec(exec) => {
            let args = exec.argv.get(1..).unwrap_or_default().join(" ");
            let cmdline = if args.is_empty() {
                task.comm.clone()
            } else {
                format!("{} {args}", task.comm)
            };
            obj.insert(f::PROC_EXEPATH.into(), exec.exepath.clone().into());
            let source = if exec.exepath_as_given {
                "as_given"
            } else {
                "executable"
            };
            obj.insert(f::PROC_EXEPATH_SOURCE.into(), source.into());
            obj.insert(f::PROC_IS_EXE_FROM_MEMFD.into(), exec.exe_from_memfd.into());
            obj.insert(f::PROC_IS_EXE_UNLINKED.into(), exec.exe_unlinked.into());
            obj.insert(
                f::PROC_EXE.into(),
                exec.argv.first().cloned().unwrap_or_default().into(),
            );
            obj.insert(f::PROC_ARGS.into(), args.into());
            obj.insert(f::PROC_ARGV.into(), exec.argv.clone().into());
            obj.insert(f::PROC_CMDLINE.into(), cmdline.into());
        }
        Body::Fork => {}
        Body::Open(open) => {
            obj.insert(f::FD_NAME.into(), open.path.clone().into());
            obj.insert(f::FD_NAME_SOURCE.into(), open.source.name().into());
            obj.insert(f::FD_DIRECTORY.into(), open.directory().into());
            obj.insert(f::FD_FILENAME.into(), open.filename().into());
            if open.result >= 0 {
                obj.insert(f::FD_NUM.into(), open.result.into());
            }
            if let Some(typechar) = open.typechar() {
                obj.insert(f::FD_TYPECHAR.into(), typechar.to_string().into());
            }
            obj.insert(f::EVT_RAWRES.into(), open.result.into());
            obj.insert(f::EVT_RES.into(), result_text(open.result).into());
            obj.insert(f::EVT_ARG_FLAGS.into(), open.flags_text().into());
            obj.insert(f::EVT_ARG_MODE.into(), format!("{:04o}", open.mode).into());
            obj.insert(f::EVT_IS_OPEN_READ.into(), open.is_read().into());
            obj.insert(f::EVT_IS_OPEN_WRITE.into(), open.is_write().into());
        }
        Body::Net(net) => {
            obj.insert(f::FD_TYPE.into(), net.fd_type().into());
            obj.insert(f::FD_TYPECHAR.into(), net.typechar().into());
            obj.insert(f::FD_L4PROTO.into(), net.l4proto().into());
            obj.insert(f::FD_NAME.into(), net.fd_name().into());
            obj.insert(f::FD_LIP.into(), net.local.ip().to_string().into());
            obj.insert(f::FD_LPORT.into(), net.local.port().into());
            if let Some((client, server)) = net.client_server() {
                obj.insert(f::FD_RIP.into(), net.remote.ip().to_string().into());
                obj.insert(f::FD_RPORT.into(), net.remote.port().into());
                obj.insert(f::FD_CIP.into(), client.ip().to_string().into());
                obj.insert(f::FD_CPORT.into(), client.port().into());
                obj.insert(f::FD_SIP.into(), server.ip().to_string().into());
                obj.insert(f::FD_SPORT.into(), server.port().into());
            }
            obj.insert(f::EVT_RAWRES.into(), net.result.into());
            obj.insert(f::EVT_RES.into(), result_text(net.result).into());
        }
        Body::Priv(call) => {
            for (name, value) in call.arg_fields() {
                obj.insert(name.into(), value);
            }
            obj.insert(f::EVT_RAWRES.into(), call.result.into());
            obj.insert(f::EVT_RES.into(), result_text(call.result).into());
        }
        Body::Fs(call) => {
            obj.insert(f::FD_NAME.into(), call.fd_name().into());
            let source = if call.syscall == FsSyscall::Fchmod {
                "opened"
            } else {
                "as_given"
            };
            obj.insert(f::FD_NAME_SOURCE.into(), source.into());
            for (name, value) in call.arg_fields() {
                obj.insert(name.into(), value);
            }
            obj.insert(f::EVT_RAWRES.into(), call.result.into());
            obj.insert(f::EVT_RES.into(), result_text(call.result).into());
        }
        Body::Exit(exit) => {
            if let Some(code) = exit.code() {
                obj.insert(f::EXIT_CODE.into(), code.into());
            }
            if let Some(signal) = exit.signal() {
                obj.insert(f::EXIT_SIGNAL.into(), signal.into());
            }
        }
    }
    if !event.truncated.is_empty() {
        obj.insert(f::EVT_TRUNCATED.into(), event.truncated.clone().into());
    }
    if !event.unreadable.is_empty() {
        obj.insert(f::EVT_UNREADABLE.into(), event.unreadable.clone().into());
    }
    Value::Object(obj)
}

/// A `drop` event: records of `kind` lost or cut for `reason`.
pub fn drop_report(
    clock: &BootClock,
    boot_ns: u64,
    kind: Option<EventKind>,
    reason: &str,
    count: u64,
    total: u64,
) -> Value {
    let mut obj = Map::new();
    obj.insert(f::EVT_TYPE.into(), "drop".into());
    time(&mut obj, clock, boot_ns);
    obj.insert(
        f::DROP_KIND.into(),
        kind.map_or("unknown", kind_name).into(),
    );
    obj.insert(f::DROP_REASON.into(), reason.into());
    obj.insert(f::DROP_COUNT.into(), json!(count));
    obj.insert(f::DROP_TOTAL.into(), json!(total));
    Value::Object(obj)
}

fn time(obj: &mut Map<String, Value>, clock: &BootClock, boot_ns: u64) {
    obj.insert(
        f::EVT_TIME.into(),
        humantime::format_rfc3339_nanos(clock.wall(boot_ns))
            .to_string()
            .into(),
    );
    obj.insert(f::EVT_RAWTIME.into(), clock.epoch_ns(boot_ns).into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Exec, Exit, Task};

    fn exec_event(argv: &[&str]) -> Event {
        Event {
            boot_ns: 1_000,
            task: Task {
                pid: 10,
                tid: 11,
                ppid: 1,
                uid: 0,
                gid: 0,
                comm: "cat".into(),
                cgroup_id: 99,
                start_ns: 5,
                exec_seq: 1,
            },
            truncated: vec![],
            unreadable: vec![f::PROC_PPID],
            body: Body::Exec(Exec {
                via_execveat: false,
                exepath_as_given: false,
                exe_unlinked: false,
                exe_from_memfd: false,
                exepath: "/bin/cat".into(),
                argv: argv.iter().map(|s| s.to_string()).collect(),
                loginuid: Some(1000),
                tty: 0,
                vpid: 10,
                facts: Default::default(),
            }),
        }
    }

    #[test]
    fn every_key_is_in_the_catalogue() {
        let clock = BootClock::now();
        let value = event(&exec_event(&["cat", "/etc/shadow"]), &clock);
        let drop = drop_report(&clock, 5, Some(EventKind::Exec), "ring_full", 2, 3);
        let mut killed = exec_event(&[]);
        killed.body = Body::Exit(Exit { status: 9 });
        let mut exited = exec_event(&[]);
        exited.body = Body::Exit(Exit { status: 1 << 8 });
        let mut fork = exec_event(&[]);
        fork.body = Body::Fork;
        let killed = event(&killed, &clock);
        let exited = event(&exited, &clock);
        assert_eq!(
            (killed["exit.signal"].as_u64(), killed.get("exit.code")),
            (Some(9), None)
        );
        assert_eq!(
            (exited["exit.code"].as_u64(), exited.get("exit.signal")),
            (Some(1), None)
        );
        assert_eq!(event(&fork, &clock)["evt.type"], "clone");
        for obj in [value, drop, killed, exited] {
            for key in obj.as_object().expect("an object").keys() {
                assert!(f::find(key).is_some(), "{key} is not in the catalogue");
            }
        }
    }

    #[test]
    fn exec_fields_follow_falco() {
        let clock = BootClock::now();
        let value = event(&exec_event(&["cat", "/etc/shadow", "a b"]), &clock);
        assert_eq!(value[f::EVT_TYPE], "execve");
        assert_eq!(value[f::PROC_CMDLINE], "cat /etc/shadow a b");
        assert_eq!(value[f::PROC_ARGS], "/etc/shadow a b");
        assert_eq!(value[f::PROC_EXE], "cat");
        assert_eq!(value[f::PROC_ARGV], json!(["cat", "/etc/shadow", "a b"]));
        assert_eq!(value[f::EVT_UNREADABLE], json!(["proc.ppid"]));
        assert!(value.get(f::EVT_TRUNCATED).is_none());
        assert!(
            value[f::EVT_TIME]
                .as_str()
                .expect("a string")
                .ends_with('Z')
        );

        let bare = event(&exec_event(&[]), &clock);
        assert_eq!(bare[f::PROC_CMDLINE], "cat");
        assert_eq!(bare[f::PROC_EXE], "");
    }

    #[test]
    fn hostile_strings_stay_on_one_line() {
        let clock = BootClock::now();
        let line = event(&exec_event(&["sh", "-c", "echo 1\necho 2\u{0}\"}"]), &clock).to_string();
        assert!(!line.contains('\n'));
        let back: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(back[f::PROC_ARGV][2], "echo 1\necho 2\u{0}\"}");
    }
}
