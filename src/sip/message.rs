//! SIP requests and responses (RFC 3261 §7): the start line, the ordered headers, the body bytes; typed
//! views of the headers every layer needs, and serialisation with a Content-Length we compute ourselves.

use bytes::Bytes;

use super::headers::{HeaderName, Headers};
use super::method::{is_digits, Method};
use super::name_addr::{header_param, NameAddr};
use super::reason::reason_phrase;
use super::uri::Uri;
use super::via::Via;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(text: &str) -> Option<CSeq> {
        let (seq, method) = match text.split_once(' ') {
            // The usual `1 INVITE`, read without the Unicode-aware word splitting (CSeq is read often).
            Some((seq, method)) if method.is_ascii() && !method.bytes().any(|b| b.is_ascii_whitespace()) => {
                (seq, method)
            }
            _ => {
                let mut parts = text.split_whitespace();
                let words = (parts.next()?, parts.next()?);
                parts.next().is_none().then_some(words)?
            }
        };
        if !is_digits(seq) {
            return None;
        }
        // RFC 3261 §8.1.1.5: the sequence number must be less than 2**31.
        let seq: u32 = seq.parse().ok().filter(|s| *s < 1 << 31)?;
        Some(CSeq { seq, method: Method::parse(method)? })
    }

    /// `N METHOD`, the value of a CSeq header we write.
    pub fn text(seq: u32, method: &Method) -> String {
        let mut number = itoa::Buffer::new();
        concat(&[number.format(seq), " ", method.as_str()])
    }
}

/// The pieces one after the other in a string of exactly their length: header values we build on the
/// per-message path (instead of `format!`).
pub fn concat(pieces: &[&str]) -> String {
    let mut text = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    pieces.iter().for_each(|p| text.push_str(p));
    text
}

impl std::fmt::Display for CSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: Bytes,
}

/// The headers a response copies from its request (RFC 3261 §8.2.6.2).
pub(crate) const ECHOED: [HeaderName; 5] =
    [HeaderName::VIA, HeaderName::FROM, HeaderName::TO, HeaderName::CALL_ID, HeaderName::CSEQ];

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// Typed access to the headers that identify a transaction and a dialog. The parser guarantees they are
/// present and well formed on every message it returns, so `None` only shows up on hand-built messages.
pub trait SipHeaders {
    fn headers(&self) -> &Headers;
    fn headers_mut(&mut self) -> &mut Headers;

    fn call_id(&self) -> Option<&str> {
        self.headers().get(&HeaderName::CALL_ID)
    }
    fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.headers().get(&HeaderName::CSEQ)?)
    }
    /// The From header (named for the header, not a conversion).
    #[allow(clippy::wrong_self_convention)]
    fn from_hdr(&self) -> Option<NameAddr> {
        NameAddr::parse(self.headers().get(&HeaderName::FROM)?)
    }
    fn to_hdr(&self) -> Option<NameAddr> {
        NameAddr::parse(self.headers().get(&HeaderName::TO)?)
    }
    /// The From tag, read without parsing the URI (the parser validated the header).
    #[allow(clippy::wrong_self_convention)]
    fn from_tag(&self) -> Option<&str> {
        header_param(self.headers().get(&HeaderName::FROM)?, "tag").flatten()
    }
    /// The To tag, read without parsing the URI.
    fn to_tag(&self) -> Option<&str> {
        header_param(self.headers().get(&HeaderName::TO)?, "tag").flatten()
    }
    /// The branch of the top Via, read without parsing its sent-by.
    fn top_branch(&self) -> Option<&str> {
        Via::param_of(self.headers().get(&HeaderName::VIA)?, "branch").flatten()
    }
    fn top_via(&self) -> Option<Via> {
        Via::parse(self.headers().get(&HeaderName::VIA)?)
    }
    fn vias(&self) -> Vec<Via> {
        self.headers().get_all(&HeaderName::VIA).filter_map(Via::parse).collect()
    }
}

impl SipHeaders for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }
}

impl SipHeaders for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }
}

impl Request {
    pub fn new(method: Method, uri: Uri) -> Request {
        Request { method, uri, headers: Headers::new(), body: Bytes::new() }
    }

    /// Drops all but what a transaction still reads once its request is answered: the headers a response
    /// echoes (RFC 3261 §8.2.6.2: Via, From, To, Call-ID, CSeq). An accepted INVITE's transaction lives on
    /// for 64*T1 (RFC 6026 Timer L/M) and should not hold the body and every header for that long.
    pub fn keep_echo_only(&mut self) {
        self.headers.keep_only(&ECHOED);
        self.body = Bytes::new();
    }

    /// RFC 3261 §18.2.1 and RFC 3581 §4: stamp `received` (and `rport` when asked for) on the top Via
    /// with the address the request really came from.
    pub fn stamp_source(&mut self, source: std::net::SocketAddr) {
        // The common case changes nothing: sent-by is the source IPv4 address and no rport was asked for.
        if let (Some(top), std::net::IpAddr::V4(ip)) = (self.headers.get(&HeaderName::VIA), source.ip()) {
            let host = Via::sent_by_text(top).map(|s| s.split(':').next().unwrap_or(s));
            if host.is_some_and(|h| h.parse() == Ok(ip)) && Via::param_of(top, "rport").is_none() {
                return;
            }
        }
        let Some(mut via) = self.top_via() else { return };
        via.stamp_source(source);
        self.headers.replace_first(&HeaderName::VIA, via.to_string());
    }

    /// The transaction branch of the top Via (RFC 3261 §17.2.3).
    pub fn branch(&self) -> Option<String> {
        self.top_branch().map(str::to_owned)
    }

    pub fn to_bytes(&self) -> Bytes {
        serialise(&[self.method.as_str(), " ", self.uri.as_str(), " SIP/2.0"], &self.headers, &self.body)
    }
}

impl Response {
    /// A response with the standard reason phrase for `status` (RFC 3261 §21).
    pub fn new(status: u16) -> Response {
        Response {
            status,
            reason: reason_phrase(status).to_owned(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut status = itoa::Buffer::new();
        serialise(&["SIP/2.0 ", status.format(self.status), " ", &self.reason], &self.headers, &self.body)
    }

    pub fn is_provisional(&self) -> bool {
        self.status < 200
    }
}

impl Message {
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }

    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }
}

/// The start line (its pieces), the headers and a Content-Length we compute, written once into a buffer
/// of the exact size (a message is serialised for every send).
fn serialise(start_line: &[&str], headers: &Headers, body: &Bytes) -> Bytes {
    let mut length = itoa::Buffer::new();
    let length = length.format(body.len());
    let kept = || headers.iter().filter(|(name, _)| **name != HeaderName::CONTENT_LENGTH);
    let size = start_line.iter().map(|p| p.len()).sum::<usize>()
        + kept().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>()
        + "\r\nContent-Length: \r\n\r\n".len()
        + length.len()
        + body.len();
    let mut out = Vec::with_capacity(size);
    start_line.iter().for_each(|p| out.extend_from_slice(p.as_bytes()));
    out.extend_from_slice(b"\r\n");
    for (name, value) in kept() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(length.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    debug_assert_eq!(out.len(), size);
    Bytes::from(out)
}
