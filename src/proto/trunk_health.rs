//! Trunk health by OPTIONS pings (RFC 3261 §11): every `ping_interval` seconds each pinged trunk gets an
//! OPTIONS in a new non-INVITE client transaction (§17.1.2, so Timer E retransmits over UDP and Timer F
//! ends an unanswered ping); `ping_down_after` consecutive failures mark it down, `ping_up_after`
//! consecutive successes mark it up again. The router reads the result through [`TrunkHealth`].
//!
//! Driven like every machine here, with the time handed in: [`Monitor::handle_timeout`] makes pings due
//! and fires transaction timers; the owner takes each due trunk from [`Monitor::poll_due`], finds where its
//! URI leads (RFC 3263, which is I/O) and answers [`Monitor::send_ping`] or [`Monitor::unreachable`];
//! [`Monitor::poll_transmit`] yields the requests to put on the wire, [`Monitor::handle_response`] takes
//! the answers (the owner routes them here by the [`CALL_ID_PREFIX`] of their Call-ID), and
//! [`Monitor::poll_event`] reports each change of a trunk's state.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ids::Ids;
use super::stateless::AGENT;
use super::transaction::{ClientKey, ClientNonInvite, TimerConfig, TxOutput};
use crate::config::Config;
use crate::sip::build::{our_contact, our_via};
use crate::sip::{HeaderName, HostPort, Message, Method, Request, Response, Uri};

/// Every ping's Call-ID starts with this, so the dispatcher can hand its responses to the pinger.
pub const CALL_ID_PREFIX: &str = "sst-ping-";

/// The up/down state of every configured trunk (by index in `trunks`), shared without locks between the
/// pinger, which writes it, and the router, which reads it for every INVITE. Trunks start up, and a trunk
/// that is not pinged stays up.
#[derive(Debug, Clone)]
pub struct TrunkHealth(Arc<[AtomicBool]>);

impl TrunkHealth {
    pub fn all_up(trunks: usize) -> TrunkHealth {
        TrunkHealth((0..trunks).map(|_| AtomicBool::new(true)).collect())
    }

    /// Whether `trunk` may take calls (an index out of range is up: nothing says otherwise).
    pub fn is_up(&self, trunk: usize) -> bool {
        // Relaxed: each flag stands alone, and a call routed a moment before a change is routed either way.
        self.0.get(trunk).is_none_or(|up| up.load(Ordering::Relaxed))
    }

    pub fn set(&self, trunk: usize, up: bool) {
        if let Some(flag) = self.0.get(trunk) {
            flag.store(up, Ordering::Relaxed);
        }
    }
}

/// One trunk to ping, from its configuration.
#[derive(Debug, Clone)]
pub struct PingTarget {
    /// Index of the trunk in `trunks`.
    pub trunk: usize,
    /// The trunk's `uri`: Request-URI and To of every ping.
    pub uri: Uri,
    pub interval: Duration,
    /// Consecutive failures that mark the trunk down (N ≥ 1).
    pub down_after: u32,
    /// Consecutive successes that mark it up again (M ≥ 1).
    pub up_after: u32,
}

impl PingTarget {
    /// The trunks of a validated configuration that have a `ping_interval`.
    pub fn from_config(config: &Config) -> Vec<PingTarget> {
        config
            .trunks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.ping_interval > 0)
            .filter_map(|(trunk, t)| {
                Some(PingTarget {
                    trunk,
                    uri: Uri::parse(&t.uri)?,
                    interval: Duration::from_secs(t.ping_interval),
                    down_after: t.ping_down_after.max(1),
                    up_after: t.ping_up_after.max(1),
                })
            })
            .collect()
    }
}

/// Where the owner sends a ping, as our Via and Contact must name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Via transport token: `UDP`, `TCP`, `TLS`.
    pub transport: &'static str,
    /// Our address as the trunk must see it (listening address or `advertise`).
    pub local: HostPort,
    /// A stream transport: no retransmissions (RFC 3261 §17.1.2.2).
    pub reliable: bool,
}

/// How one ping ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A final response with this status.
    Answered(u16),
    /// Timer F fired: no final response (§17.1.2.2).
    Timeout,
    /// The owner found no way to send it (DNS, no listener, connection refused), with why.
    Unreachable(String),
}

impl Outcome {
    /// Whether the ping proves the trunk alive. Any final response does — a SIP server read our request
    /// and answered it: 401/407 (it wants credentials, and calls will carry them), 403, 404, 405 (it does
    /// not do OPTIONS), 480, 486, 500... — except two that say the opposite. 408: the trunk did not answer
    /// in time (sent by a proxy or load balancer in front of it whose own transaction timed out: the
    /// trunk is silent behind it). 503: RFC 3261 §21.5.4 "temporarily unable to process the request due
    /// to a temporary overloading or maintenance", which RFC 3263 §4.3 treats as a reason to try another
    /// server: exactly when new calls should go elsewhere.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Answered(status) if !matches!(status, 408 | 503))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Answered(status) => write!(f, "answered {status}"),
            Outcome::Timeout => f.write_str("no answer (Timer F)"),
            Outcome::Unreachable(why) => write!(f, "unreachable: {why}"),
        }
    }
}

/// A trunk changed state; `cause` is the ping that tipped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthEvent {
    pub trunk: usize,
    pub up: bool,
    pub cause: Outcome,
}

#[derive(Debug)]
enum State {
    /// The next ping goes at `next`.
    Idle { next: Instant },
    /// The ping is due; the owner is finding where it goes.
    Routing,
    /// The OPTIONS is out.
    InFlight(Box<ClientNonInvite>),
}

#[derive(Debug)]
struct Pinged {
    target: PingTarget,
    up: bool,
    failures: u32,
    successes: u32,
    cseq: u32,
    /// When the current (or last) ping was due: the next is due `interval` later.
    due_at: Instant,
    state: State,
}

/// The pings of every pinged trunk. One ping per trunk is in flight at a time: the next is due `interval`
/// after the previous one was, or at once when the previous one ended later than that (a silent trunk
/// over UDP is pinged every Timer F, 32 s, so it is marked down after N × 32 s).
pub struct Monitor {
    timers: TimerConfig,
    ids: Ids,
    trunks: Vec<Pinged>,
    due: VecDeque<usize>,
    transmit: VecDeque<(usize, Request)>,
    events: VecDeque<HealthEvent>,
}

impl Monitor {
    /// Every trunk starts up, its first ping due at `now`. `seed` feeds tags, branches and Call-IDs.
    pub fn new(now: Instant, targets: Vec<PingTarget>, timers: TimerConfig, seed: u64) -> Monitor {
        let trunks = targets
            .into_iter()
            .map(|target| Pinged {
                target,
                up: true,
                failures: 0,
                successes: 0,
                cseq: 0,
                due_at: now,
                state: State::Idle { next: now },
            })
            .collect();
        Monitor {
            timers,
            ids: Ids::from_seed(seed),
            trunks,
            due: VecDeque::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Whether `trunk` is up (a trunk this monitor does not ping is).
    pub fn is_up(&self, trunk: usize) -> bool {
        self.find(trunk).is_none_or(|i| self.trunks[i].up)
    }

    fn find(&self, trunk: usize) -> Option<usize> {
        self.trunks.iter().position(|p| p.target.trunk == trunk)
    }

    /// Makes due pings due and fires the transaction timers due at `now`; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.trunks.len() {
            let pinged = &mut self.trunks[i];
            match &mut pinged.state {
                State::Idle { next } if *next <= now => {
                    pinged.due_at = *next;
                    pinged.state = State::Routing;
                    self.due.push_back(pinged.target.trunk);
                }
                State::InFlight(tx) => {
                    tx.handle_timeout(now);
                    self.drain(i, now);
                }
                State::Idle { .. } | State::Routing => {}
            }
        }
    }

    /// The next trunk whose ping is due: the owner answers with `send_ping` or `unreachable`.
    pub fn poll_due(&mut self) -> Option<usize> {
        self.due.pop_front()
    }

    /// Sends the due ping of `trunk` through `hop`: a new OPTIONS transaction. Ignored unless a ping of
    /// that trunk is due.
    pub fn send_ping(&mut self, now: Instant, trunk: usize, hop: &Hop) {
        let Some(i) = self.find(trunk) else { return };
        if !matches!(self.trunks[i].state, State::Routing) {
            return;
        }
        self.trunks[i].cseq += 1;
        let request = self.options(i, hop);
        let tx = ClientNonInvite::new(request, hop.reliable, self.timers, now);
        self.trunks[i].state = State::InFlight(Box::new(tx));
        self.drain(i, now);
    }

    /// The due ping of `trunk` cannot be sent (its URI does not resolve, no listener, no connection):
    /// it counts as a failed ping.
    pub fn unreachable(&mut self, now: Instant, trunk: usize, why: String) {
        let Some(i) = self.find(trunk) else { return };
        if matches!(self.trunks[i].state, State::Routing) {
            self.finish(i, now, Outcome::Unreachable(why));
        }
    }

    /// A response to one of our pings (a response matching none, e.g. a late retransmission of a final
    /// response whose transaction is gone, is dropped: that is all Timer K would have done with it).
    pub fn handle_response(&mut self, now: Instant, response: Response) {
        let Some(key) = ClientKey::for_response(&response) else { return };
        let found =
            self.trunks.iter().position(|p| matches!(&p.state, State::InFlight(tx) if *tx.key() == key));
        let Some(i) = found else { return };
        if let State::InFlight(tx) = &mut self.trunks[i].state {
            tx.handle_response(now, response);
        }
        self.drain(i, now);
    }

    /// The next request to put on the wire, with the trunk it goes to (retransmissions included).
    pub fn poll_transmit(&mut self) -> Option<(usize, Request)> {
        self.transmit.pop_front()
    }

    /// The next change of a trunk's state.
    pub fn poll_event(&mut self) -> Option<HealthEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` has something to do next (a ping due, a retransmission, Timer F).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.trunks
            .iter()
            .filter_map(|p| match &p.state {
                State::Idle { next } => Some(*next),
                State::InFlight(tx) => tx.poll_timeout().map(|d| d.at),
                State::Routing => None,
            })
            .min()
    }

    /// Takes what trunk `i`'s transaction produced; ends the ping on a final response or Timer F. The
    /// transaction is dropped with its final response (not kept through Timer K): retransmissions of that
    /// response then match nothing and are dropped, which is all Timer K would do with them.
    fn drain(&mut self, i: usize, now: Instant) {
        let trunk = self.trunks[i].target.trunk;
        let State::InFlight(tx) = &mut self.trunks[i].state else { return };
        let mut outcome = None;
        while let Some(output) = tx.poll_output() {
            match output {
                TxOutput::Send(Message::Request(request)) => self.transmit.push_back((trunk, request)),
                TxOutput::Deliver(response) if !response.is_provisional() => {
                    outcome.get_or_insert(Outcome::Answered(response.status));
                }
                TxOutput::Timeout => {
                    outcome.get_or_insert(Outcome::Timeout);
                }
                TxOutput::Send(Message::Response(_)) | TxOutput::Deliver(_) | TxOutput::Terminated => {}
            }
        }
        if let Some(outcome) = outcome {
            self.finish(i, now, outcome);
        }
    }

    /// Counts a finished ping, schedules the next, reports a change of state.
    fn finish(&mut self, i: usize, now: Instant, outcome: Outcome) {
        let pinged = &mut self.trunks[i];
        pinged.state = State::Idle { next: (pinged.due_at + pinged.target.interval).max(now) };
        let changed = if outcome.is_success() {
            pinged.failures = 0;
            pinged.successes = pinged.successes.saturating_add(1);
            !pinged.up && pinged.successes >= pinged.target.up_after
        } else {
            pinged.successes = 0;
            pinged.failures = pinged.failures.saturating_add(1);
            pinged.up && pinged.failures >= pinged.target.down_after
        };
        if changed {
            pinged.up = !pinged.up;
            self.events.push_back(HealthEvent { trunk: pinged.target.trunk, up: pinged.up, cause: outcome });
        }
    }

    /// `OPTIONS <trunk uri>` (RFC 3261 §11.1) for trunk `i`, through `hop`: a fresh Call-ID (with our
    /// prefix), From tag and branch for every ping, CSeq counting the trunk's pings.
    fn options(&mut self, i: usize, hop: &Hop) -> Request {
        let pinged = &self.trunks[i];
        let uri = pinged.target.uri.clone();
        let cseq = pinged.cseq;
        let mut request = Request::new(Method::Options, uri.clone());
        let via = our_via(hop.transport, &hop.local, |out| self.ids.push_branch(out));
        let contact = our_contact(hop.transport, &hop.local);
        let call_id = format!("{CALL_ID_PREFIX}{}", self.ids.call_id(AGENT));
        let h = &mut request.headers;
        h.push(HeaderName::VIA, via);
        h.push(HeaderName::MAX_FORWARDS, "70");
        h.push(HeaderName::FROM, format!("<sip:{AGENT}@{}>;tag={}", hop.local, self.ids.tag()));
        h.push(HeaderName::TO, format!("<{uri}>"));
        h.push(HeaderName::CALL_ID, call_id);
        h.push(HeaderName::CSEQ, format!("{cseq} OPTIONS"));
        h.push(HeaderName::CONTACT, contact);
        // §11.1: say what we would accept in the body of the answer.
        h.push(HeaderName::ACCEPT, "application/sdp");
        h.push(HeaderName::USER_AGENT, AGENT);
        request
    }
}

#[cfg(test)]
mod tests;
