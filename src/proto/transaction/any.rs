//! One type for "some server transaction" and one for "some client transaction", so owners (the
//! endpoint, each call leg) keep a single table of each kind.

use std::time::Instant;

use super::{
    ClientInvite, ClientKey, ClientNonInvite, ServerInvite, ServerKey, ServerNonInvite, TimerConfig, TxOutput,
};
use crate::proto::time::Deadline;
use crate::sip::{Method, Request, Response};

#[allow(clippy::large_enum_variant)] // one per transaction, moved rarely: boxing would cost more
pub enum ServerTx {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[allow(clippy::large_enum_variant)]
pub enum ClientTx {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

macro_rules! both {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            Self::Invite($t) => $e,
            Self::NonInvite($t) => $e,
        }
    };
}

impl ServerTx {
    /// A server transaction of the right kind for `request` (§17.2).
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, now: Instant) -> ServerTx {
        if request.method == Method::Invite {
            ServerTx::Invite(ServerInvite::new(request, reliable, timers, now))
        } else {
            ServerTx::NonInvite(ServerNonInvite::new(request, reliable, timers, now))
        }
    }
    pub fn key(&self) -> &ServerKey {
        both!(self, t => t.key())
    }
    pub fn request(&self) -> &Request {
        both!(self, t => t.request())
    }
    pub fn handle_request(&mut self, now: Instant, request: Request) {
        both!(self, t => t.handle_request(now, request))
    }
    pub fn respond(&mut self, now: Instant, response: Response) {
        both!(self, t => t.respond(now, response))
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        both!(self, t => t.handle_timeout(now))
    }
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        both!(self, t => t.poll_output())
    }
    pub fn poll_timeout(&self) -> Option<Deadline> {
        both!(self, t => t.poll_timeout())
    }
    pub fn is_terminated(&self) -> bool {
        both!(self, t => t.is_terminated())
    }
    /// Whether the TU has sent a final response already.
    pub fn is_final(&self) -> bool {
        match self {
            ServerTx::Invite(t) => t.last_response().status >= 200,
            ServerTx::NonInvite(t) => t.last_response().is_some_and(|r| r.status >= 200),
        }
    }
}

impl ClientTx {
    /// A client transaction of the right kind for `request` (§17.1); its first output sends it.
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, now: Instant) -> ClientTx {
        if request.method == Method::Invite {
            ClientTx::Invite(ClientInvite::new(request, reliable, timers, now))
        } else {
            ClientTx::NonInvite(ClientNonInvite::new(request, reliable, timers, now))
        }
    }
    pub fn key(&self) -> &ClientKey {
        both!(self, t => t.key())
    }
    pub fn request(&self) -> &Request {
        both!(self, t => t.request())
    }
    pub fn handle_response(&mut self, now: Instant, response: Response) {
        both!(self, t => t.handle_response(now, response))
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        both!(self, t => t.handle_timeout(now))
    }
    pub fn poll_output(&mut self) -> Option<TxOutput> {
        both!(self, t => t.poll_output())
    }
    pub fn poll_timeout(&self) -> Option<Deadline> {
        both!(self, t => t.poll_timeout())
    }
    pub fn is_terminated(&self) -> bool {
        both!(self, t => t.is_terminated())
    }
}
