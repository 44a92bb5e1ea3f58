//! Development certificates: a CA, a server certificate and one client
//! certificate per node or analyst, what `collector dev-certs`, `cargo xtask
//! run` and the tests use. A CA already in the directory is reused, so a node
//! added later chains to the CA the collector already trusts. Not for
//! production: there the cluster's own PKI (cert-manager, the kubelet's
//! certificates) issues them.

use std::{
    fs,
    io::Write as _,
    net::IpAddr,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// rcgen refused.
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A name that cannot be a file name or a certificate name.
    #[error("bad name `{name}`: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Only one of `ca.pem` and `ca-key.pem` exists.
    #[error("{} holds half a CA (ca.pem or ca-key.pem is missing); refusing to replace it", dir.display())]
    HalfCa {
        /// The directory.
        dir: PathBuf,
    },
}

/// The names `dev-certs` uses for the server when none are given.
pub const DEFAULT_SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevCerts {
    /// The CA's certificate (what the collector's `--client-ca` and the
    /// clients' trust root are).
    pub ca: PathBuf,
    /// Whether the CA was made now (false: an existing one was reused).
    pub ca_created: bool,
    /// The server's certificate and key.
    pub server: (PathBuf, PathBuf),
    /// Each client's name, certificate and key.
    pub clients: Vec<(String, PathBuf, PathBuf)>,
}

/// The certificate and key file of a client name in `dir`.
pub fn client_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    )
}

/// Writes (or reuses) a CA in `dir`, a server certificate for `server_names`
/// (DNS names or IP addresses; [`DEFAULT_SERVER_NAMES`] when empty) and a
/// client certificate for each of `clients`, with the name as CN and, where it
/// is a DNS name, as DNS SAN. Keys are written with mode 0600.
pub fn write_dev_certs(
    dir: &Path,
    server_names: &[String],
    clients: &[String],
) -> Result<DevCerts, CertError> {
    for name in clients {
        check_name(name)?;
    }
    fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
    let (ca_pem, ca_key_pem) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (issuer, ca_created) = match (ca_pem.exists(), ca_key_pem.exists()) {
        (true, true) => {
            let key = KeyPair::from_pem(&read(&ca_key_pem)?)?;
            (Issuer::from_ca_cert_pem(&read(&ca_pem)?, key)?, false)
        }
        (false, false) => {
            let (cert, key, issuer) = new_ca()?;
            write(&ca_key_pem, &key, true)?;
            write(&ca_pem, &cert, false)?;
            (issuer, true)
        }
        _ => {
            return Err(CertError::HalfCa {
                dir: dir.to_owned(),
            });
        }
    };

    let names: Vec<String> = if server_names.is_empty() {
        DEFAULT_SERVER_NAMES
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    } else {
        server_names.to_vec()
    };
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name = cn(params
        .subject_alt_names
        .first()
        .map_or("collector".to_owned(), san_text));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let server = (dir.join("server.pem"), dir.join("server-key.pem"));
    sign(&params, &issuer, &server)?;

    let mut written = Vec::new();
    for name in clients {
        let mut params = CertificateParams::default();
        params.distinguished_name = cn(name.clone());
        if is_dns_name(name) {
            params.subject_alt_names = vec![SanType::DnsName(name.clone().try_into()?)];
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let files = client_files(dir, name);
        sign(&params, &issuer, &files)?;
        written.push((name.clone(), files.0, files.1));
    }
    Ok(DevCerts {
        ca: ca_pem,
        ca_created,
        server,
        clients: written,
    })
}

fn new_ca() -> Result<(String, String, Issuer<'static, KeyPair>), CertError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = cn("sensor development CA".to_owned());
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let key_pem = key.serialize_pem();
    Ok((cert.pem(), key_pem, Issuer::new(params, key)))
}

fn sign(
    params: &CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
    (cert_path, key_path): &(PathBuf, PathBuf),
) -> Result<(), CertError> {
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    write(key_path, &key.serialize_pem(), true)?;
    write(cert_path, &cert.pem(), false)
}

fn cn(name: String) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn san_text(san: &SanType) -> String {
    match san {
        SanType::DnsName(d) => d.as_str().to_owned(),
        SanType::IpAddress(ip) => ip.to_string(),
        _ => "collector".to_owned(),
    }
}

fn is_dns_name(name: &str) -> bool {
    name.parse::<IpAddr>().is_err()
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn check_name(name: &str) -> Result<(), CertError> {
    let bad = |reason| CertError::BadName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > 253 {
        return Err(bad("empty or longer than 253 bytes"));
    }
    if name.starts_with('.') || name.contains(['/', '\0']) {
        return Err(bad("it must be a plain file name"));
    }
    // These files belong to the CA and the server.
    if matches!(name, "ca" | "ca-key" | "server" | "server-key") || name.ends_with("-key") {
        return Err(bad("it would overwrite the CA's or the server's files"));
    }
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> CertError {
    CertError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read(path: &Path) -> Result<String, CertError> {
    fs::read_to_string(path).map_err(|source| io(path, source))
}

/// Writes through a temporary file and a rename, so a reader never sees half a
/// file; keys get mode 0600 from the start, never readable by others.
fn write(path: &Path, text: &str, secret: bool) -> Result<(), CertError> {
    let tmp = path.with_extension("pem.tmp");
    let mode = if secret { 0o600 } else { 0o644 };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|source| io(&tmp, source))?;
    // `mode` applies only when the file is created: a stale one gets it too.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(text.as_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|source| io(&tmp, source))?;
    fs::rename(&tmp, path).map_err(|source| io(path, source))
}
