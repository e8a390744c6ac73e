//! The test's own TLS peers for the TLS tests (`tls.rs`, `tls_kamailio.rs`): a CA and a server
//! certificate made by rcgen per test (PEM files for the daemon and Kamailio, DER for rustls), a small tokio
//! runtime, whole SIP messages over any stream, and a TLS UAS that records what it saw (connections, SNI,
//! handshake failures, which connection each request came on).
#![allow(dead_code)] // a harness: each test module uses only part of it

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::daemon::{framed_len, TestDir, LOOPBACK, POLL};

/// How long any single TLS read in these tests waits.
pub const WAIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------------

/// A test CA, a server certificate it signed for `localhost`, `trunk.test` and 127.0.0.1, and a second CA
/// that signed nothing we use; PEM files in a temp dir, DER values for the test's own TLS peers.
pub struct Pki {
    dir: TestDir,
    ca_der: CertificateDer<'static>,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = TestDir::new("tls-pki");
        let (ca_params, ca_key, ca_cert) = ca("sst-b2bua test CA");
        let (_, _, other_ca) = ca("some other CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let names = vec!["localhost".to_owned(), "trunk.test".to_owned(), "127.0.0.1".to_owned()];
        let mut params = CertificateParams::new(names).expect("server names");
        params.distinguished_name.push(DnType::CommonName, "trunk.test");
        let cert = params.signed_by(&key, &issuer).expect("sign the server certificate");
        for (file, pem) in [
            ("ca.pem", ca_cert.pem()),
            ("other-ca.pem", other_ca.pem()),
            ("cert.pem", cert.pem()),
            ("key.pem", key.serialize_pem()),
        ] {
            std::fs::write(dir.join(file), pem).expect("write a PEM file");
        }
        Pki { ca_der: ca_cert.der().clone(), cert_der: cert.der().clone(), key_der: key.serialize_der(), dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A rustls server presenting the test certificate.
    pub fn server(&self) -> TlsAcceptor {
        let key = PrivateKeyDer::try_from(self.key_der.clone()).expect("PKCS#8 key");
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .expect("server config");
        TlsAcceptor::from(Arc::new(config))
    }

    /// A rustls client that trusts the test CA only.
    pub fn client(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("the test CA");
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair, rcgen::Certificate) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("self-sign the CA");
    (params, key, cert)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A small runtime for the test's TLS peers while the test thread drives the daemon and SIPp.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------------
// SIP over any stream
// ---------------------------------------------------------------------------------------------------

/// Whole SIP messages over a stream (framed by Content-Length, keep-alive CRLFs skipped).
pub struct SipStream<S> {
    stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SipStream<S> {
    pub fn new(stream: S) -> Self {
        SipStream { stream, buf: Vec::new() }
    }

    pub async fn send(&mut self, msg: &[u8]) {
        self.stream.write_all(msg).await.expect("TLS write");
        self.stream.flush().await.expect("TLS flush");
    }

    /// The next whole message within `timeout`; `None` on timeout or when the stream ends.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
            }
            if let Some(len) = framed_len(&self.buf) {
                return Some(self.buf.drain(..len).collect());
            }
            let mut chunk = [0u8; 16_384];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Raw bytes until `want` of them arrived or `timeout` (for the CRLF keep-alive).
    pub async fn recv_raw(&mut self, want: usize, timeout: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.buf.len() < want {
            let mut chunk = [0u8; 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Ends the stream: close_notify, then the TCP close.
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// How the far end ended the stream within `timeout`: `Ok(())` for a clean TLS close (close_notify),
    /// `Err(why)` for anything else.
    pub async fn closed(&mut self, timeout: Duration) -> Result<(), String> {
        let mut chunk = [0u8; 1024];
        loop {
            match tokio::time::timeout(timeout, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(format!("read error instead of close_notify: {e}")),
                Err(_) => return Err(format!("still open after {timeout:?}")),
            }
        }
    }
}

pub fn text(msg: &[u8]) -> String {
    String::from_utf8_lossy(msg).into_owned()
}

/// A response to `request`: its Via, From, Call-ID and CSeq lines, its To with `to_tag` added when it
/// has none, then `extra` header lines and `body`.
pub fn response(request: &str, status: &str, to_tag: &str, extra: &str, body: &str) -> String {
    let head = request.split("\r\n\r\n").next().unwrap_or("");
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in head.split("\r\n").skip(1) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" | "t" if line.contains(";tag=") => out.push_str(&format!("{line}\r\n")),
            "to" | "t" => out.push_str(&format!("{line};tag={to_tag}\r\n")),
            _ => {}
        }
    }
    out.push_str(extra);
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// The callee's SDP that sipp/call_uac.xml checks for.
pub const CALLEE_SDP: &str =
    "v=0\r\no=tls-uas 2002 1 IN IP4 127.0.0.1\r\ns=callee answer\r\nc=IN IP4 127.0.0.1\r\n\
                          t=0 0\r\nm=audio 17000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

// ---------------------------------------------------------------------------------------------------
// A TLS UAS in the test
// ---------------------------------------------------------------------------------------------------

/// What the TLS UAS saw.
#[derive(Debug, Default, Clone)]
pub struct UasLog {
    /// TCP connections accepted.
    pub accepted: usize,
    /// The SNI of each completed handshake (`None`: the client sent none).
    pub sni: Vec<Option<String>>,
    /// Handshakes that failed, with rustls's reason.
    pub handshake_errors: Vec<String>,
    /// (connection number, method) of every request, in arrival order.
    pub requests: Vec<(usize, String)>,
    /// The first INVITE, whole.
    pub invite: Option<String>,
}

/// A TLS UAS on 127.0.0.1 (and [::1] on the same port when it can bind there, for a `localhost` that
/// resolves to ::1) presenting the test certificate: 180 and 200 with `CALLEE_SDP` to an INVITE, 200 to a
/// BYE and anything else but ACK. With `close_after_ack`, it closes the connection an ACK came on.
pub struct TlsUas {
    pub port: u16,
    pub log: Arc<Mutex<UasLog>>,
}

impl TlsUas {
    pub fn start(runtime: &tokio::runtime::Runtime, acceptor: TlsAcceptor, close_after_ack: bool) -> TlsUas {
        let log = Arc::new(Mutex::new(UasLog::default()));
        let v4 = runtime.block_on(TcpListener::bind((LOOPBACK, 0))).expect("bind the TLS UAS");
        let port = v4.local_addr().expect("local address").port();
        let v6 = runtime.block_on(TcpListener::bind((Ipv6Addr::LOCALHOST, port))).ok();
        for listener in std::iter::once(v4).chain(v6) {
            runtime.spawn(accept_loop(listener, acceptor.clone(), Arc::clone(&log), close_after_ack));
        }
        TlsUas { port, log }
    }

    pub fn log(&self) -> UasLog {
        self.log.lock().expect("uas log").clone()
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    log: Arc<Mutex<UasLog>>,
    close_after_ack: bool,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let conn = {
            let mut log = log.lock().expect("uas log");
            log.accepted += 1;
            log.accepted - 1
        };
        let acceptor = acceptor.clone();
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(WAIT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return log.lock().expect("uas log").handshake_errors.push(e.to_string()),
                Err(_) => return log.lock().expect("uas log").handshake_errors.push("timed out".into()),
            };
            let sni = tls.get_ref().1.server_name().map(str::to_owned);
            log.lock().expect("uas log").sni.push(sni);
            serve_uas(SipStream::new(tls), conn, log, close_after_ack).await;
        });
    }
}

async fn serve_uas<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: SipStream<S>,
    conn: usize,
    log: Arc<Mutex<UasLog>>,
    close_after_ack: bool,
) {
    let contact = "Contact: <sip:uas@127.0.0.1;transport=tls>\r\n";
    while let Some(msg) = stream.recv(Duration::from_secs(60)).await {
        let request = text(&msg);
        if request.starts_with("SIP/2.0 ") {
            continue;
        }
        let method = request.split(' ').next().unwrap_or("").to_owned();
        {
            let mut log = log.lock().expect("uas log");
            log.requests.push((conn, method.clone()));
            if method == "INVITE" && log.invite.is_none() {
                log.invite = Some(request.clone());
            }
        }
        match method.as_str() {
            "ACK" if close_after_ack => return stream.close().await,
            "ACK" => {}
            "INVITE" => {
                stream.send(response(&request, "180 Ringing", "uas1", contact, "").as_bytes()).await;
                let sdp = format!("{contact}Content-Type: application/sdp\r\n");
                stream.send(response(&request, "200 OK", "uas1", &sdp, CALLEE_SDP).as_bytes()).await;
            }
            _ => stream.send(response(&request, "200 OK", "uas1", "", "").as_bytes()).await,
        }
    }
}

/// Polls `done` on the UAS log until it holds or `timeout`; the last log either way.
pub fn wait_for_uas(uas: &TlsUas, timeout: Duration, done: impl Fn(&UasLog) -> bool) -> UasLog {
    let deadline = Instant::now() + timeout;
    loop {
        let log = uas.log();
        if done(&log) || Instant::now() >= deadline {
            return log;
        }
        std::thread::sleep(POLL);
    }
}
