//! OPTIONS pings to a trunk against the real binary: the pings are well formed, a trunk that answers 503
//! is marked down (logged), a route to it gives way to the next matching route, a route with nothing
//! else to try gets 503, and a trunk that answers again is marked up and takes calls. With
//! `ping_interval: 5` (the minimum) and N = M = 1 the whole run takes about 11 s. A silent trunk (Timer F,
//! 32 s) is left to the unit tests in `src/proto/trunk_health/tests.rs`.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::daemon::{fill_local, header_values, status_code, Daemon, UdpPeer, LOOPBACK, POLL};

/// Longest wait for one ping: the interval, plus slack for a loaded machine.
const PING_WAIT: Duration = Duration::from_secs(9);
const WAIT: Duration = Duration::from_secs(5);

/// A UDP socket playing a SIP server: the fake trunk, or the backend.
struct Server {
    socket: UdpSocket,
}

impl Server {
    fn bind() -> Server {
        Server { socket: UdpSocket::bind((LOOPBACK, 0)).expect("bind a UDP socket on 127.0.0.1:0") }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().expect("local address").port()
    }

    /// The next request within `timeout` (responses, e.g. to our 486, are skipped), with its source.
    fn request(&self, timeout: Duration) -> Option<(String, SocketAddr)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
            self.socket.set_read_timeout(Some(left)).expect("set a read timeout");
            let (n, from) = self.socket.recv_from(&mut buf).ok()?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0 ") {
                return Some((text, from));
            }
        }
    }

    /// Waits for a request with `method`; panics (with the daemon's log) on another request or none.
    #[track_caller]
    fn expect(&self, method: &str, timeout: Duration, daemon: &Daemon) -> (String, SocketAddr) {
        let (request, from) = self
            .request(timeout)
            .unwrap_or_else(|| panic!("no {method} within {timeout:?}\n{}", daemon.report()));
        assert!(
            request.starts_with(&format!("{method} ")),
            "expected {method}, got\n{request}\n{}",
            daemon.report()
        );
        (request, from)
    }

    /// Answers `request` (Via, From, To with a tag, Call-ID and CSeq copied) to where it came from.
    fn answer(&self, request: &str, from: SocketAddr, status: u16) {
        let reason = match status {
            200 => "OK",
            486 => "Busy Here",
            503 => "Service Unavailable",
            _ => "Whatever",
        };
        let mut response = format!("SIP/2.0 {status} {reason}\r\n");
        for line in request.split("\r\n\r\n").next().unwrap_or("").split("\r\n").skip(1) {
            let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
            match name.as_str() {
                "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => response.push_str(line),
                "to" | "t" => response.push_str(&format!("{line};tag=srv{status}")),
                _ => continue,
            }
            response.push_str("\r\n");
        }
        response.push_str("Content-Length: 0\r\n\r\n");
        self.socket.send_to(response.as_bytes(), from).expect("send a response");
    }
}

/// The first line of a message.
fn start_line(msg: &str) -> &str {
    msg.split("\r\n").next().unwrap_or("")
}

#[track_caller]
fn wait_for_log(daemon: &Daemon, text: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !daemon.log().contains(text) {
        assert!(Instant::now() < deadline, "`{text}` not logged within {timeout:?}\n{}", daemon.report());
        std::thread::sleep(POLL);
    }
}

/// A caller's INVITE for `user`, sent from a fresh socket.
struct Call {
    caller: UdpPeer,
    invite: String,
    user: String,
}

impl Call {
    fn send(daemon: &Daemon, user: &str, id: &str) -> Call {
        let caller = daemon.udp_peer();
        let invite = format!(
            "INVITE sip:{user}@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {{local}};branch=z9hG4bK-{id};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@{{local}}>;tag={id}\r\n\
             To: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: {id}@ping-test\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:alice@{{local}}>\r\n\
             Content-Length: 0\r\n\r\n"
        );
        caller.send(&fill_local(invite.as_bytes(), caller.local_addr()));
        Call { caller, invite, user: user.to_owned() }
    }

    /// The final status (provisional responses skipped); the final response is ACKed.
    #[track_caller]
    fn final_status(self, daemon: &Daemon) -> u16 {
        let deadline = Instant::now() + WAIT;
        let answer = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg =
                self.caller.recv(left).unwrap_or_else(|| panic!("no final answer\n{}", daemon.report()));
            if status_code(&msg).is_some_and(|s| s >= 200) {
                break msg;
            }
        };
        let to = header_values(&answer, "To").join(",");
        let ack = self
            .invite
            .replace("INVITE sip:", "ACK sip:")
            .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
            .replace(&format!("To: <sip:{}@127.0.0.1>", self.user), &format!("To: {to}"));
        self.caller.send(&fill_local(ack.as_bytes(), self.caller.local_addr()));
        status_code(&answer).expect("a status")
    }
}

#[test]
fn ping_marks_a_trunk_down_and_up_and_routing_follows() {
    let trunk = Server::bind();
    let backend = Server::bind();
    let (trunk_port, backend_port) = (trunk.port(), backend.port());
    let daemon = Daemon::start(&format!(
        "
        trunks:
          - {{ name: carrier, uri: 'sip:127.0.0.1:{trunk_port}', ping_interval: 5, ping_down_after: 1, ping_up_after: 1 }}
        routes:
          - {{ name: out-carrier, from: {{ source: 127.0.0.1/32 }}, user: out, to: {{ trunk: carrier }} }}
          - {{ name: out-backend, from: {{ source: 127.0.0.1/32 }}, user: out, to: 'sip:127.0.0.1:{backend_port}' }}
          - {{ name: only-carrier, from: {{ source: 127.0.0.1/32 }}, user: only, to: {{ trunk: carrier }} }}
        "
    ));
    let report = || daemon.report();

    // The first ping goes at start; it is answered 200 (the trunk starts up and stays up).
    let (ping, from) = trunk.expect("OPTIONS", PING_WAIT, &daemon);
    assert_eq!(start_line(&ping), format!("OPTIONS sip:127.0.0.1:{trunk_port} SIP/2.0"), "{}", report());
    let bytes = ping.as_bytes();
    assert_eq!(header_values(bytes, "Max-Forwards"), ["70"], "{ping}");
    let via = header_values(bytes, "Via");
    assert_eq!(via.len(), 1, "{ping}");
    assert!(via[0].starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{}", daemon.port())), "{ping}");
    assert!(via[0].contains(";branch=z9hG4bK"), "the RFC 3261 branch cookie: {ping}");
    assert!(header_values(bytes, "Call-ID")[0].starts_with("sst-ping-"), "{ping}");
    assert_eq!(header_values(bytes, "CSeq"), ["1 OPTIONS"], "{ping}");
    assert_eq!(header_values(bytes, "To"), [format!("<sip:127.0.0.1:{trunk_port}>")], "{ping}");
    assert!(header_values(bytes, "From")[0].contains(";tag="), "{ping}");
    assert_eq!(header_values(bytes, "Accept"), ["application/sdp"], "{ping}");
    assert_eq!(from, daemon.udp_addr(), "sent from the listening socket");
    trunk.answer(&ping, from, 200);
    assert!(!daemon.log().contains("trunk down"), "{}", report());

    // The next ping, 5 s later, is answered 503: with ping_down_after 1 the trunk is down.
    let (ping, from) = trunk.expect("OPTIONS", PING_WAIT, &daemon);
    assert_eq!(header_values(ping.as_bytes(), "CSeq"), ["2 OPTIONS"], "{ping}");
    trunk.answer(&ping, from, 503);
    wait_for_log(&daemon, "trunk down: routes to it are skipped trunk=carrier cause=answered 503", WAIT);

    // A call whose first route goes to the down trunk takes the second route, to the backend.
    let call = Call::send(&daemon, "out", "fallback");
    let (invite, from) = backend.expect("INVITE", WAIT, &daemon);
    assert!(
        start_line(&invite).starts_with(&format!("INVITE sip:out@127.0.0.1:{backend_port} ")),
        "{invite}"
    );
    backend.answer(&invite, from, 486);
    assert_eq!(call.final_status(&daemon), 486, "{}", report());
    assert!(daemon.log().contains("route=out-backend"), "{}", report());

    // With only routes to the down trunk: 503, and nothing sent to the trunk but pings.
    assert_eq!(Call::send(&daemon, "only", "alldown").final_status(&daemon), 503, "{}", report());
    assert!(
        daemon.log().contains("every route for this INVITE goes to a trunk that is down: 503"),
        "{}",
        report()
    );

    // The trunk answers again (the next request it sees is that ping, not an INVITE): up, and calls go
    // to it again.
    let (ping, from) = trunk.expect("OPTIONS", PING_WAIT, &daemon);
    assert_eq!(header_values(ping.as_bytes(), "CSeq"), ["3 OPTIONS"], "{ping}");
    trunk.answer(&ping, from, 200);
    wait_for_log(&daemon, "trunk up: routes to it are used again trunk=carrier cause=answered 200", WAIT);
    let call = Call::send(&daemon, "only", "upagain");
    let (invite, from) = loop {
        // A ping may come first on a slow machine: answered, and the INVITE waited for.
        let (request, from) = trunk.request(WAIT).unwrap_or_else(|| panic!("no INVITE\n{}", report()));
        if request.starts_with("OPTIONS ") {
            trunk.answer(&request, from, 200);
            continue;
        }
        break (request, from);
    };
    assert!(start_line(&invite).starts_with(&format!("INVITE sip:only@127.0.0.1:{trunk_port} ")), "{invite}");
    trunk.answer(&invite, from, 486);
    assert_eq!(call.final_status(&daemon), 486, "{}", report());
    assert!(daemon.log().contains("route=only-carrier"), "{}", report());
}
