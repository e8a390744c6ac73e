//! RFC 3263 server location against a local authoritative DNS server (`dns_server.rs`): NAPTR order, SRV
//! priorities, which queries each kind of URI causes, the fallbacks, de-duplication, errors, and the TTL
//! cache.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use sst_b2bua::net::resolve::{ResolveError, Resolver, Target};
use sst_b2bua::net::Transport;

use crate::dns_server::{DnsServer, Zone};

fn target(transport: Transport, addr: &str, server_name: Option<&str>) -> Target {
    let addr: SocketAddr = addr.parse().expect("socket address");
    Target { transport, addr, server_name: server_name.map(str::to_owned) }
}

fn addrs(targets: &[Target]) -> Vec<String> {
    targets.iter().map(|t| format!("{:?} {}", t.transport, t.addr)).collect()
}

fn start(zone: Zone) -> (DnsServer, Resolver) {
    let server = DnsServer::start(zone);
    let resolver = Resolver::with_nameserver(server.addr());
    (server, resolver)
}

fn srv_queries(server: &DnsServer) -> usize {
    server.log().iter().filter(|(_, t)| *t == RecordType::SRV).count()
}

#[tokio::test]
async fn naptr_order_decides_the_transport_and_srv_targets_expand_to_a_then_aaaa() {
    // Listed UDP first, but TCP has the lower order: TCP comes first (RFC 3403 §4.1, RFC 3263 §4.1).
    let zone = Zone::new()
        .naptr("example.test", 20, 10, "s", "SIP+D2U", "_sip._udp.example.test")
        .naptr("example.test", 10, 10, "s", "SIP+D2T", "_sip._tcp.example.test")
        .srv("_sip._udp.example.test", 10, 0, 5080, "udp1.example.test")
        .srv("_sip._tcp.example.test", 10, 0, 5070, "tcp1.example.test")
        .aaaa("tcp1.example.test", "2001:db8::1")
        .a("tcp1.example.test", "192.0.2.1")
        .aaaa("udp1.example.test", "2001:db8::2")
        .a("udp1.example.test", "192.0.2.2");
    let (server, resolver) = start(zone);
    let targets = resolver.resolve("sip:alice@example.test").await.expect("resolved");
    let name = Some("example.test");
    assert_eq!(
        targets,
        vec![
            target(Transport::Tcp, "192.0.2.1:5070", name),
            target(Transport::Tcp, "[2001:db8::1]:5070", name),
            target(Transport::Udp, "192.0.2.2:5080", name),
            target(Transport::Udp, "[2001:db8::2]:5080", name),
        ],
        "{:?}",
        addrs(&targets)
    );
    assert_eq!(server.queries("example.test", RecordType::NAPTR), 1);
    // The NAPTR records named the SRV queries: no guessing of `_sips._tcp`.
    assert_eq!(server.queries("_sips._tcp.example.test", RecordType::SRV), 0, "{:?}", server.log());
    assert_eq!(srv_queries(&server), 2);
}

#[tokio::test]
async fn srv_priority_10_comes_before_priority_20_and_the_weighted_order_is_drawn_per_call() {
    let zone = Zone::new()
        .srv("_sip._udp.example.test", 20, 50, 5060, "backup1.example.test")
        .srv("_sip._udp.example.test", 10, 50, 5060, "main1.example.test")
        .srv("_sip._udp.example.test", 20, 50, 5060, "backup2.example.test")
        .srv("_sip._udp.example.test", 10, 50, 5060, "main2.example.test")
        .a("main1.example.test", "192.0.2.11")
        .a("main2.example.test", "192.0.2.12")
        .a("backup1.example.test", "192.0.2.21")
        .a("backup2.example.test", "192.0.2.22");
    let (_server, resolver) = start(zone);
    let mut main_firsts = std::collections::HashSet::new();
    for _ in 0..30 {
        let targets = resolver.resolve("sip:example.test").await.expect("resolved");
        let got = addrs(&targets);
        assert_eq!(targets.len(), 4, "{got:?}");
        assert!(targets.iter().all(|t| t.transport == Transport::Udp), "{got:?}");
        let mut main: Vec<_> = got[..2].to_vec();
        main.sort();
        let mut backup: Vec<_> = got[2..].to_vec();
        backup.sort();
        assert_eq!(main, ["Udp 192.0.2.11:5060", "Udp 192.0.2.12:5060"], "{got:?}");
        assert_eq!(backup, ["Udp 192.0.2.21:5060", "Udp 192.0.2.22:5060"], "{got:?}");
        main_firsts.insert(got[0].clone());
    }
    // Equal weights: both priority-10 servers come first sometimes (the SRV set itself is cached).
    assert_eq!(main_firsts.len(), 2, "{main_firsts:?}");
}

#[tokio::test]
async fn explicit_transport_queries_only_that_srv() {
    let zone = Zone::new()
        .naptr("example.test", 10, 10, "s", "SIP+D2U", "_sip._udp.example.test")
        .srv("_sip._udp.example.test", 10, 0, 5060, "udp.example.test")
        .srv("_sip._tcp.example.test", 10, 0, 5075, "tcp.example.test")
        .a("udp.example.test", "192.0.2.1")
        .a("tcp.example.test", "192.0.2.2");
    let (server, resolver) = start(zone);
    let targets = resolver.resolve("sip:example.test;transport=tcp").await.expect("resolved");
    assert_eq!(targets, vec![target(Transport::Tcp, "192.0.2.2:5075", Some("example.test"))]);
    assert_eq!(server.queries("example.test", RecordType::NAPTR), 0, "{:?}", server.log());
    assert_eq!(server.queries("_sip._tcp.example.test", RecordType::SRV), 1);
    assert_eq!(srv_queries(&server), 1, "{:?}", server.log());
}

#[tokio::test]
async fn explicit_port_queries_only_addresses_and_keeps_the_port() {
    let zone = Zone::new()
        .naptr("pbx.example.test", 10, 10, "s", "SIP+D2T", "_sip._tcp.pbx.example.test")
        .srv("_sip._tcp.pbx.example.test", 10, 0, 5070, "other.example.test")
        .srv("_sip._udp.pbx.example.test", 10, 0, 5070, "other.example.test")
        .a("other.example.test", "192.0.2.99")
        .a("pbx.example.test", "192.0.2.9")
        .aaaa("pbx.example.test", "2001:db8::9");
    let (server, resolver) = start(zone);
    let targets = resolver.resolve("sip:pbx.example.test:5099").await.expect("resolved");
    let name = Some("pbx.example.test");
    assert_eq!(
        targets,
        vec![
            target(Transport::Udp, "192.0.2.9:5099", name),
            target(Transport::Udp, "[2001:db8::9]:5099", name)
        ]
    );
    let tls = resolver.resolve("sips:pbx.example.test:5098").await.expect("resolved");
    assert_eq!(tls[0], target(Transport::Tls, "192.0.2.9:5098", name));
    assert_eq!(server.queries("pbx.example.test", RecordType::NAPTR), 0, "{:?}", server.log());
    assert_eq!(srv_queries(&server), 0, "{:?}", server.log());
    assert_eq!(server.queries("pbx.example.test", RecordType::A), 1, "second call served from the cache");
    assert_eq!(server.queries("pbx.example.test", RecordType::AAAA), 1);
}

#[tokio::test]
async fn ip_literals_send_no_query() {
    let zone = Zone::new().a("example.test", "192.0.2.1");
    let (server, resolver) = start(zone);
    assert_eq!(
        resolver.resolve("sip:bob@192.0.2.33").await.unwrap(),
        vec![target(Transport::Udp, "192.0.2.33:5060", None)]
    );
    assert_eq!(
        resolver.resolve("sips:[2001:db8::5]").await.unwrap(),
        vec![target(Transport::Tls, "[2001:db8::5]:5061", None)]
    );
    assert_eq!(
        resolver.resolve("sip:192.0.2.34:5070;transport=tcp").await.unwrap(),
        vec![target(Transport::Tcp, "192.0.2.34:5070", None)]
    );
    assert_eq!(server.total(), 0, "{:?}", server.log());
}

#[tokio::test]
async fn without_naptr_and_srv_the_a_record_is_used_at_the_default_port() {
    let zone = Zone::new().a("example.test", "192.0.2.10");
    let server = DnsServer::start(zone);
    let sip = Resolver::with_nameserver(server.addr()).resolve("sip:example.test").await.unwrap();
    assert_eq!(sip, vec![target(Transport::Udp, "192.0.2.10:5060", Some("example.test"))]);
    assert_eq!(server.queries("example.test", RecordType::NAPTR), 1);
    for service in ["_sips._tcp", "_sip._tcp", "_sip._udp"] {
        assert_eq!(server.queries(&format!("{service}.example.test"), RecordType::SRV), 1, "{service}");
    }

    // A fresh resolver (no cache): sips: asks for `_sips._tcp` only and lands on 5061/TLS.
    let sips = Resolver::with_nameserver(server.addr()).resolve("sips:example.test").await.unwrap();
    assert_eq!(sips, vec![target(Transport::Tls, "192.0.2.10:5061", Some("example.test"))]);
    assert_eq!(server.queries("_sips._tcp.example.test", RecordType::SRV), 2);
    assert_eq!(server.queries("_sip._tcp.example.test", RecordType::SRV), 1, "{:?}", server.log());
    assert_eq!(server.queries("_sip._udp.example.test", RecordType::SRV), 1, "{:?}", server.log());
}

#[tokio::test]
async fn explicit_transport_without_srv_uses_the_a_record_at_the_default_port() {
    let zone = Zone::new().a("example.test", "192.0.2.10");
    let (server, resolver) = start(zone);
    let name = Some("example.test");
    let tcp = resolver.resolve("sip:example.test;transport=tcp").await.unwrap();
    assert_eq!(tcp, vec![target(Transport::Tcp, "192.0.2.10:5060", name)]);
    let tls = resolver.resolve("sip:example.test;transport=tls").await.unwrap();
    assert_eq!(tls, vec![target(Transport::Tls, "192.0.2.10:5061", name)]);
    assert_eq!(server.queries("example.test", RecordType::NAPTR), 0, "{:?}", server.log());
    assert_eq!(server.queries("_sip._udp.example.test", RecordType::SRV), 0, "{:?}", server.log());
}

#[tokio::test]
async fn sips_keeps_only_the_sips_naptr() {
    let zone = Zone::new()
        .naptr("example.test", 10, 10, "s", "SIP+D2U", "_sip._udp.example.test")
        .naptr("example.test", 20, 10, "s", "SIP+D2T", "_sip._tcp.example.test")
        .naptr("example.test", 30, 10, "s", "SIPS+D2T", "_sips._tcp.example.test")
        .srv("_sip._udp.example.test", 10, 0, 5060, "pbx.example.test")
        .srv("_sip._tcp.example.test", 10, 0, 5060, "pbx.example.test")
        .srv("_sips._tcp.example.test", 10, 0, 5061, "pbx.example.test")
        .a("pbx.example.test", "192.0.2.5");
    let (server, resolver) = start(zone);
    let targets = resolver.resolve("sips:example.test").await.unwrap();
    assert_eq!(targets, vec![target(Transport::Tls, "192.0.2.5:5061", Some("example.test"))]);
    assert_eq!(srv_queries(&server), 1, "{:?}", server.log());

    // The same zone for sip: gives all three, in NAPTR order.
    let all = Resolver::with_nameserver(server.addr()).resolve("sip:example.test").await.unwrap();
    assert_eq!(addrs(&all), ["Udp 192.0.2.5:5060", "Tcp 192.0.2.5:5060", "Tls 192.0.2.5:5061"]);
}

#[tokio::test]
async fn duplicate_targets_are_removed() {
    let zone = Zone::new()
        .srv("_sip._udp.example.test", 10, 10, 5060, "pbx.example.test")
        .srv("_sip._udp.example.test", 20, 10, 5060, "pbx.example.test")
        .srv("_sip._udp.example.test", 30, 10, 5060, "alias.example.test")
        .srv("_sip._udp.example.test", 40, 10, 5062, "pbx.example.test")
        .a("pbx.example.test", "192.0.2.7")
        .a("alias.example.test", "192.0.2.7");
    let (_server, resolver) = start(zone);
    let targets = resolver.resolve("sip:example.test").await.unwrap();
    assert_eq!(addrs(&targets), ["Udp 192.0.2.7:5060", "Udp 192.0.2.7:5062"]);
}

#[tokio::test]
async fn a_dot_srv_target_means_not_here() {
    // RFC 2782: "." says the service is not available on TCP; UDP still is.
    let zone = Zone::new()
        .srv("_sip._tcp.example.test", 10, 0, 5060, ".")
        .srv("_sip._udp.example.test", 10, 0, 5060, "pbx.example.test")
        .a("pbx.example.test", "192.0.2.8")
        .a("example.test", "192.0.2.99");
    let (_server, resolver) = start(zone);
    let targets = resolver.resolve("sip:example.test").await.unwrap();
    assert_eq!(addrs(&targets), ["Udp 192.0.2.8:5060"]);
    // Only "." for the one transport asked for: nothing, and no fallback to the host's A record.
    match resolver.resolve("sip:example.test;transport=tcp").await {
        Err(ResolveError::NoRecords(host)) => assert_eq!(host, "example.test"),
        other => panic!("expected NoRecords, got {other:?}"),
    }
}

#[tokio::test]
async fn nothing_found_is_no_records_naming_the_host() {
    let zone = Zone::new().a("other.example.test", "192.0.2.1");
    let (server, resolver) = start(zone);
    let err = resolver.resolve("sip:carol@nothing.example.test").await.expect_err("nothing to find");
    match &err {
        ResolveError::NoRecords(host) => assert_eq!(host, "nothing.example.test"),
        other => panic!("expected NoRecords, got {other:?}"),
    }
    assert!(err.to_string().contains("nothing.example.test"), "{err}");
    // The whole chain was walked: NAPTR, three SRV, A and AAAA.
    assert_eq!(server.total(), 6, "{:?}", server.log());
}

#[tokio::test]
async fn an_unanswering_name_server_is_a_lookup_error_naming_the_host() {
    // A UDP socket that never answers (and no TCP listener: refused at once).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = Resolver::with_nameserver(silent.local_addr().unwrap());
    let started = Instant::now();
    let err = resolver.resolve("sip:example.test").await.expect_err("no answer");
    assert!(matches!(&err, ResolveError::Lookup { host, .. } if host == "example.test"), "{err:?}");
    assert!(err.to_string().contains("example.test"), "{err}");
    // The chain stops at the first failed query instead of timing out on each of the next five.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

/// hickory's cache keeps each answer for its TTL (and a negative answer for its SOA minimum) and reads the
/// real clock (`std::time::Instant`), so tokio's paused time cannot stand in: this test waits 1.1 s.
#[tokio::test]
async fn answers_are_cached_for_their_ttl() {
    let zone = Zone::new()
        .ttl(1)
        .negative_ttl(1)
        .naptr("example.test", 10, 10, "s", "SIP+D2T", "_sip._tcp.example.test")
        .srv("_sip._tcp.example.test", 10, 0, 5060, "pbx.example.test")
        .a("pbx.example.test", "192.0.2.4");
    let (server, resolver) = start(zone);
    let expected = vec![target(Transport::Tcp, "192.0.2.4:5060", Some("example.test"))];

    assert_eq!(resolver.resolve("sip:example.test").await.unwrap(), expected);
    // NAPTR, SRV, A, and AAAA (an empty answer with an SOA: cached too).
    let first = server.total();
    assert_eq!(first, 4, "{:?}", server.log());

    // Within the TTL, a clone of the resolver (same cache) sends nothing.
    let clone = resolver.clone();
    assert_eq!(clone.resolve("sip:example.test").await.unwrap(), expected);
    assert_eq!(server.total(), first, "{:?}", server.log());

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(resolver.resolve("sip:example.test").await.unwrap(), expected);
    assert_eq!(server.total(), 2 * first, "{:?}", server.log());
    assert_eq!(server.queries("example.test", RecordType::NAPTR), 2);
    assert_eq!(server.queries("pbx.example.test", RecordType::AAAA), 2);
}
