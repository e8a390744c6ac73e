//! Why a call ended: one value per call, logged at its end and reported to the actor.

use std::fmt;

use super::LegId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// A BYE from the party on this leg.
    Bye(LegId),
    /// The caller cancelled before an answer (RFC 3261 §9).
    Cancelled,
    /// Leg B answered the INVITE with this final status, relayed to the caller.
    Rejected(u16),
    /// Nobody answered within the ring timeout.
    NoAnswer,
    /// A transaction on this leg got no response (RFC 3261 Timer B/F) or its transport failed.
    Timeout(LegId),
    /// Our 2xx on this leg was never acknowledged (RFC 3261 §13.3.1.4).
    AckTimeout(LegId),
    /// The next hop could not be resolved or reached.
    Unreachable(String),
    /// The daemon was told to stop.
    Shutdown,
    /// The session timer on this leg expired (RFC 4028 §10).
    SessionExpired(LegId),
}

impl EndReason {
    /// The Reason header (RFC 3326) for a BYE we send because of this end, if any.
    pub fn reason_header(&self) -> Option<&'static str> {
        match self {
            EndReason::SessionExpired(_) => Some("SIP;cause=408;text=\"Session timer expired\""),
            EndReason::AckTimeout(_) => Some("SIP;cause=408;text=\"ACK timeout\""),
            EndReason::Timeout(_) => Some("SIP;cause=408;text=\"Request timeout\""),
            EndReason::Shutdown => Some("SIP;cause=503;text=\"Service shutting down\""),
            _ => None,
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::Bye(leg) => write!(f, "BYE from leg {leg}"),
            EndReason::Cancelled => f.write_str("cancelled by the caller"),
            EndReason::Rejected(status) => write!(f, "rejected with {status}"),
            EndReason::NoAnswer => f.write_str("no answer within the ring timeout"),
            EndReason::Timeout(leg) => write!(f, "transaction timeout on leg {leg}"),
            EndReason::AckTimeout(leg) => write!(f, "no ACK for our 2xx on leg {leg}"),
            EndReason::Unreachable(why) => write!(f, "next hop unreachable: {why}"),
            EndReason::Shutdown => f.write_str("daemon shutdown"),
            EndReason::SessionExpired(leg) => write!(f, "session timer expired on leg {leg}"),
        }
    }
}
