//! Carrier profiles: the precedence rule (trunk key > profile > global), transport forcing, `generic` as a
//! no-op, strict names, the checks that name their key, and the README citing every source the code cites.

use std::path::Path;

use super::*;
use crate::config::{from_str, Config, ConfigError, PreferRefresher};

fn load(text: &str) -> Result<Config, ConfigError> {
    from_str(text, "test.yaml")
}

fn trunk(fields: &str) -> EffectiveTrunk {
    let config = load(&format!("trunks: [{{ name: t, {fields} }}]\n")).unwrap_or_else(|e| panic!("{e}"));
    config.trunks[0].effective(&config.session_timer)
}

#[test]
fn twilio_forces_tls_and_sni_from_the_uri_host() {
    let t = trunk("uri: 'sip:Acme.PSTN.Twilio.com', profile: twilio");
    assert_eq!(t.profile, Profile::Twilio);
    assert_eq!(t.target_uri, "sip:Acme.PSTN.Twilio.com;transport=tls");
    assert_eq!(t.transport, Some((Transport::Tls, TransportOrigin::Profile)));
    assert_eq!(t.server_name.as_deref(), Some("acme.pstn.twilio.com"), "the URI host, lower case");
    assert!(t.requires_route_set);
    assert!(!t.digest_expected, "Twilio trunks may authenticate by IP ACL alone");
}

#[test]
fn trunk_keys_win_over_the_profile() {
    let t = trunk("uri: 'sip:acme.pstn.twilio.com', profile: twilio, transport: tcp");
    assert_eq!(t.target_uri, "sip:acme.pstn.twilio.com;transport=tcp", "the key beats the profile's tls");
    assert_eq!(t.transport, Some((Transport::Tcp, TransportOrigin::TrunkKey)));
    assert_eq!(t.server_name, None, "no SNI over TCP");

    let t = trunk("uri: 'sip:acme.pstn.twilio.com', profile: twilio, tls_server_name: edge.example.net");
    assert_eq!(t.server_name.as_deref(), Some("edge.example.net"), "the key beats the profile's rule");
    assert_eq!(t.target_uri, "sip:acme.pstn.twilio.com;transport=tls");
}

#[test]
fn the_uris_transport_parameter_wins_over_key_and_profile() {
    let t = trunk("uri: 'sip:acme.pstn.twilio.com;transport=udp', profile: twilio, transport: tls");
    assert_eq!(t.target_uri, "sip:acme.pstn.twilio.com;transport=udp", "nothing added");
    assert_eq!(t.transport, Some((Transport::Udp, TransportOrigin::UriParameter)));
    assert_eq!(t.server_name, None);
}

#[test]
fn forcing_adds_a_transport_only_when_the_uri_has_none() {
    let cases = [
        ("uri: 'sip:pbx.example.com', transport: tls", "sip:pbx.example.com;transport=tls"),
        ("uri: 'sip:pbx.example.com:5070', transport: udp", "sip:pbx.example.com:5070;transport=udp"),
        ("uri: 'sip:pbx.example.com;transport=TCP', transport: tls", "sip:pbx.example.com;transport=TCP"),
        ("uri: 'sip:pbx.example.com;lr', profile: twilio", "sip:pbx.example.com;lr;transport=tls"),
        ("uri: 'sips:pbx.example.com', profile: twilio", "sips:pbx.example.com"),
        ("uri: 'sips:pbx.example.com', transport: tls", "sips:pbx.example.com"),
        ("uri: 'sip:pbx.example.com'", "sip:pbx.example.com"),
        ("uri: 'sip:pbx.example.com?X-A=1', transport: tcp", "sip:pbx.example.com;transport=tcp?X-A=1"),
    ];
    for (fields, target) in cases {
        assert_eq!(trunk(fields).target_uri, target, "{fields}");
    }
    assert_eq!(trunk("uri: 'sips:pbx.example.com'").transport, Some((Transport::Tls, TransportOrigin::Sips)));
    assert_eq!(trunk("uri: 'sip:pbx.example.com'").transport, None, "RFC 3263 decides");
    assert_eq!(trunk("uri: 'sip:192.0.2.7', profile: twilio").server_name, None, "no SNI for an IP literal");
}

#[test]
fn generic_and_telnyx_change_nothing() {
    let global = "session_timer: { enabled: true, default_expires: 1200, min_se: 120, use_update: true }\n";
    let bodies = [
        "uri: 'sip:pbx.example.com'",
        "uri: 'sip:pbx.example.com;transport=tcp', session_timer: { default_expires: 600 }",
        "uri: 'sips:pbx.example.com:5071', transport: tls, tls_server_name: other.example.com",
        "uri: 'sip:10.0.0.1', username: u, password: p",
    ];
    for body in bodies {
        let plain = load(&format!("{global}trunks: [{{ name: t, {body} }}]\n")).expect("valid");
        let plain_trunk = &plain.trunks[0];
        let bare = plain_trunk.effective(&plain.session_timer);
        assert_eq!(bare.profile, Profile::Generic);
        for name in ["generic", "telnyx"] {
            let with =
                load(&format!("{global}trunks: [{{ name: t, profile: {name}, {body} }}]\n")).expect("valid");
            let mut effective = with.trunks[0].effective(&with.session_timer);
            assert_ne!(effective.profile, Profile::Twilio);
            effective.profile = Profile::Generic;
            assert_eq!(effective, bare, "{name}: {body}");
        }
        // Without a profile the effective values are exactly the pre-profile ones.
        let old_timer = plain_trunk
            .session_timer
            .as_ref()
            .map_or(plain.session_timer.clone(), |o| o.apply(&plain.session_timer));
        assert_eq!(bare.timer, old_timer, "{body}");
        assert!(!bare.digest_expected && !bare.requires_route_set);
        if plain_trunk.transport.is_none() {
            assert_eq!(bare.target_uri, plain_trunk.uri, "{body}");
        }
        if plain_trunk.tls_server_name.is_none() {
            assert_eq!(bare.server_name, None, "{body}");
        }
    }
    assert_eq!(Profile::Generic.defaults(), ProfileDefaults::default());
    assert_eq!(Profile::Telnyx.defaults(), ProfileDefaults::default(), "nothing sourced for Telnyx yet");
}

#[test]
fn session_timers_lay_trunk_over_profile_over_global() {
    let global = SessionTimerConfig { enabled: true, default_expires: 1800, ..SessionTimerConfig::default() };
    let profile = SessionTimerOverride {
        default_expires: Some(600),
        min_se: Some(120),
        use_update: Some(true),
        ..SessionTimerOverride::default()
    };
    let trunk = SessionTimerOverride { default_expires: Some(900), ..SessionTimerOverride::default() };
    let t = layer_timers(&global, &profile, Some(&trunk));
    assert_eq!(t.default_expires, 900, "the trunk's block beats the profile");
    assert_eq!(t.min_se, 120, "the profile beats the global block");
    assert!(t.use_update, "the profile beats the global block");
    assert!(t.enabled, "the global block where neither says");
    assert_eq!(t.prefer_refresher, PreferRefresher::Uac);
    assert_eq!(layer_timers(&global, &profile, None).default_expires, 600);
    assert_eq!(layer_timers(&global, &SessionTimerOverride::default(), None), global);

    let defaults = ProfileDefaults {
        use_update: Some(Fact { value: false, source: "https://example.com/a" }),
        session_timer: Some(Fact { value: profile.clone(), source: "https://example.com/b" }),
        ..ProfileDefaults::default()
    };
    assert_eq!(defaults.timer_override().use_update, Some(false), "use_update laid into the timer layer");
    assert_eq!(defaults.timer_override().min_se, Some(120));
    assert_eq!(
        defaults.sources(),
        vec![("use_update", "https://example.com/a"), ("session_timer", "https://example.com/b")]
    );
}

#[test]
fn profile_names_are_strict() {
    for name in Profile::ALL.map(Profile::name) {
        let config = load(&format!("trunks: [{{ name: t, uri: 'sip:t.example.com', profile: {name} }}]\n"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.trunks[0].profile.map(Profile::name), Some(name));
    }
    for bad in ["vonage", "Twilio", "signal_wire", "''"] {
        let err = load(&format!("trunks: [{{ name: t, uri: 'sip:t.example.com', profile: {bad} }}]\n"))
            .unwrap_err();
        assert_eq!(err.key, "trunks[0].profile", "{bad}: {err}");
        assert!(err.reason.contains("unknown variant"), "{bad}: {err}");
        assert!(err.reason.contains("`twilio`, `signalwire`, `telnyx`, `generic`"), "{bad}: {err}");
    }
    let err = load("trunks: [{ name: t, uri: 'sip:t.example.com', transport: sctp }]\n").unwrap_err();
    assert_eq!(err.key, "trunks[0].transport");
}

#[test]
fn tls_server_name_needs_tls_and_a_dns_name() {
    let cases = [
        ("uri: 'sip:t.example.com', tls_server_name: x.example.com", "nothing makes this trunk TLS"),
        ("uri: 'sip:t.example.com', transport: tcp, tls_server_name: x.example.com", "transport is tcp"),
        (
            "uri: 'sip:t.example.com;transport=udp', transport: tls, tls_server_name: x.example.com",
            "the uri's ;transport=udp wins",
        ),
        ("uri: 'sips:t.example.com', tls_server_name: 'bad name'", "must be a DNS name"),
        ("uri: 'sips:t.example.com', tls_server_name: 192.0.2.1", "must be a DNS name"),
    ];
    for (fields, reason) in cases {
        let err = load(&format!("trunks: [{{ name: t, {fields} }}]\n")).unwrap_err();
        assert_eq!(err.key, "trunks[0].tls_server_name", "{fields}: {err}");
        assert!(err.reason.contains(reason), "{fields}: {err}");
    }
    for fields in [
        "uri: 'sips:t.example.com', tls_server_name: x.example.com",
        "uri: 'sip:t.example.com;transport=tls', tls_server_name: x.example.com",
        "uri: 'sip:t.example.com', transport: tls, tls_server_name: x.example.com",
        "uri: 'sip:t.pstn.twilio.com', profile: twilio, tls_server_name: x.example.com",
    ] {
        load(&format!("trunks: [{{ name: t, {fields} }}]\n")).unwrap_or_else(|e| panic!("{fields}: {e}"));
    }
    let err = load("trunks: [{ name: t, uri: 'sips:t.example.com', transport: udp }]\n").unwrap_err();
    assert_eq!(err.key, "trunks[0].transport");
    assert!(err.reason.contains("sips: URI"), "{err}");
}

#[test]
fn signalwire_trunks_called_need_credentials() {
    let route = "routes: [{ name: out, from: { source: 10.0.0.0/8 }, to: { trunk: sw } }]\n";
    let sw = |fields: &str| {
        format!("trunks: [{{ name: sw, uri: 'sip:acme.sip.signalwire.com', profile: signalwire{fields} }}]\n")
    };

    let err = load(&format!("{}{route}", sw(""))).unwrap_err();
    assert_eq!(err.key, "trunks[0].username", "{err}");
    assert!(err.reason.contains("the signalwire profile expects digest credentials"), "{err}");
    assert!(err.reason.contains(SIGNALWIRE_DIGEST_SOURCE), "the reason cites the source: {err}");

    let err = load(&format!("{}{route}", sw(", username: u"))).unwrap_err();
    assert_eq!(err.key, "trunks[0].password", "{err}");

    load(&format!("{}{route}", sw(", username: u, password: p"))).expect("credentials given");
    load(&format!("{}{route}", sw(", username: u, password_env: CARGO_PKG_NAME")))
        .expect("password from env");
    load(&sw("")).expect("a trunk no route calls uses no credentials");
    load(&format!("{}routes: [{{ name: in, from: {{ trunk: sw }}, to: 'sip:10.0.0.5' }}]\n", sw("")))
        .expect("calls only from the trunk");
    load(&format!("{}{route}", sw("").replace("signalwire", "generic"))).expect("generic expects nothing");
    load("trunks: [{ name: sw, uri: 'sip:t.pstn.twilio.com', profile: twilio }]\nroutes: [{ name: out, from: { source: 10.0.0.0/8 }, to: { trunk: sw } }]\n")
        .expect("twilio does not require digest");
}

#[test]
fn every_set_value_has_a_source_the_readme_cites() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let section =
        readme.split("## Carrier profiles").nth(1).expect("a \"Carrier profiles\" section in README.md");
    let mut cited = 0;
    for profile in Profile::ALL {
        assert!(section.contains(&format!("`{}`", profile.name())), "README names `{}`", profile.name());
        for (key, source) in profile.defaults().sources() {
            assert!(source.starts_with("https://"), "{}.{key}: {source}", profile.name());
            assert!(
                section.contains(source),
                "README's Carrier profiles cite {source} ({}.{key})",
                profile.name()
            );
            cited += 1;
        }
    }
    assert_eq!(cited, 4, "one source per value set: twilio ×3, signalwire ×1");
}
