//! TLS for SIP (RFC 3261 §26.2, RFC 5922 §4 server identity, RFC 5630 spirit) with rustls and the ring
//! provider: the server configurations of `tls` listeners and the one client configuration, loaded once
//! at start from the files the configuration names, and the client handshake. The connections themselves
//! run through the stream machinery of `tcp.rs`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{Config, Transport};

/// A problem with a configured file: the key path (`listen[0].certificate`) and the reason.
pub type FileError = (String, String);

/// Everything TLS needs, read from the configured files once at start.
#[derive(Clone)]
pub struct TlsMaterial {
    /// One acceptor per `listen` entry, in the same order (`None` for udp and tcp listeners).
    pub acceptors: Vec<Option<TlsAcceptor>>,
    /// Outbound connections: the system's roots plus `tls.ca_file`.
    pub connector: TlsConnector,
    pub roots: RootsLoaded,
}

/// Where the outbound trust anchors came from, for the start-up log line.
#[derive(Debug, Clone, Default)]
pub struct RootsLoaded {
    pub system: usize,
    /// Problems reading the system's store (not fatal: `ca_file` may be all that is needed).
    pub system_errors: Vec<String>,
    pub ca_file: usize,
}

impl TlsMaterial {
    /// Reads every certificate, key and CA file the configuration names. Errors name the key.
    pub fn load(config: &Config) -> Result<TlsMaterial, FileError> {
        let mut acceptors = Vec::with_capacity(config.listen.len());
        for (i, listen) in config.listen.iter().enumerate() {
            let acceptor = match (listen.transport, &listen.certificate, &listen.private_key) {
                (Transport::Tls, Some(cert), Some(key)) => {
                    let server =
                        server_config(cert, key).map_err(|(k, why)| (format!("listen[{i}].{k}"), why))?;
                    Some(TlsAcceptor::from(server))
                }
                (Transport::Tls, _, _) => {
                    return Err((format!("listen[{i}].certificate"), "is required for a tls listener".into()))
                }
                _ => None,
            };
            acceptors.push(acceptor);
        }
        let (client, roots) =
            client_config(config.tls.ca_file.as_deref()).map_err(|why| ("tls.ca_file".to_owned(), why))?;
        Ok(TlsMaterial { acceptors, connector: TlsConnector::from(client), roots })
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// Every certificate in a PEM file; an error when there is none or one is garbled.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{}` is not a valid PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
    }
    Ok(certs)
}

/// The server side of a `tls` listener: the chain (leaf first) and its private key (PKCS#8, PKCS#1 or
/// SEC1). Errors say which of the two keys (`certificate`, `private_key`) is at fault.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, (&'static str, String)> {
    let chain = read_certificates(cert).map_err(|why| ("certificate", why))?;
    let pem = read(key).map_err(|why| ("private_key", why))?;
    let key_der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| ("private_key", format!("`{}` holds no usable PEM private key: {e}", key.display())))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ("certificate", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            (
                "private_key",
                format!("`{}` does not go with the certificate `{}`: {e}", key.display(), cert.display()),
            )
        })?;
    Ok(Arc::new(config))
}

/// The client side: the operating system's trust store (rustls-native-certs) plus `ca_file`. A broken or
/// missing system store is not fatal (it is reported in `RootsLoaded`); a bad `ca_file` is.
pub fn client_config(ca_file: Option<&Path>) -> Result<(Arc<ClientConfig>, RootsLoaded), String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (system, _) = roots.add_parsable_certificates(native.certs);
    let mut loaded = RootsLoaded {
        system,
        system_errors: native.errors.iter().map(|e| e.to_string()).collect(),
        ca_file: 0,
    };
    if let Some(path) = ca_file {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| {
                format!("`{}` holds a certificate that is not a usable CA: {e}", path.display())
            })?;
            loaded.ca_file += 1;
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(config), loaded))
}

/// The name a server's certificate must match: the URI's host name (sent as SNI), or the address when
/// there is none (an IP-literal target: no SNI, the certificate must list the IP).
pub fn server_name(name: Option<&str>, addr: SocketAddr) -> Result<ServerName<'static>, String> {
    match name {
        Some(name) => ServerName::try_from(name.trim_end_matches('.').to_owned())
            .map_err(|_| format!("`{name}` is not a valid TLS server name")),
        None => Ok(ServerName::IpAddress(addr.ip().into())),
    }
}

/// The client handshake over a connected TCP stream; the error says what failed (an unknown issuer, a
/// name mismatch, an alert from the server…).
pub async fn connect(
    connector: &TlsConnector,
    stream: TcpStream,
    name: ServerName<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    connector.connect(name, stream).await
}

#[cfg(test)]
mod tests;
