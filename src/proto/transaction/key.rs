//! Transaction keys: how a response finds its client transaction (RFC 3261 §17.1.3) and how a request
//! finds its server transaction (§17.2.3), including the INVITE a CANCEL refers to (§9.2).

use crate::sip::via::BRANCH_COOKIE;
use crate::sip::{HeaderName, Host, HostPort, Method, Request, Response, SipHeaders, Via};

/// Identifies a client transaction: the branch of the top Via it sent and the CSeq method (§17.1.3). The
/// method is needed because a CANCEL carries the branch of the INVITE it cancels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pub branch: String,
    pub method: Method,
}

impl ClientKey {
    /// The key of a request we send: branch of its top Via, its CSeq method.
    pub fn for_request(request: &Request) -> Option<ClientKey> {
        let branch = request.branch()?;
        let method = request.cseq().map(|c| c.method).unwrap_or_else(|| request.method.clone());
        Some(ClientKey { branch, method })
    }

    /// The key a response matches (§17.1.3): branch of its top Via, the method of its CSeq.
    pub fn for_response(response: &Response) -> Option<ClientKey> {
        let branch = response.top_branch()?.to_owned();
        Some(ClientKey { branch, method: response.cseq()?.method })
    }
}

/// Identifies a server transaction (§17.2.3). An ACK maps to the INVITE transaction it acknowledges (for a
/// non-2xx final response it carries the INVITE's branch; an ACK for a 2xx has a branch of its own, so it
/// finds no transaction and belongs to the dialog).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// The top Via branch starts with the magic cookie `z9hG4bK` (§8.1.1.7): branch, sent-by, method.
    Rfc3261 { branch: String, sent_by: HostPort, method: Method },
    /// An RFC 2543 peer (no cookie): the fields §17.2.3 lists for the backwards-compatible match. Boxed:
    /// such peers are rare, and every key (one per transaction and call) would otherwise be this size.
    Rfc2543(Box<Rfc2543Key>),
}

/// The fields of §17.2.3's backwards-compatible match.
///
/// The To tag is left out for INVITE (and so for its ACK and CANCEL): the INVITE that created the
/// transaction has none, while the ACK for a non-2xx response carries the tag of that response; the other
/// fields (Request-URI, From tag, Call-ID, CSeq number, top Via) already tell INVITEs apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rfc2543Key {
    request_uri: String,
    to_tag: Option<String>,
    from_tag: Option<String>,
    call_id: String,
    cseq: u32,
    top_via: String,
    method: Method,
}

impl ServerKey {
    /// The key of an incoming request (§17.2.3). `None` when the request has no readable top Via or CSeq
    /// (the parser refuses such a message, so only a hand-built one can).
    pub fn for_request(request: &Request) -> Option<ServerKey> {
        let method = match request.method {
            // §17.2.3: "the method of the request matches the one that created the transaction, except
            // for ACK, where the method of the request that created the transaction is INVITE".
            Method::Ack => Method::Invite,
            ref other => other.clone(),
        };
        key_with_method(request, method)
    }

    /// The key of the INVITE server transaction a CANCEL refers to (§9.2): the CANCEL's own key with the
    /// method INVITE. `None` when `cancel` is not a CANCEL.
    pub fn for_cancel_target(cancel: &Request) -> Option<ServerKey> {
        if cancel.method != Method::Cancel {
            return None;
        }
        key_with_method(cancel, Method::Invite)
    }

    /// The key of a hand-built request without a readable top Via or CSeq: it matches nothing the parser
    /// lets through, so such a transaction only ever sees what its owner hands it directly.
    pub(super) fn unkeyed(request: &Request) -> ServerKey {
        ServerKey::Rfc2543(Box::new(Rfc2543Key {
            request_uri: request.uri.to_string(),
            to_tag: None,
            from_tag: None,
            call_id: String::new(),
            cseq: 0,
            top_via: String::new(),
            method: request.method.clone(),
        }))
    }

    /// The method of the transaction this key names (INVITE for an ACK).
    pub fn method(&self) -> &Method {
        match self {
            ServerKey::Rfc3261 { method, .. } => method,
            ServerKey::Rfc2543(key) => &key.method,
        }
    }
}

fn key_with_method(request: &Request, method: Method) -> Option<ServerKey> {
    match request.top_branch() {
        // Read from the top Via's text (the parser validated it): every request is keyed on arrival.
        Some(branch) if branch.starts_with(BRANCH_COOKIE) => {
            let sent_by = HostPort::parse(Via::sent_by_text(request.headers.get(&HeaderName::VIA)?)?)?;
            Some(ServerKey::Rfc3261 { branch: branch.to_owned(), sent_by: normalised(&sent_by), method })
        }
        _ => Some(rfc2543_key(request, &request.top_via()?, request.cseq()?.seq, method)),
    }
}

/// Host names compare case-insensitively (RFC 3261 §19.1.4); IP addresses are already values.
fn normalised(sent_by: &HostPort) -> HostPort {
    let host = match &sent_by.host {
        Host::Name(name) => Host::Name(name.to_ascii_lowercase()),
        ip => ip.clone(),
    };
    HostPort { host, port: sent_by.port }
}

fn rfc2543_key(request: &Request, via: &Via, cseq: u32, method: Method) -> ServerKey {
    let to_tag = if method == Method::Invite { None } else { request.to_tag().map(str::to_owned) };
    ServerKey::Rfc2543(Box::new(Rfc2543Key {
        request_uri: request.uri.to_string(),
        to_tag,
        from_tag: request.from_tag().map(str::to_owned),
        call_id: request.call_id().unwrap_or_default().to_owned(),
        cseq,
        top_via: via.to_string(),
        method,
    }))
}
