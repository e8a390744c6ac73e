//! The user agent core for requests that belong to no call (RFC 3261 §8.2, §11, §12.2.2): each gets a
//! server transaction (§17.2) so retransmissions are absorbed and final responses to INVITE are
//! retransmitted until their ACK, and is answered by the rules of `stateless`.
//!
//! Generic over the peer handle `P` (the actor's transport address), which it only carries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Instant;

use super::stateless;
use super::transaction::{ServerKey, ServerTx, TimerConfig, TxOutput};
use crate::sip::{Message, Method, Request, Response, SipHeaders};

/// What new out-of-dialog INVITEs get while the endpoint answers them itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitePolicy {
    /// No route allows this source: 403 (nothing is forwarded anywhere).
    Forbidden,
    /// We cannot take the call now: 503.
    Unavailable,
}

struct Entry<P> {
    key: ServerKey,
    peer: P,
    tx: ServerTx,
    /// The deadline this entry is filed under in the heap (older heap records are stale).
    armed: Option<Instant>,
}

pub struct Endpoint<P> {
    timers: TimerConfig,
    next_id: u64,
    ids: HashMap<ServerKey, u64>,
    entries: HashMap<u64, Entry<P>>,
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    out: VecDeque<(P, Message)>,
}

impl<P: Clone> Endpoint<P> {
    pub fn new(timers: TimerConfig) -> Endpoint<P> {
        Endpoint {
            timers,
            next_id: 0,
            ids: HashMap::new(),
            entries: HashMap::new(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
        }
    }

    /// A request from `peer`. `reliable` says whether it came over a stream (no retransmissions).
    pub fn handle_request(
        &mut self,
        now: Instant,
        peer: P,
        reliable: bool,
        request: Request,
        invites: InvitePolicy,
    ) {
        let Some(key) = ServerKey::for_request(&request) else { return };
        if let Some(&id) = self.ids.get(&key) {
            // A retransmission, or the ACK for a non-2xx final response (§17.2.1).
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.tx.handle_request(now, request);
            }
            return self.after_input(id);
        }
        if request.method == Method::Ack {
            return; // an ACK for nothing we answered: absorbed, never answered (§17.2.3)
        }
        let response = match stateless::precheck(&request) {
            Some(response) => response,
            None => self.decide(&request, invites),
        };
        let id = self.next_id;
        self.next_id += 1;
        let tx = ServerTx::new(request, reliable, self.timers, now);
        let mut entry = Entry { key: key.clone(), peer, tx, armed: None };
        entry.tx.respond(now, response);
        self.ids.insert(key, id);
        self.entries.insert(id, entry);
        self.after_input(id);
    }

    fn decide(&self, request: &Request, invites: InvitePolicy) -> Response {
        let in_dialog = request.to_tag().is_some();
        match request.method {
            // §9.2: a CANCEL for an INVITE we already answered gets 200 and changes nothing.
            Method::Cancel => match ServerKey::for_cancel_target(request) {
                Some(target) if self.ids.contains_key(&target) => stateless::reply(request, 200),
                _ => stateless::no_such_dialog(request),
            },
            _ if in_dialog => stateless::no_such_dialog(request),
            Method::Options => stateless::options(request),
            Method::Invite => match invites {
                InvitePolicy::Forbidden => stateless::reply(request, 403),
                InvitePolicy::Unavailable => stateless::reply(request, 503),
            },
            // BYE, UPDATE, INFO... outside a dialog: there is no dialog for them (§12.2.2).
            _ => stateless::no_such_dialog(request),
        }
    }

    /// Drains a transaction's outputs, removes it when it ends, files its next deadline.
    fn after_input(&mut self, id: u64) {
        let Some(entry) = self.entries.get_mut(&id) else { return };
        let mut terminated = false;
        while let Some(output) = entry.tx.poll_output() {
            match output {
                TxOutput::Send(message) => self.out.push_back((entry.peer.clone(), message)),
                TxOutput::Terminated => terminated = true,
                TxOutput::Deliver(_) | TxOutput::Timeout => {}
            }
        }
        if terminated {
            let entry = self.entries.remove(&id).expect("entry present");
            self.ids.remove(&entry.key);
            return;
        }
        let next = entry.tx.poll_timeout().map(|d| d.at);
        if next != entry.armed {
            entry.armed = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, id)));
            }
        }
    }

    /// Fires every transaction timer that is due; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(entry) = self.entries.get_mut(&id) else { continue };
            if entry.armed != Some(at) {
                continue; // stale record: the entry was re-filed under a later deadline
            }
            entry.armed = None;
            entry.tx.handle_timeout(now);
            self.after_input(id);
        }
    }

    /// The next message to put on the wire, with the peer it goes to.
    pub fn poll_output(&mut self) -> Option<(P, Message)> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Live server transactions (for tests and metrics: zero once everything has ended).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
