//! Who may call and where a call goes: `routes` tried in order, first match wins, no match → 403 and
//! nothing is sent anywhere (default deny: an open relay to a paid trunk is toll fraud).

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

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
    /// The session-timer settings for the leg this route creates.
    pub session_timer: SessionTimerConfig,
    /// The trunk the call came from, when the route matched by trunk.
    pub from_trunk: Option<usize>,
    /// Leg B's Request-URI template: the route's `to`, or the trunk's `uri`.
    pub target_uri: String,
    /// Headers copied across legs: the pass lists of the trunks on either side.
    pub pass: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<RouteEntry>,
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
                let base = match &target {
                    Target::Trunk(i) => match &config.trunks[*i].session_timer {
                        Some(o) => o.apply(&config.session_timer),
                        None => config.session_timer.clone(),
                    },
                    Target::Uri(_) => config.session_timer.clone(),
                };
                let target_uri = match &target {
                    Target::Uri(uri) => uri.clone(),
                    Target::Trunk(i) => config.trunks[*i].uri.clone(),
                };
                let pass = [
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
                RouteEntry {
                    target_uri,
                    pass,
                    name: route.name.clone(),
                    sources,
                    user: route.user.as_deref().and_then(|u| Regex::new(&format!("^(?:{u})$")).ok()),
                    target,
                    session_timer: route.session_timer.as_ref().map_or(base.clone(), |o| o.apply(&base)),
                    from_trunk,
                }
            })
            .collect();
        Router { routes }
    }

    /// The first route whose `from` admits `source` and whose `user` (if any) matches the Request-URI user.
    pub fn route_for(&self, source: IpAddr, user: Option<&str>) -> Option<&RouteEntry> {
        let source = canonical(source);
        self.routes.iter().find(|route| {
            route.sources.iter().any(|net| net.contains(&source))
                && route.user.as_ref().is_none_or(|re| re.is_match(user.unwrap_or("")))
        })
    }
}

/// An IPv4-mapped IPv6 source (from a dual-stack socket) matches IPv4 CIDRs.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
