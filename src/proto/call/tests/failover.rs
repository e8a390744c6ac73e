//! RFC 3263 §4.3 failover: leg B's target times out or answers 503 and another target is known — the
//! INVITE goes to the next target as a new transaction, and the caller sees one call.

use super::*;

/// Leg B's second target (peer id).
const B2: u8 = 3;

impl Harness {
    /// A call whose INVITE went to its first target with more to come.
    fn calling_with_fallback() -> Harness {
        Harness::calling_with_fallback_and(config())
    }

    /// [`Harness::calling_with_fallback`] with a call configuration of the test's own.
    fn calling_with_fallback_and(config: CallConfig) -> Harness {
        let mut h = Harness::with_config(invite_a("", OFFER), config);
        assert_eq!(as_response(&h.only(A)).status, 100);
        h.input(Input::Target { setup: setup(B, "10.0.0.1:5060"), more: true });
        let invite = as_request(&h.only(B)).clone();
        h.invite_b = Some(invite);
        h
    }

    /// The call asked for the next target: give it `B2` and take the INVITE sent there.
    fn next_target(&mut self, more: bool) -> Request {
        assert_eq!(self.events(), vec![Output::NextTarget]);
        self.input(Input::Target { setup: setup(B2, "10.0.0.1:5060"), more });
        let invite = as_request(&self.only(B2)).clone();
        assert_eq!(invite.method, Method::Invite);
        invite
    }
}

#[test]
fn a_503_moves_the_invite_to_the_next_target() {
    let mut h = Harness::calling_with_fallback();
    let first = h.invite_b.clone().expect("first INVITE");
    h.feed_b(h.b_response(503, "b1", ""));
    // The failed attempt's own transaction ACKs the 503 at its own target.
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    h.quiet();
    let second = h.next_target(false);
    assert_eq!(second.call_id(), first.call_id(), "the same leg B");
    assert_ne!(second.top_branch(), first.top_branch(), "a new transaction (RFC 3263 §4.3)");
    assert_ne!(from_tag(&second), from_tag(&first), "a new From tag: no dialog can mix the two");
    assert_eq!(second.body, first.body);
    // A repeated 503 from the first target is ACKed there again, and nothing reaches the caller.
    h.feed_b(respond(&first, 503, Some("b1"), ""));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    h.quiet();
    // The second target answers: one call for the caller.
    h.invite_b = Some(second.clone());
    h.feed_b(h.b_response(180, "b2", ""));
    assert_eq!(as_response(&h.only(A)).status, 180);
    h.feed_b(h.b_response(200, "b2", ANSWER));
    assert_eq!(as_request(&h.only(B2)).method, Method::Ack);
    let ok = as_response(&h.only(A)).clone();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, ANSWER.as_bytes());
    assert_eq!(h.events(), vec![Output::Answered]);
    h.quiet();
}

#[test]
fn a_timeout_moves_the_invite_to_the_next_target() {
    let mut h = Harness::calling_with_fallback();
    while h.step(h.start + T1 * 64) {
        h.take(B);
    }
    assert_eq!(h.now - h.start, T1 * 64, "Timer B");
    h.quiet();
    let second = h.next_target(false);
    h.invite_b = Some(second);
    h.feed_b(h.b_response(486, "b2", ""));
    assert_eq!(as_request(&h.only(B2)).method, Method::Ack);
    assert_eq!(as_response(&h.only(A)).status, 486, "the last target's answer is the caller's");
    h.assert_ended(EndReason::Rejected(486));
}

#[test]
fn the_last_targets_503_goes_to_the_caller() {
    let mut h = Harness::calling_with_fallback();
    h.feed_b(h.b_response(503, "b1", ""));
    h.take(B);
    let second = h.next_target(false);
    h.invite_b = Some(second);
    h.feed_b(h.b_response(503, "b2", ""));
    assert_eq!(as_request(&h.only(B2)).method, Method::Ack);
    assert_eq!(as_response(&h.only(A)).status, 503);
    h.assert_ended(EndReason::Rejected(503));
}

#[test]
fn a_503_with_a_long_retry_after_is_not_failed_over() {
    let mut h = Harness::calling_with_fallback_and(CallConfig { failover_max_retry_after: 30, ..config() });
    let mut busy = h.b_response(503, "b1", "");
    busy.headers.push(HeaderName::RETRY_AFTER, "120");
    h.feed_b(busy);
    h.take(B);
    assert_eq!(as_response(&h.only(A)).status, 503, "Retry-After 120 > 30: the caller is told");
    h.assert_ended(EndReason::Rejected(503));

    let mut h = Harness::calling_with_fallback_and(CallConfig { failover_max_retry_after: 30, ..config() });
    let mut brief = h.b_response(503, "b1", "");
    brief.headers.push(HeaderName::RETRY_AFTER, "10 (overloaded)");
    h.feed_b(brief);
    h.take(B);
    h.quiet();
    h.next_target(false);
}

#[test]
fn other_failures_are_not_failed_over() {
    let mut h = Harness::calling_with_fallback();
    h.feed_b(h.b_response(486, "b1", ""));
    h.take(B);
    assert_eq!(as_response(&h.only(A)).status, 486);
    h.assert_ended(EndReason::Rejected(486));
}

#[test]
fn a_caller_cancel_during_failover_ends_the_call() {
    let mut h = Harness::calling_with_fallback();
    h.feed_b(h.b_response(503, "b1", ""));
    h.take(B);
    assert_eq!(h.events(), vec![Output::NextTarget]);
    h.feed_a(super::cancel::cancel_from_a());
    let mut answers: Vec<u16> = h.take(A).iter().map(|m| as_response(m).status).collect();
    answers.sort();
    assert_eq!(answers, vec![200, 487]);
    h.assert_ended(EndReason::Cancelled);
    // The next target arrives too late: nothing is sent there.
    h.input(Input::Target { setup: setup(B2, "10.0.0.1:5060"), more: false });
    h.quiet();
    h.feed_a(h.failure_ack());
    h.finish();
}
