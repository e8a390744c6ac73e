//! Malformed messages against the real daemon, every row over UDP and over TCP (a fresh connection per
//! row): which get a 400 or 505 with a Warning (RFC 3261 §8.2, §21.4.1), which are dropped because no
//! response could be addressed, which framing errors close a TCP connection (§18.3). Then the answers a
//! well-formed out-of-dialog request gets (positive controls), and the daemon is still up after all.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::daemon::{
    fill_local, header_values, options_request, status_code, Daemon, LOOPBACK, REPLY_TIMEOUT,
};

/// How long "no answer" is waited for.
const SILENCE: Duration = Duration::from_millis(300);
/// The largest UDP payload IPv4 carries (65535 - 20 - 8): anything bigger never reaches the daemon.
const MAX_DATAGRAM: usize = 65_507;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Answered with this status, echoing our Call-ID; a 400 or 505 also carries a Warning.
    Status(u16),
    /// No answer within `SILENCE` (a response, or a request no response can be addressed to).
    Dropped,
    /// TCP only: the daemon closes the connection without answering (the stream cannot be framed).
    Closed,
}

use Expect::{Closed, Dropped, Status};

struct Row {
    name: &'static str,
    msg: Vec<u8>,
    udp: Expect,
    tcp: Expect,
    /// A header the answer must carry, with this value among its values.
    header: Option<(&'static str, &'static str)>,
}

fn row(name: &'static str, msg: impl Into<Vec<u8>>, udp: Expect, tcp: Expect) -> Row {
    Row { name, msg: msg.into(), udp, tcp, header: None }
}

fn both(name: &'static str, msg: impl Into<Vec<u8>>, expect: Expect) -> Row {
    row(name, msg, expect, expect)
}

/// A message as start line, header lines and body. `{transport}`, `{id}` (unique per row and transport)
/// and `{local}` are filled in when it is sent.
#[derive(Clone)]
struct Msg {
    start: String,
    headers: Vec<Vec<u8>>,
    body: Vec<u8>,
}

impl Msg {
    fn request(method: &str, uri: &str) -> Msg {
        let headers = [
            "Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{id};rport".to_owned(),
            "Max-Forwards: 70".to_owned(),
            "From: <sip:tester@{local}>;tag=f-{id}".to_owned(),
            "To: <sip:b2bua@127.0.0.1>".to_owned(),
            "Call-ID: {id}@malformed".to_owned(),
            format!("CSeq: 1 {method}"),
            "Content-Length: 0".to_owned(),
        ];
        Msg {
            start: format!("{method} {uri} SIP/2.0"),
            headers: headers.map(String::into_bytes).into(),
            body: vec![],
        }
    }

    fn options() -> Msg {
        Msg::request("OPTIONS", "sip:b2bua@127.0.0.1")
    }

    /// A response to an OPTIONS we never sent.
    fn response(status_line: &str) -> Msg {
        Msg::options().start(status_line).set("To", "<sip:b2bua@127.0.0.1>;tag=t-{id}")
    }

    fn start(mut self, line: &str) -> Msg {
        line.clone_into(&mut self.start);
        self
    }

    /// Removes every header line named `name` (exact long name, case-insensitive).
    fn without(mut self, name: &str) -> Msg {
        self.headers.retain(|line| {
            let head = line.split(|b| *b == b':').next().unwrap_or_default();
            !head.trim_ascii().eq_ignore_ascii_case(name.as_bytes())
        });
        self
    }

    fn line(mut self, line: impl Into<Vec<u8>>) -> Msg {
        self.headers.push(line.into());
        self
    }

    fn first_line(mut self, line: &str) -> Msg {
        self.headers.insert(0, line.as_bytes().to_vec());
        self
    }

    fn set(self, name: &str, value: &str) -> Msg {
        self.without(name).line(format!("{name}: {value}"))
    }

    fn body(self, content_type: &str, body: &[u8]) -> Msg {
        let mut msg = self.set("Content-Type", content_type).set("Content-Length", &body.len().to_string());
        msg.body = body.to_vec();
        msg
    }
}

impl From<Msg> for Vec<u8> {
    fn from(msg: Msg) -> Vec<u8> {
        let mut out = msg.start.into_bytes();
        out.extend_from_slice(b"\r\n");
        for line in msg.headers {
            out.extend_from_slice(&line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&msg.body);
        out
    }
}

fn malformed_rows() -> Vec<Row> {
    let opts = Msg::options;
    let long_line = format!("Subject: {}", "a".repeat(17 * 1024));
    let mut many = opts();
    for n in 0..300 {
        many = many.line(format!("X-Line-{n}: {n}"));
    }
    let mut huge = opts();
    for n in 0..5 {
        huge = huge.line(format!("X-Big-{n}: {}", "b".repeat(14 * 1024)));
    }
    let mut garbage: Vec<u8> = (0..400u32).map(|i| 0x80 | (i * 37 % 128) as u8).collect();
    garbage.extend_from_slice(b"\x00\x01\x00\r\n\r\n");
    vec![
        // Start lines.
        both("request line without SIP-Version", opts().start("OPTIONS sip:b2bua@127.0.0.1"), Status(400)),
        both(
            "two spaces after the method",
            opts().start("OPTIONS  sip:b2bua@127.0.0.1 SIP/2.0"),
            Status(400),
        ),
        both(
            "space after the SIP-Version",
            opts().start("OPTIONS sip:b2bua@127.0.0.1 SIP/2.0 "),
            Status(400),
        ),
        both("tab instead of a space", opts().start("OPTIONS\tsip:b2bua@127.0.0.1 SIP/2.0"), Status(400)),
        // RFC 3261 §7.1: "The SIP-Version string is case-insensitive": odd but well formed.
        both(
            "lowercase sip/2.0 in a request",
            opts().start("OPTIONS sip:b2bua@127.0.0.1 sip/2.0"),
            Status(200),
        ),
        both("unknown version SIP/3.0", opts().start("OPTIONS sip:b2bua@127.0.0.1 SIP/3.0"), Status(505)),
        both("version SIP/2 without minor", opts().start("OPTIONS sip:b2bua@127.0.0.1 SIP/2"), Status(400)),
        both("method is not a token", opts().start("OPT;IONS sip:b2bua@127.0.0.1 SIP/2.0"), Status(400)),
        both("Request-URI sip: without host", opts().start("OPTIONS sip: SIP/2.0"), Status(400)),
        both(
            "headers in the Request-URI",
            opts().start("OPTIONS sip:b2bua@127.0.0.1?Subject=x SIP/2.0"),
            Status(400),
        ),
        // Mandatory headers: without any of the five there is nothing to address a 400 with.
        both("no Via", opts().without("Via"), Dropped),
        both("no From", opts().without("From"), Dropped),
        both("no To", opts().without("To"), Dropped),
        both("no Call-ID", opts().without("Call-ID"), Dropped),
        both("no CSeq", opts().without("CSeq"), Dropped),
        both("two Call-IDs", opts().line("Call-ID: second@malformed"), Dropped),
        both("Via without a transport", opts().set("Via", "SIP/2.0 {local};branch=z9hG4bK-{id}"), Dropped),
        both("From with an unclosed <", opts().set("From", "<sip:tester@{local};tag=f-{id}"), Status(400)),
        both("Call-ID with a space", opts().set("Call-ID", "{id} @malformed"), Status(400)),
        // CSeq.
        both("CSeq method differs from the method", opts().set("CSeq", "1 INVITE"), Status(400)),
        both("CSeq not a number", opts().set("CSeq", "one OPTIONS"), Dropped),
        both("negative CSeq", opts().set("CSeq", "-1 OPTIONS"), Dropped),
        both("CSeq of 2^32", opts().set("CSeq", "4294967296 OPTIONS"), Status(400)),
        // Content-Length and body: a datagram is answered, a stream that cannot be framed is closed.
        row("Content-Length not a number", opts().set("Content-Length", "abc"), Status(400), Closed),
        row("negative Content-Length", opts().set("Content-Length", "-1"), Status(400), Closed),
        row("Content-Length of 11 digits", opts().set("Content-Length", "99999999999"), Status(400), Closed),
        // On a stream the missing bytes may still come: the framer waits, nothing is answered.
        row(
            "Content-Length larger than the body",
            opts().body("text/plain", b"hello").set("Content-Length", "50"),
            Status(400),
            Dropped,
        ),
        row(
            "two different Content-Lengths",
            opts().body("text/plain", b"hello").line("l: 4"),
            Status(400),
            Closed,
        ),
        both(
            "body without Content-Type",
            opts().body("text/plain", b"hello").without("Content-Type"),
            Status(400),
        ),
        // The header section itself.
        both("NUL byte in the Call-ID", opts().set("Call-ID", "{id}\0@malformed"), Dropped),
        both("continuation line right after the start line", opts().first_line("  folded"), Status(400)),
        both("header line without a colon", opts().line("Subject hello"), Status(400)),
        both("space inside a header name", opts().line("X Bad: 1"), Status(400)),
        both("header line over 16 KiB", opts().line(long_line), Status(400)),
        both("more than 256 header lines", many, Status(400)),
        row("message over 64 KiB", huge, Dropped, Closed),
        // RFC 4028 timer headers and other scalars.
        both("x: -5", opts().line("x: -5"), Status(400)),
        both("Session-Expires: abc", opts().line("Session-Expires: abc"), Status(400)),
        both("Session-Expires: 99999999999", opts().line("Session-Expires: 99999999999"), Status(400)),
        both("empty Session-Expires", opts().line("Session-Expires:"), Status(400)),
        both("Session-Expires: 0", opts().line("Session-Expires: 0"), Status(400)),
        both("refresher=both", opts().line("Session-Expires: 1800;refresher=both"), Status(400)),
        both("Min-SE: -1", opts().line("Min-SE: -1"), Status(400)),
        both("Min-SE: 1e3", opts().line("Min-SE: 1e3"), Status(400)),
        both("Max-Forwards: 300", opts().set("Max-Forwards", "300"), Status(400)),
        both("Max-Forwards: ten", opts().set("Max-Forwards", "ten"), Status(400)),
        both("Date not in GMT", opts().line("Date: Sat, 13 Nov 2010 23:29:00 PST"), Status(400)),
        both("Contact with an unclosed <", opts().line("Contact: <sip:tester@{local}"), Status(400)),
        // Not SIP at all, and responses (never answered).
        both("binary garbage", garbage, Dropped),
        both("whitespace-only line", b"   \r\n\r\n".to_vec(), Dropped),
        both("bare CRLF", b"\r\n".to_vec(), Dropped),
        both("response without Via", Msg::response("SIP/2.0 200 OK").without("Via"), Dropped),
        both("response with status 2000", Msg::response("SIP/2.0 2000 OK"), Dropped),
        both("response with status 099", Msg::response("SIP/2.0 099 Early"), Dropped),
        both("lowercase sip/2.0 in a response", Msg::response("sip/2.0 200 OK"), Dropped),
    ]
}

fn control_rows() -> Vec<Row> {
    let with = |mut row: Row, name, value| {
        row.header = Some((name, value));
        row
    };
    let req = Msg::request;
    let invite = req("INVITE", "sip:alice@127.0.0.1").line("Contact: <sip:tester@{local}>");
    vec![
        with(both("OPTIONS", Msg::options(), Status(200)), "Supported", "timer"),
        both(
            "BYE in an unknown dialog",
            req("BYE", "sip:b2bua@127.0.0.1").set("To", "<sip:b@h>;tag=x"),
            Status(481),
        ),
        with(both("REGISTER", req("REGISTER", "sip:127.0.0.1"), Status(405)), "Allow", "INVITE"),
        with(both("extension method FOO", req("FOO", "sip:b2bua@127.0.0.1"), Status(501)), "Allow", "INVITE"),
        both("tel: Request-URI", req("OPTIONS", "tel:+15551234567"), Status(416)),
        with(both("Require: foo", Msg::options().line("Require: foo"), Status(420)), "Unsupported", "foo"),
        both("CANCEL matching nothing", req("CANCEL", "sip:alice@127.0.0.1"), Status(481)),
        both("stray ACK", req("ACK", "sip:alice@127.0.0.1"), Dropped),
        both("INVITE from a source no route allows", invite, Status(403)),
    ]
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn prepare(msg: &[u8], transport: &str, id: &str, local: SocketAddr) -> Vec<u8> {
    fill_local(&replace(&replace(msg, "{transport}", transport), "{id}", id), local)
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(800)]).into_owned()
}

/// Whether `answer` is what `expect` asks for (`Closed` is judged by the caller).
fn judge(row: &Row, expect: Expect, sent: &[u8], answer: Option<Vec<u8>>) -> Result<(), String> {
    let code = match (expect, answer.as_deref()) {
        (Dropped, None) => return Ok(()),
        (Status(code), Some(_)) => code,
        (Status(code), None) => {
            return Err(format!("expected {code}, got no answer within {REPLY_TIMEOUT:?}"))
        }
        (_, Some(answer)) => return Err(format!("expected no answer, got:\n{}", show(answer))),
        (Closed, None) => unreachable!("judged by the caller"),
    };
    let answer = answer.unwrap_or_default();
    let mut problems = Vec::new();
    if status_code(&answer) != Some(code) {
        problems.push(format!("status {:?} instead of {code}", status_code(&answer)));
    }
    if matches!(code, 400 | 413 | 505) && header_values(&answer, "Warning").is_empty() {
        problems.push("no Warning header".to_owned());
    }
    let call_id = header_values(sent, "Call-ID");
    if call_id.len() == 1 && header_values(&answer, "Call-ID") != call_id {
        problems.push(format!("Call-ID not echoed (sent {call_id:?})"));
    }
    if let Some((name, value)) = row.header {
        if !header_values(&answer, name).iter().any(|v| v.eq_ignore_ascii_case(value)) {
            problems.push(format!("no `{name}: {value}`"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}; answer:\n{}", problems.join("; "), show(&answer)))
    }
}

/// The first answer that is not provisional (an INVITE gets 100 Trying before its final response).
fn final_answer(mut next: impl FnMut() -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    loop {
        let answer = next()?;
        if status_code(&answer).is_none_or(|s| s >= 200) {
            return Some(answer);
        }
    }
}

fn over_udp(daemon: &Daemon, row: &Row, id: &str) -> Result<(), String> {
    let peer = daemon.udp_peer();
    let msg = prepare(&row.msg, "UDP", id, peer.local_addr());
    if msg.len() > MAX_DATAGRAM {
        // Too big for one IPv4 datagram: the kernel refuses it, so the daemon never sees it.
        let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind a UDP socket");
        return match socket.send_to(&msg, daemon.udp_addr()) {
            Err(_) if row.udp == Dropped => Ok(()),
            sent => Err(format!("a {}-byte datagram: {sent:?}, expected {:?}", msg.len(), row.udp)),
        };
    }
    peer.send(&msg);
    let answer = match row.udp {
        Dropped => peer.recv(SILENCE),
        _ => final_answer(|| peer.recv(REPLY_TIMEOUT)),
    };
    judge(row, row.udp, &msg, answer)
}

fn over_tcp(daemon: &Daemon, row: &Row, id: &str) -> Result<(), String> {
    let mut peer = daemon.tcp_peer();
    let msg = prepare(&row.msg, "TCP", id, peer.local_addr());
    peer.send(&msg);
    match row.tcp {
        Closed if !peer.closed_within(REPLY_TIMEOUT) => {
            Err(format!("connection still open after {REPLY_TIMEOUT:?}"))
        }
        Closed => match peer.recv(SILENCE) {
            None => Ok(()),
            Some(answer) => Err(format!("closed, but answered first:\n{}", show(&answer))),
        },
        Dropped => judge(row, Dropped, &msg, peer.recv(SILENCE)),
        Status(_) => judge(row, row.tcp, &msg, final_answer(|| peer.recv(REPLY_TIMEOUT))),
    }
}

/// Every row over UDP and over TCP (one thread each); the failures, each naming its row.
fn run_rows(daemon: &Daemon, label: &str, rows: &[Row]) -> Vec<String> {
    type Send = fn(&Daemon, &Row, &str) -> Result<(), String>;
    let run = |transport: &'static str, send: Send| {
        let failures = rows.iter().enumerate().filter_map(move |(i, row)| {
            let id = format!("{label}{i}{}", &transport[..1]).to_ascii_lowercase();
            send(daemon, row, &id).err().map(|e| format!("[{transport}] {}: {e}", row.name))
        });
        failures.collect::<Vec<_>>()
    };
    std::thread::scope(|s| {
        let udp = s.spawn(|| run("UDP", over_udp));
        let tcp = s.spawn(|| run("TCP", over_tcp));
        let mut failures = udp.join().expect("UDP rows");
        failures.extend(tcp.join().expect("TCP rows"));
        failures
    })
}

fn assert_rows_pass(daemon: &Daemon, label: &str, rows: &[Row]) {
    let failures = run_rows(daemon, label, rows);
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}\n{}",
        failures.len(),
        rows.len() * 2,
        failures.join("\n"),
        daemon.report()
    );
}

/// OPTIONS still gets 200 over UDP and TCP, and the process has not exited.
fn assert_alive(daemon: &mut Daemon) {
    let peer = daemon.udp_peer();
    peer.send(options_request("UDP", peer.local_addr(), daemon.udp_addr()).as_bytes());
    let udp = peer.recv(REPLY_TIMEOUT);
    assert_eq!(
        udp.as_deref().and_then(status_code),
        Some(200),
        "OPTIONS over UDP afterwards\n{}",
        daemon.report()
    );
    let mut peer = daemon.tcp_peer();
    peer.send(options_request("TCP", peer.local_addr(), daemon.tcp_addr()).as_bytes());
    let tcp = peer.recv(REPLY_TIMEOUT);
    assert_eq!(
        tcp.as_deref().and_then(status_code),
        Some(200),
        "OPTIONS over TCP afterwards\n{}",
        daemon.report()
    );
    assert!(daemon.try_wait().is_none(), "the daemon exited\n{}", daemon.report());
}

#[test]
fn malformed_messages_get_400_or_are_dropped_and_the_daemon_survives() {
    let rows = malformed_rows();
    assert!(rows.len() >= 30, "only {} rows", rows.len());
    let mut daemon = Daemon::start("");
    assert_rows_pass(&daemon, "m", &rows);
    assert_alive(&mut daemon);
}

#[test]
fn well_formed_requests_get_the_rfc_answers() {
    let mut daemon = Daemon::start("");
    assert_rows_pass(&daemon, "c", &control_rows());
    assert_alive(&mut daemon);
}
