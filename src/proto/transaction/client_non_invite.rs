//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6): Timer E retransmissions (T1 doubling
//! to T2, every T2 once Proceeding), Timer F timeout, Timer K absorbing response retransmissions.
//! Not for ACK, which has no transaction (§17).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::key::ClientKey;
use super::timers::{next_retransmit, Armed, TimerConfig};
use super::{TxOutput, TxState};
use crate::proto::time::{Deadline, TimerKind};
use crate::sip::{Message, Request, Response};

/// A client non-INVITE transaction. States: Trying, Proceeding, Completed, Terminated.
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    request: Request,
    key: ClientKey,
    reliable: bool,
    timers: TimerConfig,
    state: TxState,
    armed: Armed,
    /// The interval that led to the armed Timer E.
    e_interval: Duration,
    out: VecDeque<TxOutput>,
}

impl ClientNonInvite {
    /// Starts the transaction in Trying and queues the request for the wire (§17.1.2.2).
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, now: Instant) -> ClientNonInvite {
        let key = ClientKey::for_request(&request)
            .unwrap_or_else(|| ClientKey { branch: String::new(), method: request.method.clone() });
        let mut tx = ClientNonInvite {
            key,
            reliable,
            timers,
            state: TxState::Trying,
            armed: Armed::default(),
            e_interval: timers.timer_e(),
            out: VecDeque::new(),
            request,
        };
        tx.out.push_back(TxOutput::Send(Message::Request(tx.request.clone())));
        // §17.1.2.2: Timer E only over an unreliable transport; Timer F always.
        if !reliable {
            tx.armed.arm(now + tx.e_interval, TimerKind::E);
        }
        tx.armed.arm(now + timers.timer_f(), TimerKind::F);
        tx
    }

    /// A response whose [`ClientKey`] matched this transaction (§17.1.3).
    pub fn handle_response(&mut self, now: Instant, response: Response) {
        match self.state {
            TxState::Trying | TxState::Proceeding => {
                if response.is_provisional() {
                    // §17.1.2.2: Trying → Proceeding; Timer E keeps running (at T2 from its next firing)
                    // and every provisional response goes up to the TU.
                    self.state = TxState::Proceeding;
                    self.out.push_back(TxOutput::Deliver(response));
                } else {
                    // §17.1.2.2: a final response goes up; Completed arms Timer K (zero when reliable).
                    self.out.push_back(TxOutput::Deliver(response));
                    self.state = TxState::Completed;
                    self.armed.clear();
                    let wait = self.timers.timer_k(self.reliable);
                    if wait.is_zero() {
                        self.terminate();
                    } else {
                        self.armed.arm(now + wait, TimerKind::K);
                    }
                }
            }
            // §17.1.2.2: Completed absorbs response retransmissions; Terminated ignores everything.
            _ => {}
        }
    }

    /// Fires every timer due at `now`; an early or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.armed.pop_due(now) {
            match (due.kind, self.state) {
                (TimerKind::E, TxState::Trying | TxState::Proceeding) => {
                    // §17.1.2.2: retransmit; in Trying the interval doubles up to T2, in Proceeding it is T2.
                    self.out.push_back(TxOutput::Send(Message::Request(self.request.clone())));
                    let timers = self.timers;
                    let (at, interval) = if self.state == TxState::Trying {
                        next_retransmit(due.at, now, self.e_interval, |i| timers.backoff(i))
                    } else {
                        next_retransmit(due.at, now, self.e_interval, |_| timers.t2)
                    };
                    self.e_interval = interval;
                    self.armed.arm(at, TimerKind::E);
                }
                (TimerKind::F, TxState::Trying | TxState::Proceeding) => {
                    // §17.1.2.2: Timer F — the TU is told of the timeout and the transaction ends.
                    self.out.push_back(TxOutput::Timeout);
                    self.terminate();
                }
                (TimerKind::K, _) => self.terminate(),
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

    /// The request this transaction sent.
    pub fn request(&self) -> &Request {
        &self.request
    }

    fn terminate(&mut self) {
        self.state = TxState::Terminated;
        self.armed.clear();
        self.out.push_back(TxOutput::Terminated);
    }
}
