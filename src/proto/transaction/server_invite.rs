//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7) with the Accepted state of RFC 6026 §7.1 and
//! §8.7: the immediate 100 Trying, Timer G retransmissions of a non-2xx final response, Timer H waiting for
//! the ACK, Timer I absorbing ACK retransmissions, Timer L absorbing INVITE retransmissions after a 2xx.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::key::ServerKey;
use super::timers::{next_retransmit, Armed, TimerConfig};
use super::{TxOutput, TxState};
use crate::proto::time::{Deadline, TimerKind};
use crate::sip::build::response_to;
use crate::sip::{Message, Method, Request, Response};

/// A server INVITE transaction. States: Proceeding, Accepted, Completed, Confirmed, Terminated.
#[derive(Debug, Clone)]
pub struct ServerInvite {
    request: Request,
    key: ServerKey,
    reliable: bool,
    timers: TimerConfig,
    state: TxState,
    armed: Armed,
    /// The interval that led to the armed Timer G.
    g_interval: Duration,
    /// The last response sent: re-sent for a retransmitted INVITE in Proceeding and Completed (never in
    /// Accepted, where the TU owns 2xx retransmission).
    last_response: Response,
    out: VecDeque<TxOutput>,
}

impl ServerInvite {
    /// Starts the transaction in Proceeding and queues a 100 Trying at once (§17.2.1 allows it straight
    /// away; it stops the client's Timer A).
    pub fn new(request: Request, reliable: bool, timers: TimerConfig, _now: Instant) -> ServerInvite {
        let key = ServerKey::for_request(&request).unwrap_or_else(|| ServerKey::unkeyed(&request));
        let trying = response_to(&request, 100, None);
        let mut tx = ServerInvite {
            key,
            reliable,
            timers,
            state: TxState::Proceeding,
            armed: Armed::default(),
            g_interval: timers.timer_g(),
            last_response: trying.clone(),
            out: VecDeque::new(),
            request,
        };
        tx.out.push_back(TxOutput::Send(Message::Response(trying)));
        tx
    }

    /// A request whose [`ServerKey`] matched this transaction: a retransmitted INVITE, or the ACK for a
    /// non-2xx final response (§17.2.1). Anything else is ignored.
    pub fn handle_request(&mut self, now: Instant, request: Request) {
        match (&request.method, self.state) {
            // §17.2.1: a retransmitted INVITE in Proceeding gets the last provisional response again, and in
            // Completed the final response again.
            (Method::Invite, TxState::Proceeding | TxState::Completed) => self.resend_last(),
            // §17.2.1: the ACK in Completed stops G and H and moves to Confirmed, where Timer I absorbs ACK
            // retransmissions (zero over a reliable transport, so straight to Terminated).
            (Method::Ack, TxState::Completed) => {
                self.state = TxState::Confirmed;
                self.armed.clear();
                let wait = self.timers.timer_i(self.reliable);
                if wait.is_zero() {
                    self.terminate();
                } else {
                    self.armed.arm(now + wait, TimerKind::I);
                }
            }
            // RFC 6026 §8.7: Accepted absorbs retransmitted INVITEs (the TU retransmits the 2xx); an ACK
            // for the 2xx belongs to the dialog. Confirmed absorbs ACKs and INVITEs (§17.2.1).
            _ => {}
        }
    }

    /// The TU's response to the INVITE.
    pub fn respond(&mut self, now: Instant, response: Response) {
        match self.state {
            TxState::Proceeding if response.is_provisional() => {
                // §17.2.1: a provisional response goes out and is remembered for INVITE retransmissions.
                self.send_and_keep(response);
            }
            TxState::Proceeding if response.status < 300 => {
                // RFC 6026 §7.1, §8.7: a 2xx goes out and the transaction waits in Accepted for Timer L;
                // retransmitting the 2xx is the TU's job (RFC 3261 §13.3.1.4), so neither it nor the
                // INVITE's body is kept for those 32 s: Accepted only absorbs retransmitted INVITEs, and
                // of the 2xx only its status is read again (the TU has its final response).
                self.last_response = Response::new(response.status);
                self.out.push_back(TxOutput::Send(Message::Response(response)));
                self.request.keep_echo_only();
                self.state = TxState::Accepted;
                self.armed.arm(now + self.timers.timer_l(), TimerKind::L);
            }
            TxState::Proceeding => {
                // §17.2.1: a 300-699 response goes out; Completed arms Timer G (unreliable only) and H.
                self.send_and_keep(response);
                self.state = TxState::Completed;
                if !self.reliable {
                    self.g_interval = self.timers.timer_g();
                    self.armed.arm(now + self.g_interval, TimerKind::G);
                }
                self.armed.arm(now + self.timers.timer_h(), TimerKind::H);
            }
            // RFC 6026 §8.7: each 2xx the TU passes down in Accepted (its retransmissions) goes out.
            TxState::Accepted if (200..300).contains(&response.status) => {
                self.out.push_back(TxOutput::Send(Message::Response(response)))
            }
            _ => {}
        }
    }

    /// Fires every timer due at `now`; an early or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(due) = self.armed.pop_due(now) {
            match (due.kind, self.state) {
                (TimerKind::G, TxState::Completed) => {
                    // §17.2.1: retransmit the final response; the interval doubles up to T2.
                    self.resend_last();
                    let timers = self.timers;
                    let (at, interval) = next_retransmit(due.at, now, self.g_interval, |i| timers.backoff(i));
                    self.g_interval = interval;
                    self.armed.arm(at, TimerKind::G);
                }
                (TimerKind::H, TxState::Completed) => {
                    // §17.2.1: Timer H — no ACK came; the TU is told and the transaction ends.
                    self.out.push_back(TxOutput::Timeout);
                    self.terminate();
                }
                // Timer I ends Confirmed (§17.2.1); Timer L ends Accepted (RFC 6026 §8.7).
                (TimerKind::I, _) | (TimerKind::L, _) => self.terminate(),
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

    pub fn key(&self) -> &ServerKey {
        &self.key
    }

    /// The INVITE that created this transaction.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The last response sent through this transaction (the 100 Trying until the TU answers).
    pub fn last_response(&self) -> &Response {
        &self.last_response
    }

    fn send_and_keep(&mut self, response: Response) {
        self.out.push_back(TxOutput::Send(Message::Response(response.clone())));
        self.last_response = response;
    }

    fn resend_last(&mut self) {
        self.out.push_back(TxOutput::Send(Message::Response(self.last_response.clone())));
    }

    fn terminate(&mut self) {
        self.state = TxState::Terminated;
        self.armed.clear();
        self.out.push_back(TxOutput::Terminated);
    }
}
