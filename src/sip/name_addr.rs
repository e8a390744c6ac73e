//! `name-addr` / `addr-spec` values with header parameters: From, To, Contact, Route, Record-Route
//! (RFC 3261 §20.10, §25.1). Without angle brackets every `;param` belongs to the header, not the URI.

use std::borrow::Cow;
use std::fmt;

use super::find_byte;
use super::method::is_token;
use super::params::{find_param, parse_params, push_params_without, Params};
use super::uri::Uri;

#[derive(Debug, Clone, PartialEq)]
pub struct NameAddr {
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn parse(text: &str) -> Option<NameAddr> {
        let text = text.trim();
        let (display, uri_text, rest) = match open_angle(text)? {
            Some(open) => {
                let display = text[..open].trim();
                let close = find_byte(&text[open..], b'>')? + open;
                let uri_text = &text[open + 1..close];
                // LAQUOT addr-spec RAQUOT: no whitespace inside the brackets (RFC 4475 §3.1.2.14).
                if !is_display_name(display) || uri_text.trim() != uri_text {
                    return None;
                }
                let display = (!display.is_empty()).then(|| display.to_owned());
                (display, uri_text, &text[close + 1..])
            }
            None => {
                let (uri_text, rest) = text.split_at(find_byte(text, b';').unwrap_or(text.len()));
                // §20.10: a URI with `?`, `,` or `;` must be in brackets (RFC 4475 §3.1.2.13).
                if uri_text.contains(['>', '"', '?', ',']) {
                    return None;
                }
                (None, uri_text, rest)
            }
        };
        let uri = Uri::parse(uri_text)?;
        let params = parse_params(rest)?;
        Some(NameAddr { display, uri, params })
    }

    /// Whether [`NameAddr::parse`] accepts `text`, without building the value when it has the plain shape
    /// of nearly every From/To/Contact (`["Name" ]<sip:user@host:port;params>;tag=x`, or the same without
    /// brackets and parameters inside): the door checks every message's, and the URI grammar is the
    /// parser's most expensive part. Anything else goes through the full parse.
    pub fn is_valid(text: &str) -> bool {
        is_plain(text.trim()) || NameAddr::parse(text).is_some()
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.params.set("tag", Some(tag));
        self
    }
}

/// The plain shape [`NameAddr::is_valid`] accepts without the full parse: an optional display name (a
/// quoted string without escapes, or space-separated tokens), then `<` plain SIP URI `>`; or a plain SIP
/// URI without parameters; then plain header parameters. A strict subset of [`NameAddr::parse`].
fn is_plain(text: &str) -> bool {
    let Some((uri, params)) = plain_split(text) else { return false };
    if uri.start > 0 {
        let display = text[..uri.start - 1].trim_end();
        let display_ok = match display.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"').is_some_and(|inner| {
                inner.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
            }),
            None => display.is_empty() || display.split(' ').all(is_token),
        };
        if !display_ok {
            return false;
        }
    }
    super::uri::is_plain_sip_uri(&text[uri]) && super::uri::plain_params(&text[params..])
}

/// The URI of a From/To/Contact value, as text (what a dialog keeps as its remote target). A value of the
/// plain shape is cut where its brackets are, without building a URI; anything else is parsed. `None`
/// when the value does not parse.
pub fn uri_text(text: &str) -> Option<Cow<'_, str>> {
    let text = text.trim();
    if !is_plain(text) {
        return NameAddr::parse(text).map(|value| Cow::Owned(value.uri.as_str().to_owned()));
    }
    let (uri, _) = plain_split(text)?;
    Some(Cow::Borrowed(&text[uri]))
}

/// Where the URI of a plain value lies, and where its header parameters start: inside the brackets and
/// after the `>`, or (no brackets) up to the first `;` and from there.
fn plain_split(text: &str) -> Option<(std::ops::Range<usize>, usize)> {
    Some(match find_byte(text, b'<') {
        Some(open) => {
            let close = find_byte(&text[open..], b'>')? + open;
            (open + 1..close, close + 1)
        }
        None => {
            let end = find_byte(text, b';').unwrap_or(text.len());
            (0..end, end)
        }
    })
}

/// A From/To value without one header parameter (the tag, when a dialog keeps its URIs or leg B's
/// INVITE takes A's From and To). A value of the plain shape keeps its text up to the end of the URI and
/// the other parameters as they were; anything else is parsed and written again. `None` when the value
/// does not parse.
pub fn without_header_param(text: &str, name: &str) -> Option<String> {
    let text = text.trim();
    let mut out = String::with_capacity(text.len() + 24);
    if !is_plain(text) {
        let mut value = NameAddr::parse(text)?;
        value.params.remove(name);
        value.push_to(&mut out);
        return Some(out);
    }
    let (_, params) = plain_split(text)?;
    out.push_str(&text[..params]);
    push_params_without(&text[params..], name, &mut out)?;
    Some(out)
}

#[cfg(test)]
pub(crate) fn is_plain_for_tests(text: &str) -> bool {
    is_plain(text.trim())
}

/// A header parameter (such as `tag`) of a From/To/Contact value without parsing its URI: after the `>`
/// of the name-addr form, or after the URI of the addr-spec form (§20.10). For validated messages.
pub fn header_param<'a>(text: &'a str, name: &str) -> Option<Option<&'a str>> {
    let text = text.trim();
    let tail = match open_angle(text)? {
        Some(open) => &text[find_byte(&text[open..], b'>')? + open + 1..],
        None => &text[find_byte(text, b';')?..],
    };
    find_param(tail, name)
}

/// Byte offset of the `<` that opens the URI (outside the quoted display name); `Ok(None)` without one,
/// `None` for an unterminated quote.
fn open_angle(text: &str) -> Option<Option<usize>> {
    let mut quoted_until = 0;
    if text.starts_with('"') {
        quoted_until = quoted_string_len(text)?;
    }
    Some(find_byte(&text[quoted_until..], b'<').map(|i| i + quoted_until))
}

/// The length of the `"..."` quoted string at the start of `text` (RFC 3261 §25.1, quoted-pair aware).
fn quoted_string_len(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// `display-name = *(token LWS) / quoted-string` (RFC 4475 §3.1.2.15: no commas outside quotes).
fn is_display_name(display: &str) -> bool {
    if display.starts_with('"') {
        quoted_string_len(display) == Some(display.len())
    } else {
        display.split_whitespace().all(is_token)
    }
}

impl NameAddr {
    /// `[display ]<uri>;params` at the end of `out`: what Display prints, without the formatting machinery
    /// (a dialog writes its From and To this way when it is formed).
    pub fn push_to(&self, out: &mut String) {
        if let Some(display) = &self.display {
            out.push_str(display);
            out.push(' ');
        }
        out.push('<');
        out.push_str(self.uri.as_str());
        out.push('>');
        self.params.push_to(out);
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.push_to(&mut text);
        f.write_str(&text)
    }
}
