//! Building responses from requests (RFC 3261 §8.2.6) and the small pieces every builder needs.

use super::headers::{HeaderName, Headers};
use super::message::{Request, Response, ECHOED};
use super::method::Method;
use super::uri::HostPort;

/// The methods this daemon accepts, for Allow (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK, NOTIFY, REFER, MESSAGE";

/// Option tags we support (RFC 4028 §3: `timer`).
pub const SUPPORTED: &str = "timer";

/// A response to `request`: Via, From, To, Call-ID and CSeq copied, a To tag added on anything but 100
/// when the request had none (§8.2.6.2).
pub fn response_to(request: &Request, status: u16, to_tag: Option<&str>) -> Response {
    response_from_echo(&request.headers, status, to_tag)
}

/// A response built from the five echoed headers of a request (also those of one that failed to parse).
pub fn response_from_echo(echo: &Headers, status: u16, to_tag: Option<&str>) -> Response {
    let mut response = Response::new(status);
    for name in ECHOED {
        for value in echo.get_all(&name) {
            if name == HeaderName::TO && status > 100 {
                if let Some(tag) = to_tag.filter(|_| !has_tag(value)) {
                    response.headers.push(name.clone(), super::concat(&[value, ";tag=", tag]));
                    continue;
                }
            }
            response.headers.push(name.clone(), value);
        }
    }
    response
}

/// Whether a From/To value carries a tag parameter, read without a full parse.
fn has_tag(value: &str) -> bool {
    let params = match value.rfind('>') {
        Some(close) => &value[close..],
        None => value,
    };
    params.split(';').skip(1).any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// A Warning header value (RFC 3261 §20.43) with code 399 (miscellaneous).
pub fn warning(agent: &str, text: &str) -> String {
    let clean: String = text.chars().map(|c| if c == '"' || c.is_control() { '\'' } else { c }).collect();
    format!("399 {agent} \"{clean}\"")
}

/// Whether a method is one we implement (anything else known gets 405, unknown ones 501).
pub fn is_allowed(method: &Method) -> bool {
    ALLOW.split(", ").any(|m| m == method.as_str())
}

/// Our Via for a request we send: `SIP/2.0/<transport> <local>;branch=<branch>;rport` (RFC 3261 §8.1.1.7,
/// RFC 3581 §3), written in place; `branch` writes the branch (every request we send has one).
pub fn our_via(transport: &str, local: &HostPort, branch: impl FnOnce(&mut String)) -> String {
    let mut via = String::with_capacity(96);
    via.push_str("SIP/2.0/");
    via.push_str(transport);
    via.push(' ');
    local.push_to(&mut via);
    via.push_str(";branch=");
    branch(&mut via);
    via.push_str(";rport");
    via
}

/// Our Contact (RFC 3261 §8.1.1.8): `<sip:<local>>`, with `;transport=` when it is not UDP.
pub fn our_contact(transport: &str, local: &HostPort) -> String {
    let mut contact = String::with_capacity(48);
    contact.push_str("<sip:");
    local.push_to(&mut contact);
    if transport != "UDP" {
        contact.push_str(";transport=");
        contact.push_str(&transport.to_ascii_lowercase());
    }
    contact.push('>');
    contact
}
