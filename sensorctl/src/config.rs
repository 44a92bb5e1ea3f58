//! Where the collector is and which TLS files reach it: flags win over the
//! environment (clap's `env`), which wins over the config file
//! (`--config`, `SENSORCTL_CONFIG`, else `~/.config/sensorctl/config.yaml`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use sensor_proto::client::TlsFiles;
use serde::Deserialize;

/// The connection options every command takes.
#[derive(Clone, Debug, Args)]
pub struct ConnArgs {
    /// The collector, `https://HOST:PORT`.
    #[arg(long, global = true, value_name = "URL", env = "SENSORCTL_COLLECTOR")]
    pub collector: Option<String>,
    /// The analyst's client certificate (PEM).
    #[arg(long, global = true, value_name = "FILE", env = "SENSORCTL_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, value_name = "FILE", env = "SENSORCTL_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The CA that signed the collector's certificate (PEM).
    #[arg(long, global = true, value_name = "FILE", env = "SENSORCTL_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// A YAML file with `collector`, `tls_cert`, `tls_key`, `tls_ca`.
    #[arg(long, global = true, value_name = "FILE", env = "SENSORCTL_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The config file's contents; relative paths are relative to the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    collector: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
}

/// The resolved connection.
#[derive(Clone, Debug)]
pub struct Conn {
    /// The collector's URL.
    pub url: String,
    /// The TLS files.
    pub tls: TlsFiles,
}

fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join(".config/sensorctl/config.yaml"))
}

fn load(path: &Path) -> anyhow::Result<File> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let file: File =
        serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rel = |p: Option<PathBuf>| p.map(|p| base.join(p));
    Ok(File {
        collector: file.collector,
        tls_cert: rel(file.tls_cert),
        tls_key: rel(file.tls_key),
        tls_ca: rel(file.tls_ca),
    })
}

impl ConnArgs {
    /// Flags, then the environment, then the config file.
    pub fn resolve(&self) -> anyhow::Result<Conn> {
        let file = match &self.config {
            Some(path) => load(path)?,
            None => match default_path().filter(|p| p.exists()) {
                Some(path) => load(&path)?,
                None => File::default(),
            },
        };
        let url = self
            .collector
            .clone()
            .or(file.collector)
            .context("no collector: give --collector https://HOST:PORT (or SENSORCTL_COLLECTOR, or `collector:` in the config file)")?;
        Ok(Conn {
            url,
            tls: TlsFiles {
                cert: self.tls_cert.clone().or(file.tls_cert),
                key: self.tls_key.clone().or(file.tls_key),
                ca: self.tls_ca.clone().or(file.tls_ca),
            },
        })
    }
}
