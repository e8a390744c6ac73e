//! The daemon's transports on the wire: TCP framing across partial reads and several messages per read
//! (RFC 3261 §18.3), the CRLF keep-alive (RFC 5626 §3.5.1), the size cap and the idle timer, where
//! responses go (RFC 3261 §18.2.2, RFC 3581), retransmissions absorbed by the server transaction
//! (§17.2.2), and bodies that are not text.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::daemon::{fill_local, header_values, status_code, Daemon, REPLY_TIMEOUT};

/// How long "no answer" is waited for.
const SILENCE: Duration = Duration::from_millis(300);

/// An OPTIONS whose top Via has `sent_by` (`{local}` is filled in by the caller), Call-ID `{id}@transport`.
fn options(transport: &str, sent_by: &str, id: &str, body: Option<(&str, &[u8])>) -> Vec<u8> {
    let (content_type, body) = match body {
        Some((ct, body)) => (format!("Content-Type: {ct}\r\n"), body),
        None => (String::new(), &b""[..]),
    };
    let mut msg = format!(
        "OPTIONS sip:b2bua@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {sent_by};branch=z9hG4bK-{id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@{{local}}>;tag=f-{id}\r\n\
         To: <sip:b2bua@127.0.0.1>\r\n\
         Call-ID: {id}@transport\r\n\
         CSeq: 1 OPTIONS\r\n\
         {content_type}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    msg.extend_from_slice(body);
    msg
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_200_for(answer: Option<Vec<u8>>, id: &str, daemon: &Daemon) {
    let answer = answer.unwrap_or_else(|| panic!("no answer to {id}\n{}", daemon.report()));
    assert_eq!(status_code(&answer), Some(200), "answer to {id}:\n{}", show(&answer));
    assert_eq!(header_values(&answer, "Call-ID"), [format!("{id}@transport")], "{}", show(&answer));
}

/// Reads from a raw stream until `done(bytes so far)` or `timeout`; what was read.
fn read_until(stream: &mut TcpStream, timeout: Duration, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while !done(&got) {
        let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
            break;
        };
        stream.set_read_timeout(Some(left)).expect("set a read timeout");
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("read: {e}"),
        }
    }
    got
}

#[test]
fn tcp_message_split_across_three_writes_is_framed() {
    let daemon = Daemon::start("");
    let mut peer = daemon.tcp_peer();
    let msg = fill_local(
        &options("TCP", "{local}", "split", Some(("text/plain", b"sixteen bytes!!!"))),
        peer.local_addr(),
    );
    // Cut inside the start line, then inside the body: nothing is answered until the last byte is in.
    let cuts = [0, 20, msg.len() - 6, msg.len()];
    for (n, part) in cuts.windows(2).enumerate() {
        peer.send(&msg[part[0]..part[1]]);
        if n < 2 {
            let early = peer.recv(Duration::from_millis(150));
            assert!(early.is_none(), "answered after write {}: {}", n + 1, show(&early.unwrap_or_default()));
        }
    }
    assert_200_for(peer.recv(REPLY_TIMEOUT), "split", &daemon);
}

#[test]
fn tcp_two_messages_in_one_write_get_two_answers() {
    let daemon = Daemon::start("");
    let mut peer = daemon.tcp_peer();
    let mut both = options("TCP", "{local}", "first", Some(("text/plain", b"body of the first")));
    both.extend(options("TCP", "{local}", "second", None));
    peer.send(&fill_local(&both, peer.local_addr()));
    assert_200_for(peer.recv(REPLY_TIMEOUT), "first", &daemon);
    assert_200_for(peer.recv(REPLY_TIMEOUT), "second", &daemon);
    assert!(peer.recv(SILENCE).is_none(), "a third answer to two requests");
}

#[test]
fn tcp_crlf_ping_gets_one_crlf_pong() {
    let daemon = Daemon::start("");
    let mut stream = TcpStream::connect_timeout(&daemon.tcp_addr(), REPLY_TIMEOUT).expect("connect");
    stream.write_all(b"\r\n\r\n").expect("write the ping");
    let pong = read_until(&mut stream, REPLY_TIMEOUT, |got| got.len() >= 2);
    assert_eq!(pong, b"\r\n", "pong: {pong:?}\n{}", daemon.report());
    let more = read_until(&mut stream, SILENCE, |got| !got.is_empty());
    assert!(more.is_empty(), "more than one CRLF: {more:?}");
    // The connection still carries SIP after the keep-alive.
    let local = stream.local_addr().expect("local address");
    stream.write_all(&fill_local(&options("TCP", "{local}", "after-ping", None), local)).expect("write");
    let answer = read_until(&mut stream, REPLY_TIMEOUT, |got| got.windows(4).any(|w| w == b"\r\n\r\n"));
    assert_eq!(status_code(&answer), Some(200), "after the ping:\n{}", show(&answer));
}

#[test]
fn tcp_content_length_over_64k_closes_the_connection() {
    let daemon = Daemon::start("");
    let mut peer = daemon.tcp_peer();
    let msg = options("TCP", "{local}", "toolong", None);
    let msg = show(&msg).replace("Content-Length: 0", "Content-Type: text/plain\r\nContent-Length: 70000");
    peer.send(&fill_local(msg.as_bytes(), peer.local_addr()));
    assert!(peer.closed_within(REPLY_TIMEOUT), "still open\n{}", daemon.report());
    assert!(peer.recv(SILENCE).is_none(), "answered before closing");
    let mut fresh = daemon.tcp_peer();
    fresh.send(&fill_local(&options("TCP", "{local}", "next", None), fresh.local_addr()));
    assert_200_for(fresh.recv(REPLY_TIMEOUT), "next", &daemon);
}

#[test]
fn tcp_idle_connection_is_closed_by_the_daemon() {
    let daemon = Daemon::start("limits: { tcp_idle_timeout: 1 }");
    let mut peer = daemon.tcp_peer();
    let opened = Instant::now();
    assert!(
        peer.closed_within(Duration::from_secs(5)),
        "idle connection still open after 5 s\n{}",
        daemon.report()
    );
    let after = opened.elapsed();
    assert!(after >= Duration::from_millis(900), "closed after {after:?}: not by the 1 s idle timer");
}

#[test]
fn udp_response_honours_rport_and_goes_to_the_source_port() {
    let daemon = Daemon::start("");
    let peer = daemon.udp_peer();
    // sent-by names port 9, where nobody listens: only the source port (rport) reaches us.
    peer.send(&fill_local(&options("UDP", "127.0.0.1:9", "rport", None), peer.local_addr()));
    let answer = peer
        .recv(REPLY_TIMEOUT)
        .unwrap_or_else(|| panic!("no answer on the source port\n{}", daemon.report()));
    assert_eq!(status_code(&answer), Some(200), "{}", show(&answer));
    let via = header_values(&answer, "Via");
    let params: Vec<&str> = via.first().map(|v| v.split(';').map(str::trim).collect()).unwrap_or_default();
    let rport = format!("rport={}", peer.local_addr().port());
    assert!(params.contains(&rport.as_str()), "no {rport} in Via {via:?}");
    assert!(params.contains(&"received=127.0.0.1"), "no received=127.0.0.1 in Via {via:?}");
}

#[test]
fn tcp_response_comes_back_on_the_same_connection() {
    let daemon = Daemon::start("");
    let mut peer = daemon.tcp_peer();
    // sent-by names port 9: a response sent anywhere but down this connection is lost.
    peer.send(&fill_local(&options("TCP", "127.0.0.1:9", "sameconn", None), peer.local_addr()));
    assert_200_for(peer.recv(REPLY_TIMEOUT), "sameconn", &daemon);
}

#[test]
fn udp_retransmission_gets_the_same_response() {
    let daemon = Daemon::start("");
    let peer = daemon.udp_peer();
    let msg = fill_local(&options("UDP", "{local}", "retrans", None), peer.local_addr());
    peer.send(&msg);
    let first = peer.recv(REPLY_TIMEOUT).unwrap_or_else(|| panic!("no first answer\n{}", daemon.report()));
    assert_eq!(status_code(&first), Some(200), "{}", show(&first));
    let to = header_values(&first, "To");
    assert!(to.first().is_some_and(|t| t.contains(";tag=")), "no To tag: {to:?}");
    peer.send(&msg);
    let second = peer.recv(REPLY_TIMEOUT).unwrap_or_else(|| panic!("no answer to the retransmission"));
    assert_eq!(header_values(&second, "To"), to, "another To tag for the same request");
    assert_eq!(show(&second), show(&first), "the retransmission got a different response");
    assert!(peer.recv(SILENCE).is_none(), "more answers than requests");
}

#[test]
fn binary_body_is_answered_200_over_udp_and_tcp() {
    let daemon = Daemon::start("");
    // NUL, 0xff, and an embedded blank line and status line: only Content-Length may end this body.
    let body: &[u8] = b"\x00\x01\xff\xfe\r\n\r\nSIP/2.0 200 OK\r\n\x00\xff\x80";
    let binary = |transport, id| options(transport, "{local}", id, Some(("application/octet-stream", body)));
    let peer = daemon.udp_peer();
    peer.send(&fill_local(&binary("UDP", "bin-udp"), peer.local_addr()));
    assert_200_for(peer.recv(REPLY_TIMEOUT), "bin-udp", &daemon);
    let mut peer = daemon.tcp_peer();
    peer.send(&fill_local(&binary("TCP", "bin-tcp"), peer.local_addr()));
    assert_200_for(peer.recv(REPLY_TIMEOUT), "bin-tcp", &daemon);
    // The stream is still in step: the next message on it is framed and answered too.
    peer.send(&fill_local(&options("TCP", "{local}", "bin-next", None), peer.local_addr()));
    assert_200_for(peer.recv(REPLY_TIMEOUT), "bin-next", &daemon);
}
