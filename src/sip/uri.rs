//! URIs (RFC 3261 §19.1, IPv6 references per RFC 5118) and host:port values.
//!
//! `sip:`/`sips:` URIs are validated by the engine and exposed through [`SipUri`]; any other scheme that is
//! well formed (`scheme ":" opaque`) is kept as [`Uri::Other`] so that a request can be answered 416.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use ezk_sip_types::host::{Host as EzkHost, HostPort as EzkHostPort};
use ezk_sip_types::uri::{SipUri as EzkSipUri, SipUriUserPart};

use super::method::{alphanumeric_and, is_made_of, ByteClass};
use super::params::find_param;

/// The host of a URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl Host {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// `host[:port]`, printed with brackets around IPv6 addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: Host,
    pub port: Option<u16>,
}

impl HostPort {
    pub fn parse(text: &str) -> Option<HostPort> {
        let text = text.trim();
        if is_plain_host_port(text) {
            return Some(HostPort::plain(text));
        }
        HostPort::parse_with_engine(text)
    }

    /// The engine's reading of `text` (what [`HostPort::parse`] gives for anything not plain).
    pub(crate) fn parse_with_engine(text: &str) -> Option<HostPort> {
        text.trim().parse::<EzkHostPort>().ok().map(HostPort::from_engine)
    }

    /// A `host[:port]` that [`is_plain_host_port`] accepted, read without the engine: the same value.
    fn plain(text: &str) -> HostPort {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, port.parse().ok()),
            None => (text, None),
        };
        let host = match host.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Host::Ip(IpAddr::V4(ip)),
            Err(_) => Host::Name(host.to_owned()),
        };
        HostPort { host, port }
    }

    pub(crate) fn from_engine(hp: EzkHostPort) -> HostPort {
        let host = match hp.host {
            EzkHost::IP4(ip) => Host::Ip(IpAddr::V4(ip)),
            EzkHost::IP6(ip) => Host::Ip(IpAddr::V6(ip)),
            EzkHost::Name(name) => Host::Name(name.to_string()),
        };
        HostPort { host, port: hp.port }
    }

    /// The socket address when the host is a literal IP (port defaulting to `default_port`).
    pub fn socket_addr(&self, default_port: u16) -> Option<SocketAddr> {
        Some(SocketAddr::new(self.host.ip()?, self.port.unwrap_or(default_port)))
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> HostPort {
        HostPort { host: Host::Ip(addr.ip()), port: Some(addr.port()) }
    }
}

impl HostPort {
    /// Writes `host[:port]` as [`Display`](fmt::Display) does, at the end of `out`, without the
    /// formatting machinery for the common hosts (a name, an IPv4 address): every Via and Contact we
    /// send carries one.
    pub fn push_to(&self, out: &mut String) {
        let mut number = itoa::Buffer::new();
        match &self.host {
            Host::Name(name) => out.push_str(name),
            Host::Ip(IpAddr::V4(ip)) => {
                for (i, octet) in ip.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(number.format(octet));
                }
            }
            Host::Ip(IpAddr::V6(_)) => {
                use fmt::Write as _;
                let _ = write!(out, "{}", self.host);
            }
        }
        if let Some(port) = self.port {
            out.push(':');
            out.push_str(number.format(port));
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// A parsed `sip:` or `sips:` URI. The text it was parsed from is kept and printed unchanged.
#[derive(Clone)]
pub struct SipUri {
    raw: String,
    /// The engine's parse, made when first asked for: a URI of the plain shape ([`is_plain_sip_uri`]) is
    /// known to be valid without it, and most URIs a message carries are never taken apart. `None` only
    /// if the engine refused a plain URI (the tests check that it never does).
    inner: OnceLock<Option<EzkSipUri>>,
}

/// `sip:[user@]host_port[params]` of a plain URI, borrowed from its text.
struct PlainParts<'a> {
    user: Option<&'a str>,
    host_port: &'a str,
    params: &'a str,
}

impl<'a> PlainParts<'a> {
    /// Cuts what follows the scheme: the parameters start at the first `;`, the user ends at an `@`
    /// before them (the plain shape has no `;` in the user, no password and no escapes).
    fn of(after_scheme: &'a str) -> PlainParts<'a> {
        let (addr, params) =
            after_scheme.split_at(position(after_scheme.as_bytes(), b';').unwrap_or(after_scheme.len()));
        match position(addr.as_bytes(), b'@') {
            Some(at) => PlainParts { user: Some(&addr[..at]), host_port: &addr[at + 1..], params },
            None => PlainParts { user: None, host_port: addr, params },
        }
    }
}

impl SipUri {
    pub fn parse(text: &str) -> Option<SipUri> {
        let text = text.trim();
        let inner = OnceLock::new();
        if !is_plain_sip_uri(text) {
            let _ = inner.set(Some(text.parse::<EzkSipUri>().ok()?));
        }
        Some(SipUri { raw: text.to_owned(), inner })
    }

    /// The same URI taken apart by the engine at once, for tests that compare the text readings with it.
    #[cfg(test)]
    pub(crate) fn parsed_by_engine(text: &str) -> Option<SipUri> {
        let uri = SipUri::parse(text)?;
        uri.engine()?;
        Some(uri)
    }

    fn engine(&self) -> Option<&EzkSipUri> {
        self.inner.get_or_init(|| self.raw.parse::<EzkSipUri>().ok()).as_ref()
    }

    pub fn is_sips(&self) -> bool {
        self.raw.get(..5).is_some_and(|scheme| scheme.eq_ignore_ascii_case("sips:"))
    }

    /// The user part as written (percent-escapes kept), if any.
    pub fn user(&self) -> Option<&str> {
        if let Some(plain) = self.plain_parts() {
            return plain.user;
        }
        if matches!(self.engine()?.user_part, SipUriUserPart::Empty) {
            return None;
        }
        let userinfo = self.raw.split_once(':')?.1.split_once('@').map(|(u, _)| u)?;
        Some(userinfo.split(':').next().unwrap_or(userinfo))
    }

    /// The parts of a URI not taken apart yet (so of the plain shape: no password, escapes, IPv6
    /// reference or `?headers`), read from its text.
    fn plain_parts(&self) -> Option<PlainParts<'_>> {
        if self.inner.get().is_some() {
            return None;
        }
        Some(PlainParts::of(self.raw.split_once(':')?.1))
    }

    pub fn host_port(&self) -> HostPort {
        if let Some(plain) = self.plain_parts() {
            return HostPort::plain(plain.host_port);
        }
        match self.engine() {
            Some(uri) => HostPort::from_engine(uri.host_port.clone()),
            None => HostPort { host: Host::Name(String::new()), port: None },
        }
    }

    /// A URI parameter: `Some(None)` for a flag such as `lr`, `Some(Some(v))` for `transport=tcp`.
    pub fn param(&self, name: &str) -> Option<Option<String>> {
        if let Some(plain) = self.plain_parts() {
            return find_param(plain.params, name).map(|value| value.map(str::to_owned));
        }
        let param = self.engine()?.uri_params.get(name)?;
        Some(param.value.as_ref().map(|v| v.to_string()))
    }

    /// The `transport` parameter, lower-cased.
    pub fn transport(&self) -> Option<String> {
        self.param("transport").flatten().map(|t| t.to_ascii_lowercase())
    }

    /// Whether the URI carries `?header=value` parts (allowed in Contact, not in a Request-URI).
    pub fn has_headers(&self) -> bool {
        self.raw.contains('?') && self.engine().is_some_and(|uri| !uri.header_params.is_empty())
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl fmt::Debug for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SipUri({})", self.raw)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl PartialEq for SipUri {
    fn eq(&self, other: &SipUri) -> bool {
        self.raw == other.raw
    }
}

/// Whether `text` is a `sip:`/`sips:` URI of the plain shape nearly every message carries:
/// `sip:[user@]host[:port][;name[=value]]...` with a token-ish user, an IPv4 address or a DNS name whose
/// last label starts with a letter, a port of 1-65535, and token-ish parameters; no password, escapes,
/// IPv6 or `?headers`. A strict subset of what [`SipUri::parse`] accepts (tests/uri_fast_path checks the
/// two agree), so a message can be validated without building a URI value; anything else is left to it.
pub(crate) fn is_plain_sip_uri(text: &str) -> bool {
    // Byte scans throughout: these run for every From, To and Contact of every message.
    let Some(rest) = text.strip_prefix("sip:").or_else(|| text.strip_prefix("sips:")) else { return false };
    let parts = PlainParts::of(rest);
    parts.user.is_none_or(|user| plain_word(user.as_bytes()))
        && plain_host_port(parts.host_port.as_bytes())
        && plain_param_bytes(parts.params.as_bytes())
}

/// `host[:port]` with a plain host (below) and a port of 1-65535 without leading zeros.
pub(crate) fn is_plain_host_port(text: &str) -> bool {
    plain_host_port(text.as_bytes())
}

fn plain_host_port(text: &[u8]) -> bool {
    let (host, port) = match position(text, b':') {
        Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
        None => (text, None),
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p[0] != b'0'
            && p.iter().all(u8::is_ascii_digit)
            && p.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 65535
    });
    port_ok && plain_host(host)
}

fn position(text: &[u8], byte: u8) -> Option<usize> {
    memchr::memchr(byte, text)
}

/// `1*(ALPHA / DIGIT / "-" / "_" / "." / "!" / "~" / "*" / "'" / "+")`: unreserved and user-unreserved
/// characters of RFC 3261 §25.1 that are also token characters.
fn plain_word(text: &[u8]) -> bool {
    is_made_of(text, &WORD)
}

const WORD: ByteClass = alphanumeric_and(b"-_.!~*'+");

/// A dotted-quad IPv4 address (four decimal octets up to 255, no leading zeros: what `Ipv4Addr` reads),
/// or `label *("." label)` whose labels are letters, digits and inner hyphens and whose last label starts
/// with a letter (RFC 3261 §25.1 `hostname`, no trailing dot).
fn plain_host(host: &[u8]) -> bool {
    if host.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        let mut octets = 0;
        let all_ok = host.split(|b| *b == b'.').all(|octet| {
            octets += 1;
            (1..=3).contains(&octet.len())
                && (octet.len() == 1 || octet[0] != b'0')
                && octet.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 255
        });
        return all_ok && octets == 4;
    }
    let label_ok = |l: &[u8]| {
        !l.is_empty()
            && l.len() <= 63
            && l.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && l[0] != b'-'
            && l[l.len() - 1] != b'-'
    };
    host.len() <= 253
        && host.split(|b| *b == b'.').all(label_ok)
        && host
            .rsplit(|b| *b == b'.')
            .next()
            .is_some_and(|top| top.first().is_some_and(u8::is_ascii_alphabetic))
}

/// `*(";" word ["=" word])`.
pub(crate) fn plain_params(text: &str) -> bool {
    plain_param_bytes(text.as_bytes())
}

fn plain_param_bytes(text: &[u8]) -> bool {
    match text {
        [] => true,
        [b';', items @ ..] => items.split(|b| *b == b';').all(|item| match position(item, b'=') {
            Some(eq) => plain_word(&item[..eq]) && plain_word(&item[eq + 1..]),
            None => plain_word(item),
        }),
        _ => false,
    }
}

/// A Request-URI: SIP(S), or another scheme kept as text (RFC 3261 §8.2.2.1 answers it 416).
#[derive(Debug, Clone, PartialEq)]
pub enum Uri {
    Sip(SipUri),
    Other { scheme: String, raw: String },
}

impl Uri {
    /// Parses an absolute URI. `sip:`/`sips:` must be valid SIP URIs; other schemes need a token scheme
    /// and a non-empty opaque part without whitespace or angle brackets.
    pub fn parse(text: &str) -> Option<Uri> {
        let text = text.trim();
        let (scheme, rest) = text.split_once(':')?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok || rest.is_empty() {
            return None;
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return SipUri::parse(text).map(Uri::Sip);
        }
        if text.chars().any(|c| c.is_whitespace() || c == '<' || c == '>' || c == '"') {
            return None;
        }
        Some(Uri::Other { scheme: scheme.to_ascii_lowercase(), raw: text.to_owned() })
    }

    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(uri) => Some(uri),
            Uri::Other { .. } => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Uri::Sip(uri) => uri.as_str(),
            Uri::Other { raw, .. } => raw,
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
