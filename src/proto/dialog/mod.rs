//! One leg's dialog (RFC 3261 §12): identifiers, CSeq spaces, remote target and route set, and how an
//! in-dialog request is built (§12.2.1.1, loose routing per §16.12) and checked on arrival (§12.2.2).

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::sip::name_addr;
use crate::sip::{concat, CSeq, HeaderName, Headers, Method, NameAddr, Request, Response, SipHeaders, Uri};

#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    /// Call-ID, local tag, remote tag, local URI (our From as UAC, our To as UAS, without its tag), remote
    /// URI and remote target (the peer's Contact URI: §12.1.1, §12.1.2), back to back in one allocation: a
    /// held call keeps two dialogs for hours, and one block each packs tighter than six small strings.
    text: Box<str>,
    /// Where each of the six parts of `text` ends.
    ends: [u32; 6],
    /// The CSeq of the last request we sent in this dialog.
    pub local_cseq: u32,
    /// The CSeq of the last request they sent, once they have sent one.
    pub remote_cseq: Option<u32>,
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
fn without_tag(headers: &Headers, name: &HeaderName) -> Option<String> {
    name_addr::without_header_param(headers.get(name)?, "tag")
}

/// The Contact's URI (validated on the way), as text.
fn contact_uri(headers: &Headers) -> Option<Cow<'_, str>> {
    name_addr::uri_text(headers.get(&HeaderName::CONTACT)?)
}

const CALL_ID: usize = 0;
const LOCAL_TAG: usize = 1;
const REMOTE_TAG: usize = 2;
const LOCAL_URI: usize = 3;
const REMOTE_URI: usize = 4;
const REMOTE_TARGET: usize = 5;

impl Dialog {
    /// A dialog from its six text parts, in the order of the `CALL_ID` … `REMOTE_TARGET` indices.
    fn new(parts: [&str; 6], local_cseq: u32, remote_cseq: Option<u32>, route_set: Vec<String>) -> Dialog {
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 6];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            // A part comes from one received header, far below 4 GiB.
            *end = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        Dialog { text: text.into_boxed_str(), ends, local_cseq, remote_cseq, route_set }
    }

    fn part(&self, index: usize) -> &str {
        let start = if index == 0 { 0 } else { self.ends[index - 1] as usize };
        self.text.get(start..self.ends[index] as usize).unwrap_or_default()
    }

    pub fn call_id(&self) -> &str {
        self.part(CALL_ID)
    }

    pub fn local_tag(&self) -> &str {
        self.part(LOCAL_TAG)
    }

    pub fn remote_tag(&self) -> &str {
        self.part(REMOTE_TAG)
    }

    /// Where in-dialog requests go: the peer's Contact URI, as text (parsed when a request is built).
    pub fn remote_target(&self) -> &str {
        self.part(REMOTE_TARGET)
    }

    /// A target refresh moved the remote target (§12.2.2, §12.2.1.2).
    fn set_remote_target(&mut self, target: &str) {
        let parts = [CALL_ID, LOCAL_TAG, REMOTE_TAG, LOCAL_URI, REMOTE_URI].map(|i| self.part(i).to_owned());
        let [call_id, local_tag, remote_tag, local_uri, remote_uri] = &parts;
        *self = Dialog::new(
            [call_id, local_tag, remote_tag, local_uri, remote_uri, target],
            self.local_cseq,
            self.remote_cseq,
            std::mem::take(&mut self.route_set),
        );
    }

    /// The remote target as a Request-URI. It was a valid URI when stored; should it not parse again, it
    /// is sent as the text it is.
    fn target_uri(&self) -> Uri {
        let target = self.remote_target();
        Uri::parse(target).unwrap_or_else(|| Uri::Other {
            scheme: target.split(':').next().unwrap_or_default().to_ascii_lowercase(),
            raw: target.to_owned(),
        })
    }

    /// The dialog we form as UAS on a request we answer with `response` (§12.1.1): their Contact is the
    /// remote target, the Record-Route set is kept in order.
    pub fn as_uas(request: &Request, local_tag: &str) -> Option<Dialog> {
        let h = &request.headers;
        let (local_uri, remote_uri) = (without_tag(h, &HeaderName::TO)?, without_tag(h, &HeaderName::FROM)?);
        let target = contact_uri(h).unwrap_or_else(|| request.uri.as_str().into());
        let call_id = request.call_id()?;
        Some(Dialog::new(
            [call_id, local_tag, request.from_tag().unwrap_or_default(), &local_uri, &remote_uri, &target],
            0,
            request.cseq().map(|c| c.seq),
            request.headers.get_all(&HeaderName::RECORD_ROUTE).map(str::to_owned).collect(),
        ))
    }

    /// The dialog we form as UAC from a response to our `request` carrying a To tag (§12.1.2): the
    /// Record-Route set is reversed.
    pub fn as_uac(request: &Request, response: &Response) -> Option<Dialog> {
        let local_uri = without_tag(&request.headers, &HeaderName::FROM)?;
        let remote_uri = without_tag(&response.headers, &HeaderName::TO)?;
        let mut route_set: Vec<String> =
            response.headers.get_all(&HeaderName::RECORD_ROUTE).map(str::to_owned).collect();
        route_set.reverse();
        let target = contact_uri(&response.headers).unwrap_or_else(|| request.uri.as_str().into());
        Some(Dialog::new(
            [request.call_id()?, request.from_tag()?, response.to_tag()?, &local_uri, &remote_uri, &target],
            request.cseq()?.seq,
            None,
            route_set,
        ))
    }

    /// Whether an in-dialog request belongs here: Call-ID, our tag in To, theirs in From (§12.2.2).
    pub fn matches_request(&self, request: &Request) -> bool {
        request.call_id() == Some(self.call_id())
            && request.to_tag() == Some(self.local_tag())
            && request.from_tag() == Some(self.remote_tag())
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
                self.set_remote_target(&target);
            }
        }
        Sequence::New
    }

    /// A 2xx to our target refresh request moves the remote target (§12.2.1.2).
    pub fn on_refresh_response(&mut self, response: &Response) {
        if let Some(target) = contact_uri(&response.headers) {
            self.set_remote_target(&target);
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
            routes.push(format!("<{}>", self.remote_target()));
            (first, routes)
        } else {
            (self.target_uri(), self.route_set.clone())
        };
        let mut request = Request::new(method.clone(), uri);
        let h = &mut request.headers;
        for route in routes {
            h.push(HeaderName::ROUTE, route);
        }
        h.push(HeaderName::FROM, concat(&[self.part(LOCAL_URI), ";tag=", self.local_tag()]));
        h.push(HeaderName::TO, concat(&[self.part(REMOTE_URI), ";tag=", self.remote_tag()]));
        h.push(HeaderName::CALL_ID, self.call_id());
        h.push(HeaderName::CSEQ, CSeq::text(seq, &method));
        h.push(HeaderName::MAX_FORWARDS, "70");
        request
    }
}

fn is_loose(route: &str) -> bool {
    NameAddr::parse(route).and_then(|r| r.uri.as_sip().map(|u| u.param("lr").is_some())).unwrap_or(true)
}
