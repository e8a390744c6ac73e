//! Leg B's final answer: the 2xx (ACK on B, 200 to A retransmitted until A's ACK, RFC 3261 §13.3.1.4), the
//! ACK timeout, forks (§13.2.2.4), and failures relayed or mapped (3xx → 480, 401/407 → 403).

use super::*;
use crate::proto::call::LegId;

#[test]
fn answer_acks_b_and_relays_b_sdp_to_a() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.feed_b(h.b_response(200, "b1", ANSWER));
    let ack = as_request(&h.only(B)).clone();
    let invite_b = h.invite_b.clone().expect("INVITE on B");
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(cseq(&ack), "1 ACK");
    assert_eq!(ack.call_id(), invite_b.call_id());
    assert_eq!(to_tag(&ack).as_deref(), Some("b1"));
    assert_eq!(from_tag(&ack), from_tag(&invite_b));
    assert_eq!(ack.uri.to_string(), "sip:bob@10.0.0.2:5070", "B's Contact is the remote target");
    assert_ne!(ack.branch(), invite_b.branch(), "the ACK for a 2xx is a transaction of its own");
    assert!(ack.body.is_empty(), "the offer was in the INVITE: the ACK carries nothing");

    let ok = as_response(&h.only(A)).clone();
    assert_eq!(ok.status, 200);
    assert_eq!(cseq(&ok), "1 INVITE");
    assert_eq!(ok.call_id(), Some("a-call@192.0.2.1"));
    assert_eq!(to_tag(&ok), Some(h.a_tag()));
    assert_eq!(ok.body, ANSWER.as_bytes());
    assert_eq!(header(&ok, "Content-Type"), Some("application/sdp"));
    assert!(header(&ok, "Contact").is_some_and(|c| c.contains("192.0.2.100:5060")));
    assert_eq!(h.events(), vec![Output::Answered]);

    // B repeats its 2xx (our ACK was lost): the same ACK again, nothing to A.
    h.feed_b(h.b_response(200, "b1", ANSWER));
    assert_eq!(as_request(&h.only(B)), &ack);
    h.quiet();
}

#[test]
fn our_2xx_to_a_repeats_at_t1_doubling_to_t2_until_the_ack() {
    let mut h = Harness::answered();
    let answered_at = h.now;
    let mut at = Vec::new();
    while at.len() < 6 && h.step(answered_at + T1 * 64) {
        for m in h.take(A) {
            assert_eq!(as_response(&m).status, 200);
            at.push(h.now - answered_at);
        }
    }
    let expect: Vec<Duration> = [1, 3, 7, 15, 23, 31].iter().map(|n| T1 * *n).collect();
    assert_eq!(at, expect, "T1, 2·T1, 4·T1, then T2 = 8·T1 apart");
    assert_eq!(T2, T1 * 8);
    h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
    h.advance(T1 * 128);
    h.quiet();
    assert!(h.events().is_empty(), "the call goes on");
    assert!(!h.call.is_finished());
}

#[test]
fn no_ack_from_a_by_64_t1_ends_the_call_with_bye_on_both_legs() {
    let mut h = Harness::answered();
    let answered_at = h.now;
    h.advance(T1 * 64 - Duration::from_millis(1));
    assert!(h.take(A).iter().all(|m| as_response(m).status == 200));
    h.quiet();
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(h.now - answered_at, T1 * 64);
    let bye_a = as_request(&h.only(A)).clone();
    let bye_b = as_request(&h.only(B)).clone();
    assert_eq!(bye_a.method, Method::Bye);
    assert_eq!(bye_b.method, Method::Bye);
    assert_eq!(bye_a.call_id(), Some("a-call@192.0.2.1"));
    assert_eq!(to_tag(&bye_a).as_deref(), Some("atag"));
    assert_eq!(from_tag(&bye_a), Some(h.a_tag()));
    assert_eq!(bye_b.call_id(), h.invite_b.as_ref().and_then(|i| i.call_id()));
    assert_eq!(cseq(&bye_b), "2 BYE");
    assert!(header(&bye_a, "Reason").is_some_and(|r| r.contains("408")));
    h.assert_ended(EndReason::AckTimeout(LegId::A));
    h.feed_a(respond(&bye_a, 200, None, ""));
    h.feed_b(respond(&bye_b, 200, None, ""));
    h.quiet();
    h.finish();
}

#[test]
fn busy_is_relayed_and_acked_on_b_without_a_cancel() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "b1", ""));
    h.take(A);
    h.feed_b(h.b_response(486, "b1", ""));
    let ack = as_request(&h.only(B)).clone();
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.branch(), h.invite_b.as_ref().and_then(|i| i.branch()), "ACK for a failure: same branch");
    assert_eq!(cseq(&ack), "1 ACK");
    let busy = as_response(&h.only(A)).clone();
    assert_eq!(busy.status, 486);
    assert_eq!(to_tag(&busy), Some(h.a_tag()));
    h.assert_ended(EndReason::Rejected(486));
    // A's ACK for the 486 goes to its transaction; B's 486 again gets the ACK again.
    h.feed_a(h.failure_ack());
    h.feed_b(h.b_response(486, "b1", ""));
    assert_eq!(as_request(&h.only(B)), &ack);
    h.quiet();
    h.advance(T1 * 128);
    h.quiet();
    assert!(h.call.is_finished());
}

#[test]
fn busy_without_a_provisional_leaves_nothing_pending() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(486, "b1", ""));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    assert_eq!(as_response(&h.only(A)).status, 486);
    h.assert_ended(EndReason::Rejected(486));
    h.feed_a(h.failure_ack());
    // A late provisional must not release a CANCEL for an INVITE that is already over.
    h.feed_b(h.b_response(180, "b1", ""));
    h.quiet();
    h.finish();
}

#[test]
fn failures_are_mapped_for_the_caller() {
    for (from_b, to_a) in [(302, 480), (301, 480), (401, 403), (407, 403), (404, 404), (603, 603)] {
        let mut h = Harness::calling(invite_a("", OFFER));
        h.feed_b(h.b_response(from_b, "b1", ""));
        assert_eq!(as_request(&h.only(B)).method, Method::Ack, "{from_b}");
        let r = as_response(&h.only(A)).clone();
        assert_eq!(r.status, to_a, "{from_b} from B");
        assert_eq!(to_tag(&r), Some(h.a_tag()));
        assert_eq!(header(&r, "WWW-Authenticate"), None);
        h.assert_ended(EndReason::Rejected(from_b));
        h.feed_a(h.failure_ack());
        h.quiet();
        h.finish();
    }
}

#[test]
fn forked_answers_the_first_2xx_wins_the_second_gets_ack_and_bye() {
    let mut h = Harness::calling(invite_a("", OFFER));
    h.feed_b(h.b_response(180, "x1", ""));
    h.feed_b(h.b_response(180, "y2", ""));
    let ringing = h.take(A);
    assert_eq!(ringing.len(), 2);
    for r in &ringing {
        assert_eq!(to_tag(as_response(r)), Some(h.a_tag()), "leg A has one dialog, one tag");
    }
    h.feed_b(h.b_response(200, "x1", ANSWER));
    let ack_x = as_request(&h.only(B)).clone();
    assert_eq!((ack_x.method.clone(), to_tag(&ack_x)), (Method::Ack, Some("x1".into())));
    assert_eq!(as_response(&h.only(A)).status, 200);
    assert_eq!(h.events(), vec![Output::Answered]);

    h.feed_b(h.b_response(200, "y2", ANSWER));
    let to_b = h.take(B);
    let kinds: Vec<(Method, Option<String>, String)> =
        to_b.iter().map(as_request).map(|r| (r.method.clone(), to_tag(r), cseq(r))).collect();
    assert_eq!(
        kinds,
        vec![
            (Method::Ack, Some("y2".into()), "1 ACK".into()),
            (Method::Bye, Some("y2".into()), "2 BYE".into())
        ]
    );
    h.quiet();
    let bye_y = as_request(&to_b[1]).clone();

    // The losing fork repeats its 2xx (our ACK was lost): ACK again, and no second BYE.
    h.feed_b(h.b_response(200, "y2", ANSWER));
    assert_eq!(as_request(&h.only(B)), as_request(&to_b[0]), "the same ACK, no second BYE");
    h.feed_b(respond(&bye_y, 200, None, ""));
    h.quiet();
    assert!(h.events().is_empty(), "the winning fork's call goes on");
    h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
    h.feed_a(h.a_request("BYE", 2, "z9hG4bKbyeA", ""));
    assert_eq!(as_response(&h.only(A)).status, 200);
    let bye_x = as_request(&h.only(B)).clone();
    assert_eq!(to_tag(&bye_x).as_deref(), Some("x1"));
    h.assert_ended(EndReason::Bye(LegId::A));
    h.feed_b(respond(&bye_x, 200, None, ""));
    h.finish();
}
