//! `cargo xtask manifests`: the Kubernetes manifests under `deploy/` checked
//! offline, as CI runs them. yamllint (strict) lints every YAML file there;
//! `kubectl kustomize` renders the base and every overlay; kubernetes-validate
//! (strict: unknown fields are errors) checks each rendered object against the
//! schemas of the three newest Kubernetes releases it ships. cert-manager's
//! kinds have no schema there: they are checked by a strict subset schema of
//! our own (`manifests/cert_manager.py`), and any other kind without a schema
//! is an error rather than kubernetes-validate's warning. The Secrets that
//! `make-secrets.sh` prints are validated too. Before trusting a pass, the
//! step feeds itself broken manifests and fails unless each is refused.
//!
//! yamllint and kubernetes-validate live in a Python venv under
//! `target/xtask/python`, installed from PyPI with pinned versions.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{
    cmd::{run, workspace_root},
    setup,
};

/// What the venv holds: the tools and every package they pull in, pinned, so
/// that a new release upstream cannot change CI's verdict overnight.
const REQUIREMENTS: &str = "\
yamllint==1.38.0
kubernetes-validate==1.37.0
attrs==26.1.0
importlib_resources==7.1.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
packaging==26.4
pathspec==1.1.1
PyYAML==6.0.4
referencing==0.37.0
rpds-py==2026.9.1
typing_extensions==4.16.0
";

/// The Kubernetes releases the manifests must be valid for: the newest three
/// that kubernetes-validate 1.37.0 has schemas for.
const KUBERNETES_VERSIONS: [&str; 3] = ["1.35.0", "1.36.0", "1.37.0"];

/// The strict checker of cert-manager objects, run with the venv's Python.
const CERT_MANAGER_CHECK: &str = include_str!("manifests/cert_manager.py");

/// API groups whose kinds kubernetes-validate has no schemas for, and which
/// the cert-manager checker covers.
const CERT_MANAGER_GROUP: &str = "cert-manager.io/";

/// The checks' tools and scratch directory.
struct Tools {
    bin: PathBuf,
    scratch: PathBuf,
}

/// Runs every check of the manifests; fails on the first problem.
pub fn check() -> Result<()> {
    setup::manifests()?;
    let root = workspace_root();
    let tools = Tools::install(&root.join("target/xtask"))?;
    tools.self_check().context(
        "the manifest checks accepted a broken manifest: they cannot be trusted to catch one",
    )?;

    let deploy = root.join("deploy");
    tools.lint(&deploy)?;
    let kubernetes = deploy.join("kubernetes");
    let mut targets = vec![kubernetes.join("base")];
    let mut overlays: Vec<PathBuf> = fs::read_dir(kubernetes.join("overlays"))
        .context("reading deploy/kubernetes/overlays")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    overlays.sort();
    ensure!(
        !overlays.is_empty(),
        "no overlays under deploy/kubernetes/overlays"
    );
    targets.extend(overlays);
    for dir in &targets {
        let name = dir
            .strip_prefix(&kubernetes)
            .unwrap_or(dir)
            .to_string_lossy()
            .replace('/', "-");
        let rendered = render(dir)?;
        tools
            .validate(&name, &rendered)
            .with_context(|| format!("{} does not validate", dir.display()))?;
    }
    let secrets = tools.secrets(&kubernetes.join("make-secrets.sh"))?;
    tools
        .validate("make-secrets", &secrets)
        .context("the Secrets make-secrets.sh prints do not validate")?;
    eprintln!(
        "xtask: manifests: {} renderings and make-secrets.sh valid for Kubernetes {}",
        targets.len(),
        KUBERNETES_VERSIONS.join(", ")
    );
    Ok(())
}

/// `kubectl kustomize DIR`.
fn render(dir: &Path) -> Result<String> {
    eprintln!("xtask: running kubectl kustomize {}", dir.display());
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .context("cannot run kubectl (needed to render the kustomizations)")?;
    if !out.status.success() {
        bail!(
            "kubectl kustomize {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).context("kubectl kustomize printed non-UTF-8")
}

/// The YAML documents of a multi-document stream, without empty ones.
fn documents(yaml: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in yaml.lines() {
        if line == "---" || line.starts_with("--- ") {
            docs.push(String::new());
        } else if let Some(doc) = docs.last_mut() {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    docs.retain(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// Whether a rendered document is a cert-manager object (kustomize writes
/// top-level keys unindented).
fn is_cert_manager(doc: &str) -> bool {
    doc.lines().any(|l| {
        l.strip_prefix("apiVersion:")
            .is_some_and(|v| v.trim().trim_matches('"').starts_with(CERT_MANAGER_GROUP))
    })
}

/// Splits a stream into the documents kubernetes-validate checks and the
/// cert-manager ones, each joined back into a stream.
fn split(yaml: &str) -> (String, String) {
    let (cert_manager, core): (Vec<String>, Vec<String>) = documents(yaml)
        .into_iter()
        .partition(|d| is_cert_manager(d));
    (core.join("---\n"), cert_manager.join("---\n"))
}

/// Problems in kubernetes-validate's output that its exit status does not
/// report: a kind without a schema is only a warning there, and would let a
/// misspelt kind or apiVersion through.
fn missing_schemas(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| l.contains("Couldn't find schema"))
        .collect()
}

impl Tools {
    /// The venv with the pinned tools, made or brought up to date.
    fn install(dir: &Path) -> Result<Self> {
        let venv = dir.join("python");
        let bin = venv.join("bin");
        let stamp = venv.join("requirements.txt");
        let scratch = dir.join("manifests");
        fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let tools = Self { bin, scratch };
        if fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS)
            && tools.tool("yamllint").is_file()
            && tools.tool("kubernetes-validate").is_file()
        {
            return Ok(tools);
        }
        if !tools.tool("python").is_file() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv)).context(
                "cannot make a Python venv: install python3 and python3-venv (apt-get install python3-venv)",
            )?;
        }
        let requirements = tools.scratch.join("requirements.txt");
        fs::write(&requirements, REQUIREMENTS)?;
        run(Command::new(tools.tool("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements))
        .context(
            "cannot install yamllint and kubernetes-validate from PyPI into target/xtask/python (is PyPI reachable?)",
        )?;
        fs::write(&stamp, REQUIREMENTS)?;
        Ok(tools)
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// `yamllint --strict` over `dir` with its `.yamllint`.
    fn lint(&self, dir: &Path) -> Result<()> {
        run(Command::new(self.tool("yamllint"))
            .arg("--strict")
            .arg("-c")
            .arg(dir.join(".yamllint"))
            .arg(dir))
        .context("yamllint found problems in deploy/")
    }

    /// Validates a stream of manifests, written to `<scratch>/<name>.yaml`.
    fn validate(&self, name: &str, yaml: &str) -> Result<()> {
        let (core, cert_manager) = split(yaml);
        ensure!(!core.is_empty(), "{name}: no Kubernetes objects");
        let core_file = self.scratch.join(format!("{name}.yaml"));
        fs::write(&core_file, &core)?;
        for version in KUBERNETES_VERSIONS {
            let out = Command::new(self.tool("kubernetes-validate"))
                .args(["--strict", "--quiet", "--kubernetes-version", version])
                .arg(&core_file)
                .output()
                .context("cannot run kubernetes-validate")?;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let missing = missing_schemas(&text);
            if !out.status.success() || !missing.is_empty() {
                bail!(
                    "kubernetes-validate --strict (Kubernetes {version}) refused {}:\n{}{}",
                    core_file.display(),
                    text.trim_end(),
                    if missing.is_empty() {
                        ""
                    } else {
                        "\n(a kind without a schema is an error here: a misspelt kind or apiVersion, or a CRD to check like cert-manager's)"
                    }
                );
            }
        }
        if !cert_manager.is_empty() {
            let file = self.scratch.join(format!("{name}.cert-manager.yaml"));
            fs::write(&file, &cert_manager)?;
            let out = Command::new(self.tool("python"))
                .arg("-c")
                .arg(CERT_MANAGER_CHECK)
                .arg(&file)
                .output()
                .context("cannot run the venv's python")?;
            if !out.status.success() {
                bail!(
                    "cert-manager objects in {} refused:\n{}{}",
                    file.display(),
                    String::from_utf8_lossy(&out.stdout).trim_end(),
                    String::from_utf8_lossy(&out.stderr).trim_end()
                );
            }
        }
        eprintln!("xtask: manifests: {name} valid");
        Ok(())
    }

    /// What `make-secrets.sh` prints for two named nodes, made offline in a
    /// scratch directory (no cluster needed).
    fn secrets(&self, script: &Path) -> Result<String> {
        let out_dir = self.scratch.join("secrets");
        let _ = fs::remove_dir_all(&out_dir);
        eprintln!(
            "xtask: running {} --out ... node-a node-b",
            script.display()
        );
        let out = Command::new("bash")
            .arg(script)
            .arg("--out")
            .arg(&out_dir)
            .args(["node-a", "node-b"])
            .output()
            .context("cannot run make-secrets.sh")?;
        let _ = fs::remove_dir_all(&out_dir);
        if !out.status.success() {
            bail!(
                "make-secrets.sh failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let yaml = String::from_utf8(out.stdout).context("make-secrets.sh printed non-UTF-8")?;
        for key in ["node-a.crt:", "node-b.key:", "tls.crt:", "ca.crt:"] {
            ensure!(
                yaml.contains(key),
                "make-secrets.sh printed no `{key}` in its Secrets"
            );
        }
        Ok(yaml)
    }

    /// Fails unless every deliberately broken manifest is refused, and a good
    /// one passes: a check that passes everything would look the same as one
    /// that works.
    fn self_check(&self) -> Result<()> {
        let good = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\ndata:\n  a: b\n";
        self.validate("self-check-good", good)
            .context("a valid ConfigMap was refused")?;
        let broken = [
            (
                "a required field missing",
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: x\nspec:\n  selector: {}\n",
            ),
            (
                "an unknown field (strict)",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  lables: {}\n",
            ),
            (
                "a misspelt kind",
                "apiVersion: apps/v1\nkind: DeamonSet\nmetadata:\n  name: x\n",
            ),
            (
                "a cert-manager field misspelt",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: x\nspec:\n  secretNme: s\n  issuerRef:\n    name: ca\n  dnsNames: [a]\n",
            ),
        ];
        for (what, yaml) in broken {
            if self.validate("self-check-broken", yaml).is_ok() {
                bail!("{what} passed validation");
            }
            eprintln!("xtask: manifests: self-check: {what} refused, as it must be");
        }
        let lint_dir = self.scratch.join("self-check-lint");
        fs::create_dir_all(&lint_dir)?;
        fs::write(lint_dir.join(".yamllint"), "extends: default\n")?;
        fs::write(lint_dir.join("bad.yaml"), "a: 1  \nb:   [1,2]\n")?;
        if self.lint(&lint_dir).is_ok() {
            bail!("yamllint --strict passed a badly formatted file");
        }
        eprintln!("xtask: manifests: self-check: badly formatted YAML refused, as it must be");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_split_into_documents_and_cert_manager_apart() {
        let yaml = "apiVersion: v1\nkind: A\n---\n# only a comment\n---\napiVersion: cert-manager.io/v1\nkind: Certificate\n--- \n\napiVersion: apps/v1\nkind: B\n  apiVersion: cert-manager.io/v1\n";
        let docs = documents(yaml);
        assert_eq!(docs.len(), 3, "{docs:?}");
        let (core, cert_manager) = split(yaml);
        assert!(
            core.contains("kind: A") && core.contains("kind: B"),
            "{core}"
        );
        assert!(
            !core.contains("Certificate"),
            "an indented apiVersion is not the object's: {core}"
        );
        assert_eq!(
            cert_manager,
            "apiVersion: cert-manager.io/v1\nkind: Certificate\n"
        );
        assert!(documents("").is_empty());
    }

    #[test]
    fn a_kind_without_a_schema_is_found_in_the_output() {
        let out = "WARN f.yaml Couldn't find schema for kind DeamonSet with api version apps/v1 for kubernetes version 1.37\n";
        assert_eq!(missing_schemas(out).len(), 1);
        assert!(missing_schemas("INFO f.yaml passed\n").is_empty());
    }

    #[test]
    fn the_kubernetes_versions_ascend_to_the_pinned_validators_newest() {
        let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
        for pair in KUBERNETES_VERSIONS.windows(2) {
            assert!(parse(pair[0]) < parse(pair[1]), "{pair:?}");
        }
        let tool = REQUIREMENTS
            .lines()
            .find_map(|l| l.strip_prefix("kubernetes-validate=="))
            .expect("kubernetes-validate is pinned");
        assert_eq!(
            KUBERNETES_VERSIONS[2], tool,
            "validate against the newest release the pinned kubernetes-validate knows"
        );
    }
}
