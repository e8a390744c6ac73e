//! `name-addr` / `addr-spec` values with header parameters: From, To, Contact, Route, Record-Route
//! (RFC 3261 §20.10, §25.1). Without angle brackets every `;param` belongs to the header, not the URI.

use std::fmt;

use super::params::{parse_params, Params};
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
        let (display, uri_text, rest) = match text.find('<') {
            Some(open) => {
                let display = text[..open].trim();
                if display.starts_with('"') && !(display.len() >= 2 && display.ends_with('"')) {
                    return None;
                }
                if !display.starts_with('"') && display.contains('"') {
                    return None;
                }
                let close = text[open..].find('>')? + open;
                let display = (!display.is_empty()).then(|| display.to_owned());
                (display, &text[open + 1..close], &text[close + 1..])
            }
            None => {
                if text.contains('>') || text.contains('"') {
                    return None;
                }
                match text.find(';') {
                    Some(semi) => (None, &text[..semi], &text[semi..]),
                    None => (None, text, ""),
                }
            }
        };
        let uri = Uri::parse(uri_text)?;
        let params = parse_params(rest)?;
        Some(NameAddr { display, uri, params })
    }

    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.params.set("tag", Some(tag));
        self
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(display) = &self.display {
            write!(f, "{display} ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}
