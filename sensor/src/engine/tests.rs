//! Engine tests: rules against hand-made events with full context, the engine's
//! values against `sensor trace`'s JSON for every field, and no allocation per
//! event once warm.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    net::SocketAddr,
    sync::Arc,
};

use serde_json::json;

use super::*;
use crate::{
    context::{
        Who,
        container::ContainerRef,
        kubelet::{PodContainer, PodInfo},
        process::{Entry, Process},
    },
    event::{
        Body, Caps, Event, Exec, Exit, Facts, FdType, Net, NetOp, Open, OpenSyscall, Task,
        clock::BootClock, file::PathSource,
    },
    output::{context as who_json, json},
};

/// Counts this thread's allocations, so a test can show a loop makes none
/// (per thread: other tests run in parallel).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialised
// thread local, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const CONTAINER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn task(comm: &str) -> Task {
    Task {
        pid: 100,
        tid: 101,
        ppid: 50,
        uid: 1000,
        gid: 1000,
        comm: comm.into(),
        cgroup_id: 7,
        start_ns: 2_000_000_000,
        exec_seq: 2,
    }
}

fn event(comm: &str, body: Body) -> Event {
    Event {
        boot_ns: 5_000_000_000,
        task: task(comm),
        truncated: vec![],
        unreadable: vec![],
        body,
    }
}

fn exec(argv: &[&str], exepath: &str) -> Body {
    Body::Exec(Exec {
        exepath: exepath.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        loginuid: Some(1000),
        tty: 34816,
        vpid: 7,
        ..Default::default()
    })
}

fn open(path: &str, flags: u32, result: i64) -> Body {
    Body::Open(Open {
        syscall: OpenSyscall::Openat,
        path: path.into(),
        source: PathSource::Opened,
        result,
        flags,
        mode: 0o644,
        inode_mode: libc::S_IFREG | 0o644,
    })
}

fn connect(remote: &str) -> Body {
    Body::Net(Net {
        op: NetOp::Connect,
        protocol: 6,
        local: "10.1.0.5:40000".parse().expect("addr"),
        remote: remote.parse::<SocketAddr>().expect("addr"),
        result: 0,
    })
}

/// A process, its parent and grandparent, in a container of a listed pod.
struct World {
    procs: Vec<Process>,
    container: Arc<ContainerRef>,
    pod: PodContainer,
}

impl World {
    fn new() -> Self {
        let proc = |pid, ppid, comm: &str, exe: &str, args: &[&str]| Process {
            pid,
            ppid,
            start_ticks: 200,
            exec_seq: Some(2),
            comm: comm.into(),
            exepath: exe.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            cwd: Some("/app".into()),
            uid: 1000,
            gid: 1000,
            loginuid: Some(1000),
            tty: 34816,
            vpid: Some(7),
            cgroup_id: 7,
            container: Some(CONTAINER.into()),
            entry: Entry::Exec,
            facts: Facts {
                stdio: [FdType::Ipv4, FdType::Ipv4, FdType::Pipe],
                caps: Some(Caps {
                    effective: (1 << 21) | (1 << 16),
                    permitted: (1 << 21) | (1 << 16),
                    inheritable: 0,
                }),
                sid: Some(40),
                exe_ctime_ns: Some(1),
            },
        };
        let procs = vec![
            proc(100, 50, "sh", "/bin/sh", &["sh", "-c", "cat /etc/shadow"]),
            proc(50, 40, "bash", "/bin/bash", &["bash", "-i"]),
            proc(40, 1, "runc", "/usr/bin/runc", &["runc", "exec"]),
        ];
        let container = Arc::new(ContainerRef {
            id: CONTAINER.into(),
            runtime: None,
            pod_uid: Some("1f0e7c2a-0000-4000-8000-000000000001".into()),
            qos: None,
        });
        let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
            "metadata": {
                "name": "web-7d4b9c-x2x", "namespace": "prod",
                "uid": "1f0e7c2a-0000-4000-8000-000000000001",
                "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "web-7d4b9c", "uid": "u", "controller": true}]
            },
            "spec": {"nodeName": "node-1", "serviceAccountName": "web",
                "containers": [{"name": "app", "image": "nginx:1.27"}]},
            "status": {"containerStatuses": [{"name": "app", "image": "nginx:1.27",
                "imageID": "docker.io/library/nginx@sha256:abababababababababababababababababababababababababababababababab", "ready": true,
                "restartCount": 0, "containerID": format!("containerd://{CONTAINER}")}]}
        }))
        .expect("a pod");
        let info = Arc::new(PodInfo::from_pod(pod).expect("pod info"));
        let pod = PodContainer::find(info, CONTAINER).expect("the container is listed");
        Self {
            procs,
            container,
            pod,
        }
    }

    fn who(&self) -> Who<'_> {
        Who {
            process: Some(&self.procs[0]),
            ancestors: self.procs[1..].iter().collect(),
            exec_id: "b007-c8-64-2".into(),
            parent_exec_id: Some("b007-c8-32-2".into()),
            container: Some(self.container.clone()),
            pod_container: Some(self.pod.clone()),
            user_name: Some("appuser".into()),
            user_homedir: Some("/app".into()),
            user_shell: Some("/bin/sh".into()),
            group_name: Some("appgroup".into()),
            user_loginname: Some("alice".into()),
            ..Default::default()
        }
    }
}

fn engine(rules: &str) -> Engine {
    let set = crate::rules::RuleSet::load(&[("test.yaml", rules)]).expect("valid rules");
    Engine::new(&set)
}

fn matched(engine: &mut Engine, event: &Event, who: &Who<'_>) -> Vec<String> {
    let clock = BootClock::now();
    let s = Subject {
        event,
        who,
        num: 1,
        clock: &clock,
        ticks_per_second: 100,
    };
    let mut out = Vec::new();
    engine.matches(&s, &mut out);
    out.iter()
        .map(|&i| engine.rule(i).expect("a rule").rule.name.clone())
        .collect()
}

const RULES: &str = r#"
- list: shells
  items: [sh, bash, zsh]
- macro: spawned_process
  condition: evt.type in (execve, execveat)
- macro: container
  condition: container.id != host
- rule: shell in container
  desc: x
  condition: spawned_process and container and proc.name in (shells) and proc.pname exists
  output: "shell %proc.name parent %proc.pname gp %proc.aname[2] in %k8s.ns.name/%k8s.pod.name (%container.id) app=%k8s.pod.label[app] cmd=%proc.cmdline nope=%proc.vpid"
  priority: WARNING
  tags: [T1059]
- rule: shadow read
  desc: x
  condition: evt.type in (open, openat) and evt.is_open_read = true and fd.name pmatch (/etc/shadow, /root/.ssh) and not proc.name in (sshd)
  output: "%proc.name read %fd.name flags %evt.arg.flags"
  priority: CRITICAL
- rule: runc ancestor
  desc: any ancestor, not the process itself
  condition: spawned_process and proc.aname = runc and not proc.aname = sh
  output: "%proc.name"
  priority: NOTICE
- rule: miner port
  desc: x
  condition: evt.type = connect and fd.sport in (3333, 4444) and fd.sip = "203.0.113.0/24" and k8s.pod.label[app] = web
  output: "%fd.name"
  priority: ERROR
- rule: cmdline glob
  desc: x
  condition: spawned_process and proc.cmdline glob "sh -c cat *" and proc.args icontains SHADOW and proc.name != val(proc.pname)
  output: "%proc.cmdline"
  priority: NOTICE
- rule: reverse shell with admin caps
  desc: x
  condition: >
    spawned_process and proc.name in (shells) and proc.stdin.type in (ipv4, ipv6)
    and thread.cap_effective contains CAP_SYS_ADMIN and thread.cap_effective icontains sys_module
    and not thread.cap_permitted contains CAP_BPF and proc.pexe = bash and proc.aexe[2] = runc
  output: "%proc.name caps=%thread.cap_effective stdin=%proc.stdin.type"
  priority: CRITICAL
- rule: disabled rule
  desc: x
  condition: spawned_process
  output: x
  priority: NOTICE
  enabled: false
- rule: needs a field we lack
  desc: x
  condition: spawned_process and proc.nope = 1
  output: x
  priority: NOTICE
- rule: type mismatch
  desc: x
  condition: spawned_process and proc.pid contains 1
  output: x
  priority: NOTICE
"#;

#[test]
fn rules_match_what_they_say() {
    let world = World::new();
    let who = world.who();
    let mut engine = engine(RULES);
    let shell = event("sh", exec(&["sh", "-c", "cat /etc/shadow"], "/bin/sh"));
    assert_eq!(
        matched(&mut engine, &shell, &who),
        [
            "shell in container",
            "runc ancestor",
            "cmdline glob",
            "reverse shell with admin caps"
        ]
    );
    let read = event("cat", open("/etc/shadow", libc::O_RDONLY as u32, 3));
    assert_eq!(matched(&mut engine, &read, &who), ["shadow read"]);
    let write = event("cat", open("/etc/shadow", libc::O_WRONLY as u32, 3));
    assert!(matched(&mut engine, &write, &who).is_empty());
    let key = event("cat", open("/root/.ssh/id_rsa", 0, 3));
    assert_eq!(matched(&mut engine, &key, &who), ["shadow read"]);
    let sshd = event("sshd", open("/etc/shadow", 0, 3));
    assert!(matched(&mut engine, &sshd, &who).is_empty());
    let near = event("cat", open("/etc/shadowx", 0, 3));
    assert!(matched(&mut engine, &near, &who).is_empty());
    let miner = event("xmrig", connect("203.0.113.9:3333"));
    assert_eq!(matched(&mut engine, &miner, &who), ["miner port"]);
    let elsewhere = event("xmrig", connect("198.51.100.1:3333"));
    assert!(matched(&mut engine, &elsewhere, &who).is_empty());

    // On the host: no container, no pod.
    let host = Who {
        process: Some(&world.procs[0]),
        ancestors: world.procs[1..].iter().collect(),
        ..Default::default()
    };
    assert_eq!(
        matched(&mut engine, &shell, &host),
        [
            "runc ancestor",
            "cmdline glob",
            "reverse shell with admin caps"
        ]
    );
    // No ancestors known: a rule that needs one stays quiet (no `!=` on absent).
    let orphan = Who {
        process: Some(&world.procs[0]),
        container: Some(world.container.clone()),
        ..Default::default()
    };
    assert!(matched(&mut engine, &shell, &orphan).is_empty());
}

#[test]
fn skipped_rules_say_why() {
    let engine = engine(RULES);
    let why = |name: &str| {
        engine
            .verdicts()
            .iter()
            .find(|v| v.rule == name)
            .and_then(|v| v.reason.clone())
            .unwrap_or_default()
    };
    assert_eq!(engine.rules().len(), 6);
    assert!(
        why("disabled rule").contains("disabled"),
        "{:?}",
        engine.verdicts()
    );
    assert_eq!(why("needs a field we lack"), "no field proc.nope");
    assert!(
        why("type mismatch").contains("does not apply"),
        "{}",
        why("type mismatch")
    );
    assert_eq!(engine.candidates("execve").len(), 4);
    assert_eq!(engine.candidates("openat").len(), 1);
    assert!(engine.candidates("unlink").is_empty());
}

#[test]
fn findings_render_and_carry_the_context() {
    let world = World::new();
    let who = world.who();
    let mut engine = engine(RULES);
    let shell = event("sh", exec(&["sh", "-c", "cat /etc/shadow"], "/bin/sh"));
    let clock = BootClock::now();
    let s = Subject {
        event: &shell,
        who: &who,
        num: 9,
        clock: &clock,
        ticks_per_second: 100,
    };
    let mut out = Vec::new();
    engine.matches(&s, &mut out);
    let host: Arc<str> = "node-1".into();
    let finding = engine.finding(out[0], &s, &host).expect("a rule");
    assert_eq!(
        finding.output,
        "shell sh parent bash gp runc in prod/web-7d4b9c-x2x (0123456789ab) app=web cmd=sh -c cat /etc/shadow nope=7"
    );
    let json = finding.to_falco_json();
    assert_eq!(json["rule"], "shell in container");
    assert_eq!(json["priority"], "Warning");
    assert_eq!(json["source"], "syscall");
    assert_eq!(json["hostname"], "node-1");
    assert_eq!(json["tags"], json!(["T1059"]));
    assert_eq!(json["count"], 1);
    let f = &json["output_fields"];
    assert_eq!(f["proc.aname[2]"], "runc");
    assert_eq!(f["k8s.pod.label[app]"], "web");
    assert_eq!(f["k8s.ns.name"], "prod");
    assert_eq!(f["k8s.deployment.name"], "web");
    assert_eq!(
        f["container.image.digest"],
        "sha256:abababababababababababababababababababababababababababababababab"
    );
    assert_eq!(f["proc.exec_id"], "b007-c8-64-2");
    assert_eq!(f["evt.num"], 9);
    let text = json["output"].as_str().expect("output");
    assert!(text.ends_with(": Warning shell sh parent bash gp runc in prod/web-7d4b9c-x2x (0123456789ab) app=web cmd=sh -c cat /etc/shadow nope=7"), "{text}");
    assert_eq!(
        text.as_bytes()[2],
        b':',
        "starts with the time of day: {text}"
    );
    assert_eq!(
        uuid::Uuid::parse_str(&finding.id).map(|u| u.get_version_num()),
        Ok(7)
    );
}

/// Every field `sensor trace` prints for an event has the same value when a rule
/// reads it: one meaning per name.
#[test]
fn the_engine_reads_what_trace_prints() {
    let world = World::new();
    let clock = BootClock::now();
    let events = [
        event("sh", exec(&["sh", "-c", "x"], "/bin/sh")),
        event("cat", open("/etc/shadow", 0o1101, -2)),
        event("cat", open("/etc/x", 0, 3)),
        event("curl", connect("[2001:db8::1]:443")),
        event("sh", Body::Exit(Exit { status: 9 })),
        event("sh", Body::Fork),
        {
            let mut e = event("sh", exec(&["sh"], "/bin/sh"));
            e.truncated = vec![crate::fields::PROC_ARGV];
            e
        },
    ];
    let mut scratch = Scratch::default();
    for e in &events {
        for who in [world.who(), Who::default()] {
            let mut value = json::event(e, &clock);
            let obj = value.as_object_mut().expect("an object");
            who_json::add(obj, &who, &clock, 100);
            let s = Subject {
                event: e,
                who: &who,
                num: 1,
                clock: &clock,
                ticks_per_second: 100,
            };
            scratch.reset();
            for (name, printed) in obj.iter() {
                // proc.aname and proc.aexepath print the process first; rules
                // read them without an index as the ancestors, as Falco does.
                if [
                    crate::fields::PROC_ANAME,
                    crate::fields::PROC_AEXEPATH,
                    crate::fields::PROC_AEXE,
                ]
                .contains(&name.as_str())
                {
                    continue;
                }
                let access = match resolve(name, None) {
                    Ok(a) => a,
                    Err(_) if name == crate::fields::K8S_POD_LABELS => continue,
                    Err(err) => panic!("{name}: {err}"),
                };
                scratch.fill(&access, &s);
                let read = finding::to_json(read(&access, &s, &scratch));
                assert_eq!(&read, printed, "{name} of {:?}", e.body);
            }
        }
    }
}

#[test]
fn testing_rules_allocates_nothing_once_warm() {
    let world = World::new();
    let who = world.who();
    let mut engine = engine(RULES);
    let events = [
        event("sh", exec(&["sh", "-c", "cat /etc/shadow"], "/bin/sh")),
        event("cat", open("/etc/shadow", 0, 3)),
        event("cat", open("/var/log/x", 0o1101, -2)),
        event("xmrig", connect("203.0.113.9:3333")),
        event("sh", Body::Fork),
    ];
    let clock = BootClock::now();
    let mut out = Vec::with_capacity(16);
    let run = |engine: &mut Engine, out: &mut Vec<u32>| {
        for e in &events {
            let s = Subject {
                event: e,
                who: &who,
                num: 1,
                clock: &clock,
                ticks_per_second: 100,
            };
            out.clear();
            engine.matches(&s, out);
        }
    };
    run(&mut engine, &mut out);
    let before = allocations();
    for _ in 0..100 {
        run(&mut engine, &mut out);
    }
    assert_eq!(
        allocations() - before,
        0,
        "allocations in 500 tested events"
    );
}

#[test]
fn rules_read_user_and_group_names() {
    let world = World::new();
    let mut engine = engine(
        r#"
- rule: not root
  desc: x
  condition: evt.type = execve and not user.name = root and group.name = appgroup and user.loginname = alice and user.shell endswith /sh and user.homedir = /app
  output: "%user.name"
  priority: NOTICE
- rule: unnamed
  desc: x
  condition: evt.type = execve and not user.name exists
  output: "%user.uid"
  priority: NOTICE
"#,
    );
    let shell = event("sh", exec(&["sh"], "/bin/sh"));
    assert_eq!(matched(&mut engine, &shell, &world.who()), ["not root"]);
    // A root that named no one (a distroless image): the names are absent.
    assert_eq!(matched(&mut engine, &shell, &Who::default()), ["unnamed"]);
}

/// Falco's own `outbound` macro, as its stable rules write it.
#[test]
fn falcos_outbound_macro_runs_unchanged() {
    let world = World::new();
    let who = world.who();
    let mut engine = engine(
        r#"
- list: rfc_1918_addresses
  items: ['"10.0.0.0/8"', '"172.16.0.0/12"', '"192.168.0.0/16"']
- macro: outbound
  condition: >
    ((evt.type = connect or
      (evt.type in (sendto,sendmsg) and
       fd.l4proto != tcp and fd.connected=false and fd.name_changed=true)) and
     (fd.typechar = 4 or fd.typechar = 6) and
     (fd.ip != "0.0.0.0" and fd.net != "127.0.0.0/8" and not fd.snet in (rfc_1918_addresses)) and
     (evt.rawres >= 0 or evt.res = EINPROGRESS))
- rule: outbound
  desc: x
  condition: outbound and fd.connected = true and proc.duration > 0
  output: "%fd.name"
  priority: NOTICE
"#,
    );
    for (to, expected) in [
        ("198.51.100.7:443", true),
        ("[2001:db8::1]:443", true),
        ("10.2.3.4:443", false),
        ("192.168.1.1:22", false),
        ("127.0.0.1:8080", false),
    ] {
        let mut e = event("curl", connect(to));
        if to.starts_with('[') {
            if let Body::Net(net) = &mut e.body {
                net.local = "[2001:db8::5]:40000".parse().expect("addr");
            }
        }
        assert_eq!(
            !matched(&mut engine, &e, &who).is_empty(),
            expected,
            "connect to {to}"
        );
    }
}
