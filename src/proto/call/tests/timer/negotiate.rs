//! Negotiation on each leg: leg B's INVITE asks for leg B's own values (§7.1), our 2xx on leg A follows
//! Table 2 (§9) and never carries Min-SE (§5), 422 both ways (§7.3, §9, errata 1681 and 1687).

use super::*;

/// Header lines of a request.
type Lines = &'static [(&'static str, &'static str)];

#[test]
fn invite_on_b_asks_for_b_values_never_a_ones() {
    let a_asks = [("Supported", "timer"), ("Session-Expires", "3600;refresher=uas"), ("Min-SE", "120")];
    for (prefer, expect) in [(PreferRefresher::Uac, "1800;refresher=uac"), (PreferRefresher::Uas, "1800")] {
        let b = SessionTimerConfig { prefer_refresher: prefer, ..on() };
        let mut h = Harness::with_config(invite_timer(&a_asks), timers(on(), b));
        h.take(A);
        h.connect();
        let invite = h.invite_b.clone().expect("INVITE on B");
        assert!(has_timer(&invite, "Supported"), "{prefer:?}: Supported: timer");
        assert!(!has_timer(&invite, "Require"), "{prefer:?}: never Require: timer (§7.1)");
        assert_eq!(header(&invite, "Session-Expires"), Some(expect), "{prefer:?}");
        assert_eq!(header(&invite, "Min-SE"), Some("90"), "{prefer:?}");
        assert_eq!(invite.headers.count(&HeaderName::SESSION_EXPIRES), 1);
        assert_eq!(invite.headers.count(&HeaderName::MIN_SE), 1);
    }
}

#[test]
fn timer_disabled_on_b_puts_nothing_of_rfc_4028_on_b() {
    let mut h = Harness::with_config(a_refreshes(), timers(on(), off()));
    h.take(A);
    h.connect();
    let invite = h.invite_b.clone().expect("INVITE on B");
    assert!(!has_timer(&invite, "Supported") && !has_timer(&invite, "Require"));
    assert_eq!(header(&invite, "Session-Expires"), None);
    assert_eq!(header(&invite, "Min-SE"), None);
    // Leg A still gets its own timer in the 2xx.
    h.feed_b(h.b_response(200, "b1", ANSWER));
    h.take(B);
    let ok = as_response(&h.only(A)).clone();
    assert_eq!(header(&ok, "Session-Expires"), Some("1800;refresher=uac"));
}

#[test]
fn ok_to_a_follows_table_2_and_never_carries_min_se() {
    const T: (&str, &str) = ("Supported", "timer");
    let cases: [(Lines, PreferRefresher, &str, bool); 7] = [
        (&[T, ("Session-Expires", "1800;refresher=uac")], PreferRefresher::Uas, "1800;refresher=uac", true),
        (&[T, ("Session-Expires", "1800;refresher=uas")], PreferRefresher::Uac, "1800;refresher=uas", false),
        (&[T, ("Session-Expires", "1800")], PreferRefresher::Uac, "1800;refresher=uac", true),
        (&[T, ("Session-Expires", "1800")], PreferRefresher::Uas, "1800;refresher=uas", false),
        (&[("Session-Expires", "1800;refresher=uac")], PreferRefresher::Uac, "1800;refresher=uas", false),
        (&[("Session-Expires", "1200")], PreferRefresher::Uac, "1200;refresher=uas", false),
        (&[], PreferRefresher::Uac, "1800;refresher=uas", false),
    ];
    for (lines, prefer, expect, require) in cases {
        let a = SessionTimerConfig { prefer_refresher: prefer, ..on() };
        // B answers with values of its own, and a Min-SE that has no place in a 2xx: none may cross.
        let b_lines = [
            ("Session-Expires", "900;refresher=uas"),
            ("Require", "timer"),
            ("Min-SE", "600"),
            ("Supported", "timer"),
        ];
        let (_, ok) = Harness::confirmed_with(timers(a, on()), invite_timer(lines), &b_lines);
        let case = format!("{lines:?} prefer {prefer:?}");
        assert_eq!(header(&ok, "Session-Expires"), Some(expect), "{case}");
        assert_eq!(ok.headers.count(&HeaderName::SESSION_EXPIRES), 1, "{case}");
        assert_eq!(has_timer(&ok, "Require"), require, "{case}: Require: timer only when the UAC refreshes");
        assert!(has_timer(&ok, "Supported"), "{case}");
        assert_eq!(header(&ok, "Min-SE"), None, "{case}: never Min-SE in a 2xx (§5)");
    }
}

#[test]
fn caller_below_our_min_se_with_timer_gets_422_and_b_sees_nothing() {
    let a = SessionTimerConfig { min_se: 300, ..on() };
    let small = [("Supported", "timer"), ("Session-Expires", "120"), ("Min-SE", "90")];
    let mut h = Harness::with_config(invite_timer(&small), timers(a, on()));
    let sent: Vec<u16> = h.take(A).iter().map(|m| as_response(m).status).collect();
    assert_eq!(sent, vec![100, 422]);
    // Not reported as ended: the caller may retry on this Call-ID (the actor reports the end at finish).
    assert!(h.events().is_empty());
    assert_eq!(h.call.end_reason(), Some(&EndReason::Rejected(422)));
    h.input(Input::Connect(setup(B, "10.0.0.1:5060")));
    h.quiet();
    assert_eq!(h.invite_b, None);
}

#[test]
fn the_422_carries_our_min_se_and_the_callers_retry_goes_through() {
    let a = SessionTimerConfig { min_se: 300, ..on() };
    let small = [("Supported", "timer"), ("Session-Expires", "120"), ("Min-SE", "90")];
    // The retry with the same From tag after the next hop is known, and with a new one before.
    for (new_tag, connect_first) in [(false, true), (true, false)] {
        let mut h = Harness::with_config(invite_timer(&small), timers(a.clone(), on()));
        let sent = h.take(A);
        let too_small = as_response(&sent[1]).clone();
        assert_eq!((too_small.status, header(&too_small, "Min-SE")), (422, Some("300")));
        assert_eq!(header(&too_small, "Session-Expires"), None);
        h.events();
        if connect_first {
            h.input(Input::Connect(setup(B, "10.0.0.1:5060")));
            h.quiet();
        }
        h.feed_a(h.failure_ack());
        h.quiet();
        let mut retry =
            invite_timer(&[("Supported", "timer"), ("Session-Expires", "300"), ("Min-SE", "300")]);
        retry.headers.set(HeaderName::VIA, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinvA2");
        retry.headers.set(HeaderName::CSEQ, "2 INVITE");
        if new_tag {
            retry.headers.set(HeaderName::FROM, "\"Alice Smith\" <sip:alice@example.com>;tag=atag2");
        }
        h.feed_a(retry.clone());
        assert_eq!(as_response(&h.only(A)).status, 100, "new_tag {new_tag}");
        if connect_first {
            let invite = as_request(&h.only(B)).clone();
            h.invite_b = Some(invite);
        } else {
            h.connect();
        }
        let invite_b = h.invite_b.clone().expect("INVITE on B");
        assert_eq!(header(&invite_b, "Session-Expires"), Some("1800;refresher=uac"), "B's own values");
        h.feed_b(h.b_response(200, "b1", ANSWER));
        h.take(B);
        let ok = as_response(&h.only(A)).clone();
        assert_eq!((ok.status, cseq(&ok)), (200, "2 INVITE".to_owned()));
        assert_eq!(header(&ok, "Session-Expires"), Some("300;refresher=uac"));
        assert_eq!(from_tag(&ok).as_deref(), Some(if new_tag { "atag2" } else { "atag" }));
        assert_eq!(h.events(), vec![Output::Answered]);
    }
}

#[test]
fn caller_below_our_min_se_without_timer_is_raised_and_we_refresh() {
    let a = SessionTimerConfig { min_se: 300, ..on() };
    let (mut h, ok) =
        Harness::confirmed_with(timers(a, off()), invite_timer(&[("Session-Expires", "120")]), &[]);
    assert_eq!(
        header(&ok, "Session-Expires"),
        Some("300;refresher=uas"),
        "raised to our Min-SE (errata 1687)"
    );
    assert!(!has_timer(&ok, "Require"), "never Require: timer to a UAC that did not declare it");
    // We refresh leg A at half of 300 s.
    let re = h.request_at(A, h.start + secs(150));
    assert_eq!((re.method.clone(), cseq(&re)), (Method::Invite, "1 INVITE".to_owned()));
    assert_eq!(header(&re, "Session-Expires"), Some("300;refresher=uac"));
}

#[test]
fn b_422_is_retried_with_its_min_se_and_a_new_from_tag() {
    let b = SessionTimerConfig { default_expires: 90, ..on() };
    let mut h = Harness::with_config(a_refreshes(), timers(on(), b));
    h.take(A);
    h.connect();
    let first = h.invite_b.clone().expect("INVITE on B");
    assert_eq!(header(&first, "Session-Expires"), Some("90;refresher=uac"));
    h.feed_b(with(h.b_response(422, "b1", ""), &[("Min-SE", "180")]));
    let sent = h.take(B);
    assert_eq!(sent.len(), 2, "ACK for the 422, then the new INVITE: {sent:#?}");
    assert_eq!(as_request(&sent[0]).method, Method::Ack);
    let retry = as_request(&sent[1]).clone();
    assert_eq!(retry.method, Method::Invite);
    assert_eq!(retry.call_id(), first.call_id(), "same Call-ID");
    assert_ne!(from_tag(&retry), from_tag(&first), "a new From tag (errata 1681)");
    assert_eq!(cseq(&retry), "2 INVITE");
    assert_eq!(header(&retry, "Session-Expires"), Some("180;refresher=uac"));
    assert_eq!(header(&retry, "Min-SE"), Some("180"));
    assert_eq!(retry.body, first.body);
    h.quiet();
    assert!(h.events().is_empty(), "A never sees the 422");
    h.invite_b = Some(retry);
    h.feed_b(with(h.b_response(200, "b1", ANSWER), &[("Session-Expires", "180;refresher=uac")]));
    assert_eq!(cseq(as_request(&h.only(B))), "2 ACK");
    assert_eq!(as_response(&h.only(A)).status, 200);
    assert_eq!(h.events(), vec![Output::Answered]);
    h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
    // Leg B runs at 180 s: our refresh at 90 s.
    let re = h.request_at(B, h.start + secs(90));
    assert_eq!(header(&re, "Session-Expires"), Some("180;refresher=uac"));
}

#[test]
fn a_fourth_422_from_b_fails_the_call() {
    let mut h = Harness::with_config(a_refreshes(), timers(on(), on()));
    h.take(A);
    h.connect();
    let call_id = h.invite_b.as_ref().and_then(|i| i.call_id().map(str::to_owned));
    for (round, min_se) in [(1, "2000"), (2, "2100"), (3, "2200")] {
        h.feed_b(with(h.b_response(422, "b1", ""), &[("Min-SE", min_se)]));
        let sent = h.take(B);
        let retry = as_request(&sent[1]).clone();
        assert_eq!(cseq(&retry), format!("{} INVITE", round + 1));
        assert_eq!(retry.call_id(), call_id.as_deref());
        assert_eq!(header(&retry, "Min-SE"), Some(min_se));
        assert_eq!(header(&retry, "Session-Expires"), Some(format!("{min_se};refresher=uac").as_str()));
        h.invite_b = Some(retry);
        h.quiet();
    }
    h.feed_b(with(h.b_response(422, "b1", ""), &[("Min-SE", "2300")]));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack, "no fifth INVITE");
    let failed = as_response(&h.only(A)).clone();
    assert_eq!(failed.status, 500, "leg B's interval is not the caller's business");
    assert_eq!(header(&failed, "Min-SE"), None);
    h.assert_ended(EndReason::Rejected(422));
}

#[test]
fn no_timer_negotiated_never_ends_the_call() {
    // Disabled on both legs: the call lives a day, and a peer's refresh is still answered.
    let (mut h, ok) = Harness::confirmed_with(timers(off(), off()), a_refreshes(), &[]);
    assert_eq!(header(&ok, "Session-Expires"), None);
    assert!(!has_timer(&ok, "Supported") && !has_timer(&ok, "Require"));
    h.advance(secs(900));
    h.quiet();
    let refresh =
        with(h.a_request("INVITE", 2, "z9hG4bKrefA", OFFER), &[("Session-Expires", "1800;refresher=uac")]);
    h.feed_a(refresh);
    let ok = as_response(h.take(A).last().expect("an answer")).clone();
    assert_eq!((ok.status, header(&ok, "Session-Expires")), (200, None));
    assert_eq!(ok.body, ANSWER.as_bytes());
    h.quiet();
    h.feed_a(h.a_request("ACK", 2, "z9hG4bKrefAck", ""));
    h.advance(secs(24 * 3600));
    h.quiet();
    assert!(h.events().is_empty());
    assert_eq!(h.call.end_reason(), None);

    // Enabled here, but leg B's 2xx declares timer and asks for none (§7.2): no timer on B.
    let (mut h, _) = Harness::confirmed_with(timers(off(), on()), a_refreshes(), &[("Supported", "timer")]);
    h.advance(secs(24 * 3600));
    h.quiet();
    assert!(h.events().is_empty(), "no negotiated timer: never ended by one");
}
