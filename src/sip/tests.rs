//! Unit tests of the words tier: framing, parsing, typed header views, building and printing.

use std::collections::HashSet;

use super::build::response_to;
use super::framing::{next_frame, Frame, FrameError, MAX_MESSAGE};
use super::reason::reason_phrase;
use super::session_expires::{parse_min_se, TimerHeaderError};
use super::*;

const HEAD: [&str; 7] = [
    "INVITE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
    "Max-Forwards: 70",
    "From: Alice <sip:alice@example.com>;tag=a1",
    "To: <sip:bob@example.com>",
    "Call-ID: c1@192.0.2.1",
    "CSeq: 1 INVITE",
];

/// HEAD, then `extra` header lines, a Content-Length for `body`, the blank line and `body`.
fn wire(extra: &[&str], body: &[u8]) -> Vec<u8> {
    let mut text = HEAD.join("\r\n");
    for line in extra {
        text.push_str("\r\n");
        text.push_str(line);
    }
    text.push_str(&format!("\r\nContent-Length: {}\r\n\r\n", body.len()));
    let mut out = text.into_bytes();
    out.extend_from_slice(body);
    out
}

fn request(bytes: &[u8]) -> Request {
    match parse(bytes) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn refused(bytes: &[u8]) -> ParseError {
    parse(bytes).expect_err("must be refused")
}

// ---- framing ----------------------------------------------------------------------------------------

#[test]
fn a_message_arriving_in_pieces_is_incomplete_until_its_last_byte() {
    let full = wire(&["Content-Type: text/plain"], b"hello");
    for n in 0..full.len() {
        assert_eq!(next_frame(&full[..n]), Frame::Incomplete, "after {n} bytes");
    }
    assert_eq!(next_frame(&full), Frame::Message { skip: 0, len: full.len() });
}

#[test]
fn two_messages_in_one_buffer_are_framed_one_after_the_other() {
    let first = wire(&["Content-Type: text/plain"], b"one");
    let second = wire(&[], b"");
    let buf = [first.clone(), second.clone()].concat();
    assert_eq!(next_frame(&buf), Frame::Message { skip: 0, len: first.len() });
    assert_eq!(next_frame(&buf[first.len()..]), Frame::Message { skip: 0, len: second.len() });
}

#[test]
fn double_crlf_is_a_ping_and_single_crlf_is_skipped() {
    assert_eq!(next_frame(b"\r\n\r\n"), Frame::Ping { consumed: 4 });
    assert_eq!(next_frame(b"\r\n\r\nINVITE"), Frame::Ping { consumed: 4 });
    assert_eq!(next_frame(b"\r\n"), Frame::Skip { consumed: 2 });
    assert_eq!(next_frame(b"\r"), Frame::Incomplete);
    let msg = wire(&[], b"");
    let buf = [b"\r\n".as_slice(), &msg].concat();
    assert_eq!(next_frame(&buf), Frame::Message { skip: 2, len: msg.len() });
}

#[test]
fn bad_content_lengths_close_the_stream() {
    let with = |cl: &str| format!("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {cl}\r\n\r\n").into_bytes();
    assert_eq!(next_frame(&with("70000")), Frame::Error(FrameError::TooLarge));
    for bad in ["99999999999", "-1", "five", "", "1 2"] {
        assert_eq!(next_frame(&with(bad)), Frame::Error(FrameError::BadContentLength), "{bad:?}");
    }
    let twice = b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nxx";
    assert_eq!(next_frame(twice), Frame::Error(FrameError::BadContentLength));
}

#[test]
fn a_head_longer_than_64_kib_is_too_large() {
    assert_eq!(next_frame(&vec![b'a'; MAX_MESSAGE + 1]), Frame::Error(FrameError::TooLarge));
    assert_eq!(next_frame(&vec![b'a'; MAX_MESSAGE]), Frame::Incomplete);
    assert_eq!(refused(&vec![b'a'; MAX_MESSAGE + 1]).status, 413);
}

#[test]
fn a_binary_body_is_kept_byte_exact() {
    let body = [0u8, 0xff, 0xfe, b'\r', b'\n', 0x80, 0, b'\r', b'\n', b'\r', b'\n', 0xc3];
    let bytes = wire(&["Content-Type: application/octet-stream"], &body);
    let Frame::Message { skip, len } = next_frame(&bytes) else { panic!("not framed") };
    let r = request(&bytes[skip..skip + len]);
    assert_eq!(&r.body[..], &body[..]);
    let again = request(&r.to_bytes());
    assert_eq!(&again.body[..], &body[..]);
}

#[test]
fn datagram_bodies_are_cut_to_content_length_and_short_ones_refused() {
    let mut bytes = wire(&["Content-Type: text/plain"], b"abc");
    bytes.extend_from_slice(b"trailing noise");
    assert_eq!(&request(&bytes).body[..], b"abc");
    let short = String::from_utf8(wire(&["Content-Type: text/plain"], b"abc")).unwrap();
    let e = refused(short.replace("Content-Length: 3", "Content-Length: 10").as_bytes());
    assert_eq!(e.status, 400);
    assert!(e.echo.is_some(), "the 400 for a short body can be addressed");
}

// ---- header names, compact forms, lists, folding -------------------------------------------------------

#[test]
fn compact_forms_are_expanded() {
    let bytes = b"INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        f: <sip:a@example.com>;tag=1\r\nt: <sip:bob@example.com>\r\ni: id1\r\nCSeq: 1 INVITE\r\n\
        m: <sip:a@192.0.2.1>\r\nc: application/sdp\r\nk: timer\r\nx: 1800;refresher=uac\r\nl: 0\r\n\r\n";
    let r = request(bytes);
    let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
    let expected = "Via From To Call-ID CSeq Contact Content-Type Supported Session-Expires Content-Length";
    assert_eq!(names.join(" "), expected);
    assert_eq!(r.headers.get(&HeaderName::SESSION_EXPIRES), Some("1800;refresher=uac"));
    assert!(HeaderName::new("X").is("session-expires") && HeaderName::new("K") == HeaderName::SUPPORTED);
}

#[test]
fn unknown_header_names_compare_case_insensitively_but_keep_their_spelling() {
    let a = HeaderName::new("X-Custom-Thing");
    assert_eq!(a, HeaderName::new("x-custom-thing"));
    assert_eq!(a.as_str(), "X-Custom-Thing");
    let set: HashSet<HeaderName> = [a.clone(), HeaderName::new("X-CUSTOM-THING")].into_iter().collect();
    assert_eq!(set.len(), 1);
    assert_ne!(a, HeaderName::new("X-Other"));
    assert_eq!(HeaderName::new("cOnTaCt"), HeaderName::CONTACT);
}

#[test]
fn vias_joined_by_commas_become_one_entry_each_in_order() {
    let vias = "Via: SIP/2.0/TCP b.example.com;branch=z9hG4bK2 , SIP/2.0/TLS c.example.com:5061";
    let r = request(&wire(&[vias], b""));
    let hosts: Vec<String> = r.vias().iter().map(|v| format!("{}/{}", v.transport, v.sent_by)).collect();
    assert_eq!(hosts, ["UDP/192.0.2.1:5060", "TCP/b.example.com", "TLS/c.example.com:5061"]);
    assert_eq!(r.top_via().and_then(|v| v.branch().map(str::to_owned)).as_deref(), Some("z9hG4bK1"));
}

#[test]
fn commas_inside_quotes_and_brackets_do_not_split_a_list() {
    let r = request(&wire(&[r#"Contact: "Doe, John" <sip:j@example.com>;x="a,b", <sip:k@ex.com>"#], b""));
    let contacts: Vec<&str> = r.headers.get_all(&HeaderName::CONTACT).collect();
    assert_eq!(contacts, [r#""Doe, John" <sip:j@example.com>;x="a,b""#, "<sip:k@ex.com>"]);
}

#[test]
fn continuation_lines_are_joined_with_one_space() {
    let r = request(&wire(&["Subject: first\r\n second\r\n\t third"], b""));
    assert_eq!(r.headers.get(&HeaderName::new("subject")), Some("first second third"));
    let e = refused(b"OPTIONS sip:a@b SIP/2.0\r\n folded: first\r\n\r\n");
    assert!(e.reason.contains("continuation"), "{}", e.reason);
}

#[test]
fn nul_is_allowed_only_as_a_quoted_pair() {
    let ok = wire(&["Subject: \"a\\\0b\""], b"");
    assert!(parse(&ok).is_ok());
    let bad = wire(&["Subject: a\0b"], b"");
    assert!(refused(&bad).reason.contains("NUL"));
}

// ---- RFC 4028 headers ----------------------------------------------------------------------------------

#[test]
fn session_expires_values() {
    let se = SessionExpires::parse("1800;refresher=uac").unwrap();
    assert_eq!((se.delta, se.refresher), (1800, Some(Refresher::Uac)));
    assert_eq!(
        SessionExpires::parse(" 90 ; REFRESHER = UAS ; other").unwrap().refresher,
        Some(Refresher::Uas)
    );
    assert_eq!(SessionExpires::parse("4000").unwrap(), SessionExpires { delta: 4000, refresher: None });
    assert_eq!(SessionExpires::parse("1800;refresher=uac").unwrap().to_string(), "1800;refresher=uac");
    assert!(matches!(SessionExpires::parse("-5"), Err(TimerHeaderError::NotANumber(_))));
    assert!(matches!(SessionExpires::parse("abc"), Err(TimerHeaderError::NotANumber(_))));
    assert!(matches!(SessionExpires::parse("99999999999"), Err(TimerHeaderError::Overflow(_))));
    assert_eq!(SessionExpires::parse(""), Err(TimerHeaderError::Empty));
    assert_eq!(SessionExpires::parse(";refresher=uac"), Err(TimerHeaderError::Empty));
    assert_eq!(SessionExpires::parse("0"), Err(TimerHeaderError::Zero));
    assert!(matches!(SessionExpires::parse("90;refresher=both"), Err(TimerHeaderError::Refresher(_))));
    assert_eq!(SessionExpires::parse("90;refresher"), Err(TimerHeaderError::Refresher(String::new())));
}

#[test]
fn min_se_values() {
    assert_eq!(parse_min_se("90"), Ok(90));
    assert_eq!(parse_min_se("120;lr"), Ok(120));
    assert_eq!(parse_min_se("0"), Err(TimerHeaderError::Zero));
    assert!(
        parse_min_se("-90").is_err() && parse_min_se("99999999999").is_err() && parse_min_se("").is_err()
    );
}

#[test]
fn malformed_timer_headers_make_a_request_a_400() {
    for line in ["Session-Expires: 0", "x: abc", "Session-Expires: 99999999999", "Min-SE: -1", "Min-SE:"] {
        let e = refused(&wire(&[line], b""));
        assert_eq!(e.status, 400, "{line}");
        assert!(e.echo.is_some(), "{line}: the 400 can be addressed");
    }
    assert!(parse(&wire(&["Session-Expires: 1800;refresher=uas", "Min-SE: 90"], b"")).is_ok());
}

// ---- addresses ----------------------------------------------------------------------------------------

#[test]
fn name_addr_with_and_without_brackets() {
    let a = NameAddr::parse(r#""Alice Smith" <sip:alice@example.com;transport=tcp>;tag=88sja8x"#).unwrap();
    assert_eq!(a.display.as_deref(), Some(r#""Alice Smith""#));
    assert_eq!(a.tag(), Some("88sja8x"));
    assert_eq!(a.uri.as_sip().unwrap().transport().as_deref(), Some("tcp"));
    let b = NameAddr::parse("sip:bob@example.com;tag=1;transport=udp").unwrap();
    assert_eq!((b.display.as_deref(), b.tag()), (None, Some("1")));
    assert_eq!(b.params.get("transport"), Some(Some("udp")), "no brackets: the header's");
    assert_eq!(b.uri.as_sip().unwrap().param("transport"), None);
    let c = NameAddr::parse("Bob Jones <sip:bob@example.com>").unwrap().with_tag("t9");
    assert_eq!(c.to_string(), "Bob Jones <sip:bob@example.com>;tag=t9");
    assert_eq!(NameAddr::parse("<sip:a@example.com>").unwrap().tag(), None);
}

#[test]
fn malformed_name_addrs_are_refused() {
    for bad in [
        r#""unterminated <sip:a@example.com>"#,
        "Bell, Alexander <sip:a@example.com>",
        "< sip:a@example.com >",
        "sip:a@example.com?Route=%3Csip:x%3E",
        "<sip:a@example.com",
        r#""a" b <sip:a@example.com>"#,
    ] {
        assert_eq!(NameAddr::parse(bad).map(|n| n.to_string()), None, "{bad}");
    }
    assert!(NameAddr::parse("<sip:a@example.com?Route=%3Csip:x%3E>").is_some(), "headers ok in <>");
    assert!(NameAddr::parse(r#""quote \" and < inside" <sip:a@example.com>"#).is_some());
}

#[test]
fn ipv6_uris_vias_and_display_names() {
    let uri = SipUri::parse("sip:[2001:db8::1]:5070").unwrap();
    let hp = uri.host_port();
    assert_eq!(hp.host, Host::Ip("2001:db8::1".parse().unwrap()));
    assert_eq!(hp.port, Some(5070));
    assert_eq!(hp.to_string(), "[2001:db8::1]:5070");
    assert_eq!(hp.socket_addr(5060), Some("[2001:db8::1]:5070".parse().unwrap()));
    assert_eq!(HostPort::parse("[2001:db8::1]").unwrap().to_string(), "[2001:db8::1]");
    let n = NameAddr::parse("\"Bob\" <sip:bob@[2001:db8::1]:5070;transport=tcp>;tag=x").unwrap();
    assert_eq!(n.uri.as_sip().unwrap().host_port().port, Some(5070));
    assert_eq!(n.to_string(), "\"Bob\" <sip:bob@[2001:db8::1]:5070;transport=tcp>;tag=x");
    let via = Via::parse("SIP/2.0/TCP [2001:db8::2]:5071;branch=z9hG4bKv6").unwrap();
    assert_eq!(via.sent_by.to_string(), "[2001:db8::2]:5071");
    assert_eq!(via.to_string(), "SIP/2.0/TCP [2001:db8::2]:5071;branch=z9hG4bKv6");
}

#[test]
fn via_received_and_rport() {
    let mut via = Via::parse("SIP/2.0/UDP host.example.com:5060;branch=z9hG4bKx;rport").unwrap();
    via.stamp_source("192.0.2.9:40000".parse().unwrap());
    assert_eq!(via.params.get("received"), Some(Some("192.0.2.9")));
    assert_eq!(via.response_target(5060), Some("192.0.2.9:40000".parse().unwrap()));
    assert!(Via::parse("SIP/3.0/UDP h").is_none() && Via::parse("SIP/2.0 h").is_none());
}

// ---- start lines and methods ---------------------------------------------------------------------------

#[test]
fn extension_methods_are_kept_and_known_ones_are_case_sensitive() {
    assert_eq!(Method::parse("INVITE"), Some(Method::Invite));
    assert_eq!(Method::parse("invite"), Some(Method::Other("invite".into())));
    assert_eq!(Method::parse("FOO-BAR").map(|m| m.to_string()).as_deref(), Some("FOO-BAR"));
    assert_eq!(Method::parse("BAD METHOD"), None);
    assert_eq!(Method::parse(""), None);
    let text = String::from_utf8(wire(&[], b"")).unwrap().replace("INVITE", "FROB");
    let r = request(text.as_bytes());
    assert_eq!((r.method.as_str(), r.cseq().unwrap().method.as_str()), ("FROB", "FROB"));
}

#[test]
fn reason_phrases_and_status_lines() {
    assert_eq!(reason_phrase(200), "OK");
    assert_eq!(reason_phrase(422), "Session Interval Too Small");
    assert_eq!(reason_phrase(481), "Call/Transaction Does Not Exist");
    assert_eq!(reason_phrase(299), "OK");
    assert_eq!(reason_phrase(699), "Global Failure");
    assert_eq!(Response::new(486).reason, "Busy Here");
    let text = String::from_utf8(wire(&[], b"")).unwrap();
    let response = text.replacen("INVITE sip:bob@example.com SIP/2.0", "SIP/2.0 183 Ringing, sort of", 1);
    let Ok(Message::Response(r)) = parse(response.as_bytes()) else { panic!("not a response") };
    assert_eq!((r.status, r.reason.as_str()), (183, "Ringing, sort of"));
    for bad in ["SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 2000 Long", "SIP/1.0 200 OK"] {
        assert!(parse(text.replacen(HEAD[0], bad, 1).as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn request_line_and_version_errors() {
    let text = String::from_utf8(wire(&[], b"")).unwrap();
    let with = |line: &str| parse(text.replacen(HEAD[0], line, 1).as_bytes());
    assert_eq!(with("INVITE sip:bob@example.com SIP/3.0").unwrap_err().status, 505);
    for bad in ["INVITE  sip:b@example.com SIP/2.0", "INVITE sip:b@example.com", "INVITE <sip:b@x> SIP/2.0"] {
        let e = with(bad).unwrap_err();
        assert_eq!(e.status, 400, "{bad}");
        assert!(e.echo.is_some(), "{bad}: a 400 can be addressed");
    }
    assert!(with("INVITE sip:b@example.com?Subject=x SIP/2.0").is_err(), "headers in a Request-URI");
    assert!(
        matches!(with("INVITE tel:+15551234 SIP/2.0").unwrap(), Message::Request(r) if r.uri.as_sip().is_none())
    );
}

#[test]
fn header_checks_on_requests() {
    assert!(parse(&wire(&["Date: Sat, 13 Nov 2010 23:29:00 GMT", "Contact: *"], b"")).is_ok());
    assert!(refused(&wire(&["Date: Sat, 13 Nov 2010 23:29:00 EST"], b"")).reason.contains("Date"));
    assert!(refused(&wire(&["Contact: sip:x@example.com?Route=y"], b"")).reason.contains("Contact"));
    let mf = |v: &str| String::from_utf8(wire(&[], b"")).unwrap().replace("Max-Forwards: 70", v);
    assert!(parse(mf("Max-Forwards: 0068").as_bytes()).is_ok());
    assert!(parse(mf("Max-Forwards: 0").as_bytes()).is_ok());
    assert!(
        parse(mf("Max-Forwards: 256").as_bytes()).is_err()
            && parse(mf("Max-Forwards: 00300").as_bytes()).is_err()
    );
    let no_type = wire(&[], b"body");
    assert!(refused(&no_type).reason.contains("Content-Type"));
    let twice = wire(&["Call-ID: other"], b"");
    assert!(refused(&twice).echo.is_none(), "two Call-IDs: nothing safe to echo");
}

// ---- building and printing -----------------------------------------------------------------------------

#[test]
fn response_to_copies_vias_in_order_and_adds_a_to_tag() {
    let r = request(&wire(&["Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK2"], b""));
    let ok = response_to(&r, 200, Some("b2"));
    let vias: Vec<&str> = ok.headers.get_all(&HeaderName::VIA).collect();
    assert_eq!(
        vias,
        ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", "SIP/2.0/TCP proxy.example.com;branch=z9hG4bK2"]
    );
    assert_eq!(ok.to_hdr().unwrap().tag(), Some("b2"));
    assert_eq!(ok.from_hdr().unwrap().tag(), Some("a1"));
    assert_eq!((ok.call_id(), ok.cseq()), (r.call_id(), r.cseq()));
    assert_eq!((ok.status, ok.reason.as_str()), (200, "OK"));
    assert_eq!(response_to(&r, 100, Some("b2")).to_hdr().unwrap().tag(), None, "no tag on 100");
    let text = String::from_utf8(wire(&[], b""))
        .unwrap()
        .replace("To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=b2");
    let in_dialog = request(text.as_bytes());
    assert_eq!(
        response_to(&in_dialog, 486, Some("zz")).to_hdr().unwrap().tag(),
        Some("b2"),
        "an existing tag is kept"
    );
}

#[test]
fn serialising_and_parsing_again_gives_the_same_message() {
    let original = request(&wire(
        &["Content-Type: application/sdp", "Subject: a\r\n b", "X-Odd: \"q\";p=1"],
        b"v=0\r\n",
    ));
    let bytes = original.to_bytes();
    assert_eq!(Message::Request(original.clone()), parse(&bytes).unwrap());
    assert_eq!(parse(&bytes).unwrap().to_bytes(), bytes, "printing is stable");
    let reply = response_to(&original, 180, Some("r1"));
    assert_eq!(parse(&reply.to_bytes()).unwrap().to_bytes(), reply.to_bytes());
}

#[test]
fn content_length_is_computed_not_copied() {
    let mut r = Request::new(Method::Message, Uri::parse("sip:bob@example.com").unwrap());
    for line in &HEAD[1..] {
        let (name, value) = line.split_once(": ").unwrap();
        r.headers.push(HeaderName::new(name), value.replace("INVITE", "MESSAGE"));
    }
    r.headers.push(HeaderName::CONTENT_TYPE, "text/plain");
    r.headers.push(HeaderName::CONTENT_LENGTH, "999");
    r.body = bytes::Bytes::from_static(b"hello");
    let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
    assert_eq!(text.matches("Content-Length").count(), 1);
    assert!(text.ends_with("Content-Length: 5\r\n\r\nhello"), "{text}");
    let parsed = request(text.as_bytes());
    assert_eq!(
        (&parsed.body[..], parsed.headers.get(&HeaderName::CONTENT_LENGTH)),
        (&b"hello"[..], Some("5"))
    );
}

/// The borrowed accessors (`from_tag`, `to_tag`, `top_branch`) must read what the full parse reads.
#[test]
fn cheap_header_params_agree_with_the_full_parse() {
    use super::name_addr::header_param;
    let values = [
        "<sip:alice@example.com>;tag=1928301774",
        "\"Alice\" <sip:alice@example.com;tag=uri-param>;tag=hdr",
        "\"a;tag=quoted <x>\" <sip:a@b>;tag=real",
        "sip:alice@example.com;tag=addr-spec",
        "<sip:bob@example.com>",
        "Bob <sip:bob@[2001:db8::1]:5070;transport=tcp> ;x=\"a;b\" ; TAG = spaced",
        "<sip:a@b>;other=1;tag=second",
    ];
    for value in values {
        let full = NameAddr::parse(value).unwrap_or_else(|| panic!("{value} parses"));
        assert_eq!(header_param(value, "tag").flatten(), full.tag(), "{value}");
    }
    assert_eq!(header_param("<sip:a@b;tag=x>", "tag"), None);
}

#[test]
fn cheap_via_accessors_agree_with_the_full_parse() {
    let values = [
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport",
        "SIP/2.0/TCP [2001:db8::1]:5070 ; received=192.0.2.1 ; branch=z9hG4bKx",
        "SIP / 2.0 / UDP host.example.com;BRANCH=z9hG4bKcase",
        "SIP/2.0/UDP host.example.com",
    ];
    for value in values {
        let full = Via::parse(value).unwrap_or_else(|| panic!("{value} parses"));
        assert_eq!(Via::param_of(value, "branch").flatten(), full.branch(), "{value}");
        let sent_by = Via::sent_by_text(value).expect("sent-by");
        assert_eq!(HostPort::parse(sent_by), Some(full.sent_by.clone()), "{value}");
    }
}

/// `stamp_source` leaves a Via alone when sent-by is the source and no rport was asked for, and stamps
/// it otherwise (RFC 3261 §18.2.1, RFC 3581 §4).
#[test]
fn stamp_source_only_changes_what_it_must() {
    let raw = "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
               From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\
               Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let Ok(Message::Request(mut same)) = parse(raw.as_bytes()) else { panic!("parses") };
    let before = same.headers.get(&HeaderName::VIA).map(str::to_owned);
    same.stamp_source("192.0.2.1:5060".parse().expect("addr"));
    assert_eq!(same.headers.get(&HeaderName::VIA).map(str::to_owned), before);
    let mut other = same.clone();
    other.stamp_source("198.51.100.7:4000".parse().expect("addr"));
    assert_eq!(
        other.top_via().and_then(|v| v.params.get("received").flatten().map(str::to_owned)),
        Some("198.51.100.7".to_owned())
    );
    let rport = raw.replace("branch=z9hG4bK1", "branch=z9hG4bK1;rport");
    let Ok(Message::Request(mut asked)) = parse(rport.as_bytes()) else { panic!("parses") };
    asked.stamp_source("192.0.2.1:6000".parse().expect("addr"));
    assert_eq!(
        asked.top_via().and_then(|v| v.params.get("rport").flatten().map(str::to_owned)),
        Some("6000".to_owned())
    );
}

/// One of `good` four times in five, else one of `bad`.
fn piece(good: &[&'static str], bad: &[&'static str]) -> &'static str {
    let list = if fastrand::u8(..5) < 4 { good } else { bad };
    list[fastrand::usize(..list.len())]
}

fn random_word(alphabet: &[u8], max: usize) -> String {
    (0..fastrand::usize(0..=max)).map(|_| alphabet[fastrand::usize(..alphabet.len())] as char).collect()
}

/// Name-addrs built from pieces that are right, nearly right and wrong: schemes, users, hosts (IPv4 with
/// octets out of range and leading zeros, labels with edge hyphens and digits), ports, parameters,
/// display names, brackets.
fn name_addr_samples(count: usize) -> Vec<String> {
    const WORDISH: &[u8] = b"abcZ09-_.!~*'+%:@;=?,<>\" ()[]\\/&$#";
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let scheme = piece(&["sip:", "sips:"], &["SIP:", "tel:", "", "sip:/", "sip: "]);
        let user = match fastrand::u8(..5) {
            0 => String::new(),
            1 => format!("{}@", random_word(b"abc09-_.!~*'+", 8)),
            2 => format!("{}@", random_word(WORDISH, 6)),
            _ => piece(&["alice@", "sipp@", "+15551234567@"], &["a:pw@", "@", "a%20b@", "a b@", "a(b)@"])
                .to_owned(),
        };
        let host = match fastrand::u8(..5) {
            0 => (0..fastrand::usize(3..=5))
                .map(|_| fastrand::u16(0..=300).to_string())
                .collect::<Vec<_>>()
                .join("."),
            1 => (0..fastrand::usize(1..=3)).map(|_| random_word(b"ab09-", 5)).collect::<Vec<_>>().join("."),
            2 => random_word(b"ab09-._:[]", 10),
            _ => piece(
                &["127.0.0.1", "example.com", "a-b.example", "sip.example.com", "x1.y2.example"],
                &["01.2.3.4", "1.2.3", "[::1]", "x.", "-a.b", "a_b.example", "1.2.3.4.5"],
            )
            .to_owned(),
        };
        let port =
            piece(&["", ":5060", ":65535", ":1"], &[":0", ":65536", ":", ":5o60", ":000080", ":99999999"]);
        let mut params = String::new();
        for _ in 0..fastrand::usize(0..3) {
            params.push(';');
            params.push_str(&random_word(b"a9-_.!~*'+", 4));
            if fastrand::bool() {
                params.push('=');
                let alphabet: &[u8] = if fastrand::bool() { b"a9-_.!~*'+" } else { WORDISH };
                params.push_str(&random_word(alphabet, 4));
            }
        }
        let uri = format!("{scheme}{user}{host}{port}{params}");
        let display = piece(
            &["", "Alice ", "Alice", "\"Alice Smith\" ", "sipp "],
            &["\"A\\\"b\" ", "\"open ", "A  B ", "a,b ", "\"x\"y "],
        );
        let header_params = piece(
            &["", ";tag=1234", ";tag=a-b.c", ";tag", ";expires=60;q=0.5"],
            &[";tag=", "; tag=x", ";tag=\"q\"", ";", ";a;;b"],
        );
        out.push(match fastrand::u8(..3) {
            0 => format!("{uri}{header_params}"),
            _ => format!("{display}<{uri}>{header_params}"),
        });
    }
    out
}

#[test]
fn the_name_addr_fast_path_accepts_nothing_the_full_parse_refuses() {
    fastrand::seed(4475);
    let samples = name_addr_samples(60_000);
    let mut plain = 0;
    for text in &samples {
        let full = NameAddr::parse(text).is_some();
        assert_eq!(NameAddr::is_valid(text), full, "{text}");
        let fast = name_addr::is_plain_for_tests(text);
        assert!(!fast || full, "fast path accepted `{text}`");
        plain += usize::from(fast);
    }
    // The generator reaches the fast path often enough for the comparison to mean something.
    assert!(plain > samples.len() / 20, "only {plain} plain samples");
}

/// What a dialog and leg B's INVITE take from a From/To/Contact (its URI; the value without its tag) is
/// cut from the text when the value is plain: it must read as what the full parse gives.
#[test]
fn uri_and_tagless_value_from_text_agree_with_the_full_parse() {
    fastrand::seed(3261);
    let mut checked = 0;
    for text in &name_addr_samples(20_000) {
        let Some(mut full) = NameAddr::parse(text) else {
            assert_eq!(name_addr::uri_text(text), None, "{text}");
            assert_eq!(name_addr::without_header_param(text, "tag"), None, "{text}");
            continue;
        };
        assert_eq!(name_addr::uri_text(text).as_deref(), Some(full.uri.as_str()), "{text}");
        let tagless = name_addr::without_header_param(text, "tag").unwrap_or_else(|| panic!("{text}"));
        full.params.remove("tag");
        assert_eq!(NameAddr::parse(&tagless), Some(full), "{text} -> {tagless}");
        checked += 1;
    }
    assert!(checked > 2_000, "only {checked} samples parse");
    assert_eq!(
        name_addr::without_header_param("\"Al\" <sip:a@b;tag=u>;x=1;TAG=t;y", "tag").as_deref(),
        Some("\"Al\" <sip:a@b;tag=u>;x=1;y")
    );
}

#[test]
fn what_sipp_and_trunks_send_takes_the_fast_path() {
    for text in [
        "sipp <sip:sipp@127.0.0.1:5061>;tag=1234SIPpTag001",
        "<sip:service@127.0.0.1:5070>",
        "sip:sipp@127.0.0.1:5061",
        "\"+15551234567\" <sip:+15551234567@sip.example.com;user=phone>;tag=as7d8f",
        "<sip:10.0.0.2:5070;transport=udp>",
        "<sip:p1.example.com;lr>",
    ] {
        assert!(name_addr::is_plain_for_tests(text), "{text}");
        assert!(NameAddr::parse(text).is_some(), "{text}");
    }
}

#[test]
fn the_via_fast_path_accepts_nothing_the_full_parse_refuses() {
    fastrand::seed(3261);
    let count = 40_000;
    let mut plain = 0;
    for _ in 0..count {
        let text = format!(
            "{}{}{}{}{}",
            piece(&["SIP/2.0/"], &["sip/2.0/", "SIP/3.0/", "SIP/2.0 /", "SIP/2.0", "SIP /2.0/"]),
            piece(&["UDP ", "TCP ", "TLS "], &["udp ", "UDP  ", "U-P ", " ", "UDP\t", "WSS"]),
            piece(
                &["127.0.0.1", "host.example", "10.0.0.1", "a-b.example"],
                &["192.0.2.300", "01.2.3.4", "a-.b", "x_y.example", "[::1]", "1.2.3", ""],
            ),
            piece(&["", ":5060", ":65535"], &[":0", ":65536", ":05060", ":", ":abc"]),
            piece(
                &[";branch=z9hG4bK-1-0", ";branch=z9hG4bK1;rport", ";rport=5060;received=1.2.3.4", ""],
                &[";branch", ";=x", "; branch=x", ";branch=\"q\"", ";a=b;", ";a=b c"],
            ),
        );
        let full = Via::parse(&text).is_some();
        assert_eq!(Via::is_valid(&text), full, "{text}");
        let fast = via::is_plain(text.trim());
        assert!(!fast || full, "fast path accepted `{text}`");
        plain += usize::from(fast);
    }
    assert!(plain > count / 10, "only {plain} plain samples");
    assert!(via::is_plain("SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-2803-1-0"));
    assert!(via::is_plain("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKsst1a2b"));
}

#[test]
fn a_plain_host_port_reads_as_the_engine_reads_it() {
    fastrand::seed(5118);
    let mut plain = 0;
    for _ in 0..20_000 {
        let text = format!(
            "{}{}",
            piece(
                &["127.0.0.1", "10.20.30.40", "Host.Example", "a-b.example.COM", "x1.y2"],
                &["256.1.1.1", "1.2.3", "01.2.3.4", "-a.example", "a..b", "[::1]", "a_b", ""],
            ),
            piece(&["", ":5060", ":1", ":65535"], &[":0", ":65536", ":05060", ":", ":x"]),
        );
        if uri::is_plain_host_port(&text) {
            plain += 1;
            assert_eq!(HostPort::parse(&text), HostPort::parse_with_engine(&text), "{text}");
        }
        assert_eq!(HostPort::parse(&text).is_some(), HostPort::parse_with_engine(&text).is_some(), "{text}");
    }
    assert!(plain > 10_000, "only {plain} plain samples");
}

#[test]
fn a_plain_sip_uri_answers_as_an_engine_parsed_one() {
    fastrand::seed(3986);
    let samples = name_addr_samples(20_000);
    let mut plain = 0;
    for text in &samples {
        let Some(addr) = NameAddr::parse(text) else { continue };
        let Some(uri) = addr.uri.as_sip() else { continue };
        if !uri::is_plain_sip_uri(uri.as_str()) {
            continue;
        }
        plain += 1;
        // `uri` is read from its text; `engine` is the same URI taken apart by the engine.
        let engine = SipUri::parsed_by_engine(uri.as_str()).expect("the engine reads it");
        assert_eq!(uri.host_port(), engine.host_port(), "{text}");
        assert_eq!(uri.is_sips(), engine.is_sips(), "{text}");
        assert_eq!(uri.user(), engine.user(), "{text}");
        assert_eq!(uri.user().is_some(), uri.as_str().contains('@'), "{text}");
        assert!(!uri.has_headers(), "{text}");
        let names = uri.as_str().split(';').skip(1).map(|p| p.split_once('=').map_or(p, |(name, _)| name));
        for name in names.clone().chain(["transport", "lr", "user", "absent"]) {
            assert_eq!(uri.param(name), engine.param(name), "{text}: {name}");
        }
        // The engine matches names case-sensitively; the text is read as RFC 3261 §19.1.4 says.
        for name in names {
            assert!(uri.param(name).is_some(), "{text}: {name}");
            assert_eq!(uri.param(&name.to_ascii_uppercase()), uri.param(name), "{text}: {name}");
        }
    }
    assert!(plain > 1_000, "only {plain} plain samples");
}

#[test]
fn a_host_port_is_written_as_it_is_displayed() {
    for text in [
        "127.0.0.1",
        "10.0.0.254:5060",
        "0.0.0.0:1",
        "host.example.com",
        "a-b.example:65535",
        "[::1]:5061",
        "[2001:db8::7]",
    ] {
        let hp = HostPort::parse(text).expect(text);
        let mut written = String::from("x");
        hp.push_to(&mut written);
        assert_eq!(written, format!("x{hp}"), "{text}");
    }
}

#[test]
fn every_known_header_name_is_found_in_any_case_and_its_compact_form() {
    for (name, compact) in super::headers::KNOWN {
        for spelling in [name.to_string(), name.to_ascii_lowercase(), name.to_ascii_uppercase()] {
            let found = HeaderName::new(&spelling);
            assert_eq!(found.as_str(), *name, "{spelling}");
            assert_eq!(found, HeaderName::new(name));
        }
        if let Some(c) = compact {
            assert_eq!(HeaderName::new(&c.to_string()).as_str(), *name);
            assert_eq!(HeaderName::new(&c.to_ascii_uppercase().to_string()).as_str(), *name);
        }
    }
    assert_eq!(HeaderName::new("X-Via").as_str(), "X-Via");
    assert_ne!(HeaderName::new("Vias"), HeaderName::VIA);
}

#[test]
fn cseq_reads_the_usual_and_the_unusual_spacing() {
    let read = |text: &str| CSeq::parse(text).map(|c| (c.seq, c.method.as_str().to_owned()));
    assert_eq!(read("1 INVITE"), Some((1, "INVITE".into())));
    assert_eq!(read("2147483647 FROB"), Some((2_147_483_647, "FROB".into())));
    for spaced in ["1  INVITE", "1\tINVITE", " 1 INVITE ", "1 \u{a0}INVITE"] {
        assert_eq!(read(spaced), Some((1, "INVITE".into())), "{spaced:?}");
    }
    for bad in [
        "",
        "1",
        "INVITE",
        " INVITE",
        "x INVITE",
        "-1 INVITE",
        "2147483648 INVITE",
        "1 INVITE x",
        "1 INV\u{a0}ITE",
        "1 IN;VITE",
    ] {
        assert_eq!(read(bad), None, "{bad:?}");
    }
}

#[test]
fn split_lines_and_find_byte_cut_where_the_standard_library_does() {
    for text in ["", "\n", "a", "a\n", "\na", "a\r\nb\r\n\r\n", "é\nü;<x>\n\n", "Via: x\nTo: <sip:a@b>;tag=1"]
    {
        let ours: Vec<&str> = super::split_lines(text).collect();
        assert_eq!(ours, text.split('\n').collect::<Vec<_>>(), "{text:?}");
        for byte in [b'\n', b';', b'<', b'>'] {
            assert_eq!(super::find_byte(text, byte), text.find(char::from(byte)), "{text:?} {byte}");
        }
    }
}
