//! Loading certificates, keys and CA files (each failure names its key), and the client's verification
//! of the server's name or address, over an in-memory stream.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A CA and a server certificate it signed for `names`, as PEM files in a fresh directory.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(label: &str, names: &[&str]) -> Pki {
        let dir = std::env::temp_dir().join(format!("sst-b2bua-unit-tls-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, format!("test CA {label}"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let server = CertificateParams::new(names).unwrap().signed_by(&key, &issuer).unwrap();
        let other_key = KeyPair::generate().unwrap();
        for (file, text) in [
            ("ca.pem", ca_cert.pem()),
            ("cert.pem", server.pem()),
            ("key.pem", key.serialize_pem()),
            ("other-key.pem", other_key.serialize_pem()),
            ("garbled.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n".to_owned()),
            ("empty.pem", String::new()),
        ] {
            std::fs::write(dir.join(file), text).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(yaml: &str) -> Config {
    crate::config::from_str(yaml, "test.yaml").expect("valid config")
}

fn tls_listener_yaml(cert: &Path, key: &Path) -> String {
    format!(
        "listen:\n  - {{ transport: udp, address: 127.0.0.1:5060 }}\n  - {{ transport: tls, address: 127.0.0.1:5061, \
         certificate: '{}', private_key: '{}' }}\n",
        cert.display(),
        key.display()
    )
}

#[test]
fn tls_material_loads_a_listener_and_the_ca_file() {
    let pki = Pki::new("loads", &["localhost"]);
    let mut yaml = tls_listener_yaml(&pki.path("cert.pem"), &pki.path("key.pem"));
    yaml.push_str(&format!("tls: {{ ca_file: '{}' }}\n", pki.path("ca.pem").display()));
    let material = TlsMaterial::load(&config(&yaml)).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(material.acceptors.iter().map(Option::is_some).collect::<Vec<_>>(), [false, true]);
    assert_eq!(material.roots.ca_file, 1);
}

#[test]
fn tls_material_errors_name_the_key_at_fault() {
    let pki = Pki::new("errors", &["localhost"]);
    let cases = [
        ("missing.pem", "key.pem", "listen[1].certificate", "cannot read"),
        ("garbled.pem", "key.pem", "listen[1].certificate", "not a valid PEM file"),
        ("empty.pem", "key.pem", "listen[1].certificate", "holds no PEM certificate"),
        ("key.pem", "key.pem", "listen[1].certificate", "holds no PEM certificate"),
        ("cert.pem", "missing.pem", "listen[1].private_key", "cannot read"),
        ("cert.pem", "cert.pem", "listen[1].private_key", "no usable PEM private key"),
        ("cert.pem", "other-key.pem", "listen[1].private_key", "does not go with the certificate"),
    ];
    for (cert, key, want_key, want_reason) in cases {
        let yaml = tls_listener_yaml(&pki.path(cert), &pki.path(key));
        let Err((key_path, reason)) = TlsMaterial::load(&config(&yaml)) else {
            panic!("{cert} + {key} loaded");
        };
        assert_eq!(key_path, want_key, "{cert} + {key}: {reason}");
        assert!(reason.contains(want_reason), "{cert} + {key}: {reason}");
    }
    for (ca, want_reason) in
        [("missing.pem", "cannot read"), ("garbled.pem", "not a valid PEM"), ("key.pem", "no PEM")]
    {
        let yaml = format!("tls: {{ ca_file: '{}' }}\n", pki.path(ca).display());
        let Err((key_path, reason)) = TlsMaterial::load(&config(&yaml)) else {
            panic!("ca_file {ca} loaded")
        };
        assert_eq!(key_path, "tls.ca_file");
        assert!(reason.contains(want_reason), "{ca}: {reason}");
    }
}

#[test]
fn tls_server_name_is_the_host_name_or_else_the_address() {
    let addr: SocketAddr = "192.0.2.7:5061".parse().unwrap();
    assert_eq!(server_name(Some("trunk.test."), addr).unwrap(), ServerName::try_from("trunk.test").unwrap());
    let by_ip = server_name(None, addr).unwrap();
    assert!(matches!(by_ip, ServerName::IpAddress(_)), "{by_ip:?}");
    assert!(server_name(Some("bad name"), addr).is_err());
}

/// A handshake over an in-memory pipe: the client (trusting `ca_file` or only the system) checks `name`;
/// on success one line goes each way. The client's error when it fails.
async fn handshake(pki: &Pki, ca_file: Option<&Path>, name: ServerName<'static>) -> Result<(), String> {
    let server = server_config(&pki.path("cert.pem"), &pki.path("key.pem")).unwrap();
    let (client, _) = client_config(ca_file).unwrap();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let serving = tokio::spawn(async move {
        let mut tls = TlsAcceptor::from(server).accept(b).await.ok()?;
        let mut line = [0u8; 5];
        tls.read_exact(&mut line).await.ok()?;
        tls.write_all(b"pong\n").await.ok()?;
        tls.flush().await.ok()?;
        Some(line)
    });
    let mut tls = TlsConnector::from(client).connect(name, a).await.map_err(|e| e.to_string())?;
    tls.write_all(b"ping\n").await.unwrap();
    let mut answer = [0u8; 5];
    tls.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"pong\n");
    assert_eq!(serving.await.unwrap(), Some(*b"ping\n"));
    Ok(())
}

#[tokio::test]
async fn tls_client_verifies_the_name_against_the_ca_file() {
    let pki = Pki::new("verify", &["trunk.test", "127.0.0.1"]);
    let ca = pki.path("ca.pem");
    let name = |n: &str| ServerName::try_from(n.to_owned()).unwrap();
    handshake(&pki, Some(&ca), name("trunk.test")).await.expect("trunk.test, CA trusted");
    let ip: SocketAddr = "127.0.0.1:5061".parse().unwrap();
    handshake(&pki, Some(&ca), server_name(None, ip).unwrap()).await.expect("IP SAN, CA trusted");
    let wrong =
        handshake(&pki, Some(&ca), name("other.test")).await.expect_err("name not in the certificate");
    assert!(wrong.contains("not valid for name \"other.test\""), "{wrong}");
    let untrusted = handshake(&pki, None, name("trunk.test")).await.expect_err("CA not trusted");
    assert!(untrusted.contains("UnknownIssuer"), "{untrusted}");
}
