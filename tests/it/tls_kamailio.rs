//! SIP over TLS against a real, independent TLS stack: SIPp caller (UDP) → sst-b2bua → TLS → Kamailio
//! (Debian's `kamailio` 5.6 with `kamailio-tls-modules`, OpenSSL underneath) → SIPp callee (UDP). The
//! call must complete (INVITE, 180, 200, ACK, BYE, 200) with both SIPp scenarios' checks passing.
//! Kamailio runs in the foreground as a child of the test (`-DD -E`), with
//! `tests/it/fixtures/kamailio-tls.cfg` filled in (ports, the test certificate) in a temp dir, and is
//! stopped by PID. Without kamailio installed the test fails and says what to install.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{free_port, read_lossy, tail, terminate, Daemon, TestDir, POLL};
use crate::sipp::{port_bound, Sipp};
use crate::tls_peer::Pki;

const CONFIG_TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/kamailio-tls.cfg");
const INSTALL: &str = "apt-get update && apt-get install -y kamailio kamailio-tls-modules";
/// Where Debian puts Kamailio's modules (amd64 first).
const MODULE_DIRS: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
];
const KAMAILIO_READY: Duration = Duration::from_secs(15);

/// The `kamailio` binary: `$KAMAILIO` if it names a file, else the first on PATH or in /usr/sbin. Panics, failing
/// the test with the install command, when it or its TLS module is absent.
fn kamailio_binary() -> (PathBuf, &'static str) {
    let on_path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::var_os("KAMAILIO").map(PathBuf::from).filter(|p| p.is_file()).or_else(|| {
        std::env::split_paths(&on_path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
            .map(|dir| dir.join("kamailio"))
            .find(|p| p.is_file())
    });
    let Some(binary) = found else {
        panic!(
            "`kamailio` is not installed, so the TLS interop test cannot run. Install it with \
             `{INSTALL}` (scripts/test.sh does), or set KAMAILIO=/path/to/kamailio."
        );
    };
    let Some(modules) = MODULE_DIRS.into_iter().find(|dir| Path::new(dir).join("tls.so").is_file()) else {
        panic!(
            "Kamailio's TLS module (tls.so) is not in any of {MODULE_DIRS:?}, so the TLS interop test cannot \
             run. Install it with `{INSTALL}`."
        );
    };
    (binary, modules)
}

/// Kamailio in the foreground, on 127.0.0.1: UDP `udp_port` and TLS `tls_port`; stopped by PID on drop.
struct Kamailio {
    child: Option<Child>,
    tls_port: u16,
    log_path: PathBuf,
    config_path: PathBuf,
    dir: TestDir,
}

impl Kamailio {
    fn start(pki: &Pki, callee_port: u16) -> Kamailio {
        let (binary, modules) = kamailio_binary();
        let dir = TestDir::new("kamailio");
        let (udp_port, tls_port) = (free_port(), free_port());
        let template = fs::read_to_string(CONFIG_TEMPLATE).expect("read the Kamailio config template");
        let values = [
            ("@UDP_PORT@", udp_port.to_string()),
            ("@TLS_PORT@", tls_port.to_string()),
            ("@CALLEE_PORT@", callee_port.to_string()),
            ("@MODULES@", modules.to_owned()),
            ("@CERTIFICATE@", pki.path("cert.pem").display().to_string()),
            ("@PRIVATE_KEY@", pki.path("key.pem").display().to_string()),
        ];
        for (mark, _) in &values {
            assert!(template.contains(mark), "{CONFIG_TEMPLATE} has no {mark}");
        }
        let config = values.iter().fold(template, |text, (mark, value)| text.replace(mark, value));
        let config_path = dir.join("kamailio.cfg");
        fs::write(&config_path, config).expect("write the Kamailio config");
        let runtime_dir = dir.join("run");
        fs::create_dir_all(&runtime_dir).expect("create Kamailio's runtime dir");
        let log_path = dir.join("kamailio.log");
        let log = File::create(&log_path).expect("create the Kamailio log");
        let started = Instant::now();
        let child = Command::new(&binary)
            .arg("-DD") // no daemon: the main process stays our child (its workers are its children)
            .arg("-E") // log to stderr (our log file)
            .arg("-f")
            .arg(&config_path)
            .arg("-Y")
            .arg(&runtime_dir)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-w")
            .arg(dir.path())
            .args(["-m", "32", "-M", "8"]) // MB of shared and private memory: ample for one call
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        let mut kamailio = Kamailio { child: Some(child), tls_port, log_path, config_path, dir };
        while !(port_bound(tls_port, true) && port_bound(udp_port, false)) {
            let exited = kamailio.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || started.elapsed() >= KAMAILIO_READY {
                let why = exited
                    .map_or(format!("did not listen within {KAMAILIO_READY:?}"), |s| format!("exited: {s}"));
                panic!("Kamailio {why}\n{}", kamailio.report());
            }
            std::thread::sleep(POLL);
        }
        eprintln!("kamailio listening after {:?}", started.elapsed());
        kamailio
    }

    fn report(&self) -> String {
        format!(
            "--- kamailio config {} (dir {}) ---\n--- kamailio log (tail) ---\n{}",
            self.config_path.display(),
            self.dir.path().display(),
            tail(&read_lossy(&self.log_path), 8000)
        )
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            terminate(child, Duration::from_secs(5));
        }
        if std::thread::panicking() {
            eprintln!("{}", self.report());
        }
    }
}

#[test]
fn tls_kamailio_relays_a_call_from_the_daemon_over_tls() {
    kamailio_binary(); // fail first, with the install command, when it is missing
    let pki = Pki::new();
    let mut callee = Sipp::new("call_uas_rr.xml")
        .args(["-t", "u1", "-m", "1", "-timeout", "30s", "-timeout_error"])
        .timeout(Duration::from_secs(45))
        .spawn();
    callee.wait_listening(Duration::from_secs(5));
    let kamailio = Kamailio::start(&pki, callee.port());
    // An IP-literal target: the daemon checks Kamailio's certificate against 127.0.0.1 (no SNI).
    let daemon = Daemon::builder()
        .tls_listener(&pki.path("cert.pem"), &pki.path("key.pem"))
        .yaml(&format!(
            "routes:\n  - {{ name: kamailio, from: {{ source: 127.0.0.0/8 }}, \
             to: 'sip:127.0.0.1:{};transport=tls' }}\n\
             tls: {{ ca_file: '{}' }}\n",
            kamailio.tls_port,
            pki.path("ca.pem").display()
        ))
        .start();
    let caller = Sipp::new("call_uac.xml")
        .remote(daemon.udp_addr())
        .args(["-t", "u1", "-m", "1", "-d", "200", "-timeout", "30s", "-timeout_error"])
        .timeout(Duration::from_secs(45))
        .run();
    let callee = callee.wait();
    let report = || {
        format!(
            "=== caller ===\n{}\n=== callee ===\n{}\n=== daemon ===\n{}\n=== kamailio ===\n{}",
            caller.report(),
            callee.report(),
            daemon.report(),
            kamailio.report()
        )
    };
    assert!(caller.success() && callee.success(), "the call through Kamailio failed\n{}", report());
    let kamailio_log = read_lossy(&kamailio.log_path);
    for method in ["INVITE", "ACK", "BYE"] {
        let line = format!("relay: {method} ");
        let tls = kamailio_log.lines().any(|l| l.contains(&line) && l.contains(" from tls:127.0.0.1:"));
        assert!(tls, "Kamailio did not get the {method} over TLS\n{}", report());
    }
    // RFC 3261 §12.2.1.1: the ACK and BYE carry the route set Kamailio's Record-Route made.
    for method in ["ACK", "BYE"] {
        let routed = kamailio_log.lines().any(|l| l.contains(&format!("loose-routed: {method}")));
        assert!(routed, "Kamailio did not loose-route the {method}\n{}", report());
    }
    assert!(!kamailio_log.contains("no route set"), "{}", report());
    assert!(daemon.log().contains("call ended reason=BYE from leg A"), "{}", report());
}
