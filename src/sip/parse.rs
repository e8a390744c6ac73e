//! Bytes → [`Message`] (RFC 3261 §7, §18.3, §25): start line, unfolding of continuation lines, compact
//! names, comma-joined lists, Content-Length against the bytes present, and the checks a message needs before
//! any layer may trust it. A request that fails keeps what is needed to address a 400 (or 505) to it.

use std::borrow::Cow;

use bytes::Bytes;

use super::framing::{content_length_of, head_end, MAX_MESSAGE};
use super::headers::{HeaderName, Headers};
use super::message::{CSeq, Message, Request, Response};
use super::method::{is_digits, is_token, Method};
use super::name_addr::NameAddr;
use super::session_expires::{parse_min_se, SessionExpires};
use super::split_lines;
use super::uri::Uri;
use super::via::Via;

/// More header lines than this and the message is refused before any header is parsed.
pub const MAX_HEADERS: usize = 256;
/// The longest header line (after unfolding) we accept.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// What was wrong, for the log and the Warning header.
    pub reason: String,
    /// The status to answer with when the message was a request we can address (400, 505, 413).
    pub status: u16,
    /// Via, From, To, Call-ID and CSeq of a request, when all could be read: enough for a response.
    pub echo: Option<Headers>,
}

fn fail(reason: impl Into<String>) -> ParseError {
    ParseError { reason: reason.into(), status: 400, echo: None }
}

/// Parses one whole message. On a datagram the body is cut to Content-Length and a shorter body is an
/// error (RFC 3261 §18.3); on a stream the framer already cut the bytes to the message.
pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(ParseError { status: 413, ..fail("message too large") });
    }
    let start = bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let bytes = &bytes[start..];
    let head_len = head_end(bytes).ok_or_else(|| fail("no blank line ends the header section"))?;
    let head = &bytes[..head_len];
    let (start_line, headers) = parse_head(head).map_err(|e| ParseError { echo: lenient_echo(head), ..e })?;
    let body = body_of(bytes, head_len, &headers);

    let start_line = start_line.as_str();
    if let Some(rest) = strip_sip(start_line) {
        let response = parse_status_line(rest, headers, body?)?;
        check_common(&response.headers, None)?;
        return Ok(Message::Response(response));
    }
    // From here on a failure keeps the echo headers, so that the 400 (or 505) can be addressed.
    let (method, uri, body) = match (parse_request_line(start_line), body) {
        (Ok((method, uri)), Ok(body)) => (method, uri, body),
        (Err(e), _) | (Ok(_), Err(e)) => return Err(ParseError { echo: echo_headers(&headers), ..e }),
    };
    let request = Request { method, uri, headers, body };
    check_request(&request).map_err(|e| ParseError { echo: echo_headers(&request.headers), ..e })?;
    Ok(Message::Request(request))
}

/// The start line and the headers of a head section, in one pass over its lines: a line is copied
/// only when continuation lines have to be joined to it (RFC 3261 §7.3.1: LWS folding).
fn parse_head(head: &[u8]) -> Result<(String, Headers), ParseError> {
    // The grammar has NUL only as a quoted-pair (`\` NUL, RFC 4475 §3.1.1.2).
    if head.contains(&0) && (head.first() == Some(&0) || head.windows(2).any(|w| w[1] == 0 && w[0] != b'\\'))
    {
        return Err(fail("NUL byte in the header section"));
    }
    let head = std::str::from_utf8(head).map_err(|_| fail("header section is not UTF-8"))?;
    let mut lines =
        split_lines(head).map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.is_empty()).peekable();
    let start_line = lines.next().ok_or_else(|| fail("empty message"))?;
    check_line_length(start_line)?;
    if lines.peek().is_some_and(|l| is_continuation(l)) {
        return Err(fail("continuation line without a header to continue"));
    }
    let mut headers = Headers::with_capacity(16);
    let mut count = 0;
    while let Some(first) = lines.next() {
        count += 1;
        if count > MAX_HEADERS {
            return Err(fail(format!("more than {MAX_HEADERS} header lines")));
        }
        let mut line = Cow::Borrowed(first);
        while let Some(more) = lines.next_if(|l| is_continuation(l)) {
            let joined = line.to_mut();
            joined.push(' ');
            joined.push_str(more.trim_start());
            check_line_length(joined)?;
        }
        check_line_length(&line)?;
        let (name, value) = split_header(&line)?;
        headers.push_raw(HeaderName::new(name), value);
    }
    Ok((start_line.to_owned(), headers))
}

fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

fn check_line_length(line: &str) -> Result<(), ParseError> {
    match line.len() > MAX_LINE {
        true => Err(fail(format!("header line longer than {MAX_LINE} bytes"))),
        false => Ok(()),
    }
}

/// For a request whose head broke the grammar somewhere: the five headers a response needs, read
/// line by line from whatever lines are clean, so that the 400 can still be addressed.
fn lenient_echo(head: &[u8]) -> Option<Headers> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next()?;
    if strip_sip(start).is_some() || start.contains('\0') {
        return None;
    }
    let mut headers = Headers::new();
    for line in lines {
        if line.starts_with([' ', '\t']) || line.contains(['\0', '\u{fffd}']) || line.len() > MAX_LINE {
            continue;
        }
        if let Ok((name, value)) = split_header(line) {
            headers.push_raw(HeaderName::new(name), value);
        }
    }
    echo_headers(&headers)
}

/// `name HCOLON value` with HCOLON = *(SP / HTAB) ":" SWS.
fn split_header(line: &str) -> Result<(&str, &str), ParseError> {
    let colon = line.bytes().position(|b| b == b':');
    let colon = colon.ok_or_else(|| fail(format!("header line without a colon: {line:.40}")))?;
    let name = line[..colon].trim_end_matches(is_wsp);
    if !is_token(name) {
        return Err(fail(format!("invalid header name `{name:.40}`")));
    }
    Ok((name, line[colon + 1..].trim_matches(is_wsp)))
}

/// SP / HTAB (RFC 3261 §25.1 `WSP`), and a stray CR.
fn is_wsp(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

fn body_of(bytes: &[u8], head_len: usize, headers: &Headers) -> Result<Bytes, ParseError> {
    let present = &bytes[head_len..];
    match content_length(headers)? {
        Some(len) if len > present.len() => {
            Err(fail(format!("Content-Length {len} exceeds the {} body bytes present", present.len())))
        }
        Some(len) => Ok(Bytes::copy_from_slice(&present[..len])),
        None => Ok(Bytes::copy_from_slice(present)),
    }
}

/// Content-Length (long or compact form), `None` when absent; several must agree (RFC 3261 §20.14).
fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    content_length_of(headers.get_all(&HeaderName::CONTENT_LENGTH).map(str::as_bytes))
        .map_err(|e| fail(e.to_string()))
}

fn parse_status_line(rest: &str, headers: Headers, body: Bytes) -> Result<Response, ParseError> {
    let mut parts = rest.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().ok_or_else(|| fail("status line without a code"))?;
    if version != "2.0" {
        return Err(fail(format!("unsupported version SIP/{version:.10}")));
    }
    let status: u16 = (code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
        .filter(|s| (100..=699).contains(s))
        .ok_or_else(|| fail(format!("bad status code `{code:.10}`")))?;
    let reason = parts.next().unwrap_or("").to_owned();
    Ok(Response { status, reason, headers, body })
}

fn parse_request_line(line: &str) -> Result<(Method, Uri), ParseError> {
    // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single spaces, no leading whitespace.
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts[..] else {
        return Err(fail("request line is not `METHOD SP URI SP SIP/2.0`"));
    };
    let method = Method::parse(method).ok_or_else(|| fail("method is not a token"))?;
    let uri = Uri::parse(uri).ok_or_else(|| fail(format!("invalid Request-URI `{uri:.60}`")))?;
    match strip_sip(version) {
        Some("2.0") => {}
        Some(v) if v.split_once('.').is_some_and(|(a, b)| is_digits(a) && is_digits(b)) => {
            return Err(ParseError { status: 505, ..fail(format!("SIP version {v} not supported")) });
        }
        _ => return Err(fail(format!("invalid SIP-Version `{version:.20}`"))),
    }
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
    if uri.as_sip().is_some_and(|u| u.has_headers()) {
        return Err(fail("escaped headers in the Request-URI"));
    }
    Ok((method, uri))
}

/// `text` after a leading `SIP/` in any case: RFC 3261 §7.1, "The SIP-Version string is case-insensitive".
fn strip_sip(text: &str) -> Option<&str> {
    text.get(..4).filter(|p| p.eq_ignore_ascii_case("SIP/")).map(|_| &text[4..])
}

/// Headers that must appear once at most (RFC 3261 §7.3.1: only list headers may repeat); the first four
/// must also be present (with Via, §8.1.1).
const SINGLE: [HeaderName; 7] = [
    HeaderName::FROM,
    HeaderName::TO,
    HeaderName::CALL_ID,
    HeaderName::CSEQ,
    HeaderName::MAX_FORWARDS,
    HeaderName::CONTENT_TYPE,
    HeaderName::SESSION_EXPIRES,
];

/// The checks shared by requests and responses: mandatory headers present once and well formed.
fn check_common(headers: &Headers, method: Option<&Method>) -> Result<(), ParseError> {
    // One pass over the headers counts the single ones and sees a Via.
    let mut seen = [false; SINGLE.len()];
    let mut via = false;
    for (name, _) in headers.iter() {
        via |= *name == HeaderName::VIA;
        if let Some(i) = SINGLE.iter().position(|single| single == name) {
            if std::mem::replace(&mut seen[i], true) {
                return Err(fail(format!("more than one {name} header")));
            }
        }
    }
    let missing = match via {
        false => Some(HeaderName::VIA),
        true => SINGLE[..4].iter().zip(seen).find(|(_, seen)| !seen).map(|(name, _)| name.clone()),
    };
    if let Some(name) = missing {
        return Err(fail(format!("missing {name} header")));
    }
    if let Some(bad) = headers.get_all(&HeaderName::VIA).find(|v| !Via::is_valid(v)) {
        return Err(fail(format!("malformed Via `{bad:.60}`")));
    }
    for name in [HeaderName::FROM, HeaderName::TO] {
        if !NameAddr::is_valid(headers.get(&name).unwrap_or_default()) {
            return Err(fail(format!("malformed {name} header")));
        }
    }
    let call_id = headers.get(&HeaderName::CALL_ID).unwrap_or_default();
    if call_id.is_empty() || call_id.contains(char::is_whitespace) {
        return Err(fail("malformed Call-ID"));
    }
    let cseq = CSeq::parse(headers.get(&HeaderName::CSEQ).unwrap_or_default())
        .ok_or_else(|| fail("malformed CSeq"))?;
    if method.is_some_and(|m| *m != cseq.method) {
        return Err(fail("CSeq method does not match the request method"));
    }
    Ok(())
}

fn check_request(request: &Request) -> Result<(), ParseError> {
    let headers = &request.headers;
    check_common(headers, Some(&request.method))?;
    if let Some(mf) = headers.get(&HeaderName::MAX_FORWARDS) {
        let significant = mf.trim_start_matches('0');
        if !is_digits(mf) || significant.len() > 3 || significant.parse::<u16>().is_ok_and(|v| v > 255) {
            return Err(fail(format!("malformed Max-Forwards `{mf:.20}`")));
        }
    }
    // RFC 4028 checklist: a malformed timer header on a request is a 400.
    if let Some(se) = headers.get(&HeaderName::SESSION_EXPIRES) {
        SessionExpires::parse(se).map_err(|e| fail(format!("malformed Session-Expires: {e}")))?;
    }
    for min_se in headers.get_all(&HeaderName::MIN_SE) {
        parse_min_se(min_se).map_err(|e| fail(format!("malformed Min-SE: {e}")))?;
    }
    if let Some(bad) = headers.get_all(&HeaderName::CONTACT).find(|c| *c != "*" && !NameAddr::is_valid(c)) {
        return Err(fail(format!("malformed Contact `{bad:.60}`")));
    }
    if headers.get(&HeaderName::DATE).is_some_and(|d| !is_sip_date(d)) {
        return Err(fail("Date is not an RFC 1123 date in GMT"));
    }
    if !request.body.is_empty() && !headers.contains(&HeaderName::CONTENT_TYPE) {
        return Err(fail("body without Content-Type"));
    }
    Ok(())
}

/// The headers a response must echo (RFC 3261 §8.2.6.2), if each is present and readable.
fn echo_headers(headers: &Headers) -> Option<Headers> {
    let mut echo = Headers::new();
    for name in [HeaderName::VIA, HeaderName::FROM, HeaderName::TO, HeaderName::CALL_ID, HeaderName::CSEQ] {
        let mut any = false;
        for value in headers.get_all(&name) {
            // A Via of another version and a CSeq out of range are still copied into the 505 or 400
            // that refuses them (RFC 4475 §3.1.2.16, §3.1.2.4).
            let readable = if name == HeaderName::VIA {
                Via::parse_any_version(value).is_some()
            } else if name == HeaderName::CSEQ {
                let mut words = value.split_whitespace();
                words.next().is_some_and(is_digits)
                    && words.next().is_some_and(is_token)
                    && words.next().is_none()
            } else {
                true
            };
            if !readable {
                return None;
            }
            echo.push(name.clone(), value);
            any = true;
        }
        if !any || (name != HeaderName::VIA && headers.count(&name) != 1) {
            return None;
        }
    }
    Some(echo)
}

/// RFC 3261 §20.17 `rfc1123-date`: `Sat, 13 Nov 2010 23:29:00 GMT`; GMT is the only zone (RFC 4475 §3.1.2.12).
fn is_sip_date(value: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: &str = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec";
    let parts: Vec<&str> = value.split(' ').collect();
    let [day, date, month, year, time, "GMT"] = parts[..] else { return false };
    let clock: Vec<&str> = time.split(':').collect();
    DAYS.contains(&day)
        && date.len() == 2
        && is_digits(date)
        && month.len() == 3
        && MONTHS.split(' ').any(|m| m == month)
        && year.len() == 4
        && is_digits(year)
        && clock.len() == 3
        && clock.iter().all(|c| c.len() == 2 && is_digits(c))
}
