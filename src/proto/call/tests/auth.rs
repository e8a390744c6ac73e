//! A trunk's digest challenge on leg B (RFC 3261 §22.2): answered once with credentials, CSeq + 1, same
//! Call-ID and From tag, a new branch; a second challenge fails; without credentials the caller gets 403.

use super::*;

fn with_credentials() -> CallConfig {
    CallConfig { credentials: Some(("trunkuser".into(), "s3cret".into())), ..config() }
}

fn challenge(to: &Request, status: u16) -> Response {
    let mut r = respond(to, status, Some("t1"), "");
    let header = if status == 407 { "Proxy-Authenticate" } else { "WWW-Authenticate" };
    r.headers.push(HeaderName::new(header), r#"Digest realm="trunk.example.com", nonce="n0nce", qop="auth""#);
    r
}

#[test]
fn invite_407_is_retried_with_proxy_authorization() {
    let mut h = Harness::with_config(invite_a("", OFFER), with_credentials());
    assert_eq!(as_response(&h.only(A)).status, 100);
    h.connect();
    let first = h.invite_b.clone().expect("INVITE on B");
    h.feed_b(challenge(&first, 407));
    let sent = h.take(B);
    assert_eq!(sent.len(), 2, "ACK for the 407, then the new INVITE: {sent:?}");
    assert_eq!(as_request(&sent[0]).method, Method::Ack);
    let retry = as_request(&sent[1]).clone();
    assert_eq!(retry.method, Method::Invite);
    assert_eq!(cseq(&retry), "2 INVITE");
    assert_eq!(retry.call_id(), first.call_id());
    assert_eq!(from_tag(&retry), from_tag(&first));
    assert_ne!(retry.branch(), first.branch());
    assert_eq!(retry.body, first.body);
    let auth = header(&retry, "Proxy-Authorization").expect("credentials");
    assert!(
        auth.contains("username=\"trunkuser\"") && auth.contains("realm=\"trunk.example.com\""),
        "{auth}"
    );
    assert!(h.take(A).is_empty(), "the caller never sees the challenge");
    // The answer to the authenticated INVITE completes the call as usual.
    h.invite_b = Some(retry.clone());
    h.feed_b(h.b_response(200, "b1", ANSWER));
    let ack = as_request(&h.only(B)).clone();
    assert_eq!(cseq(&ack), "2 ACK", "the ACK follows the INVITE that was answered");
    assert_eq!(as_response(&h.only(A)).status, 200);
}

#[test]
fn a_second_challenge_fails_the_call_with_403() {
    let mut h = Harness::with_config(invite_a("", OFFER), with_credentials());
    h.take(A);
    h.connect();
    let first = h.invite_b.clone().expect("INVITE on B");
    h.feed_b(challenge(&first, 401));
    let retry = as_request(&h.take(B)[1]).clone();
    assert!(header(&retry, "Authorization").is_some());
    h.feed_b(challenge(&retry, 401));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack, "ACK for the second 401, no third INVITE");
    assert_eq!(as_response(&h.only(A)).status, 403);
    h.assert_ended(EndReason::Rejected(401));
}

#[test]
fn without_credentials_the_caller_gets_403() {
    let mut h = Harness::calling(invite_a("", OFFER));
    let first = h.invite_b.clone().expect("INVITE on B");
    h.feed_b(challenge(&first, 407));
    assert_eq!(as_request(&h.only(B)).method, Method::Ack);
    assert_eq!(as_response(&h.only(A)).status, 403);
}

#[test]
fn bye_challenged_by_the_trunk_is_retried_in_the_dialog() {
    let mut h = Harness::with_config(invite_a("", OFFER), with_credentials());
    h.take(A);
    h.connect();
    h.feed_b(h.b_response(200, "b1", ANSWER));
    h.take(B);
    h.take(A);
    h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
    h.feed_a(h.a_request("BYE", 2, "z9hG4bKbyeA", ""));
    assert_eq!(as_response(&h.only(A)).status, 200);
    let bye = as_request(&h.only(B)).clone();
    assert_eq!(cseq(&bye), "2 BYE");
    h.feed_b(challenge(&bye, 407));
    let retry = as_request(&h.only(B)).clone();
    assert_eq!(retry.method, Method::Bye);
    assert_eq!(cseq(&retry), "3 BYE", "the dialog's next CSeq");
    assert!(header(&retry, "Proxy-Authorization").is_some());
    assert_eq!(to_tag(&retry).as_deref(), Some("b1"));
}
