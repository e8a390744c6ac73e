//! ServerInvite (RFC 3261 §17.2.1, RFC 6026 §7.1 / §8.7) in virtual time.

use std::time::Instant;

use super::*;
use crate::proto::transaction::{ServerKey, TimerConfig, TxState};
use crate::sip::build::response_to;
use crate::sip::SipHeaders;

const BRANCH: &str = "z9hG4bKsi1";

fn start(reliable: bool) -> (ServerInvite, Instant) {
    let base = base();
    let mut tx = ServerInvite::new(invite(BRANCH), reliable, TimerConfig::default(), base);
    assert_eq!(drain(&mut tx, base, base), ev(&[(0, "send 100")]));
    (tx, base)
}

/// The ACK a client sends for our non-2xx final response (same branch, §17.1.1.3).
fn ack() -> Request {
    request(&format!(
        "ACK sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={BRANCH}
Max-Forwards: 70
Route: <sip:p1.example.com;lr>
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>;tag=b1
Call-ID: call-1@192.0.2.1
CSeq: 1 ACK
Content-Length: 0

"
    ))
}

fn answer(status: u16) -> Response {
    response_to(&invite(BRANCH), status, Some("b1"))
}

#[test]
fn the_100_trying_goes_out_at_once_and_arms_nothing() {
    let base = base();
    let mut tx = ServerInvite::new(invite(BRANCH), false, TimerConfig::default(), base);
    let out = drain_full(&mut tx);
    assert_eq!(out, [TxOutput::Send(Message::Response(response_to(&invite(BRANCH), 100, None)))]);
    let TxOutput::Send(Message::Response(trying)) = &out[0] else { unreachable!() };
    assert_eq!(trying.to_hdr().unwrap().tag(), None);
    assert_eq!(trying.top_via().unwrap().branch(), Some(BRANCH));
    assert_eq!(tx.state(), TxState::Proceeding);
    assert_eq!(tx.poll_timeout(), None);
    assert_eq!(tx.key(), &ServerKey::for_request(&invite(BRANCH)).unwrap());
    assert_eq!(tx.request(), &invite(BRANCH));
}

#[test]
fn a_retransmitted_invite_gets_the_last_provisional_again() {
    let (mut tx, base) = start(false);
    tx.handle_request(at(base, 100), invite(BRANCH));
    assert_eq!(drain(&mut tx, base, at(base, 100)), ev(&[(100, "send 100")]));
    tx.respond(at(base, 200), answer(180));
    tx.handle_request(at(base, 500), invite(BRANCH));
    let out = drain_full(&mut tx);
    assert_eq!(
        out,
        [TxOutput::Send(Message::Response(answer(180))), TxOutput::Send(Message::Response(answer(180)))]
    );
    // An ACK in Proceeding means nothing yet.
    tx.handle_request(at(base, 600), ack());
    assert_eq!(drain_full(&mut tx), []);
    assert_eq!(tx.state(), TxState::Proceeding);
}

#[test]
fn udp_486_retransmits_on_timer_g_until_timer_h() {
    let (mut tx, base) = start(false);
    tx.respond(at(base, 1000), answer(486));
    assert_eq!(drain(&mut tx, base, at(base, 1000)), ev(&[(1000, "send 486")]));
    assert_eq!(tx.state(), TxState::Completed);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 1500), TimerKind::G)));
    let (events, wakes) = run(&mut tx, base, 60_000);
    // G: 500, 1000, 2000, 4000, 4000, ... ms after the 486 at 1 s; H: 64*T1 after it.
    assert_eq!(sends(&events), [1500, 2500, 4500, 8500, 12_500, 16_500, 20_500, 24_500, 28_500, 32_500]);
    assert!(events.iter().filter(|(_, l)| l.starts_with("send")).all(|(_, l)| l == "send 486"));
    assert_eq!(&events[10..], ev(&[(33_000, "timeout"), (33_000, "end")]));
    assert_eq!(wakes.last(), Some(&(33_000, TimerKind::H)));
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn the_ack_confirms_then_timer_i_ends() {
    let (mut tx, base) = start(false);
    tx.respond(at(base, 1000), answer(486));
    assert_eq!(drain(&mut tx, base, at(base, 1000)), ev(&[(1000, "send 486")]));
    let (events, _) = run(&mut tx, base, 3000);
    assert_eq!(sends(&events), [1500, 2500]);
    // A retransmitted INVITE in Completed gets the 486 again.
    tx.handle_request(at(base, 3000), invite(BRANCH));
    assert_eq!(drain(&mut tx, base, at(base, 3000)), ev(&[(3000, "send 486")]));
    tx.handle_request(at(base, 3100), ack());
    assert_eq!(drain_full(&mut tx), []);
    assert_eq!(tx.state(), TxState::Confirmed);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 8100), TimerKind::I)));
    // Confirmed absorbs ACK and INVITE retransmissions, and the TU's late answers.
    tx.handle_request(at(base, 3200), ack());
    tx.handle_request(at(base, 3300), invite(BRANCH));
    tx.respond(at(base, 3400), answer(200));
    let (events, wakes) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(8100, "end")]));
    assert_eq!(wakes, [(8100, TimerKind::I)]);
}

#[test]
fn reliable_486_has_no_timer_g_and_the_ack_ends_it_at_once() {
    let (mut tx, base) = start(true);
    tx.respond(at(base, 1000), answer(486));
    drain_full(&mut tx);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 33_000), TimerKind::H)));
    tx.handle_request(at(base, 1200), ack());
    assert_eq!(drain(&mut tx, base, at(base, 1200)), ev(&[(1200, "end")]));
    assert!(tx.is_terminated());
}

#[test]
fn reliable_486_without_ack_times_out_on_h() {
    let (mut tx, base) = start(true);
    tx.respond(at(base, 1000), answer(486));
    drain_full(&mut tx);
    let (events, _) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(33_000, "timeout"), (33_000, "end")]));
}

#[test]
fn a_2xx_moves_to_accepted_without_retransmitting_it() {
    let (mut tx, base) = start(false);
    tx.respond(at(base, 100), answer(180));
    tx.respond(at(base, 1000), answer(200));
    assert_eq!(drain(&mut tx, base, at(base, 1000)), ev(&[(1000, "send 180"), (1000, "send 200")]));
    assert_eq!(tx.state(), TxState::Accepted);
    // Of the 2xx only its status is kept; of the INVITE, what a response echoes.
    assert_eq!(tx.last_response().status, 200);
    assert!(tx.last_response().headers.is_empty() && tx.last_response().body.is_empty());
    assert_eq!(kept(tx.request()), ["Via", "From", "To", "Call-ID", "CSeq"]);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 33_000), TimerKind::L)));
    // RFC 6026 §8.7: INVITE retransmissions are absorbed (the TU re-sends the 2xx), the TU's own 2xx
    // retransmissions go out, a non-2xx from the TU and a stray ACK are ignored.
    tx.handle_request(at(base, 1500), invite(BRANCH));
    tx.respond(at(base, 1500), answer(200));
    tx.respond(at(base, 1600), answer(500));
    tx.handle_request(at(base, 1700), ack());
    assert_eq!(drain(&mut tx, base, at(base, 1500)), ev(&[(1500, "send 200")]));
    let (events, wakes) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(33_000, "end")]));
    assert_eq!(wakes, [(33_000, TimerKind::L)]);
}

#[test]
fn early_and_repeated_wakeups_do_nothing() {
    let (mut tx, base) = start(false);
    tx.handle_timeout(at(base, 10_000));
    assert_eq!(drain_full(&mut tx), []);
    tx.respond(at(base, 1000), answer(603));
    drain_full(&mut tx);
    tx.handle_timeout(at(base, 1499));
    assert_eq!(drain_full(&mut tx), []);
    tx.handle_timeout(at(base, 1500));
    tx.handle_timeout(at(base, 1500));
    assert_eq!(drain(&mut tx, base, at(base, 1500)), ev(&[(1500, "send 603")]));
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 2500), TimerKind::G)));
}
