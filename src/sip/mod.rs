//! The words tier: SIP messages as bytes and as values (RFC 3261 §7, §18, §19, §20, §25; RFC 4028 §4–§5).
//!
//! Nothing outside this folder names the parsing engine. The engine is ezk-sip-types (=0.6.5), used for
//! URI and host:port grammar (IPv6 references included); framing, unfolding, compact forms, list
//! splitting, start lines, methods (extension methods too), reason phrases and the RFC 4028 headers are
//! ours. rsip 0.4 was the first choice and was measured short of the bar: its `Method` is a closed enum
//! (no extension method, so no 501), its `Host` prints IPv6 without brackets and accepts any text as a
//! domain (so the invalid URIs of RFC 4475 §3.1.2 pass), and it frames neither by Content-Length nor
//! keeps binary bodies; closing all of that would have meant rewriting its URI and request-line parsers.

pub mod auth;
pub mod build;
pub mod framing;
pub mod headers;
pub mod message;
pub mod method;
pub mod name_addr;
pub mod params;
pub mod parse;
pub mod reason;
pub mod sdp;
pub mod session_expires;
pub mod uri;
pub mod via;

#[cfg(test)]
mod tests;

pub use headers::{HeaderName, Headers};
pub use message::{concat, CSeq, Message, Request, Response, SipHeaders};
pub use method::Method;
pub use name_addr::NameAddr;
pub use parse::{parse, ParseError};
pub use session_expires::{Refresher, SessionExpires};
pub use uri::{Host, HostPort, SipUri, Uri};
pub use via::Via;

/// Byte offset of the first `byte` (an ASCII delimiter, so the offset is a character boundary) in `text`.
/// The delimiters of header values (`<`, `>`, `;`, `:`) are searched several times per message; `memchr`
/// does it in fewer instructions than `str::find(char)`.
pub(crate) fn find_byte(text: &str, byte: u8) -> Option<usize> {
    memchr::memchr(byte, text.as_bytes())
}

/// `text.split('\n')` with the same pieces, found by [`find_byte`].
pub(crate) fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        Some(match find_byte(current, b'\n') {
            Some(end) => {
                rest = Some(&current[end + 1..]);
                &current[..end]
            }
            None => {
                rest = None;
                current
            }
        })
    })
}
