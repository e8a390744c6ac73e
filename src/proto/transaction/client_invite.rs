//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5), with the Accepted state of RFC 6026 §8.4:
//! Timer A retransmissions, Timer B timeout, the ACK for a non-2xx final response (§17.1.1.3), Timer D,
//! and Timer M during which 2xx retransmissions still reach the TU.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::key::ClientKey;
use super::timers::{next_retransmit, Armed, TimerConfig};
use super::{TxOutput, TxState};
use crate::proto::time::{Deadline, TimerKind};
use crate::sip::{CSeq, HeaderName, Message, Method, Request, Response, SipHeaders};

/// A client INVITE transaction. States: Calling, Proceeding, Accepted, Completed, Terminated.
#[derive(Debug, Clone)]
pub struct ClientInvite {
    request: Request,
    key: ClientKey,
    reliable: bool,
    timers: TimerConfig,
    state: TxState,
    armed: Armed,
    /// The interval that led to the armed Timer A (T1, then doubling: §17.1.1.2).
    a_interval: Duration,
    /// The ACK sent for the non-2xx final response, re-sent for each retransmission of it. Boxed: most
    /// INVITEs are answered with a 2xx, and this transaction then lives 32 s without one.
    ack: Option<Box<Request>>,
    out: VecDeque<TxOutput>,
}

impl ClientInvite {
    /// Starts the transaction in Calling and queues the request for the wire (§17.1.1.2).
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, now: Instant) -> ClientInvite {
        let key = ClientKey::for_request(&request)
            .unwrap_or_else(|| ClientKey { branch: String::new(), method: request.method.clone() });
        let mut tx = ClientInvite {
            key,
            reliable,
            timers,
            state: TxState::Calling,
            armed: Armed::default(),
            a_interval: timers.timer_a(),
            ack: None,
            out: VecDeque::new(),
            request,
        };
        tx.out.push_back(TxOutput::Send(Message::Request(tx.request.clone())));
        // §17.1.1.2: Timer A only over an unreliable transport; Timer B always.
        if !reliable {
            tx.armed.arm(now + tx.a_interval, TimerKind::A);
        }
        tx.armed.arm(now + timers.timer_b(), TimerKind::B);
        tx
    }

    /// A response whose [`ClientKey`] matched this transaction (§17.1.3).
    pub fn handle_response(&mut self, now: Instant, response: Response) {
        match self.state {
            TxState::Calling | TxState::Proceeding => {
                if response.is_provisional() {
                    // §17.1.1.2: a provisional response stops retransmission (Timer A) and, since only the
                    // Calling state has Timer B, the timeout too; every provisional goes up to the TU.
                    self.state = TxState::Proceeding;
                    self.armed.cancel(TimerKind::A);
                    self.armed.cancel(TimerKind::B);
                    self.out.push_back(TxOutput::Deliver(response));
                } else if response.status < 300 {
                    // RFC 6026 §8.4: a 2xx moves to Accepted and arms Timer M.
                    self.state = TxState::Accepted;
                    // Accepted only hands 2xx retransmissions up: the INVITE's body and most headers are
                    // not needed for those 32 s.
                    self.request.keep_echo_only();
                    self.armed.clear();
                    self.armed.arm(now + self.timers.timer_m(), TimerKind::M);
                    self.out.push_back(TxOutput::Deliver(response));
                } else {
                    // §17.1.1.2: a 300-699 response is ACKed by the transaction and passed up; Completed
                    // arms Timer D (zero over a reliable transport, so straight to Terminated).
                    let ack = self.ack_for(&response);
                    self.out.push_back(TxOutput::Send(Message::Request(ack.clone())));
                    self.ack = Some(Box::new(ack));
                    self.out.push_back(TxOutput::Deliver(response));
                    self.state = TxState::Completed;
                    self.armed.clear();
                    let wait = self.timers.timer_d(self.reliable);
                    if wait.is_zero() {
                        self.terminate();
                    } else {
                        self.armed.arm(now + wait, TimerKind::D);
                    }
                }
            }
            // RFC 6026 §8.4: in Accepted, every 2xx (a retransmission or one from another fork) goes to the
            // TU, which must ACK it; anything else is absorbed.
            TxState::Accepted if (200..300).contains(&response.status) => {
                self.out.push_back(TxOutput::Deliver(response));
            }
            // §17.1.1.2: a retransmitted final response in Completed gets the ACK again and is not passed up.
            TxState::Completed if response.status >= 300 => {
                if let Some(ack) = &self.ack {
                    self.out.push_back(TxOutput::Send(Message::Request(Request::clone(ack))));
                }
            }
            _ => {}
        }
    }

    /// Fires every timer due at `now`; an early or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.armed.pop_due(now) {
            match due.kind {
                TimerKind::A if self.state == TxState::Calling => {
                    // §17.1.1.2: retransmit and double Timer A (no cap for INVITE).
                    self.out.push_back(TxOutput::Send(Message::Request(self.request.clone())));
                    let (at, interval) = next_retransmit(due.at, now, self.a_interval, |i| i * 2);
                    self.a_interval = interval;
                    self.armed.arm(at, TimerKind::A);
                }
                TimerKind::B if self.state == TxState::Calling => {
                    // §17.1.1.2: Timer B — the TU is told of the timeout and the transaction ends.
                    self.out.push_back(TxOutput::Timeout);
                    self.terminate();
                }
                // Timer D ends Completed (§17.1.1.2); Timer M ends Accepted (RFC 6026 §8.4).
                TimerKind::D | TimerKind::M => self.terminate(),
                _ => {}
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

    pub fn key(&self) -> &ClientKey {
        &self.key
    }

    /// The INVITE this transaction sent.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The ACK for a non-2xx final `response` to this INVITE, built per §17.1.1.3: the INVITE's
    /// Request-URI, Call-ID, From and CSeq number (method ACK), the To of the response (with its tag), one
    /// Via equal to the INVITE's top Via, the INVITE's Route headers, Max-Forwards 70, no body.
    pub fn ack_for(&self, response: &Response) -> Request {
        let invite = &self.request;
        let mut ack = Request::new(Method::Ack, invite.uri.clone());
        let headers = &mut ack.headers;
        if let Some(via) = invite.headers.get(&HeaderName::VIA) {
            headers.push(HeaderName::VIA, via);
        }
        headers.push(HeaderName::MAX_FORWARDS, "70");
        for route in invite.headers.get_all(&HeaderName::ROUTE) {
            headers.push(HeaderName::ROUTE, route);
        }
        for name in [HeaderName::FROM, HeaderName::TO, HeaderName::CALL_ID] {
            let source = if name == HeaderName::TO && response.headers.contains(&name) {
                &response.headers
            } else {
                &invite.headers
            };
            if let Some(value) = source.get(&name) {
                headers.push(name, value);
            }
        }
        let seq = invite.cseq().map_or(0, |cseq| cseq.seq);
        headers.push(HeaderName::CSEQ, CSeq::text(seq, &Method::Ack));
        ack
    }

    fn terminate(&mut self) {
        self.state = TxState::Terminated;
        self.armed.clear();
        self.out.push_back(TxOutput::Terminated);
    }
}
