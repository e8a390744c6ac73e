//! The checks serde cannot express, run once at start: each failure names its key path and reason.

use std::collections::HashSet;

use super::profiles::{EffectiveTrunk, TransportOrigin};
use super::{Config, Listen, RouteFrom, RouteTo, SessionTimerConfig, SessionTimerOverride, Transport, Trunk};
use crate::sip::{HostPort, Uri};

type Invalid = (String, String);

/// The most threads `limits.worker_threads` may ask for.
const MAX_WORKER_THREADS: usize = 256;

/// The longest duration a `limits` key may give (a year).
const MAX_SECONDS: u64 = 365 * 86_400;

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Invalid {
    (key.into(), reason.into())
}

impl Config {
    /// Returns the first problem as (key path, reason).
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.listen.is_empty() {
            return Err(invalid("listen", "must name at least one transport and address"));
        }
        let mut seen = HashSet::new();
        for (i, l) in self.listen.iter().enumerate() {
            if !seen.insert((l.transport, l.address)) {
                return Err(invalid(format!("listen[{i}]"), "repeats an earlier transport and address"));
            }
            check_listen_files(&format!("listen[{i}]"), l)?;
        }
        if let Some(ca) = &self.tls.ca_file {
            if ca.as_os_str().is_empty() {
                return Err(invalid("tls.ca_file", "must be a path to a PEM file"));
            }
        }
        if self.dns.as_ref().is_some_and(|d| d.servers.is_empty()) {
            return Err(invalid(
                "dns.servers",
                "must list at least one ip:port (or leave `dns` out for the system's)",
            ));
        }
        if let Some(adv) = &self.advertise {
            if HostPort::parse(adv).is_none() {
                return Err(invalid("advertise", format!("must be host[:port], not `{adv}`")));
            }
        }
        check_timer("session_timer", &self.session_timer)?;
        if self.limits.max_calls == 0 {
            return Err(invalid("limits.max_calls", "must be at least 1"));
        }
        if self.limits.ring_timeout == 0 {
            return Err(invalid("limits.ring_timeout", "must be at least 1 second"));
        }
        if self.limits.tcp_idle_timeout == 0 {
            return Err(invalid("limits.tcp_idle_timeout", "must be at least 1 second"));
        }
        if !(1..=MAX_WORKER_THREADS).contains(&self.limits.worker_threads) {
            return Err(invalid(
                "limits.worker_threads",
                format!("must be 1 to {MAX_WORKER_THREADS}, not {}", self.limits.worker_threads),
            ));
        }
        // A deadline this far out would overflow the clock: refuse it here rather than panic later.
        for (key, secs) in [
            ("limits.ring_timeout", self.limits.ring_timeout),
            ("limits.tcp_idle_timeout", self.limits.tcp_idle_timeout),
            ("limits.stats_interval", self.limits.stats_interval),
        ] {
            if secs > MAX_SECONDS {
                return Err(invalid(
                    key,
                    format!("must be at most {MAX_SECONDS} seconds (a year), not {secs}"),
                ));
            }
        }
        // Trunks some route sends calls to: only those use their credentials.
        let targets: HashSet<&str> = self
            .routes
            .iter()
            .filter_map(|r| match &r.to {
                RouteTo::Trunk { trunk } => Some(trunk.as_str()),
                RouteTo::Uri(_) => None,
            })
            .collect();
        let mut names = HashSet::new();
        for (i, trunk) in self.trunks.iter().enumerate() {
            let key = format!("trunks[{i}]");
            if trunk.name.is_empty() || !names.insert(trunk.name.as_str()) {
                return Err(invalid(format!("{key}.name"), "must be a unique non-empty name"));
            }
            check_uri(&format!("{key}.uri"), &trunk.uri)?;
            if trunk.password.is_some() && trunk.password_env.is_some() {
                return Err(invalid(format!("{key}.password_env"), "cannot be given together with password"));
            }
            if let Some(var) = &trunk.password_env {
                if std::env::var_os(var).is_none() {
                    return Err(invalid(
                        format!("{key}.password_env"),
                        format!("names `{var}`, which is not set"),
                    ));
                }
            }
            if (trunk.password.is_some() || trunk.password_env.is_some()) && trunk.username.is_none() {
                return Err(invalid(format!("{key}.username"), "is required when a password is set"));
            }
            let effective = trunk.effective(&self.session_timer);
            if trunk.session_timer.is_some() {
                // The trunk's block over its profile's over the global block.
                check_timer(&format!("{key}.session_timer"), &effective.timer)?;
            }
            check_trunk_transport(&key, trunk, &effective)?;
            if effective.digest_expected && !trunk.has_credentials() && targets.contains(trunk.name.as_str())
            {
                let missing = if trunk.username.is_none() { "username" } else { "password" };
                let source = effective.profile.defaults().digest_expected.map_or("", |f| f.source);
                return Err(invalid(
                    format!("{key}.{missing}"),
                    format!(
                        "is required: the {} profile expects digest credentials on calls sent to the trunk \
                         ({source}); set username and password (or password_env), or use profile: generic",
                        effective.profile.name()
                    ),
                ));
            }
            check_ping(&key, trunk)?;
        }
        let mut route_names = HashSet::new();
        for (i, route) in self.routes.iter().enumerate() {
            let key = format!("routes[{i}]");
            if route.name.is_empty() || !route_names.insert(route.name.as_str()) {
                return Err(invalid(format!("{key}.name"), "must be a unique non-empty name"));
            }
            match &route.from {
                RouteFrom { source: Some(_), trunk: None } => {}
                RouteFrom { source: None, trunk: Some(t) } if !names.contains(t.as_str()) => {
                    return Err(invalid(format!("{key}.from.trunk"), format!("names unknown trunk `{t}`")));
                }
                RouteFrom { source: None, trunk: Some(_) } => {}
                _ => return Err(invalid(format!("{key}.from"), "must give exactly one of source or trunk")),
            }
            if let Some(user) = &route.user {
                if let Err(e) = regex::Regex::new(user) {
                    return Err(invalid(
                        format!("{key}.user"),
                        format!("is not a valid regular expression: {e}"),
                    ));
                }
            }
            match &route.to {
                RouteTo::Uri(uri) => check_uri(&format!("{key}.to"), uri)?,
                RouteTo::Trunk { trunk } if !names.contains(trunk.as_str()) => {
                    return Err(invalid(format!("{key}.to.trunk"), format!("names unknown trunk `{trunk}`")));
                }
                RouteTo::Trunk { .. } => {}
            }
            if let Some(o) = &route.session_timer {
                check_override(&format!("{key}.session_timer"), o, &self.session_timer)?;
            }
        }
        Ok(())
    }
}

/// A `tls` listener names its certificate and key (read and checked at start, see `net::tls`); the
/// other transports have none.
fn check_listen_files(key: &str, l: &Listen) -> Result<(), Invalid> {
    let files = [("certificate", &l.certificate), ("private_key", &l.private_key)];
    for (name, value) in files {
        match (l.transport, value) {
            (Transport::Tls, None) => {
                return Err(invalid(format!("{key}.{name}"), "is required for a tls listener (a PEM file)"));
            }
            (Transport::Tls, Some(path)) if path.as_os_str().is_empty() => {
                return Err(invalid(format!("{key}.{name}"), "must be a path to a PEM file"));
            }
            (Transport::Udp | Transport::Tcp, Some(_)) => {
                return Err(invalid(
                    format!("{key}.{name}"),
                    format!("is only for a tls listener, not {}", l.transport.as_str().to_ascii_lowercase()),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `transport` cannot contradict a `sips:` URI; `tls_server_name` needs a DNS name and a trunk known to be
/// reached over TLS.
fn check_trunk_transport(key: &str, trunk: &Trunk, effective: &EffectiveTrunk) -> Result<(), Invalid> {
    if let (Some(t @ (Transport::Udp | Transport::Tcp)), Some((_, TransportOrigin::Sips))) =
        (trunk.transport, effective.transport)
    {
        return Err(invalid(
            format!("{key}.transport"),
            format!(
                "cannot be {} for a sips: URI, which is always reached over TLS",
                t.as_str().to_ascii_lowercase()
            ),
        ));
    }
    let Some(name) = &trunk.tls_server_name else { return Ok(()) };
    let key = format!("{key}.tls_server_name");
    if !matches!(
        rustls::pki_types::ServerName::try_from(name.as_str()),
        Ok(rustls::pki_types::ServerName::DnsName(_))
    ) {
        return Err(invalid(key, format!("must be a DNS name, not `{name}`")));
    }
    let why = match effective.transport {
        Some((Transport::Tls, _)) => return Ok(()),
        Some((t, TransportOrigin::UriParameter)) => format!(
            "the uri's ;transport={} wins over `transport` and the profile",
            t.as_str().to_ascii_lowercase()
        ),
        Some((t, TransportOrigin::TrunkKey)) => format!("transport is {}", t.as_str().to_ascii_lowercase()),
        Some((t, _)) => format!(
            "the {} profile's transport is {}",
            effective.profile.name(),
            t.as_str().to_ascii_lowercase()
        ),
        None => "nothing makes this trunk TLS (use a sips: uri, ;transport=tls or transport: tls)".to_owned(),
    };
    Err(invalid(key, format!("is only used over TLS, and {why}")))
}

/// Shortest `ping_interval`: a ping is one small request, but a trunk pinged every second by every
/// customer would call it abuse.
const MIN_PING_INTERVAL: u64 = 5;
/// Longest `ping_interval` (a day): larger values say nothing more and would overflow a deadline.
const MAX_PING_INTERVAL: u64 = 86_400;

/// The OPTIONS ping keys of a trunk: `ping_interval` 0 (off) or within bounds, both thresholds at least 1.
fn check_ping(key: &str, trunk: &Trunk) -> Result<(), Invalid> {
    let interval = trunk.ping_interval;
    if interval != 0 && !(MIN_PING_INTERVAL..=MAX_PING_INTERVAL).contains(&interval) {
        return Err(invalid(
            format!("{key}.ping_interval"),
            format!(
                "must be 0 (no pings) or between {MIN_PING_INTERVAL} and {MAX_PING_INTERVAL} seconds, not {interval}"
            ),
        ));
    }
    for (name, value) in [("ping_down_after", trunk.ping_down_after), ("ping_up_after", trunk.ping_up_after)]
    {
        if value == 0 {
            return Err(invalid(format!("{key}.{name}"), "must be at least 1"));
        }
    }
    Ok(())
}

fn check_uri(key: &str, text: &str) -> Result<(), Invalid> {
    match Uri::parse(text) {
        Some(Uri::Sip(_)) => Ok(()),
        _ => Err(invalid(key, format!("must be a sip: or sips: URI, not `{text}`"))),
    }
}

fn check_override(key: &str, o: &SessionTimerOverride, base: &SessionTimerConfig) -> Result<(), Invalid> {
    check_timer(key, &o.apply(base))
}

/// RFC 4028 §5: nothing below 90 s anywhere; the interval we ask for is at least our Min-SE.
fn check_timer(key: &str, t: &SessionTimerConfig) -> Result<(), Invalid> {
    if t.min_se < 90 {
        return Err(invalid(format!("{key}.min_se"), "must be at least 90 (RFC 4028 §5)"));
    }
    if t.default_expires < t.min_se {
        return Err(invalid(
            format!("{key}.default_expires"),
            format!("must be at least min_se ({}) (RFC 4028 §4)", t.min_se),
        ));
    }
    Ok(())
}
