//! ServerNonInvite (RFC 3261 §17.2.2) in virtual time.

use std::time::Instant;

use super::*;
use crate::proto::transaction::{TimerConfig, TxState};
use crate::sip::build::response_to;

const BRANCH: &str = "z9hG4bKsn1";

fn bye() -> Request {
    in_dialog("BYE", BRANCH)
}

fn answer(status: u16) -> Response {
    response_to(&bye(), status, None)
}

fn start(reliable: bool) -> (ServerNonInvite, Instant) {
    let base = base();
    let mut tx = ServerNonInvite::new(bye(), reliable, TimerConfig::default(), base);
    assert_eq!(drain_full(&mut tx), []);
    (tx, base)
}

#[test]
fn trying_discards_retransmissions_and_arms_nothing() {
    let (mut tx, base) = start(false);
    assert_eq!(tx.state(), TxState::Trying);
    assert_eq!(tx.poll_timeout(), None);
    tx.handle_request(at(base, 500), bye());
    tx.handle_timeout(at(base, 100_000));
    assert_eq!(drain_full(&mut tx), []);
    assert_eq!(tx.last_response(), None);
}

#[test]
fn proceeding_and_completed_resend_the_last_response_until_timer_j() {
    let (mut tx, base) = start(false);
    tx.respond(at(base, 100), answer(100));
    assert_eq!(drain(&mut tx, base, at(base, 100)), ev(&[(100, "send 100")]));
    assert_eq!(tx.state(), TxState::Proceeding);
    tx.handle_request(at(base, 500), bye());
    assert_eq!(drain(&mut tx, base, at(base, 500)), ev(&[(500, "send 100")]));
    tx.respond(at(base, 1000), answer(200));
    assert_eq!(drain(&mut tx, base, at(base, 1000)), ev(&[(1000, "send 200")]));
    assert_eq!(tx.state(), TxState::Completed);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 33_000), TimerKind::J)));
    // A retransmitted BYE (our 200 was lost) gets the same 200 again.
    tx.handle_request(at(base, 1500), bye());
    assert_eq!(drain_full(&mut tx), [TxOutput::Send(Message::Response(answer(200)))]);
    // The TU answering twice: the second answer is discarded.
    tx.respond(at(base, 1600), answer(500));
    assert_eq!(drain_full(&mut tx), []);
    let (events, wakes) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(33_000, "end")]));
    assert_eq!(wakes, [(33_000, TimerKind::J)]);
}

#[test]
fn a_final_response_straight_from_trying() {
    let (mut tx, base) = start(false);
    tx.respond(at(base, 10), answer(481));
    assert_eq!(drain(&mut tx, base, at(base, 10)), ev(&[(10, "send 481")]));
    tx.handle_request(at(base, 20), bye());
    assert_eq!(drain(&mut tx, base, at(base, 20)), ev(&[(20, "send 481")]));
    assert_eq!(tx.last_response(), Some(&answer(481)));
}

#[test]
fn reliable_j_is_zero() {
    let (mut tx, base) = start(true);
    tx.respond(at(base, 10), answer(200));
    assert_eq!(drain(&mut tx, base, at(base, 10)), ev(&[(10, "send 200"), (10, "end")]));
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
    tx.handle_request(at(base, 20), bye());
    assert_eq!(drain_full(&mut tx), []);
}

#[test]
fn early_and_repeated_wakeups_do_nothing() {
    let (mut tx, base) = start(false);
    tx.respond(at(base, 0), answer(200));
    drain_full(&mut tx);
    tx.handle_timeout(at(base, 31_999));
    assert_eq!(drain_full(&mut tx), []);
    tx.handle_timeout(at(base, 32_000));
    tx.handle_timeout(at(base, 32_000));
    assert_eq!(drain(&mut tx, base, at(base, 32_000)), ev(&[(32_000, "end")]));
}
