//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8): re-sending the last response to a
//! retransmitted request, and Timer J absorbing request retransmissions once a final response went out.

use std::collections::VecDeque;
use std::time::Instant;

use super::key::ServerKey;
use super::timers::{Armed, TimerConfig};
use super::{TxOutput, TxState};
use crate::proto::time::{Deadline, TimerKind};
use crate::sip::{Message, Request, Response};

/// A server non-INVITE transaction. States: Trying, Proceeding, Completed, Terminated.
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    request: Request,
    key: ServerKey,
    reliable: bool,
    timers: TimerConfig,
    state: TxState,
    armed: Armed,
    /// The last response sent, re-sent for a retransmitted request in Proceeding and Completed.
    last_response: Option<Response>,
    out: VecDeque<TxOutput>,
}

impl ServerNonInvite {
    /// Starts the transaction in Trying (§17.2.2); nothing goes out until the TU answers.
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, _now: Instant) -> ServerNonInvite {
        let key = ServerKey::for_request(&request).unwrap_or_else(|| ServerKey::unkeyed(&request));
        ServerNonInvite {
            request,
            key,
            reliable,
            timers,
            state: TxState::Trying,
            armed: Armed::default(),
            last_response: None,
            out: VecDeque::new(),
        }
    }

    /// A retransmission of the request whose [`ServerKey`] matched this transaction (§17.2.2): discarded
    /// in Trying, answered with the last response in Proceeding and Completed.
    pub fn handle_request(&mut self, _now: Instant, request: Request) {
        if request.method != self.request.method {
            return;
        }
        if matches!(self.state, TxState::Proceeding | TxState::Completed) {
            if let Some(last) = &self.last_response {
                self.out.push_back(TxOutput::Send(Message::Response(last.clone())));
            }
        }
    }

    /// The TU's response to the request.
    pub fn respond(&mut self, now: Instant, response: Response) {
        if !matches!(self.state, TxState::Trying | TxState::Proceeding) {
            // §17.2.2: in Completed, further responses from the TU are discarded.
            return;
        }
        self.out.push_back(TxOutput::Send(Message::Response(response.clone())));
        let provisional = response.is_provisional();
        self.last_response = Some(response);
        if provisional {
            // §17.2.2: a provisional response moves Trying to Proceeding.
            self.state = TxState::Proceeding;
            return;
        }
        // §17.2.2: a final response moves to Completed and arms Timer J (zero when reliable).
        self.state = TxState::Completed;
        let wait = self.timers.timer_j(self.reliable);
        if wait.is_zero() {
            self.terminate();
        } else {
            self.armed.arm(now + wait, TimerKind::J);
        }
    }

    /// Fires every timer due at `now`; an early or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.armed.pop_due(now) {
            if due.kind == TimerKind::J && self.state == TxState::Completed {
                self.terminate();
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<TxOutput> {
        super::pop_output(&mut self.out)
    }

    pub fn poll_timeout(&self) -> Option<Deadline> {
        self.armed.earliest()
    }

    pub fn state(&self) -> TxState {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == TxState::Terminated
    }

    pub fn key(&self) -> &ServerKey {
        &self.key
    }

    /// The request that created this transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The last response sent through this transaction, if the TU answered.
    pub fn last_response(&self) -> Option<&Response> {
        self.last_response.as_ref()
    }

    fn terminate(&mut self) {
        self.state = TxState::Terminated;
        self.armed.clear();
        self.out.push_back(TxOutput::Terminated);
    }
}
