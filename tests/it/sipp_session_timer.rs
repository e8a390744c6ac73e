//! RFC 4028 session timers on the wire (the `sipp/st_*.xml` scenarios): SIPp on both legs of the real
//! daemon at the RFC floor, Session-Expires 90, so a refresh is due 45 s after the 2xx and an expiry
//! 60 s after it (interval − min(32, interval/3)). Each scenario holds its own timing window — a
//! `<pause>` in which any message fails the call, then a `<recv timeout>` — and checks headers and SDP
//! with `<ereg check_it="true">`, `<strcmp>` and `<test>`, so SIPp exits 1 on a wrong message, an early
//! one or a late one. On top, the test reads the daemon's log (who refreshed, what expired, why the call
//! ended) and the timings the scenarios log. Every test starts its own daemon and SIPp pair on free
//! ports: the tests are independent and cargo runs them in parallel (about a minute each). See
//! sipp/README.md.

use std::time::{Duration, Instant};

use crate::daemon::{Daemon, POLL};
use crate::sipp::{self, Bounds, CallRun, Sipp, SippProcess, SippResult, Transport};

/// The harness's outer bound on a SIPp run.
const OUTER_TIMEOUT: Duration = Duration::from_secs(180);
/// SIPp's own global timeout (`-timeout`, with `-timeout_error`): longer than any call here (~75 s).
const BOUNDS: Bounds = Bounds { sipp: "150s", outer: OUTER_TIMEOUT };
/// How long a daemon log line may lag behind the SIPp run that caused it.
const LOG_WAIT: Duration = Duration::from_secs(5);
/// How long an ended call may stay in the daemon's tables: its transactions absorb retransmissions for
/// up to 64·T1 = 32 s (RFC 3261 Timer J, RFC 6026 Timers L and M), then it must be gone.
const INDEX_DRAIN: Duration = Duration::from_secs(45);
/// A `stats` line each second, for `assert_index_empty`.
const STATS_EVERY_SECOND: &str = "limits: { stats_interval: 1 }\n";

/// The RFC floor on every leg: Session-Expires 90, Min-SE 90, the daemon prefers to refresh.
const TIMER_90: &str =
    "session_timer: { enabled: true, default_expires: 90, min_se: 90, prefer_refresher: uac, use_update: false }";
/// The recommended interval on every leg (a route's override can bring one leg down).
const TIMER_1800: &str = "session_timer: { enabled: true, default_expires: 1800, min_se: 90, prefer_refresher: uac, use_update: false }";

/// A daemon with the global `session_timer` block `timer` and one route from 127.0.0.0/8 to the callee
/// on 127.0.0.1:`callee_port`, with the route's own `session_timer` override if given (the policy of
/// leg B, since the route goes to a URI and not to a trunk), and `extra` config blocks.
fn daemon_routing(
    timer: &str,
    route_timer: Option<&str>,
    callee_port: u16,
    transport: Transport,
    extra: &str,
) -> Daemon {
    let route_timer = route_timer.map(|t| format!(", session_timer: {t}")).unwrap_or_default();
    Daemon::start(&format!(
        "{timer}\nroutes:\n  - {{ name: callee, from: {{ source: 127.0.0.0/8 }}, to: \"sip:127.0.0.1:{callee_port}{}\"{route_timer} }}\n{extra}",
        transport.uri_param()
    ))
}

/// Starts the callee scenario `uas` for one call on a free port and waits until it listens.
fn start_callee(uas: &str, transport: Transport) -> SippProcess {
    sipp::start_callee(uas, transport, 1, &[], BOUNDS)
}

/// Runs the caller scenario `uac` against the daemon for one call, in the foreground.
fn run_caller(uac: &str, daemon: &Daemon, transport: Transport, extra: &[&str]) -> SippResult {
    sipp::run_caller(uac, daemon, transport, 1, extra, BOUNDS)
}

/// One call: the callee `uas` behind a daemon configured by `timer` and `route_timer`, the caller `uac`.
fn call(uac: &str, uas: &str, transport: Transport, timer: &str, route_timer: Option<&str>) -> TimerCall {
    let started = Instant::now();
    let callee = start_callee(uas, transport);
    let daemon = daemon_routing(timer, route_timer, callee.port(), transport, STATS_EVERY_SECOND);
    let caller = run_caller(uac, &daemon, transport, &[]);
    let callee = callee.wait();
    TimerCall { run: CallRun { caller, callee, daemon }, elapsed: started.elapsed() }
}

/// A call's SIPp runs and daemon, and how long the whole test took.
struct TimerCall {
    run: CallRun,
    elapsed: Duration,
}

impl std::ops::Deref for TimerCall {
    type Target = CallRun;
    fn deref(&self) -> &CallRun {
        &self.run
    }
}

impl TimerCall {
    /// The daemon's log, once it holds `needle` (bounded wait: the log may lag).
    fn log_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let log = self.daemon.log();
            if log.contains(needle) || Instant::now() >= deadline {
                return log;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The daemon logged lines containing every one of `parts` exactly `count` times (waiting for the
    /// first only when one is expected: check the call's end first, then what must be absent). Quotes
    /// are ignored: tracing writes a `&str` field as `refresher="us"`.
    #[track_caller]
    fn assert_logged(&self, parts: &[&str], count: usize) {
        let log = if count > 0 { self.log_with(parts[0]) } else { self.daemon.log() };
        let found =
            log.lines().map(|l| l.replace('"', "")).filter(|l| parts.iter().all(|p| l.contains(p))).count();
        assert_eq!(found, count, "daemon log lines with {parts:?}\n{}", self.report());
    }

    /// The call ended once, for `reason`.
    #[track_caller]
    fn assert_ended(&self, reason: &str) {
        let needle = format!("call ended reason={reason} ");
        let log = self.log_with(&needle);
        assert_eq!(log.matches("call ended").count(), 1, "`call ended` lines\n{}", self.report());
        assert_eq!(log.matches(&needle).count(), 1, "`{needle}` lines\n{}", self.report());
    }

    /// The ended call left the daemon's tables: a `stats` line begun after this call says
    /// `live_calls=0 index_entries=0` within `INDEX_DRAIN` (the daemon logs one a second).
    #[track_caller]
    fn assert_index_empty(&self) {
        let mark = self.daemon.log().len();
        let deadline = Instant::now() + INDEX_DRAIN;
        loop {
            let log = self.daemon.log();
            // Lines after the first newline past the mark were begun after it.
            let fresh = log.get(mark..).and_then(|f| f.split_once('\n')).map_or("", |(_, rest)| rest);
            let empty = fresh
                .lines()
                .filter(|l| l.contains(" stats "))
                .any(|l| l.contains(" live_calls=0 ") && l.contains(" index_entries=0 "));
            if empty {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the call index was not empty within {INDEX_DRAIN:?}\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The seconds a scenario logged as `<what> after N s` (its own stopwatch, see the scenarios).
    #[track_caller]
    fn seconds_logged(&self, side: &SippResult, what: &str) -> f64 {
        let prefix = format!("{what} after ");
        let values: Vec<f64> = side
            .logs()
            .lines()
            .filter_map(|l| l.split_once(prefix.as_str()))
            .filter_map(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(values.len(), 1, "`{prefix}N s` logged once\n{}", self.report());
        values[0]
    }

    #[track_caller]
    fn assert_within(&self, side: &SippResult, what: &str, from: f64, to: f64) -> f64 {
        let seconds = self.seconds_logged(side, what);
        assert!(
            (from..=to).contains(&seconds),
            "{what} after {seconds} s, not in {from}–{to} s\n{}",
            self.report()
        );
        eprintln!("{what} after {seconds:.3} s (window {from}–{to} s); test took {:.1?}", self.elapsed);
        seconds
    }
}

// ---------------------------------------------------------------------------------------------------
// 1. The daemon refreshes leg B with the SDP it last sent there
// ---------------------------------------------------------------------------------------------------

/// st_refresh_uac.xml → st_refresh_uas.xml at Session-Expires 90: the callee answers `refresher=uac`, so
/// the daemon refreshes leg B at 45 s (window 40–52 s after the ACK) with a re-INVITE carrying the SDP
/// of the initial INVITE byte for byte and `Session-Expires: 90;refresher=uac`. The caller refreshes
/// leg A itself and sees nothing of it; it hangs up at 54 s, before leg A's own expiry.
fn daemon_refreshes_leg_b(transport: Transport) {
    let run = call("st_refresh_uac.xml", "st_refresh_uas.xml", transport, TIMER_90, None);
    run.assert_success();
    run.assert_ended("BYE from leg A");
    run.assert_within(&run.callee, "refresh", 40.0, 52.0);
    run.assert_logged(&["session timer negotiated", "leg=A", "interval=90", "refresher=peer"], 1);
    run.assert_logged(&["session timer negotiated", "leg=B", "interval=90", "refresher=us"], 1);
    run.assert_logged(&["session refresh sent", "leg=B", "method=INVITE", "interval=90"], 1);
    run.assert_logged(&["session refresh sent"], 1);
    run.assert_logged(&["session refreshed", "leg=B", "interval=90"], 1);
    run.assert_logged(&["session timer expired: ending the call"], 0);
}

#[test]
fn sipp_session_timer_daemon_refreshes_leg_b_with_the_stored_sdp_over_udp() {
    daemon_refreshes_leg_b(Transport::Udp);
}

#[test]
fn sipp_session_timer_daemon_refreshes_leg_b_with_the_stored_sdp_over_tcp() {
    daemon_refreshes_leg_b(Transport::Tcp);
}

// ---------------------------------------------------------------------------------------------------
// 2. A refresher that never refreshes: expiry, BYE on both legs with cause 408
// ---------------------------------------------------------------------------------------------------

/// st_expiry_uac.xml → st_expiry_uas.xml: leg A runs at 1800 s (the global block; the caller
/// refreshes), leg B at 90 s (the route's override). The callee's 200 says `refresher=uas` and it never
/// refreshes: at 60 s the daemon ends the call with a BYE on both legs carrying `Reason:
/// SIP;cause=408;text="Session timer expired"` (each side's window: 55–92 s after the 200/ACK), and the
/// call leaves the daemon's tables.
#[test]
fn sipp_session_timer_refresher_uas_that_never_refreshes_gets_bye_with_408_over_udp() {
    let run = call(
        "st_expiry_uac.xml",
        "st_expiry_uas.xml",
        Transport::Udp,
        TIMER_1800,
        Some("{ default_expires: 90 }"),
    );
    run.assert_success();
    run.assert_ended("session timer expired on leg B");
    let callee_bye = run.assert_within(&run.callee, "BYE", 55.0, 92.0);
    let caller_bye = run.assert_within(&run.caller, "BYE", 55.0, 92.0);
    assert!(
        (callee_bye - 60.0).abs() < 3.0,
        "leg B expired after {callee_bye} s, not ~60 s\n{}",
        run.report()
    );
    assert!((caller_bye - 60.0).abs() < 3.0, "leg A's BYE after {caller_bye} s, not ~60 s\n{}", run.report());
    run.assert_logged(&["session timer negotiated", "leg=A", "interval=1800", "refresher=peer"], 1);
    run.assert_logged(&["session timer negotiated", "leg=B", "interval=90", "refresher=peer"], 1);
    run.assert_logged(
        &["session timer expired: ending the call", "leg=B", "interval=90", "refresher=peer"],
        1,
    );
    run.assert_logged(&["session timer expired: ending the call"], 1);
    run.assert_logged(&["session refresh sent"], 0);
    // RFC 4028 §10 via the checklist: an expired call is removed from every table.
    run.assert_index_empty();
}

// ---------------------------------------------------------------------------------------------------
// 3. 422 from the callee: the daemon retries, the caller never sees it
// ---------------------------------------------------------------------------------------------------

/// call_uac.xml → st_callee_422_uas.xml: the callee answers the first INVITE `422` with `Min-SE: 180`;
/// the daemon retries on the same Call-ID with a new From tag, a higher CSeq, `Min-SE: 180` and a
/// Session-Expires of at least 180, and the caller (which fails on any 422) gets 100/180/200.
#[test]
fn sipp_session_timer_callee_422_is_retried_with_its_min_se_over_udp() {
    let callee = start_callee("st_callee_422_uas.xml", Transport::Udp);
    let daemon = daemon_routing(TIMER_90, None, callee.port(), Transport::Udp, "");
    let caller = run_caller("call_uac.xml", &daemon, Transport::Udp, &["-d", "1000"]);
    let callee = callee.wait();
    let run = TimerCall { run: CallRun { caller, callee, daemon }, elapsed: Duration::ZERO };
    run.assert_success();
    run.assert_ended("BYE from leg A");
    run.assert_logged(&["leg B answered 422: retrying with its Min-SE", "asked=180"], 1);
    run.assert_logged(&["session timer negotiated", "leg=B", "interval=180", "refresher=us"], 1);
}

// ---------------------------------------------------------------------------------------------------
// 4. A caller below min_se: 422 with our Min-SE, nothing forwarded; its retry is bridged
// ---------------------------------------------------------------------------------------------------

/// The daemon's min_se is 120 on every leg.
const TIMER_MIN_SE_120: &str = "session_timer: { enabled: true, default_expires: 1800, min_se: 120, prefer_refresher: uac, use_update: false }";

/// st_caller_422_uac.xml (`Supported: timer`, Session-Expires 90, Min-SE 90) gets `422` with `Min-SE:
/// 120`. The callee (call_uas_none.xml) fails on anything that arrives; given nothing it stops at its
/// global timeout with exit code 97 and an empty message trace.
#[test]
fn sipp_session_timer_caller_below_min_se_gets_422_and_the_callee_sees_nothing_over_udp() {
    const SILENT_FOR: Duration = Duration::from_secs(4);
    let transport = Transport::Udp;
    let mut callee = Sipp::new("call_uas_none.xml")
        .args(["-t", transport.sipp(), "-m", "1", "-timeout", &format!("{}s", SILENT_FOR.as_secs())])
        .timeout(OUTER_TIMEOUT)
        .spawn();
    callee.wait_listening(Duration::from_secs(5));
    let listening = Instant::now();
    let daemon = daemon_routing(TIMER_MIN_SE_120, None, callee.port(), transport, "");
    let caller = run_caller("st_caller_422_uac.xml", &daemon, transport, &[]);
    let caller_done = listening.elapsed();
    let callee = callee.wait();
    let run = TimerCall { run: CallRun { caller, callee, daemon }, elapsed: Duration::ZERO };
    assert!(run.caller.success(), "the caller must get its 422\n{}", run.report());
    run.assert_callee_untouched(caller_done, SILENT_FOR);
    run.assert_ended("rejected with 422");
    run.assert_logged(&["caller's Session-Expires below our Min-SE: 422", "min_se=120"], 1);
    run.assert_logged(&["call answered"], 0);
}

/// st_caller_422_retry_uac.xml → st_caller_422_retry_uas.xml: after the 422 the caller retries on the
/// same Call-ID (CSeq 2, Session-Expires 120, Min-SE 120) and the call is bridged. Leg A gets
/// `Session-Expires: 120;refresher=uac`; leg B is asked for its own 1800 with Min-SE 120 — nothing of
/// leg A's values crosses.
#[test]
fn sipp_session_timer_caller_retry_after_422_is_bridged_over_udp() {
    let run = call(
        "st_caller_422_retry_uac.xml",
        "st_caller_422_retry_uas.xml",
        Transport::Udp,
        TIMER_MIN_SE_120,
        None,
    );
    run.assert_success();
    // The refused INVITE already logged `call ended reason=rejected with 422` (see the report): only
    // the end of the bridged call is checked here.
    run.assert_logged(&["call ended reason=BYE from leg A "], 1);
    run.assert_logged(&["caller's Session-Expires below our Min-SE: 422", "min_se=120"], 1);
    run.assert_logged(&["caller retried after 422"], 1);
    run.assert_logged(&["session timer negotiated", "leg=A", "interval=120", "refresher=peer"], 1);
    run.assert_logged(&["session timer negotiated", "leg=B", "interval=1800", "refresher=us"], 1);
}

// ---------------------------------------------------------------------------------------------------
// 5. The caller's refresh is answered on leg A alone and re-arms leg A's timer
// ---------------------------------------------------------------------------------------------------

/// st_peer_refresh_uac.xml → st_peer_refresh_uas.xml: leg A at 90 s with the caller as refresher, leg B
/// at 1800 s (the route's override, so the daemon's own refresh of leg B is 15 minutes away). The
/// caller's refresh at 40 s (same SDP) gets a 200 with Session-Expires and leg A's last SDP from the
/// daemon itself; the callee fails if it arrives there. The caller then stays on until 70 s, past the
/// 60 s at which leg A would have expired had the refresh not re-armed it.
#[test]
fn sipp_session_timer_caller_refresh_is_answered_on_leg_a_alone_over_udp() {
    let run = call(
        "st_peer_refresh_uac.xml",
        "st_peer_refresh_uas.xml",
        Transport::Udp,
        TIMER_90,
        Some("{ default_expires: 1800 }"),
    );
    run.assert_success();
    run.assert_ended("BYE from leg A");
    run.assert_logged(&["session timer negotiated", "leg=A", "interval=90", "refresher=peer"], 1);
    run.assert_logged(&["session timer negotiated", "leg=B", "interval=1800", "refresher=us"], 1);
    run.assert_logged(&["peer's refresh answered on its own leg", "leg=A", "method=INVITE"], 1);
    run.assert_logged(&["session refresh sent"], 0);
    run.assert_logged(&["session timer expired: ending the call"], 0);
}

// ---------------------------------------------------------------------------------------------------
// The checks themselves
// ---------------------------------------------------------------------------------------------------

/// st_callee_422_uas.xml's `<test>` and `<strcmp>` bite: st_harness_422_retry_uac.xml plays the
/// daemon's side straight at it, no daemon between, with a retry whose Session-Expires is below the
/// 422's Min-SE, then with a retry that reuses the first From tag. Each must fail the call (SIPp
/// exits 1) at that check, which logs why. (The SDP comparisons of st_refresh_uas.xml use the same
/// `<strcmp>` then `<nop test>` pattern.)
#[test]
fn sipp_session_timer_callee_422_checks_fail_on_a_bad_retry() {
    for (retry_se, retry_tag, failure) in [
        ("150", "10", "FAILED: the retry Session-Expires 150 is below 180"),
        ("180", "00", "FAILED: the retry reuses the From tag"),
    ] {
        let mut callee = Sipp::new("st_callee_422_uas.xml")
            .args(["-t", "u1", "-m", "1", "-timeout", "10s", "-timeout_error"])
            .timeout(Duration::from_secs(20))
            .spawn();
        callee.wait_listening(Duration::from_secs(5));
        let caller = Sipp::new("st_harness_422_retry_uac.xml")
            .remote(callee.addr())
            .args(["-t", "u1", "-m", "1", "-timeout", "10s", "-timeout_error", "-cid_str", "%u-%p@sst-b2bua"])
            .args(["-key", "retry_se", retry_se, "-key", "retry_tag", retry_tag])
            .timeout(Duration::from_secs(20))
            .run();
        let callee = callee.wait();
        let report = format!("=== harness ===\n{}\n=== callee ===\n{}", caller.report(), callee.report());
        assert_eq!(callee.code, Some(1), "the check must fail the call\n{report}");
        assert!(callee.logs().contains(failure), "`{failure}` not logged\n{report}");
        assert!(callee.logs().contains("ACK for the 422"), "the harness did not get that far\n{report}");
    }
}
