//! Transaction keys (RFC 3261 §17.1.3, §17.2.3, §9.2) and timer values (Table 4, RFC 6026 §8.11).

use std::time::Duration;

use super::*;
use crate::proto::transaction::{ClientKey, ServerKey, TimerConfig};
use crate::sip::Method;

fn with(text: &str, branch: &str) -> Request {
    request(&text.replace("BRANCH", branch))
}

const CANCEL: &str = "CANCEL sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=BRANCH
Max-Forwards: 70
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>
Call-ID: call-1@192.0.2.1
CSeq: 1 CANCEL
Content-Length: 0

";

const ACK: &str = "ACK sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=BRANCH
Max-Forwards: 70
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>;tag=b1
Call-ID: call-1@192.0.2.1
CSeq: 1 ACK
Content-Length: 0

";

fn server(r: &Request) -> ServerKey {
    ServerKey::for_request(r).unwrap()
}

#[test]
fn client_key_matches_responses_by_branch_and_cseq_method() {
    let key = ClientKey::for_request(&invite("z9hG4bKk1")).unwrap();
    assert_eq!(key, ClientKey { branch: "z9hG4bKk1".into(), method: Method::Invite });
    for status in [100, 180, 200, 486] {
        let r = reply(status, "z9hG4bKk1", "1 INVITE", Some("b1"));
        assert_eq!(ClientKey::for_response(&r), Some(key.clone()));
    }
    // The 200 to a CANCEL carries the INVITE's branch but belongs to the CANCEL transaction.
    let cancel_ok = reply(200, "z9hG4bKk1", "1 CANCEL", Some("b1"));
    assert_ne!(ClientKey::for_response(&cancel_ok), Some(key.clone()));
    assert_eq!(ClientKey::for_response(&cancel_ok), ClientKey::for_request(&with(CANCEL, "z9hG4bKk1")));
    // Another branch is another transaction.
    assert_ne!(ClientKey::for_response(&reply(200, "z9hG4bKk2", "1 INVITE", None)), Some(key));
}

#[test]
fn server_key_maps_ack_to_its_invite_and_cancel_to_its_own() {
    let invite_key = server(&invite("z9hG4bKs1"));
    assert_eq!(server(&invite("z9hG4bKs1")), invite_key);
    assert_eq!(invite_key.method(), &Method::Invite);
    // The ACK for a non-2xx final response: same branch, method taken as INVITE (§17.2.3).
    assert_eq!(server(&with(ACK, "z9hG4bKs1")), invite_key);
    // An ACK for a 2xx has a new branch: it matches no transaction (it is the dialog's).
    assert_ne!(server(&with(ACK, "z9hG4bKs1-ack2xx")), invite_key);
    // A CANCEL is a transaction of its own, and names the INVITE it cancels (§9.2).
    let cancel = with(CANCEL, "z9hG4bKs1");
    assert_ne!(server(&cancel), invite_key);
    assert_eq!(server(&cancel).method(), &Method::Cancel);
    assert_eq!(ServerKey::for_cancel_target(&cancel), Some(invite_key.clone()));
    assert_ne!(ServerKey::for_cancel_target(&with(CANCEL, "z9hG4bKs9")), Some(invite_key.clone()));
    assert_eq!(ServerKey::for_cancel_target(&invite("z9hG4bKs1")), None);
}

#[test]
fn server_keys_differ_across_branches_methods_and_senders() {
    let invite_key = server(&invite("z9hG4bKs1"));
    assert_ne!(server(&invite("z9hG4bKs2")), invite_key);
    // The same branch on a BYE is a different transaction.
    assert_ne!(server(&in_dialog("BYE", "z9hG4bKs1")), invite_key);
    assert_ne!(server(&in_dialog("BYE", "z9hG4bKs1")), server(&in_dialog("INFO", "z9hG4bKs1")));
    // The same branch from another sent-by is another client's transaction.
    let text = invite("z9hG4bKs1").to_bytes();
    let text = std::str::from_utf8(&text).unwrap();
    let other_host = request(&text.replace("192.0.2.1:5060;branch", "192.0.2.7:5060;branch"));
    let other_port = request(&text.replace("192.0.2.1:5060;branch", "192.0.2.1:5062;branch"));
    assert_ne!(server(&other_host), invite_key);
    assert_ne!(server(&other_port), invite_key);
    // Host names compare without regard to case (§19.1.4).
    let upper = request(&text.replace("192.0.2.1:5060;branch", "PC.Example.COM:5060;branch"));
    let lower = request(&text.replace("192.0.2.1:5060;branch", "pc.example.com:5060;branch"));
    assert_eq!(server(&upper), server(&lower));
}

#[test]
fn rfc2543_requests_fall_back_to_the_dialog_fields() {
    // No magic cookie: §17.2.3's backwards-compatible match.
    let invite_key = server(&invite("old1"));
    assert!(matches!(invite_key, ServerKey::Rfc2543(_)));
    assert_eq!(server(&invite("old1")), invite_key);
    // The ACK for our non-2xx carries our To tag and still finds the INVITE.
    assert_eq!(server(&with(ACK, "old1")), invite_key);
    assert_eq!(ServerKey::for_cancel_target(&with(CANCEL, "old1")), Some(invite_key.clone()));
    assert_ne!(server(&with(CANCEL, "old1")), invite_key);
    // A different CSeq, Call-ID or From tag is another transaction.
    let text = invite("old1").to_bytes();
    let text = std::str::from_utf8(&text).unwrap();
    for (from, to) in [("CSeq: 1 ", "CSeq: 2 "), ("call-1@", "call-2@"), ("tag=a1", "tag=a2")] {
        assert_ne!(server(&request(&text.replace(from, to))), invite_key, "{to}");
    }
    // For non-INVITE requests the To tag is part of the match.
    let bye = in_dialog("BYE", "old2");
    let text = bye.to_bytes();
    let other = request(&std::str::from_utf8(&text).unwrap().replace("tag=b1", "tag=b2"));
    assert_ne!(server(&other), server(&bye));
    // A cookie branch and a non-cookie branch never collide.
    assert_ne!(server(&invite("z9hG4bKold1")), invite_key);
}

#[test]
fn timer_values_follow_table_4() {
    let t = TimerConfig::default();
    let ms = Duration::from_millis;
    assert_eq!((t.t1, t.t2, t.t4), (ms(500), ms(4000), ms(5000)));
    assert_eq!(t.timer_a(), ms(500));
    assert_eq!(t.timer_b(), ms(32_000));
    assert_eq!((t.timer_d(false), t.timer_d(true)), (ms(32_000), ms(0)));
    assert_eq!((t.timer_e(), t.timer_f()), (ms(500), ms(32_000)));
    assert_eq!((t.timer_g(), t.timer_h()), (ms(500), ms(32_000)));
    assert_eq!((t.timer_i(false), t.timer_i(true)), (ms(5000), ms(0)));
    assert_eq!((t.timer_j(false), t.timer_j(true)), (ms(32_000), ms(0)));
    assert_eq!((t.timer_k(false), t.timer_k(true)), (ms(5000), ms(0)));
    assert_eq!((t.timer_l(), t.timer_m()), (ms(32_000), ms(32_000)));
    let backoff: Vec<_> = std::iter::successors(Some(ms(500)), |d| Some(t.backoff(*d))).take(6).collect();
    assert_eq!(backoff, [ms(500), ms(1000), ms(2000), ms(4000), ms(4000), ms(4000)]);
    // Timer D never drops below the peer's Timer H when T1 grows.
    let slow = TimerConfig { t1: ms(1000), ..t };
    assert_eq!(slow.timer_d(false), ms(64_000));
}
