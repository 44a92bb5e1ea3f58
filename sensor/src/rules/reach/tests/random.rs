//! Soundness, tried at random: small random conditions over the fields the
//! plan reasons about, random events, and the reference (`reference.rs`). No
//! event the reference says a rule matches may be one the kernel drops under
//! the plan.

use super::{
    reference::{holds, kernel_reports_open, net_kind, net_value, open_value},
    *,
};
use crate::event::{Net, NetOp, Open, OpenSyscall, file::PathSource};

/// xorshift64*: enough for tests, and the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const COMPONENTS: &[&str] = &["etc", "e", "etcx", "tmp", "a", "shadow", "é", "x y"];

/// A path the kernel can report: canonical for a successful open; as given
/// (empty, `.` and `..` components kept) for a failed one. Always absolute.
fn event_path(rng: &mut Rng, canonical: bool) -> String {
    let n = rng.below(5);
    let mut path = String::new();
    for _ in 0..n {
        let c = if !canonical && rng.chance(20) {
            *rng.pick(&["", ".", ".."])
        } else {
            *rng.pick(COMPONENTS)
        };
        path.push('/');
        path.push_str(c);
    }
    if path.is_empty() || (!canonical && rng.chance(10)) {
        path.push('/');
    }
    path
}

/// A value for a path comparison: mostly like event paths, sometimes relative,
/// with a trailing '/', a wildcard, or empty.
fn path_value(rng: &mut Rng) -> String {
    let canonical = rng.chance(70);
    let mut v = event_path(rng, canonical);
    match rng.below(10) {
        0 => v = v.trim_start_matches('/').to_string(),
        1 => v.push('/'),
        2 => v.push_str("/*"),
        3 => v = v.replacen("/e", "/*", 1),
        4 => v = v.replacen('e', "?", 1),
        5 if rng.chance(30) => v.clear(),
        _ => {}
    }
    v
}

fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn open_atom(rng: &mut Rng) -> String {
    let list = |rng: &mut Rng| {
        let n = 1 + rng.below(3);
        let vs: Vec<String> = (0..n).map(|_| quoted(&path_value(rng))).collect();
        format!("({})", vs.join(", "))
    };
    match rng.below(14) {
        0 => format!(
            "evt.type = {}",
            rng.pick(&["open", "openat", "openat2", "creat", "execve", "connect"])
        ),
        1 => "evt.type in (openat, creat)".into(),
        2 => format!(
            "{} = {}",
            rng.pick(&["evt.is_open_read", "evt.is_open_write"]),
            rng.pick(&["true", "false"])
        ),
        3 => format!(
            "evt.arg.flags contains {}",
            rng.pick(&[
                "O_RDONLY", "O_WRONLY", "O_RDWR", "O_PATH", "O_TRUNC", "O_CREAT"
            ])
        ),
        4 | 5 => format!(
            "fd.name {} {}",
            rng.pick(&["=", "!=", "startswith", "endswith", "contains", "glob"]),
            quoted(&path_value(rng))
        ),
        6 => format!("fd.name {} {}", rng.pick(&["in", "pmatch"]), list(rng)),
        7 => format!(
            "fd.directory {} {}",
            rng.pick(&["=", "startswith", "glob"]),
            quoted(&path_value(rng))
        ),
        8 => format!("fd.directory {} {}", rng.pick(&["in", "pmatch"]), list(rng)),
        9 => {
            let name: &str = rng.pick::<&str>(COMPONENTS);
            format!("fd.filename = {}", quoted(name))
        }
        10 => rng
            .pick(&[
                "fd.num >= 0",
                "fd.num = -1",
                "evt.rawres < 0",
                "evt.res = SUCCESS",
                "evt.res != SUCCESS",
                "evt.res startswith E",
                "fd.typechar = f",
                "fd.num exists",
            ])
            .to_string(),
        11 => "fd.name exists".into(),
        _ => "proc.name = a".into(),
    }
}

fn net_atom(rng: &mut Rng) -> String {
    let port = |rng: &mut Rng| rng.pick(&[0u16, 22, 80, 443, 8080]).to_string();
    match rng.below(6) {
        0 => format!(
            "evt.type = {}",
            rng.pick(&["connect", "accept", "listen", "bind", "openat"])
        ),
        1 => "evt.type in (connect, bind)".into(),
        2 | 3 => format!(
            "{} {} {}",
            rng.pick(&["fd.sport", "fd.rport", "fd.lport", "fd.cport"]),
            rng.pick(&["=", "!=", ">"]),
            port(rng)
        ),
        4 => format!(
            "{} in ({}, {})",
            rng.pick(&["fd.sport", "fd.rport", "fd.lport"]),
            port(rng),
            port(rng)
        ),
        _ => "proc.name = a".into(),
    }
}

/// A random condition of atoms from `atom`, `depth` levels deep at most.
fn condition(rng: &mut Rng, depth: usize, atom: fn(&mut Rng) -> String) -> String {
    if depth == 0 || rng.chance(30) {
        return atom(rng);
    }
    match rng.below(3) {
        0 => format!("not ({})", condition(rng, depth - 1, atom)),
        k => {
            let n = 2 + rng.below(2);
            let parts: Vec<String> = (0..n)
                .map(|_| format!("({})", condition(rng, depth - 1, atom)))
                .collect();
            parts.join(if k == 1 { " and " } else { " or " })
        }
    }
}

fn random_open(rng: &mut Rng) -> Open {
    let syscall = *rng.pick(&[
        OpenSyscall::Open,
        OpenSyscall::Openat,
        OpenSyscall::Openat2,
        OpenSyscall::Creat,
    ]);
    let flags = if syscall == OpenSyscall::Creat {
        (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u32
    } else {
        let mut flags = rng.below(4) as u32;
        for (bit, percent) in [(libc::O_PATH, 30), (libc::O_TRUNC, 30), (libc::O_CREAT, 20)] {
            if rng.chance(percent) {
                flags |= bit as u32;
            }
        }
        flags
    };
    let succeeded = rng.chance(60);
    Open {
        syscall,
        path: event_path(rng, succeeded),
        source: if succeeded {
            PathSource::Opened
        } else {
            PathSource::AsGiven
        },
        result: if succeeded { 3 } else { -13 },
        flags,
        mode: 0,
        inode_mode: if succeeded {
            *rng.pick(&[libc::S_IFREG | 0o644, libc::S_IFDIR | 0o755, 0])
        } else {
            0
        },
    }
}

/// One or two random rules, loaded through the real loader. Half the time a
/// condition is anchored by a path or port test, so that plans narrow often.
fn random_rules(
    rng: &mut Rng,
    atom: fn(&mut Rng) -> String,
    anchor: fn(&mut Rng) -> String,
) -> (Vec<String>, RuleSet) {
    let n = 1 + rng.below(2);
    let conditions: Vec<String> = (0..n)
        .map(|_| {
            let free = condition(rng, 3, atom);
            if rng.chance(50) {
                format!("{} and ({free})", anchor(rng))
            } else {
                free
            }
        })
        .collect();
    let refs: Vec<&str> = conditions.iter().map(String::as_str).collect();
    let set = load(&rules_file("", &refs));
    (conditions, set)
}

fn path_anchor(rng: &mut Rng) -> String {
    format!("fd.name startswith {}", quoted(&path_value(rng)))
}

fn port_anchor(rng: &mut Rng) -> String {
    let port = rng.pick(&[80, 443, 0]);
    if rng.chance(70) {
        format!("evt.type in (connect, accept) and fd.sport in (22, {port})")
    } else {
        format!("evt.type = bind and fd.lport = {port}")
    }
}

#[test]
fn no_matching_open_is_dropped() {
    let mut rng = Rng(0x5eed_0f0e_2026);
    // Matches under a filter that drops something: the cases that test soundness.
    let mut tight = 0;
    for _ in 0..600 {
        let (conditions, set) = random_rules(&mut rng, open_atom, path_anchor);
        let plan = plan(set.rules());
        for _ in 0..200 {
            let open = random_open(&mut rng);
            let value_of = |field: &str| open_value(&open, field);
            let matched = set.rules().iter().any(|r| holds(&r.condition, &value_of));
            assert!(
                !matched || kernel_reports_open(&plan, &open),
                "dropped {open:?}\nrules {conditions:#?}\nplan {plan:#}"
            );
            tight += usize::from(matched && plan.open.is_some());
        }
    }
    assert!(
        tight > 1_000,
        "only {tight} matches under a narrowing filter"
    );
}

/// A network event and the port the kernel's filter tests for it
/// (sensor-ebpf `net/connect.rs`).
fn random_net(rng: &mut Rng) -> (Net, u16) {
    let port = |rng: &mut Rng| *rng.pick(&[0u16, 22, 80, 443, 8080, 50000]);
    let op = *rng.pick(&[NetOp::Connect, NetOp::Accept, NetOp::Listen, NetOp::Bind]);
    let (mut local, remote) = (port(rng), port(rng));
    let tested = match op {
        NetOp::Connect => remote,
        NetOp::Accept | NetOp::Listen => local,
        NetOp::Bind => {
            // A successful bind to 0 is tested as 0, reported with the port
            // the kernel picked.
            let asked = local;
            if asked == 0 && rng.chance(50) {
                local = port(rng);
            }
            asked
        }
    };
    let addr = |p| std::net::SocketAddr::new([127, 0, 0, 1].into(), p);
    let net = Net {
        op,
        protocol: 6,
        local: addr(local),
        remote: addr(if matches!(op, NetOp::Connect | NetOp::Accept) {
            remote
        } else {
            0
        }),
        result: 0,
    };
    (net, tested)
}

#[test]
fn no_matching_network_event_is_dropped() {
    let mut rng = Rng(0x0bad_cafe_2026);
    let mut tight = 0;
    for _ in 0..600 {
        let (conditions, set) = random_rules(&mut rng, net_atom, port_anchor);
        let plan = plan(set.rules());
        for _ in 0..100 {
            let (net, tested) = random_net(&mut rng);
            let value_of = |field: &str| net_value(&net, field);
            let matched = set.rules().iter().any(|r| holds(&r.condition, &value_of));
            let reported = plan.has(net_kind(net.op))
                && plan.net_ports.as_ref().is_none_or(|p| p.contains(&tested));
            assert!(
                !matched || reported,
                "dropped {net:?} (port {tested})\nrules {conditions:#?}\nplan {plan:#}"
            );
            tight += usize::from(matched && plan.net_ports.is_some());
        }
    }
    assert!(
        tight > 1_000,
        "only {tight} matches under a narrowing filter"
    );
}
