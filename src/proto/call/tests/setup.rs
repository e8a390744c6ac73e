//! Setting up: the 100 to A, leg B's INVITE as a new dialog, provisional responses, Max-Forwards, an
//! unreachable next hop, INVITE retransmissions from A, the ring timeout and Timer B on leg B.

use super::*;

#[test]
fn trying_goes_to_a_at_once_and_nothing_to_b_before_connect() {
    let mut h = Harness::new(invite_a("", OFFER));
    let trying = as_response(&h.only(A)).clone();
    assert_eq!(trying.status, 100);
    assert_eq!(to_tag(&trying), None, "100 Trying carries no To tag");
    assert_eq!(trying.call_id(), Some("a-call@192.0.2.1"));
    assert_eq!(header(&trying, "Via"), header(&h.invite_a, "Via"));
    h.quiet();
    assert!(h.events().is_empty());
}

#[test]
fn invite_b_is_a_new_dialog_with_the_callers_identity_and_body() {
    let mut h = Harness::calling(invite_a("X-Private: secret\n", OFFER));
    let b = h.invite_b.clone().expect("INVITE on B");
    assert_eq!(b.uri.to_string(), "sip:bob@10.0.0.2:5070", "user from A, host from the target");
    assert_ne!(b.call_id(), h.invite_a.call_id(), "a Call-ID of its own");
    assert!(!b.call_id().unwrap_or_default().is_empty());
    let from = b.from_hdr().expect("From");
    assert_eq!(from.display.as_deref(), Some("\"Alice Smith\""));
    assert_eq!(from.uri.to_string(), "sip:alice@example.com");
    let tag = from_tag(&b).expect("From tag");
    assert_ne!(tag, "atag", "a From tag of its own");
    assert_eq!(to_tag(&b), None);
    assert_eq!(b.to_hdr().expect("To").uri.to_string(), "sip:bob@example.com");
    assert_eq!(cseq(&b), "1 INVITE");
    assert_eq!(header(&b, "Max-Forwards"), Some("69"));
    assert_eq!(b.body, OFFER.as_bytes());
    assert_eq!(header(&b, "Content-Type"), Some("application/sdp"));
    for per_leg in ["Session-Expires", "Min-SE", "X-Private"] {
        assert_eq!(header(&b, per_leg), None, "{per_leg} must not cross");
    }
    let via = b.top_via().expect("Via");
    assert_eq!(via.sent_by.to_string(), "10.0.0.1:5060");
    assert!(via.branch().is_some_and(|br| br.starts_with("z9hG4bK") && br != "z9hG4bKinvA"));
    assert_eq!(b.vias().len(), 1, "A's Via stays on leg A");
    assert!(header(&b, "Contact").is_some_and(|c| c.contains("10.0.0.1:5060")));
    h.quiet();
}

#[test]
fn provisionals_reach_a_with_our_tag_and_100_does_not() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(100, "", ""));
    h.quiet();
    h.feed_b(h.b_response(180, "b1", ""));
    let ringing = as_response(&h.only(A)).clone();
    assert_eq!(ringing.status, 180);
    assert_eq!(ringing.call_id(), Some("a-call@192.0.2.1"));
    assert_eq!(cseq(&ringing), "1 INVITE");
    assert_eq!(to_tag(&ringing), Some(h.a_tag()));
    assert_ne!(to_tag(&ringing).as_deref(), Some("b1"), "B's tag stays on leg B");
    assert_eq!(header(&ringing, "Via"), Some("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinvA"));

    h.feed_b(h.b_response(183, "b1", ANSWER));
    let progress = as_response(&h.only(A)).clone();
    assert_eq!(progress.status, 183);
    assert_eq!(to_tag(&progress), Some(h.a_tag()));
    assert_eq!(progress.body, ANSWER.as_bytes(), "early media SDP crosses");
    assert_eq!(header(&progress, "Content-Type"), Some("application/sdp"));
    h.quiet();
    assert!(h.events().is_empty());
}

#[test]
fn retransmitted_invite_from_a_is_absorbed() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_a(h.invite_a.clone());
    assert_eq!(as_response(&h.only(A)).status, 100, "the last response again");
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.feed_a(h.invite_a.clone());
    assert_eq!(as_response(&h.only(A)).status, 180, "the last provisional again");
    h.quiet();
    assert!(h.events().is_empty());
}

#[test]
fn max_forwards_zero_is_483_and_no_leg_b() {
    let mut h = Harness::new(with_max_forwards(invite_a("", OFFER), "0"));
    let sent = h.take(A);
    let statuses: Vec<u16> = sent.iter().map(|m| as_response(m).status).collect();
    assert_eq!(statuses, vec![100, 483]);
    h.assert_ended(EndReason::Rejected(483));
    h.input(Input::Connect(setup(B, "10.0.0.1:5060")));
    h.quiet();
    h.feed_a(h.failure_ack());
    h.quiet();
    h.finish();
}

#[test]
fn unreachable_next_hop_is_503() {
    let mut h = Harness::new(invite_a("", OFFER));
    h.take(A);
    h.input(Input::Unreachable("no route".into()));
    let r = as_response(&h.only(A)).clone();
    assert_eq!(r.status, 503);
    assert_eq!(to_tag(&r), Some(h.a_tag()));
    h.assert_ended(EndReason::Unreachable("no route".into()));
    h.feed_a(h.failure_ack());
    h.quiet();
    h.finish();
}

#[test]
fn ring_timeout_cancels_b_and_answers_408() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.advance(RING - Duration::from_millis(1));
    h.quiet();
    h.advance(Duration::from_millis(1));
    assert_eq!(as_response(&h.only(A)).status, 408);
    let cancel = as_request(&h.only(B)).clone();
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.branch(), h.invite_b.as_ref().and_then(|i| i.branch()));
    assert_eq!(cseq(&cancel), "1 CANCEL");
    h.assert_ended(EndReason::NoAnswer);
    h.feed_b(respond(&cancel, 200, Some("b1"), ""));
    h.feed_b(h.b_response(487, "b1", ""));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    h.feed_a(h.failure_ack());
    h.quiet();
    h.finish();
}

#[test]
fn silent_leg_b_retransmits_then_408() {
    let mut h = Harness::calling(invite_a("", OFFER));
    let mut at = Vec::new();
    while h.step(h.start + T1 * 64) {
        for m in h.take(B) {
            assert_eq!(as_request(&m).method, Method::Invite);
            at.push(h.now - h.start);
        }
        if !h.take(A).is_empty() {
            break;
        }
    }
    let expect: Vec<Duration> = [1, 3, 7, 15, 31, 63].iter().map(|n| T1 * *n).collect();
    assert_eq!(at, expect, "Timer A doubles without cap (RFC 3261 §17.1.1.2)");
    assert_eq!(h.now - h.start, T1 * 64);
    h.assert_ended(EndReason::Timeout(super::super::LegId::B));
    h.finish();
}

fn with_max_forwards(mut invite: Request, value: &str) -> Request {
    invite.headers.set(HeaderName::MAX_FORWARDS, value);
    invite
}

impl Harness {
    /// A's ACK for our non-2xx final response (same branch as the INVITE: §17.1.1.3).
    pub fn failure_ack(&self) -> Request {
        request(
            &format!(
                "ACK sip:bob@b2bua.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinvA
Max-Forwards: 70
From: \"Alice Smith\" <sip:alice@example.com>;tag=atag
To: <sip:bob@example.com>;tag={}
Call-ID: a-call@192.0.2.1
CSeq: 1 ACK",
                self.a_tag()
            ),
            "",
        )
    }
}
