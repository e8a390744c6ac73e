//! One leg's dialog (RFC 3261 §12): identifiers, CSeq spaces, remote target and route set, and how an
//! in-dialog request is built (§12.2.1.1, loose routing per §16.12) and checked on arrival (§12.2.2).

#[cfg(test)]
mod tests;

use crate::sip::{HeaderName, Method, NameAddr, Request, Response, SipHeaders, Uri};

#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our From (UAC) or To (UAS) value without its tag.
    pub local_uri: String,
    /// Their side's value without its tag.
    pub remote_uri: String,
    /// The CSeq of the last request we sent in this dialog.
    pub local_cseq: u32,
    /// The CSeq of the last request they sent, once they have sent one.
    pub remote_cseq: Option<u32>,
    /// Where in-dialog requests go: the peer's Contact URI (§12.1.1, §12.1.2), as text: a held call
    /// keeps one string instead of a parsed URI, and it is read once per request we send in the dialog.
    pub remote_target: Box<str>,
    /// Route set, in the order our requests must carry it.
    pub route_set: Vec<String>,
}

/// How an arriving in-dialog request relates to the dialog's CSeq space (§12.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequence {
    /// A new request: process it.
    New,
    /// Lower than one already seen: answer 500 (§12.2.2), or absorb when it is an ACK/CANCEL.
    OutOfOrder,
}

/// A From/To value with its tag parameter removed.
pub fn without_tag(value: &NameAddr) -> String {
    let mut value = value.clone();
    value.params.remove("tag");
    value.to_string()
}

/// The Contact's URI (validated by parsing it), as text.
fn contact_uri(headers: &crate::sip::Headers) -> Option<Box<str>> {
    NameAddr::parse(headers.get(&HeaderName::CONTACT)?).map(|c| c.uri.as_str().into())
}

impl Dialog {
    /// The remote target as a Request-URI. It was a valid URI when stored; should it not parse again, it
    /// is sent as the text it is.
    fn target_uri(&self) -> Uri {
        Uri::parse(&self.remote_target).unwrap_or_else(|| Uri::Other {
            scheme: self.remote_target.split(':').next().unwrap_or_default().to_ascii_lowercase(),
            raw: self.remote_target.to_string(),
        })
    }

    /// The dialog we form as UAS on a request we answer with `response` (§12.1.1): their Contact is the
    /// remote target, the Record-Route set is kept in order.
    pub fn as_uas(request: &Request, local_tag: &str) -> Option<Dialog> {
        let from = request.from_hdr()?;
        let to = request.to_hdr()?;
        Some(Dialog {
            call_id: request.call_id()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag().unwrap_or_default().to_owned(),
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            local_cseq: 0,
            remote_cseq: request.cseq().map(|c| c.seq),
            remote_target: contact_uri(&request.headers).unwrap_or_else(|| request.uri.as_str().into()),
            route_set: request.headers.get_all(&HeaderName::RECORD_ROUTE).map(str::to_owned).collect(),
        })
    }

    /// The dialog we form as UAC from a response to our `request` carrying a To tag (§12.1.2): the
    /// Record-Route set is reversed.
    pub fn as_uac(request: &Request, response: &Response) -> Option<Dialog> {
        let from = request.from_hdr()?;
        let to = response.to_hdr()?;
        let mut route_set: Vec<String> =
            response.headers.get_all(&HeaderName::RECORD_ROUTE).map(str::to_owned).collect();
        route_set.reverse();
        Some(Dialog {
            call_id: request.call_id()?.to_owned(),
            local_tag: from.tag()?.to_owned(),
            remote_tag: to.tag()?.to_owned(),
            local_uri: without_tag(&from),
            remote_uri: without_tag(&to),
            local_cseq: request.cseq()?.seq,
            remote_cseq: None,
            remote_target: contact_uri(&response.headers).unwrap_or_else(|| request.uri.as_str().into()),
            route_set,
        })
    }

    /// Whether an in-dialog request belongs here: Call-ID, our tag in To, theirs in From (§12.2.2).
    pub fn matches_request(&self, request: &Request) -> bool {
        request.call_id() == Some(self.call_id.as_str())
            && request.to_tag() == Some(self.local_tag.as_str())
            && request.from_tag() == Some(self.remote_tag.as_str())
    }

    /// Records an arriving request's CSeq (§12.2.2) and refreshes the remote target on a target refresh
    /// request (re-INVITE, UPDATE: §12.2.2, RFC 3311 §5.2).
    pub fn on_request(&mut self, request: &Request) -> Sequence {
        let Some(cseq) = request.cseq() else { return Sequence::OutOfOrder };
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Sequence::New;
        }
        if self.remote_cseq.is_some_and(|last| cseq.seq <= last) {
            return Sequence::OutOfOrder;
        }
        self.remote_cseq = Some(cseq.seq);
        if matches!(request.method, Method::Invite | Method::Update) {
            if let Some(target) = contact_uri(&request.headers) {
                self.remote_target = target;
            }
        }
        Sequence::New
    }

    /// A 2xx to our target refresh request moves the remote target (§12.2.1.2).
    pub fn on_refresh_response(&mut self, response: &Response) {
        if let Some(target) = contact_uri(&response.headers) {
            self.remote_target = target;
        }
    }

    /// A new in-dialog request (§12.2.1.1): Request-URI, Route, From/To with tags, Call-ID, the next CSeq
    /// (ACK and CANCEL reuse the number of their INVITE: pass `cseq`), Max-Forwards. Via and Contact are
    /// the caller's to add.
    pub fn request(&mut self, method: Method, cseq: Option<u32>) -> Request {
        let seq = match cseq {
            Some(seq) => seq,
            None => {
                self.local_cseq += 1;
                self.local_cseq
            }
        };
        // Loose routing (§12.2.1.1): with `;lr` on the first route the Request-URI is the remote target
        // and the route set goes in Route; a strict router gets the target as the last Route instead.
        let strict = self.route_set.first().is_some_and(|r| !is_loose(r));
        let (uri, routes) = if strict {
            let first =
                NameAddr::parse(&self.route_set[0]).map(|r| r.uri).unwrap_or_else(|| self.target_uri());
            let mut routes: Vec<String> = self.route_set[1..].to_vec();
            routes.push(format!("<{}>", self.remote_target));
            (first, routes)
        } else {
            (self.target_uri(), self.route_set.clone())
        };
        let mut request = Request::new(method.clone(), uri);
        let h = &mut request.headers;
        for route in routes {
            h.push(HeaderName::ROUTE, route);
        }
        h.push(HeaderName::FROM, format!("{};tag={}", self.local_uri, self.local_tag));
        h.push(HeaderName::TO, format!("{};tag={}", self.remote_uri, self.remote_tag));
        h.push(HeaderName::CALL_ID, self.call_id.clone());
        h.push(HeaderName::CSEQ, format!("{seq} {method}"));
        h.push(HeaderName::MAX_FORWARDS, "70");
        request
    }
}

fn is_loose(route: &str) -> bool {
    NameAddr::parse(route).and_then(|r| r.uri.as_sip().map(|u| u.param("lr").is_some())).unwrap_or(true)
}
