//! The call table on real loopback sockets, in virtual time: both Call-IDs reach the call, refusals
//! leave no trace, and a call that ends in any way (shutdown, a panic while driving it) leaves no entry.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::*;
use crate::config::{self, SessionTimerConfig};
use crate::net::resolve::Resolver;
use crate::net::tcp::TcpContext;
use crate::net::tls::TlsMaterial;
use crate::net::{udp, Connections, Inbound, Outbound, Sink, Transport};
use crate::proto::call::{CallConfig, PassList};
use crate::proto::transaction::TimerConfig;
use crate::sip::{self, SipHeaders};

struct NoSink;
impl Sink for NoSink {
    fn on_message(&self, _: Inbound) {}
}

/// The daemon's side (one UDP socket), the caller's and the callee's sockets, and the table.
struct Bench {
    calls: Arc<Calls>,
    local: SocketAddr,
    caller: UdpSocket,
    callee: UdpSocket,
    _stop: watch::Sender<bool>,
}

async fn bench(max: usize) -> Bench {
    let socket = udp::bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
    let local = socket.local_addr().expect("local");
    let config = config::from_str(config::DEFAULT_CONFIG, "default").expect("default config");
    let tls = TlsMaterial::load(&config).expect("tls");
    let (stop, rx) = watch::channel(false);
    let tcp = TcpContext {
        connections: Connections::new(),
        sink: Arc::new(NoSink),
        idle: Duration::from_secs(60),
        max_connections: 10,
        shutdown: rx.clone(),
    };
    let outbound = Outbound::new(vec![socket], tcp, tls.connector);
    let listeners = leg_b::Listeners { udp: vec![local], tcp: Vec::new(), tls: Vec::new(), advertise: None };
    let ctx = CallContext {
        outbound,
        lateness: Default::default(),
        listeners,
        resolver: Resolver::public_defaults(),
    };
    let calls = Calls::new(ctx, max);
    tokio::spawn(Arc::clone(&calls).run_timers(rx));
    let caller = UdpSocket::bind("127.0.0.1:0").await.expect("caller");
    let callee = UdpSocket::bind("127.0.0.1:0").await.expect("callee");
    Bench { calls, local, caller, callee, _stop: stop }
}

fn route(callee: SocketAddr) -> Arc<CallConfig> {
    Arc::new(CallConfig {
        timers: TimerConfig::default(),
        ring_timeout: Duration::from_secs(60),
        target: format!("sip:{callee}"),
        pass: PassList::default(),
        credentials: None,
        timer_a: SessionTimerConfig::default(),
        timer_b: SessionTimerConfig::default(),
        route: "test".into(),
        server_name: None,
        failover_max_retry_after: 0,
    })
}

fn invite(call_id: &str, caller: SocketAddr) -> Request {
    let branch = call_id.replace(['@', '.'], "-");
    let text = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {caller};branch=z9hG4bK-{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@{caller}>\r\nContent-Length: 0\r\n\r\n"
    );
    match sip::parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("test INVITE does not parse: {other:?}"),
    }
}

impl Bench {
    fn start(&self, call_id: &str) -> Result<(), Box<(Refused, Request)>> {
        let caller = self.caller.local_addr().expect("caller addr");
        let callee = self.callee.local_addr().expect("callee addr");
        let peer = Peer {
            transport: Transport::Udp,
            addr: caller,
            conn: None,
            local: self.local,
            server_name: None,
        };
        let setup = self.calls.context().listeners.setup(peer);
        let config = route(callee);
        self.calls.start(call_id, invite(call_id, caller), |request| {
            Call::new(clock::now(), request, setup, config, 7)
        })
    }

    /// Waits (in virtual time, bounded) until the table is empty.
    async fn until_empty(&self) {
        for _ in 0..200 {
            if self.calls.live() == 0 && self.calls.entries() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("{} calls, {} entries left after 200 s", self.calls.live(), self.calls.entries());
    }
}

async fn receive(socket: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65_536];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("a datagram within 5 s")
        .expect("recv");
    sip::parse(&buf[..len]).expect("what the daemon sends parses")
}

fn status(message: &Message) -> u16 {
    match message {
        Message::Response(r) => r.status,
        Message::Request(r) => panic!("expected a response, got {}", r.method),
    }
}

#[tokio::test(start_paused = true)]
async fn both_call_ids_reach_the_call_and_shutdown_empties_every_table() {
    let b = bench(10).await;
    b.start("a-1@test").expect("room");
    assert_eq!((b.calls.live(), b.calls.entries()), (1, 2));
    assert_eq!(status(&receive(&b.caller).await), 100, "100 Trying to the caller at once");
    // Leg B's INVITE went out inline (an address target needs no lookup); its Call-ID is leg B's key.
    let Message::Request(invite_b) = receive(&b.callee).await else { panic!("leg B INVITE") };
    let call_id_b = invite_b.call_id().expect("Call-ID").to_owned();
    assert_ne!(call_id_b, "a-1@test");
    let mut ringing = sip::build::response_to(&invite_b, 180, Some("b1"));
    ringing.headers.set(sip::HeaderName::CONTACT, format!("<sip:bob@{}>", b.callee.local_addr().unwrap()));
    assert!(b.calls.deliver(Message::Response(ringing)).is_none(), "leg B's Call-ID finds the call");
    assert_eq!(status(&receive(&b.caller).await), 180, "the 180 crossed to leg A");
    let stray = sip::build::response_to(&invite("nobody@test", b.local), 200, None);
    assert!(b.calls.deliver(Message::Response(stray)).is_some(), "an unknown Call-ID comes back");

    b.calls.shutdown();
    b.until_empty().await;
    assert!(b.start("a-2@test").is_ok(), "a call started while stopping is taken");
    b.until_empty().await;
    // The deadlines the ended calls had queued fire into nothing and are gone too.
    for _ in 0..100 {
        if b.calls.timers_queued() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(b.calls.timers_queued(), 0, "no timer entry outlives its call");
}

#[tokio::test(start_paused = true)]
async fn max_calls_and_taken_call_ids_are_refused_without_a_trace() {
    let b = bench(1).await;
    b.start("a-1@test").expect("room for one");
    let (why, request) = *b.start("a-2@test").expect_err("full");
    assert_eq!(
        (why, request.call_id()),
        (Refused::Full, Some("a-2@test")),
        "the request comes back as it was"
    );
    assert_eq!((b.calls.live(), b.calls.entries()), (1, 2));

    let b = bench(5).await;
    b.start("a-1@test").expect("room");
    let (why, _) = *b.start("a-1@test").expect_err("taken");
    assert_eq!(why, Refused::Exists);
    assert_eq!((b.calls.live(), b.calls.entries()), (1, 2), "refusals leave no trace");
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_handling_panics_is_released() {
    let b = bench(10).await;
    b.start("a-1@test").expect("room");
    let cell = Arc::clone(&b.calls.index.get("a-1@test").expect("entry").0);
    b.calls.drive(&cell, |_, _| panic!("a bug in the call machine"));
    assert_eq!((b.calls.live(), b.calls.entries()), (0, 0), "nothing left behind");
    let late = sip::build::response_to(&invite("a-1@test", b.local), 180, None);
    assert!(b.calls.deliver(Message::Response(late)).is_some(), "its Call-IDs route nowhere now");
    // The timer entry it left finds nothing to wake.
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(b.calls.live(), 0);
}
