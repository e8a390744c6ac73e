//! The real daemon under test: writes a config on free loopback ports into a temp dir, spawns the built
//! binary, waits until it answers an OPTIONS (a bounded poll), and stops it by PID on Drop (SIGTERM, a
//! bounded wait, then SIGKILL). Raw UDP/TCP peers feed bytes through the daemon's real socket paths.
//! Also the process and port helpers `sipp.rs` shares.
#![allow(dead_code)] // a harness: each test module uses only part of it

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The binary cargo built for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_sst-b2bua");
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// How long the daemon may take to answer its first OPTIONS.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `send_udp` / `send_tcp` wait for an answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// Interval of every bounded poll in the harness.
pub const POLL: Duration = Duration::from_millis(20);

/// Top-level blocks written when `yaml_extra` does not set them; `listen` is always the harness's.
pub const DEFAULT_BLOCKS: [(&str, &str); 2] = [
    (
        "session_timer",
        "session_timer: { enabled: true, default_expires: 1800, min_se: 90, prefer_refresher: uac, use_update: false }",
    ),
    ("routes", "routes: []"),
];

// ---------------------------------------------------------------------------------------------------
// Ports, temp dirs, processes
// ---------------------------------------------------------------------------------------------------

/// A loopback port free for both UDP and TCP right now, never handed out twice in this test process.
pub fn free_port() -> u16 {
    static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..200 {
        let udp = UdpSocket::bind((LOOPBACK, 0)).expect("bind a UDP socket on 127.0.0.1:0");
        let port = udp.local_addr().expect("local address").port();
        if TcpListener::bind((LOOPBACK, port)).is_ok() && TAKEN.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no loopback port free for both UDP and TCP after 200 tries");
}

/// A unique directory under the system temp dir; removed on drop unless the test is panicking, so the
/// files of a failed test stay for a look (the path is printed).
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new(label: &str) -> TestDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("sst-b2bua-it-{}-{n}-{label}", std::process::id()));
        let _ = fs::remove_dir_all(&path); // left over from an earlier process with the same PID
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TestDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The file's text, or an empty string when it does not exist.
pub fn read_lossy(path: &Path) -> String {
    fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// The last `max` bytes of `text` (cut at a char boundary), for failure messages.
pub fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Waits for the child to exit, polling; `None` when it is still running at the deadline.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => panic!("wait for pid {}: {e}", child.id()),
        }
    }
}

/// Stops a child by its PID: SIGTERM, up to `grace` to exit, then SIGKILL. Returns how it ended.
pub fn terminate(child: &mut Child, grace: Duration) -> ExitStatus {
    if let Ok(Some(status)) = child.try_wait() {
        return status;
    }
    // The child is not reaped yet, so its PID cannot have been reused.
    let signalled = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if signalled {
        if let Some(status) = wait_timeout(child, grace) {
            return status;
        }
    }
    let _ = child.kill();
    child.wait().expect("wait for a killed child")
}

// ---------------------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------------------

/// The config the harness writes: `listen` on `port` (UDP and TCP, loopback), then `yaml_extra`
/// (dedented), then each of `DEFAULT_BLOCKS` whose key `yaml_extra` does not set at top level.
pub fn config_yaml(port: u16, yaml_extra: &str) -> String {
    config_yaml_listening(port, &[], yaml_extra)
}

/// `config_yaml` with more `listen` entries after UDP and TCP on `port` (flow maps such as
/// `{ transport: tls, address: 127.0.0.1:5061, certificate: …, private_key: … }`).
pub fn config_yaml_listening(port: u16, more_listen: &[String], yaml_extra: &str) -> String {
    let extra = dedent(yaml_extra);
    let keys: Vec<&str> = extra
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim()))
        .collect();
    assert!(!keys.contains(&"listen"), "the harness owns `listen`; use daemon.port() instead");
    let mut yaml = format!(
        "# written by tests/it/daemon.rs\nlisten:\n  - {{ transport: udp, address: {LOOPBACK}:{port} }}\n  \
         - {{ transport: tcp, address: {LOOPBACK}:{port} }}\n"
    );
    for listen in more_listen {
        yaml.push_str(&format!("  - {listen}\n"));
    }
    yaml.push_str(&extra);
    for (key, block) in DEFAULT_BLOCKS {
        if !keys.contains(&key) {
            yaml.push_str(block);
            yaml.push('\n');
        }
    }
    yaml
}

fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

/// How to start a daemon; `Daemon::start(extra)` is `Daemon::builder().yaml(extra).start()`.
pub struct DaemonBuilder {
    yaml_extra: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    ready_timeout: Duration,
    tls: Option<(PathBuf, PathBuf)>,
}

impl DaemonBuilder {
    /// Also listen for TLS on 127.0.0.1:`Daemon::tls_port()` with this certificate chain and key (PEM).
    pub fn tls_listener(mut self, certificate: &Path, private_key: &Path) -> Self {
        self.tls = Some((certificate.to_owned(), private_key.to_owned()));
        self
    }

    /// Config blocks besides `listen`, e.g. `routes:` pointing at a SIPp UAS on `free_port()`.
    pub fn yaml(mut self, yaml_extra: &str) -> Self {
        yaml_extra.clone_into(&mut self.yaml_extra);
        self
    }

    /// An extra command-line argument after `--config FILE`, e.g. `-v` or `--log-format json`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// An environment variable for the daemon, e.g. `RUST_LOG=debug`.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Writes the config, spawns the binary and returns once it answers OPTIONS over UDP and accepts
    /// TCP connections. Panics (with the daemon's log) when it exits or stays silent.
    pub fn start(self) -> Daemon {
        let dir = TestDir::new("daemon");
        let port = free_port();
        let config_path = dir.join("sst-b2bua.yaml");
        let tls_port = self.tls.as_ref().map(|_| free_port());
        let more_listen: Vec<String> = (self.tls.iter().zip(tls_port))
            .map(|((cert, key), tls_port)| {
                format!(
                    "{{ transport: tls, address: {LOOPBACK}:{tls_port}, certificate: '{}', private_key: '{}' }}",
                    cert.display(),
                    key.display()
                )
            })
            .collect();
        let yaml = config_yaml_listening(port, &more_listen, &self.yaml_extra);
        fs::write(&config_path, yaml).expect("write the daemon config");
        let log_path = dir.join("daemon.log");
        let log = File::create(&log_path).expect("create the daemon log");
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&config_path)
            .args(&self.args)
            .env("NO_COLOR", "1") // plain text in daemon.log; `.env("NO_COLOR", "")` brings colours back
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
        let mut daemon = Daemon { child: Some(child), port, tls_port, config_path, log_path, dir };
        daemon.wait_ready(self.ready_timeout);
        daemon
    }
}

/// A running `sst-b2bua` on 127.0.0.1:`port()` (UDP and TCP); stopped when dropped.
pub struct Daemon {
    child: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    config_path: PathBuf,
    log_path: PathBuf,
    dir: TestDir, // last: removed after the child is gone
}

impl Daemon {
    /// Starts the daemon with `yaml_extra` laid over the defaults (see `config_yaml`); `""` for defaults.
    pub fn start(yaml_extra: &str) -> Daemon {
        Daemon::builder().yaml(yaml_extra).start()
    }

    pub fn builder() -> DaemonBuilder {
        DaemonBuilder {
            yaml_extra: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            ready_timeout: READY_TIMEOUT,
            tls: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.port))
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.port))
    }

    /// Where the TLS listener of `DaemonBuilder::tls_listener` is.
    pub fn tls_addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.tls_port.expect("started with DaemonBuilder::tls_listener")))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the daemon wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        read_lossy(&self.log_path)
    }

    /// The config and the log tail, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "--- daemon config {} ---\n{}--- daemon log {} (tail) ---\n{}",
            self.config_path.display(),
            read_lossy(&self.config_path),
            self.log_path.display(),
            tail(&self.log(), 8000)
        )
    }

    /// Sends one datagram from a fresh socket; the first datagram back within `REPLY_TIMEOUT`.
    /// Every `{local}` in `msg` becomes the socket's address (write `Via: SIP/2.0/UDP {local};...`).
    pub fn send_udp(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let peer = self.udp_peer();
        peer.send(&fill_local(msg, peer.local_addr()));
        peer.recv(REPLY_TIMEOUT)
    }

    /// Sends bytes on a fresh TCP connection; the first whole SIP message back within `REPLY_TIMEOUT`
    /// (or whatever arrived before the daemon closed the connection). `{local}` as in `send_udp`.
    pub fn send_tcp(&self, msg: &[u8]) -> Option<Vec<u8>> {
        let mut peer = self.tcp_peer();
        let msg = fill_local(msg, peer.local_addr());
        peer.send(&msg);
        peer.recv(REPLY_TIMEOUT)
    }

    pub fn udp_peer(&self) -> UdpPeer {
        UdpPeer::new(self.udp_addr())
    }

    pub fn tcp_peer(&self) -> TcpPeer {
        TcpPeer::connect(self.tcp_addr())
    }

    /// `Some(status)` once the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().expect("try_wait on the daemon"))
    }

    /// SIGTERM, then a bounded wait (SIGKILL after `STOP_TIMEOUT`); how it exited.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        terminate(&mut child, STOP_TIMEOUT)
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let peer = self.udp_peer();
        loop {
            if let Some(status) = self.try_wait() {
                panic!("sst-b2bua exited with {status} before it was ready\n{}", self.report());
            }
            if Instant::now() >= deadline {
                panic!(
                    "sst-b2bua did not answer OPTIONS on {} within {timeout:?}\n{}",
                    self.udp_addr(),
                    self.report()
                );
            }
            peer.send(options_request("UDP", peer.local_addr(), self.udp_addr()).as_bytes());
            if peer.recv(Duration::from_millis(100)).is_some_and(|r| r.starts_with(b"SIP/2.0 ")) {
                break;
            }
        }
        while TcpStream::connect_timeout(&self.tcp_addr(), Duration::from_millis(100)).is_err() {
            if Instant::now() >= deadline {
                panic!(
                    "sst-b2bua accepts no TCP on {} within {timeout:?}\n{}",
                    self.tcp_addr(),
                    self.report()
                );
            }
            std::thread::sleep(POLL);
        }
        if let Some(tls_port) = self.tls_port {
            let tls = SocketAddr::from((LOOPBACK, tls_port));
            while TcpStream::connect_timeout(&tls, Duration::from_millis(100)).is_err() {
                if Instant::now() >= deadline {
                    panic!("sst-b2bua accepts no TLS on {tls} within {timeout:?}\n{}", self.report());
                }
                std::thread::sleep(POLL);
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            terminate(child, STOP_TIMEOUT);
        }
        if std::thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Raw peers and message helpers
// ---------------------------------------------------------------------------------------------------

/// A UDP socket on 127.0.0.1:ephemeral that talks to one remote address.
pub struct UdpPeer {
    socket: UdpSocket,
    remote: SocketAddr,
}

impl UdpPeer {
    pub fn new(remote: SocketAddr) -> UdpPeer {
        let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind a UDP socket on 127.0.0.1:0");
        UdpPeer { socket, remote }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local address")
    }

    pub fn send(&self, msg: &[u8]) {
        self.socket.send_to(msg, self.remote).expect("send a UDP datagram");
    }

    /// The next datagram from the remote within `timeout` (datagrams from elsewhere are skipped).
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
            self.socket.set_read_timeout(Some(left)).expect("set a read timeout");
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) if from == self.remote => return Some(buf[..n].to_vec()),
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
                Err(_) => std::thread::sleep(POLL.min(left)), // e.g. ICMP unreachable: keep polling
            }
        }
    }
}

/// A TCP connection from 127.0.0.1 that reads whole SIP messages (framed by Content-Length).
pub struct TcpPeer {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

impl TcpPeer {
    pub fn connect(remote: SocketAddr) -> TcpPeer {
        let stream = TcpStream::connect_timeout(&remote, REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("TCP connect to {remote}: {e}"));
        TcpPeer { stream, buf: Vec::new(), closed: false }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    /// Writes the bytes; a write error (the daemon closed the connection) is not a panic.
    pub fn send(&mut self, msg: &[u8]) {
        if self.stream.write_all(msg).is_err() {
            self.closed = true;
        }
    }

    /// The next whole SIP message within `timeout`; on EOF, the partial bytes if any, else `None`.
    pub fn recv(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            while self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2); // keep-alive CRLFs between messages
            }
            if let Some(len) = framed_len(&self.buf) {
                return Some(self.buf.drain(..len).collect());
            }
            if self.closed {
                return (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf));
            }
            let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
            self.stream.set_read_timeout(Some(left)).expect("set a read timeout");
            let mut chunk = [0u8; 16_384];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
                Err(_) => self.closed = true, // reset by the daemon
            }
        }
    }

    /// True when the daemon closes (or resets) the connection within `timeout`; data read meanwhile
    /// is kept for `recv`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.closed {
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return false;
            };
            self.stream.set_read_timeout(Some(left)).expect("set a read timeout");
            let mut chunk = [0u8; 16_384];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
                Err(_) => self.closed = true,
            }
        }
        true
    }
}

/// `msg` with every `{local}` replaced by `local` (e.g. `127.0.0.1:40000`).
pub fn fill_local(msg: &[u8], local: SocketAddr) -> Vec<u8> {
    const MARK: &[u8] = b"{local}";
    let local = local.to_string();
    let mut out = Vec::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.windows(MARK.len()).position(|w| w == MARK) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(local.as_bytes());
        rest = &rest[i + MARK.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Length of the first whole message in `buf` (head, blank line, Content-Length bytes of body).
pub fn framed_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let body = header_values_in(&head, "Content-Length").first().and_then(|v| v.parse().ok()).unwrap_or(0);
    (buf.len() >= head_end + body).then_some(head_end + body)
}

/// An out-of-dialog OPTIONS from `local` to `remote` with a fresh branch, tag and Call-ID.
pub fn options_request(transport: &str, local: SocketAddr, remote: SocketAddr) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let id = format!("{}x{}x{nanos:x}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    format!(
        "OPTIONS sip:{remote} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:harness@{local}>;tag={id}\r\n\
         To: <sip:{remote}>\r\n\
         Call-ID: {id}@harness\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:harness@{local};transport={}>\r\n\
         Content-Length: 0\r\n\r\n",
        transport.to_ascii_lowercase()
    )
}

/// The status code of a response, `None` for a request or garbage.
pub fn status_code(msg: &[u8]) -> Option<u16> {
    let line = msg.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.strip_prefix("SIP/2.0 ")?.split(' ');
    parts.next()?.trim().parse().ok()
}

/// Every value of header `name` (case-insensitive, compact form included), comma lists split.
pub fn header_values(msg: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(msg);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    header_values_in(head, name)
}

fn header_values_in(head: &str, name: &str) -> Vec<String> {
    const COMPACT: [(&str, &str); 11] = [
        ("call-id", "i"),
        ("contact", "m"),
        ("content-encoding", "e"),
        ("content-length", "l"),
        ("content-type", "c"),
        ("from", "f"),
        ("subject", "s"),
        ("supported", "k"),
        ("to", "t"),
        ("via", "v"),
        ("session-expires", "x"),
    ];
    let long = name.to_ascii_lowercase();
    let short = COMPACT.iter().find(|(l, _)| *l == long).map(|(_, s)| *s);
    let mut values = Vec::new();
    for line in head.split("\r\n").skip(1) {
        let Some((n, v)) = line.split_once(':') else { continue };
        let n = n.trim().to_ascii_lowercase();
        if n == long || Some(n.as_str()) == short {
            values.extend(v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()));
        }
    }
    values
}

/// Runs `sst-b2bua --config <yaml written to a file> --check`, bounded; exit code and stderr.
pub fn check_config(yaml: &str) -> (Option<i32>, String) {
    let dir = TestDir::new("check");
    let config = dir.join("check.yaml");
    fs::write(&config, yaml).expect("write the config");
    let stderr_path = dir.join("stderr.log");
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("--check")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {BIN}: {e}"));
    let status =
        wait_timeout(&mut child, READY_TIMEOUT).unwrap_or_else(|| terminate(&mut child, STOP_TIMEOUT));
    (status.code(), read_lossy(&stderr_path))
}

mod tests {
    use super::*;

    fn assert_options_answer(resp: &[u8]) {
        let text = String::from_utf8_lossy(resp);
        assert_eq!(status_code(resp), Some(200), "OPTIONS answer:\n{text}");
        assert!(
            header_values(resp, "Supported").iter().any(|v| v == "timer"),
            "no Supported: timer in\n{text}"
        );
        assert!(header_values(resp, "Allow").iter().any(|v| v == "INVITE"), "no INVITE in Allow in\n{text}");
    }

    #[test]
    fn daemon_answers_raw_options_over_udp() {
        let daemon = Daemon::start("");
        let resp = daemon.send_udp(b"OPTIONS sip:b2bua SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKudp1;rport\r\n\
              Max-Forwards: 70\r\nFrom: <sip:t@{local}>;tag=u1\r\nTo: <sip:b2bua>\r\nCall-ID: udp1@harness\r\n\
              CSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        let resp = resp.unwrap_or_else(|| panic!("no answer over UDP\n{}", daemon.report()));
        assert_options_answer(&resp);
        assert_eq!(header_values(&resp, "Call-ID"), ["udp1@harness"]);
    }

    #[test]
    fn daemon_answers_raw_options_over_tcp() {
        let daemon = Daemon::start("");
        let mut peer = daemon.tcp_peer();
        // Two requests on one connection: the framing must hand back two separate answers.
        for n in 1..=2 {
            let req = options_request("TCP", peer.local_addr(), daemon.tcp_addr());
            peer.send(req.as_bytes());
            let resp =
                peer.recv(REPLY_TIMEOUT).unwrap_or_else(|| panic!("no answer #{n}\n{}", daemon.report()));
            assert_options_answer(&resp);
        }
        let resp = daemon.send_tcp(b"OPTIONS sip:b2bua SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp1\r\n\
              Max-Forwards: 70\r\nFrom: <sip:t@{local}>;tag=t1\r\nTo: <sip:b2bua>\r\nCall-ID: tcp1@harness\r\n\
              CSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n");
        let resp = resp.unwrap_or_else(|| panic!("no answer via send_tcp\n{}", daemon.report()));
        assert_options_answer(&resp);
        assert_eq!(header_values(&resp, "Call-ID"), ["tcp1@harness"]);
    }

    #[test]
    fn daemon_exits_zero_on_sigterm() {
        let daemon = Daemon::start("");
        let report = daemon.report();
        let status = daemon.stop();
        assert_eq!(status.code(), Some(0), "exit after SIGTERM: {status}\n{report}");
    }

    #[test]
    fn daemon_check_accepts_the_harness_config_and_rejects_an_unknown_key() {
        let good = config_yaml(free_port(), "");
        let (code, stderr) = check_config(&good);
        assert_eq!(code, Some(0), "--check on\n{good}\nstderr:\n{stderr}");
        let bad = config_yaml(free_port(), "no_such_key: 1\n");
        let (code, stderr) = check_config(&bad);
        assert_eq!(code, Some(2), "--check on\n{bad}\nstderr:\n{stderr}");
        assert!(stderr.contains("no_such_key"), "the error names the key: {stderr}");
    }

    #[test]
    fn daemon_harness_config_keeps_given_blocks_and_fills_the_rest() {
        let yaml = config_yaml(
            5999,
            "
            routes:
              - { name: r, from: { source: 127.0.0.1/32 }, to: sip:127.0.0.1:5998 }
        ",
        );
        assert!(yaml.contains("address: 127.0.0.1:5999 }"), "{yaml}");
        assert!(yaml.contains("\nroutes:\n  - { name: r"), "dedented: {yaml}");
        assert!(!yaml.contains("routes: []"), "{yaml}");
        assert!(yaml.contains("session_timer: { enabled: true"), "{yaml}");
    }

    #[test]
    fn daemon_harness_frames_tcp_messages_and_reads_compact_headers() {
        let two = b"SIP/2.0 200 OK\r\nl: 3\r\n\r\nabcSIP/2.0 180 Ringing\r\n";
        assert_eq!(framed_len(two), Some(27));
        assert_eq!(framed_len(&two[..26]), None);
        let msg = b"SIP/2.0 200 OK\r\nk: 100rel, timer\r\nSupported: path\r\n\r\nk: body";
        assert_eq!(status_code(msg), Some(200));
        assert_eq!(header_values(msg, "supported"), ["100rel", "timer", "path"]);
        assert_eq!(
            fill_local(b"a{local}b{local}", "127.0.0.1:7".parse().unwrap()),
            b"a127.0.0.1:7b127.0.0.1:7"
        );
    }
}
