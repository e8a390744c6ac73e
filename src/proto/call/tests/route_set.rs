//! The route set on leg B (a trunk behind record-routing edge proxies).

use super::*;

/// RFC 3261 §12.1.2 / §12.2.1.1 on the trunk leg: the Record-Route of B's 2xx, reversed, is the route set
/// of every request we send in that dialog (ACK, BYE), loose routing keeps the Contact as Request-URI.
#[test]
fn the_trunk_legs_route_set_is_on_every_in_dialog_request() {
    let mut h = Harness::calling(invite_a("", OFFER));
    let mut ok = h.b_response(200, "b1", ANSWER);
    ok.headers.push(HeaderName::RECORD_ROUTE, "<sip:edge2.trunk.example;lr>");
    ok.headers.push(HeaderName::RECORD_ROUTE, "<sip:edge1.trunk.example;transport=tls;lr>");
    h.feed_b(ok);
    let ack = as_request(&h.only(B)).clone();
    assert_eq!(ack.method, Method::Ack);
    let routes: Vec<&str> = ack.headers.get_all(&HeaderName::ROUTE).collect();
    assert_eq!(routes, vec!["<sip:edge1.trunk.example;transport=tls;lr>", "<sip:edge2.trunk.example;lr>"]);
    assert_eq!(ack.uri.to_string(), "sip:bob@10.0.0.2:5070", "the Contact stays the Request-URI");
    h.take(A);
    h.events();
    h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
    h.feed_a(h.a_request("BYE", 2, "z9hG4bKbyeA", ""));
    let bye = h.take(B).into_iter().map(|m| as_request(&m).clone()).find(|r| r.method == Method::Bye);
    let bye = bye.expect("BYE on B");
    let routes: Vec<&str> = bye.headers.get_all(&HeaderName::ROUTE).collect();
    assert_eq!(routes, vec!["<sip:edge1.trunk.example;transport=tls;lr>", "<sip:edge2.trunk.example;lr>"]);
}
