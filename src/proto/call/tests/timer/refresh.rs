//! Our refreshes (RFC 4028 §10): at half the interval, re-INVITE with the SDP last sent on the leg or a
//! body-less UPDATE, re-armed by their 2xx, and the failure ladder: 401/407, 422, 491 (RFC 3261 §14.1),
//! 405/501 to UPDATE (RFC 3311), 408/481/timeout, other errors; deferred while an INVITE is in flight.

use super::*;
use crate::proto::call::LegId;
use crate::sip::sdp;

const WE_REFRESH: (&str, &str) = ("Session-Expires", "1800;refresher=uac");
const ALLOW_UPDATE: (&str, &str) = ("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE");
const HOLD: &str = "v=0\r\no=alice 1 5 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";

/// A call in which we refresh leg B (B's 2xx says `refresher=uac`) and leg A has no timer.
fn we_refresh_b(b: SessionTimerConfig, extra: &[(&str, &str)]) -> Harness {
    let mut lines = vec![("Supported", "timer"), WE_REFRESH];
    lines.extend_from_slice(extra);
    Harness::confirmed_with(timers(off(), b), a_refreshes(), &lines).0
}

/// B's 200 to our refresh, saying we stay the refresher.
fn ok_b(re: &Request, se: &str) -> Response {
    let body = if re.method == Method::Invite { ANSWER } else { "" };
    with(respond(re, 200, None, body), &[("Supported", "timer"), ("Session-Expires", se)])
}

#[test]
fn we_refresh_b_at_half_the_interval_with_the_sdp_last_sent_there() {
    let mut h = we_refresh_b(on(), &[]);
    let invite_b = h.invite_b.clone().expect("INVITE on B");
    let mut armed = h.start;
    for seq in 2..=4 {
        let re = h.request_at(B, armed + secs(900));
        assert_eq!((re.method.clone(), cseq(&re)), (Method::Invite, format!("{seq} INVITE")));
        assert_eq!(re.call_id(), invite_b.call_id());
        assert_eq!(to_tag(&re).as_deref(), Some("b1"));
        assert_eq!(re.body, invite_b.body, "exactly the SDP sent on B, byte for byte");
        assert_eq!(sdp::version(&re.body), sdp::version(&invite_b.body), "unchanged: same o= version");
        assert_eq!(header(&re, "Content-Type"), Some("application/sdp"));
        assert_eq!(header(&re, "Session-Expires"), Some("1800;refresher=uac"));
        assert!(has_timer(&re, "Supported"));
        // Answered 300 ms later: the next refresh is 900 s after that 2xx, not after the request.
        h.advance(ms(300));
        h.feed_b(ok_b(&re, "1800;refresher=uac"));
        let ack = as_request(&h.only(B)).clone();
        assert_eq!((ack.method.clone(), cseq(&ack)), (Method::Ack, format!("{seq} ACK")));
        h.quiet();
        assert!(h.events().is_empty(), "A sees nothing of B's refreshes");
        armed = h.now;
    }
    assert!(armed > h.start + secs(1768), "the expiry moved with each 2xx");
}

#[test]
fn update_refreshes_when_configured_and_allowed() {
    let b = SessionTimerConfig { use_update: true, ..on() };
    let mut h = we_refresh_b(b.clone(), &[ALLOW_UPDATE]);
    let mut armed = h.start;
    for seq in 2..=3 {
        let up = h.request_at(B, armed + secs(900));
        assert_eq!((up.method.clone(), cseq(&up)), (Method::Update, format!("{seq} UPDATE")));
        assert!(up.body.is_empty(), "a refresh UPDATE carries no offer");
        assert_eq!(header(&up, "Content-Type"), None);
        assert_eq!(header(&up, "Session-Expires"), Some("1800;refresher=uac"));
        h.feed_b(ok_b(&up, "1800;refresher=uac"));
        h.quiet(); // no ACK for an UPDATE
        armed = h.now;
    }
    // Configured, but B's Allow does not list UPDATE: re-INVITE.
    let mut h = we_refresh_b(b, &[("Allow", "INVITE, ACK, BYE")]);
    assert_eq!(h.request_at(B, h.start + secs(900)).method, Method::Invite);
}

#[test]
fn update_refused_switches_the_leg_to_reinvite_at_once() {
    for status in [501, 405] {
        let b = SessionTimerConfig { use_update: true, ..on() };
        let mut h = we_refresh_b(b, &[ALLOW_UPDATE]);
        let up = h.request_at(B, h.start + secs(900));
        assert_eq!(up.method, Method::Update);
        h.feed_b(respond(&up, status, None, ""));
        assert_eq!(h.call.poll_timeout(), Some(h.now), "{status}: the re-INVITE is due at once");
        h.advance(Duration::ZERO);
        let re = as_request(&h.only(B)).clone();
        assert_eq!((re.method.clone(), cseq(&re)), (Method::Invite, "3 INVITE".to_owned()), "{status}");
        assert_eq!(h.now, h.start + secs(900));
        assert_eq!(re.body, h.invite_b.as_ref().expect("INVITE on B").body);
        // B's Allow still lists UPDATE: the leg stays with re-INVITE all the same.
        h.feed_b(with(ok_b(&re, "1800;refresher=uac"), &[ALLOW_UPDATE]));
        h.take(B);
        let next = h.request_at(B, h.now + secs(900));
        assert_eq!(
            (next.method.clone(), cseq(&next)),
            (Method::Invite, "4 INVITE".to_owned()),
            "{status}: for good"
        );
    }
}

#[test]
fn glare_491_backs_off_2_1_to_4_s_on_b_and_up_to_2_s_on_a() {
    // Leg B: its Call-ID is ours (RFC 3261 §14.1).
    let mut h = we_refresh_b(on(), &[]);
    let re = h.request_at(B, h.start + secs(900));
    h.feed_b(respond(&re, 491, None, ""));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    let refused_at = h.now;
    let (at, sent) = h.next_to(B, refused_at + secs(5)).expect("a retry");
    let wait = at - refused_at;
    assert!(wait >= ms(2100) && wait <= ms(4000), "leg B waits 2.1–4 s, waited {wait:?}");
    let retry = as_request(&sent[0]).clone();
    assert_eq!((retry.method.clone(), cseq(&retry)), (Method::Invite, "3 INVITE".to_owned()));
    assert_eq!(retry.body, re.body);
    h.quiet();

    // Leg A: the caller owns its Call-ID; we refresh it here (refresher=uas in its INVITE).
    let (mut h, _) = Harness::confirmed_with(timers(on(), off()), we_refresh_a(), &[]);
    let re = h.request_at(A, h.start + secs(900));
    assert_eq!((re.method.clone(), cseq(&re)), (Method::Invite, "1 INVITE".to_owned()));
    assert_eq!(re.body, ANSWER.as_bytes(), "the SDP last sent on A");
    assert_eq!(header(&re, "Session-Expires"), Some("1800;refresher=uac"));
    h.feed_a(respond(&re, 491, None, ""));
    assert_eq!(as_request(&h.only(A)).method, Method::Ack);
    let refused_at = h.now;
    let (at, sent) = h.next_to(A, refused_at + secs(5)).expect("a retry");
    assert!(at - refused_at <= ms(2000), "leg A waits 0–2 s, waited {:?}", at - refused_at);
    assert_eq!(cseq(as_request(&sent[0])), "2 INVITE");
    h.quiet();
}

#[test]
fn refresh_422_is_retried_with_the_raised_interval() {
    let mut h = we_refresh_b(on(), &[]);
    let re = h.request_at(B, h.start + secs(900));
    h.feed_b(with(respond(&re, 422, None, ""), &[("Min-SE", "3600")]));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    h.advance(Duration::ZERO);
    let retry = as_request(&h.only(B)).clone();
    assert_eq!(cseq(&retry), "3 INVITE");
    assert_eq!(header(&retry, "Session-Expires"), Some("3600;refresher=uac"));
    assert_eq!(header(&retry, "Min-SE"), Some("3600"));
    assert_eq!(retry.body, re.body);
    h.feed_b(ok_b(&retry, "3600;refresher=uac"));
    h.take(B);
    assert!(h.events().is_empty(), "the dialog and its timer stay up");
    let next = h.request_at(B, h.now + secs(1800));
    assert_eq!(header(&next, "Session-Expires"), Some("3600;refresher=uac"));
}

#[test]
fn refresh_408_or_481_ends_the_call_on_both_legs() {
    for status in [408, 481] {
        let mut h = we_refresh_b(on(), &[]);
        let re = h.request_at(B, h.start + secs(900));
        h.feed_b(respond(&re, status, None, ""));
        let to_b: Vec<Method> = h.take(B).iter().map(|m| as_request(m).method.clone()).collect();
        assert_eq!(to_b, vec![Method::Ack, Method::Bye], "{status}");
        assert_eq!(as_request(&h.only(A)).method, Method::Bye, "{status}");
        h.assert_ended(EndReason::Timeout(LegId::B));
    }
}

#[test]
fn unanswered_refresh_ends_the_call_after_timer_b() {
    let mut h = we_refresh_b(on(), &[]);
    let re = h.request_at(B, h.start + secs(900));
    h.advance(T1 * 64 - ms(1));
    for m in h.take(B) {
        assert_eq!(as_request(&m).branch(), re.branch(), "only retransmissions of the refresh");
    }
    h.quiet();
    assert!(h.events().is_empty());
    h.advance(ms(1));
    assert_eq!(as_request(&h.only(A)).method, Method::Bye);
    assert_eq!(as_request(&h.only(B)).method, Method::Bye);
    h.assert_ended(EndReason::Timeout(LegId::B));
}

#[test]
fn other_refresh_errors_keep_the_timer_until_the_expiry() {
    let mut h = we_refresh_b(on(), &[]);
    let expiry = h.start + secs(1768);
    let mut attempts = Vec::new();
    while let Some((at, sent)) = h.next_to(B, expiry - ms(1)) {
        for m in sent {
            let re = as_request(&m).clone();
            assert_eq!(re.method, Method::Invite, "nothing but refresh attempts before the expiry");
            attempts.push(at - h.start);
            h.feed_b(respond(&re, 500, None, ""));
            assert_eq!(as_request(&h.only(B)).method, Method::Ack);
        }
        assert!(h.take(A).is_empty() && h.events().is_empty(), "the call stays up");
    }
    assert_eq!(attempts[..2], [secs(900), secs(900 + 434)], "the retry goes halfway to the expiry");
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert_expiry_byes(&mut h, secs(1768), LegId::B);
}

#[test]
fn refresh_is_deferred_while_an_invite_is_in_flight_on_the_leg() {
    let mut h = we_refresh_b(on(), &[]);
    h.advance(ms(899_500));
    h.feed_a(h.a_request("INVITE", 2, "z9hG4bKholdA", HOLD));
    assert_eq!(as_response(&h.only(A)).status, 100);
    let hold = as_request(&h.only(B)).clone();
    assert_eq!(cseq(&hold), "2 INVITE");
    h.feed_b(respond(&hold, 100, None, ""));
    h.take(A);
    // Due at 900 s, put off by a second at a time while the relayed INVITE is open.
    h.advance_to(h.start + ms(901_500));
    h.quiet();
    h.feed_b(respond(&hold, 488, None, ""));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    assert_eq!(as_response(&h.only(A)).status, 488);
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKholdA", ""));
    let re = h.request_at(B, h.start + secs(902));
    assert_eq!(cseq(&re), "3 INVITE");
    let invite_b = h.invite_b.clone().expect("INVITE on B");
    assert_eq!(re.body, invite_b.body, "the refused hold is not the session: the SDP in force goes");
}

#[test]
fn refresh_challenged_by_the_trunk_is_answered_with_credentials() {
    let config =
        CallConfig { credentials: Some(("trunkuser".into(), "s3cret".into())), ..timers(off(), on()) };
    let (mut h, _) = Harness::confirmed_with(config, a_refreshes(), &[WE_REFRESH]);
    let re = h.request_at(B, h.start + secs(900));
    let challenge = r#"Digest realm="trunk.example.com", nonce="n0nce", qop="auth""#;
    h.feed_b(with(respond(&re, 407, None, ""), &[("Proxy-Authenticate", challenge)]));
    let sent = h.take(B);
    assert_eq!(sent.len(), 2, "ACK for the 407, then the refresh again: {sent:#?}");
    assert_eq!(as_request(&sent[0]).method, Method::Ack);
    let retry = as_request(&sent[1]).clone();
    assert_eq!((retry.method.clone(), cseq(&retry)), (Method::Invite, "3 INVITE".to_owned()));
    assert!(header(&retry, "Proxy-Authorization").is_some_and(|a| a.contains("username=\"trunkuser\"")));
    assert_eq!(retry.body, re.body);
    assert_eq!(header(&retry, "Session-Expires"), Some("1800;refresher=uac"));
    h.quiet();
    h.feed_b(ok_b(&retry, "1800;refresher=uac"));
    assert_eq!(cseq(as_request(&h.only(B))), "3 ACK");
    let next = h.request_at(B, h.now + secs(900));
    assert_eq!(cseq(&next), "4 INVITE");
}
