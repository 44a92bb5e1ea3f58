//! Real containers, run by runc from a busybox root filesystem, placed in a cgroup
//! the way the kubelet places pods (`/kubepods/besteffort/pod<uid>/<container id>`).

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;

/// The cgroup v2 mount point, read from mountinfo (it is not always /sys/fs/cgroup).
pub fn cgroup2_mount() -> PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    mountinfo
        .lines()
        .find_map(|line| {
            let fstype = line.split(" - ").nth(1)?.split(' ').next()?;
            let mount_point = line.split(' ').nth(4)?;
            (fstype == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .expect("no cgroup2 mount on this machine")
}

/// The inode of this process's cgroup v2 directory: the id the kernel reports for
/// this process and the children it starts outside containers.
pub fn own_cgroup_id() -> u64 {
    let cgroups = fs::read_to_string("/proc/self/cgroup").expect("reading /proc/self/cgroup");
    let path = cgroups
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .expect("this process has a cgroup v2 path");
    let dir = cgroup2_mount().join(path.trim_start_matches('/'));
    fs::metadata(&dir).expect("our cgroup v2 directory").ino()
}

/// A container created with `runc create`: its cgroup exists and its init process
/// waits for [`Container::start`].
pub struct Container {
    /// The 64-hex container id.
    pub id: String,
    /// The pod's UID (a UUID), as its cgroup path names it.
    pub pod_uid: String,
    /// The kubelet-like cgroup path.
    pub cgroup_path: String,
    /// The pod part of the cgroup path, removed on drop.
    pod_dir: String,
    bundle: PathBuf,
}

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hex64(seed: &str) -> String {
    // Not cryptographic: just 64 hex digits that differ between runs.
    let mut out = String::new();
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0..8u64 {
        for b in seed.bytes().chain(round.to_le_bytes()) {
            state ^= u64::from(b);
            state = state.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{:08x}", state as u32));
    }
    out
}

/// How the kubelet's cgroup driver lays out a pod's cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `/kubepods/besteffort/pod<uid>/<id>`.
    Cgroupfs,
    /// `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/cri-containerd-<id>.scope`.
    Systemd,
}

/// What a container runs and how it is placed.
#[derive(Clone, Copy, Debug)]
pub struct Spec<'a> {
    /// Makes the ids (container, pod UID) unique to the test.
    pub nonce: &'a str,
    /// The container's process.
    pub args: &'a [&'a str],
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
    /// Files added to its root filesystem (path, content).
    pub files: &'a [(&'a str, &'a str)],
    /// Whether it shares the host's network namespace.
    pub host_network: bool,
    /// The cgroup layout.
    pub layout: Layout,
}

/// 32 hex digits of `hex` as a UUID (8-4-4-4-12).
fn uuid(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl Container {
    /// Creates a container that will run `args` as `uid`:`gid`.
    pub fn create(nonce: &str, args: &[&str], uid: u32, gid: u32) -> Self {
        Self::create_with_files(nonce, args, uid, gid, &[])
    }

    /// Creates a container whose root filesystem also holds `files` (path, content).
    pub fn create_with_files(
        nonce: &str,
        args: &[&str],
        uid: u32,
        gid: u32,
        files: &[(&str, &str)],
    ) -> Self {
        Self::create_inner(nonce, args, uid, gid, files, false)
    }

    /// Creates a container in the host's network namespace, so it can reach a
    /// listener on the host's loopback.
    pub fn create_host_network(nonce: &str, args: &[&str]) -> Self {
        Self::create_inner(nonce, args, 0, 0, &[], true)
    }

    /// Creates a container with every option: `files` added to its root
    /// filesystem, and the host's network namespace when `host_network`.
    pub fn create_inner(
        nonce: &str,
        args: &[&str],
        uid: u32,
        gid: u32,
        files: &[(&str, &str)],
        host_network: bool,
    ) -> Self {
        Self::create_spec(&Spec {
            nonce,
            args,
            uid,
            gid,
            files,
            host_network,
            layout: Layout::Cgroupfs,
        })
    }

    /// Creates a container as `spec` says.
    pub fn create_spec(spec: &Spec<'_>) -> Self {
        Self::create_spec_with(spec, |_| {})
    }

    /// Creates a container as `spec` says, with `edit` applied to its runc
    /// `config.json` last (for what `Spec` does not say: capabilities, ...).
    pub fn create_spec_with(spec: &Spec<'_>, edit: impl FnOnce(&mut Value)) -> Self {
        let Spec {
            nonce,
            args,
            uid,
            gid,
            files,
            host_network,
            layout,
        } = *spec;
        let id = hex64(nonce);
        let pod_uid = uuid(&hex64(&format!("pod{nonce}")));
        let (pod_dir, cgroup_path) = match layout {
            Layout::Cgroupfs => {
                let pod_dir = format!("/kubepods/besteffort/pod{pod_uid}");
                let path = format!("{pod_dir}/{id}");
                (pod_dir, path)
            }
            // The kubelet's systemd driver: slices named after the pod's UID with
            // underscores, the container in a scope named by its runtime.
            Layout::Systemd => {
                let pod_dir = format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
                    pod_uid.replace('-', "_")
                );
                let path = format!("{pod_dir}/cri-containerd-{id}.scope");
                (pod_dir, path)
            }
        };
        let bundle = std::env::temp_dir().join(format!("sensor-bundle-{}", &id[..12]));
        let rootfs = bundle.join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).expect("creating the rootfs");
        for dir in ["proc", "dev", "sys", "tmp"] {
            fs::create_dir_all(rootfs.join(dir)).expect("creating the rootfs");
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
            .expect("copying /bin/busybox (package busybox-static)");
        let applets = run(Command::new("/bin/busybox").arg("--list"));
        for applet in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
        for (path, content) in files {
            let file = rootfs.join(path.trim_start_matches('/'));
            if let Some(dir) = file.parent() {
                fs::create_dir_all(dir).expect("creating a rootfs directory");
            }
            fs::write(&file, content).expect("writing a rootfs file");
        }
        run(Command::new("runc").args(["spec"]).current_dir(&bundle));
        let config_path = bundle.join("config.json");
        let mut config: Value =
            serde_json::from_slice(&fs::read(&config_path).expect("reading config.json"))
                .expect("runc spec writes JSON");
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        config["process"]["user"]["uid"] = uid.into();
        config["process"]["user"]["gid"] = gid.into();
        config["linux"]["cgroupsPath"] = cgroup_path.clone().into();
        // The bundle is ours and temporary: let the container write to it.
        config["root"]["readonly"] = false.into();
        if let Some(namespaces) = config["linux"]["namespaces"]
            .as_array_mut()
            .filter(|_| host_network)
        {
            namespaces.retain(|ns| ns["type"] != "network");
        }
        edit(&mut config);
        fs::write(&config_path, config.to_string()).expect("writing config.json");

        let container = Self {
            id,
            pod_uid,
            cgroup_path,
            pod_dir,
            bundle,
        };
        // runc create hands its stdio to the container, whose process outlives the
        // command: give it files, or a captured pipe would never reach EOF.
        let stdio = |name: &str| {
            fs::File::create(container.bundle.join(name)).expect("creating a stdio file")
        };
        let status = Command::new("runc")
            .args(["create", "--bundle"])
            .arg(&container.bundle)
            .arg(&container.id)
            .stdin(std::process::Stdio::null())
            .stdout(stdio("stdout"))
            .stderr(stdio("stderr"))
            .status()
            .expect("running runc create");
        assert!(
            status.success(),
            "runc create failed: {}",
            fs::read_to_string(container.bundle.join("stderr")).unwrap_or_default()
        );
        container
    }

    /// The pod's cgroup path (`/kubepods/besteffort/pod<uid>`), parent of the
    /// container's.
    pub fn pod_cgroup(&self) -> &str {
        &self.pod_dir
    }

    /// The inode number of the container's cgroup v2 directory: the id the kernel
    /// reports for its processes.
    pub fn cgroup_id(&self) -> u64 {
        let dir = cgroup2_mount().join(self.cgroup_path.trim_start_matches('/'));
        fs::metadata(&dir)
            .unwrap_or_else(|e| panic!("container cgroup {} missing: {e}", dir.display()))
            .ino()
    }

    /// The host pid of the container's init process.
    pub fn init_pid(&self) -> u32 {
        let state: Value =
            serde_json::from_str(&run(Command::new("runc").args(["state", &self.id])))
                .expect("runc state writes JSON");
        state["pid"].as_u64().expect("runc state has a pid") as u32
    }

    /// Starts the container's process.
    pub fn start(&self) {
        run(Command::new("runc").args(["start", &self.id]));
    }

    /// Runs `args` in the running container, as `runc exec` (and `kubectl exec`)
    /// does: a new process that enters the container's namespaces and cgroup.
    pub fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("runc")
            .args(["exec", &self.id])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running runc exec")
    }

    /// What the container's process wrote to stdout.
    pub fn stdout(&self) -> String {
        fs::read_to_string(self.bundle.join("stdout")).unwrap_or_default()
    }

    /// Waits until the container's process has exited.
    pub fn wait(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let out = Command::new("runc").args(["state", &self.id]).output();
            let stopped = out.is_ok_and(|o| {
                serde_json::from_slice::<Value>(&o.stdout).is_ok_and(|s| s["status"] == "stopped")
            });
            if stopped {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("container {} did not stop within {timeout:?}", self.id);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "-f", &self.id])
            .output();
        let _ = fs::remove_dir_all(&self.bundle);
        // runc removes the container's own cgroup; the pod and QoS parents it made
        // in every hierarchy (v2 and each v1 controller) are ours to remove.
        let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for hierarchy in hierarchies.flatten() {
            let base = hierarchy.path();
            let pod = base.join(self.pod_dir.trim_start_matches('/'));
            remove_cgroup_tree(&pod);
            for parent in [
                "kubepods/besteffort",
                "kubepods",
                "kubepods.slice/kubepods-besteffort.slice",
                "kubepods.slice",
            ] {
                // Fails harmlessly while other pods' directories remain.
                let _ = fs::remove_dir(base.join(parent));
            }
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(children) = fs::read_dir(dir) {
        for child in children.flatten() {
            if child.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&child.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}
