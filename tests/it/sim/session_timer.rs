//! RFC 4028 end to end in the simulated world: hours-long calls in virtual time with the daemon refreshing
//! both legs, a refresher that goes silent, refresh glare, and the failure ladder (422, 501 to UPDATE, a
//! trunk's 407) against scripted UAs — each over a perfect network with exact instants and counts, and over
//! lossy ones (several seeds, each failure naming its seed) where the call must simply survive or end
//! for the right reason.

use std::time::{Duration, Instant};

use sst_b2bua::config::{PreferRefresher, SessionTimerConfig};
use sst_b2bua::proto::call::{EndReason, LegId};
use sst_b2bua::sip::{Method, Refresher};

use super::{for_seeds, Answer, Net, Script, TimerScript, World};

const EXPIRED: &str = "SIP;cause=408;text=\"Session timer expired\"";
const HOUR: u64 = 3600;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Seeds per lossy scenario: 5 (these calls are long), or `SIM_SEEDS` for a longer soak.
fn seeds() -> std::ops::Range<u64> {
    let n = std::env::var("SIM_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    0..n
}

/// 5 % loss, 5 % duplication, 5–120 ms of jitter.
fn five_percent() -> Net {
    Net { loss: 0.05, dup: 0.05, delay: (Duration::from_millis(5), Duration::from_millis(120)) }
}

fn timer_on() -> SessionTimerConfig {
    // The defaults are 1800 s, Min-SE 90, the UAC refreshes, re-INVITE: only `enabled` differs.
    SessionTimerConfig { enabled: true, ..SessionTimerConfig::default() }
}

fn timer(refresher: Option<Refresher>) -> TimerScript {
    TimerScript { refresher, ..TimerScript::default() }
}

/// A caller that leaves leg A's refreshing to us (`refresher=uas`) and hangs up after `hangup`, if any.
fn caller(hangup: Option<u64>) -> Script {
    Script { hangup_after: hangup.map(secs), timer: Some(timer(Some(Refresher::Uas))), ..Script::default() }
}

/// A callee that answers after a second and takes the refresher its INVITE names (we refresh leg B).
fn callee(t: TimerScript) -> Script {
    Script {
        answer: Answer::Accept { after: secs(1), early_media: false },
        timer: Some(t),
        ..Script::default()
    }
}

/// A world with session timers on both legs.
fn world(seed: u64, net: Net, caller: Script, callee: Script) -> World {
    let mut w = World::new(seed, net, caller, callee);
    w.config.timer_a = timer_on();
    w.config.timer_b = timer_on();
    w
}

fn run(mut w: World, limit: u64) -> World {
    w.run(secs(limit));
    w.assert_clean();
    w
}

/// Consecutive gaps between instants.
fn gaps(at: &[Instant]) -> Vec<Duration> {
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

/// A 4-hour call with Session-Expires 1800 in which the daemon refreshes both legs: 16 refreshes each
/// (4 h / 900 s), every one carrying exactly the SDP last sent on that leg, answered 200.
fn four_hours_daemon_refreshes(seed: u64, net: Net) -> World {
    let w = run(world(seed, net, caller(Some(4 * HOUR + 60)), callee(timer(None))), 5 * HOUR);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::A)));
    for (ua, sent_there) in [(&w.caller, w.callee.sdp(1)), (&w.callee, w.caller.sdp(1))] {
        let got = &ua.log.refreshes;
        assert_eq!(got.len(), 16, "{}: 16 refreshes in 4 h: {got:#?}", ua.name);
        for r in got {
            assert_eq!((r.method.clone(), r.status), (Method::Invite, 200), "{}", ua.name);
            assert_eq!(r.sdp, sent_there, "{}: the SDP last sent on its leg, byte for byte", ua.name);
            assert_eq!(r.session_expires.as_deref(), Some("1800;refresher=uac"), "{}", ua.name);
        }
        let at: Vec<Instant> = got.iter().map(|r| r.at).collect();
        for gap in gaps(&at) {
            assert!(gap >= secs(900) && gap < secs(932), "{}: refresh every 900 s, got {gap:?}", ua.name);
        }
        assert!(ua.log.refreshed.is_empty(), "{} never refreshes itself", ua.name);
    }
    w
}

#[test]
fn four_hour_call_daemon_refreshes_both_legs() {
    for_seeds("four hours (perfect)", 0..2, |seed| {
        let w = four_hours_daemon_refreshes(seed, Net::perfect());
        for ua in [&w.caller, &w.callee] {
            let at: Vec<Instant> = ua.log.refreshes.iter().map(|r| r.at).collect();
            // Each refresh 900 s after the last 2xx, which took one round trip (2 × 20 ms).
            assert!(gaps(&at).iter().all(|g| *g == Duration::from_millis(900_040)), "{}: {at:?}", ua.name);
        }
    });
    for_seeds("four hours (5 % loss)", seeds(), |seed| {
        four_hours_daemon_refreshes(seed, five_percent());
    });
}

/// The callee is leg B's refresher, refreshes twice and goes silent: BYE on both legs, with the Reason,
/// 1768 s (1800 − 32) after the last 2xx.
fn silent_refresher(seed: u64, net: Net) -> World {
    let t = TimerScript { refreshes: 2, ..timer(Some(Refresher::Uas)) };
    let mut w = world(seed, net, caller(None), callee(t));
    w.config.timer_b.prefer_refresher = PreferRefresher::Uas;
    let w = run(w, 3 * HOUR);
    assert_eq!(w.end_reason(), Some(&EndReason::SessionExpired(LegId::B)));
    assert_eq!(w.callee.log.refreshed.len(), 2, "the callee refreshed twice");
    assert!(w.callee.log.refreshes.is_empty(), "we never refresh a leg whose peer is the refresher");
    assert!(!w.caller.log.refreshes.is_empty(), "we went on refreshing leg A meanwhile");
    for ua in [&w.caller, &w.callee] {
        assert_eq!(ua.log.bye_reason.as_deref(), Some(EXPIRED), "{}", ua.name);
    }
    w
}

#[test]
fn silent_refresher_ends_both_legs_at_1768_s() {
    for_seeds("silent refresher (perfect)", 0..2, |seed| {
        let w = silent_refresher(seed, Net::perfect());
        let (a, b) = (&w.caller.log, &w.callee.log);
        let last = *b.refreshed.last().expect("refreshed");
        assert_eq!(b.bye_at.map(|t| t - last), Some(secs(1768)), "1768 s after the last 2xx");
        assert_eq!(a.bye_at, b.bye_at, "both legs at once");
    });
    for_seeds("silent refresher (5 % loss)", seeds(), |seed| {
        let w = silent_refresher(seed, five_percent());
        let b = &w.callee.log;
        let after = b.bye_at.expect("BYE") - *b.refreshed.last().expect("refreshed");
        assert!(after > secs(1760) && after < secs(1776), "about 1768 s after the last 2xx: {after:?}");
    });
}

/// The callee re-INVITEs with a new offer at the very instant we refresh leg B: both get 491, both back
/// off (RFC 3261 §14.1), the offer goes through, refreshes go on, and the callee hangs up later.
fn refresh_glare(seed: u64, net: Net) -> World {
    let mut b = callee(timer(None));
    // The callee's ACK comes 20 ms after our arming at its 2xx: its re-INVITE leaves with our refresh.
    b.reinvite_after = Some(Duration::from_millis(899_980));
    b.hangup_after = Some(secs(2000));
    let w = run(world(seed, net, caller(None), b), 2 * HOUR);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::B)));
    assert_eq!(w.caller.log.reinvite_offer.as_deref(), Some(w.callee.sdp(2).as_str()), "the offer crossed");
    assert_eq!(
        w.callee.log.reinvite_answer.as_deref(),
        Some(w.caller.sdp(2).as_str()),
        "its answer came back"
    );
    let later = w.callee.log.refreshes.iter().filter(|r| r.status == 200).count();
    assert!(later >= 2, "refreshes went on after the glare: {:#?}", w.callee.log.refreshes);
    w
}

#[test]
fn refresh_glare_backs_off_and_the_call_survives() {
    for_seeds("refresh glare (perfect)", 0..3, |seed| {
        let w = refresh_glare(seed, Net::perfect());
        let b = &w.callee.log;
        assert_eq!(b.refreshes[0].status, 491, "the callee refused our refresh: its INVITE was open");
        assert_eq!(b.reinvite_491, 1, "and got 491 for its own");
    });
    for_seeds("refresh glare (5 % loss)", seeds(), |seed| {
        refresh_glare(seed, five_percent());
    });
}

/// A retry sent at once: one round trip later on a perfect network (2 × 20 ms), within the
/// retransmissions of the refused request and of its answer (Timer F) on a lossy one.
fn assert_at_once(gap: Duration, net: Net) {
    if net.loss == 0.0 {
        assert_eq!(gap, Duration::from_millis(40), "retried at once");
    } else {
        assert!(gap < secs(32), "retried at once: {gap:?}");
    }
}

/// The statuses, methods and Session-Expires of the refreshes the callee got, in order.
fn callee_saw(w: &World) -> Vec<(Method, u16, Option<String>)> {
    w.callee.log.refreshes.iter().map(|r| (r.method.clone(), r.status, r.session_expires.clone())).collect()
}

fn se(value: &str) -> Option<String> {
    Some(value.to_owned())
}

/// 422 to our refresh: retried at once with the callee's Min-SE, the next refresh half that later.
fn refresh_422(seed: u64, net: Net) -> World {
    let t = TimerScript { refuse: &[422], ..timer(None) };
    let w = run(world(seed, net, caller(Some(4000)), callee(t)), 2 * HOUR);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::A)));
    let raised = se("3600;refresher=uac");
    assert_eq!(
        callee_saw(&w),
        vec![
            (Method::Invite, 422, se("1800;refresher=uac")),
            (Method::Invite, 200, raised.clone()),
            (Method::Invite, 200, raised),
        ]
    );
    let at: Vec<Instant> = w.callee.log.refreshes.iter().map(|r| r.at).collect();
    assert_at_once(at[1] - at[0], net);
    assert!(at[2] - at[1] >= secs(1800) && at[2] - at[1] < secs(1832), "then every 1800 s");
    w
}

/// UPDATE refreshes (B allows UPDATE); a 501 switches leg B to re-INVITE at once, for good.
fn update_501(seed: u64, net: Net) -> World {
    let t = TimerScript { allow_update: true, refuse: &[501], ..timer(None) };
    let mut w = world(seed, net, caller(Some(2000)), callee(t));
    w.config.timer_b.use_update = true;
    let w = run(w, HOUR);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::A)));
    let s = se("1800;refresher=uac");
    assert_eq!(
        callee_saw(&w),
        vec![(Method::Update, 501, s.clone()), (Method::Invite, 200, s.clone()), (Method::Invite, 200, s)]
    );
    let got = &w.callee.log.refreshes;
    assert!(got[0].sdp.is_empty(), "a refresh UPDATE carries no SDP");
    assert_eq!(got[1].sdp, w.caller.sdp(1), "the re-INVITE carries the SDP last sent on B");
    assert_at_once(got[1].at - got[0].at, net);
    w
}

/// The trunk challenges our refresh: answered with credentials, once; the next refresh goes plainly.
fn trunk_407(seed: u64, net: Net) -> World {
    let t = TimerScript { refuse: &[407], ..timer(None) };
    let mut w = world(seed, net, caller(Some(2000)), callee(t));
    w.config.credentials = Some(("trunkuser".into(), "s3cret".into()));
    let w = run(w, HOUR);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::A)));
    let got = &w.callee.log.refreshes;
    let seen: Vec<(u16, bool)> = got.iter().map(|r| (r.status, r.authorized)).collect();
    assert_eq!(seen, vec![(407, false), (200, true), (200, false)]);
    assert!(got.iter().all(|r| r.sdp == w.caller.sdp(1)));
    w
}

#[test]
fn refresh_failure_ladder() {
    for (name, scenario) in [
        ("422 on a refresh", refresh_422 as fn(u64, Net) -> World),
        ("UPDATE refused with 501", update_501),
        ("trunk challenges the refresh", trunk_407),
    ] {
        for_seeds(&format!("{name} (perfect)"), 0..2, |seed| {
            scenario(seed, Net::perfect());
        });
        for_seeds(&format!("{name} (5 % loss)"), seeds(), |seed| {
            scenario(seed, five_percent());
        });
    }
}

/// A day-long call over 5 % loss: the caller refreshes leg A itself, we refresh leg B, both for 24 h.
fn day_long_call(seed: u64, net: Net) -> World {
    let a = Script {
        hangup_after: Some(secs(24 * HOUR + 60)),
        timer: Some(TimerScript { refreshes: u32::MAX, ..timer(Some(Refresher::Uac)) }),
        ..Script::default()
    };
    let w = run(world(seed, net, a, callee(timer(None))), 25 * HOUR);
    assert_eq!(w.end_reason(), Some(&EndReason::Bye(LegId::A)), "the call lived its day");
    assert!(w.elapsed() >= secs(24 * HOUR));
    // 24 h / 900 s = 96 on each leg; a few lost to back-off and retransmission delays at most.
    let by_caller = w.caller.log.refreshed.len();
    assert!((93..=96).contains(&by_caller), "the caller refreshed leg A {by_caller} times");
    let on_b = &w.callee.log.refreshes;
    assert!((93..=96).contains(&on_b.len()), "we refreshed leg B {} times", on_b.len());
    assert!(on_b.iter().all(|r| r.status == 200 && r.sdp == w.caller.sdp(1)));
    assert!(w.caller.log.refreshes.is_empty(), "we never refresh a leg the caller refreshes");
    w
}

#[test]
fn day_long_call_survives_five_percent_loss() {
    let w = day_long_call(0, Net::perfect());
    assert_eq!(w.caller.log.refreshed.len(), 96);
    assert_eq!(w.callee.log.refreshes.len(), 96);
    assert_eq!(w.caller.log.reinvite_491, 0, "a refresh on A is answered whatever B is doing");
    for_seeds("day-long call (5 % loss)", seeds(), |seed| {
        day_long_call(seed, five_percent());
    });
}
