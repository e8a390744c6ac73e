//! Header hygiene where a message crosses from one leg to the other. Each leg is its own dialog: Via,
//! Call-ID, tags, CSeq, Contact, Record-Route/Route, Session-Expires, Min-SE and the `timer` option tag are
//! per leg and never copied (RFC 4028 checklist). What crosses: the body with its Content-Type, the
//! method-specific headers a request needs to mean the same thing, and the operator's pass list.

use crate::sip::build::ALLOW;
use crate::sip::name_addr::without_header_param;
use crate::sip::{concat, HeaderName, Headers, Method, Request, Uri};

/// Headers a relayed request or response needs to keep its meaning (RFC 3265, RFC 3515, RFC 6086,
/// RFC 3326): copied whatever the pass list says.
const SEMANTIC: &[&str] = &[
    "Content-Type",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Event",
    "Subscription-State",
    "Refer-To",
    "Referred-By",
    "Info-Package",
    "Reason",
    "Retry-After",
    "Warning",
];

/// The operator's list of headers copied across legs: exact names or `X-*` style prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassList(Vec<String>);

impl PassList {
    pub fn new(patterns: impl IntoIterator<Item = String>) -> PassList {
        PassList(patterns.into_iter().collect())
    }

    fn passes(&self, name: &HeaderName) -> bool {
        let name = name.as_str();
        SEMANTIC.iter().any(|s| s.eq_ignore_ascii_case(name))
            || self.0.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => {
                    name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
                }
                None => p.eq_ignore_ascii_case(name),
            })
    }

    /// Copies the passing headers of `from` onto `to` (never the per-leg ones, whatever the list says).
    pub fn copy(&self, from: &Headers, to: &mut Headers) {
        for (name, value) in from.iter() {
            if !is_per_leg(name) && self.passes(name) {
                to.push(name.clone(), value);
            }
        }
    }
}

/// Headers that belong to one leg only, never copied by any list.
fn is_per_leg(name: &HeaderName) -> bool {
    [
        HeaderName::VIA,
        HeaderName::FROM,
        HeaderName::TO,
        HeaderName::CALL_ID,
        HeaderName::CSEQ,
        HeaderName::CONTACT,
        HeaderName::ROUTE,
        HeaderName::RECORD_ROUTE,
        HeaderName::MAX_FORWARDS,
        HeaderName::CONTENT_LENGTH,
        HeaderName::SESSION_EXPIRES,
        HeaderName::MIN_SE,
        HeaderName::SUPPORTED,
        HeaderName::REQUIRE,
        HeaderName::ALLOW,
        HeaderName::AUTHORIZATION,
        HeaderName::PROXY_AUTHORIZATION,
        HeaderName::WWW_AUTHENTICATE,
        HeaderName::PROXY_AUTHENTICATE,
    ]
    .contains(name)
}

/// `target` with its user part replaced by `user` (RFC 3261 §19.1.1): the Request-URI user is kept from
/// leg A, the host, port and parameters come from the route target.
pub fn with_user(target: &str, user: Option<&str>) -> String {
    let Some((scheme, rest)) = target.split_once(':') else { return target.to_owned() };
    let host_part = match rest.split_once('@') {
        Some((_, host)) => host,
        None => rest,
    };
    match user {
        Some(user) if !user.is_empty() => concat(&[scheme, ":", user, "@", host_part]),
        _ => concat(&[scheme, ":", host_part]),
    }
}

/// Everything leg B's INVITE takes from leg A's (RFC 3261 §8.1.1 for the rest).
pub struct InviteB<'a> {
    pub invite_a: &'a Request,
    pub target: &'a str,
    pub call_id: String,
    pub from_tag: String,
    pub max_forwards: u32,
    pub pass: &'a PassList,
}

impl InviteB<'_> {
    /// The INVITE for leg B, without Via and Contact (the leg stamps those): new Call-ID and From tag,
    /// caller ID (From display name and URI) and the To user kept, CSeq from 1, body copied unchanged.
    pub fn build(&self) -> Option<Request> {
        let a = self.invite_a;
        let user = a.uri.as_sip().and_then(|u| u.user());
        let uri = Uri::parse(&with_user(self.target, user))?;
        // A's From with our tag in place of A's, A's To without its tag.
        let mut from = without_header_param(a.headers.get(&HeaderName::FROM)?, "tag")?;
        from.push_str(";tag=");
        from.push_str(&self.from_tag);
        let to = without_header_param(a.headers.get(&HeaderName::TO)?, "tag")?;
        let mut invite = Request::new(Method::Invite, uri);
        let h = &mut invite.headers;
        h.push(HeaderName::FROM, from);
        h.push(HeaderName::TO, to);
        h.push(HeaderName::CALL_ID, self.call_id.clone());
        h.push(HeaderName::CSEQ, "1 INVITE");
        h.push(HeaderName::MAX_FORWARDS, self.max_forwards.to_string());
        h.push(HeaderName::ALLOW, ALLOW);
        self.pass.copy(&a.headers, h);
        invite.body = a.body.clone();
        Some(invite)
    }
}
