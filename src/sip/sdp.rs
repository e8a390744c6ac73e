//! Just enough SDP (RFC 4566 §5.2 `o=`, RFC 3264 §8) to keep one origin version counter per leg: an
//! unchanged session description keeps its version, a changed one goes up by exactly one on the leg it is
//! sent on, whatever the other leg's counter did. The body is otherwise passed through untouched.

use bytes::Bytes;

/// The `o=` line's fields: username, sess-id, sess-version, nettype, addrtype, address.
fn origin_line(body: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start < body.len() {
        let end = body[start..].iter().position(|b| *b == b'\n').map_or(body.len(), |p| start + p);
        if body[start..end].starts_with(b"o=") {
            return Some((start, end));
        }
        start = end + 1;
    }
    None
}

/// The session version of an SDP body (`o=` third field).
pub fn version(body: &[u8]) -> Option<u64> {
    let (start, end) = origin_line(body)?;
    let line = std::str::from_utf8(&body[start..end]).ok()?;
    line.trim_end().split(' ').nth(2)?.parse().ok()
}

/// The body with its `o=` session version replaced (or unchanged when it has no parsable `o=`).
pub fn with_version(body: &Bytes, new_version: u64) -> Bytes {
    let Some((start, end)) = origin_line(body) else { return body.clone() };
    let Ok(line) = std::str::from_utf8(&body[start..end]) else { return body.clone() };
    let cr = line.ends_with('\r');
    let fields: Vec<&str> = line.trim_end().split(' ').collect();
    if fields.len() < 6 || fields[2].parse::<u64>().is_err() {
        return body.clone();
    }
    let mut rewritten = fields.clone();
    let version = new_version.to_string();
    rewritten[2] = &version;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&body[..start]);
    out.extend_from_slice(rewritten.join(" ").as_bytes());
    if cr {
        out.push(b'\r');
    }
    out.extend_from_slice(&body[end..]);
    Bytes::from(out)
}

/// Whether two descriptions say the same thing: equal bytes once the `o=` session version is set aside
/// (a peer that bumps its version on every refresh has not changed the session).
pub fn same_session(a: &[u8], b: &[u8]) -> bool {
    let strip = |body: &[u8]| -> Vec<u8> {
        match (origin_line(body), version(body)) {
            (Some(_), Some(_)) => with_version(&Bytes::copy_from_slice(body), 0).to_vec(),
            _ => body.to_vec(),
        }
    };
    a == b || strip(a) == strip(b)
}

/// One leg's view of the descriptions it carries: what we last sent on it (and under which version), and
/// what its peer last sent us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegSdp {
    sent: Option<Bytes>,
    sent_version: Option<u64>,
    /// What was in force before the last changed description we sent, should that offer be refused.
    before: Before,
    received: Option<Bytes>,
}

/// What [`LegSdp::offer_refused`] goes back to. Boxed when there is something: a held call keeps two of
/// these for hours, nearly always for its first description, which had nothing before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Before {
    /// No changed description is outstanding.
    #[default]
    Unchanged,
    /// The last one was the first on this leg: nothing was sent before it.
    Nothing,
    /// The description (and its version) sent before the last one.
    Sent(Box<(Bytes, Option<u64>)>),
}

impl LegSdp {
    /// The description to put on this leg for `body` (from the other leg, or our stored one): the bytes
    /// we sent last if nothing changed, else `body` with this leg's version + 1 (RFC 3264 §8).
    pub fn outgoing(&mut self, body: &Bytes) -> Bytes {
        let out = match (&self.sent, self.sent_version) {
            (Some(sent), _) if same_session(sent, body) => {
                self.before = Before::Unchanged;
                return sent.clone();
            }
            (Some(_), Some(v)) => with_version(body, v + 1),
            _ => body.clone(),
        };
        self.before = match self.sent.take() {
            Some(sent) => Before::Sent(Box::new((sent, self.sent_version))),
            None => Before::Nothing,
        };
        self.sent_version = version(&out);
        self.sent = Some(out.clone());
        out
    }

    /// The offer [`LegSdp::outgoing`] last made was refused (a non-2xx final response to its re-INVITE or
    /// UPDATE): the session is what it was before it (RFC 3261 §14.1, RFC 3311 §5.2), and so is what a
    /// refresh carries and the version the next change counts from.
    pub fn offer_refused(&mut self) {
        match std::mem::take(&mut self.before) {
            Before::Unchanged => {}
            Before::Nothing => (self.sent, self.sent_version) = (None, None),
            Before::Sent(was) => {
                let (sent, version) = *was;
                (self.sent, self.sent_version) = (Some(sent), version);
            }
        }
    }

    /// What we last sent on this leg (the body of a refresh re-INVITE, or our answer to an offerless one).
    pub fn last_sent(&self) -> Option<&Bytes> {
        self.sent.as_ref()
    }

    /// Records a description the peer sent; returns true when it differs from the last one (a real
    /// media change, to cross to the other leg) and false for a refresh that changes nothing.
    pub fn incoming(&mut self, body: &Bytes) -> bool {
        let changed = self.is_change(body);
        self.received = Some(body.clone());
        changed
    }

    /// Whether a description from the peer differs from the last one recorded, without recording it (an
    /// offer that may yet be refused is not the session).
    pub fn is_change(&self, body: &[u8]) -> bool {
        self.received.as_ref().is_none_or(|prev| !same_session(prev, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str =
        "v=0\r\no=alice 2890844526 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
                       m=audio 49170 RTP/AVP 0\r\n";

    fn body(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn reads_and_rewrites_the_origin_version() {
        assert_eq!(version(SDP.as_bytes()), Some(7));
        let v8 = with_version(&body(SDP), 8);
        assert_eq!(version(&v8), Some(8));
        assert_eq!(v8, body(&SDP.replace(" 7 IN", " 8 IN")), "only the version changes, CRLFs kept");
        assert_eq!(with_version(&body("v=0\r\n"), 3), body("v=0\r\n"), "no o= line: untouched");
    }

    #[test]
    fn same_session_ignores_only_the_version() {
        assert!(same_session(SDP.as_bytes(), SDP.replace(" 7 IN", " 9 IN").as_bytes()));
        assert!(!same_session(SDP.as_bytes(), SDP.replace("49170", "49172").as_bytes()));
        assert!(!same_session(SDP.as_bytes(), SDP.replace("RTP/AVP 0", "RTP/AVP 8").as_bytes()));
    }

    #[test]
    fn each_leg_counts_its_own_versions_by_one() {
        let mut leg = LegSdp::default();
        assert_eq!(leg.outgoing(&body(SDP)), body(SDP), "first description goes as it is");
        // The other leg's peer bumped its version without changing anything: same bytes as before.
        assert_eq!(leg.outgoing(&body(&SDP.replace(" 7 IN", " 12 IN"))), body(SDP));
        // A real change arrives with the other leg's version 15: this leg goes 7 → 8.
        let changed = SDP.replace(" 7 IN", " 15 IN").replace("49170", "50000");
        let out = leg.outgoing(&body(&changed));
        assert_eq!(version(&out), Some(8));
        assert!(same_session(&out, changed.as_bytes()));
        assert_eq!(leg.last_sent(), Some(&out));
    }

    #[test]
    fn a_refused_offer_leaves_the_description_in_force() {
        let mut leg = LegSdp::default();
        leg.outgoing(&body(SDP));
        let hold = body(&SDP.replace("t=0 0", "t=0 0\r\na=sendonly"));
        assert_eq!(version(&leg.outgoing(&hold)), Some(8));
        leg.offer_refused();
        assert_eq!(leg.last_sent(), Some(&body(SDP)), "a refresh carries the description in force");
        assert_eq!(version(&leg.outgoing(&hold)), Some(8), "the next change counts from it");
        // An unchanged description offered again and refused changes nothing.
        leg.outgoing(&hold);
        leg.offer_refused();
        assert_eq!(version(leg.last_sent().expect("sent")), Some(8));
    }

    #[test]
    fn a_refused_first_offer_leaves_nothing_sent() {
        let mut leg = LegSdp::default();
        leg.outgoing(&body(SDP));
        leg.offer_refused();
        assert_eq!(leg.last_sent(), None);
        assert_eq!(leg.outgoing(&body(SDP)), body(SDP), "the next one is a first description again");
    }

    #[test]
    fn incoming_tells_a_refresh_from_a_media_change() {
        let mut leg = LegSdp::default();
        assert!(leg.incoming(&body(SDP)), "the first offer is news");
        assert!(!leg.incoming(&body(SDP)), "same description again: a refresh");
        assert!(!leg.incoming(&body(&SDP.replace(" 7 IN", " 8 IN"))), "version bump alone: a refresh");
        assert!(
            leg.incoming(&body(&SDP.replace("a=sendrecv", "").replace("t=0 0", "t=0 0\r\na=sendonly"))),
            "hold"
        );
    }
}
