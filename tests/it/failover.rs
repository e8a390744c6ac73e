//! RFC 3263 §4.3 through the real daemon: a trunk name with two SRV targets (served by the test's own DNS
//! server, `dns.servers` in the config). The first target fails — it answers 503, or nothing listens on
//! its TCP port — and the call goes to the second, a SIPp callee; the SIPp caller sees one ordinary call.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sst_b2bua::sip::build::response_to;
use sst_b2bua::sip::{self, Message, Method};

use crate::daemon::{free_port, Daemon};
use crate::dns_server::{DnsServer, Zone};
use crate::sipp::{run_caller, start_callee, Bounds, Transport};

/// One call's SIPp bounds: its own `-timeout` and the harness's.
const BOUNDS: Bounds = Bounds { sipp: "30s", outer: Duration::from_secs(45) };

/// A UDP UAS that answers every INVITE 503 and counts the INVITEs and ACKs it got.
struct Refuser {
    port: u16,
    invites: Arc<AtomicUsize>,
    acks: Arc<AtomicUsize>,
}

impl Refuser {
    fn start() -> Refuser {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let (invites, acks) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (i, a) = (Arc::clone(&invites), Arc::clone(&acks));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            // Ends with the test process; a read timeout keeps the loop from blocking forever.
            for _ in 0..600 {
                let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
                let Ok(Message::Request(request)) = sip::parse(&buf[..n]) else { continue };
                match request.method {
                    Method::Invite => {
                        i.fetch_add(1, Ordering::SeqCst);
                        let busy = response_to(&request, 503, Some("refuser"));
                        let _ = socket.send_to(&Message::Response(busy).to_bytes(), from);
                    }
                    Method::Ack => {
                        a.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
        });
        Refuser { port, invites, acks }
    }
}

fn daemon_with_dns(dns: &DnsServer, target: &str) -> Daemon {
    Daemon::start(&format!(
        "dns: {{ servers: ['{}'] }}\n\
         routes:\n  - {{ name: trunk, from: {{ source: 127.0.0.0/8 }}, to: '{target}' }}\n",
        dns.addr()
    ))
}

#[test]
fn failover_503_from_the_first_srv_target_moves_the_call_to_the_second() {
    let refuser = Refuser::start();
    let callee = start_callee("call_uas.xml", Transport::Udp, 1, &[], BOUNDS);
    let zone = Zone::new()
        .srv("_sip._udp.trunk.test", 10, 0, refuser.port, "first.trunk.test")
        .srv("_sip._udp.trunk.test", 20, 0, callee.port(), "second.trunk.test")
        .a("first.trunk.test", "127.0.0.1")
        .a("second.trunk.test", "127.0.0.1");
    let dns = DnsServer::start(zone);
    let daemon = daemon_with_dns(&dns, "sip:trunk.test");
    let caller = run_caller("call_uac.xml", &daemon, Transport::Udp, 1, &["-d", "200"], BOUNDS);
    caller.assert_success();
    callee.wait().assert_success();
    assert_eq!(refuser.invites.load(Ordering::SeqCst), 1, "the first target got the INVITE once");
    assert_eq!(refuser.acks.load(Ordering::SeqCst), 1, "and the ACK for its 503, at its own address");
    let log = daemon.log();
    assert!(log.contains("trying the next one"), "failover logged:\n{log}");
}

#[test]
fn failover_a_refused_tcp_connection_moves_the_call_to_the_next_target_at_once() {
    let dead = free_port();
    let callee = start_callee("call_uas.xml", Transport::Tcp, 1, &[], BOUNDS);
    let zone = Zone::new()
        .srv("_sip._tcp.trunk.test", 10, 0, dead, "dead.trunk.test")
        .srv("_sip._tcp.trunk.test", 20, 0, callee.port(), "alive.trunk.test")
        .a("dead.trunk.test", "127.0.0.1")
        .a("alive.trunk.test", "127.0.0.1");
    let dns = DnsServer::start(zone);
    let daemon = daemon_with_dns(&dns, "sip:trunk.test;transport=tcp");
    let started = std::time::Instant::now();
    let caller = run_caller("call_uac.xml", &daemon, Transport::Tcp, 1, &["-d", "200"], BOUNDS);
    caller.assert_success();
    callee.wait().assert_success();
    assert!(started.elapsed() < Duration::from_secs(10), "no transaction timeout was waited for");
    let log = daemon.log();
    assert!(log.contains("leg B target unreachable"), "the refused target logged:\n{log}");
}
