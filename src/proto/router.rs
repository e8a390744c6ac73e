//! Who may call and where a call goes: `routes` tried in order, first match wins, no match → 403 and
//! nothing is sent anywhere (default deny: an open relay to a paid trunk is toll fraud). A route to a trunk
//! that OPTIONS pings found down is passed over for the next match; when every match goes to a down trunk
//! the answer is 503 (the caller was allowed, the service is unavailable).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use regex::Regex;

use super::call::{CallConfig, PassList};
use super::transaction::TimerConfig;
use super::trunk_health::TrunkHealth;
use crate::config::{Config, RouteTo, SessionTimerConfig};

/// Where a matched route sends the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Uri(String),
    Trunk(usize),
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub name: String,
    sources: Vec<IpNet>,
    user: Option<Regex>,
    pub target: Target,
    /// Session-timer settings of leg A (the caller's) and leg B (the one the route creates). A trunk's leg
    /// takes the trunk's overrides; the route's own `session_timer` is the policy for the backend side.
    pub timer_a: SessionTimerConfig,
    pub timer_b: SessionTimerConfig,
    /// The trunk the call came from, when the route matched by trunk.
    pub from_trunk: Option<usize>,
    /// Leg B's Request-URI template: the route's `to`, or the trunk's `uri` with its profile applied (a
    /// forced transport added as `;transport=`, see `Trunk::effective`).
    pub target_uri: String,
    /// The TLS server name (SNI and certificate check) for leg B when the trunk's configuration sets one
    /// (`tls_server_name`, or the profile's rule); `None` keeps the resolver's (`Target.server_name`, the
    /// URI host).
    pub server_name: Option<String>,
    /// Headers copied across legs: the pass lists of the trunks on either side.
    pub pass: Vec<String>,
    /// Digest credentials for leg B when it goes to a trunk that has them.
    pub credentials: Option<(String, String)>,
    /// What every call on this route is configured with, built once and shared.
    pub call: Arc<CallConfig>,
}

/// Why no route takes an INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoute {
    /// No route admits this source and user: 403, nothing is sent anywhere.
    Forbidden,
    /// Routes admit it, but each goes to a trunk that is down: 503.
    TrunksDown,
}

#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<RouteEntry>,
    /// Which trunks are up (written by the pinger; every trunk is up until pings say otherwise).
    health: TrunkHealth,
}

impl Router {
    /// Builds the table from a validated configuration (validation already refused bad CIDRs, regexes and
    /// unknown trunks, so nothing here can fail for a config that passed `--check`).
    pub fn new(config: &Config) -> Router {
        let trunk_index = |name: &str| config.trunks.iter().position(|t| t.name == name);
        let routes = config
            .routes
            .iter()
            .map(|route| {
                let (sources, from_trunk) = match (&route.from.source, &route.from.trunk) {
                    (Some(net), _) => (vec![*net], None),
                    (None, Some(trunk)) => {
                        let index = trunk_index(trunk);
                        (index.map(|i| config.trunks[i].inbound_from.clone()).unwrap_or_default(), index)
                    }
                    (None, None) => (Vec::new(), None),
                };
                let target = match &route.to {
                    RouteTo::Uri(uri) => Target::Uri(uri.clone()),
                    RouteTo::Trunk { trunk } => {
                        trunk_index(trunk).map_or(Target::Uri(String::new()), Target::Trunk)
                    }
                };
                let global = &config.session_timer;
                // Each trunk's settings with its profile applied (trunk key > profile > global block).
                let effective = |i: usize| config.trunks[i].effective(global);
                let backend = route.session_timer.as_ref().map_or(global.clone(), |o| o.apply(global));
                let to_trunk = match target {
                    Target::Trunk(i) => Some(effective(i)),
                    Target::Uri(_) => None,
                };
                let timer_a = match (from_trunk, &to_trunk) {
                    (Some(i), _) => effective(i).timer,
                    (None, Some(_)) => backend.clone(),
                    (None, None) => global.clone(),
                };
                let timer_b = to_trunk.as_ref().map_or(backend, |t| t.timer.clone());
                let (target_uri, server_name) = match (&target, &to_trunk) {
                    (_, Some(t)) => (t.target_uri.clone(), t.server_name.clone()),
                    (Target::Uri(uri), None) => (uri.clone(), None),
                    (Target::Trunk(_), None) => (String::new(), None),
                };
                let pass: Vec<String> = [
                    from_trunk,
                    match target {
                        Target::Trunk(i) => Some(i),
                        Target::Uri(_) => None,
                    },
                ]
                .into_iter()
                .flatten()
                .flat_map(|i| config.trunks[i].headers.pass.clone())
                .collect();
                let credentials = match target {
                    Target::Trunk(i) => config.trunks[i].credentials(),
                    Target::Uri(_) => None,
                };
                let call = Arc::new(CallConfig {
                    timers: TimerConfig::default(),
                    ring_timeout: Duration::from_secs(config.limits.ring_timeout),
                    target: target_uri.clone(),
                    pass: PassList::new(pass.clone()),
                    credentials: credentials.clone(),
                    timer_a: timer_a.clone(),
                    timer_b: timer_b.clone(),
                    failover_max_retry_after: config.limits.failover_max_retry_after,
                    route: route.name.clone(),
                    server_name: server_name.clone(),
                });
                RouteEntry {
                    call,
                    credentials,
                    target_uri,
                    pass,
                    name: route.name.clone(),
                    sources,
                    user: route.user.as_deref().and_then(|u| Regex::new(&format!("^(?:{u})$")).ok()),
                    target,
                    timer_a,
                    timer_b,
                    from_trunk,
                    server_name,
                }
            })
            .collect();
        Router { routes, health: TrunkHealth::all_up(config.trunks.len()) }
    }

    /// The shared up/down view of the trunks this router reads; the pinger writes it.
    pub fn health(&self) -> &TrunkHealth {
        &self.health
    }

    /// The first route whose `from` admits `source`, whose `user` (if any) matches the Request-URI user
    /// and whose target is not a trunk that is down.
    pub fn route_for(&self, source: IpAddr, user: Option<&str>) -> Result<&RouteEntry, NoRoute> {
        let source = canonical(source);
        let mut admitted = false;
        for route in &self.routes {
            let matches = route.sources.iter().any(|net| net.contains(&source))
                && route.user.as_ref().is_none_or(|re| re.is_match(user.unwrap_or("")));
            if !matches {
                continue;
            }
            match route.target {
                Target::Trunk(trunk) if !self.health.is_up(trunk) => admitted = true,
                _ => return Ok(route),
            }
        }
        Err(if admitted { NoRoute::TrunksDown } else { NoRoute::Forbidden })
    }
}

/// An IPv4-mapped IPv6 source (from a dual-stack socket) matches IPv4 CIDRs.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn router(yaml: &str) -> Router {
        Router::new(&config::from_str(yaml, "t.yaml").expect("valid config"))
    }

    const YAML: &str = "
session_timer: { enabled: true, default_expires: 1800 }
trunks:
  - { name: sw, uri: 'sip:sw.example.com;transport=tcp', inbound_from: [203.0.113.0/24], username: u, password: p,
      session_timer: { default_expires: 600 }, headers: { pass: ['X-*'] } }
routes:
  - { name: emergency, from: { source: 10.0.0.0/8 }, user: '911|112', to: 'sip:10.9.9.9' }
  - { name: out, from: { source: 10.0.0.0/8 }, to: { trunk: sw } }
  - { name: in, from: { trunk: sw }, to: 'sip:10.0.0.5:5080', session_timer: { enabled: false } }
";

    #[test]
    fn first_matching_route_wins_and_no_match_is_none() {
        let r = router(YAML);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(r.route_for(ip("10.1.2.3"), Some("911")).map(|r| r.name.as_str()), Ok("emergency"));
        assert_eq!(
            r.route_for(ip("10.1.2.3"), Some("9110")).map(|r| r.name.as_str()),
            Ok("out"),
            "whole match"
        );
        assert_eq!(r.route_for(ip("203.0.113.9"), Some("alice")).map(|r| r.name.as_str()), Ok("in"));
        assert_eq!(r.route_for(ip("192.0.2.1"), Some("911")).err(), Some(NoRoute::Forbidden), "default deny");
        assert_eq!(r.route_for(ip("203.0.114.1"), None).err(), Some(NoRoute::Forbidden));
        assert_eq!(
            r.route_for(ip("::ffff:10.0.0.1"), None).map(|r| r.name.as_str()),
            Ok("out"),
            "v4-mapped v6"
        );
    }

    #[test]
    fn routes_carry_target_policy_and_credentials() {
        let r = router(YAML);
        let out = r.route_for("10.0.0.1".parse().unwrap(), None).unwrap();
        assert_eq!(out.target_uri, "sip:sw.example.com;transport=tcp");
        assert_eq!(out.timer_b.default_expires, 600, "trunk override on the trunk's leg");
        assert_eq!(out.timer_a.default_expires, 1800, "the backend side keeps the global block");
        assert_eq!(out.credentials, Some(("u".into(), "p".into())));
        assert_eq!(out.pass, vec!["X-*".to_string()]);
        let inbound = r.route_for("203.0.113.1".parse().unwrap(), None).unwrap();
        assert!(!inbound.timer_b.enabled, "route override for the backend leg");
        assert!(inbound.timer_a.enabled, "the trunk's leg keeps its timer");
        assert_eq!(inbound.timer_a.default_expires, 600);
        assert_eq!(inbound.credentials, None);
        assert_eq!(inbound.from_trunk, Some(0));
    }

    #[test]
    fn routes_carry_the_trunks_effective_values() {
        let r = router(
            "
session_timer: { enabled: true, default_expires: 1800 }
trunks:
  - { name: tw, uri: 'sip:acme.pstn.twilio.com', profile: twilio, inbound_from: [198.51.100.0/24],
      session_timer: { default_expires: 900 } }
  - { name: tw-tcp, uri: 'sip:acme.pstn.twilio.com', profile: twilio, transport: tcp }
  - { name: plain, uri: 'sip:pbx.example.com' }
routes:
  - { name: to-twilio, from: { source: 10.0.0.0/8 }, user: '1.*', to: { trunk: tw } }
  - { name: to-twilio-tcp, from: { source: 10.0.0.0/8 }, user: '2.*', to: { trunk: tw-tcp } }
  - { name: to-plain, from: { source: 10.0.0.0/8 }, to: { trunk: plain } }
  - { name: from-twilio, from: { trunk: tw }, to: 'sips:bot.example.com' }
",
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let tw = r.route_for(ip("10.0.0.1"), Some("15551234567")).unwrap();
        assert_eq!(tw.name, "to-twilio");
        assert_eq!(tw.target_uri, "sip:acme.pstn.twilio.com;transport=tls", "the profile's transport");
        assert_eq!(tw.call.target, tw.target_uri, "the call is configured with the same URI");
        assert_eq!(tw.server_name.as_deref(), Some("acme.pstn.twilio.com"), "the profile's SNI rule");
        assert_eq!(tw.timer_b.default_expires, 900, "the trunk's leg: its own block");
        assert_eq!(tw.call.timer_b, tw.timer_b);

        let tcp = r.route_for(ip("10.0.0.1"), Some("25551234567")).unwrap();
        assert_eq!(tcp.target_uri, "sip:acme.pstn.twilio.com;transport=tcp", "the trunk key wins");
        assert_eq!(tcp.server_name, None);

        let plain = r.route_for(ip("10.0.0.1"), Some("35551234567")).unwrap();
        assert_eq!(plain.target_uri, "sip:pbx.example.com", "no profile: the uri as written");
        assert_eq!(plain.server_name, None, "no profile: the resolver's name");

        let inbound = r.route_for(ip("198.51.100.7"), None).unwrap();
        assert_eq!(inbound.timer_a.default_expires, 900, "the trunk's leg in the other direction");
        assert_eq!(inbound.target_uri, "sips:bot.example.com");
        assert_eq!(inbound.server_name, None, "a URI target: the resolver decides");
    }

    #[test]
    fn empty_routes_allow_nothing() {
        let none = router("routes: []\n").route_for("127.0.0.1".parse().unwrap(), None).err();
        assert_eq!(none, Some(NoRoute::Forbidden));
    }

    const FAILOVER: &str = "
trunks:
  - { name: primary, uri: 'sip:primary.example.com', ping_interval: 30 }
  - { name: backup, uri: 'sip:backup.example.com', ping_interval: 30 }
routes:
  - { name: emergency, from: { source: 10.0.0.0/8 }, user: '911', to: { trunk: backup } }
  - { name: via-primary, from: { source: 10.0.0.0/8 }, to: { trunk: primary } }
  - { name: via-backup, from: { source: 10.0.0.0/8 }, to: { trunk: backup } }
  - { name: lab-primary, from: { source: 192.168.0.0/16 }, to: { trunk: primary } }
  - { name: lab-local, from: { source: 192.168.0.0/16 }, user: 'local', to: 'sip:192.168.1.1' }
";

    #[test]
    fn a_route_to_a_down_trunk_gives_way_to_the_next_match() {
        let r = router(FAILOVER);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let name = |source: &str, user: Option<&str>| r.route_for(ip(source), user).map(|r| r.name.as_str());
        assert_eq!(name("10.0.0.1", None), Ok("via-primary"), "all up: the first match");
        r.health().set(0, false);
        assert_eq!(name("10.0.0.1", None), Ok("via-backup"));
        assert_eq!(name("10.0.0.1", Some("911")), Ok("emergency"));
        // The user must still match: a route further down that does not match is no fallback.
        assert_eq!(name("192.168.1.5", Some("bob")), Err(NoRoute::TrunksDown));
        assert_eq!(name("192.168.1.5", Some("local")), Ok("lab-local"));
        r.health().set(0, true);
        assert_eq!(name("10.0.0.1", None), Ok("via-primary"), "up again: back to the first");
        assert_eq!(name("192.168.1.5", Some("bob")), Ok("lab-primary"));
    }

    #[test]
    fn every_match_to_a_down_trunk_is_503_no_match_is_still_403() {
        let r = router(FAILOVER);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        r.health().set(0, false);
        r.health().set(1, false);
        assert_eq!(r.route_for(ip("10.0.0.1"), None).err(), Some(NoRoute::TrunksDown));
        assert_eq!(r.route_for(ip("10.0.0.1"), Some("911")).err(), Some(NoRoute::TrunksDown));
        assert_eq!(r.route_for(ip("172.16.0.1"), None).err(), Some(NoRoute::Forbidden), "default deny");
        // Clones share the view: the dispatcher's router sees what the pinger writes.
        let clone = r.clone();
        r.health().set(1, true);
        assert_eq!(clone.route_for(ip("10.0.0.1"), None).map(|r| r.name.as_str()), Ok("via-backup"));
    }
}
