//! SIPp (Debian's `sip-tester`, 3.6.1) as a peer of the real daemon: a builder that runs a scenario of
//! `sipp/` in the foreground or the background, on loopback and a free port, with its error, message
//! and log files in a temp dir, bounded in time and stopped by PID. Judged by exit code (0 = every call
//! succeeded), never by the screen. See /sipp/README.md for the scenarios.
#![allow(dead_code)] // a harness: each test module uses only part of it

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{free_port, read_lossy, tail, terminate, wait_timeout, Daemon, TestDir, LOOPBACK, POLL};

/// Where the scenarios live.
pub const SCENARIO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sipp");
/// The outer bound on one SIPp run when the test gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long SIPp may take to exit after SIGTERM before it is killed.
pub const SIPP_STOP_GRACE: Duration = Duration::from_secs(3);

/// The `sipp` binary: `$SIPP` if set, else the first on PATH. Panics (failing the test) when absent.
pub fn sipp_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SIPP") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join("sipp")).find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "`sipp` is not on PATH, so the wire tests cannot run. Run scripts/test.sh, which installs it \
             (Debian package sip-tester: `apt-get update && apt-get install -y sip-tester`), or set SIPP=/path/to/sipp."
        )
    })
}

/// A scenario file: a name under `sipp/` or a path.
pub fn scenario_path(scenario: &str) -> PathBuf {
    let path = Path::new(SCENARIO_DIR).join(scenario);
    assert!(path.is_file(), "no SIPp scenario {}", path.display());
    path
}

/// Runs `scenario` in the foreground with `args` (e.g. `["127.0.0.1:5060", "-t", "u1", "-m", "3"]`),
/// bounded by `DEFAULT_TIMEOUT`. See `Sipp` for what the harness adds.
pub fn run_sipp(scenario: &str, args: &[&str]) -> SippResult {
    Sipp::new(scenario).args(args.iter().copied()).run()
}

/// Starts `scenario` in the background (typically a UAS: `-sf uas.xml -p PORT`); see `SippProcess`.
pub fn spawn_sipp(scenario: &str, args: &[&str]) -> SippProcess {
    Sipp::new(scenario).args(args.iter().copied()).spawn()
}

/// One SIPp run. Always added: `-sf <scenario> -nostdin`, `-i 127.0.0.1` and `-p <free port>` unless
/// given, `-trace_err -error_file`, `-trace_msg -message_file`, `-trace_logs -log_file` (files in a temp
/// dir). Not added: `-m`, `-timeout 20s -timeout_error` (pass them; the outer timeout is the backstop).
pub struct Sipp {
    scenario: PathBuf,
    remote: Option<String>,
    args: Vec<String>,
    port: Option<u16>,
    timeout: Duration,
}

impl Sipp {
    pub fn new(scenario: &str) -> Sipp {
        Sipp {
            scenario: scenario_path(scenario),
            remote: None,
            args: Vec::new(),
            port: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The remote host (a UAC's target), e.g. `daemon.udp_addr()`.
    pub fn remote(mut self, addr: impl ToString) -> Self {
        self.remote = Some(addr.to_string());
        self
    }

    /// SIPp's own port (`-p`); a free one when not given.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Outer bound: past it, SIPp is stopped and the result says `timed_out`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs in the foreground until SIPp exits or the outer timeout.
    pub fn run(self) -> SippResult {
        self.spawn().wait()
    }

    /// Starts SIPp in the background; it is stopped by PID when the handle is dropped.
    pub fn spawn(mut self) -> SippProcess {
        assert!(!self.args.iter().any(|a| a == "-sf" || a == "-bg"), "the harness passes -sf; never -bg");
        // `-p` in args wins over `.port()`; either is parsed so the caller can ask for the port.
        let port = match flag_value(&self.args, "-p") {
            Some(p) => p.parse().unwrap_or_else(|_| panic!("-p {p}: not a port")),
            None => {
                let port = self.port.unwrap_or_else(free_port);
                self.args.extend(["-p".to_owned(), port.to_string()]);
                port
            }
        };
        if flag_value(&self.args, "-i").is_none() {
            self.args.extend(["-i".to_owned(), LOOPBACK.to_string()]);
        }
        let tcp = flag_value(&self.args, "-t").is_some_and(|t| t.starts_with('t'));
        let name = self.scenario.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario").to_owned();
        let dir = TestDir::new(&format!("sipp-{name}"));
        let files = ["errors.log", "messages.log", "logs.log", "screen.log"].map(|f| dir.join(f));
        let [errors, messages, logs, screen] = &files;
        let mut command = Command::new(sipp_binary());
        command.args(self.remote.iter()).arg("-sf").arg(&self.scenario).arg("-nostdin").args(&self.args);
        command.arg("-trace_err").arg("-error_file").arg(errors);
        command.arg("-trace_msg").arg("-message_file").arg(messages);
        command.arg("-trace_logs").arg("-log_file").arg(logs);
        let out = File::create(screen).expect("create the SIPp screen file");
        command.current_dir(dir.path()).stdin(Stdio::null());
        command.stdout(out.try_clone().expect("clone the screen handle")).stderr(out);
        let line = format!("{command:?}");
        let child = command.spawn().unwrap_or_else(|e| panic!("spawn {line}: {e}"));
        SippProcess {
            child: Some(child),
            port,
            tcp,
            started: Instant::now(),
            deadline: Instant::now() + self.timeout,
            command: line,
            dir: Some(dir),
        }
    }
}

/// The value after `flag` in `args`.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned()
}

/// A SIPp process running in the background (a UAS waiting for the daemon, or a UAC to await later).
pub struct SippProcess {
    child: Option<Child>,
    port: u16,
    tcp: bool,
    started: Instant,
    deadline: Instant,
    command: String,
    dir: Option<TestDir>,
}

impl SippProcess {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("sipp running").id()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where SIPp listens: `127.0.0.1:port`, for a route's `to:`.
    pub fn addr(&self) -> String {
        format!("{LOOPBACK}:{}", self.port)
    }

    /// Polls until SIPp has bound its port (UDP, or TCP listening with `-t t1`/`-t tn`), read from
    /// /proc/net without touching the port. Panics with SIPp's files if it exits or does not bind in time.
    pub fn wait_listening(&mut self, timeout: Duration) -> &mut Self {
        let deadline = Instant::now() + timeout;
        while !port_bound(self.port, self.tcp) {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                let why =
                    exited.map_or(format!("did not bind within {timeout:?}"), |s| format!("exited: {s}"));
                panic!("SIPp {why}\n{}", self.files_report());
            }
            std::thread::sleep(POLL);
        }
        self
    }

    /// Waits for SIPp to exit, at most until the outer timeout, then stops it.
    pub fn wait(mut self) -> SippResult {
        let mut child = self.child.take().expect("sipp running");
        let left = self.deadline.saturating_duration_since(Instant::now());
        let (status, timed_out) = match wait_timeout(&mut child, left) {
            Some(status) => (status, false),
            None => (terminate(&mut child, SIPP_STOP_GRACE), true),
        };
        self.result(status.code(), timed_out)
    }

    /// Stops SIPp now (SIGTERM, then SIGKILL) and returns what it did so far.
    pub fn stop(mut self) -> SippResult {
        let mut child = self.child.take().expect("sipp running");
        let status = terminate(&mut child, SIPP_STOP_GRACE);
        self.result(status.code(), false)
    }

    fn result(&mut self, code: Option<i32>, timed_out: bool) -> SippResult {
        SippResult {
            code,
            timed_out,
            elapsed: self.started.elapsed(),
            command: std::mem::take(&mut self.command),
            port: self.port,
            dir: self.dir.take().expect("files dir"),
        }
    }

    fn files_report(&self) -> String {
        let dir = self.dir.as_ref().expect("files dir");
        format!(
            "command: {}\n--- errors ---\n{}\n--- screen (tail) ---\n{}",
            self.command,
            tail(&read_lossy(&dir.join("errors.log")), 6000),
            tail(&read_lossy(&dir.join("screen.log")), 4000)
        )
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            terminate(child, SIPP_STOP_GRACE);
        }
    }
}

/// True when some socket is bound to `port` on IPv4 or IPv6: any UDP socket, or a listening TCP one.
pub fn port_bound(port: u16, tcp: bool) -> bool {
    let tables: [&str; 2] =
        if tcp { ["/proc/net/tcp", "/proc/net/tcp6"] } else { ["/proc/net/udp", "/proc/net/udp6"] };
    let hex_port = format!(":{port:04X}");
    tables.iter().any(|table| {
        read_lossy(Path::new(table)).lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_matches = fields.get(1).is_some_and(|local| local.ends_with(&hex_port));
            local_matches && (!tcp || fields.get(3) == Some(&"0A")) // 0A = LISTEN
        })
    })
}

/// How a SIPp run ended, with its files (kept on disk when the test panics).
pub struct SippResult {
    /// SIPp's exit code: 0 every call succeeded, 1 some failed, 97 stopped by command, 99 no call
    /// processed, 255/254 fatal (bad scenario or option, socket error). `None`: killed by a signal.
    pub code: Option<i32>,
    /// The outer timeout fired and the harness stopped SIPp.
    pub timed_out: bool,
    pub elapsed: Duration,
    pub command: String,
    /// SIPp's own port.
    pub port: u16,
    dir: TestDir,
}

impl SippResult {
    pub fn success(&self) -> bool {
        !self.timed_out && self.code == Some(0)
    }

    /// The unexpected messages and failed checks (`-trace_err`).
    pub fn errors(&self) -> String {
        read_lossy(&self.dir.join("errors.log"))
    }

    /// Every message sent and received (`-trace_msg`).
    pub fn messages(&self) -> String {
        read_lossy(&self.dir.join("messages.log"))
    }

    /// The scenario's `<log>` actions (`-trace_logs`).
    pub fn logs(&self) -> String {
        read_lossy(&self.dir.join("logs.log"))
    }

    /// SIPp's stdout and stderr (the final screens and statistics).
    pub fn screen(&self) -> String {
        read_lossy(&self.dir.join("screen.log"))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything needed to see why a run failed.
    pub fn report(&self) -> String {
        format!(
            "SIPp exit code {:?}{} after {:.1?}\ncommand: {}\nfiles: {}\n--- errors ---\n{}\n\
             --- messages (tail) ---\n{}\n--- screen (tail) ---\n{}",
            self.code,
            if self.timed_out { " (outer timeout: stopped by the harness)" } else { "" },
            self.elapsed,
            self.command,
            self.dir.path().display(),
            tail(&self.errors(), 6000),
            tail(&self.messages(), 6000),
            tail(&self.screen(), 3000)
        )
    }

    pub fn assert_success(&self) {
        assert!(self.success(), "SIPp run failed\n{}", self.report());
    }
}

mod tests {
    use super::*;
    use crate::daemon::Daemon;

    /// sipp/options.xml against the daemon: 3 OPTIONS, each 200 checked for `timer` and `INVITE`.
    fn options_against_daemon(transport: &str) {
        let daemon = Daemon::start("");
        let result = Sipp::new("options.xml")
            .remote(daemon.udp_addr())
            .args(["-t", transport, "-m", "3", "-timeout", "20s", "-timeout_error"])
            .timeout(Duration::from_secs(40))
            .run();
        assert!(result.success(), "{}\n{}", result.report(), daemon.report());
        assert_eq!(result.logs().matches("200 OK: Supported:").count(), 3, "{}", result.report());
    }

    #[test]
    fn sipp_options_over_udp_gets_200_with_timer_and_invite() {
        options_against_daemon("u1");
    }

    #[test]
    fn sipp_options_over_tcp_gets_200_with_timer_and_invite() {
        options_against_daemon("t1");
    }

    /// sipp/options.xml against a SIPp UAS (sipp/options_uas.xml) answering with the given headers:
    /// proves the harness's background mode and that the scenario's checks can fail.
    fn options_against_sipp_uas(transport: &str, supported: &str, allow: &str) -> SippResult {
        let mut uas = Sipp::new("options_uas.xml")
            .args(["-t", transport, "-m", "1", "-key", "supported", supported, "-key", "allow", allow])
            .timeout(Duration::from_secs(30))
            .spawn();
        uas.wait_listening(Duration::from_secs(5));
        let uac = Sipp::new("options.xml")
            .remote(uas.addr())
            .args(["-t", transport, "-m", "1", "-timeout", "10s", "-timeout_error"])
            .timeout(Duration::from_secs(20))
            .run();
        let uas = uas.wait();
        uas.assert_success();
        uac
    }

    #[test]
    fn sipp_harness_options_passes_against_a_conforming_uas() {
        for transport in ["u1", "t1"] {
            options_against_sipp_uas(transport, "100rel, timer", "INVITE, ACK, BYE, OPTIONS")
                .assert_success();
        }
    }

    #[test]
    fn sipp_harness_options_fails_without_the_timer_tag() {
        let uac = options_against_sipp_uas("u1", "notimer, timer2, 100rel", "INVITE, ACK, BYE");
        assert_eq!(uac.code, Some(1), "the check must fail the call\n{}", uac.report());
        assert!(uac.errors().contains("Failed regexp match"), "{}", uac.report());
    }

    #[test]
    fn sipp_harness_options_fails_without_invite_in_allow() {
        let uac = options_against_sipp_uas("t1", "timer", "ACK, BYE, REINVITE");
        assert_eq!(uac.code, Some(1), "the check must fail the call\n{}", uac.report());
        assert!(uac.errors().contains("Failed regexp match"), "{}", uac.report());
    }

    #[test]
    fn sipp_harness_stops_a_background_uas_by_pid() {
        let mut uas = spawn_sipp(
            "options_uas.xml",
            &["-t", "u1", "-key", "supported", "timer", "-key", "allow", "INVITE"],
        );
        uas.wait_listening(Duration::from_secs(5));
        assert!(port_bound(uas.port(), false));
        let port = uas.port();
        let result = uas.stop();
        assert!(!result.timed_out && result.elapsed < Duration::from_secs(10), "{}", result.report());
        assert!(!port_bound(port, false), "SIPp still holds UDP port {port}\n{}", result.report());
    }
}

/// The transport both SIPp sides and the daemon's route use in a call scenario.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// SIPp's `-t`: one socket (UDP) or one connection (TCP) for all calls.
    pub fn sipp(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    /// The route target's URI parameter that makes leg B use this transport.
    pub fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        }
    }
}

/// How long one SIPp run of a test may last: SIPp's own `-timeout` (with `-timeout_error`) and the
/// harness's outer bound on the process.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub sipp: &'static str,
    pub outer: Duration,
}

/// A scenario run over `transport` for `calls` calls within `bounds`, with `extra` arguments.
fn bounded(sipp: Sipp, transport: Transport, calls: u32, extra: &[&str], bounds: Bounds) -> Sipp {
    let calls = calls.to_string();
    sipp.args(["-t", transport.sipp(), "-m", calls.as_str(), "-timeout", bounds.sipp, "-timeout_error"])
        .args(extra.iter().copied())
        .timeout(bounds.outer)
}

/// Starts the callee scenario `uas` on a free port for `calls` calls and waits until it listens.
pub fn start_callee(
    uas: &str,
    transport: Transport,
    calls: u32,
    extra: &[&str],
    bounds: Bounds,
) -> SippProcess {
    let mut callee = bounded(Sipp::new(uas), transport, calls, extra, bounds).spawn();
    callee.wait_listening(Duration::from_secs(5));
    callee
}

/// Runs the caller scenario `uac` against the daemon's UDP address (its transport's port is the same) for
/// `calls` calls.
pub fn run_caller(
    uac: &str,
    daemon: &Daemon,
    transport: Transport,
    calls: u32,
    extra: &[&str],
    bounds: Bounds,
) -> SippResult {
    bounded(Sipp::new(uac).remote(daemon.udp_addr()), transport, calls, extra, bounds).run()
}

/// Both SIPp runs of a call and the daemon between them (still running, for its log).
pub struct CallRun {
    pub caller: SippResult,
    pub callee: SippResult,
    pub daemon: Daemon,
}

impl CallRun {
    pub fn report(&self) -> String {
        format!(
            "=== caller ===\n{}\n=== callee ===\n{}\n=== daemon ===\n{}",
            self.caller.report(),
            self.callee.report(),
            self.daemon.report()
        )
    }

    #[track_caller]
    pub fn assert_success(&self) {
        assert!(self.caller.success() && self.callee.success(), "a SIPp side failed\n{}", self.report());
    }

    /// The daemon answered the caller itself: the caller was done `caller_done` after the callee listened,
    /// well inside the `silent_for` the callee waits, and the callee got nothing and timed out (exit 97).
    #[track_caller]
    pub fn assert_callee_untouched(&self, caller_done: Duration, silent_for: Duration) {
        assert!(
            caller_done + Duration::from_secs(1) < silent_for,
            "the caller took {caller_done:?}: too late to judge the callee's silence\n{}",
            self.report()
        );
        assert_eq!(self.callee.code, Some(97), "the callee must see nothing and time out\n{}", self.report());
        assert!(self.callee.messages().trim().is_empty(), "the callee received something\n{}", self.report());
    }
}
