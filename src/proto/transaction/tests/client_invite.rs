//! ClientInvite (RFC 3261 §17.1.1, RFC 6026 §8.4) in virtual time.

use std::time::Instant;

use super::*;
use crate::proto::transaction::{ClientKey, TimerConfig, TxState};
use crate::sip::{HeaderName, Method, SipHeaders};

const BRANCH: &str = "z9hG4bKci1";

fn start(reliable: bool) -> (ClientInvite, Instant) {
    let base = base();
    let mut tx = ClientInvite::new(invite(BRANCH), reliable, TimerConfig::default(), base);
    assert_eq!(drain(&mut tx, base, base), ev(&[(0, "send INVITE")]));
    (tx, base)
}

fn resp(status: u16, tag: Option<&str>) -> Response {
    reply(status, BRANCH, "1 INVITE", tag)
}

#[test]
fn udp_timer_a_doubles_until_timer_b() {
    let (mut tx, base) = start(false);
    assert_eq!(tx.state(), TxState::Calling);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 500), TimerKind::A)));
    let (events, wakes) = run(&mut tx, base, 60_000);
    assert_eq!(sends(&events), [500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(&events[6..], ev(&[(32_000, "timeout"), (32_000, "end")]));
    assert_eq!(wakes.last(), Some(&(32_000, TimerKind::B)));
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn retransmissions_are_the_original_request() {
    let (mut tx, base) = start(false);
    tx.handle_timeout(at(base, 500));
    match drain_full(&mut tx).as_slice() {
        [TxOutput::Send(Message::Request(r))] => assert_eq!(r.to_bytes(), invite(BRANCH).to_bytes()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reliable_sends_once_and_times_out_on_b() {
    let (mut tx, base) = start(true);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 32_000), TimerKind::B)));
    let (events, _) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(32_000, "timeout"), (32_000, "end")]));
}

#[test]
fn early_and_repeated_wakeups_do_nothing() {
    let (mut tx, base) = start(false);
    tx.handle_timeout(at(base, 499));
    tx.handle_timeout(base);
    assert_eq!(drain(&mut tx, base, base), []);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 500), TimerKind::A)));
    tx.handle_timeout(at(base, 500));
    tx.handle_timeout(at(base, 500));
    tx.handle_timeout(at(base, 501));
    assert_eq!(drain(&mut tx, base, at(base, 500)), ev(&[(500, "send INVITE")]));
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 1500), TimerKind::A)));
}

#[test]
fn late_wakeup_sends_one_copy_and_keeps_the_schedule() {
    let (mut tx, base) = start(false);
    // Woken at 2 s instead of 0.5 s and 1.5 s: one copy, and the next one where the RFC puts it.
    tx.handle_timeout(at(base, 2000));
    assert_eq!(drain(&mut tx, base, at(base, 2000)), ev(&[(2000, "send INVITE")]));
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 3500), TimerKind::A)));
    // Woken long after Timer B: the timeout, no pointless retransmission.
    tx.handle_timeout(at(base, 40_000));
    assert_eq!(drain(&mut tx, base, at(base, 40_000)), ev(&[(40_000, "timeout"), (40_000, "end")]));
}

#[test]
fn lost_responses_leave_retransmission_running_until_a_provisional() {
    let (mut tx, base) = start(false);
    // The first 100 Trying is lost: retransmissions at 0.5 s and 1.5 s go out; the one at 1.6 s lands.
    let (events, _) = run(&mut tx, base, 1600);
    assert_eq!(sends(&events), [500, 1500]);
    tx.handle_response(at(base, 1600), resp(100, None));
    assert_eq!(drain(&mut tx, base, at(base, 1600)), ev(&[(1600, "deliver 100")]));
    assert_eq!(tx.state(), TxState::Proceeding);
    // §17.1.1.2: Proceeding has neither Timer A nor Timer B.
    assert_eq!(tx.poll_timeout(), None);
    tx.handle_timeout(at(base, 3500));
    tx.handle_timeout(at(base, 32_000));
    assert_eq!(drain(&mut tx, base, at(base, 32_000)), []);
    // Every provisional response in Proceeding goes up (§17.1.1.2).
    tx.handle_response(at(base, 2000), resp(180, Some("b1")));
    tx.handle_response(at(base, 2001), resp(180, Some("b1")));
    assert_eq!(drain(&mut tx, base, at(base, 2001)), ev(&[(2001, "deliver 180"), (2001, "deliver 180")]));
}

#[test]
fn udp_486_is_acked_once_delivered_once_and_absorbed_until_timer_d() {
    let (mut tx, base) = start(false);
    tx.handle_timeout(at(base, 500));
    drain(&mut tx, base, base);
    tx.handle_response(at(base, 1000), resp(486, Some("b1")));
    assert_eq!(drain(&mut tx, base, at(base, 1000)), ev(&[(1000, "send ACK"), (1000, "deliver 486")]));
    assert_eq!(tx.state(), TxState::Completed);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 33_000), TimerKind::D)));
    // The 486 again (our ACK was lost): the same ACK again, nothing for the TU.
    tx.handle_response(at(base, 1500), resp(486, Some("b1")));
    let out = drain_full(&mut tx);
    assert_eq!(out.iter().map(label).collect::<Vec<_>>(), ["send ACK"]);
    assert_eq!(out[0], TxOutput::Send(Message::Request(tx.ack_for(&resp(486, Some("b1"))))));
    // A stray 180 or 200 in Completed is absorbed too.
    tx.handle_response(at(base, 1600), resp(180, Some("b1")));
    tx.handle_response(at(base, 1700), resp(200, Some("b1")));
    assert_eq!(drain(&mut tx, base, at(base, 1700)), []);
    let (events, _) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(33_000, "end")]));
}

#[test]
fn reliable_486_goes_straight_to_terminated() {
    let (mut tx, base) = start(true);
    tx.handle_response(at(base, 200), resp(486, Some("b1")));
    assert_eq!(
        drain(&mut tx, base, at(base, 200)),
        ev(&[(200, "send ACK"), (200, "deliver 486"), (200, "end")])
    );
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}

#[test]
fn ack_for_a_486_follows_17_1_1_3() {
    // Two Vias on the INVITE: the ACK carries only the top one.
    let original = request(
        "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKtop
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKlower
Max-Forwards: 12
Route: <sip:p1.example.com;lr>
Route: <sip:p2.example.com;lr>
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>
Call-ID: call-7@192.0.2.1
CSeq: 314 INVITE
Contact: <sip:alice@192.0.2.1>
Content-Type: application/sdp
Content-Length: 4

v=0
",
    );
    let base = base();
    let mut tx = ClientInvite::new(original.clone(), false, TimerConfig::default(), base);
    drain_full(&mut tx);
    let busy = response(
        "SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKtop
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKlower
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>;tag=busy-9
Call-ID: call-7@192.0.2.1
CSeq: 314 INVITE
Content-Length: 0

",
    );
    tx.handle_response(at(base, 100), busy.clone());
    let sent = match drain_full(&mut tx).first() {
        Some(TxOutput::Send(Message::Request(ack))) => ack.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(sent, tx.ack_for(&busy));
    // Through the wire and back: what the peer will read.
    let ack = match message(std::str::from_utf8(&sent.to_bytes()).unwrap()) {
        Message::Request(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.uri, original.uri);
    assert_eq!(
        ack.headers.get_all(&HeaderName::VIA).collect::<Vec<_>>(),
        ["SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bKtop"]
    );
    assert_eq!(ack.branch().as_deref(), Some("z9hG4bKtop"));
    assert_eq!(ack.to_hdr().unwrap().tag(), Some("busy-9"));
    assert_eq!(ack.from_hdr().unwrap().tag(), Some("a1"));
    assert_eq!(ack.call_id(), Some("call-7@192.0.2.1"));
    assert_eq!(ack.headers.get(&HeaderName::CSEQ), Some("314 ACK"));
    assert_eq!(
        ack.headers.get_all(&HeaderName::ROUTE).collect::<Vec<_>>(),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(ack.headers.get(&HeaderName::MAX_FORWARDS), Some("70"));
    assert!(ack.body.is_empty());
    assert!(!ack.headers.contains(&HeaderName::CONTENT_TYPE));
    assert!(!ack.headers.contains(&HeaderName::CONTACT));
    // The ACK is part of the INVITE client transaction: same branch, and it maps to the INVITE server key.
    assert_eq!(ClientKey::for_request(&ack).unwrap().branch, "z9hG4bKtop");
}

#[test]
fn a_2xx_moves_to_accepted_and_its_retransmissions_reach_the_tu() {
    let (mut tx, base) = start(false);
    tx.handle_response(at(base, 300), resp(180, Some("b1")));
    assert_eq!(drain(&mut tx, base, at(base, 300)), ev(&[(300, "deliver 180")]));
    tx.handle_response(at(base, 2000), resp(200, Some("b1")));
    assert_eq!(drain(&mut tx, base, at(base, 2000)), ev(&[(2000, "deliver 200")]));
    assert_eq!(tx.state(), TxState::Accepted);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 34_000), TimerKind::M)));
    assert_eq!(kept(tx.request()), ["Via", "From", "To", "Call-ID", "CSeq"]);
    // RFC 6026 §8.4: the 2xx again (the TU's ACK was lost) and a 2xx from another fork both go up.
    tx.handle_response(at(base, 2500), resp(200, Some("b1")));
    tx.handle_response(at(base, 2600), resp(200, Some("fork-2")));
    // A late 180 or a 486 is absorbed.
    tx.handle_response(at(base, 2700), resp(180, Some("b1")));
    tx.handle_response(at(base, 2800), resp(486, Some("fork-3")));
    let out = drain_full(&mut tx);
    assert_eq!(out, [TxOutput::Deliver(resp(200, Some("b1"))), TxOutput::Deliver(resp(200, Some("fork-2")))]);
    // The transaction never ACKs a 2xx and never retransmits in Accepted.
    let (events, wakes) = run(&mut tx, base, 60_000);
    assert_eq!(events, ev(&[(34_000, "end")]));
    assert_eq!(wakes, [(34_000, TimerKind::M)]);
}

#[test]
fn a_180_arriving_after_the_200_is_not_delivered() {
    let (mut tx, base) = start(false);
    tx.handle_response(at(base, 100), resp(200, Some("b1")));
    tx.handle_response(at(base, 101), resp(180, Some("b1")));
    assert_eq!(drain(&mut tx, base, at(base, 101)), ev(&[(101, "deliver 200")]));
    // Timer A stopped with the 2xx.
    tx.handle_timeout(at(base, 500));
    assert_eq!(drain(&mut tx, base, at(base, 500)), []);
}

#[test]
fn reliable_2xx_still_waits_timer_m() {
    let (mut tx, base) = start(true);
    tx.handle_response(at(base, 100), resp(200, Some("b1")));
    drain_full(&mut tx);
    assert_eq!(tx.poll_timeout(), Some(Deadline::new(at(base, 32_100), TimerKind::M)));
}

#[test]
fn nothing_after_terminated() {
    let (mut tx, base) = start(true);
    run(&mut tx, base, 40_000);
    tx.handle_response(at(base, 40_001), resp(200, Some("b1")));
    tx.handle_timeout(at(base, 100_000));
    assert_eq!(drain_full(&mut tx), []);
    assert!(tx.is_terminated());
}
