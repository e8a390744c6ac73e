//! Inside the dialogs: BYE from either side, re-INVITE from either side (with an offer, and offerless with
//! the answer in the ACK: RFC 3264 §5, RFC 3261 §13.2.1), INFO/UPDATE/NOTIFY relayed with their responses,
//! an old CSeq (500, §12.2.2), shutdown of a confirmed call.

use super::*;
use crate::proto::call::LegId;

const OFFER2: &str = "v=0\r\no=alice 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\na=sendonly\r\n";
const ANSWER2: &str = "v=0\r\no=bob 7 8 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5002 RTP/AVP 0\r\na=recvonly\r\n";

#[test]
fn bye_from_a_is_answered_and_carried_to_b() {
    let mut h = Harness::confirmed();
    h.quiet();
    h.feed_a(h.a_request("BYE", 2, "z9hG4bKbyeA", ""));
    let ok = as_response(&h.only(A)).clone();
    assert_eq!((ok.status, cseq(&ok)), (200, "2 BYE".to_owned()));
    let bye = as_request(&h.only(B)).clone();
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.call_id(), h.invite_b.as_ref().and_then(|i| i.call_id()));
    assert_eq!(cseq(&bye), "2 BYE", "B's CSeq space: the INVITE was 1");
    assert_eq!(to_tag(&bye).as_deref(), Some("b1"));
    assert_eq!(bye.uri.to_string(), "sip:bob@10.0.0.2:5070");
    h.assert_ended(EndReason::Bye(LegId::A));
    // A repeats its BYE: the transaction answers again, B sees nothing new.
    h.feed_a(h.a_request("BYE", 2, "z9hG4bKbyeA", ""));
    assert_eq!(as_response(&h.only(A)).status, 200);
    h.quiet();
    h.feed_b(respond(&bye, 200, None, ""));
    h.quiet();
    h.finish();
}

#[test]
fn bye_from_b_is_answered_and_carried_to_a() {
    let mut h = Harness::confirmed();
    h.feed_b(h.b_request("BYE", 100, "z9hG4bKbyeB", ""));
    let ok = as_response(&h.only(B)).clone();
    assert_eq!((ok.status, cseq(&ok)), (200, "100 BYE".to_owned()));
    let bye = as_request(&h.only(A)).clone();
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(bye.call_id(), Some("a-call@192.0.2.1"));
    assert_eq!(cseq(&bye), "1 BYE", "our first request on leg A");
    assert_eq!(from_tag(&bye), Some(h.a_tag()));
    assert_eq!(to_tag(&bye).as_deref(), Some("atag"));
    assert_eq!(bye.uri.to_string(), "sip:alice@192.0.2.1:5060", "A's Contact");
    h.assert_ended(EndReason::Bye(LegId::B));
    h.feed_a(respond(&bye, 200, None, ""));
    h.quiet();
    h.finish();
}

#[test]
fn bye_before_the_ack_stops_our_2xx_retransmissions() {
    let mut h = Harness::answered();
    h.feed_a(h.a_request("BYE", 2, "z9hG4bKbyeA", ""));
    assert_eq!(as_response(&h.only(A)).status, 200);
    let bye = as_request(&h.only(B)).clone();
    h.feed_b(respond(&bye, 200, None, ""));
    h.assert_ended(EndReason::Bye(LegId::A));
    h.advance(T1 * 4);
    h.quiet();
    h.finish();
}

#[test]
fn reinvite_from_a_crosses_as_b_dialogs_own_request() {
    let mut h = Harness::confirmed();
    h.feed_a(h.a_request("INVITE", 2, "z9hG4bKre1", OFFER2));
    assert_eq!(as_response(&h.only(A)).status, 100);
    let re = as_request(&h.only(B)).clone();
    let invite_b = h.invite_b.clone().expect("INVITE on B");
    assert_eq!(re.method, Method::Invite);
    assert_eq!(re.call_id(), invite_b.call_id());
    assert_eq!(cseq(&re), "2 INVITE");
    assert_eq!(from_tag(&re), from_tag(&invite_b));
    assert_eq!(to_tag(&re).as_deref(), Some("b1"));
    assert_eq!(re.body, OFFER2.as_bytes());
    assert_eq!(header(&re, "Content-Type"), Some("application/sdp"));
    assert!(header(&re, "Contact").is_some_and(|c| c.contains("10.0.0.1:5060")));

    h.feed_b(respond(&re, 200, None, ANSWER2));
    let ack_b = as_request(&h.only(B)).clone();
    assert_eq!((ack_b.method.clone(), cseq(&ack_b)), (Method::Ack, "2 ACK".to_owned()));
    assert!(ack_b.body.is_empty());
    let ok = as_response(&h.only(A)).clone();
    assert_eq!((ok.status, cseq(&ok)), (200, "2 INVITE".to_owned()));
    assert_eq!(ok.body, ANSWER2.as_bytes());
    assert_eq!(to_tag(&ok), Some(h.a_tag()));
    h.advance(T1);
    assert_eq!(as_response(&h.only(A)).status, 200, "our 2xx repeats until A's ACK");
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKre1ack", ""));
    h.advance(T1 * 70);
    h.quiet();
    assert!(h.events().is_empty());

    // The next request from B's side uses the next number in B's space too.
    h.feed_a(h.a_request("BYE", 3, "z9hG4bKbye3", ""));
    h.take(A);
    assert_eq!(cseq(as_request(&h.only(B))), "3 BYE");
    h.finish();
}

#[test]
fn reinvite_from_b_crosses_as_a_dialogs_own_request() {
    let mut h = Harness::confirmed();
    h.feed_b(h.b_request("INVITE", 100, "z9hG4bKreB", ANSWER2));
    assert_eq!(as_response(&h.only(B)).status, 100);
    let re = as_request(&h.only(A)).clone();
    assert_eq!(re.method, Method::Invite);
    assert_eq!(re.call_id(), Some("a-call@192.0.2.1"));
    assert_eq!(cseq(&re), "1 INVITE");
    assert_eq!(from_tag(&re), Some(h.a_tag()));
    assert_eq!(to_tag(&re).as_deref(), Some("atag"));
    assert_eq!(re.uri.to_string(), "sip:alice@192.0.2.1:5060");
    assert_eq!(re.body, ANSWER2.as_bytes());

    h.feed_a(respond(&re, 200, None, OFFER2));
    let ack_a = as_request(&h.only(A)).clone();
    assert_eq!((ack_a.method.clone(), cseq(&ack_a)), (Method::Ack, "1 ACK".to_owned()));
    let ok = as_response(&h.only(B)).clone();
    assert_eq!((ok.status, cseq(&ok)), (200, "100 INVITE".to_owned()));
    assert_eq!(ok.body, OFFER2.as_bytes());
    assert_eq!(to_tag(&ok), from_tag(h.invite_b.as_ref().expect("INVITE on B")));
    h.feed_b(h.b_request("ACK", 100, "z9hG4bKreBack", ""));
    h.advance(T1 * 70);
    h.quiet();
    h.feed_b(h.b_request("BYE", 101, "z9hG4bKbyeB", ""));
    h.take(B);
    assert_eq!(cseq(as_request(&h.only(A))), "2 BYE");
    h.finish();
}

#[test]
fn offerless_reinvite_the_answer_travels_in_the_acks() {
    let mut h = Harness::confirmed();
    h.feed_a(h.a_request("INVITE", 2, "z9hG4bKre0", ""));
    h.take(A);
    let re = as_request(&h.only(B)).clone();
    assert!(re.body.is_empty());
    assert_eq!(header(&re, "Content-Type"), None);

    h.feed_b(respond(&re, 200, None, ANSWER2));
    let ok = as_response(&h.only(A)).clone();
    assert_eq!(ok.body, ANSWER2.as_bytes(), "B's offer goes to A in the 2xx");
    h.quiet();
    // A re-INVITE from B meanwhile would be a second offer: 491.
    h.feed_b(h.b_request("INVITE", 100, "z9hG4bKglare", OFFER));
    let glare: Vec<u16> = h.take(B).iter().map(|m| as_response(m).status).collect();
    assert_eq!(glare, vec![100, 491]);

    h.feed_a(h.a_request("ACK", 2, "z9hG4bKre0ack", OFFER2));
    let ack_b = as_request(&h.only(B)).clone();
    assert_eq!((ack_b.method.clone(), cseq(&ack_b)), (Method::Ack, "2 ACK".to_owned()));
    assert_eq!(ack_b.body, OFFER2.as_bytes(), "the answer from A's ACK");
    assert_eq!(header(&ack_b, "Content-Type"), Some("application/sdp"));
    // B repeats its 2xx: the same ACK, answer included.
    h.feed_b(respond(&re, 200, None, ANSWER2));
    assert_eq!(as_request(&h.only(B)), &ack_b, "the same ACK again");
    h.advance(T1 * 4);
    let to_a = h.take(A);
    assert!(to_a.is_empty(), "A's ACK stopped our 2xx: {to_a:#?}");
}

#[test]
fn info_update_notify_are_relayed_both_ways_with_their_responses() {
    let mut h = Harness::confirmed();
    let mut seq_a = 1;
    for (method, extra) in [
        ("INFO", "Info-Package: dtmf\n"),
        ("UPDATE", ""),
        ("NOTIFY", "Event: refer\nSubscription-State: active\n"),
    ] {
        seq_a += 1;
        let mut req = h.a_request(method, seq_a, &format!("z9hG4bK{method}a"), "");
        for line in extra.lines() {
            let (name, value) = line.split_once(": ").expect("header line");
            req.headers.push(HeaderName::new(name), value);
        }
        h.feed_a(req);
        let out = as_request(&h.only(B)).clone();
        assert_eq!(out.method.as_str(), method);
        assert_eq!(out.call_id(), h.invite_b.as_ref().and_then(|i| i.call_id()));
        assert_eq!(cseq(&out), format!("{seq_a} {method}"), "INVITE was 1 on B, then one each");
        for line in extra.lines() {
            let (name, value) = line.split_once(": ").expect("header line");
            assert_eq!(header(&out, name), Some(value), "{method} keeps {name}");
        }
        h.quiet();
        let mut answer = respond(&out, 200, None, "");
        answer.reason = "Fine".into();
        h.feed_b(answer);
        let back = as_response(&h.only(A)).clone();
        assert_eq!((back.status, back.reason.as_str()), (200, "Fine"));
        assert_eq!(cseq(&back), format!("{seq_a} {method}"));
        assert_eq!(to_tag(&back), Some(h.a_tag()));
        h.quiet();
    }
    h.feed_b(h.b_request("INFO", 100, "z9hG4bKinfoB", ""));
    let out = as_request(&h.only(A)).clone();
    assert_eq!((out.method.clone(), cseq(&out)), (Method::Info, "1 INFO".to_owned()));
    h.feed_a(respond(&out, 415, None, ""));
    let back = as_response(&h.only(B)).clone();
    assert_eq!((back.status, cseq(&back)), (415, "100 INFO".to_owned()));
    assert!(h.events().is_empty(), "a failed INFO leaves the call up");
}

#[test]
fn in_dialog_request_with_an_old_cseq_gets_500() {
    let mut h = Harness::confirmed();
    h.feed_a(h.a_request("INFO", 1, "z9hG4bKold", ""));
    let r = as_response(&h.only(A)).clone();
    assert_eq!((r.status, cseq(&r)), (500, "1 INFO".to_owned()));
    h.quiet();
    h.feed_a(h.a_request("INFO", 5, "z9hG4bKnew", ""));
    assert_eq!(as_request(&h.only(B)).method, Method::Info);
    h.feed_a(h.a_request("INFO", 4, "z9hG4bKolder", ""));
    assert_eq!(as_response(&h.only(A)).status, 500);
    assert!(h.events().is_empty());
}

#[test]
fn request_for_an_unknown_dialog_gets_481() {
    let mut h = Harness::confirmed();
    let mut req = h.a_request("INFO", 2, "z9hG4bKstray", "");
    req.headers.set(HeaderName::TO, "<sip:bob@example.com>;tag=nope");
    h.feed_a(req);
    assert_eq!(as_response(&h.only(A)).status, 481);
    h.quiet();
}

#[test]
fn shutdown_of_a_confirmed_call_byes_both_legs() {
    let mut h = Harness::confirmed();
    h.input(Input::Shutdown);
    let bye_a = as_request(&h.only(A)).clone();
    let bye_b = as_request(&h.only(B)).clone();
    for bye in [&bye_a, &bye_b] {
        assert_eq!(bye.method, Method::Bye);
        assert!(header(bye, "Reason").is_some_and(|r| r.contains("503")));
    }
    h.assert_ended(EndReason::Shutdown);
    h.feed_a(respond(&bye_a, 200, None, ""));
    h.feed_b(respond(&bye_b, 200, None, ""));
    h.quiet();
    h.finish();
}

#[test]
fn unanswered_bye_still_lets_the_call_finish() {
    let mut h = Harness::confirmed();
    h.feed_b(h.b_request("BYE", 100, "z9hG4bKbyeB", ""));
    h.take(B);
    assert_eq!(as_request(&h.only(A)).method, Method::Bye);
    h.finish();
}

#[test]
fn b_repeating_its_first_2xx_after_a_reinvite_gets_the_first_ack() {
    let mut h = Harness::calling(invite_a("", OFFER));
    let first = h.b_response(200, "b1", ANSWER);
    h.feed_b(first.clone());
    let ack1 = as_request(&h.only(B)).clone();
    h.take(A);
    h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
    h.feed_a(h.a_request("INVITE", 2, "z9hG4bKre1", OFFER2));
    h.take(A);
    let re = as_request(&h.only(B)).clone();
    h.feed_b(respond(&re, 200, None, ANSWER2));
    let ack2 = as_request(&h.only(B)).clone();
    assert_eq!(cseq(&ack2), "2 ACK");
    // Our first ACK was lost: B's first 2xx comes again, and must get the ACK for CSeq 1, not 2.
    h.feed_b(first);
    assert_eq!(as_request(&h.only(B)), &ack1);
    h.feed_b(respond(&re, 200, None, ANSWER2));
    assert_eq!(as_request(&h.only(B)), &ack2);
    h.take(A);
    h.quiet();
}

#[test]
fn bye_from_b_before_a_acked_waits_for_a_ack() {
    let mut h = Harness::answered();
    h.feed_b(h.b_request("BYE", 100, "z9hG4bKbyeB", ""));
    assert_eq!(as_response(&h.only(B)).status, 200);
    h.assert_ended(EndReason::Bye(LegId::B));
    h.quiet(); // no BYE may overtake the 2xx A may not have yet (RFC 3261 §15)
    h.advance(T1);
    assert_eq!(as_response(&h.only(A)).status, 200, "our 2xx keeps coming until A's ACK");
    h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
    let bye = as_request(&h.only(A)).clone();
    assert_eq!((bye.method.clone(), cseq(&bye)), (Method::Bye, "1 BYE".to_owned()));
    h.feed_a(respond(&bye, 200, None, ""));
    h.quiet();
    assert!(h.events().is_empty(), "the call ends once");
    h.finish();
}

#[test]
fn held_bye_goes_when_a_never_acks() {
    let mut h = Harness::answered();
    let answered_at = h.now;
    h.input(Input::Shutdown);
    let bye_b = as_request(&h.only(B)).clone();
    assert_eq!(bye_b.method, Method::Bye);
    h.assert_ended(EndReason::Shutdown);
    h.feed_b(respond(&bye_b, 200, None, ""));
    h.advance(answered_at + T1 * 64 - h.now - Duration::from_millis(1));
    assert!(h.take(A).iter().all(|m| as_response(m).status == 200));
    h.advance(Duration::from_millis(1));
    let bye_a = as_request(&h.only(A)).clone();
    assert_eq!(bye_a.method, Method::Bye);
    assert!(header(&bye_a, "Reason").is_some_and(|r| r.contains("503")));
    assert!(h.events().is_empty(), "no second end (AckTimeout) after Shutdown");
    h.feed_a(respond(&bye_a, 200, None, ""));
    h.finish();
}
