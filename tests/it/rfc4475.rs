//! RFC 4475 (SIP torture test messages) against `sip::parse`. The fixtures are the RFC's messages, byte for
//! byte (CRLF line ends, binary bodies, NUL octets), one file each under tests/fixtures/rfc4475/.

use sst_b2bua::sip::{self, HeaderName, Message, Method, ParseError, Request, Response, SipHeaders, Uri};

/// What the parser must do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Parsed into a message (the layers above decide what to answer).
    Accept,
    /// Refused, with the echo headers kept so that this status can be sent back.
    Reject(u16),
    /// Refused with nothing to answer: a response, or a request we cannot address a reply to.
    Drop,
}

use Expect::{Accept, Drop, Reject};

/// Every message of RFC 4475 §3.1.1 (valid), §3.1.2 (invalid), §3.2, §3.3 and §3.4, with the RFC's expectation.
const CASES: &[(&str, &str, Expect)] = &[
    ("3.1.1.1", "wsinv", Accept),
    ("3.1.1.2", "intmeth", Accept),
    ("3.1.1.3", "esc01", Accept),
    ("3.1.1.4", "escnull", Accept),
    ("3.1.1.5", "esc02", Accept),
    ("3.1.1.6", "lwsdisp", Accept),
    ("3.1.1.7", "longreq", Accept),
    ("3.1.1.8", "dblreq", Accept),
    ("3.1.1.9", "semiuri", Accept),
    ("3.1.1.10", "transports", Accept),
    ("3.1.1.11", "mpart01", Accept),
    ("3.1.1.12", "unreason", Accept),
    ("3.1.1.13", "noreason", Accept),
    ("3.1.2.1", "badinv01", Reject(400)),
    ("3.1.2.2", "clerr", Reject(400)),
    ("3.1.2.3", "ncl", Reject(400)),
    ("3.1.2.4", "scalar02", Reject(400)),
    ("3.1.2.5", "scalarlg", Drop),
    ("3.1.2.6", "quotbal", Reject(400)),
    ("3.1.2.7", "ltgtruri", Reject(400)),
    ("3.1.2.8", "lwsruri", Reject(400)),
    ("3.1.2.9", "lwsstart", Reject(400)),
    ("3.1.2.10", "trws", Reject(400)),
    ("3.1.2.11", "escruri", Reject(400)),
    ("3.1.2.12", "baddate", Reject(400)),
    ("3.1.2.13", "regbadct", Reject(400)),
    ("3.1.2.14", "badaspec", Reject(400)),
    ("3.1.2.15", "baddn", Reject(400)),
    ("3.1.2.16", "badvers", Reject(505)),
    ("3.1.2.17", "mismatch01", Reject(400)),
    ("3.1.2.18", "mismatch02", Reject(400)),
    ("3.1.2.19", "bigcode", Drop),
    ("3.2.1", "badbranch", Accept),
    // §3.3 is about what an element does with a well-formed message; three of them the RFC itself
    // says to answer 400 (missing, repeated and conflicting mandatory headers), which is the parser's job.
    ("3.3.1", "insuf", Reject(400)),
    ("3.3.2", "unkscm", Accept),
    ("3.3.3", "novelsc", Accept),
    ("3.3.4", "unksm2", Accept),
    ("3.3.5", "bext01", Accept),
    ("3.3.6", "invut", Accept),
    ("3.3.7", "regaut01", Accept),
    ("3.3.8", "multi01", Reject(400)),
    ("3.3.9", "mcl01", Reject(400)),
    ("3.3.10", "bcast", Accept),
    ("3.3.11", "zeromf", Accept),
    ("3.3.12", "cparam01", Accept),
    ("3.3.13", "cparam02", Accept),
    ("3.3.14", "regescrt", Accept),
    ("3.3.15", "sdp01", Accept),
    ("3.4.1", "inv2543", Accept),
];

/// Where we deliberately do something else than the RFC asks: (message, what we do, why).
const EXCEPTIONS: &[(&str, Expect, &str)] = &[
    ("badinv01", Drop, "its only Via is unreadable, and a response is addressed by the Via"),
    ("insuf", Drop, "no From, To or Call-ID to copy, so no 400 can be built"),
    ("multi01", Drop, "two From/To/Call-ID/CSeq each: which to copy into a 400 is a guess"),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/rfc4475/{name}.sip", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn outcome(result: &Result<Message, ParseError>) -> Expect {
    match result {
        Ok(_) => Accept,
        Err(ParseError { status, echo: Some(_), .. }) => Reject(*status),
        Err(ParseError { echo: None, .. }) => Drop,
    }
}

#[test]
fn every_torture_message_meets_its_expectation() {
    assert_eq!(CASES.len(), 49, "RFC 4475 has 49 messages");
    let mut wrong = Vec::new();
    for (section, name, rfc) in CASES {
        let expected = EXCEPTIONS.iter().find(|(n, ..)| n == name).map_or(*rfc, |(_, ours, _)| *ours);
        let result = sip::parse(&fixture(name));
        let got = outcome(&result);
        if got != expected {
            let detail = result.err().map(|e| e.reason).unwrap_or_default();
            wrong.push(format!("§{section} {name}: expected {expected:?}, got {got:?} {detail}"));
        }
    }
    assert!(wrong.is_empty(), "{} torture messages misparsed:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn exceptions_name_real_cases_that_differ_from_the_rfc() {
    for (name, ours, why) in EXCEPTIONS {
        let (_, _, rfc) = CASES.iter().find(|(_, n, _)| n == name).expect("exception names a case");
        assert_ne!(rfc, ours, "{name}: an exception that agrees with the RFC is not an exception");
        assert!(!why.is_empty());
    }
}

fn request(name: &str) -> Request {
    match sip::parse(&fixture(name)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{name}: expected a request, got {other:?}"),
    }
}

fn response(name: &str) -> Response {
    match sip::parse(&fixture(name)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{name}: expected a response, got {other:?}"),
    }
}

#[test]
fn wsinv_values_survive_folding_and_odd_spacing() {
    let r = request("wsinv");
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    let other = HeaderName::new("newfangledheader");
    assert_eq!(r.headers.get(&other), Some("newfangled value continued newfangled value"));
    assert_eq!(r.headers.get(&HeaderName::new("UnknownHeaderWithUnusualValue")), Some(";;,,;;,;"));
    assert_eq!(r.headers.get(&HeaderName::MAX_FORWARDS), Some("0068"));
    let cseq = r.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    assert_eq!(r.to_hdr().expect("to").tag(), Some("1918181833n"));
    let from = r.from_hdr().expect("from");
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(from.display.as_deref(), Some(r#""J Rosenberg \\\"""#));
    let vias = r.vias();
    let sent: Vec<String> = vias.iter().map(|v| format!("{} {}", v.transport, v.sent_by)).collect();
    assert_eq!(sent, ["UDP 192.0.2.2", "TCP spindle.example.com", "UDP 192.168.255.111"]);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    // `m:` is Contact; its folded parameters are readable.
    let contact = sip::NameAddr::parse(r.headers.get(&HeaderName::CONTACT).expect("m: is Contact")).unwrap();
    assert_eq!(contact.params.get("q"), Some(Some("0.33")));
    assert_eq!(contact.params.get("newparam"), Some(Some("newvalue")));
    // `s :` is an empty Subject.
    assert_eq!(r.headers.get(&HeaderName::new("Subject")), Some(""));
    assert_eq!(r.body.len(), 150, "body cut to Content-Length, the trailing CRLF is not part of it");
    assert!(r.body.starts_with(b"v=0\r\n") && r.body.ends_with(b"a=rtpmap:31 LPC\r\n"));
    let route = r.headers.get(&HeaderName::ROUTE).expect("route");
    let route = sip::NameAddr::parse(route).expect("route is a name-addr");
    assert_eq!(route.uri.as_sip().expect("sip").param("lr"), Some(None));
}

#[test]
fn intmeth_keeps_an_extension_method_and_unusual_tokens() {
    let r = request("intmeth");
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(r.method, Method::Other(method.into()));
    assert_eq!(r.cseq().expect("cseq").method.as_str(), method);
    assert_eq!(r.call_id(), Some(r#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#));
    let to = r.to_hdr().expect("to");
    assert_eq!(to.display.as_deref(), Some("\"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f\""));
    assert_eq!(r.from_hdr().expect("from").tag(), Some("_token~1'+`*%!-."));
    let ext = HeaderName::new("extensionHeader-!.%*+_`'~");
    assert_eq!(r.headers.get(&ext), Some("\u{feff}大停電"));
    assert_eq!(r.to_bytes(), sip::parse(&r.to_bytes()).map(|m| m.to_bytes()).expect("round trip"));
}

#[test]
fn compact_forms_are_expanded_to_long_names() {
    let esc01 = request("esc01");
    assert_eq!(esc01.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
    assert_eq!(esc01.headers.get(&HeaderName::CONTENT_TYPE), Some("application/sdp"));
    let dblreq = request("dblreq");
    assert_eq!(dblreq.call_id(), Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412"));
    let regescrt = request("regescrt");
    assert!(regescrt.headers.get(&HeaderName::CONTACT).expect("M: is Contact").contains("?Route="));
    assert_eq!(regescrt.headers.get(&HeaderName::CONTENT_LENGTH), Some("0"));
    let longreq = request("longreq");
    assert!(longreq.from_hdr().expect("F: is From").tag().is_some_and(|t| t.starts_with("12982982")));
    for (name, _) in longreq.headers.iter() {
        assert!(!["v", "V", "F", "l", "i", "m"].contains(&name.as_str()), "compact name {name} kept");
    }
}

#[test]
fn longreq_keeps_every_via_and_long_values() {
    let r = request("longreq");
    let vias = r.vias();
    assert_eq!(vias.len(), 34);
    assert_eq!(vias[0].sent_by.to_string(), "sip33.example.com");
    let last = vias.last().expect("via");
    assert_eq!(last.params.get("received"), Some(Some("192.0.2.5")));
    assert_eq!(last.branch().map(str::len), Some("very".len() + 4 * 50 + "branchvalue".len()));
    assert_eq!(r.call_id().map(str::len), Some("longreq.one".len() + 6 * 20 + "longcallid".len()));
    assert_eq!(r.body.len(), 150);
}

#[test]
fn binary_body_is_exactly_content_length_bytes() {
    let bytes = fixture("mpart01");
    let r = request("mpart01");
    assert_eq!(r.method, Method::Message);
    assert_eq!(r.body.len(), 553);
    let head = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("blank line") + 4;
    assert_eq!(&r.body[..], &bytes[head..head + 553]);
    assert!(r.body.contains(&0) && std::str::from_utf8(&r.body).is_err(), "binary, non-UTF-8 body kept");
    let invut = request("invut");
    assert_eq!(&invut.body[..], b"<audio>\r\n <pcmu port=\"443\"/>\r\n</audio>\r\n");
}

#[test]
fn trailing_datagram_noise_and_missing_content_length() {
    let dblreq = request("dblreq");
    assert_eq!(dblreq.method, Method::Register);
    assert!(dblreq.body.is_empty(), "the INVITE after the REGISTER is noise");
    let inv2543 = request("inv2543");
    assert!(inv2543.body.ends_with(b"m=audio 49217 RTP/AVP 0\r\n"), "no Content-Length: the datagram's rest");
    assert_eq!(inv2543.branch(), None);
}

#[test]
fn escaped_and_unusual_request_uris() {
    let esc02 = request("esc02");
    assert_eq!(esc02.method, Method::Other("RE%47IST%45R".into()), "escapes are not decoded in a method");
    assert_eq!(esc02.headers.count(&HeaderName::CONTACT), 2, "C%6Fntact is not Contact");
    let semiuri = request("semiuri");
    assert_eq!(semiuri.uri.as_sip().and_then(|u| u.user()), Some("user;par=u%40example.net"));
    assert_eq!(semiuri.uri.as_sip().map(|u| u.host_port().to_string()).as_deref(), Some("example.com"));
    let esc01 = request("esc01");
    assert_eq!(esc01.uri.as_sip().and_then(|u| u.user()), Some("sips%3Auser%40example.com"));
    match request("unkscm").uri {
        Uri::Other { scheme, .. } => assert_eq!(scheme, "nobodyknowsthisscheme"),
        other => panic!("unkscm: {other:?}"),
    }
    assert!(matches!(request("novelsc").uri, Uri::Other { scheme, .. } if scheme == "soap.beep"));
    let unksm2 = request("unksm2");
    assert!(matches!(unksm2.to_hdr().expect("to").uri, Uri::Other { scheme, .. } if scheme == "isbn"));
}

#[test]
fn contact_parameters_belong_where_the_brackets_say() {
    let c1 = request("cparam01");
    let c1 = sip::NameAddr::parse(c1.headers.get(&HeaderName::CONTACT).expect("contact")).expect("name-addr");
    assert_eq!(c1.params.get("unknownparam"), Some(None), "no brackets: a header parameter");
    assert_eq!(c1.uri.as_sip().expect("sip").param("unknownparam"), None);
    let c2 = request("cparam02");
    let c2 = sip::NameAddr::parse(c2.headers.get(&HeaderName::CONTACT).expect("contact")).expect("name-addr");
    assert_eq!(c2.params.get("unknownparam"), None);
    assert_eq!(c2.uri.as_sip().expect("sip").param("unknownparam"), Some(None), "inside brackets: URI's");
}

#[test]
fn transports_and_reason_phrases() {
    let t = request("transports");
    let names: Vec<String> = t.vias().into_iter().map(|v| v.transport).collect();
    assert_eq!(names, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    let unreason = response("unreason");
    assert_eq!(unreason.status, 200);
    assert_eq!(unreason.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
    let noreason = response("noreason");
    assert_eq!((noreason.status, noreason.reason.as_str()), (100, ""));
    assert_eq!(request("zeromf").headers.get(&HeaderName::MAX_FORWARDS), Some("0"));
    assert_eq!(response("bcast").vias()[1].sent_by.to_string(), "255.255.255.255");
}

#[test]
fn rejected_requests_keep_what_a_reply_needs() {
    let e = sip::parse(&fixture("badvers")).expect_err("SIP/7.0");
    assert_eq!(e.status, 505);
    let echo = e.echo.expect("505 can be answered");
    assert_eq!(echo.get(&HeaderName::CALL_ID), Some("badvers.31417@c.example.com"));
    assert!(echo.get(&HeaderName::VIA).is_some_and(|v| v.contains("c.example.com")));
    let e = sip::parse(&fixture("scalar02")).expect_err("CSeq out of range");
    let echo = e.echo.expect("400 can be answered");
    assert_eq!(echo.get(&HeaderName::CSEQ), Some("36893488147419103232 REGISTER"));
    let reply = sip::build::response_from_echo(&echo, 400, Some("x"));
    assert_eq!(reply.headers.get(&HeaderName::TO), Some("<sip:user@example.com>;tag=x"));
}
