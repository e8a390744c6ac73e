//! Calls through the real daemon with SIPp on both legs (the `sipp/call_*.xml` scenarios): the caller
//! talks to the daemon (leg A), the daemon calls a SIPp callee on a free port through a `routes` entry
//! (leg B). Every scenario checks what it receives with `<ereg check_it="true">` — leg B's Call-ID is
//! the daemon's (`…@sst-b2bua`), each side sees the other's SDP — so a wrong message fails the call and
//! SIPp exits 1. On top, the test ties the two legs together through the daemon's log (`call{a=… b=…}`)
//! and checks why the call ended. Each test starts its own daemon and SIPp pair on free ports, over UDP
//! and over TCP (both legs the same transport). See sipp/README.md.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::daemon::{Daemon, POLL};
use crate::sipp::{Sipp, SippProcess, SippResult};

/// SIPp's own global timeout (`-timeout`, with `-timeout_error`) for one call.
const SIPP_TIMEOUT: &str = "30s";
/// The harness's outer bound on a SIPp run.
const OUTER_TIMEOUT: Duration = Duration::from_secs(45);
/// How long a daemon log line may lag behind the SIPp run that caused it.
const LOG_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// SIPp's `-t`: one socket (UDP) or one connection (TCP) for all calls.
    fn sipp(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }

    /// The route target's URI parameter that makes leg B use this transport.
    fn uri_param(self) -> &'static str {
        match self {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        }
    }
}

/// A daemon with one route: INVITEs from `source` (a CIDR) go to the callee on 127.0.0.1:`callee_port`.
fn daemon_routing(source: &str, callee_port: u16, transport: Transport) -> Daemon {
    Daemon::start(&format!(
        "routes:\n  - {{ name: callee, from: {{ source: {source} }}, to: \"sip:127.0.0.1:{callee_port}{}\" }}\n",
        transport.uri_param()
    ))
}

/// Starts the callee scenario `uas` on a free port for `calls` calls and waits until it listens.
fn start_callee(uas: &str, transport: Transport, calls: u32, extra: &[&str]) -> SippProcess {
    let calls = calls.to_string();
    let mut callee = Sipp::new(uas)
        .args(["-t", transport.sipp(), "-m", calls.as_str(), "-timeout", SIPP_TIMEOUT, "-timeout_error"])
        .args(extra.iter().copied())
        .timeout(OUTER_TIMEOUT)
        .spawn();
    callee.wait_listening(Duration::from_secs(5));
    callee
}

/// Runs the caller scenario `uac` against the daemon for `calls` calls, in the foreground.
fn run_caller(uac: &str, daemon: &Daemon, transport: Transport, calls: u32, extra: &[&str]) -> SippResult {
    let calls = calls.to_string();
    Sipp::new(uac)
        .remote(daemon.udp_addr())
        .args(["-t", transport.sipp(), "-m", calls.as_str(), "-timeout", SIPP_TIMEOUT, "-timeout_error"])
        .args(extra.iter().copied())
        .timeout(OUTER_TIMEOUT)
        .run()
}

/// Both SIPp runs of a call and the daemon between them (still running, for its log).
struct CallRun {
    caller: SippResult,
    callee: SippResult,
    daemon: Daemon,
}

impl CallRun {
    fn report(&self) -> String {
        format!(
            "=== caller ===\n{}\n=== callee ===\n{}\n=== daemon ===\n{}",
            self.caller.report(),
            self.callee.report(),
            self.daemon.report()
        )
    }

    #[track_caller]
    fn assert_success(&self) {
        assert!(self.caller.success() && self.callee.success(), "a SIPp side failed\n{}", self.report());
    }

    /// Every caller's Call-ID was bridged by the daemon to a callee's Call-ID of its own making: the
    /// scenarios log `leg A Call-ID: …` and `leg B Call-ID: …`, the daemon's call span `a=… b=…`.
    #[track_caller]
    fn assert_bridged(&self, calls: usize) {
        let a_ids = logged_after(&self.caller.logs(), "leg A Call-ID: ");
        let b_ids = logged_after(&self.callee.logs(), "leg B Call-ID: ");
        assert_eq!(a_ids.len(), calls, "caller Call-IDs logged\n{}", self.report());
        assert_eq!(b_ids.len(), calls, "callee Call-IDs logged\n{}", self.report());
        let log = self.daemon.log();
        let spans = call_spans(&log);
        for a in &a_ids {
            let b = *spans.get(a.as_str()).unwrap_or_else(|| {
                panic!("the daemon logged no call span for leg A Call-ID {a}\n{}", self.report())
            });
            assert_ne!(a.as_str(), b, "leg B reused the caller's Call-ID\n{}", self.report());
            assert!(b.ends_with("@sst-b2bua"), "leg B Call-ID {b}\n{}", self.report());
            assert!(b_ids.contains(b), "the callee never saw leg B Call-ID {b}\n{}", self.report());
        }
        assert!(a_ids.is_disjoint(&b_ids), "a Call-ID crossed the daemon\n{}", self.report());
    }

    /// The daemon started no call at all.
    #[track_caller]
    fn assert_no_call(&self) {
        assert!(!self.daemon.log().contains("call started"), "a call was started\n{}", self.report());
    }

    /// The daemon logs `call ended reason=<reason>` `calls` times (bounded wait: the log may lag).
    #[track_caller]
    fn assert_ended(&self, reason: &str, calls: usize) {
        let needle = format!("call ended reason={reason} ");
        let deadline = Instant::now() + LOG_WAIT;
        while self.daemon.log().matches(&needle).count() < calls && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let log = self.daemon.log();
        assert_eq!(log.matches("call ended").count(), calls, "`call ended` lines\n{}", self.report());
        assert_eq!(log.matches(&needle).count(), calls, "`{needle}` lines\n{}", self.report());
    }
}

/// The distinct values logged after `prefix` (one per line) in a SIPp `-trace_logs` file.
fn logged_after(logs: &str, prefix: &str) -> HashSet<String> {
    logs.lines().filter_map(|l| l.split_once(prefix)).map(|(_, v)| v.trim().to_owned()).collect()
}

/// leg A Call-ID → leg B Call-ID, from the daemon's `call{a=… b=…}` spans.
fn call_spans(log: &str) -> HashMap<&str, &str> {
    log.lines()
        .filter_map(|line| {
            let rest = line.split_once("call{a=")?.1;
            let (a, rest) = rest.split_once(" b=")?;
            let (b, _) = rest.split_once('}')?;
            Some((a, b))
        })
        .collect()
}

/// One call: the callee `uas` (with `callee_args`) behind a daemon routing 127.0.0.0/8 to it, the
/// caller `uac` (with `caller_args`) in front.
fn call(uac: &str, uas: &str, transport: Transport, caller_args: &[&str], callee_args: &[&str]) -> CallRun {
    let callee = start_callee(uas, transport, 1, callee_args);
    let daemon = daemon_routing("127.0.0.0/8", callee.port(), transport);
    let caller = run_caller(uac, &daemon, transport, 1, caller_args);
    let callee = callee.wait();
    CallRun { caller, callee, daemon }
}

// ---------------------------------------------------------------------------------------------------
// Basic calls
// ---------------------------------------------------------------------------------------------------

/// call_uac.xml → call_uas.xml: 180, 200 with the callee's SDP, ACK, the caller's BYE after 200 ms.
fn caller_hangs_up(transport: Transport) {
    let run = call("call_uac.xml", "call_uas.xml", transport, &["-d", "200"], &[]);
    run.assert_success();
    run.assert_bridged(1);
    run.assert_ended("BYE from leg A", 1);
}

#[test]
fn sipp_calls_basic_call_caller_hangs_up_over_udp() {
    caller_hangs_up(Transport::Udp);
}

#[test]
fn sipp_calls_basic_call_caller_hangs_up_over_tcp() {
    caller_hangs_up(Transport::Tcp);
}

/// call_uac_wait_bye.xml → call_uas_bye.xml: the callee's BYE after 200 ms reaches the caller.
fn callee_hangs_up(transport: Transport) {
    let run = call("call_uac_wait_bye.xml", "call_uas_bye.xml", transport, &[], &["-d", "200"]);
    run.assert_success();
    run.assert_bridged(1);
    run.assert_ended("BYE from leg B", 1);
}

#[test]
fn sipp_calls_basic_call_callee_hangs_up_over_udp() {
    callee_hangs_up(Transport::Udp);
}

#[test]
fn sipp_calls_basic_call_callee_hangs_up_over_tcp() {
    callee_hangs_up(Transport::Tcp);
}

// ---------------------------------------------------------------------------------------------------
// Setup outcomes: CANCEL, busy, early media
// ---------------------------------------------------------------------------------------------------

/// call_uac_cancel.xml → call_uas_cancel.xml: the caller cancels while the callee rings.
fn cancel_while_ringing(transport: Transport) {
    let run = call("call_uac_cancel.xml", "call_uas_cancel.xml", transport, &[], &[]);
    run.assert_success();
    run.assert_bridged(1);
    run.assert_ended("cancelled by the caller", 1);
}

#[test]
fn sipp_calls_cancel_during_ringing_over_udp() {
    cancel_while_ringing(Transport::Udp);
}

#[test]
fn sipp_calls_cancel_during_ringing_over_tcp() {
    cancel_while_ringing(Transport::Tcp);
}

/// call_uac_busy.xml → call_uas_busy.xml: the callee's 486 reaches the caller. The callee then stays in
/// the call for 1 s in which nothing more may reach it: in particular no CANCEL for the INVITE that has
/// its final response (RFC 3261 §9.1: it SHOULD NOT be sent).
fn busy(transport: Transport) {
    let run = call("call_uac_busy.xml", "call_uas_busy.xml", transport, &[], &["-d", "1000"]);
    run.assert_success();
    run.assert_bridged(1);
    run.assert_ended("rejected with 486", 1);
}

#[test]
fn sipp_calls_busy_486_is_relayed_and_nothing_follows_over_udp() {
    busy(Transport::Udp);
}

#[test]
fn sipp_calls_busy_486_is_relayed_and_nothing_follows_over_tcp() {
    busy(Transport::Tcp);
}

/// call_uac_early.xml → call_uas_early.xml: 183 with the callee's early SDP, then 200.
fn early_media(transport: Transport) {
    let run = call("call_uac_early.xml", "call_uas_early.xml", transport, &["-d", "200"], &[]);
    run.assert_success();
    run.assert_bridged(1);
    run.assert_ended("BYE from leg A", 1);
}

#[test]
fn sipp_calls_183_early_media_then_200_over_udp() {
    early_media(Transport::Udp);
}

#[test]
fn sipp_calls_183_early_media_then_200_over_tcp() {
    early_media(Transport::Tcp);
}

// ---------------------------------------------------------------------------------------------------
// re-INVITE
// ---------------------------------------------------------------------------------------------------

/// call_uac_reinvite.xml → call_uas_answer_reinvite.xml: the caller's new offer reaches the callee, the
/// callee's new answer comes back.
fn reinvite_from_caller(transport: Transport) {
    let run = call("call_uac_reinvite.xml", "call_uas_answer_reinvite.xml", transport, &["-d", "300"], &[]);
    run.assert_success();
    run.assert_bridged(1);
    run.assert_ended("BYE from leg A", 1);
}

#[test]
fn sipp_calls_reinvite_from_the_caller_over_udp() {
    reinvite_from_caller(Transport::Udp);
}

#[test]
fn sipp_calls_reinvite_from_the_caller_over_tcp() {
    reinvite_from_caller(Transport::Tcp);
}

/// call_uac_answer_reinvite.xml → call_uas_reinvite.xml: the callee's new offer reaches the caller, the
/// caller's new answer comes back. The callee waits 300 ms so that the caller's ACK is through first.
fn reinvite_from_callee(transport: Transport) {
    let run = call("call_uac_answer_reinvite.xml", "call_uas_reinvite.xml", transport, &[], &["-d", "300"]);
    run.assert_success();
    run.assert_bridged(1);
    run.assert_ended("BYE from leg A", 1);
}

#[test]
fn sipp_calls_reinvite_from_the_callee_over_udp() {
    reinvite_from_callee(Transport::Udp);
}

#[test]
fn sipp_calls_reinvite_from_the_callee_over_tcp() {
    reinvite_from_callee(Transport::Tcp);
}

// ---------------------------------------------------------------------------------------------------
// No route: 403, nothing forwarded
// ---------------------------------------------------------------------------------------------------

/// call_uac_forbidden.xml from 127.0.0.1 to a daemon whose only route allows 10.0.0.0/8 — and targets
/// the callee, so a routing slip would reach it. The callee (call_uas_none.xml) fails on anything that
/// arrives; given nothing it stops at its global timeout with exit code 97 and an empty message trace.
fn no_route_is_forbidden(transport: Transport) {
    const SILENT_FOR: Duration = Duration::from_secs(4);
    let mut callee = Sipp::new("call_uas_none.xml")
        .args(["-t", transport.sipp(), "-m", "1", "-timeout", &format!("{}s", SILENT_FOR.as_secs())])
        .timeout(OUTER_TIMEOUT)
        .spawn();
    callee.wait_listening(Duration::from_secs(5));
    let listening = Instant::now();
    let daemon = daemon_routing("10.0.0.0/8", callee.port(), transport);
    let caller = run_caller("call_uac_forbidden.xml", &daemon, transport, 1, &[]);
    let caller_done = listening.elapsed();
    let callee = callee.wait();
    let run = CallRun { caller, callee, daemon };
    assert!(run.caller.success(), "the caller must get its 403\n{}", run.report());
    assert!(
        caller_done + Duration::from_secs(1) < SILENT_FOR,
        "the caller took {caller_done:?}: too late to judge the callee's silence\n{}",
        run.report()
    );
    assert_eq!(run.callee.code, Some(97), "the callee must see nothing and time out\n{}", run.report());
    assert!(run.callee.messages().trim().is_empty(), "the callee received something\n{}", run.report());
    assert!(run.daemon.log().contains("no route allows this INVITE: 403"), "{}", run.report());
    run.assert_no_call();
}

#[test]
fn sipp_calls_no_route_gets_403_and_the_callee_sees_nothing_over_udp() {
    no_route_is_forbidden(Transport::Udp);
}

#[test]
fn sipp_calls_no_route_gets_403_and_the_callee_sees_nothing_over_tcp() {
    no_route_is_forbidden(Transport::Tcp);
}

// ---------------------------------------------------------------------------------------------------
// Load, and the checks themselves
// ---------------------------------------------------------------------------------------------------

/// 200 basic calls at 20 calls/s over UDP, 500 ms each: every one must succeed on both sides, each with
/// its own leg B Call-ID, and the daemon must log 200 ends by the caller's BYE.
#[test]
fn sipp_calls_200_calls_at_20_per_second_over_udp() {
    const CALLS: u32 = 200;
    let transport = Transport::Udp;
    let callee = start_callee("call_uas.xml", transport, CALLS, &[]);
    let daemon = daemon_routing("127.0.0.0/8", callee.port(), transport);
    let caller =
        run_caller("call_uac.xml", &daemon, transport, CALLS, &["-r", "20", "-rp", "1000", "-d", "500"]);
    let callee = callee.wait();
    let run = CallRun { caller, callee, daemon };
    assert_eq!(run.caller.code, Some(0), "the caller's exit code\n{}", run.report());
    run.assert_success();
    run.assert_bridged(CALLS as usize);
    run.assert_ended("BYE from leg A", CALLS as usize);
}

/// The callee's checks bite: call_uac.xml straight to call_uas.xml, no daemon between them, so the
/// INVITE carries the caller's own Call-ID, which cannot end in `@sst-b2bua`.
#[test]
fn sipp_calls_callee_check_fails_without_the_b2bua() {
    let callee = start_callee("call_uas.xml", Transport::Udp, 1, &[]);
    let caller = Sipp::new("call_uac.xml")
        .remote(callee.addr())
        .args(["-t", "u1", "-m", "1", "-timeout", "10s", "-timeout_error"])
        .timeout(OUTER_TIMEOUT)
        .run();
    let callee = callee.wait();
    let report = format!("=== caller ===\n{}\n=== callee ===\n{}", caller.report(), callee.report());
    assert_eq!(callee.code, Some(1), "the Call-ID check must fail the call\n{report}");
    assert!(callee.errors().contains("Failed regexp match"), "{report}");
    assert!(callee.errors().contains("@sst-b2bua"), "{report}");
}
