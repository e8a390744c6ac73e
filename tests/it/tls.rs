//! SIP over TLS through the real daemon, with rustls peers in the test (tokio-rustls on a small runtime)
//! and a CA plus a server certificate for `localhost`, `trunk.test` and 127.0.0.1 made by rcgen per test:
//! a TLS client talking to the daemon's TLS listener (answers on the same connection, keep-alive, idle
//! close with close_notify); a call from a SIPp caller over UDP to a trunk `sips:localhost:PORT`, answered
//! by a TLS UAS in the test that records the SNI it got, the handshake and which connection each request
//! came on (one connection for INVITE, ACK and BYE, and a new one for the BYE once the UAS dropped the
//! first); the same call when the daemon does not trust the server's CA (503, no crash); and `--check`
//! reading the files. The peers are in `tls_peer.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::daemon::{
    check_config, config_yaml_listening, fill_local, free_port, header_values, options_request, status_code,
    Daemon,
};
use crate::sipp::{Sipp, SippResult};
use crate::tls_peer::{runtime, text, wait_for_uas, Pki, SipStream, TlsUas, UasLog, WAIT};

/// An OPTIONS or INVITE over TLS from `local` (Via transport TLS), Call-ID `{id}@tls`.
fn request_over_tls(method: &str, id: &str, local: SocketAddr, daemon: SocketAddr) -> Vec<u8> {
    let msg = format!(
        "{method} sip:bob@{daemon};transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS {{local}};branch=z9hG4bK-{id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{{local}};transport=tls>;tag=f-{id}\r\n\
         To: <sip:bob@{daemon}>\r\n\
         Call-ID: {id}@tls\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@{{local}};transport=tls>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    fill_local(msg.as_bytes(), local)
}

#[test]
fn tls_check_reads_the_certificate_key_and_ca_files() {
    let pki = Pki::new();
    let tls = |cert: &str, key: &str| {
        let (cert, key) = (pki.path(cert), pki.path(key));
        vec![format!(
            "{{ transport: tls, address: 127.0.0.1:{}, certificate: '{}', private_key: '{}' }}",
            free_port(),
            cert.display(),
            key.display()
        )]
    };
    let ca = format!("tls: {{ ca_file: '{}' }}\n", pki.path("ca.pem").display());
    let good = config_yaml_listening(free_port(), &tls("cert.pem", "key.pem"), &ca);
    let (code, stderr) = check_config(&good);
    assert_eq!(code, Some(0), "--check on\n{good}\nstderr:\n{stderr}");
    let cases = [
        (tls("missing.pem", "key.pem"), ca.clone(), "listen[2].certificate cannot read"),
        (tls("key.pem", "key.pem"), ca.clone(), "listen[2].certificate `"),
        (tls("cert.pem", "ca.pem"), ca.clone(), "listen[2].private_key `"),
        (
            tls("cert.pem", "key.pem"),
            "tls: { ca_file: /nonexistent/ca.pem }\n".to_owned(),
            "tls.ca_file cannot read",
        ),
    ];
    for (listen, extra, needle) in cases {
        let bad = config_yaml_listening(free_port(), &listen, &extra);
        let (code, stderr) = check_config(&bad);
        assert_eq!(code, Some(2), "--check on\n{bad}\nstderr:\n{stderr}");
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
        assert!(stderr.contains("check.yaml: "), "the error names the file: {stderr}");
    }
}

#[test]
fn tls_client_gets_answers_on_its_own_connection() {
    let pki = Pki::new();
    let daemon = Daemon::builder().tls_listener(&pki.path("cert.pem"), &pki.path("key.pem")).start();
    let rt = runtime();
    let to = daemon.tls_addr();
    let report = || daemon.report();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(to).await.expect("connect to the TLS listener");
        let local = tcp.local_addr().expect("local address");
        let name = ServerName::try_from("localhost").expect("name");
        let tls =
            pki.client().connect(name, tcp).await.unwrap_or_else(|e| panic!("handshake: {e}\n{}", report()));
        let mut sip = SipStream::new(tls);
        for id in ["opt1", "opt2"] {
            sip.send(&request_over_tls("OPTIONS", id, local, to)).await;
            let answer = sip.recv(WAIT).await.unwrap_or_else(|| panic!("no answer to {id}\n{}", report()));
            assert_eq!(status_code(&answer), Some(200), "{}", text(&answer));
            assert_eq!(header_values(&answer, "Call-ID"), [format!("{id}@tls")]);
            let via = header_values(&answer, "Via");
            assert!(via.first().is_some_and(|v| v.starts_with("SIP/2.0/TLS ")), "Via {via:?}");
        }
        // The keep-alive of RFC 5626 §3.5.1 inside TLS.
        sip.send(b"\r\n\r\n").await;
        assert_eq!(sip.recv_raw(2, WAIT).await, b"\r\n", "pong\n{}", report());
        // No route allows this INVITE: 403, on this connection too.
        sip.send(&request_over_tls("INVITE", "inv1", local, to)).await;
        let answer = loop {
            let msg =
                sip.recv(WAIT).await.unwrap_or_else(|| panic!("no final answer to the INVITE\n{}", report()));
            if status_code(&msg).is_some_and(|s| s >= 200) {
                break msg;
            }
        };
        assert_eq!(status_code(&answer), Some(403), "{}", text(&answer));
    });
}

#[test]
fn tls_idle_connection_is_closed_with_close_notify() {
    let pki = Pki::new();
    let daemon = Daemon::builder()
        .tls_listener(&pki.path("cert.pem"), &pki.path("key.pem"))
        .yaml("limits: { tcp_idle_timeout: 1 }")
        .start();
    let rt = runtime();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(daemon.tls_addr()).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = pki.client().connect(name, tcp).await.expect("handshake");
        let opened = Instant::now();
        let closed = SipStream::new(tls).closed(Duration::from_secs(5)).await;
        assert_eq!(closed, Ok(()), "{}", daemon.report());
        assert!(opened.elapsed() >= Duration::from_millis(900), "closed after {:?}", opened.elapsed());
    });
}

/// A daemon with a TLS listener whose one route sends every INVITE from 127.0.0.0/8 to the trunk
/// `sips:localhost:<uas_port>`; `ca_file` is what it trusts besides the system's roots.
fn daemon_with_tls_trunk(pki: &Pki, uas_port: u16, ca_file: &str) -> Daemon {
    Daemon::builder()
        .tls_listener(&pki.path("cert.pem"), &pki.path("key.pem"))
        .yaml(&format!(
            "trunks:\n  - {{ name: tlstrunk, uri: 'sips:localhost:{uas_port}', inbound_from: [192.0.2.0/24] }}\n\
             routes:\n  - {{ name: out, from: {{ source: 127.0.0.0/8 }}, to: {{ trunk: tlstrunk }} }}\n\
             tls: {{ ca_file: '{}' }}\n",
            pki.path(ca_file).display()
        ))
        .start()
}

/// One SIPp call (UDP) to the daemon, held `hold_ms`, and what the TLS UAS saw once the BYE reached it.
fn call_through(daemon: &Daemon, uas: &TlsUas, hold_ms: &str) -> (SippResult, UasLog) {
    let caller = Sipp::new("call_uac.xml")
        .remote(daemon.udp_addr())
        .args(["-t", "u1", "-m", "1", "-d", hold_ms, "-timeout", "20s", "-timeout_error"])
        .timeout(Duration::from_secs(40))
        .run();
    let log = wait_for_uas(uas, WAIT, |l| l.requests.iter().any(|(_, m)| m == "BYE"));
    (caller, log)
}

#[test]
fn tls_call_to_a_sips_trunk_sends_sni_and_keeps_one_connection() {
    let pki = Pki::new();
    let rt = runtime();
    let uas = TlsUas::start(&rt, pki.server(), false);
    let daemon = daemon_with_tls_trunk(&pki, uas.port, "ca.pem");
    let (caller, log) = call_through(&daemon, &uas, "200");
    let report = || format!("{}\nUAS: {log:#?}\n{}", caller.report(), daemon.report());
    assert!(caller.success(), "the call failed\n{}", report());
    assert_eq!(log.handshake_errors, Vec::<String>::new(), "{}", report());
    let requests: Vec<(usize, &str)> = log.requests.iter().map(|(c, m)| (*c, m.as_str())).collect();
    assert_eq!(
        requests,
        [(0, "INVITE"), (0, "ACK"), (0, "BYE")],
        "one connection for the dialog\n{}",
        report()
    );
    assert_eq!(log.accepted, 1, "TLS connections opened by the daemon\n{}", report());
    assert_eq!(log.sni, [Some("localhost".to_owned())], "SNI must be the trunk's host name\n{}", report());
    let invite = log.invite.as_deref().unwrap_or("");
    let via = header_values(invite.as_bytes(), "Via");
    let port = daemon.tls_addr().port();
    assert!(via.first().is_some_and(|v| v.starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{port};"))), "{via:?}");
    let contact = header_values(invite.as_bytes(), "Contact");
    assert!(contact.first().is_some_and(|c| c.contains(";transport=tls")), "{contact:?}");
}

#[test]
fn tls_connection_lost_mid_dialog_is_reopened_for_the_next_request() {
    let pki = Pki::new();
    let rt = runtime();
    let uas = TlsUas::start(&rt, pki.server(), true);
    let daemon = daemon_with_tls_trunk(&pki, uas.port, "ca.pem");
    let (caller, log) = call_through(&daemon, &uas, "500");
    let report = || format!("{}\nUAS: {log:#?}\n{}", caller.report(), daemon.report());
    assert!(caller.success(), "the call failed\n{}", report());
    let requests: Vec<(usize, &str)> = log.requests.iter().map(|(c, m)| (*c, m.as_str())).collect();
    assert_eq!(
        requests,
        [(0, "INVITE"), (0, "ACK"), (1, "BYE")],
        "the BYE on a new connection\n{}",
        report()
    );
    assert_eq!(log.sni, [Some("localhost".to_owned()), Some("localhost".to_owned())], "{}", report());
}

#[test]
fn tls_trunk_with_an_untrusted_certificate_fails_the_call_with_503() {
    let pki = Pki::new();
    let rt = runtime();
    let uas = TlsUas::start(&rt, pki.server(), false);
    let daemon = daemon_with_tls_trunk(&pki, uas.port, "other-ca.pem");
    let caller = daemon.udp_peer();
    let invite = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
                  Via: SIP/2.0/UDP {local};branch=z9hG4bK-wrongca;rport\r\n\
                  Max-Forwards: 70\r\n\
                  From: <sip:alice@{local}>;tag=wrongca\r\n\
                  To: <sip:bob@127.0.0.1>\r\n\
                  Call-ID: wrong-ca@tls\r\n\
                  CSeq: 1 INVITE\r\n\
                  Contact: <sip:alice@{local}>\r\n\
                  Content-Length: 0\r\n\r\n";
    caller.send(&fill_local(invite.as_bytes(), caller.local_addr()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let final_answer = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = caller.recv(left).unwrap_or_else(|| panic!("no final answer\n{}", daemon.report()));
        if status_code(&msg).is_some_and(|s| s >= 200) {
            break msg;
        }
    };
    assert_eq!(status_code(&final_answer), Some(503), "{}\n{}", text(&final_answer), daemon.report());
    let ack = invite.replace("INVITE sip:", "ACK sip:").replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
    caller.send(&fill_local(ack.as_bytes(), caller.local_addr()));
    let log = wait_for_uas(&uas, WAIT, |l| !l.handshake_errors.is_empty());
    assert!(
        !log.handshake_errors.is_empty() && log.requests.is_empty(),
        "UAS: {log:#?}\n{}",
        daemon.report()
    );
    let daemon_log = daemon.log();
    assert!(daemon_log.contains("UnknownIssuer"), "the reason is logged\n{}", daemon.report());
    // Still serving.
    let probe = daemon.udp_peer();
    probe.send(options_request("UDP", probe.local_addr(), daemon.udp_addr()).as_bytes());
    let answer = probe
        .recv(WAIT)
        .unwrap_or_else(|| panic!("no OPTIONS answer after the failure\n{}", daemon.report()));
    assert_eq!(status_code(&answer), Some(200));
}

/// `tls_server_name` on a trunk whose URI is an IP address: the SNI and the certificate check use that name
/// (the test certificate is for `localhost` and `trunk.test`), never the address.
#[test]
fn tls_server_name_of_a_trunk_is_the_sni_for_an_ip_uri() {
    let pki = Pki::new();
    let rt = runtime();
    let uas = TlsUas::start(&rt, pki.server(), false);
    let daemon = Daemon::builder()
        .tls_listener(&pki.path("cert.pem"), &pki.path("key.pem"))
        .yaml(&format!(
            "trunks:\n  - {{ name: t, uri: 'sips:127.0.0.1:{}', tls_server_name: trunk.test, \
             inbound_from: [192.0.2.0/24] }}\n\
             routes:\n  - {{ name: out, from: {{ source: 127.0.0.0/8 }}, to: {{ trunk: t }} }}\n\
             tls: {{ ca_file: '{}' }}\n",
            uas.port,
            pki.path("ca.pem").display()
        ))
        .start();
    let (caller, log) = call_through(&daemon, &uas, "200");
    let report = || format!("{}\nUAS: {log:#?}\n{}", caller.report(), daemon.report());
    assert!(caller.success(), "the call failed\n{}", report());
    assert_eq!(log.sni, [Some("trunk.test".to_owned())], "SNI from tls_server_name\n{}", report());
}
