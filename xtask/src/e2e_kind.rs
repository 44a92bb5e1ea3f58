//! `cargo xtask e2e-kind`: the whole install on a kind cluster, checked from an
//! analyst's side. For machines with Docker and kind (this one has neither):
//! create a cluster, load the images, make the Secrets, apply the kind overlay,
//! wait until every pod is ready, run a pod that reads /etc/shadow, and ask the
//! collector through a port-forward and `sensorctl` whether the finding arrived
//! with that pod's name and namespace.

use std::{
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    cmd::{output, run, workspace_root},
    images,
};

/// The cluster this task makes (and deletes unless asked to keep it).
const CLUSTER: &str = "sensor-e2e";
/// The pod that misbehaves, in the `default` namespace.
const ATTACK_POD: &str = "e2e-attack";
/// The local end of the port-forward to the collector's Service.
const LOCAL_PORT: u16 = 18443;
/// How long the sensor has to report the read once the pod ran.
const FINDING_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the end-to-end check; `keep` leaves the cluster up for a look.
pub fn task(keep: bool) -> Result<()> {
    for (tool, why) in [
        ("docker", "kind runs its nodes in Docker"),
        ("kind", "it makes the cluster (https://kind.sigs.k8s.io)"),
        ("kubectl", "it applies the manifests"),
    ] {
        if output(Command::new(tool).arg("version")).is_none() {
            bail!("e2e-kind needs `{tool}` on PATH: {why}");
        }
    }
    let root = workspace_root();
    let archives = root.join("target/xtask/images");
    // Also builds the static sensorctl that asks the collector below.
    let built = images::build(Some(&archives))?;
    let clusters = output(Command::new("kind").arg("get").arg("clusters")).unwrap_or_default();
    if !clusters.lines().any(|c| c.trim() == CLUSTER) {
        run(Command::new("kind").args(["create", "cluster", "--name", CLUSTER, "--wait", "180s"]))?;
    }
    let result = check(&root, &built);
    if keep {
        eprintln!("xtask: e2e-kind: cluster {CLUSTER} kept (kind delete cluster --name {CLUSTER})");
    } else {
        run(Command::new("kind").args(["delete", "cluster", "--name", CLUSTER]))?;
    }
    result
}

/// Everything after the cluster exists: what `task` deletes the cluster after,
/// whether it held or not.
fn check(root: &Path, built: &[images::Built]) -> Result<()> {
    let context = format!("kind-{CLUSTER}");
    let kubectl = || {
        let mut c = Command::new("kubectl");
        c.arg("--context").arg(&context);
        c
    };
    for image in built.iter().filter(|b| b.name() != "sensorctl") {
        let archive = image
            .archive
            .as_ref()
            .with_context(|| format!("no archive of the {} image", image.name()))?;
        run(Command::new("kind")
            .args(["load", "image-archive", "--name", CLUSTER])
            .arg(archive))?;
    }
    // kind made its context the current one, which the script's kubectl uses.
    let secrets = root.join("deploy/kubernetes/make-secrets.sh");
    run(Command::new(&secrets).arg("--apply").current_dir(root))?;
    run(kubectl()
        .args(["apply", "-k"])
        .arg(root.join("deploy/kubernetes/overlays/kind")))?;
    for workload in ["daemonset/sensor", "statefulset/collector"] {
        run(kubectl().args([
            "-n",
            "sensor",
            "rollout",
            "status",
            workload,
            "--timeout=300s",
        ]))?;
    }
    // Started only once every agent is ready, so the read cannot come first.
    let _ = kubectl()
        .args(["delete", "pod", ATTACK_POD, "--ignore-not-found", "--wait"])
        .status();
    run(kubectl().args([
        "run",
        ATTACK_POD,
        "--image=busybox:1.36",
        "--restart=Never",
        "--",
        "sh",
        "-c",
        "cat /etc/shadow > /dev/null; sleep 30",
    ]))?;
    let forward = PortForward::start(kubectl())?;
    let found = wait_finding(root)?;
    drop(forward);
    eprintln!("xtask: e2e-kind: finding arrived: {found}");
    Ok(())
}

/// `kubectl port-forward` to the collector, stopped when dropped.
struct PortForward(Child);

impl PortForward {
    fn start(mut kubectl: Command) -> Result<Self> {
        let child = kubectl
            .args(["-n", "sensor", "port-forward", "svc/collector"])
            .arg(format!("{LOCAL_PORT}:8443"))
            .stdout(Stdio::null())
            .spawn()
            .context("starting kubectl port-forward")?;
        let forward = Self(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", LOCAL_PORT)).is_err() {
            if Instant::now() > deadline {
                bail!("the port-forward to the collector did not open in 30 s");
            }
            sleep(Duration::from_millis(200));
        }
        Ok(forward)
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls the collector as the analyst until the attack pod's read of
/// /etc/shadow is there; returns it. Checks the pod context the finding must
/// carry: the reason this test exists.
fn wait_finding(root: &Path) -> Result<serde_json::Value> {
    let secrets = root.join("deploy/kubernetes/.secrets");
    let filter = format!("k8s.ns.name = default and k8s.pod.name = {ATTACK_POD}");
    let deadline = Instant::now() + FINDING_TIMEOUT;
    loop {
        let out = Command::new(images::binaries().join("sensorctl"))
            .arg("--collector")
            .arg(format!("https://localhost:{LOCAL_PORT}"))
            .arg("--tls-cert")
            .arg(secrets.join("analyst.crt"))
            .arg("--tls-key")
            .arg(secrets.join("analyst.key"))
            .arg("--tls-ca")
            .arg(secrets.join("ca.crt"))
            .args(["findings", "--where", &filter, "-o", "json"])
            .output()
            .context("running sensorctl")?;
        if !out.status.success() {
            bail!(
                "sensorctl findings: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let finding: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("sensorctl printed {line}"))?;
            let fields = &finding["output_fields"];
            if finding["rule"] == "Read of password hashes"
                && fields["k8s.pod.name"] == ATTACK_POD
                && fields["k8s.ns.name"] == "default"
                && fields["fd.name"] == "/etc/shadow"
            {
                return Ok(finding);
            }
        }
        if Instant::now() > deadline {
            bail!(
                "no `Read of password hashes` finding for pod default/{ATTACK_POD} within {} s",
                FINDING_TIMEOUT.as_secs()
            );
        }
        sleep(Duration::from_secs(2));
    }
}
