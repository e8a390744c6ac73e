//! CANCEL (RFC 3261 §9): from A while B rings, before B sent any provisional (deferred, §9.1), racing with
//! B's 2xx (ACK and BYE, §9.1 / §15), and the daemon's shutdown while ringing.

use super::*;

/// A's CANCEL for its INVITE (same branch and CSeq number, §9.1).
pub(super) fn cancel_from_a() -> Request {
    request(
        "CANCEL sip:bob@b2bua.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinvA
Max-Forwards: 70
From: \"Alice Smith\" <sip:alice@example.com>;tag=atag
To: <sip:bob@example.com>
Call-ID: a-call@192.0.2.1
CSeq: 1 CANCEL",
        "",
    )
}

/// Checks A got 200 for its CANCEL and 487 for its INVITE.
fn assert_cancelled_on_a(h: &mut Harness) {
    let sent = h.take(A);
    let mut got: Vec<(u16, String)> = sent.iter().map(as_response).map(|r| (r.status, cseq(r))).collect();
    got.sort();
    assert_eq!(got, vec![(200, "1 CANCEL".into()), (487, "1 INVITE".into())]);
    for m in &sent {
        assert_eq!(to_tag(as_response(m)), Some(h.a_tag()));
    }
}

/// Checks the one message to B is a CANCEL matching leg B's INVITE, and returns it.
fn assert_cancel_on_b(h: &mut Harness) -> Request {
    let cancel = as_request(&h.only(B)).clone();
    let invite = h.invite_b.clone().expect("INVITE on B");
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(cancel.branch(), invite.branch(), "same branch as the INVITE");
    assert_eq!(cseq(&cancel), "1 CANCEL", "same CSeq number as the INVITE");
    for name in ["Call-ID", "From", "To"] {
        assert_eq!(header(&cancel, name), header(&invite, name), "{name}");
    }
    assert!(cancel.body.is_empty());
    cancel
}

/// B answers our CANCEL with 200 and its INVITE with 487; we ACK the 487.
fn b_completes_cancel(h: &mut Harness, cancel: &Request) {
    h.feed_b(respond(cancel, 200, Some("b1"), ""));
    h.feed_b(h.b_response(487, "b1", ""));
    let ack = as_request(&h.only(B)).clone();
    assert_eq!((ack.method.clone(), cseq(&ack)), (Method::Ack, "1 ACK".to_owned()));
    h.quiet();
}

#[test]
fn cancel_while_ringing_cancels_b_and_answers_487() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.feed_a(cancel_from_a());
    assert_cancelled_on_a(&mut h);
    let cancel = assert_cancel_on_b(&mut h);
    h.assert_ended(EndReason::Cancelled);
    b_completes_cancel(&mut h, &cancel);
    h.feed_a(h.failure_ack());
    // A's CANCEL repeated: its transaction answers again, nothing new on B.
    h.feed_a(cancel_from_a());
    assert_eq!(as_response(&h.only(A)).status, 200);
    h.quiet();
    h.finish();
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_a(cancel_from_a());
    assert_cancelled_on_a(&mut h);
    h.quiet();
    h.assert_ended(EndReason::Cancelled);
    h.feed_a(h.failure_ack());
    // Leg B's INVITE keeps being retransmitted meanwhile (it is still Calling).
    h.advance(T1);
    assert_eq!(as_request(&h.only(B)).method, Method::Invite);
    h.feed_b(h.b_response(180, "b1", ""));
    let cancel = assert_cancel_on_b(&mut h);
    h.quiet();
    b_completes_cancel(&mut h, &cancel);
    h.finish();
}

#[test]
fn a_100_trying_from_b_is_enough_to_cancel() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(100, "", ""));
    h.quiet();
    h.feed_a(cancel_from_a());
    assert_cancelled_on_a(&mut h);
    let cancel = assert_cancel_on_b(&mut h);
    b_completes_cancel(&mut h, &cancel);
    h.feed_a(h.failure_ack());
    h.finish();
}

#[test]
fn cancel_after_100_deferred_then_sent_on_b_100() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_a(cancel_from_a());
    h.take(A);
    h.quiet();
    h.feed_b(h.b_response(100, "", ""));
    let cancel = assert_cancel_on_b(&mut h);
    b_completes_cancel(&mut h, &cancel);
    h.feed_a(h.failure_ack());
    h.finish();
}

#[test]
fn b_answers_while_our_cancel_is_in_flight_gets_ack_and_bye() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.feed_a(cancel_from_a());
    assert_cancelled_on_a(&mut h);
    let cancel = assert_cancel_on_b(&mut h);
    h.assert_ended(EndReason::Cancelled);
    h.feed_b(respond(&cancel, 200, Some("b1"), ""));
    h.feed_b(h.b_response(200, "b1", ANSWER));
    let sent = h.take(B);
    let got: Vec<(Method, String)> =
        sent.iter().map(as_request).map(|r| (r.method.clone(), cseq(r))).collect();
    assert_eq!(got, vec![(Method::Ack, "1 ACK".into()), (Method::Bye, "2 BYE".into())]);
    let bye = as_request(&sent[1]).clone();
    assert_eq!(to_tag(&bye).as_deref(), Some("b1"));
    assert_eq!(bye.call_id(), h.invite_b.as_ref().and_then(|i| i.call_id()));
    h.quiet();
    assert!(h.events().is_empty(), "the call had already ended: {:?}", h.call.end_reason());
    // B repeats its 2xx (our ACK was lost): the same ACK, no second BYE.
    h.feed_b(h.b_response(200, "b1", ANSWER));
    assert_eq!(as_request(&h.only(B)), as_request(&sent[0]));
    h.feed_b(respond(&bye, 200, None, ""));
    h.feed_a(h.failure_ack());
    h.quiet();
    h.finish();
}

#[test]
fn cancel_for_another_invite_gets_481_and_the_call_goes_on() {
    let mut h = Harness::calling(invite_a("", OFFER));
    let mut other = cancel_from_a();
    other.headers.set(HeaderName::VIA, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKother");
    h.feed_a(other);
    assert_eq!(as_response(&h.only(A)).status, 481);
    h.quiet();
    assert!(h.events().is_empty());
}

#[test]
fn shutdown_while_ringing_answers_503_and_cancels_b() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.input(Input::Shutdown);
    assert_eq!(as_response(&h.only(A)).status, 503);
    let cancel = assert_cancel_on_b(&mut h);
    h.assert_ended(EndReason::Shutdown);
    b_completes_cancel(&mut h, &cancel);
    h.feed_a(h.failure_ack());
    h.finish();
}

#[test]
fn cancel_nobody_answers_gives_up_after_64_t1() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.feed_a(cancel_from_a());
    h.take(A);
    assert_cancel_on_b(&mut h);
    h.feed_a(h.failure_ack());
    // B never answers the CANCEL nor the INVITE: everything is given up, the call finishes.
    h.finish();
    assert_eq!(h.call.end_reason(), Some(&EndReason::Cancelled));
}
