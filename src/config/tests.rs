//! Every shipped file loads; each validation rule names its key; unknown keys are refused.

use std::path::Path;

use super::*;

fn load(text: &str) -> Result<Config, ConfigError> {
    from_str(text, "test.yaml")
}

#[test]
fn every_shipped_config_file_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
    }
    assert!(seen >= 1, "no config files found in {}", dir.display());
}

#[test]
fn embedded_default_is_the_shipped_file() {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sst-b2bua.yaml"))
            .expect("shipped config");
    assert_eq!(DEFAULT_CONFIG, shipped);
    let config = load(DEFAULT_CONFIG).expect("default config is valid");
    assert!(config.session_timer.enabled);
    assert_eq!(config.listen.len(), 2);
}

#[test]
fn absent_blocks_take_their_defaults() {
    let config = load("routes: []\n").expect("valid");
    assert_eq!(config.listen, default_listen());
    assert_eq!(config.session_timer, SessionTimerConfig::default());
    assert!(!config.session_timer.enabled, "timers are opt-in when the block is absent");
    assert_eq!(config.session_timer.default_expires, 1800);
    assert_eq!(config.session_timer.min_se, 90);
}

#[test]
fn min_se_below_90_names_key_and_rfc() {
    let err = load("session_timer: { min_se: 60 }\n").unwrap_err();
    assert_eq!(err.key, "session_timer.min_se");
    assert_eq!(err.to_string(), "test.yaml: session_timer.min_se must be at least 90 (RFC 4028 §5)");
}

#[test]
fn default_expires_below_min_se_is_refused() {
    let err = load("session_timer: { min_se: 120, default_expires: 100 }\n").unwrap_err();
    assert_eq!(err.key, "session_timer.default_expires");
}

#[test]
fn unknown_keys_are_refused_at_every_level() {
    let cases = [
        ("bogus: 1\n", "bogus"),
        ("session_timer: { enable: true }\n", "session_timer.enable"),
        ("listen: [{ transport: udp, address: 127.0.0.1:5060, extra: 1 }]\n", "listen[0].extra"),
        (
            "routes: [{ name: a, from: { source: 10.0.0.0/8 }, to: 'sip:a', colour: red }]\n",
            "routes[0].colour",
        ),
    ];
    for (text, key) in cases {
        let err = load(text).unwrap_err();
        assert_eq!(err.key, key, "{text}");
        assert!(err.reason.contains("unknown field"), "{text}: {err}");
    }
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("listen: [{ transport: sctp, address: 127.0.0.1:5060 }]\n", "listen[0].transport"),
        ("listen: [{ transport: udp, address: nowhere }]\n", "listen[0].address"),
        ("session_timer: { prefer_refresher: both }\n", "session_timer.prefer_refresher"),
        ("session_timer: { min_se: -5 }\n", "session_timer.min_se"),
        ("routes: [{ name: a, from: { source: 10.0.0.0/33 }, to: 'sip:a' }]\n", "routes[0].from.source"),
        ("routes: [{ name: a, from: { source: 10.0.0.0/8 }, to: 'http://x' }]\n", "routes[0].to"),
        ("routes: [{ name: a, from: { trunk: nope }, to: 'sip:a' }]\n", "routes[0].from.trunk"),
        ("routes: [{ name: a, from: {}, to: 'sip:a' }]\n", "routes[0].from"),
        ("routes: [{ name: a, from: { source: 10.0.0.0/8 }, to: { trunk: nope } }]\n", "routes[0].to.trunk"),
        ("advertise: 'bad host:port:x'\n", "advertise"),
        ("routes: [{ name: a, from: { source: 10.0.0.0/8 }, user: '([', to: 'sip:a' }]\n", "routes[0].user"),
        ("listen: []\n", "listen"),
        ("trunks: [{ name: t, uri: 'sip:t.example.com', password: x }]\n", "trunks[0].username"),
        (
            "trunks: [{ name: t, uri: 'sip:t', session_timer: { min_se: 10 } }]\n",
            "trunks[0].session_timer.min_se",
        ),
    ];
    for (text, key) in cases {
        let err = load(text).unwrap_err();
        assert_eq!(err.key, key, "{text}: {err}");
        assert!(err.to_string().starts_with("test.yaml: "), "{err}");
    }
}

#[test]
fn trunk_password_env_must_be_set_and_is_read() {
    let err =
        load("trunks: [{ name: t, uri: 'sip:t', username: u, password_env: SST_B2BUA_TEST_UNSET_VAR }]\n")
            .unwrap_err();
    assert_eq!(err.key, "trunks[0].password_env");
    let config = load("trunks: [{ name: t, uri: 'sip:t', username: u, password_env: CARGO_PKG_NAME }]\n")
        .expect("variable set by cargo");
    assert_eq!(config.trunks[0].credentials(), Some(("u".into(), "sst-b2bua".into())));
}

#[test]
fn trunk_and_route_overrides_lay_over_the_global_block() {
    let config = load(
        "session_timer: { enabled: true, default_expires: 1800 }\n\
         trunks: [{ name: sw, uri: 'sip:sw.example.com;transport=tcp', inbound_from: [203.0.113.0/24],\n\
                    session_timer: { default_expires: 600 } }]\n\
         routes:\n\
           - { name: out, from: { source: 10.0.0.0/8 }, to: { trunk: sw } }\n\
           - { name: in, from: { trunk: sw }, to: 'sip:10.0.0.5:5080', session_timer: { enabled: false } }\n",
    )
    .expect("valid");
    let trunk = config.trunks[0].session_timer.as_ref().expect("override").apply(&config.session_timer);
    assert_eq!(trunk.default_expires, 600);
    assert!(trunk.enabled);
    let backend = config.routes[1].session_timer.as_ref().expect("override").apply(&config.session_timer);
    assert!(!backend.enabled);
    assert_eq!(config.routes[0].to, RouteTo::Trunk { trunk: "sw".into() });
}

#[test]
fn tls_listener_names_its_certificate_and_key() {
    let config = load(
        "listen:\n  - { transport: tls, address: 0.0.0.0:5061, certificate: /etc/sst/cert.pem, \
         private_key: /etc/sst/key.pem }\ntls: { ca_file: /etc/sst/ca.pem }\n",
    )
    .expect("valid");
    let tls = &config.listen[0];
    assert_eq!(tls.transport, Transport::Tls);
    assert_eq!(tls.certificate.as_deref(), Some(Path::new("/etc/sst/cert.pem")));
    assert_eq!(tls.private_key.as_deref(), Some(Path::new("/etc/sst/key.pem")));
    assert_eq!(config.tls.ca_file.as_deref(), Some(Path::new("/etc/sst/ca.pem")));
    assert_eq!(load("routes: []\n").expect("valid").tls, TlsClientConfig::default());
}

#[test]
fn tls_files_are_required_for_tls_and_refused_elsewhere() {
    let cases = [
        ("listen: [{ transport: tls, address: 127.0.0.1:5061, private_key: k.pem }]\n", "listen[0].certificate", "is required for a tls listener"),
        ("listen: [{ transport: tls, address: 127.0.0.1:5061, certificate: c.pem }]\n", "listen[0].private_key", "is required for a tls listener"),
        ("listen: [{ transport: tls, address: 127.0.0.1:5061 }]\n", "listen[0].certificate", "is required"),
        ("listen: [{ transport: tls, address: 127.0.0.1:5061, certificate: '', private_key: k.pem }]\n", "listen[0].certificate", "must be a path"),
        (
            "listen: [{ transport: udp, address: 127.0.0.1:5060 }, { transport: tcp, address: 127.0.0.1:5060, certificate: c.pem }]\n",
            "listen[1].certificate",
            "is only for a tls listener, not tcp",
        ),
        ("listen: [{ transport: udp, address: 127.0.0.1:5060, private_key: k.pem }]\n", "listen[0].private_key", "not udp"),
        ("tls: { ca_file: '' }\n", "tls.ca_file", "must be a path"),
        ("tls: { ca: x.pem }\n", "tls.ca", "unknown field"),
        ("tls: { ca_file: [a, b] }\n", "tls.ca_file", "is invalid"),
    ];
    assert_refused(&cases);
}

#[test]
fn dns_servers_are_addresses_and_not_empty() {
    let ok = from_str("dns: { servers: ['127.0.0.1:5353', '[::1]:53'] }\n", "t.yaml").expect("valid");
    assert_eq!(ok.dns.map(|d| d.servers.len()), Some(2));
    let empty = from_str("dns: { servers: [] }\n", "t.yaml").expect_err("empty list");
    assert!(empty.to_string().contains("dns.servers"), "{empty}");
    let bad = from_str("dns: { servers: ['ns1.example.com'] }\n", "t.yaml").expect_err("not an address");
    assert!(bad.to_string().contains("dns.servers"), "{bad}");
}

#[test]
fn trunk_ping_keys_default_to_no_pings_and_three_down_two_up() {
    let config = load("trunks: [{ name: t, uri: 'sip:t' }]\n").expect("valid");
    let trunk = &config.trunks[0];
    assert_eq!((trunk.ping_interval, trunk.ping_down_after, trunk.ping_up_after), (0, 3, 2));
    let config =
        load("trunks: [{ name: t, uri: 'sip:t', ping_interval: 5, ping_down_after: 1, ping_up_after: 4 }]\n")
            .expect("valid");
    let trunk = &config.trunks[0];
    assert_eq!((trunk.ping_interval, trunk.ping_down_after, trunk.ping_up_after), (5, 1, 4));
    let off = load("trunks: [{ name: t, uri: 'sip:t', ping_interval: 0 }]\n").expect("0 turns pings off");
    assert_eq!(off.trunks[0].ping_interval, 0);
    load("trunks: [{ name: t, uri: 'sip:t', ping_interval: 86400 }]\n").expect("a day is the ceiling");
}

#[test]
fn trunk_ping_keys_are_checked() {
    let cases = [
        (
            "ping_interval: 4",
            "trunks[0].ping_interval",
            "must be 0 (no pings) or between 5 and 86400 seconds, not 4",
        ),
        ("ping_interval: 1", "trunks[0].ping_interval", "between 5 and 86400"),
        ("ping_interval: 86401", "trunks[0].ping_interval", "not 86401"),
        ("ping_interval: -5", "trunks[0].ping_interval", "is invalid"),
        ("ping_interval: often", "trunks[0].ping_interval", "is invalid"),
        ("ping_interval: 30, ping_down_after: 0", "trunks[0].ping_down_after", "must be at least 1"),
        ("ping_interval: 30, ping_up_after: 0", "trunks[0].ping_up_after", "must be at least 1"),
        ("ping_up_after: -1", "trunks[0].ping_up_after", "is invalid"),
        ("ping_every: 30", "trunks[0].ping_every", "unknown field"),
    ];
    let texts: Vec<String> =
        cases.iter().map(|(keys, ..)| format!("trunks: [{{ name: t, uri: 'sip:t', {keys} }}]\n")).collect();
    let cases: Vec<(&str, &str, &str)> =
        cases.iter().zip(&texts).map(|((_, key, reason), text)| (text.as_str(), *key, *reason)).collect();
    assert_refused(&cases);
}

/// Each (config text, key, reason) is refused with that key and a reason containing that text, printed as
/// `test.yaml: key reason`.
fn assert_refused(cases: &[(&str, &str, &str)]) {
    for (text, key, reason) in cases {
        let err = load(text).unwrap_err();
        assert_eq!(err.key, *key, "{text}: {err}");
        assert!(err.reason.contains(reason), "{text}: {err}");
        assert!(err.to_string().starts_with(&format!("test.yaml: {key} ")), "{err}");
    }
}

#[test]
fn limits_too_far_out_for_the_clock_are_refused() {
    assert_refused(&[
        (
            "limits: { ring_timeout: 18446744073709551615 }\n",
            "limits.ring_timeout",
            "at most 31536000 seconds",
        ),
        ("limits: { tcp_idle_timeout: 31536001 }\n", "limits.tcp_idle_timeout", "not 31536001"),
        ("limits: { stats_interval: 99999999999 }\n", "limits.stats_interval", "a year"),
    ]);
    load("limits: { ring_timeout: 31536000, tcp_idle_timeout: 31536000, stats_interval: 31536000 }\n")
        .expect("a year is allowed");
}

#[test]
fn worker_threads_default_to_one_and_are_bounded() {
    assert_eq!(load("{}\n").expect("empty config").limits.worker_threads, 1);
    assert_eq!(load("limits: { worker_threads: 4 }\n").expect("4 threads").limits.worker_threads, 4);
    assert_refused(&[
        ("limits: { worker_threads: 0 }\n", "limits.worker_threads", "must be 1 to 256, not 0"),
        ("limits: { worker_threads: 257 }\n", "limits.worker_threads", "not 257"),
    ]);
}
