//! Locating SIP servers (RFC 3263 §4): from a `sip:`/`sips:` URI to an ordered list of (transport, address)
//! targets, through NAPTR, SRV and A/AAAA records.
//!
//! The DNS work is hickory-resolver's, and so is the cache: every answer (positive, and negative when the
//! response carries an SOA, RFC 2308) is kept for its TTL and no longer, so a second call within the TTL
//! sends no query at all. What this module adds is the RFC 3263 chain and the RFC 2782 weighted order, which
//! is drawn afresh on every call so that load spreads over equal-priority servers even while the SRV set
//! itself comes from the cache.
//!
//! Failure rules: "no such records" (NXDOMAIN, an empty answer, or a server's SERVFAIL/NOTIMP for a record
//! type it does not do) moves on to the next step of the chain. A lookup that fails otherwise (timeout,
//! connection refused) while choosing the transport (NAPTR, SRV) ends the resolution with
//! [`ResolveError::Lookup`]: going on would pick a transport on partial knowledge and add one timeout per
//! further query. While resolving the addresses of SRV targets, such a failure only skips that target; it
//! is reported if no target is left.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Name, TokioResolver};

use crate::net::Transport;
use crate::sip::{Host, Uri};

/// Default ports (RFC 3261 §19.1.2): 5060 for UDP and TCP, 5061 for TLS.
const SIP_PORT: u16 = 5060;
const SIPS_PORT: u16 = 5061;

/// At most this many SRV records (after ordering) are resolved to addresses: a hostile or broken zone
/// cannot make one call setup send hundreds of queries.
const MAX_SRV_TARGETS: usize = 32;

/// How many answers hickory keeps (one entry per name and record type).
const CACHE_ENTRIES: usize = 4096;

/// One place to send a request, in the order RFC 3263 gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub transport: Transport,
    pub addr: SocketAddr,
    /// The host name of the URI (for TLS SNI and certificate checks); None when the URI host is an IP
    /// literal.
    pub server_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("`{0}` is not a sip: or sips: URI")]
    NotSip(String),
    #[error("transport `{0}` is not supported (udp, tcp, tls)")]
    UnsupportedTransport(String),
    /// A `sips:` URI with `;transport=udp`: SIPS means TLS on every hop (RFC 3261 §19.1.2).
    #[error("a sips: URI needs TLS; transport `{0}` cannot carry it")]
    SipsWithoutTls(String),
    #[error("`{host}` is not a valid DNS name: {why}")]
    BadHost { host: String, why: String },
    #[error("no DNS records locate a SIP server for {0}")]
    NoRecords(String),
    #[error("DNS lookup for {host} failed ({query}): {source}")]
    Lookup {
        host: String,
        /// The query that failed, e.g. `NAPTR example.com`.
        query: String,
        #[source]
        source: hickory_resolver::ResolveError,
    },
}

/// RFC 3263 resolution over hickory-resolver. Cheap to clone: clones share one resolver and one cache.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<TokioResolver>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("name_servers", &self.inner.config().name_servers()).finish()
    }
}

/// The cache settings both constructors share (hickory's cache is an LRU of answers keyed by query).
fn with_cache_options(mut opts: ResolverOpts) -> ResolverOpts {
    opts.cache_size = CACHE_ENTRIES;
    // Honour the TTLs as published: no floor (a short TTL is how an operator moves traffic quickly), and
    // hickory's default ceiling (one day). Negative answers are cached for the SOA minimum (RFC 2308),
    // only when the response carries an SOA; without one hickory does not cache them.
    opts.positive_min_ttl = None;
    opts.positive_max_ttl = None;
    opts.negative_min_ttl = None;
    opts.negative_max_ttl = None;
    opts
}

impl Resolver {
    /// The system's configuration (`/etc/resolv.conf`: name servers, search list, ndots, timeout, attempts)
    /// and `/etc/hosts` for addresses. If the configuration cannot be read, hickory's default configuration
    /// is used (public resolvers), with a warning.
    pub fn from_system() -> Result<Resolver, ResolveError> {
        let mut builder = match TokioResolver::builder_tokio() {
            Ok(builder) => builder,
            Err(err) => {
                tracing::warn!(
                    error = %err,
                    "cannot read the system DNS configuration; using hickory's default name servers \
                     (Google public DNS)"
                );
                TokioResolver::builder_with_config(
                    ResolverConfig::default(),
                    TokioConnectionProvider::default(),
                )
            }
        };
        let mut opts = with_cache_options(builder.options_mut().clone());
        // resolv.conf's defaults (5 s, 2 attempts: up to 15 s a query) would hold a caller in silence;
        // call setup wants a dead name server noticed within seconds.
        opts.timeout = opts.timeout.min(Duration::from_secs(2));
        opts.attempts = opts.attempts.min(2);
        Ok(Resolver { inner: Arc::new(builder.with_options(opts).build()) })
    }

    /// The name servers of the configuration's `dns.servers` (UDP, and TCP for truncated answers), no
    /// search list; `/etc/hosts` still answers first.
    pub fn with_nameservers(addrs: &[SocketAddr]) -> Resolver {
        let mut servers = NameServerConfigGroup::new();
        for addr in addrs {
            servers.merge(NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true));
        }
        let config = ResolverConfig::from_parts(None, vec![], servers);
        let mut opts = with_cache_options(ResolverOpts::default());
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        let inner = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            .with_options(opts)
            .build();
        Resolver { inner: Arc::new(inner) }
    }

    /// hickory's default configuration (Google public DNS) with our cache settings: what `from_system`
    /// falls back to when the system configuration cannot be read, for a caller left with an error.
    pub fn public_defaults() -> Resolver {
        let inner =
            TokioResolver::builder_with_config(ResolverConfig::default(), TokioConnectionProvider::default())
                .with_options(with_cache_options(ResolverOpts::default()))
                .build();
        Resolver { inner: Arc::new(inner) }
    }

    /// One name server (UDP, and TCP for truncated answers), no search list, no hosts file, short timeouts:
    /// for tests.
    pub fn with_nameserver(addr: SocketAddr) -> Resolver {
        // Its NXDOMAIN and empty answers are final (`trust_negative_responses`): it is the only server.
        let servers = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
        let config = ResolverConfig::from_parts(None, vec![], servers);
        let mut opts = with_cache_options(ResolverOpts::default());
        opts.timeout = Duration::from_secs(1);
        opts.attempts = 2;
        opts.use_hosts_file = ResolveHosts::Never;
        let inner = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            .with_options(opts)
            .build();
        Resolver { inner: Arc::new(inner) }
    }

    /// The targets for `uri`, in the order to try them (RFC 3263 §4), without duplicates.
    pub async fn resolve(&self, uri: &str) -> Result<Vec<Target>, ResolveError> {
        let plan = plan(uri)?;
        let mut rng = fastrand::Rng::new();
        let targets = match plan {
            Plan::Literal(target) => vec![target],
            Plan::Address { transport, host, port } => {
                let name = dns_name(&host)?;
                let mut failure = None;
                let addrs = self.addresses(&host, &name, &mut failure).await;
                if addrs.is_empty() {
                    return Err(failure.unwrap_or(ResolveError::NoRecords(host)));
                }
                targets_at(&addrs, transport, port, &host)
            }
            Plan::Srv { transport, host } => {
                let name = dns_name(&host)?;
                let service = service_name(transport, &name, &host)?;
                let srvs = self.srv(&host, &service).await?;
                // RFC 3263 §4.2: no SRV records: the host's A/AAAA at the transport's default port.
                let sets = if srvs.is_empty() { Vec::new() } else { vec![(transport, srvs)] };
                self.finish(&host, &name, sets, &mut rng, transport).await?
            }
            Plan::Discover { sips, host } => {
                let name = dns_name(&host)?;
                let fallback = if sips { Transport::Tls } else { Transport::Udp };
                // RFC 3263 §4.1: NAPTR first.
                let naptrs = self.naptr(&host, &name, sips).await?;
                let mut sets = Vec::new();
                for (transport, replacement) in naptrs {
                    // RFC 3263 §4.1: the replacement of an `s` NAPTR record is the name of an SRV query.
                    let srvs = self.srv(&host, &replacement).await?;
                    if !srvs.is_empty() {
                        sets.push((transport, srvs));
                    }
                }
                if sets.is_empty() {
                    // RFC 3263 §4.1: no (usable) NAPTR records, or none led to SRV records: query SRV for
                    // each transport the client supports; "the client MAY use any transport protocol it
                    // desires which is supported by the server". Our order: TLS, then TCP, then UDP (secure
                    // and reliable first). For sips: only `_sips._tcp` (TLS).
                    let transports: &[Transport] = if sips {
                        &[Transport::Tls]
                    } else {
                        &[Transport::Tls, Transport::Tcp, Transport::Udp]
                    };
                    let services = transports
                        .iter()
                        .map(|&t| Ok((t, service_name(t, &name, &host)?)))
                        .collect::<Result<Vec<_>, ResolveError>>()?;
                    // The queries go out together: a miss costs one round trip, not three.
                    let results = match services.as_slice() {
                        [(_, tls), (_, tcp), (_, udp)] => {
                            let (tls, tcp, udp) = tokio::join!(
                                self.srv(&host, tls),
                                self.srv(&host, tcp),
                                self.srv(&host, udp)
                            );
                            vec![tls, tcp, udp]
                        }
                        _ => {
                            let mut results = Vec::new();
                            for (_, service) in &services {
                                results.push(self.srv(&host, service).await);
                            }
                            results
                        }
                    };
                    for ((transport, _), srvs) in services.into_iter().zip(results) {
                        let srvs = srvs?;
                        if !srvs.is_empty() {
                            sets.push((transport, srvs));
                        }
                    }
                }
                self.finish(&host, &name, sets, &mut rng, fallback).await?
            }
        };
        let targets = dedup(targets);
        tracing::debug!(uri, ?targets, "RFC 3263 targets");
        Ok(targets)
    }

    /// RFC 3263 §4.2: SRV sets (already in NAPTR or transport order) to addresses; with no SRV set at all,
    /// the host's own A/AAAA records at the default port of `fallback`.
    async fn finish(
        &self,
        host: &str,
        name: &Name,
        sets: Vec<(Transport, Vec<Srv>)>,
        rng: &mut fastrand::Rng,
        fallback: Transport,
    ) -> Result<Vec<Target>, ResolveError> {
        let mut failure = None;
        let mut targets = Vec::new();
        if sets.is_empty() {
            // RFC 3263 §4.2: no SRV records: A/AAAA of the host at the transport's default port.
            let addrs = self.addresses(host, name, &mut failure).await;
            targets = targets_at(&addrs, fallback, default_port(fallback), host);
        } else {
            let ordered = sets
                .into_iter()
                .flat_map(|(transport, srvs)| {
                    order_srv(srvs, rng).into_iter().map(move |srv| (transport, srv))
                })
                .filter(|(_, srv)| srv.target != "." && !srv.target.is_empty())
                .take(MAX_SRV_TARGETS);
            for (transport, srv) in ordered {
                // RFC 2782: a target of "." means the service is decidedly not available there (filtered
                // above). Each target's A then AAAA records, at the SRV record's port (RFC 3263 §4.2).
                let target_name = match Name::from_utf8(&srv.target) {
                    Ok(name) => name,
                    Err(err) => {
                        tracing::debug!(host, target = %srv.target, error = %err, "SRV target: not a name");
                        continue;
                    }
                };
                let addrs = self.addresses(host, &target_name, &mut failure).await;
                targets.extend(targets_at(&addrs, transport, srv.port, host));
            }
        }
        if targets.is_empty() {
            return Err(failure.unwrap_or_else(|| ResolveError::NoRecords(host.to_owned())));
        }
        Ok(targets)
    }

    /// NAPTR records of `name` usable for SIP (RFC 3263 §4.1), sorted (RFC 3403 §4.1), as (transport, SRV
    /// name).
    async fn naptr(
        &self,
        host: &str,
        name: &Name,
        sips: bool,
    ) -> Result<Vec<(Transport, Name)>, ResolveError> {
        let records = match self.inner.lookup(name.clone(), RecordType::NAPTR).await {
            Ok(lookup) => lookup
                .iter()
                .filter_map(|rdata| match rdata {
                    RData::NAPTR(naptr) => Some(Naptr {
                        order: naptr.order(),
                        preference: naptr.preference(),
                        flags: String::from_utf8_lossy(naptr.flags()).into_owned(),
                        services: String::from_utf8_lossy(naptr.services()).into_owned(),
                        replacement: naptr.replacement().to_ascii(),
                    }),
                    _ => None,
                })
                .collect(),
            Err(err) if err.is_no_records_found() => Vec::new(),
            Err(source) => {
                return Err(ResolveError::Lookup {
                    host: host.to_owned(),
                    query: format!("NAPTR {name}"),
                    source,
                })
            }
        };
        let usable = usable_naptr(records, sips)
            .into_iter()
            .filter_map(|(transport, replacement)| match Name::from_ascii(&replacement) {
                Ok(name) => Some((transport, name)),
                Err(err) => {
                    tracing::debug!(host, %replacement, error = %err, "NAPTR replacement is not a DNS name");
                    None
                }
            })
            .collect();
        Ok(usable)
    }

    /// The SRV records at `service` (none when the name has none).
    async fn srv(&self, host: &str, service: &Name) -> Result<Vec<Srv>, ResolveError> {
        match self.inner.srv_lookup(service.clone()).await {
            Ok(lookup) => Ok(lookup
                .iter()
                // Port 0 cannot be sent to: bad data, skipped.
                .filter(|srv| srv.port() != 0)
                .map(|srv| Srv {
                    priority: srv.priority(),
                    weight: srv.weight(),
                    port: srv.port(),
                    target: srv.target().to_ascii(),
                })
                .collect()),
            Err(err) if err.is_no_records_found() => Ok(Vec::new()),
            Err(source) => {
                Err(ResolveError::Lookup { host: host.to_owned(), query: format!("SRV {service}"), source })
            }
        }
    }

    /// A then AAAA records of `name` (queried together). A failure other than "no records" is kept in
    /// `failure` (the first one) and otherwise skipped.
    async fn addresses(&self, host: &str, name: &Name, failure: &mut Option<ResolveError>) -> Vec<IpAddr> {
        let (v4, v6) =
            tokio::join!(self.inner.ipv4_lookup(name.clone()), self.inner.ipv6_lookup(name.clone()));
        let mut addrs = Vec::new();
        match v4 {
            Ok(lookup) => addrs.extend(lookup.iter().map(|a| IpAddr::V4(a.0))),
            Err(err) => note_failure(failure, host, format!("A {name}"), err),
        }
        match v6 {
            Ok(lookup) => addrs.extend(lookup.iter().map(|aaaa| IpAddr::V6(aaaa.0))),
            Err(err) => note_failure(failure, host, format!("AAAA {name}"), err),
        }
        addrs
    }
}

fn note_failure(
    failure: &mut Option<ResolveError>,
    host: &str,
    query: String,
    err: hickory_resolver::ResolveError,
) {
    if err.is_no_records_found() {
        return;
    }
    tracing::debug!(host, query, error = %err, "address lookup failed");
    if failure.is_none() {
        *failure = Some(ResolveError::Lookup { host: host.to_owned(), query, source: err });
    }
}

fn default_port(transport: Transport) -> u16 {
    match transport {
        Transport::Tls => SIPS_PORT,
        Transport::Udp | Transport::Tcp => SIP_PORT,
    }
}

fn targets_at(addrs: &[IpAddr], transport: Transport, port: u16, host: &str) -> Vec<Target> {
    let server_name = Some(server_name(host));
    addrs
        .iter()
        .map(|&ip| Target { transport, addr: SocketAddr::new(ip, port), server_name: server_name.clone() })
        .collect()
}

/// The URI host as a TLS server name: lower case, no trailing dot.
fn server_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn dns_name(host: &str) -> Result<Name, ResolveError> {
    Name::from_utf8(host).map_err(|err| ResolveError::BadHost { host: host.to_owned(), why: err.to_string() })
}

/// RFC 3263 §4.1 (and RFC 2782 naming): `_sips._tcp` for TLS, `_sip._tcp` for TCP, `_sip._udp` for UDP.
fn service_name(transport: Transport, name: &Name, host: &str) -> Result<Name, ResolveError> {
    let prefix = match transport {
        Transport::Tls => "_sips._tcp",
        Transport::Tcp => "_sip._tcp",
        Transport::Udp => "_sip._udp",
    };
    let prefix = Name::from_ascii(prefix)
        .map_err(|err| ResolveError::BadHost { host: host.into(), why: err.to_string() })?;
    prefix.append_name(name).map_err(|err| ResolveError::BadHost { host: host.into(), why: err.to_string() })
}

/// Same transport and address: the first occurrence is kept.
fn dedup(targets: Vec<Target>) -> Vec<Target> {
    let mut seen = std::collections::HashSet::new();
    targets.into_iter().filter(|t| seen.insert((t.transport, t.addr))).collect()
}

/// What the URI alone decides (RFC 3263 §4.1 and the start of §4.2), before any query.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// The host is an IP literal: no DNS at all.
    Literal(Target),
    /// A host name with an explicit port: A/AAAA only, at that port.
    Address { transport: Transport, host: String, port: u16 },
    /// A host name with an explicit transport and no port: SRV for that transport, then A/AAAA.
    Srv { transport: Transport, host: String },
    /// A host name with neither: NAPTR, then SRV, then A/AAAA.
    Discover { sips: bool, host: String },
}

fn plan(text: &str) -> Result<Plan, ResolveError> {
    let uri = match Uri::parse(text) {
        Some(Uri::Sip(uri)) => uri,
        _ => return Err(ResolveError::NotSip(text.to_owned())),
    };
    // The `maddr` parameter is ignored: RFC 3263 §4 uses it as the target when present, but it is
    // deprecated (RFC 3261 §19.1.1 keeps it only for backward compatibility) and, followed blindly, lets a
    // URI from the outside redirect our requests anywhere. The host of the URI is the target.
    let sips = uri.is_sips();
    // RFC 3263 §4.1: an explicit transport parameter wins.
    let explicit = match uri.transport().as_deref() {
        None => None,
        Some("udp") if sips => return Err(ResolveError::SipsWithoutTls("udp".into())),
        Some("udp") => Some(Transport::Udp),
        // RFC 3263 §4.1: TCP for a SIPS URI means TLS over TCP (RFC 5630 §3.2 likewise).
        Some("tcp") if sips => Some(Transport::Tls),
        Some("tcp") => Some(Transport::Tcp),
        Some("tls") => Some(Transport::Tls),
        Some(other) => return Err(ResolveError::UnsupportedTransport(other.to_owned())),
    };
    let hp = uri.host_port();
    // RFC 3263 §4.1: with a numeric IP or an explicit port and no transport parameter: UDP for sip:
    // (RFC 3263 says TCP for sips:, i.e. TLS over TCP).
    let implied = if sips { Transport::Tls } else { Transport::Udp };
    match hp.host {
        Host::Ip(ip) => {
            let transport = explicit.unwrap_or(implied);
            // RFC 3263 §4.2: a numeric IP: that address, the port given or the transport's default.
            let port = hp.port.unwrap_or(default_port(transport));
            Ok(Plan::Literal(Target { transport, addr: SocketAddr::new(ip, port), server_name: None }))
        }
        Host::Name(host) => match (hp.port, explicit) {
            // RFC 3263 §4.2: an explicit port: A/AAAA of the host, no SRV.
            (Some(port), transport) => {
                Ok(Plan::Address { transport: transport.unwrap_or(implied), host, port })
            }
            // RFC 3263 §4.2: transport known, no port: SRV for that transport.
            (None, Some(transport)) => Ok(Plan::Srv { transport, host }),
            // RFC 3263 §4.1: NAPTR.
            (None, None) => Ok(Plan::Discover { sips, host }),
        },
    }
}

/// An SRV record (RFC 2782), as far as ordering needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The target host, absolute (`pbx.example.com.`); `.` means "not available here".
    pub target: String,
}

/// RFC 2782 ("Usage rules"): lowest priority first; within one priority, a weighted random order. For each
/// position, the not-yet-ordered records are listed with the weight-0 ones first, a number is drawn
/// uniformly from 0 to the sum of their weights (inclusive), and the first record whose running sum
/// reaches it is taken. A weight-0 record is thus taken only when the draw is 0: rarely, but not never.
/// The records of a priority are shuffled before that, so that equal weights (all 0 included) still
/// spread the load.
pub(crate) fn order_srv(mut records: Vec<Srv>, rng: &mut fastrand::Rng) -> Vec<Srv> {
    records.sort_by_key(|srv| srv.priority);
    let mut ordered = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let len = rest.iter().take_while(|srv| srv.priority == first.priority).count();
        let (group, tail) = rest.split_at(len);
        rest = tail;
        let mut group = group.to_vec();
        rng.shuffle(&mut group);
        // A stable sort: weight-0 records first, the shuffled order otherwise kept.
        group.sort_by_key(|srv| srv.weight != 0);
        while !group.is_empty() {
            let sum: u64 = group.iter().map(|srv| u64::from(srv.weight)).sum();
            let draw = rng.u64(0..=sum);
            let mut running = 0u64;
            let pick = group
                .iter()
                .position(|srv| {
                    running += u64::from(srv.weight);
                    running >= draw
                })
                .unwrap_or(group.len() - 1);
            ordered.push(group.remove(pick));
        }
    }
    ordered
}

/// A NAPTR record (RFC 3403 §4), as far as RFC 3263 needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    pub replacement: String,
}

/// RFC 3263 §4.1: the NAPTR records a SIP client can use, best first, as (transport, SRV name). Kept: flag
/// `s` (the replacement is an SRV name) and a service of `SIP+D2U` (UDP), `SIP+D2T` (TCP) or `SIPS+D2T`
/// (TLS), case-insensitively; for a sips: URI only `SIPS+D2T`. Sorted by order, then preference (RFC 3403
/// §4.1). A record with an empty (root) replacement leads nowhere and is dropped.
pub(crate) fn usable_naptr(mut records: Vec<Naptr>, sips: bool) -> Vec<(Transport, String)> {
    records.sort_by_key(|naptr| (naptr.order, naptr.preference));
    records
        .into_iter()
        .filter(|naptr| naptr.flags.eq_ignore_ascii_case("s"))
        .filter(|naptr| !naptr.replacement.is_empty() && naptr.replacement != ".")
        .filter_map(|naptr| {
            let transport = match naptr.services.to_ascii_uppercase().as_str() {
                "SIPS+D2T" => Transport::Tls,
                "SIP+D2T" if !sips => Transport::Tcp,
                "SIP+D2U" if !sips => Transport::Udp,
                _ => return None,
            };
            Some((transport, naptr.replacement))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv { priority, weight, port: 5060, target: target.to_owned() }
    }

    fn naptr(order: u16, preference: u16, flags: &str, services: &str, replacement: &str) -> Naptr {
        Naptr {
            order,
            preference,
            flags: flags.into(),
            services: services.into(),
            replacement: replacement.into(),
        }
    }

    #[test]
    fn priorities_are_strictly_respected() {
        let mut rng = fastrand::Rng::with_seed(7);
        let records =
            vec![srv(20, 100, "c."), srv(10, 1, "a."), srv(30, 0, "e."), srv(10, 50, "b."), srv(20, 0, "d.")];
        for _ in 0..1000 {
            let ordered = order_srv(records.clone(), &mut rng);
            let priorities: Vec<u16> = ordered.iter().map(|s| s.priority).collect();
            assert_eq!(priorities, [10, 10, 20, 20, 30]);
            let mut targets: Vec<&str> = ordered.iter().map(|s| s.target.as_str()).collect();
            targets[0..2].sort();
            targets[2..4].sort();
            assert_eq!(targets, ["a.", "b.", "c.", "d.", "e."]);
        }
    }

    #[test]
    fn first_pick_follows_the_weights() {
        let mut rng = fastrand::Rng::with_seed(42);
        let records = vec![srv(10, 10, "c."), srv(10, 60, "a."), srv(10, 30, "b.")];
        let draws = 10_000;
        let mut first = std::collections::HashMap::new();
        for _ in 0..draws {
            let ordered = order_srv(records.clone(), &mut rng);
            assert_eq!(ordered.len(), 3);
            *first.entry(ordered[0].target.clone()).or_insert(0u32) += 1;
        }
        for (target, weight) in [("a.", 0.60), ("b.", 0.30), ("c.", 0.10)] {
            let share = f64::from(first[target]) / f64::from(draws);
            assert!((share - weight).abs() < 0.03, "{target}: share {share:.3}, weight {weight}");
        }
    }

    #[test]
    fn weight_zero_is_picked_rarely_but_not_never() {
        let mut rng = fastrand::Rng::with_seed(3);
        let records = vec![srv(10, 60, "a."), srv(10, 0, "zero."), srv(10, 30, "b."), srv(10, 10, "c.")];
        let draws = 10_000;
        let zero_first =
            (0..draws).filter(|_| order_srv(records.clone(), &mut rng)[0].target == "zero.").count();
        // Expected 1 in 101 (a draw of exactly 0 out of 0..=100).
        assert!(zero_first > 0, "a weight-0 record must keep a small chance");
        assert!(zero_first < draws / 30, "weight 0 was first {zero_first} times in {draws}");
    }

    #[test]
    fn all_weights_zero_still_spread() {
        let mut rng = fastrand::Rng::with_seed(9);
        let records = vec![srv(10, 0, "a."), srv(10, 0, "b.")];
        let a_first = (0..1000).filter(|_| order_srv(records.clone(), &mut rng)[0].target == "a.").count();
        assert!((350..650).contains(&a_first), "a first {a_first} times in 1000");
    }

    #[test]
    fn empty_and_single_sets() {
        let mut rng = fastrand::Rng::with_seed(1);
        assert!(order_srv(Vec::new(), &mut rng).is_empty());
        assert_eq!(order_srv(vec![srv(0, 0, "a.")], &mut rng), vec![srv(0, 0, "a.")]);
        let max = vec![srv(u16::MAX, u16::MAX, "a."), srv(u16::MAX, u16::MAX, "b.")];
        assert_eq!(order_srv(max, &mut rng).len(), 2);
    }

    #[test]
    fn naptr_sorted_by_order_then_preference_and_filtered() {
        let records = vec![
            naptr(20, 10, "s", "SIP+D2U", "_sip._udp.example.com."),
            naptr(10, 20, "S", "sips+d2t", "_sips._tcp.example.com."),
            naptr(10, 10, "s", "SIP+D2T", "_sip._tcp.example.com."),
            naptr(5, 10, "u", "SIP+D2T", "!^.*$!sip:x@example.com!"),
            naptr(5, 20, "s", "E2U+sip", "_sip._tcp.other.com."),
            naptr(5, 30, "s", "SIP+D2S", "_sip._sctp.example.com."),
            naptr(5, 40, "s", "SIP+D2T", "."),
        ];
        assert_eq!(
            usable_naptr(records.clone(), false),
            vec![
                (Transport::Tcp, "_sip._tcp.example.com.".to_owned()),
                (Transport::Tls, "_sips._tcp.example.com.".to_owned()),
                (Transport::Udp, "_sip._udp.example.com.".to_owned()),
            ]
        );
        assert_eq!(usable_naptr(records, true), vec![(Transport::Tls, "_sips._tcp.example.com.".to_owned())]);
    }

    fn literal(transport: Transport, addr: &str) -> Plan {
        Plan::Literal(Target { transport, addr: addr.parse().unwrap(), server_name: None })
    }

    #[test]
    fn plan_follows_rfc3263_section_4_1() {
        assert_eq!(plan("sip:10.0.0.1").unwrap(), literal(Transport::Udp, "10.0.0.1:5060"));
        assert_eq!(plan("sips:10.0.0.1").unwrap(), literal(Transport::Tls, "10.0.0.1:5061"));
        assert_eq!(
            plan("sip:bob@[2001:db8::1]:5080;transport=tcp").unwrap(),
            literal(Transport::Tcp, "[2001:db8::1]:5080")
        );
        assert_eq!(plan("sip:10.0.0.1;transport=tls").unwrap(), literal(Transport::Tls, "10.0.0.1:5061"));
        assert_eq!(plan("sips:10.0.0.1;transport=tcp").unwrap(), literal(Transport::Tls, "10.0.0.1:5061"));
        assert_eq!(
            plan("sip:pbx.example.com:5070").unwrap(),
            Plan::Address { transport: Transport::Udp, host: "pbx.example.com".into(), port: 5070 }
        );
        assert_eq!(
            plan("sips:pbx.example.com:5071").unwrap(),
            Plan::Address { transport: Transport::Tls, host: "pbx.example.com".into(), port: 5071 }
        );
        assert_eq!(
            plan("sip:pbx.example.com;transport=TCP").unwrap(),
            Plan::Srv { transport: Transport::Tcp, host: "pbx.example.com".into() }
        );
        assert_eq!(
            plan("sip:alice@example.com;maddr=10.9.9.9").unwrap(),
            Plan::Discover { sips: false, host: "example.com".into() }
        );
        assert_eq!(
            plan("sips:example.com").unwrap(),
            Plan::Discover { sips: true, host: "example.com".into() }
        );
    }

    #[test]
    fn plan_refuses_what_it_cannot_serve() {
        assert!(matches!(plan("tel:+15551234"), Err(ResolveError::NotSip(_))));
        assert!(matches!(plan("not a uri"), Err(ResolveError::NotSip(_))));
        let sctp = plan("sip:example.com;transport=sctp");
        assert!(matches!(sctp, Err(ResolveError::UnsupportedTransport(t)) if t == "sctp"));
        assert!(matches!(plan("sips:example.com;transport=udp"), Err(ResolveError::SipsWithoutTls(_))));
    }

    #[test]
    fn dedup_keeps_the_first_occurrence() {
        let t = |transport, addr: &str, name: Option<&str>| Target {
            transport,
            addr: addr.parse().unwrap(),
            server_name: name.map(str::to_owned),
        };
        let targets = vec![
            t(Transport::Tcp, "10.0.0.1:5060", Some("a")),
            t(Transport::Udp, "10.0.0.1:5060", Some("a")),
            t(Transport::Tcp, "10.0.0.1:5060", Some("b")),
            t(Transport::Tcp, "10.0.0.2:5060", Some("a")),
        ];
        assert_eq!(
            dedup(targets),
            vec![
                t(Transport::Tcp, "10.0.0.1:5060", Some("a")),
                t(Transport::Udp, "10.0.0.1:5060", Some("a")),
                t(Transport::Tcp, "10.0.0.2:5060", Some("a")),
            ]
        );
    }

    #[test]
    fn service_names() {
        let name = Name::from_utf8("example.com").unwrap();
        assert_eq!(
            service_name(Transport::Tls, &name, "example.com").unwrap().to_ascii(),
            "_sips._tcp.example.com"
        );
        assert_eq!(
            service_name(Transport::Udp, &name, "example.com").unwrap().to_ascii(),
            "_sip._udp.example.com"
        );
    }

    #[tokio::test]
    async fn ip_literals_need_no_name_server() {
        // An unreachable name server: a literal must not need it.
        let resolver = Resolver::with_nameserver("127.0.0.1:9".parse().unwrap());
        let targets = resolver.resolve("sip:192.0.2.7:5070;transport=tcp").await.unwrap();
        assert_eq!(
            targets,
            vec![Target {
                transport: Transport::Tcp,
                addr: "192.0.2.7:5070".parse().unwrap(),
                server_name: None
            }]
        );
    }

    #[test]
    fn from_system_builds_outside_a_runtime() {
        // Reads /etc/resolv.conf, or falls back to hickory's defaults: either way no error and no panic,
        // and no runtime is needed until the first lookup.
        let resolver = Resolver::from_system().expect("a resolver");
        assert!(!resolver.inner.config().name_servers().is_empty());
        assert_eq!(resolver.inner.options().cache_size, CACHE_ENTRIES);
    }

    #[test]
    fn public_defaults_build_outside_a_runtime_with_our_cache() {
        let resolver = Resolver::public_defaults();
        assert!(!resolver.inner.config().name_servers().is_empty());
        assert_eq!(resolver.inner.options().cache_size, CACHE_ENTRIES);
    }

    #[test]
    fn resolver_is_send_sync_and_cheap_to_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Resolver>();
    }
}
