//! The peer refreshes (RFC 4028 §10): a silent peer ends the call at interval − min(32, interval/3) with
//! BYE on both legs; its refresh is answered on its own leg when the SDP did not change (with the SDP we
//! last sent there), crosses when it did (with the other leg's own headers and o= version); an offerless
//! refresh gets our stored offer (RFC 3264 §5).

use super::*;
use crate::proto::call::LegId;
use crate::sip::sdp;

const PEER_REFRESHES: (&str, &str) = ("Session-Expires", "1800;refresher=uas");
const HOLD: &str = "v=0\r\no=alice 1 5 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
const HELD: &str = "v=0\r\no=bob 7 20 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n\
                    m=audio 5000 RTP/AVP 0\r\na=recvonly\r\n";

/// A's refresh (or re-INVITE) on leg A: CSeq `seq`, `body`, saying A stays the refresher.
fn a_refresh(h: &Harness, method: &str, seq: u32, body: &str) -> Request {
    let req = h.a_request(method, seq, &format!("z9hG4bKref{seq}"), body);
    with(req, &[("Supported", "timer"), ("Session-Expires", "1800;refresher=uac")])
}

/// The final response leg A got (a 100 may come first).
fn final_to_a(h: &mut Harness) -> Response {
    let sent = h.take(A);
    let last = as_response(sent.last().expect("an answer to A")).clone();
    assert!(sent[..sent.len() - 1].iter().all(|m| as_response(m).status == 100), "{sent:#?}");
    last
}

#[test]
fn silent_peer_ends_the_call_at_interval_minus_a_third_or_32_s() {
    for (se, expiry) in [("1800;refresher=uas", 1768), ("90;refresher=uas", 60)] {
        let lines = [("Supported", "timer"), ("Session-Expires", se)];
        let (mut h, _) = Harness::confirmed_with(timers(off(), on()), a_refreshes(), &lines);
        assert_expiry_byes(&mut h, secs(expiry), LegId::B);
    }
}

#[test]
fn silent_b_ends_the_call_while_a_keeps_refreshing() {
    let (mut h, _) = Harness::confirmed_with(timers(on(), on()), a_refreshes(), &[PEER_REFRESHES]);
    h.advance(secs(900));
    h.feed_a(a_refresh(&h, "INVITE", 2, OFFER));
    assert_eq!(final_to_a(&mut h).status, 200);
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKref2ack", ""));
    assert_expiry_byes(&mut h, secs(1768), LegId::B);
}

#[test]
fn peer_refresh_with_unchanged_sdp_is_answered_on_its_own_leg() {
    let bumped = OFFER.replace("alice 1 1", "alice 1 2");
    for body in [OFFER, bumped.as_str()] {
        let (mut h, first) = Harness::confirmed_with(timers(on(), off()), a_refreshes(), &[]);
        assert_eq!(header(&first, "Session-Expires"), Some("1800;refresher=uac"));
        h.advance(secs(900));
        h.feed_a(a_refresh(&h, "INVITE", 2, body));
        let ok = final_to_a(&mut h);
        assert_eq!((ok.status, cseq(&ok)), (200, "2 INVITE".to_owned()));
        assert_eq!(ok.body, ANSWER.as_bytes(), "the SDP last sent on A");
        assert_eq!(header(&ok, "Session-Expires"), Some("1800;refresher=uac"));
        assert!(has_timer(&ok, "Require"), "A refreshes: Require: timer");
        assert_eq!(header(&ok, "Min-SE"), None);
        assert_eq!(to_tag(&ok), Some(h.a_tag()));
        h.quiet();
        h.feed_a(h.a_request("ACK", 2, "z9hG4bKref2ack", ""));
        h.advance(T1 * 4);
        h.quiet();
        // A's expiry counts from that 2xx.
        assert_expiry_byes(&mut h, secs(900 + 1768), LegId::A);
    }
}

#[test]
fn peer_hold_crosses_with_b_own_headers_and_version_and_rearms_both_legs() {
    let b_lines = [("Supported", "timer"), ("Session-Expires", "1800;refresher=uac")];
    let (mut h, _) = Harness::confirmed_with(timers(on(), on()), a_refreshes(), &b_lines);
    h.advance(secs(600));
    h.feed_a(a_refresh(&h, "INVITE", 2, HOLD));
    assert_eq!(as_response(&h.only(A)).status, 100);
    let re = as_request(&h.only(B)).clone();
    assert_eq!(cseq(&re), "2 INVITE");
    assert!(sdp::same_session(&re.body, HOLD.as_bytes()), "the hold crosses");
    assert_eq!(sdp::version(&re.body), Some(2), "B's own o= counter: 1 + 1, not A's 5");
    assert_eq!(header(&re, "Session-Expires"), Some("1800;refresher=uac"), "B's own interval and role");
    assert_eq!(header(&re, "Min-SE"), Some("90"));
    assert!(has_timer(&re, "Supported") && !has_timer(&re, "Require"));
    h.feed_b(with(respond(&re, 200, None, HELD), &b_lines));
    assert_eq!(cseq(as_request(&h.only(B))), "2 ACK");
    let ok = as_response(&h.only(A)).clone();
    assert_eq!((ok.status, cseq(&ok)), (200, "2 INVITE".to_owned()));
    assert!(sdp::same_session(&ok.body, HELD.as_bytes()));
    assert_eq!(sdp::version(&ok.body), Some(8), "A's own o= counter: 7 + 1, not B's 20");
    assert_eq!(header(&ok, "Session-Expires"), Some("1800;refresher=uac"), "A's own values");
    assert!(has_timer(&ok, "Require"));
    assert_eq!(header(&ok, "Min-SE"), None);
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKref2ack", ""));
    // Both legs re-armed by that 2xx: our refresh of B at 600 + 900 (with the hold now in force there),
    // A's expiry at 600 + 1768.
    let refresh = h.request_at(B, h.start + secs(1500));
    assert_eq!(refresh.body, re.body, "the SDP last sent on B, byte for byte");
    h.feed_b(with(respond(&refresh, 200, None, HELD), &b_lines));
    h.take(B);
    assert_expiry_byes(&mut h, secs(600 + 1768), LegId::A);
}

#[test]
fn a_reinvite_we_relay_keeps_the_peer_as_refresher() {
    // §7.4: in a refresh we send while the peer refreshes, `refresher=uas`, so the roles do not flip.
    let lines = [("Supported", "timer"), PEER_REFRESHES];
    let (mut h, _) = Harness::confirmed_with(timers(off(), on()), a_refreshes(), &lines);
    h.advance(secs(600));
    h.feed_a(h.a_request("INVITE", 2, "z9hG4bKholdA", HOLD));
    h.take(A);
    let re = as_request(&h.only(B)).clone();
    assert_eq!(header(&re, "Session-Expires"), Some("1800;refresher=uas"));
    h.feed_b(with(respond(&re, 200, None, HELD), &lines));
    h.take(B);
    h.take(A);
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKholdAck", ""));
    assert_expiry_byes(&mut h, secs(600 + 1768), LegId::B);
}

#[test]
fn offerless_refresh_gets_our_stored_offer_and_its_ack_stays_on_the_leg() {
    let (mut h, _) =
        Harness::confirmed_with(timers(on(), on()), a_refreshes(), &[("Session-Expires", "1800")]);
    h.advance(secs(800));
    h.feed_a(a_refresh(&h, "INVITE", 2, ""));
    let ok = final_to_a(&mut h);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, ANSWER.as_bytes(), "our stored offer on A");
    assert_eq!(header(&ok, "Content-Type"), Some("application/sdp"));
    assert_eq!(header(&ok, "Session-Expires"), Some("1800;refresher=uac"));
    h.quiet();
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKref2ack", OFFER));
    h.advance(T1 * 4);
    h.quiet();
    assert!(h.events().is_empty());
    // B's 2xx named no refresher: we refresh B at 900 as before, undisturbed.
    assert_eq!(h.request_at(B, h.start + secs(900)).method, Method::Invite);
}

#[test]
fn peer_update_refresh_is_answered_without_a_body() {
    let lines = [("Supported", "timer"), PEER_REFRESHES];
    let (mut h, _) = Harness::confirmed_with(timers(off(), on()), a_refreshes(), &lines);
    h.advance(secs(900));
    let update = with(
        h.b_request("UPDATE", 100, "z9hG4bKupB", ""),
        &[("Supported", "timer"), ("Session-Expires", "1800;refresher=uac")],
    );
    h.feed_b(update);
    let ok = as_response(&h.only(B)).clone();
    assert_eq!((ok.status, cseq(&ok)), (200, "100 UPDATE".to_owned()));
    assert!(ok.body.is_empty());
    assert_eq!(header(&ok, "Session-Expires"), Some("1800;refresher=uac"));
    h.quiet();
    assert_expiry_byes(&mut h, secs(900 + 1768), LegId::B);
}

#[test]
fn a_hold_refused_by_b_and_retried_still_crosses() {
    // B refuses the hold with 491 (glare on its side); A's retry of the same offer is a media change
    // still, not a refresh to answer on leg A with the old description.
    let (mut h, _) = Harness::confirmed_with(timers(on(), on()), a_refreshes(), &[PEER_REFRESHES]);
    h.advance(secs(300));
    h.feed_a(a_refresh(&h, "INVITE", 2, HOLD));
    h.take(A);
    let re = as_request(&h.only(B)).clone();
    h.feed_b(respond(&re, 491, None, ""));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    assert_eq!(as_response(&h.only(A)).status, 491);
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKref2", ""));
    h.advance(secs(3));
    h.feed_a(a_refresh(&h, "INVITE", 3, HOLD));
    let sent = h.take(A);
    assert!(sent.iter().all(|m| as_response(m).status == 100), "not answered on A: {sent:#?}");
    let again = as_request(&h.only(B)).clone();
    assert_eq!(cseq(&again), "3 INVITE");
    assert_eq!(again.body, re.body, "the same hold, the same version on B (the refused one never took)");
    // Once B took the hold, the same offer again is a refresh.
    h.feed_b(with(respond(&again, 200, None, HELD), &[PEER_REFRESHES]));
    h.take(B);
    assert_eq!(as_response(&h.only(A)).status, 200);
    h.feed_a(h.a_request("ACK", 3, "z9hG4bKref3ack", ""));
    h.feed_a(a_refresh(&h, "INVITE", 4, HOLD));
    assert_eq!(final_to_a(&mut h).status, 200, "the hold again is now a refresh, answered on A");
    h.quiet();
}

#[test]
fn a_refresh_on_a_is_answered_while_our_refresh_of_b_is_in_flight() {
    let b_lines = [("Supported", "timer"), ("Session-Expires", "1800;refresher=uac")];
    let (mut h, _) = Harness::confirmed_with(timers(on(), on()), a_refreshes(), &b_lines);
    let ours = h.request_at(B, h.start + secs(900));
    // A's refresh crosses ours: it changes nothing, so there is no glare to resolve with a 491.
    h.feed_a(a_refresh(&h, "INVITE", 2, OFFER));
    assert_eq!(final_to_a(&mut h).status, 200);
    h.quiet();
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKref2ack", ""));
    h.feed_b(with(respond(&ours, 200, None, ANSWER), &b_lines));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    h.quiet();
    // A hold while ours is still in flight must wait: 491.
    let next = h.request_at(B, h.start + secs(1800));
    h.feed_a(a_refresh(&h, "INVITE", 3, HOLD));
    assert_eq!(final_to_a(&mut h).status, 491);
    h.quiet();
    assert_eq!(cseq(&next), "3 INVITE");
}
