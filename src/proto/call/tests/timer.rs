//! RFC 4028 on the call, leg by leg, in virtual time: what each leg's INVITE and 2xx say (§7.1, §9 Table 2),
//! 422 both ways (§7.3), our refreshes and their failure ladder (§10, RFC 3261 §14.1, RFC 3311), the peer's
//! refreshes and expiry. Instants are asserted exactly: one millisecond early nothing happens.

mod negotiate;
mod peer;
mod refresh;

use std::time::Instant;

use super::*;
use crate::config::{PreferRefresher, SessionTimerConfig};

/// The timer every test starts from: on, 1800 s asked, Min-SE 90, the UAC refreshes, re-INVITE refreshes.
pub(super) fn on() -> SessionTimerConfig {
    // The defaults are 1800 s, Min-SE 90, the UAC refreshes, re-INVITE: only `enabled` differs.
    SessionTimerConfig { enabled: true, ..SessionTimerConfig::default() }
}

pub(super) fn off() -> SessionTimerConfig {
    SessionTimerConfig { enabled: false, ..on() }
}

pub(super) fn timers(a: SessionTimerConfig, b: SessionTimerConfig) -> CallConfig {
    CallConfig { timer_a: a, timer_b: b, ..config() }
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `m` with these header lines added.
pub(super) fn with<M: SipHeaders>(mut m: M, lines: &[(&str, &str)]) -> M {
    for (name, value) in lines {
        m.headers_mut().push(HeaderName::new(name), *value);
    }
    m
}

/// Leg A's INVITE (our offer) with these RFC 4028 lines instead of the default ones.
pub(super) fn invite_timer(lines: &[(&str, &str)]) -> Request {
    let mut invite = invite_a("", OFFER);
    for name in ["Supported", "Session-Expires", "Min-SE"] {
        invite.headers.remove(&HeaderName::new(name));
    }
    with(invite, lines)
}

/// A caller that refreshes leg A itself (`refresher=uac`).
pub(super) fn a_refreshes() -> Request {
    invite_timer(&[("Supported", "timer"), ("Session-Expires", "1800;refresher=uac"), ("Min-SE", "90")])
}

/// A caller that leaves the refreshing of leg A to us (`refresher=uas`).
pub(super) fn we_refresh_a() -> Request {
    invite_timer(&[("Supported", "timer"), ("Session-Expires", "1800;refresher=uas")])
}

/// Whether a message carries the `timer` option tag in `name` (Supported or Require).
pub(super) fn has_timer(m: &impl SipHeaders, name: &str) -> bool {
    m.headers().has_token(&HeaderName::new(name), "timer")
}

impl Harness {
    /// A confirmed call under `config`: leg B answered 200 with [`ANSWER`] and `b_lines`, A's ACK in.
    /// Returns the harness and the 200 leg A got.
    pub fn confirmed_with(
        config: CallConfig,
        invite: Request,
        b_lines: &[(&str, &str)],
    ) -> (Harness, Response) {
        let mut h = Harness::with_config(invite, config);
        assert_eq!(as_response(&h.only(A)).status, 100);
        h.connect();
        h.feed_b(with(h.b_response(200, "b1", ANSWER), b_lines));
        assert_eq!(as_request(&h.only(B)).method, Method::Ack);
        let ok = as_response(&h.only(A)).clone();
        assert_eq!(ok.status, 200);
        h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
        h.quiet();
        assert_eq!(h.events(), vec![Output::Answered]);
        (h, ok)
    }

    /// Runs the clock to `at`, waking the call at each deadline on the way.
    pub fn advance_to(&mut self, at: Instant) {
        assert!(at >= self.now, "the clock does not go back");
        self.advance(at - self.now);
    }

    /// Runs the clock until something goes to `peer` (returned, with the instant) or `limit` passes.
    pub fn next_to(&mut self, peer: u8, limit: Instant) -> Option<(Instant, Vec<Message>)> {
        loop {
            let sent = self.take(peer);
            if !sent.is_empty() {
                return Some((self.now, sent));
            }
            if !self.step(limit) {
                self.now = self.now.max(limit);
                return None;
            }
        }
    }

    /// Asserts nothing goes to anyone before `at`, then that at `at` exactly one request goes to `peer`
    /// (nothing to the other one) and returns it.
    pub fn request_at(&mut self, peer: u8, at: Instant) -> Request {
        self.advance_to(at - ms(1));
        self.quiet();
        assert!(self.events().is_empty(), "nothing ends before {:?}", at - self.start);
        self.advance(ms(1));
        let sent = self.take(peer);
        assert_eq!(sent.len(), 1, "one message to {peer} at {:?}: {sent:#?}", at - self.start);
        self.quiet();
        as_request(&sent[0]).clone()
    }
}

/// The BYE each leg gets `after` the call's start, when a session timer runs out (RFC 4028 §10, RFC 3326).
pub(super) fn assert_expiry_byes(h: &mut Harness, after: Duration, leg: crate::proto::call::LegId) {
    let at = h.start + after;
    h.advance_to(at - ms(1));
    let early: Vec<Message> = h.take(A).into_iter().chain(h.take(B)).collect();
    assert!(
        early.iter().all(|m| matches!(m, Message::Response(_))),
        "nothing but repeats of responses before {:?}: {early:#?}",
        at - h.start
    );
    assert!(h.events().is_empty(), "the call is still up at {:?}", at - h.start - ms(1));
    h.advance(ms(1));
    let bye_a = as_request(&h.only(A)).clone();
    let bye_b = as_request(&h.only(B)).clone();
    for bye in [&bye_a, &bye_b] {
        assert_eq!(bye.method, Method::Bye);
        assert_eq!(header(bye, "Reason"), Some("SIP;cause=408;text=\"Session timer expired\""));
    }
    h.assert_ended(EndReason::SessionExpired(leg));
    h.feed_a(respond(&bye_a, 200, None, ""));
    h.feed_b(respond(&bye_b, 200, None, ""));
    h.finish();
}
