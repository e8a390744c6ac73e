//! Unit tables for RFC 4028: Table 2 in full, the UAC's reading of 2xx variants, 422 paths, and the
//! schedule arithmetic of §10.

use std::time::{Duration, Instant};

use super::negotiate::*;
use super::*;
use crate::config::PreferRefresher;
use crate::sip::{parse, Message, Refresher, Request, Response};

fn config(prefer: PreferRefresher) -> SessionTimerConfig {
    SessionTimerConfig {
        enabled: true,
        default_expires: 1800,
        min_se: 90,
        prefer_refresher: prefer,
        use_update: false,
    }
}

fn invite(extra: &str) -> Request {
    let text = format!(
        "INVITE sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n\
         To: <sip:b@example.com>\r\nCall-ID: st\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()).expect("valid") {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn ok(extra: &str) -> Response {
    let text = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n\
         To: <sip:b@example.com>;tag=2\r\nCall-ID: st\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()).expect("valid") {
        Message::Response(r) => r,
        Message::Request(_) => unreachable!(),
    }
}

fn accept(d: UasDecision) -> (Session, Refresher, bool) {
    match d {
        UasDecision::Accept { session, refresher, require_timer } => (session, refresher, require_timer),
        other => panic!("expected Accept, got {other:?}"),
    }
}

/// RFC 4028 Table 2, every row, under both local preferences.
#[test]
fn table_2_refresher_election() {
    let rows: [(&str, PreferRefresher, Refresher, bool); 8] = [
        // UAC did not declare timer: we refresh whatever we prefer; never Require to it.
        ("Session-Expires: 1800\r\n", PreferRefresher::Uac, Refresher::Uas, false),
        ("Session-Expires: 1800\r\n", PreferRefresher::Uas, Refresher::Uas, false),
        // Declared, no refresher in the request: our choice.
        ("Supported: timer\r\nSession-Expires: 1800\r\n", PreferRefresher::Uac, Refresher::Uac, true),
        ("Supported: timer\r\nSession-Expires: 1800\r\n", PreferRefresher::Uas, Refresher::Uas, false),
        // Declared, refresher=uac: the UAC refreshes, Require: timer.
        (
            "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
            PreferRefresher::Uas,
            Refresher::Uac,
            true,
        ),
        (
            "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
            PreferRefresher::Uac,
            Refresher::Uac,
            true,
        ),
        // Declared, refresher=uas: we refresh.
        (
            "Supported: timer\r\nSession-Expires: 1800;refresher=uas\r\n",
            PreferRefresher::Uac,
            Refresher::Uas,
            false,
        ),
        ("Supported: timer\r\nx: 1800;refresher=uas\r\n", PreferRefresher::Uas, Refresher::Uas, false),
    ];
    for (headers, prefer, refresher, require) in rows {
        let (session, got, got_require) = accept(uas_decide(&config(prefer), &invite(headers)));
        assert_eq!(got, refresher, "{headers:?} prefer {prefer:?}");
        assert_eq!(got_require, require, "Require: timer for {headers:?} prefer {prefer:?}");
        assert_eq!(session.we_refresh, refresher == Refresher::Uas);
        assert_eq!(session.interval, 1800);
    }
}

#[test]
fn uas_422_only_to_a_uac_that_declared_timer() {
    let c = config(PreferRefresher::Uac);
    assert_eq!(
        uas_decide(
            &SessionTimerConfig { min_se: 120, ..c.clone() },
            &invite("Supported: timer\r\nSession-Expires: 100\r\n")
        ),
        UasDecision::TooSmall { min_se: 120 }
    );
    // Errata 1687: without Supported: timer, accept and raise to min_se with refresher=uas.
    let (session, refresher, require) =
        accept(uas_decide(&SessionTimerConfig { min_se: 120, ..c }, &invite("Session-Expires: 100\r\n")));
    assert_eq!((session.interval, refresher, require), (120, Refresher::Uas, false));
}

#[test]
fn uas_may_lower_but_never_raises_and_respects_min_se() {
    let c = SessionTimerConfig { default_expires: 600, ..config(PreferRefresher::Uac) };
    let lowered = |se: &str| accept(uas_decide(&c, &invite(se))).0.interval;
    assert_eq!(lowered("Supported: timer\r\nSession-Expires: 3600\r\n"), 600, "lowered to our default");
    assert_eq!(lowered("Supported: timer\r\nSession-Expires: 300\r\n"), 300, "never raised");
    assert_eq!(
        lowered("Supported: timer\r\nSession-Expires: 3600\r\nMin-SE: 1000\r\n"),
        1000,
        "not below their Min-SE"
    );
    assert_eq!(lowered("Supported: timer\r\n"), 600, "no SE asked: we may add one");
    assert_eq!(lowered("Supported: timer\r\nMin-SE: 900\r\n"), 900, "added SE honours their Min-SE");
}

#[test]
fn uas_response_never_carries_min_se() {
    let c = config(PreferRefresher::Uac);
    let decision = uas_decide(&c, &invite("Supported: timer\r\nSession-Expires: 1800\r\nMin-SE: 90\r\n"));
    let mut headers = ok("Min-SE: 90\r\n").headers;
    uas_response_headers(&decision, &mut headers);
    assert!(!headers.contains(&HeaderName::MIN_SE));
    assert_eq!(headers.get(&HeaderName::SESSION_EXPIRES), Some("1800;refresher=uac"));
    assert!(headers.has_token(&HeaderName::REQUIRE, "timer"));
    let mut headers = ok("").headers;
    uas_response_headers(&UasDecision::NoTimer, &mut headers);
    assert!(!headers.contains(&HeaderName::SESSION_EXPIRES));
}

#[test]
fn disabled_leg_asks_nothing_and_answers_without_a_timer() {
    let c = SessionTimerConfig { enabled: false, ..config(PreferRefresher::Uac) };
    assert_eq!(
        uas_decide(&c, &invite("Supported: timer\r\nSession-Expires: 1800\r\n")),
        UasDecision::NoTimer
    );
    let mut headers = invite("").headers;
    uac_request_headers(&c, &mut headers, 1800, 90);
    assert!(!headers.contains(&HeaderName::SESSION_EXPIRES));
    assert!(!headers.has_token(&HeaderName::SUPPORTED, "timer"));
    assert_eq!(uac_on_2xx(&c, &ok("Session-Expires: 90;refresher=uac\r\n"), 1800), None);
}

#[test]
fn uac_request_asks_with_supported_se_and_min_se() {
    let mut headers = invite("").headers;
    uac_request_headers(&config(PreferRefresher::Uac), &mut headers, 1800, 90);
    assert!(headers.has_token(&HeaderName::SUPPORTED, "timer"));
    assert!(!headers.has_token(&HeaderName::REQUIRE, "timer"), "Require: timer is NOT RECOMMENDED (§7.1)");
    assert_eq!(headers.get(&HeaderName::SESSION_EXPIRES), Some("1800;refresher=uac"));
    assert_eq!(headers.get(&HeaderName::MIN_SE), Some("90"));
    let mut headers = invite("").headers;
    uac_request_headers(&config(PreferRefresher::Uas), &mut headers, 1800, 90);
    assert_eq!(headers.get(&HeaderName::SESSION_EXPIRES), Some("1800"), "refresher omitted (RECOMMENDED)");
}

/// §7.2: what the UAC makes of each kind of 2xx.
#[test]
fn uac_reads_2xx_variants() {
    let c = config(PreferRefresher::Uac);
    let rows: [(&str, Option<Session>); 7] = [
        (
            "Require: timer\r\nSession-Expires: 1800;refresher=uac\r\n",
            Some(Session { interval: 1800, we_refresh: true }),
        ),
        ("Session-Expires: 1800;refresher=uas\r\n", Some(Session { interval: 1800, we_refresh: false })),
        // Lowered by a proxy or the UAS: accepted.
        ("Session-Expires: 600;refresher=uas\r\n", Some(Session { interval: 600, we_refresh: false })),
        // No refresher in the 2xx (a broken UAS): we refresh rather than let it lapse.
        ("Session-Expires: 1200\r\n", Some(Session { interval: 1200, we_refresh: true })),
        // UAS knows timers and sent none: no timer on this leg.
        ("Supported: timer\r\n", None),
        // UAS does not know timers: we may refresh at what we asked for.
        ("", Some(Session { interval: 1800, we_refresh: true })),
        // Malformed: ignored, read as absent (the UAS declared timer → no timer).
        ("Supported: timer\r\nSession-Expires: soon\r\n", None),
    ];
    for (headers, expected) in rows {
        assert_eq!(uac_on_2xx(&c, &ok(headers), 1800), expected, "{headers:?}");
    }
}

#[test]
fn retry_after_422_is_bounded_and_raises_both_values() {
    let mut timer = SessionTimer::new(config(PreferRefresher::Uac));
    assert_eq!(timer.asking(), (1800, 90));
    assert!(!timer.on_422(None), "422 without Min-SE is final");
    assert!(timer.on_422(Some(180)));
    assert_eq!(timer.asking(), (1800, 180));
    let mut small =
        SessionTimer::new(SessionTimerConfig { default_expires: 120, ..config(PreferRefresher::Uac) });
    assert!(small.on_422(Some(300)));
    assert_eq!(small.asking(), (300, 300), "Session-Expires raised to at least the 422's Min-SE");
    assert!(small.on_422(Some(400)));
    assert!(small.on_422(Some(500)));
    assert!(!small.on_422(Some(600)), "three retries at most");
    let mut headers = invite("").headers;
    small.decorate_request(&mut headers);
    assert_eq!(headers.get(&HeaderName::MIN_SE), Some("500"));
    assert_eq!(headers.get(&HeaderName::SESSION_EXPIRES), Some("500;refresher=uac"));
}

#[test]
fn schedule_arithmetic() {
    let s = |interval, we_refresh| Session { interval, we_refresh };
    assert_eq!(schedule::refresh_after(s(1800, true)), Duration::from_secs(900));
    assert_eq!(schedule::expire_after(s(1800, false)), Duration::from_secs(1768));
    assert_eq!(schedule::expire_after(s(90, false)), Duration::from_secs(60));
    assert_eq!(schedule::refresh_after(s(90, true)), Duration::from_secs(45));
    assert_eq!(schedule::expire_after(s(95, false)), Duration::from_secs(64), "95 - 95/3");
    let t0 = Instant::now();
    assert_eq!(
        schedule::deadlines(s(1800, true), t0),
        (Some(t0 + Duration::from_secs(900)), t0 + Duration::from_secs(1768))
    );
    assert_eq!(schedule::deadlines(s(1800, false), t0), (None, t0 + Duration::from_secs(1768)));
}

#[test]
fn timer_fires_refresh_then_rearms_on_2xx_and_expires_without_one() {
    let t0 = Instant::now();
    let mut timer = SessionTimer::new(config(PreferRefresher::Uac));
    assert_eq!(timer.poll_timeout(), None, "nothing armed before a session exists");
    timer.establish(t0, Some(Session { interval: 1800, we_refresh: true }));
    let d = timer.poll_timeout().expect("armed");
    assert_eq!((d.at, d.kind), (t0 + Duration::from_secs(900), TimerKind::SessionRefresh));
    assert_eq!(timer.handle_timeout(t0 + Duration::from_secs(899)), None, "early call is a no-op");
    assert_eq!(timer.handle_timeout(t0 + Duration::from_secs(900)), Some(Due::Refresh(Method::Invite)));
    timer.refresh_sent();
    let d = timer.poll_timeout().expect("expiry still armed");
    assert_eq!((d.at, d.kind), (t0 + Duration::from_secs(1768), TimerKind::SessionExpiry));
    // The 2xx to the refresh re-arms from its arrival.
    let t1 = t0 + Duration::from_secs(901);
    timer.establish(t1, Some(Session { interval: 1800, we_refresh: true }));
    assert_eq!(timer.poll_timeout().map(|d| d.at), Some(t1 + Duration::from_secs(900)));
    timer.refresh_sent();
    assert_eq!(timer.handle_timeout(t1 + Duration::from_secs(1768)), Some(Due::Expire));
    assert_eq!(timer.poll_timeout(), None);
}

#[test]
fn no_negotiated_timer_never_ends_the_call() {
    let t0 = Instant::now();
    let mut timer = SessionTimer::new(config(PreferRefresher::Uac));
    timer.establish(t0, None);
    assert_eq!(timer.poll_timeout(), None);
    assert_eq!(timer.handle_timeout(t0 + Duration::from_secs(29 * 60 + 28)), None);
    assert_eq!(timer.handle_timeout(t0 + Duration::from_secs(24 * 3600)), None);
}

#[test]
fn update_is_used_only_when_configured_allowed_and_not_refused() {
    let mut timer =
        SessionTimer::new(SessionTimerConfig { use_update: true, ..config(PreferRefresher::Uac) });
    assert_eq!(timer.refresh_method(), Method::Invite, "peer's Allow unknown");
    timer.learn_allow(&ok("Allow: INVITE, ACK, BYE, UPDATE\r\n").headers);
    assert_eq!(timer.refresh_method(), Method::Update);
    timer.update_refused();
    assert_eq!(timer.refresh_method(), Method::Invite, "405/501 to UPDATE → re-INVITE on this leg");
    let mut off = SessionTimer::new(config(PreferRefresher::Uac));
    off.learn_allow(&ok("Allow: UPDATE\r\n").headers);
    assert_eq!(off.refresh_method(), Method::Invite, "use_update: false");
}
