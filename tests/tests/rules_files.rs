//! The default rules on files: credentials read, persistence written, system
//! directories changed, logs and history cleared. Each rule's trigger runs in
//! a runc container and must give its finding; its benign neighbour, in
//! another, must not (see `sensor_tests::findings`).

use sensor_tests::{
    can_load_ebpf,
    findings::{Act, Case, Expect, Sensor, check, is},
};

const TOKEN_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// `cat PATH` of a file put in the container's root first.
fn cat(path: &str) -> Act {
    Act::sh(format!("cat {path} > /dev/null")).file(path, "secret\n")
}

fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "Read of password hashes",
            "Warning",
            ("fd.name", is("/etc/shadow")),
            cat("/etc/shadow"),
            cat("/etc/hostname"),
        ),
        Case::new(
            "Read of SSH private key",
            "Warning",
            ("fd.name", is("/root/.ssh/id_rsa")),
            cat("/root/.ssh/id_rsa"),
            cat("/root/.ssh/id_rsa.pub"),
        ),
        Case::new(
            "Read of cloud credentials",
            "Warning",
            ("fd.name", is("/root/.aws/credentials")),
            cat("/root/.aws/credentials"),
            cat("/root/.aws/cli/alias"),
        ),
        Case::new(
            "Read of container registry credentials",
            "Warning",
            ("fd.name", is("/root/.docker/config.json")),
            cat("/root/.docker/config.json"),
            cat("/root/.docker/daemon.json"),
        ),
        Case::new(
            "Read of kubeconfig",
            "Warning",
            ("fd.name", is("/root/.kube/config")),
            cat("/root/.kube/config"),
            // kubectl reading its own config: expected.
            Act::sh("kubectl")
                .file("/root/.kube/config", "apiVersion: v1\n")
                .tool("/usr/local/bin/kubectl", "read line < /root/.kube/config"),
        ),
        Case::new(
            "Read of service account token",
            "Notice",
            ("fd.name", is(&format!("{TOKEN_DIR}/token"))),
            cat(&format!("{TOKEN_DIR}/token")),
            cat(&format!("{TOKEN_DIR}/namespace")),
        ),
        Case::new(
            "Read of another process's memory or environment",
            "Warning",
            ("fd.name", Expect::Has("/environ")),
            Act::sh("cat /proc/1/environ > /dev/null"),
            Act::sh("cat /proc/1/status > /dev/null"),
        ),
        Case::new(
            "Link to sensitive file",
            "Warning",
            ("evt.arg.target", is("/etc/shadow")),
            Act::sh("ln -s /etc/shadow /tmp/s"),
            Act::sh("ln -s /etc/hostname /tmp/h"),
        ),
        Case::new(
            "Write to account database",
            "Error",
            ("fd.name", is("/etc/passwd")),
            Act::sh("echo 'eve:x:0:0::/root:/bin/sh' >> /etc/passwd")
                .file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
            cat("/etc/passwd"),
        ),
        Case::new(
            "Sudoers changed",
            "Error",
            ("fd.name", is("/etc/sudoers.d/eve")),
            Act::sh(
                "mkdir -p /etc/sudoers.d; echo 'eve ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/eve",
            ),
            cat("/etc/sudoers"),
        ),
        Case::new(
            "Cron job written",
            "Warning",
            ("fd.name", is("/etc/cron.d/job")),
            Act::sh("mkdir -p /etc/cron.d; echo '* * * * * root true' > /etc/cron.d/job"),
            cat("/etc/crontab"),
        ),
        Case::new(
            "SSH authorized keys changed",
            "Error",
            ("fd.name", is("/root/.ssh/authorized_keys")),
            Act::sh("echo 'ssh-ed25519 AAAA eve' >> /root/.ssh/authorized_keys")
                .file("/root/.ssh/authorized_keys", ""),
            cat("/root/.ssh/authorized_keys"),
        ),
        Case::new(
            "Shell profile changed",
            "Warning",
            ("fd.name", is("/root/.profile")),
            Act::sh("echo 'export EVIL=1' >> /root/.profile").file("/root/.profile", ""),
            cat("/root/.profile"),
        ),
        Case::new(
            "Dynamic linker preload written",
            "Critical",
            ("fd.name", is("/etc/ld.so.preload")),
            Act::sh("mkdir -p /etc; echo /tmp/evil.so > /etc/ld.so.preload"),
            cat("/etc/ld.so.conf"),
        ),
        Case::new(
            "Write below etc",
            "Warning",
            ("fd.name", is("/etc/motd")),
            Act::sh("mkdir -p /etc; echo hi > /etc/motd"),
            Act::sh("echo hi > /tmp/motd"),
        ),
        Case::new(
            "Write below binary directories",
            "Error",
            ("fd.name", is("/usr/local/bin/tool")),
            Act::sh("mkdir -p /usr/local/bin; echo x > /usr/local/bin/tool"),
            Act::sh("mkdir -p /opt; echo x > /opt/tool"),
        ),
        Case::new(
            "Write below library directories",
            "Error",
            ("fd.name", is("/lib/libevil.so")),
            Act::sh("mkdir -p /lib; echo x > /lib/libevil.so"),
            Act::sh("echo x > /tmp/libevil.so"),
        ),
        Case::new(
            "Log file cleared",
            "Warning",
            ("fd.name", is("/var/log/app.log")),
            Act::sh(": > /var/log/app.log").file("/var/log/app.log", "line\n"),
            Act::sh("echo line >> /var/log/app.log").file("/var/log/app.log", "line\n"),
        ),
        Case::new(
            "Shell history cleared",
            "Warning",
            ("fd.name", is("/root/.ash_history")),
            Act::sh("rm /root/.ash_history").file("/root/.ash_history", "ls\n"),
            Act::sh("echo ls >> /root/.ash_history").file("/root/.ash_history", "ls\n"),
        ),
    ]
}

#[test]
fn file_rules_fire_on_their_triggers_and_not_their_neighbours() {
    if !can_load_ebpf("rules_files") {
        return;
    }
    let sensor = Sensor::start(&[]);
    check(&sensor, &cases());
}
