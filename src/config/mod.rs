//! The daemon's configuration: strict serde structs (unknown keys are errors), defaults, and a
//! `validate()` run once at start. The schema is a contract with operators: extend it, never rename.

mod error;
mod load;
mod profiles;
mod validate;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

pub use error::ConfigError;
pub use load::{from_file, from_str, DEFAULT_CONFIG, DEFAULT_CONFIG_NAME};
pub use profiles::{EffectiveTrunk, Fact, Profile, ProfileDefaults, ServerNameRule, TransportOrigin};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: Vec<Listen>,
    /// host[:port] written in Via/Contact/Record-Route instead of the listening address (behind NAT).
    #[serde(default)]
    pub advertise: Option<String>,
    #[serde(default)]
    pub session_timer: SessionTimerConfig,
    #[serde(default)]
    pub trunks: Vec<Trunk>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub limits: Limits,
    /// Outbound TLS: trust anchors added to the system's.
    #[serde(default)]
    pub tls: TlsClientConfig,
    /// Name servers for RFC 3263 lookups; absent: the system's (`/etc/resolv.conf`).
    #[serde(default)]
    pub dns: Option<DnsConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// `ip:port` of each name server, asked in order.
    pub servers: Vec<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// The Via transport token (RFC 3261 §18.1, §20.42).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Stream transports need no retransmissions (RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    pub transport: Transport,
    pub address: SocketAddr,
    /// PEM certificate chain (leaf first) a `tls` listener presents; refused for `udp` and `tcp`.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `certificate`; required with it.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
}

/// The top-level `tls` block: how the daemon checks the servers it connects to over TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientConfig {
    /// PEM file of CA certificates trusted for outbound TLS in addition to the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_listen() -> Vec<Listen> {
    let address: SocketAddr = "0.0.0.0:5060".parse().expect("literal address");
    let listen = |transport| Listen { transport, address, certificate: None, private_key: None };
    vec![listen(Transport::Udp), listen(Transport::Tcp)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreferRefresher {
    Uac,
    Uas,
}

/// RFC 4028 settings for a leg. `enabled` is false when the block is absent (opt-in).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionTimerConfig {
    pub enabled: bool,
    /// Seconds; at least `min_se`. RFC 4028 §4 recommends 1800.
    pub default_expires: u32,
    /// Seconds; at least 90 (RFC 4028 §5).
    pub min_se: u32,
    pub prefer_refresher: PreferRefresher,
    pub use_update: bool,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            enabled: false,
            default_expires: 1800,
            min_se: 90,
            prefer_refresher: PreferRefresher::Uac,
            use_update: false,
        }
    }
}

/// Any subset of the session_timer keys, laid over the global block for one trunk or route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTimerOverride {
    pub enabled: Option<bool>,
    pub default_expires: Option<u32>,
    pub min_se: Option<u32>,
    pub prefer_refresher: Option<PreferRefresher>,
    pub use_update: Option<bool>,
}

impl SessionTimerOverride {
    pub fn apply(&self, base: &SessionTimerConfig) -> SessionTimerConfig {
        SessionTimerConfig {
            enabled: self.enabled.unwrap_or(base.enabled),
            default_expires: self.default_expires.unwrap_or(base.default_expires),
            min_se: self.min_se.unwrap_or(base.min_se),
            prefer_refresher: self.prefer_refresher.unwrap_or(base.prefer_refresher),
            use_update: self.use_update.unwrap_or(base.use_update),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    pub name: String,
    /// Where calls to the trunk go, e.g. `sip:example.sip.signalwire.com;transport=tcp`.
    pub uri: String,
    /// The carrier, whose known needs are pre-set (see `profiles.rs`); every value can be overridden.
    #[serde(default)]
    pub profile: Option<Profile>,
    /// The transport to use when `uri` names none (`;transport=` in the URI wins over this key).
    #[serde(default)]
    pub transport: Option<Transport>,
    /// The TLS server name (SNI, and the name the certificate must match) instead of the URI host.
    #[serde(default)]
    pub tls_server_name: Option<String>,
    /// Source addresses the trunk sends from.
    #[serde(default)]
    pub inbound_from: Vec<IpNet>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Name of an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub session_timer: Option<SessionTimerOverride>,
    #[serde(default)]
    pub headers: HeaderPolicy,
    /// Seconds between OPTIONS pings to the trunk; 0 (the default) sends none. At least 5 when set.
    #[serde(default)]
    pub ping_interval: u64,
    /// Consecutive failed pings that mark the trunk down (routes to it are then skipped).
    #[serde(default = "default_ping_down_after")]
    pub ping_down_after: u32,
    /// Consecutive answered pings that mark a down trunk up again.
    #[serde(default = "default_ping_up_after")]
    pub ping_up_after: u32,
}

fn default_ping_down_after() -> u32 {
    3
}

fn default_ping_up_after() -> u32 {
    2
}

impl Trunk {
    /// Username and password for digest authentication, when configured (the password read from the
    /// environment for `password_env`).
    pub fn credentials(&self) -> Option<(String, String)> {
        let username = self.username.clone()?;
        let password = match (&self.password, &self.password_env) {
            (Some(p), _) => p.clone(),
            (None, Some(var)) => std::env::var(var).ok()?,
            (None, None) => return None,
        };
        Some((username, password))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderPolicy {
    /// Header names (or `X-*` style prefixes) copied from one leg to the other.
    #[serde(default)]
    pub pass: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    pub from: RouteFrom,
    /// A regular expression the Request-URI user must match (whole match).
    #[serde(default)]
    pub user: Option<String>,
    pub to: RouteTo,
    /// Session-timer policy for the leg this route creates (e.g. `{ enabled: false }` for a backend).
    #[serde(default)]
    pub session_timer: Option<SessionTimerOverride>,
}

/// Who may use a route: exactly one of `source` (CIDR of the packet's source address) or `trunk` (a
/// trunk's `inbound_from` list). `validate()` enforces the "exactly one".
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFrom {
    #[serde(default)]
    pub source: Option<IpNet>,
    #[serde(default)]
    pub trunk: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum RouteTo {
    Uri(String),
    Trunk { trunk: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Concurrent calls; beyond it a new INVITE gets 503.
    pub max_calls: usize,
    /// Seconds a TCP connection may stay silent before it is closed.
    pub tcp_idle_timeout: u64,
    /// Open TCP connections at most (inbound and outbound together).
    pub max_tcp_connections: usize,
    /// Seconds leg B may ring without an answer before it is cancelled and the caller gets 408.
    pub ring_timeout: u64,
    /// Seconds between `stats` log lines (live calls, index entries, TCP connections); 0 turns them off.
    pub stats_interval: u64,
    /// A 503 from one of several targets of leg B moves the call to the next target (RFC 3263 §4.3) when
    /// it has no Retry-After or one of at most this many seconds; otherwise the caller gets the 503.
    pub failover_max_retry_after: u32,
    /// Threads that run the daemon's tasks. UDP signalling is handled on the task that reads the socket,
    /// so one thread carries all of it; more threads help many TCP/TLS connections, and cost CPU per call
    /// and memory per held call (measured: bench/README.md).
    pub worker_threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_calls: 100_000,
            tcp_idle_timeout: 600,
            max_tcp_connections: 10_000,
            ring_timeout: 120,
            stats_interval: 60,
            failover_max_retry_after: 0,
            worker_threads: 1,
        }
    }
}
