//! The trunk monitor in virtual time: every instant is `base` plus milliseconds, handed in.

use std::time::{Duration, Instant};

use super::*;
use crate::config;
use crate::sip::build::response_to;
use crate::sip::{parse, SipHeaders};

const TRUNK: usize = 2;
const URI: &str = "sip:trunk.example.com:5070";

fn target(down_after: u32, up_after: u32) -> PingTarget {
    PingTarget {
        trunk: TRUNK,
        uri: Uri::parse(URI).unwrap(),
        interval: Duration::from_secs(5),
        down_after,
        up_after,
    }
}

fn hop(transport: &'static str) -> Hop {
    Hop { transport, local: HostPort::parse("192.0.2.10:5060").unwrap(), reliable: transport != "UDP" }
}

/// A monitor of one trunk with every output recorded, stamped in ms since `base`.
struct Rig {
    m: Monitor,
    base: Instant,
    hop: Hop,
    sent: Vec<(u64, Request)>,
    events: Vec<(u64, HealthEvent)>,
}

impl Rig {
    fn new(down_after: u32, up_after: u32, transport: &'static str) -> Rig {
        let base = Instant::now();
        let m = Monitor::new(base, vec![target(down_after, up_after)], TimerConfig::default(), 7);
        Rig { m, base, hop: hop(transport), sent: Vec::new(), events: Vec::new() }
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from((at - self.base).as_millis()).unwrap()
    }

    /// Collects what the monitor produced at `ms`, routing every due ping through `hop`.
    fn collect(&mut self, ms: u64) {
        while let Some(trunk) = self.m.poll_due() {
            assert_eq!(trunk, TRUNK);
            self.m.send_ping(self.at(ms), trunk, &self.hop.clone());
        }
        while let Some((trunk, request)) = self.m.poll_transmit() {
            assert_eq!(trunk, TRUNK);
            self.sent.push((ms, request));
        }
        while let Some(event) = self.m.poll_event() {
            self.events.push((ms, event));
        }
    }

    fn wake(&mut self, ms: u64) {
        self.m.handle_timeout(self.at(ms));
        self.collect(ms);
    }

    /// Wakes the monitor at every deadline it names up to `until` ms.
    fn run(&mut self, until: u64) {
        while let Some(at) = self.m.poll_timeout() {
            let ms = self.ms(at);
            if ms > until {
                break;
            }
            self.wake(ms);
        }
    }

    fn last(&self) -> Request {
        self.sent.last().expect("a ping was sent").1.clone()
    }

    /// The trunk answers the last ping with `status` at `ms`.
    fn answer(&mut self, ms: u64, status: u16) {
        let response = response_to(&self.last(), status, Some("trunk1"));
        self.m.handle_response(self.at(ms), response);
        self.collect(ms);
    }

    /// Pings due at `ms` (waking there) answered with `status` 20 ms later.
    fn ping(&mut self, ms: u64, status: u16) {
        let before = self.sent.len();
        self.wake(ms);
        assert_eq!(self.sent.len(), before + 1, "one ping at {ms} ms");
        self.answer(ms + 20, status);
    }

    fn changes(&self) -> Vec<(u64, bool)> {
        self.events.iter().map(|(ms, e)| (*ms, e.up)).collect()
    }
}

#[test]
fn the_options_request_is_well_formed_and_every_ping_is_new() {
    let mut rig = Rig::new(3, 2, "UDP");
    assert_eq!(rig.m.poll_timeout(), Some(rig.base), "the first ping is due at once");
    rig.wake(0);
    let first = rig.last();
    // Through the real parser: what goes on the wire is valid SIP.
    let Ok(Message::Request(parsed)) = parse(&first.to_bytes()) else { panic!("unparsable ping") };
    assert_eq!(parsed.method, Method::Options);
    assert_eq!(parsed.uri.to_string(), URI);
    assert_eq!(parsed.headers.get(&HeaderName::MAX_FORWARDS), Some("70"));
    let via = parsed.top_via().unwrap();
    assert_eq!(via.transport, "UDP");
    assert_eq!(via.sent_by.to_string(), "192.0.2.10:5060");
    assert!(via.branch().unwrap().starts_with("z9hG4bK"), "{via}");
    assert_eq!(via.params.get("rport"), Some(None));
    assert!(parsed.from_tag().is_some_and(|t| !t.is_empty()));
    assert_eq!(
        parsed.headers.get(&HeaderName::FROM).unwrap().split(';').next(),
        Some("<sip:sst-b2bua@192.0.2.10:5060>")
    );
    assert_eq!(parsed.headers.get(&HeaderName::TO), Some("<sip:trunk.example.com:5070>"));
    assert_eq!(parsed.to_tag(), None);
    assert!(parsed.call_id().unwrap().starts_with(CALL_ID_PREFIX));
    assert_eq!(parsed.headers.get(&HeaderName::CSEQ), Some("1 OPTIONS"));
    assert_eq!(parsed.headers.get(&HeaderName::CONTACT), Some("<sip:192.0.2.10:5060>"));
    assert_eq!(parsed.headers.get(&HeaderName::ACCEPT), Some("application/sdp"));
    rig.answer(30, 200);
    rig.wake(5000);
    let second = rig.last();
    assert_eq!(second.headers.get(&HeaderName::CSEQ), Some("2 OPTIONS"));
    assert_ne!(second.branch(), first.branch(), "a new transaction");
    assert_ne!(second.call_id(), first.call_id());
    assert_ne!(second.from_tag(), first.from_tag());
}

#[test]
fn n_failures_mark_the_trunk_down_exactly_at_the_nth() {
    let mut rig = Rig::new(3, 2, "UDP");
    rig.ping(0, 503);
    rig.ping(5000, 503);
    assert!(rig.m.is_up(TRUNK), "two failures of three");
    assert!(rig.events.is_empty());
    rig.ping(10_000, 503);
    assert!(!rig.m.is_up(TRUNK));
    assert_eq!(
        rig.events,
        [(10_020, HealthEvent { trunk: TRUNK, up: false, cause: Outcome::Answered(503) })]
    );
    // Further failures change nothing and say nothing.
    rig.ping(15_000, 503);
    assert_eq!(rig.events.len(), 1);
    assert!(!rig.m.is_up(TRUNK));
}

#[test]
fn m_successes_mark_it_up_again() {
    let mut rig = Rig::new(1, 2, "UDP");
    rig.ping(0, 503);
    assert!(!rig.m.is_up(TRUNK));
    rig.ping(5000, 200);
    assert!(!rig.m.is_up(TRUNK), "one success of two");
    rig.ping(10_000, 200);
    assert!(rig.m.is_up(TRUNK));
    assert_eq!(rig.changes(), [(20, false), (10_020, true)]);
    assert_eq!(rig.events[1].1.cause, Outcome::Answered(200));
}

#[test]
fn one_success_resets_the_failure_counter_and_one_failure_the_success_counter() {
    let mut rig = Rig::new(3, 2, "UDP");
    for (ms, status) in [(0, 503), (5000, 503), (10_000, 200), (15_000, 503), (20_000, 503)] {
        rig.ping(ms, status);
    }
    assert!(rig.m.is_up(TRUNK), "the success in between reset the count");
    rig.ping(25_000, 503);
    assert!(!rig.m.is_up(TRUNK));
    for (ms, status) in [(30_000, 200), (35_000, 408), (40_000, 200)] {
        rig.ping(ms, status);
    }
    assert!(!rig.m.is_up(TRUNK), "the failure in between reset the count");
    rig.ping(45_000, 200);
    assert_eq!(rig.changes(), [(25_020, false), (45_020, true)]);
}

#[test]
fn responses_408_and_503_are_failures_every_other_final_proves_the_trunk_alive() {
    for status in [200, 202, 302, 401, 403, 404, 405, 407, 420, 480, 486, 488, 500, 501, 600, 603] {
        assert!(Outcome::Answered(status).is_success(), "{status}");
        let mut rig = Rig::new(1, 1, "UDP");
        rig.ping(0, status);
        assert!(rig.m.is_up(TRUNK), "{status} shows a live trunk");
        assert!(rig.events.is_empty(), "{status}");
    }
    for status in [408, 503] {
        assert!(!Outcome::Answered(status).is_success(), "{status}");
        let mut rig = Rig::new(1, 1, "UDP");
        rig.ping(0, status);
        assert!(!rig.m.is_up(TRUNK), "{status} counts as a failure");
    }
    assert!(!Outcome::Timeout.is_success());
    assert!(!Outcome::Unreachable("x".into()).is_success());
}

#[test]
fn a_silent_trunk_over_udp_gets_retransmissions_then_times_out_on_timer_f() {
    let mut rig = Rig::new(1, 1, "UDP");
    rig.run(31_999);
    let instants: Vec<u64> = rig.sent.iter().map(|(ms, _)| *ms).collect();
    // RFC 3261 §17.1.2.2: Timer E from T1 = 500 ms doubling to T2 = 4 s.
    assert_eq!(instants, [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]);
    let first = rig.sent[0].1.to_bytes();
    assert!(rig.sent.iter().all(|(_, r)| r.to_bytes() == first), "retransmissions are the same request");
    assert!(rig.m.is_up(TRUNK));
    assert_eq!(rig.m.poll_timeout(), Some(rig.at(32_000)), "Timer F");
    rig.run(32_000);
    assert_eq!(rig.events, [(32_000, HealthEvent { trunk: TRUNK, up: false, cause: Outcome::Timeout })]);
    // The ping was due every 5 s: the next goes as soon as the silent one ended, a new transaction.
    let last = rig.last();
    assert_eq!(rig.sent.last().unwrap().0, 32_000);
    assert_eq!(last.headers.get(&HeaderName::CSEQ), Some("2 OPTIONS"));
    assert_ne!(last.branch(), rig.sent[0].1.branch());
}

#[test]
fn over_a_reliable_transport_the_ping_is_sent_once_and_times_out_on_timer_f() {
    let mut rig = Rig::new(2, 1, "TCP");
    rig.run(31_999);
    assert_eq!(rig.sent.len(), 1, "no retransmission over TCP");
    let ping = rig.last();
    assert_eq!(ping.top_via().unwrap().transport, "TCP");
    assert_eq!(ping.headers.get(&HeaderName::CONTACT), Some("<sip:192.0.2.10:5060;transport=tcp>"));
    rig.run(32_000);
    assert!(rig.m.is_up(TRUNK), "one timeout of two");
    assert_eq!(rig.sent.len(), 2, "the next ping at once");
    rig.run(64_000);
    assert_eq!(rig.sent.len(), 3);
    assert_eq!(rig.changes(), [(64_000, false)]);
}

#[test]
fn a_provisional_response_does_not_end_the_ping() {
    let mut rig = Rig::new(1, 1, "UDP");
    rig.wake(0);
    rig.answer(10, 100);
    assert_eq!(rig.m.poll_timeout(), Some(rig.at(500)), "still retransmitting");
    rig.answer(600, 200);
    assert!(rig.m.is_up(TRUNK));
    assert_eq!(
        rig.m.poll_timeout(),
        Some(rig.at(5000)),
        "next ping at the interval, no more retransmissions"
    );
}

#[test]
fn the_cadence_follows_the_due_time_not_the_answer() {
    let mut rig = Rig::new(1, 1, "UDP");
    rig.wake(0);
    rig.answer(1700, 200);
    assert_eq!(rig.m.poll_timeout(), Some(rig.at(5000)));
    // A late wake-up sends the ping late, and the next is still due `interval` after this one was due.
    rig.wake(5300);
    assert_eq!(rig.sent.last().unwrap().0, 5300);
    rig.answer(5400, 200);
    assert_eq!(rig.m.poll_timeout(), Some(rig.at(10_000)));
    // Early and repeated wake-ups do nothing.
    rig.wake(9999);
    rig.wake(9999);
    assert_eq!(rig.sent.len(), 2, "two pings, answered before their first retransmission was woken for");
}

#[test]
fn an_unreachable_trunk_counts_as_a_failure_and_stray_answers_are_ignored() {
    let mut rig = Rig::new(2, 1, "UDP");
    rig.m.handle_timeout(rig.base);
    assert_eq!(rig.m.poll_due(), Some(TRUNK));
    assert_eq!(rig.m.poll_timeout(), None, "nothing to do while the owner resolves");
    rig.m.unreachable(rig.base, TRUNK, "no DNS records".into());
    rig.m.unreachable(rig.base, TRUNK, "again".into());
    assert!(rig.m.is_up(TRUNK), "a second report for the same ping is not a second failure");
    assert_eq!(rig.m.poll_timeout(), Some(rig.at(5000)));
    rig.wake(5000);
    let ping = rig.last();
    // An answer to another transaction, then our answer twice: the retransmission changes nothing.
    let mut other = response_to(&ping, 503, Some("x"));
    let via = ping.headers.get(&HeaderName::VIA).unwrap().replace("z9hG4bK", "z9hG4bKother");
    other.headers.replace_first(&HeaderName::VIA, via);
    rig.m.handle_response(rig.at(5010), other);
    assert!(rig.m.is_up(TRUNK));
    rig.answer(5020, 200);
    rig.answer(5030, 503);
    assert!(rig.m.is_up(TRUNK));
    assert!(rig.events.is_empty());
    // A ping the owner was not asked for is not sent.
    rig.m.send_ping(rig.at(5040), TRUNK, &hop("UDP"));
    rig.m.send_ping(rig.at(5040), 99, &hop("UDP"));
    assert_eq!(rig.m.poll_transmit(), None);
    assert!(rig.m.is_up(99), "a trunk that is not pinged is up");
}

#[test]
fn trunk_health_is_shared_and_starts_up() {
    let health = TrunkHealth::all_up(3);
    let reader = health.clone();
    assert!((0..3).all(|i| reader.is_up(i)));
    health.set(1, false);
    assert!(!reader.is_up(1));
    assert!(reader.is_up(0) && reader.is_up(2));
    health.set(1, true);
    assert!(reader.is_up(1));
    health.set(7, false);
    assert!(reader.is_up(7), "out of range: up");
}

#[test]
fn targets_are_the_trunks_with_a_ping_interval() {
    let config = config::from_str(
        "trunks:\n  - { name: a, uri: 'sip:a.example.com' }\n  - { name: b, uri: 'sip:b.example.com;transport=tcp', \
         ping_interval: 30, ping_down_after: 4, ping_up_after: 1 }\n  - { name: c, uri: 'sip:c', ping_interval: 0 }\n",
        "t.yaml",
    )
    .expect("valid");
    let targets = PingTarget::from_config(&config);
    assert_eq!(targets.len(), 1);
    let t = &targets[0];
    assert_eq!((t.trunk, t.interval, t.down_after, t.up_after), (1, Duration::from_secs(30), 4, 1));
    assert_eq!(t.uri.to_string(), "sip:b.example.com;transport=tcp");
}

#[test]
fn trunks_are_pinged_independently() {
    let base = Instant::now();
    let mut second = target(1, 1);
    second.trunk = 5;
    second.interval = Duration::from_secs(7);
    let mut m = Monitor::new(base, vec![target(1, 1), second], TimerConfig::default(), 1);
    m.handle_timeout(base);
    assert_eq!((m.poll_due(), m.poll_due(), m.poll_due()), (Some(TRUNK), Some(5), None));
    m.send_ping(base, 5, &hop("TCP"));
    m.unreachable(base, TRUNK, "no listener".into());
    let (trunk, request) = m.poll_transmit().unwrap();
    assert_eq!(trunk, 5);
    assert_eq!(m.poll_event().map(|e| (e.trunk, e.up)), Some((TRUNK, false)));
    m.handle_response(base + Duration::from_millis(5), response_to(&request, 200, Some("t")));
    assert!(m.is_up(5) && !m.is_up(TRUNK));
    assert_eq!(m.poll_timeout(), Some(base + Duration::from_secs(5)));
}
