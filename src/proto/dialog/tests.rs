//! Dialog formation (UAS and UAC), in-dialog request building with loose and strict routes, CSeq order.

use super::*;
use crate::sip::{parse, Message};

fn request(text: &str) -> Request {
    match parse(text.replace('\n', "\r\n").as_bytes()).expect("valid request") {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

fn response(text: &str) -> Response {
    match parse(text.replace('\n', "\r\n").as_bytes()).expect("valid response") {
        Message::Response(r) => r,
        Message::Request(_) => panic!("not a response"),
    }
}

const INVITE: &str = "INVITE sip:bob@b.example SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1
Record-Route: <sip:p1.example;lr>
Record-Route: <sip:p2.example;lr>
From: \"Alice\" <sip:alice@a.example>;tag=ta
To: <sip:bob@b.example>
Call-ID: c1@a
CSeq: 10 INVITE
Contact: <sip:alice@192.0.2.1:5060>
Max-Forwards: 70
Content-Length: 0

";

#[test]
fn uas_dialog_keeps_record_route_order_and_their_contact() {
    let invite = request(INVITE);
    let mut d = Dialog::as_uas(&invite, "us").expect("dialog");
    assert_eq!(d.remote_tag(), "ta");
    assert_eq!(d.remote_target(), "sip:alice@192.0.2.1:5060");
    assert_eq!(d.route_set, vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
    let bye = d.request(Method::Bye, None);
    assert_eq!(bye.uri.to_string(), "sip:alice@192.0.2.1:5060");
    let routes: Vec<&str> = bye.headers.get_all(&HeaderName::ROUTE).collect();
    assert_eq!(routes, vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
    assert_eq!(bye.to_hdr().unwrap().tag(), Some("ta"));
    assert_eq!(bye.from_hdr().unwrap().tag(), Some("us"));
    assert_eq!(bye.cseq().unwrap().seq, 1);
    assert_eq!(d.request(Method::Info, None).cseq().unwrap().seq, 2, "our CSeq space counts up");
}

#[test]
fn uac_dialog_reverses_record_route_and_follows_the_2xx_contact() {
    let invite = request(INVITE);
    let ok = response(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa1
Record-Route: <sip:p1.example;lr>
Record-Route: <sip:p2.example;lr>
From: \"Alice\" <sip:alice@a.example>;tag=ta
To: <sip:bob@b.example>;tag=tb
Call-ID: c1@a
CSeq: 10 INVITE
Contact: <sip:bob@198.51.100.7:5070>
Content-Length: 0

",
    );
    let mut d = Dialog::as_uac(&invite, &ok).expect("dialog");
    assert_eq!(d.route_set, vec!["<sip:p2.example;lr>", "<sip:p1.example;lr>"]);
    assert_eq!(d.local_cseq, 10);
    let ack = d.request(Method::Ack, Some(10));
    assert_eq!(ack.cseq().unwrap().to_string(), "10 ACK");
    assert_eq!(ack.uri.to_string(), "sip:bob@198.51.100.7:5070");
    assert_eq!(d.request(Method::Bye, None).cseq().unwrap().seq, 11);
}

#[test]
fn strict_router_gets_the_request_uri_and_the_target_as_last_route() {
    let mut d =
        Dialog::as_uas(&request(&INVITE.replace("<sip:p1.example;lr>", "<sip:p1.example>")), "us").unwrap();
    let bye = d.request(Method::Bye, None);
    assert_eq!(bye.uri.to_string(), "sip:p1.example");
    let routes: Vec<&str> = bye.headers.get_all(&HeaderName::ROUTE).collect();
    assert_eq!(routes, vec!["<sip:p2.example;lr>", "<sip:alice@192.0.2.1:5060>"]);
}

#[test]
fn requests_in_order_pass_and_old_ones_are_out_of_order() {
    let mut d = Dialog::as_uas(&request(INVITE), "us").unwrap();
    let mk = |seq: u32, method: &str| {
        request(&format!(
            "{method} sip:us@b.example SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{seq}{method}
From: <sip:alice@a.example>;tag=ta
To: <sip:bob@b.example>;tag=us
Call-ID: c1@a
CSeq: {seq} {method}
Contact: <sip:alice@192.0.2.99:5060>
Max-Forwards: 70
Content-Length: 0

"
        ))
    };
    let bye = mk(11, "INFO");
    assert!(d.matches_request(&bye));
    assert_eq!(d.on_request(&bye), Sequence::New);
    assert_eq!(d.on_request(&mk(11, "INFO")), Sequence::OutOfOrder, "same CSeq again");
    assert_eq!(d.on_request(&mk(5, "INFO")), Sequence::OutOfOrder);
    assert_eq!(d.remote_target(), "sip:alice@192.0.2.1:5060", "INFO is no target refresh");
    assert_eq!(d.on_request(&mk(12, "INVITE")), Sequence::New);
    assert_eq!(d.remote_target(), "sip:alice@192.0.2.99:5060", "re-INVITE refreshes the target");
    // The rest of the dialog is as it was: identifiers, and the From/To our requests carry.
    assert!(d.matches_request(&mk(13, "INFO")));
    let bye = d.request(Method::Bye, None);
    assert_eq!(bye.uri.to_string(), "sip:alice@192.0.2.99:5060");
    assert_eq!(bye.headers.get(&HeaderName::TO), Some("\"Alice\" <sip:alice@a.example>;tag=ta"));
}
