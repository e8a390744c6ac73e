//! Header names (long and compact forms, RFC 3261 §7.3.3, RFC 4028 §4 `x`) and the ordered header list.
//!
//! Values are kept as text exactly as received (after unfolding); typed views live in their own files.

use std::fmt;

/// A header name, normalised: compact forms are expanded and known names get their canonical spelling.
/// Other names keep their spelling but compare case-insensitively (RFC 3261 §7.3.1).
#[derive(Debug, Clone, Eq)]
pub struct HeaderName(Name);

/// A known name is its index in [`KNOWN`], so comparing two known names is comparing two bytes (every
/// header lookup on the per-message path does it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Known(u8),
    Other(Box<str>),
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (&self.0, &other.0) {
            (Name::Known(a), Name::Known(b)) => a == b,
            (Name::Other(a), Name::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }
}

impl std::hash::Hash for HeaderName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().bytes().for_each(|b| state.write_u8(b.to_ascii_lowercase()));
    }
}

/// Canonical names, with their compact form where one exists (RFC 3261 §20, RFC 3262, RFC 3515, RFC 4028).
pub(super) const KNOWN: &[(&str, Option<char>)] = &[
    ("Via", Some('v')),
    ("From", Some('f')),
    ("To", Some('t')),
    ("Call-ID", Some('i')),
    ("CSeq", None),
    ("Contact", Some('m')),
    ("Content-Length", Some('l')),
    ("Content-Type", Some('c')),
    ("Content-Encoding", Some('e')),
    ("Supported", Some('k')),
    ("Subject", Some('s')),
    ("Session-Expires", Some('x')),
    ("Refer-To", Some('r')),
    ("Referred-By", Some('b')),
    ("Event", Some('o')),
    ("Allow-Events", Some('u')),
    ("Min-SE", None),
    ("Max-Forwards", None),
    ("Route", None),
    ("Record-Route", None),
    ("Require", None),
    ("Proxy-Require", None),
    ("Unsupported", None),
    ("Allow", None),
    ("Accept", None),
    ("Retry-After", None),
    ("Reason", None),
    ("Warning", None),
    ("User-Agent", None),
    ("Server", None),
    ("Expires", None),
    ("Date", None),
    ("WWW-Authenticate", None),
    ("Proxy-Authenticate", None),
    ("Authorization", None),
    ("Proxy-Authorization", None),
];

/// The longest known name, in bytes (`Proxy-Authorization`).
const LONGEST: usize = 19;
/// The most known names of one length (seven letters: Call-ID, Contact, Subject, Require, Warning, Expires).
const MOST_OF_A_LENGTH: usize = 6;

/// Indices into [`KNOWN`] by name length: where [`HeaderName::new`] looks.
static BY_LENGTH: [Bucket; LONGEST + 1] = by_length();

/// The indices of the known names of one length.
#[derive(Clone, Copy)]
struct Bucket {
    len: u8,
    items: [u8; MOST_OF_A_LENGTH],
}

impl Bucket {
    fn iter(&self) -> std::slice::Iter<'_, u8> {
        self.items[..usize::from(self.len)].iter()
    }
}

const fn by_length() -> [Bucket; LONGEST + 1] {
    let mut table = [Bucket { len: 0, items: [0; MOST_OF_A_LENGTH] }; LONGEST + 1];
    let mut i = 0;
    while i < KNOWN.len() {
        let bucket = &mut table[KNOWN[i].0.len()];
        bucket.items[bucket.len as usize] = i as u8;
        bucket.len += 1;
        i += 1;
    }
    table
}

/// The index in [`KNOWN`] of `name` (spelled exactly as there); a name not in the table fails to compile.
/// (It gives the index, not the name, so that `&HeaderName::VIA` is still promoted to a static.)
const fn known(name: &str) -> u8 {
    let mut i = 0;
    while i < KNOWN.len() {
        let candidate = KNOWN[i].0.as_bytes();
        let wanted = name.as_bytes();
        if candidate.len() == wanted.len() {
            let mut j = 0;
            while j < wanted.len() && candidate[j] == wanted[j] {
                j += 1;
            }
            if j == wanted.len() {
                return i as u8;
            }
        }
        i += 1;
    }
    panic!("not a known header name")
}

impl HeaderName {
    pub const VIA: HeaderName = HeaderName(Name::Known(known("Via")));
    pub const FROM: HeaderName = HeaderName(Name::Known(known("From")));
    pub const TO: HeaderName = HeaderName(Name::Known(known("To")));
    pub const CALL_ID: HeaderName = HeaderName(Name::Known(known("Call-ID")));
    pub const CSEQ: HeaderName = HeaderName(Name::Known(known("CSeq")));
    pub const CONTACT: HeaderName = HeaderName(Name::Known(known("Contact")));
    pub const CONTENT_LENGTH: HeaderName = HeaderName(Name::Known(known("Content-Length")));
    pub const CONTENT_TYPE: HeaderName = HeaderName(Name::Known(known("Content-Type")));
    pub const SUPPORTED: HeaderName = HeaderName(Name::Known(known("Supported")));
    pub const SESSION_EXPIRES: HeaderName = HeaderName(Name::Known(known("Session-Expires")));
    pub const MIN_SE: HeaderName = HeaderName(Name::Known(known("Min-SE")));
    pub const MAX_FORWARDS: HeaderName = HeaderName(Name::Known(known("Max-Forwards")));
    pub const DATE: HeaderName = HeaderName(Name::Known(known("Date")));
    pub const ROUTE: HeaderName = HeaderName(Name::Known(known("Route")));
    pub const RECORD_ROUTE: HeaderName = HeaderName(Name::Known(known("Record-Route")));
    pub const REQUIRE: HeaderName = HeaderName(Name::Known(known("Require")));
    pub const PROXY_REQUIRE: HeaderName = HeaderName(Name::Known(known("Proxy-Require")));
    pub const UNSUPPORTED: HeaderName = HeaderName(Name::Known(known("Unsupported")));
    pub const ALLOW: HeaderName = HeaderName(Name::Known(known("Allow")));
    pub const ACCEPT: HeaderName = HeaderName(Name::Known(known("Accept")));
    pub const RETRY_AFTER: HeaderName = HeaderName(Name::Known(known("Retry-After")));
    pub const REASON: HeaderName = HeaderName(Name::Known(known("Reason")));
    pub const WARNING: HeaderName = HeaderName(Name::Known(known("Warning")));
    pub const SERVER: HeaderName = HeaderName(Name::Known(known("Server")));
    pub const USER_AGENT: HeaderName = HeaderName(Name::Known(known("User-Agent")));
    pub const WWW_AUTHENTICATE: HeaderName = HeaderName(Name::Known(known("WWW-Authenticate")));
    pub const PROXY_AUTHENTICATE: HeaderName = HeaderName(Name::Known(known("Proxy-Authenticate")));
    pub const AUTHORIZATION: HeaderName = HeaderName(Name::Known(known("Authorization")));
    pub const PROXY_AUTHORIZATION: HeaderName = HeaderName(Name::Known(known("Proxy-Authorization")));

    /// Normalises a name as it appears on the wire: case-insensitive, compact forms expanded.
    pub fn new(raw: &str) -> HeaderName {
        let found = if let [c] = raw.as_bytes() {
            let c = char::from(c.to_ascii_lowercase());
            KNOWN.iter().position(|(_, compact)| *compact == Some(c)).map(|i| i as u8)
        } else {
            // Only the known names of this length are compared (six at most).
            BY_LENGTH.get(raw.len()).and_then(|same| {
                same.iter().copied().find(|&i| KNOWN[usize::from(i)].0.eq_ignore_ascii_case(raw))
            })
        };
        match found {
            Some(index) => HeaderName(Name::Known(index)),
            None => HeaderName(Name::Other(raw.into())),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Known(index) => KNOWN[usize::from(*index)].0,
            Name::Other(s) => s,
        }
    }

    /// Compares with a name in any spelling (`"x"`, `"session-expires"`).
    pub fn is(&self, raw: &str) -> bool {
        *self == HeaderName::new(raw)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names whose values may be joined by commas on one line (RFC 3261 §7.3.1) and that we split so
/// that each entry is one value: Via, Route, Record-Route, Contact, and the option-tag lists.
fn is_list(name: &HeaderName) -> bool {
    [
        HeaderName::VIA,
        HeaderName::ROUTE,
        HeaderName::RECORD_ROUTE,
        HeaderName::CONTACT,
        HeaderName::SUPPORTED,
        HeaderName::REQUIRE,
        HeaderName::PROXY_REQUIRE,
        HeaderName::UNSUPPORTED,
        HeaderName::ALLOW,
    ]
    .contains(name)
}

/// The ordered header list of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<(HeaderName, String)>,
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    pub fn with_capacity(capacity: usize) -> Headers {
        Headers { list: Vec::with_capacity(capacity) }
    }

    /// Adds a header as received; list headers joined by commas become one entry per element.
    pub fn push_raw(&mut self, name: HeaderName, value: &str) {
        if is_list(&name) && value.contains(',') {
            for part in split_list(value) {
                self.list.push((name.clone(), part.to_owned()));
            }
        } else {
            self.list.push((name, value.trim_matches([' ', '\t']).to_owned()));
        }
    }

    /// Appends one header value (no splitting).
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.push((name, value.into()));
    }

    /// Inserts a header value before every other one of the same list (a new top Via, say).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<String>) {
        self.list.insert(0, (name, value.into()));
    }

    /// Replaces every value of `name` with one value.
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.list.iter().position(|(n, _)| *n == name) {
            Some(pos) => {
                self.list[pos].1 = value;
                let mut seen = false;
                self.list.retain(|(n, _)| {
                    if *n != name {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.list.push((name, value)),
        }
    }

    /// Replaces the first value of `name` (the top Via), keeping its position.
    pub fn replace_first(&mut self, name: &HeaderName, value: impl Into<String>) {
        if let Some(entry) = self.list.iter_mut().find(|(n, _)| n == name) {
            entry.1 = value.into();
        }
    }

    pub fn remove(&mut self, name: &HeaderName) {
        self.list.retain(|(n, _)| n != name);
    }

    /// Keeps only the headers named in `names` (in their order) and gives back the spare capacity.
    pub fn keep_only(&mut self, names: &[HeaderName]) {
        self.list.retain(|(n, _)| names.contains(n));
        self.list.shrink_to_fit();
    }

    /// Removes the first value of `name` (the top Via when a response goes back down).
    pub fn remove_first(&mut self, name: &HeaderName) -> Option<String> {
        let pos = self.list.iter().position(|(n, _)| n == name)?;
        Some(self.list.remove(pos).1)
    }

    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.list.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.list.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn count(&self, name: &HeaderName) -> usize {
        self.get_all(name).count()
    }

    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// Whether an option-tag list (Supported, Require, Allow...) names `token`, case-insensitively.
    pub fn has_token(&self, name: &HeaderName, token: &str) -> bool {
        self.get_all(name).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &str)> {
        self.list.iter().map(|(n, v)| (n, v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Splits a comma-joined header value, leaving commas inside quotes and `<...>` alone.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut angle, mut escaped) = (0, false, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}
