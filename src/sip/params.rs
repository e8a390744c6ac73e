//! Generic `;name[=value]` header parameters (RFC 3261 §25.1 `generic-param`), order kept.

use std::fmt;

use super::method::{alphanumeric_and, is_made_of, ByteClass};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, Option<String>)>);

impl Params {
    /// `Some(None)` for a flag parameter, `Some(Some(v))` for a valued one; names are case-insensitive.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }

    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self.0.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(entry) => entry.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }
}

impl Params {
    /// `;name[=value]` for each, at the end of `out` (what Display prints, without the formatting machinery).
    pub fn push_to(&self, out: &mut String) {
        for (name, value) in &self.0 {
            out.push(';');
            out.push_str(name);
            if let Some(v) = value {
                out.push('=');
                out.push_str(v);
            }
        }
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

/// Token characters, and `[`, `]` and `:` for IPv6 references in `received` and `maddr`.
const PARAM: ByteClass = alphanumeric_and(b"-.!%*_+`'~[]:");

fn is_token(s: &str) -> bool {
    is_made_of(s.as_bytes(), &PARAM)
}

/// The `name[=value]` items of `;a=b;c` text, borrowed and trimmed; `None` for an item where the text
/// is broken (no `;` before it, or a quote that never closes), and nothing after that. Byte scans: the
/// delimiters are ASCII, so every cut falls on a character boundary, and Via/From/To parameters are read
/// this way several times per message.
fn items(text: &str) -> impl Iterator<Item = Option<(&str, Option<&str>)>> {
    let mut rest = trim_lws(text);
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let item = rest.strip_prefix(';').map(trim_start_lws).and_then(|after| {
            let (item, tail) = after.split_at(param_end(after.as_bytes())?);
            rest = trim_start_lws(tail);
            Some(match item.as_bytes().iter().position(|b| *b == b'=') {
                Some(eq) => (trim_lws(&item[..eq]), Some(trim_lws(&item[eq + 1..]))),
                None => (trim_lws(item), None),
            })
        });
        if item.is_none() {
            rest = "";
        }
        Some(item)
    })
}

/// Linear white space around parameters (RFC 3261 §25.1 `LWS`; folding is undone before this).
fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim_start_lws(text: &str) -> &str {
    let skip = text.as_bytes().iter().take_while(|b| is_lws(**b)).count();
    &text[skip..]
}

fn trim_lws(text: &str) -> &str {
    let text = trim_start_lws(text);
    let keep = text.len() - text.as_bytes().iter().rev().take_while(|b| is_lws(**b)).count();
    &text[..keep]
}

/// Parses `;a=b;c;d="quoted"`. Returns `None` when a name is not a token or a quote is unbalanced.
pub fn parse_params(text: &str) -> Option<Params> {
    let mut params = Params::default();
    for item in items(text) {
        let (name, value) = item?;
        if !is_token(name) {
            return None;
        }
        if let Some(v) = value {
            let quoted = v.starts_with('"');
            if v.is_empty() || (quoted && (v.len() < 2 || !v.ends_with('"'))) || (!quoted && !is_token(v)) {
                return None;
            }
        }
        params.0.push((name.to_owned(), value.map(str::to_owned)));
    }
    Some(params)
}

/// One parameter of `;a=b;c` text, borrowed and without building a [`Params`]: the accessor for messages
/// the parser already validated (a value comes back as written, quotes included).
pub fn find_param<'a>(text: &'a str, name: &str) -> Option<Option<&'a str>> {
    for item in items(text) {
        let (n, value) = item?;
        if n.eq_ignore_ascii_case(name) {
            return Some(value);
        }
    }
    None
}

/// `;a=b;c` text with the parameters called `name` left out, appended to `out` as `;name[=value]` each;
/// `None` when the text is broken.
pub fn push_params_without(text: &str, name: &str, out: &mut String) -> Option<()> {
    for item in items(text) {
        let (n, value) = item?;
        if n.eq_ignore_ascii_case(name) {
            continue;
        }
        out.push(';');
        out.push_str(n);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    Some(())
}

/// Byte offset where the current parameter ends (the next `;` outside quotes, or the end).
fn param_end(text: &[u8]) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in text.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b';' if !quoted => return Some(i),
            _ => {}
        }
    }
    (!quoted).then_some(text.len())
}
