//! Answers to requests that belong to no call (RFC 3261 §8.2, §11, §12.2.2): OPTIONS pings, requests for
//! dialogs we do not have, methods and extensions we do not support, URIs we cannot serve.

use crate::sip::build::{is_allowed, response_to, warning, ALLOW, SUPPORTED};
use crate::sip::{HeaderName, Method, Request, Response, SipHeaders, Uri};

use super::ids::stateless_tag;

/// The agent name in Server and Warning headers.
pub const AGENT: &str = "sst-b2bua";

/// A To tag for a stateless answer: the same for every retransmission of the request.
pub fn tag_for(request: &Request) -> String {
    let from_tag = request.from_tag().unwrap_or_default().to_owned();
    let branch = request.branch().unwrap_or_default();
    stateless_tag(&[request.call_id().unwrap_or_default(), &from_tag, &branch])
}

/// A final response to `request` with a stateless To tag and our Server header.
pub fn reply(request: &Request, status: u16) -> Response {
    let tag = tag_for(request);
    let mut response = response_to(request, status, Some(&tag));
    response.headers.push(HeaderName::SERVER, AGENT);
    response
}

/// 400 (or 505/413) for a request that failed to parse, addressed with the headers it echoed.
pub fn reject_unparsable(echo: &crate::sip::Headers, status: u16, reason: &str) -> Response {
    let mut response = crate::sip::build::response_from_echo(echo, status, Some(&stateless_tag(&[reason])));
    response.headers.push(HeaderName::WARNING, warning(AGENT, reason));
    response.headers.push(HeaderName::SERVER, AGENT);
    response
}

/// The checks every request to us passes before any method-specific handling: Request-URI scheme
/// (§8.2.2.1 → 416), method (§8.2.1 → 405/501), required extensions (§8.2.2.3 → 420).
pub fn precheck(request: &Request) -> Option<Response> {
    if request.method == Method::Ack {
        return None; // never answered (§17.2.3 absorbs it or it belongs to a dialog)
    }
    if let Uri::Other { .. } = request.uri {
        return Some(reply(request, 416));
    }
    if !is_allowed(&request.method) {
        let status = if matches!(request.method, Method::Other(_)) { 501 } else { 405 };
        let mut response = reply(request, status);
        response.headers.push(HeaderName::ALLOW, ALLOW);
        return Some(response);
    }
    let unsupported: Vec<&str> = request
        .headers
        .get_all(&HeaderName::REQUIRE)
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case(SUPPORTED))
        .collect();
    if !unsupported.is_empty() && request.method != Method::Cancel {
        let mut response = reply(request, 420);
        response.headers.push(HeaderName::UNSUPPORTED, unsupported.join(", "));
        return Some(response);
    }
    None
}

/// An out-of-dialog OPTIONS (§11): 200 with what we allow, accept and support.
pub fn options(request: &Request) -> Response {
    let mut response = reply(request, 200);
    response.headers.push(HeaderName::ALLOW, ALLOW);
    response.headers.push(HeaderName::ACCEPT, "application/sdp");
    response.headers.push(HeaderName::SUPPORTED, SUPPORTED);
    response
}

/// A request inside a dialog we do not know (§12.2.2), or a CANCEL matching no transaction (§9.2).
pub fn no_such_dialog(request: &Request) -> Response {
    reply(request, 481)
}
