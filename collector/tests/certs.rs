//! `collector::certs`: development certificates, a CA reused when it exists,
//! private keys readable by their owner only, names that stay file names.

use std::os::unix::fs::PermissionsExt as _;

use collector::certs::{CertError, client_files, write_dev_certs};

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn a_second_run_reuses_the_ca_and_adds_a_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = write_dev_certs(dir.path(), &[], &names(&["node-a"])).expect("writes");
    assert!(first.ca_created);
    let ca = std::fs::read(&first.ca).expect("ca");
    let second = write_dev_certs(dir.path(), &[], &names(&["node-b"])).expect("writes");
    assert!(!second.ca_created);
    assert_eq!(std::fs::read(&second.ca).expect("ca"), ca, "the same CA");
    for name in ["node-a", "node-b"] {
        let (cert, key) = client_files(dir.path(), name);
        assert!(cert.exists(), "{}", cert.display());
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
        // The certificate names the node, as the collector reads it.
        let pem = std::fs::read(&cert).expect("cert");
        let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("PEM");
        assert_eq!(
            collector::server::node_name_of_cert(&pem.contents).as_deref(),
            Some(name)
        );
    }
    for key in ["ca-key.pem", "server-key.pem"] {
        let mode = std::fs::metadata(dir.path().join(key))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
}

#[test]
fn names_that_are_not_file_names_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in [
        "",
        "../etc/x",
        "a/b",
        ".hidden",
        "ca",
        "server-key",
        "x-key",
    ] {
        let e = write_dev_certs(dir.path(), &[], &names(&[bad])).expect_err(bad);
        assert!(matches!(e, CertError::BadName { .. }), "{bad}: {e}");
    }
}

#[test]
fn half_a_ca_is_not_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), "not mine to replace").expect("writes");
    let e = write_dev_certs(dir.path(), &[], &[]).expect_err("refused");
    assert!(matches!(e, CertError::HalfCa { .. }), "{e}");
}
