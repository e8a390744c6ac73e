//! Calls through the real daemon with SIPp on both legs (the `sipp/call_*.xml` scenarios): the caller
//! talks to the daemon (leg A), the daemon calls a SIPp callee on a free port through a `routes` entry
//! (leg B). Every scenario checks what it receives with `<ereg check_it="true">` — leg B's Call-ID is
//! the daemon's (`…@sst-b2bua`), each side sees the other's SDP — so a wrong message fails the call and
//! SIPp exits 1. On top, the test ties the two legs together through the daemon's log (`call{a=… b=…}`)
//! and checks why the call ended. Each test starts its own daemon and SIPp pair on free ports, over UDP
//! and over TCP (both legs the same transport). Every test with a daemon ends by waiting for the
//! daemon's `stats` line to show the call index empty (`wait_for_empty_index`): every call ended on both
//! legs and left no entry behind. See sipp/README.md.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use crate::daemon::{Daemon, POLL};
use crate::sipp::{self, Bounds, CallRun, Sipp, SippProcess, SippResult, Transport};

/// SIPp's own global timeout for one call (`-timeout`, with `-timeout_error`) and the outer bound.
const BOUNDS: Bounds = Bounds { sipp: "30s", outer: OUTER_TIMEOUT };
/// The harness's outer bound on a SIPp run.
const OUTER_TIMEOUT: Duration = Duration::from_secs(45);
/// How long a daemon log line may lag behind the SIPp run that caused it.
const LOG_WAIT: Duration = Duration::from_secs(5);
/// Every daemon here logs its `stats` line each second, for `wait_for_empty_index`.
const STATS_EVERY_SECOND: &str = "limits: { stats_interval: 1 }\n";
/// How long a finished call may stay in the daemon's index while its transactions absorb
/// retransmissions: up to 64·T1 = 32 s — over UDP RFC 3261's Timers D and J, and after a 2xx on any
/// transport RFC 6026's Timers L and M (an unanswered call over TCP leaves at once) — plus a stats
/// interval and slack. Most tests spend about 33 s of it (in parallel with the other tests).
const INDEX_DRAIN: Duration = Duration::from_secs(45);
/// The trunk's credentials the callee checks (sipp/call_uas_auth407.xml, call_uas_auth401.xml).
const TRUNK_USER: &str = "trunkuser";
const TRUNK_PASSWORD: &str = "s3cret";

/// A daemon with one route: INVITEs from `source` (a CIDR) go to the callee on 127.0.0.1:`callee_port`.
fn daemon_routing(source: &str, callee_port: u16, transport: Transport) -> Daemon {
    Daemon::start(&format!(
        "routes:\n  - {{ name: callee, from: {{ source: {source} }}, to: \"sip:127.0.0.1:{callee_port}{}\" }}\n\
         {STATS_EVERY_SECOND}",
        transport.uri_param()
    ))
}

/// A daemon with one trunk `t`: the callee on 127.0.0.1:`callee_port`, digest credentials `TRUNK_USER`
/// and `password` (its `inbound_from` is a documentation range, so it matches no test traffic), and one
/// route sending every INVITE from 127.0.0.0/8 to it.
fn daemon_with_trunk(callee_port: u16, transport: Transport, password: &str) -> Daemon {
    Daemon::start(&format!(
        "trunks:\n  - {{ name: t, uri: \"sip:127.0.0.1:{callee_port}{}\", inbound_from: [192.0.2.0/24], \
         username: {TRUNK_USER}, password: {password} }}\n\
         routes:\n  - {{ name: out, from: {{ source: 127.0.0.0/8 }}, to: {{ trunk: t }} }}\n\
         {STATS_EVERY_SECOND}",
        transport.uri_param()
    ))
}

/// Starts the callee scenario `uas` on a free port for `calls` calls and waits until it listens.
fn start_callee(uas: &str, transport: Transport, calls: u32, extra: &[&str]) -> SippProcess {
    sipp::start_callee(uas, transport, calls, extra, BOUNDS)
}

fn run_caller(uac: &str, daemon: &Daemon, transport: Transport, calls: u32, extra: &[&str]) -> SippResult {
    sipp::run_caller(uac, daemon, transport, calls, extra, BOUNDS)
}

impl CallRun {
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

    /// The daemon's log contains `needle` exactly `times` times.
    #[track_caller]
    fn assert_daemon_logged(&self, needle: &str, times: usize) {
        let found = self.daemon.log().matches(needle).count();
        assert_eq!(found, times, "daemon log lines with `{needle}`\n{}", self.report());
    }

    /// Nothing is lost: once both SIPp sides are done, every call must end on both legs and leave the
    /// daemon's call index (see `wait_for_empty_index`).
    #[track_caller]
    fn assert_index_empty(&self) {
        if let Err(why) = wait_for_empty_index(&self.daemon, INDEX_DRAIN) {
            panic!("{why}\n{}", self.report());
        }
    }
}

/// Waits until the daemon logs a `stats` line with `live_calls=0` and `index_entries=0` that it began
/// after this function was called — so call it once the scenario has finished. Needs a daemon started
/// with `STATS_EVERY_SECOND`. Returns how long it took, or why it gave up after `timeout` (the `stats`
/// lines seen meanwhile).
fn wait_for_empty_index(daemon: &Daemon, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let log = daemon.log();
    let mark = log.len();
    // A line being written at the mark was begun before it: only the lines after it count.
    let mid_line = log.ends_with(|c| c != '\n');
    let seen: Vec<(usize, usize)> = loop {
        let log = daemon.log();
        let fresh = log.get(mark..).unwrap_or("");
        let fresh = if mid_line { fresh.split_once('\n').map_or("", |(_, rest)| rest) } else { fresh };
        let seen: Vec<_> =
            fresh.split_inclusive('\n').filter(|l| l.ends_with('\n')).filter_map(stats_of).collect();
        if seen.iter().any(|&(live, entries)| live == 0 && entries == 0) {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= timeout {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let last: Vec<String> =
        seen.iter().rev().take(5).rev().map(|(l, e)| format!("live_calls={l} index_entries={e}")).collect();
    Err(if seen.is_empty() {
        format!("no `stats` line within {timeout:?} after the scenario: is limits.stats_interval set?")
    } else {
        format!(
            "the call index was not empty within {timeout:?} after the scenario ({} stats lines, the last: {})",
            seen.len(),
            last.join("; ")
        )
    })
}

/// `(live_calls, index_entries)` of a daemon `stats` log line.
fn stats_of(line: &str) -> Option<(usize, usize)> {
    let rest = line.split_once(" stats ")?.1;
    let field = |name: &str| -> Option<usize> {
        let value = rest.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?;
        value.parse().ok()
    };
    Some((field("live_calls")?, field("index_entries")?))
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
    call_via(uac, uas, transport, caller_args, callee_args, |port| {
        daemon_routing("127.0.0.0/8", port, transport)
    })
}

/// One call as `call`, through the daemon `start_daemon` makes for the callee's port.
fn call_via(
    uac: &str,
    uas: &str,
    transport: Transport,
    caller_args: &[&str],
    callee_args: &[&str],
    start_daemon: impl FnOnce(u16) -> Daemon,
) -> CallRun {
    let callee = start_callee(uas, transport, 1, callee_args);
    let daemon = start_daemon(callee.port());
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
    run.assert_index_empty();
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
    run.assert_index_empty();
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
    run.assert_index_empty();
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
    run.assert_index_empty();
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
    run.assert_index_empty();
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
    run.assert_index_empty();
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
    run.assert_index_empty();
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
    run.assert_callee_untouched(caller_done, SILENT_FOR);
    assert!(run.daemon.log().contains("no route allows this INVITE: 403"), "{}", run.report());
    run.assert_no_call();
    run.assert_index_empty();
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
// A trunk that asks for credentials (RFC 3261 §22.2-§22.3)
// ---------------------------------------------------------------------------------------------------

/// The parameters of a `Digest k=v, k="v", …` credentials value, names lower-cased, quotes removed.
fn digest_params(credentials: &str) -> HashMap<String, String> {
    let rest = credentials.trim();
    let rest = rest.get(..7).filter(|s| s.eq_ignore_ascii_case("digest ")).map_or("", |_| &rest[7..]);
    let mut params = HashMap::new();
    let mut chars = rest.char_indices().peekable();
    let mut start = 0;
    let mut quoted = false;
    let mut split = Vec::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => {
                chars.next();
            }
            ',' if !quoted => {
                split.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    split.push(&rest[start..]);
    for param in split {
        if let Some((name, value)) = param.split_once('=') {
            let value = value.trim();
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            params.insert(name.trim().to_ascii_lowercase(), value.to_owned());
        }
    }
    params
}

fn md5_hex(text: &str) -> String {
    format!("{:x}", Md5::digest(text.as_bytes()))
}

/// Whether the `response=` of `credentials` (MD5, qop=auth, as the callees ask for) is the RFC 2617
/// §3.2.2.1 request-digest for `method` and `password`, with every other input taken from the
/// credentials themselves. Computed here, independently of the daemon's digest code.
fn digest_matches(credentials: &str, method: &str, password: &str) -> Result<bool, String> {
    let params = digest_params(credentials);
    let get = |name: &str| params.get(name).ok_or_else(|| format!("no {name}= in {credentials}"));
    let algorithm = params.get("algorithm").map_or("MD5", String::as_str);
    if !algorithm.eq_ignore_ascii_case("MD5") || get("qop")? != "auth" {
        return Err(format!("not MD5 with qop=auth: {credentials}"));
    }
    let ha1 = md5_hex(&format!("{}:{}:{password}", get("username")?, get("realm")?));
    let ha2 = md5_hex(&format!("{method}:{}", get("uri")?));
    let expected = md5_hex(&format!("{ha1}:{}:{}:{}:auth:{ha2}", get("nonce")?, get("nc")?, get("cnonce")?));
    Ok(get("response")?.eq_ignore_ascii_case(&expected))
}

impl CallRun {
    /// The credentials the callee logged after `prefix` (one call, one retried INVITE).
    #[track_caller]
    fn credentials(&self, prefix: &str) -> String {
        let logged = logged_after(&self.callee.logs(), prefix);
        assert_eq!(logged.len(), 1, "the callee must log one `{prefix}`\n{}", self.report());
        logged.into_iter().next().unwrap_or_default()
    }

    /// The digest in `credentials` verifies with `password` and not with `other` (so it can fail).
    #[track_caller]
    fn assert_digest(&self, credentials: &str, password: &str, other: &str) {
        let with = |p: &str| {
            digest_matches(credentials, "INVITE", p).unwrap_or_else(|e| panic!("{e}\n{}", self.report()))
        };
        assert!(
            with(password),
            "the digest does not verify with password {password:?}: {credentials}\n{}",
            self.report()
        );
        assert!(
            !with(other),
            "the digest verifies with password {other:?} too: {credentials}\n{}",
            self.report()
        );
    }

    /// The trunk's challenges stayed on leg B: the caller's message trace has no 401 or 407.
    #[track_caller]
    fn assert_no_challenge_reached_the_caller(&self) {
        let messages = self.caller.messages();
        for status in ["SIP/2.0 401", "SIP/2.0 407"] {
            assert!(!messages.contains(status), "the caller received a {status}\n{}", self.report());
        }
    }
}

/// call_uac_auth.xml → call_uas_auth407.xml through trunk `t` (trunkuser/s3cret): the trunk's 407 is
/// answered by a retry with Proxy-Authorization (the callee checks Call-ID, From tag, CSeq 2, a new
/// branch, each digest parameter); the digest response is recomputed here; the caller sees 100, 180,
/// 200 and no 407.
fn trunk_challenges_with_407(transport: Transport) {
    let run = call_via(
        "call_uac_auth.xml",
        "call_uas_auth407.xml",
        transport,
        &["-d", "200"],
        &["-key", "trunk_verdict", "accept"],
        |port| daemon_with_trunk(port, transport, TRUNK_PASSWORD),
    );
    run.assert_success();
    run.assert_bridged(1);
    run.assert_no_challenge_reached_the_caller();
    let credentials = run.credentials("leg B Proxy-Authorization: ");
    run.assert_digest(&credentials, TRUNK_PASSWORD, "wrong");
    run.assert_daemon_logged("answering the trunk's digest challenge", 1);
    run.assert_daemon_logged("trunk refused our credentials", 0);
    run.assert_ended("BYE from leg A", 1);
    run.assert_index_empty();
}

#[test]
fn sipp_calls_trunk_407_is_answered_with_proxy_credentials_over_udp() {
    trunk_challenges_with_407(Transport::Udp);
}

#[test]
fn sipp_calls_trunk_407_is_answered_with_proxy_credentials_over_tcp() {
    trunk_challenges_with_407(Transport::Tcp);
}

/// The trunk's password is wrong in the daemon's config: the retried INVITE carries a digest that does
/// not verify with the trunk's password (checked here), the trunk (call_uas_auth407.xml, told to
/// refuse) challenges again, and the daemon gives up: no third INVITE within `-d 1000` ms, and the
/// caller (call_uac_forbidden.xml) gets 403 and never the 407.
#[test]
fn sipp_calls_trunk_407_with_a_wrong_password_gets_403_over_udp() {
    let transport = Transport::Udp;
    let run = call_via(
        "call_uac_forbidden.xml",
        "call_uas_auth407.xml",
        transport,
        &[],
        &["-key", "trunk_verdict", "refuse", "-d", "1000"],
        |port| daemon_with_trunk(port, transport, "wrong"),
    );
    run.assert_success();
    run.assert_bridged(1);
    run.assert_no_challenge_reached_the_caller();
    assert!(run.callee.logs().contains("refused the credentials"), "{}", run.report());
    let credentials = run.credentials("leg B Proxy-Authorization: ");
    run.assert_digest(&credentials, "wrong", TRUNK_PASSWORD);
    run.assert_daemon_logged("answering the trunk's digest challenge", 1);
    run.assert_daemon_logged("trunk refused our credentials", 1);
    run.assert_ended("rejected with 407", 1);
    run.assert_index_empty();
}

/// call_uac_auth.xml → call_uas_auth401.xml: the trunk challenges with 401 and SIPp itself verifies
/// the retry's Authorization (`<verifyauth>` with trunkuser/s3cret); recomputed here too.
#[test]
fn sipp_calls_trunk_401_digest_verified_by_sipp_over_udp() {
    let transport = Transport::Udp;
    let run = call_via("call_uac_auth.xml", "call_uas_auth401.xml", transport, &["-d", "200"], &[], |port| {
        daemon_with_trunk(port, transport, TRUNK_PASSWORD)
    });
    run.assert_success();
    run.assert_bridged(1);
    run.assert_no_challenge_reached_the_caller();
    assert!(run.callee.logs().contains("digest valid for trunkuser"), "{}", run.report());
    let credentials = run.credentials("leg B Authorization: ");
    run.assert_digest(&credentials, TRUNK_PASSWORD, "wrong");
    run.assert_daemon_logged("answering the trunk's digest challenge", 1);
    run.assert_ended("BYE from leg A", 1);
    run.assert_index_empty();
}

/// A wrong password against call_uas_auth401.xml: SIPp's `<verifyauth>` rejects the digest, the callee
/// challenges again and fails its call on purpose (exit code 1, `digest invalid` logged); the daemon
/// answers the caller 403.
#[test]
fn sipp_calls_trunk_401_with_a_wrong_password_fails_verifyauth_and_gets_403_over_udp() {
    let transport = Transport::Udp;
    let run = call_via("call_uac_forbidden.xml", "call_uas_auth401.xml", transport, &[], &[], |port| {
        daemon_with_trunk(port, transport, "wrong")
    });
    assert!(run.caller.success(), "the caller must get its 403\n{}", run.report());
    assert_eq!(run.callee.code, Some(1), "the callee's verifyauth must fail the call\n{}", run.report());
    assert!(run.callee.logs().contains("digest invalid for trunkuser"), "{}", run.report());
    assert!(!run.callee.logs().contains("digest valid for trunkuser"), "{}", run.report());
    run.assert_bridged(1);
    run.assert_no_challenge_reached_the_caller();
    run.assert_daemon_logged("trunk refused our credentials", 1);
    run.assert_ended("rejected with 401", 1);
    run.assert_index_empty();
}

/// The digest check above against RFC 2617 §3.5's worked example, and a wrong password.
#[test]
fn sipp_calls_digest_check_matches_rfc_2617_and_rejects_a_wrong_password() {
    let credentials = r#"Digest username="Mufasa", realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001,
        cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",
        opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    assert_eq!(digest_matches(credentials, "GET", "Circle Of Life"), Ok(true));
    assert_eq!(digest_matches(credentials, "GET", "circle of life"), Ok(false));
    assert_eq!(digest_matches(credentials, "POST", "Circle Of Life"), Ok(false));
    assert!(digest_matches("Digest username=\"a\"", "GET", "x").is_err());
}

/// `wait_for_empty_index` reads the daemon's `stats` lines.
#[test]
fn sipp_calls_stats_lines_are_read() {
    assert_eq!(
        stats_of("2026 INFO sst_b2bua::actor: stats live_calls=3 index_entries=6 tcp_connections=1\n"),
        Some((3, 6))
    );
    assert_eq!(stats_of("INFO call ended reason=BYE from leg A\n"), None);
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
    run.assert_index_empty();
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
