//! Opens: which kinds, and which read and write prefixes, rules about files need.

use super::*;

/// One case: the rules' conditions, the kinds expected (rules' own, no agent
/// kinds), and the open filter expected (`None`: every open).
struct Case {
    what: &'static str,
    rules: &'static [&'static str],
    kinds: &'static [&'static str],
    open: Option<(&'static [&'static str], &'static [&'static str])>,
}

const CASES: &[Case] = &[
    Case {
        what: "reads under /etc/ only",
        rules: &["open_read and fd.name startswith /etc/"],
        kinds: &["open"],
        open: Some((&["/etc/"], &[])),
    },
    Case {
        // Linux opens O_PATH|O_WRONLY as O_PATH, which the kernel filter judges
        // a read, and evt.is_open_write says false for: no read prefix needed.
        what: "writes under /etc/, O_PATH opens among them",
        rules: &["open_write and fd.name startswith /etc/"],
        kinds: &["open"],
        open: Some((&[], &["/etc/"])),
    },
    Case {
        what: "writes under /etc/ without O_PATH",
        rules: &["open_write and not evt.arg.flags contains O_PATH and fd.name startswith /etc/"],
        kinds: &["open"],
        open: Some((&[], &["/etc/"])),
    },
    Case {
        // A failed open is judged by the flags given, O_PATH or not.
        what: "failed writes",
        rules: &[
            "evt.type=openat and evt.rawres < 0 and evt.is_open_write=true and fd.name startswith /etc/",
        ],
        kinds: &["open"],
        open: Some((&[], &["/etc/"])),
    },
    Case {
        what: "failed opens of any access",
        rules: &["evt.type=openat and evt.res != SUCCESS and fd.name = /etc/shadow"],
        kinds: &["open"],
        open: Some((&["/etc/shadow"], &["/etc/shadow"])),
    },
    Case {
        what: "creat only writes",
        rules: &["evt.type=creat and fd.name startswith /tmp/"],
        kinds: &["open"],
        open: Some((&[], &["/tmp/"])),
    },
    Case {
        // /etc/sudoers.d/ extends /etc/sudoers byte-wise: one prefix covers both.
        what: "Falco's sensitive_files",
        rules: &["open_read and sensitive_files"],
        kinds: &["open"],
        open: Some((
            &[
                "/etc/pam.conf",
                "/etc/pam.d/",
                "/etc/security/pwquality.conf",
                "/etc/shadow",
                "/etc/sudoers",
            ],
            &[],
        )),
    },
    Case {
        what: "sensitive files under /etc, intersected",
        rules: &[
            "open_read and fd.name startswith /etc/s and (sensitive_files or fd.name in (/root/x))",
        ],
        kinds: &["open"],
        open: Some((
            &[
                "/etc/security/pwquality.conf",
                "/etc/shadow",
                "/etc/sudoers",
            ],
            &[],
        )),
    },
    Case {
        what: "pmatch: the directory itself and below",
        rules: &["open_read and fd.name pmatch (/etc, /root/.ssh/, //var//lib, /home/*/.aws)"],
        kinds: &["open"],
        open: Some((&["/etc", "/home/", "/root/.ssh", "/var/lib"], &[])),
    },
    Case {
        // A failed open's path is as given: //etc/x pmatches /etc.
        what: "pmatch on failed opens bounds nothing",
        rules: &["evt.type=openat and fd.name pmatch (/etc)"],
        kinds: &["open"],
        open: None,
    },
    Case {
        what: "fd.directory",
        rules: &[
            "open_read and fd.directory = /etc/pam.d",
            "open_read and fd.directory in (/run/secrets, \"\")",
            "open_read and fd.directory startswith /var/lib",
        ],
        kinds: &["open"],
        open: Some((&["/etc/pam.d/", "/run/secrets/", "/var/lib"], &[])),
    },
    Case {
        what: "fd.directory = / is every path",
        rules: &["open_read and fd.directory = /"],
        kinds: &["open"],
        open: Some((&["/"], &[])),
    },
    Case {
        what: "glob: the literal part",
        rules: &["open_read and fd.name glob \"/home/*/.ssh/*\""],
        kinds: &["open"],
        open: Some((&["/home/"], &[])),
    },
    Case {
        what: "relative values and empty lists match no judged path",
        rules: &["open_read and (fd.name = etc/passwd or fd.name startswith tmp or fd.name in ())"],
        kinds: &[],
        open: Some((&[], &[])),
    },
    Case {
        what: "one unconstrained rule turns the filter off",
        rules: &[
            "open_read and fd.name startswith /etc/",
            "evt.type=openat and proc.name=cat",
        ],
        kinds: &["open"],
        open: None,
    },
    Case {
        what: "unconstrained reads keep write prefixes",
        rules: &[
            "open_write and not evt.arg.flags contains O_PATH and fd.name startswith /etc/",
            "open_read and proc.name=cat",
        ],
        kinds: &["open"],
        open: Some((&["/"], &["/etc/"])),
    },
    Case {
        what: "not of a path test bounds nothing",
        rules: &["evt.type=open and not fd.name startswith /tmp/"],
        kinds: &["open"],
        open: None,
    },
    Case {
        what: "not of another type is that type",
        rules: &["evt.type=execve and not evt.type=open"],
        kinds: &["exec"],
        open: Some((&[], &[])),
    },
    Case {
        what: "not of this type is nothing",
        rules: &["evt.type=open and not evt.type=open"],
        kinds: &[],
        open: Some((&[], &[])),
    },
    Case {
        what: "double negation and !=",
        rules: &["not (evt.type != open or fd.name != /etc/passwd)"],
        kinds: &["open"],
        open: Some((&["/etc/passwd"], &["/etc/passwd"])),
    },
    Case {
        what: "exec rules need no opens",
        rules: &[
            "evt.type=execve and proc.name=sh",
            "evt.type in (execve, execveat)",
        ],
        kinds: &["exec"],
        open: Some((&[], &[])),
    },
    Case {
        what: "a branch for another type adds nothing to opens",
        rules: &[
            "(evt.type=open and fd.name startswith /etc/) or (evt.type=execve and proc.name=sh)",
        ],
        kinds: &["exec", "open"],
        open: Some((&["/etc/"], &["/etc/"])),
    },
    Case {
        what: "operators that bound no prefix",
        rules: &[
            "open_read and fd.name endswith .pem",
            "open_read and fd.name contains id_rsa",
            "open_read and fd.name icontains /etc",
            "open_read and fd.name = val(proc.exepath)",
            "open_read and fd.filename = shadow",
            "open_read and fd.nameraw startswith /etc",
        ],
        kinds: &["open"],
        open: Some((&["/"], &[])),
    },
    Case {
        what: "exists bounds nothing",
        rules: &["evt.type=openat and fd.name exists"],
        kinds: &["open"],
        open: None,
    },
    Case {
        // Read-write opens pass under a read or a write prefix; one that only
        // O_RDWR opens reach goes with the writes.
        what: "read-write opens",
        rules: &[
            "evt.type=openat and evt.arg.flags contains O_RDWR and not evt.arg.flags contains O_PATH and fd.name startswith /data/",
        ],
        kinds: &["open"],
        open: Some((&[], &["/data/"])),
    },
    Case {
        what: "read-write opens covered by reads",
        rules: &[
            "evt.type=openat and evt.arg.flags contains O_RDWR and not evt.arg.flags contains O_PATH and fd.name startswith /data/x",
            "open_read and fd.name startswith /data/",
        ],
        kinds: &["open"],
        open: Some((&["/data/"], &[])),
    },
    Case {
        what: "flags the shape does not fix are unknown",
        rules: &[
            "evt.type=openat and evt.arg.flags contains O_TRUNC and fd.name startswith /var/log/",
        ],
        kinds: &["open"],
        open: Some((&["/var/log/"], &["/var/log/"])),
    },
    Case {
        what: "a rule on every type needs every kind",
        rules: &["proc.name=sh"],
        kinds: &[
            "exec", "fork", "exit", "open", "connect", "accept", "listen", "setid", "capset",
            "ptrace", "module", "bpf", "memfd", "io_uring", "unlink", "rename", "chmod", "link",
            "bind", "mount",
        ],
        open: None,
    },
    Case {
        what: "kinds without filters",
        rules: &[
            "evt.type in (symlink, linkat) and fd.name startswith /etc/",
            "evt.type=ptrace and evt.arg.request contains PTRACE_ATTACH",
            "evt.type in (dup, socket, sendto)",
        ],
        kinds: &["ptrace", "link"],
        open: Some((&[], &[])),
    },
    Case {
        what: "Falco exceptions are folded in as and-not",
        rules: &[
            "open_read and fd.name startswith /etc/ and not (proc.name in (sshd) and fd.name = /etc/shadow)",
        ],
        kinds: &["open"],
        open: Some((&["/etc/"], &[])),
    },
];

#[test]
fn open_cases() {
    for case in CASES {
        let plan = plan_of(case.rules);
        assert_eq!(kind_names(&plan), case.kinds, "{}: kinds", case.what);
        let expected = case.open.and_then(|(r, w)| opens(r, w));
        assert_eq!(plan.open, expected, "{}: opens", case.what);
        assert!(plan.widened.is_empty(), "{}: {:?}", case.what, plan.widened);
    }
}

#[test]
fn exceptions_written_as_exceptions_keep_the_prefixes() {
    let text = format!(
        "{FALCO_OPEN_MACROS}
- rule: shadow
  desc: d
  condition: open_read and fd.name startswith /etc/
  output: o
  priority: INFO
  exceptions:
    - name: known
      fields: [proc.name, fd.name]
      values:
        - [sshd, /etc/shadow]
"
    );
    let plan = plan(load(&text).rules());
    assert_eq!(plan.open, opens(&["/etc/"], &[]));
}

#[test]
fn suffixes_and_file_names_watch_names_not_every_path() {
    let plan = plan_of(&[
        "open_read and (fd.name endswith /.docker/config.json or fd.name endswith /.dockercfg)",
        "open_read and fd.filename in (id_rsa, id_ed25519) and not proc.name = ssh",
        "open_write and fd.name startswith /etc/",
    ]);
    let open = plan.open.expect("a filter");
    assert_eq!(open.read, Vec::<String>::new());
    assert_eq!(
        open.read_names,
        [".dockercfg", "config.json", "id_ed25519", "id_rsa"]
    );
    assert_eq!(open.write, ["/etc/"]);
    assert!(open.write_names.is_empty());
    let both = plan_of(&["open_read and fd.name startswith /etc/ and fd.name endswith /passwd"])
        .open
        .expect("a filter");
    assert_eq!(
        (both.read, both.read_names),
        (vec!["/etc/".to_string()], vec![]),
        "under a prefix and named: the prefix alone bounds it"
    );
    // A suffix without a '/' is part of a name: it bounds nothing the kernel holds.
    assert_eq!(
        plan_of(&["open_read and fd.name endswith .pem"])
            .open
            .map(|o| o.read),
        Some(vec!["/".to_string()])
    );
    // Under `not`, a name bounds nothing either.
    let negated = plan_of(&["open_read and not fd.name endswith /x/config.json"]);
    assert_eq!(negated.open.map(|o| o.read), Some(vec!["/".to_string()]));
}

#[test]
fn names_the_kernel_cannot_hold_watch_every_path() {
    let long = format!("open_read and fd.filename = {}", "n".repeat(64));
    let plan = plan_of(&[&long]);
    let open = plan.open.expect("a filter");
    assert_eq!(open.read, ["/"]);
    assert!(open.read_names.is_empty());
    assert!(
        plan.widened.iter().any(|w| w.contains("file name")),
        "{:?}",
        plan.widened
    );
}
