//! The Via header value (RFC 3261 §20.42), with `received` (§18.2.1) and `rport` (RFC 3581).

use std::fmt;
use std::net::SocketAddr;

use super::find_byte;
use super::method::is_digits;
use super::params::{find_param, parse_params, Params};
use super::uri::HostPort;

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub const BRANCH_COOKIE: &str = "z9hG4bK";

#[derive(Debug, Clone, PartialEq)]
pub struct Via {
    /// Upper-cased transport token: `UDP`, `TCP`, `TLS`, ...
    pub transport: String,
    pub sent_by: HostPort,
    pub params: Params,
}

impl Via {
    pub fn new(transport: &str, sent_by: HostPort, branch: &str) -> Via {
        let mut params = Params::default();
        params.set("branch", Some(branch));
        Via { transport: transport.to_ascii_uppercase(), sent_by, params }
    }

    pub fn parse(text: &str) -> Option<Via> {
        Via::parse_version(text, |v| v == "2.0")
    }

    /// Whether [`Via::parse`] accepts `text`, without building the value when it has the plain shape of
    /// nearly every Via (`SIP/2.0/UDP host:port;branch=z9hG4bK...;rport`): the door checks each one of
    /// every message. Anything else goes through the full parse.
    pub fn is_valid(text: &str) -> bool {
        is_plain(text.trim()) || Via::parse(text).is_some()
    }

    /// A Via of any `SIP/x.y` version: enough to address the 505 that refuses that version.
    pub(crate) fn parse_any_version(text: &str) -> Option<Via> {
        Via::parse_version(text, |v| v.split_once('.').is_some_and(|(a, b)| is_digits(a) && is_digits(b)))
    }

    fn parse_version(text: &str, version_ok: impl Fn(&str) -> bool) -> Option<Via> {
        let text = text.trim();
        let mut proto = text.splitn(3, '/');
        let (name, version, rest) = (proto.next()?, proto.next()?, proto.next()?);
        if !name.trim().eq_ignore_ascii_case("SIP") || !version_ok(version.trim()) {
            return None;
        }
        let rest = rest.trim_start();
        let transport_end = rest.find(|c: char| c.is_whitespace())?;
        let transport = &rest[..transport_end];
        let rest = rest[transport_end..].trim_start();
        let params_start = find_byte(rest, b';').unwrap_or(rest.len());
        let sent_by = HostPort::parse(rest[..params_start].trim())?;
        let params = parse_params(&rest[params_start..])?;
        if transport.is_empty() || !transport.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Via { transport: transport.to_ascii_uppercase(), sent_by, params })
    }

    /// A parameter of a Via value without parsing its sent-by (nothing before the first `;` can contain
    /// one): the accessor for validated messages.
    pub fn param_of<'a>(text: &'a str, name: &str) -> Option<Option<&'a str>> {
        find_param(&text[find_byte(text, b';')?..], name)
    }

    /// The sent-by of a Via value as written (`host[:port]`), without parsing it.
    pub fn sent_by_text(text: &str) -> Option<&str> {
        let after_protocol = text.trim_start().splitn(3, '/').nth(2)?.trim_start();
        let rest = after_protocol[after_protocol.find(char::is_whitespace)?..].trim_start();
        Some(rest[..find_byte(rest, b';').unwrap_or(rest.len())].trim())
    }

    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// RFC 3261 §18.2.1 and RFC 3581 §4: record where the request really came from.
    pub fn stamp_source(&mut self, source: SocketAddr) {
        if self.sent_by.host.ip() != Some(source.ip()) || self.params.get("rport").is_some() {
            self.params.set("received", Some(&source.ip().to_string()));
        }
        if self.params.get("rport").is_some() {
            self.params.set("rport", Some(&source.port().to_string()));
        }
    }

    /// Where a response to this Via goes over an unreliable transport (RFC 3261 §18.2.2, RFC 3581 §4).
    pub fn response_target(&self, default_port: u16) -> Option<SocketAddr> {
        let ip = match self.params.get("received").flatten() {
            Some(received) => received.parse().ok()?,
            None => self.sent_by.host.ip()?,
        };
        let port = match self.params.get("rport").flatten().and_then(|p| p.parse().ok()) {
            Some(port) => port,
            None => self.sent_by.port.unwrap_or(default_port),
        };
        Some(SocketAddr::new(ip, port))
    }
}

/// `SIP/2.0/` transport, one space, a plain `host[:port]` and plain parameters (see
/// [`super::uri::is_plain_sip_uri`]): a strict subset of [`Via::parse`].
pub(crate) fn is_plain(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("SIP/2.0/") else { return false };
    let Some((transport, rest)) = rest.split_once(' ') else { return false };
    let (sent_by, params) = rest.split_at(find_byte(rest, b';').unwrap_or(rest.len()));
    !transport.is_empty()
        && transport.bytes().all(|b| b.is_ascii_alphanumeric())
        && super::uri::is_plain_host_port(sent_by)
        && super::uri::plain_params(params)
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}{}", self.transport, self.sent_by, self.params)
    }
}
