//! SIP methods (RFC 3261 §7.1: case-sensitive tokens), open to extension methods.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Update,
    Info,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    /// An extension method: a valid token we do not know (answered 501, RFC 3261 §8.2.1).
    Other(Box<str>),
}

const NAMED: &[(&str, Method)] = &[
    ("INVITE", Method::Invite),
    ("ACK", Method::Ack),
    ("BYE", Method::Bye),
    ("CANCEL", Method::Cancel),
    ("OPTIONS", Method::Options),
    ("REGISTER", Method::Register),
    ("UPDATE", Method::Update),
    ("INFO", Method::Info),
    ("PRACK", Method::Prack),
    ("SUBSCRIBE", Method::Subscribe),
    ("NOTIFY", Method::Notify),
    ("REFER", Method::Refer),
    ("MESSAGE", Method::Message),
    ("PUBLISH", Method::Publish),
];

/// RFC 3261 §25.1 `token` characters.
pub fn is_token(s: &str) -> bool {
    is_made_of(s.as_bytes(), &TOKEN)
}

/// A byte class as a table: a lookup per byte (header names and most values are checked byte by byte).
pub(crate) type ByteClass = [bool; 256];

/// The class of ASCII letters, digits and `extra`.
pub(crate) const fn alphanumeric_and(extra: &[u8]) -> ByteClass {
    let mut class = [false; 256];
    let mut b = 0;
    while b < 256 {
        class[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        class[extra[i] as usize] = true;
        i += 1;
    }
    class
}

const TOKEN: ByteClass = alphanumeric_and(b"-.!%*_+`'~");

/// Non-empty, and every byte in `class`.
pub(crate) fn is_made_of(s: &[u8], class: &ByteClass) -> bool {
    !s.is_empty() && s.iter().all(|b| class[usize::from(*b)])
}

/// `1*DIGIT`.
pub fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl Method {
    /// Parses a method token; `None` when it is not a token at all.
    pub fn parse(text: &str) -> Option<Method> {
        if !is_token(text) {
            return None;
        }
        Some(match NAMED.iter().find(|(name, _)| *name == text) {
            Some((_, method)) => method.clone(),
            None => Method::Other(text.into()),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Other(name) => name,
            known => NAMED.iter().find(|(_, m)| m == known).map(|(n, _)| *n).unwrap_or(""),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
