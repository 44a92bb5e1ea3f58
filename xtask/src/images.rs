//! `cargo xtask images`: the product's OCI images, built with buildah from
//! `deploy/images/NAME.Containerfile`. Each image is FROM scratch around one
//! static (musl) release binary, labelled with its Cargo version and tagged
//! `localhost/NAME:VERSION` and `localhost/NAME:dev`. [`test`] also starts each
//! image's binary inside its image and checks the version it prints.
//!
//! The binaries' build context is `target/images/NAME/`, which holds only what
//! the Containerfile copies, so buildah never walks the target directory.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{
    cmd::{cargo, output, run, workspace_root},
    setup::{self, MUSL_TARGET},
};

/// One image: its name (package, binary and image name are the same), the user
/// it runs as, and the empty directories its Containerfile copies from the context.
struct Image {
    name: &'static str,
    user: &'static str,
    empty_dirs: &'static [&'static str],
}

/// The nonroot user of distroless images: a uid no host account has.
const NONROOT: &str = "65532:65532";

const IMAGES: &[Image] = &[
    // The agent loads BPF programs and reads every process's /proc: root.
    Image {
        name: "sensor",
        user: "0:0",
        empty_dirs: &[],
    },
    Image {
        name: "collector",
        user: NONROOT,
        empty_dirs: &["data"],
    },
    Image {
        name: "sensorctl",
        user: NONROOT,
        empty_dirs: &[],
    },
];

/// An image that was built: what it is, the version its binary carries, and tags.
pub struct Built {
    image: &'static Image,
    /// The oci-archive written with `save`.
    pub archive: Option<PathBuf>,
    version: String,
    versioned_tag: String,
    dev_tag: String,
}

impl Built {
    /// The binary's and the image's name.
    pub fn name(&self) -> &'static str {
        self.image.name
    }
}

/// Where the static binaries are built.
pub fn binaries() -> PathBuf {
    workspace_root()
        .join("target")
        .join(MUSL_TARGET)
        .join("release")
}

/// Builds the static binaries and the images; with `save`, also writes each image
/// as an `oci-archive` tarball into that directory (`NAME-dev.tar`, holding
/// `localhost/NAME:dev`, the name the kind overlay runs; the version is in the
/// image's labels).
pub fn build(save: Option<&Path>) -> Result<Vec<Built>> {
    setup::images()?;
    buildah_usable()?;
    build_ready(save)
}

/// [`build`] once the tools are known to be there.
fn build_ready(save: Option<&Path>) -> Result<Vec<Built>> {
    let mut build = cargo();
    build.args(["build", "--release", "--target", MUSL_TARGET]);
    for image in IMAGES {
        build.args(["--package", image.name]);
    }
    run(&mut build)?;

    let root = workspace_root();
    let binaries = binaries();
    let revision = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // The commit's time, not the build's: the same binary makes the same image
    // (same id), so rebuilding leaves no dangling images behind.
    let timestamp = git(&["log", "-1", "--format=%ct"])
        .filter(|time| time.parse::<u64>().is_ok())
        .unwrap_or_else(|| "0".into());
    // buildah runs in the workspace root; DIR was meant from where we were called.
    let save = save.map(std::path::absolute).transpose()?;

    let mut built = Vec::new();
    for image in IMAGES {
        let binary = binaries.join(image.name);
        ensure_static(&binary)?;
        let version = package_version(image.name)?;
        let context = stage(&root, image, &binary)?;
        let versioned_tag = format!("localhost/{}:{version}", image.name);
        let dev_tag = format!("localhost/{}:dev", image.name);
        let previous = image_id(&dev_tag);
        run(buildah()
            .args(["bud", "--format", "oci", "--pull=never", "--timestamp"])
            .arg(&timestamp)
            .arg("--file")
            .arg(
                root.join("deploy/images")
                    .join(format!("{}.Containerfile", image.name)),
            )
            .arg("--build-arg")
            .arg(format!("VERSION={version}"))
            .arg("--build-arg")
            .arg(format!("REVISION={revision}"))
            .arg("--build-arg")
            .arg(format!("SOURCE={}", env!("CARGO_PKG_REPOSITORY")))
            .args(["--tag", &versioned_tag, "--tag", &dev_tag])
            .arg(&context))?;
        if let Some(previous) = previous {
            remove_if_dangling(&previous);
        }
        let mut archive = None;
        if let Some(dir) = &save {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let file = dir.join(format!("{}-dev.tar", image.name));
            // A file left from an earlier run would make buildah refuse to write.
            let _ = fs::remove_file(&file);
            run(buildah()
                .args(["push", &dev_tag])
                .arg(format!("oci-archive:{}:{dev_tag}", file.display())))?;
            eprintln!("xtask: images: wrote {}", file.display());
            archive = Some(file);
        }
        built.push(Built {
            image,
            archive,
            version,
            versioned_tag,
            dev_tag,
        });
    }
    for image in &built {
        eprintln!(
            "xtask: images: {} and {} built",
            image.versioned_tag, image.dev_tag
        );
    }
    Ok(built)
}

/// `cargo xtask images`: builds the images (see [`build`]); with `check`, also
/// checks each as [`test`] does.
pub fn task(save: Option<&Path>, check: bool) -> Result<()> {
    let built = build(save)?;
    if check {
        verify_all(&built)?;
    }
    Ok(())
}

fn verify_all(built: &[Built]) -> Result<()> {
    built.iter().try_for_each(verify)
}

/// Builds the images, then checks each: its user and version label, and that its
/// binary starts inside it and prints the version Cargo gave it. Outside CI a
/// machine whose buildah cannot work (rootless without subuids, say) skips with
/// the reason; under `CI=true` that fails.
pub fn test() -> Result<()> {
    if let Err(err) = setup::images().and_then(|()| buildah_usable()) {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            return Err(err.context("the image tests cannot run, and CI=true"));
        }
        eprintln!("xtask: images: skipping the image tests: {err:#}");
        return Ok(());
    }
    verify_all(&build_ready(None)?)
}

fn verify(image: &Built) -> Result<()> {
    check(image).with_context(|| format!("the {} image is broken", image.versioned_tag))?;
    eprintln!(
        "xtask: images: {} runs as {} and says version {}: ok",
        image.versioned_tag, image.image.user, image.version
    );
    Ok(())
}

fn check(built: &Built) -> Result<()> {
    let image = built.image;
    let inspect = |format: &str| {
        output(buildah().args([
            "inspect",
            "--type",
            "image",
            "--format",
            format,
            &built.dev_tag,
        ]))
        .map(|out| out.trim().to_owned())
        .with_context(|| format!("buildah inspect {} failed", built.dev_tag))
    };
    let user = inspect("{{.OCIv1.Config.User}}")?;
    ensure!(user == image.user, "runs as {user:?}, not {:?}", image.user);
    let label = inspect(r#"{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}"#)?;
    ensure!(
        label == built.version,
        "is labelled version {label:?}, not {:?}",
        built.version
    );

    let container = output(buildah().args(["from", "--pull=never", "--quiet", &built.dev_tag]))
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .with_context(|| format!("buildah from {} failed", built.dev_tag))?;
    // As the image's user, with nothing but the image's files.
    let printed = Command::new("buildah")
        .args(["run", "--isolation", "chroot", &container, "--"])
        .arg(format!("/{}", image.name))
        .arg("--version")
        .output();
    // The working container goes whatever happened inside it.
    if let Err(err) = run(buildah().args(["rm", &container])) {
        eprintln!("xtask: images: warning: {err:#}");
    }
    let printed = printed.context("cannot start buildah run")?;
    let stdout = String::from_utf8_lossy(&printed.stdout);
    ensure!(
        printed.status.success(),
        "`{} --version` in the image failed ({}): {}{}",
        image.name,
        printed.status,
        stdout,
        String::from_utf8_lossy(&printed.stderr)
    );
    let expected = format!("{} {}", image.name, built.version);
    ensure!(
        stdout.trim() == expected,
        "`{} --version` printed {:?}, not {expected:?}",
        image.name,
        stdout.trim()
    );
    Ok(())
}

/// What git says to `args` in the workspace, trimmed; None without git or a repository.
fn git(args: &[&str]) -> Option<String> {
    output(
        Command::new("git")
            .arg("-C")
            .arg(workspace_root())
            .args(args),
    )
    .map(|out| out.trim().to_owned())
    .filter(|out| !out.is_empty())
}

fn buildah() -> Command {
    let mut command = Command::new("buildah");
    command.current_dir(workspace_root());
    command
}

/// Fails with what buildah says when it cannot work on this machine.
fn buildah_usable() -> Result<()> {
    let info = buildah()
        .args(["info", "--format", "{{.store.GraphDriverName}}"])
        .output()
        .context("cannot start buildah")?;
    if !info.status.success() {
        bail!(
            "buildah cannot work here: {}",
            String::from_utf8_lossy(&info.stderr).trim()
        );
    }
    Ok(())
}

/// The package's version, as Cargo has it (`cargo pkgid` ends in `#VERSION` or
/// `#NAME@VERSION`).
fn package_version(package: &str) -> Result<String> {
    let pkgid = output(cargo().args(["pkgid", "--package", package]))
        .with_context(|| format!("cargo pkgid --package {package} failed"))?;
    version_of_pkgid(&pkgid).with_context(|| format!("no version in the package id {pkgid:?}"))
}

fn version_of_pkgid(pkgid: &str) -> Option<String> {
    let (_, fragment) = pkgid.trim().rsplit_once('#')?;
    let version = fragment.rsplit_once('@').map_or(fragment, |(_, v)| v);
    (!version.is_empty()).then(|| version.to_owned())
}

/// Fails unless the file is an ELF executable without a program interpreter: a
/// binary that needs the dynamic loader cannot start in an image FROM scratch.
fn ensure_static(binary: &Path) -> Result<()> {
    let bytes = fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    match interpreter(&bytes) {
        Ok(None) => Ok(()),
        Ok(Some(interp)) => bail!(
            "{} is dynamically linked (interpreter {interp}); the images need static binaries",
            binary.display()
        ),
        Err(why) => bail!("{}: {why}", binary.display()),
    }
}

/// The PT_INTERP path of a 64-bit little-endian ELF file, if it has one.
fn interpreter(elf: &[u8]) -> Result<Option<String>, &'static str> {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| -> Option<u16> {
        Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?))
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?))
    };
    let u64_at = |at: usize| -> Option<usize> {
        usize::try_from(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?)).ok()
    };
    if elf.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Err("not a 64-bit little-endian ELF file");
    }
    let short = "truncated ELF file";
    let phoff = u64_at(0x20).ok_or(short)?;
    let phentsize = usize::from(u16_at(0x36).ok_or(short)?);
    let phnum = usize::from(u16_at(0x38).ok_or(short)?);
    for index in 0..phnum {
        let header = phoff + index * phentsize;
        if u32_at(header).ok_or(short)? != PT_INTERP {
            continue;
        }
        let offset = u64_at(header + 8).ok_or(short)?;
        let size = u64_at(header + 32).ok_or(short)?;
        let path = elf.get(offset..offset + size).ok_or(short)?;
        let path = path.strip_suffix(b"\0").unwrap_or(path);
        return Ok(Some(String::from_utf8_lossy(path).into_owned()));
    }
    Ok(None)
}

/// Makes `target/images/NAME/` hold the binary and the image's empty directories.
fn stage(root: &Path, image: &Image, binary: &Path) -> Result<PathBuf> {
    let context = root.join("target/images").join(image.name);
    if context.exists() {
        fs::remove_dir_all(&context)
            .with_context(|| format!("cannot clear {}", context.display()))?;
    }
    fs::create_dir_all(&context).with_context(|| format!("cannot create {}", context.display()))?;
    fs::copy(binary, context.join(image.name)).with_context(|| {
        format!(
            "cannot copy {} into {}",
            binary.display(),
            context.display()
        )
    })?;
    for dir in image.empty_dirs {
        fs::create_dir(context.join(dir))
            .with_context(|| format!("cannot create {dir} in {}", context.display()))?;
    }
    Ok(context)
}

/// The full id of the image a tag names, if there is one.
fn image_id(tag: &str) -> Option<String> {
    let ids = output(buildah().args([
        "images",
        "--noheading",
        "--no-trunc",
        "--format",
        "{{.ID}}",
        tag,
    ]))?;
    // buildah prints the id once for each of the image's tags.
    ids.lines()
        .map(str::trim)
        .find(|id| !id.is_empty())
        .map(str::to_owned)
}

/// Removes the image a rebuild left without a tag. An image that still has a
/// tag (an older version's) or a container is kept.
fn remove_if_dangling(id: &str) {
    let dangling = output(buildah().args([
        "images",
        "--noheading",
        "--no-trunc",
        "--filter",
        "dangling=true",
        "--format",
        "{{.ID}}",
    ]))
    .unwrap_or_default();
    if dangling.lines().any(|line| line.trim() == id)
        && let Err(err) = run(buildah().args(["rmi", id]))
    {
        eprintln!("xtask: images: warning: cannot remove the previous image: {err:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versions_of_package_ids() {
        assert_eq!(
            version_of_pkgid("path+file:///work/sensor#0.1.0\n").as_deref(),
            Some("0.1.0")
        );
        assert_eq!(
            version_of_pkgid("path+file:///work/proto#sensor-proto@0.2.0").as_deref(),
            Some("0.2.0")
        );
        assert_eq!(version_of_pkgid("sensor"), None);
    }

    /// A minimal ELF header with one program header of the given type.
    fn elf(p_type: u32, interp: &[u8]) -> Vec<u8> {
        let mut file = vec![0u8; 0x40 + 0x38];
        file[..6].copy_from_slice(b"\x7fELF\x02\x01");
        file[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        file[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        file[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        file[0x40..0x44].copy_from_slice(&p_type.to_le_bytes());
        let offset = file.len() as u64;
        file[0x48..0x50].copy_from_slice(&offset.to_le_bytes());
        file[0x60..0x68].copy_from_slice(&(interp.len() as u64).to_le_bytes());
        file.extend_from_slice(interp);
        file
    }

    #[test]
    fn tells_static_from_dynamic_binaries() {
        assert_eq!(
            interpreter(&elf(3, b"/lib64/ld-linux-x86-64.so.2\0")),
            Ok(Some("/lib64/ld-linux-x86-64.so.2".into()))
        );
        // PT_LOAD only, as a static binary has.
        assert_eq!(interpreter(&elf(1, b"")), Ok(None));
        assert!(interpreter(b"#!/bin/sh\n").is_err());
        assert!(interpreter(&elf(3, b"/lib/ld.so")[..0x50]).is_err());
    }

    #[test]
    fn this_test_binary_is_dynamic() {
        // Built for the host's gnu target, which links glibc dynamically.
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(interpreter(&me).unwrap().is_some());
        }
    }
}
