//! A bridged call: leg A (we are UAS) and leg B (we are UAC), each its own RFC 3261 dialog with its own
//! Call-ID, tags, CSeq space and transactions. A sans-IO machine: `handle_input(now, input)`,
//! `handle_timeout(now)`, `poll_output()`, `poll_timeout()`; the actor owns the sockets and the clock.
//!
//! Files: `setup.rs` (leg B's INVITE, provisional/final responses, CANCEL, ring timeout, forks),
//! `in_dialog.rs` (BYE, relayed requests and their responses, ACKs), `bridge.rs` (what crosses legs),
//! `leg.rs` (one leg's state), `end_reason.rs`.

mod auth;
mod bridge;
mod end_reason;
mod in_dialog;
mod leg;
mod setup;
mod timer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use bridge::PassList;
pub use end_reason::EndReason;
pub use leg::LegSetup;

use leg::Leg;

use crate::config::SessionTimerConfig;
use crate::proto::ids::Ids;
use crate::proto::session_timer::UasDecision;
use crate::proto::transaction::{ServerKey, TimerConfig, TxOutput};
use crate::sip::{Message, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegId {
    /// The caller's leg: we are its UAS.
    A,
    /// The leg we originate: we are its UAC.
    B,
}

impl LegId {
    pub fn other(self) -> LegId {
        match self {
            LegId::A => LegId::B,
            LegId::B => LegId::A,
        }
    }
}

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LegId::A => "A",
            LegId::B => "B",
        })
    }
}

/// What a call needs to know beyond the INVITE that starts it.
#[derive(Debug, Clone)]
pub struct CallConfig {
    pub timers: TimerConfig,
    /// No answer within this long → CANCEL leg B, 408 to the caller.
    pub ring_timeout: Duration,
    /// Leg B's Request-URI host part (route target or trunk URI); the user is kept from leg A.
    pub target: String,
    pub pass: PassList,
    /// Digest username and password for challenges on leg B (a trunk's credentials).
    pub credentials: Option<(String, String)>,
    /// RFC 4028 settings for leg A and leg B (each leg negotiates and runs its own timer).
    pub timer_a: SessionTimerConfig,
    pub timer_b: SessionTimerConfig,
    /// The route's name, for the log.
    pub route: String,
    /// The TLS server name leg B's trunk asks for (its `tls_server_name` or profile), over the URI's host.
    pub server_name: Option<String>,
    /// A 503 whose Retry-After is at most this many seconds still fails over to the next target (one
    /// without Retry-After always does); a longer one goes to the caller.
    pub failover_max_retry_after: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input<P> {
    /// A message from leg A's peer (matched by leg A's Call-ID).
    FromA(Message),
    /// A message from leg B's peer (matched by leg B's Call-ID).
    FromB(Message),
    /// The actor resolved leg B's next hop: the INVITE goes out (the only or last target).
    Connect(LegSetup<P>),
    /// One of several targets for leg B (RFC 3263 §4.3): with `more`, a transaction timeout or a 503 there
    /// makes the call ask for the next one ([`Output::NextTarget`]) instead of failing.
    Target { setup: LegSetup<P>, more: bool },
    /// Leg B's next hop could not be resolved.
    Unreachable(String),
    /// The daemon stops: end the call on both legs.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // drained at once by the actor; boxing every send would cost more
pub enum Output<P> {
    Send {
        to: P,
        message: Message,
    },
    /// Leg B answered and the answer went to leg A.
    Answered,
    /// Leg B's target failed (timeout or 503): the actor answers with the next target or `Unreachable`.
    NextTarget,
    /// The call is over (messages may still flow to finish its transactions).
    Ended(EndReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for leg B's next hop.
    Resolving,
    /// Leg B's INVITE is out, no answer yet.
    Calling,
    /// Both legs confirmed.
    Confirmed,
}

/// An ACK to send on `to` once the ACK for our 2xx arrives on the other leg (the offer was in the 2xx, so
/// the answer is in that ACK: RFC 3264 §5, RFC 3261 §13.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AckRelay {
    /// The leg whose ACK we wait for and the CSeq it carries.
    on: LegId,
    on_cseq: u32,
    /// The CSeq of the INVITE on the other leg that this ACK completes.
    to_cseq: u32,
}

pub struct Call<P> {
    a: Leg<P>,
    b: Leg<P>,
    /// Shared by every call of the same route.
    config: Arc<CallConfig>,
    ids: Ids,
    phase: Phase,
    /// Our To tag on leg A.
    a_tag: Box<str>,
    /// RFC 4028 §9: what leg A's INVITE asked of our timer, and what our 2xx will say.
    a_decision: UasDecision,
    /// Boxed: read while leg A's INVITE is answered, then only held (a key is ~90 bytes).
    invite_a: Box<ServerKey>,
    /// Leg B's Call-ID (ours).
    b_call_id: Box<str>,
    /// Whether the actor has another target for leg B (RFC 3263 §4.3).
    more_targets: bool,
    /// Leg B attempts given up for the next target: their INVITE transactions finish with the target
    /// they were sent to (an ACK for a repeated 503 goes there); what they deliver is ignored.
    retired: thin_vec::ThinVec<Leg<P>>,
    /// Leg B's INVITE as sent (for CANCEL and the dialog), once sent.
    /// Boxed: only while leg B is being set up (a held call has dropped it).
    invite_b: Option<Box<Request>>,
    b_provisional: bool,
    cancel_pending: bool,
    cancel_deadline: Option<Instant>,
    ring_deadline: Option<Instant>,
    ack_relay: Option<AckRelay>,
    end: Option<EndReason>,
    /// After the end, the call is dropped by then whatever is still open.
    finish_by: Option<Instant>,
    out: VecDeque<Output<P>>,
}

/// A copy of what a client transaction sent, for the handlers that read it: relayed requests and
/// refreshes, and digest challenges (401/407, RFC 3261 §22.2). Leg B's INVITE is not copied for each of
/// its provisional and final responses.
fn sent_if_needed(role: &leg::ClientRole, status: Option<u16>, sent: &Request) -> Option<Request> {
    let needed = matches!(role, leg::ClientRole::Relay { .. } | leg::ClientRole::Refresh { .. })
        || matches!(status, Some(401 | 407));
    needed.then(|| sent.clone())
}

/// What happened to a client transaction, for its role's handler.
enum ClientEvent {
    Response(crate::sip::Response),
    Timeout,
}

impl<P: Clone> Call<P> {
    /// A call for `invite` from leg A. The server transaction answers 100 Trying at once; leg B starts on
    /// [`Input::Connect`].
    pub fn new(
        now: Instant,
        invite: Request,
        a: LegSetup<P>,
        config: impl Into<Arc<CallConfig>>,
        seed: u64,
    ) -> Call<P> {
        let config = config.into();
        let mut ids = Ids::from_seed(seed);
        let mut leg_a = Leg::new(Some(a), config.timer_a.clone());
        let a_decision = crate::proto::session_timer::negotiate::uas_decide(&config.timer_a, &invite);
        leg_a.timer.learn_allow(&invite.headers);
        if !invite.body.is_empty() {
            leg_a.sdp.incoming(&invite.body);
        }
        let invite_a = Box::new(leg_a.start_server(invite, config.timers, now));
        let mut call = Call {
            a: leg_a,
            b: Leg::new(None, config.timer_b.clone()),
            a_tag: ids.tag().into(),
            a_decision,
            b_call_id: ids.call_id("sst-b2bua").into(),
            more_targets: false,
            retired: thin_vec::ThinVec::new(),
            ids,
            config,
            phase: Phase::Resolving,
            invite_a,
            invite_b: None,
            b_provisional: false,
            cancel_pending: false,
            cancel_deadline: None,
            ring_deadline: None,
            ack_relay: None,
            end: None,
            finish_by: None,
            out: VecDeque::new(),
        };
        call.check_max_forwards(now);
        call.check_session_interval(now);
        call.pump(now);
        call
    }

    /// Leg B's Call-ID, for the actor's call index.
    /// What the call was configured with (shared by every call of its route).
    pub fn config(&self) -> &Arc<CallConfig> {
        &self.config
    }

    pub fn b_call_id(&self) -> &str {
        &self.b_call_id
    }

    pub fn end_reason(&self) -> Option<&EndReason> {
        self.end.as_ref()
    }

    pub fn handle_input(&mut self, now: Instant, input: Input<P>) {
        match input {
            Input::FromA(Message::Request(r)) => self.on_request(now, LegId::A, r),
            Input::FromB(Message::Request(r)) => self.on_request(now, LegId::B, r),
            Input::FromA(Message::Response(r)) => self.on_response(now, LegId::A, r),
            Input::FromB(Message::Response(r)) => self.on_response(now, LegId::B, r),
            Input::Connect(setup) => self.connect(now, setup, false),
            Input::Target { setup, more } => self.connect(now, setup, more),
            Input::Unreachable(why) => self.fail_setup(now, 503, EndReason::Unreachable(why)),
            Input::Shutdown if self.end.is_some() => self.drop_everything(),
            Input::Shutdown => self.end(now, EndReason::Shutdown, None),
        }
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for id in [LegId::A, LegId::B] {
            let leg = self.leg_mut(id);
            for s in &mut leg.servers {
                s.tx.handle_timeout(now);
            }
            for c in &mut leg.clients {
                c.tx.handle_timeout(now);
            }
            self.retransmit_2xx(now, id);
        }
        for c in self.retired.iter_mut().flat_map(|leg| leg.clients.iter_mut()) {
            c.tx.handle_timeout(now);
        }
        self.setup_timeouts(now);
        self.session_timeouts(now);
        if self.finish_by.is_some_and(|t| t <= now) {
            self.drop_everything();
        }
        self.pump(now);
    }

    /// Forgets every transaction of an ended call (its time is up, or the daemon is stopping).
    fn drop_everything(&mut self) {
        for leg in [&mut self.a, &mut self.b] {
            leg.servers.clear();
            leg.clients.clear();
            leg.pending_2xx = None;
            leg.held_bye = None;
        }
        self.retired.clear();
    }

    pub fn poll_output(&mut self) -> Option<Output<P>> {
        crate::proto::transaction::pop_output(&mut self.out)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.a.next_deadline(),
            self.b.next_deadline(),
            self.ring_deadline,
            self.cancel_deadline,
            self.finish_by,
            self.a.timer.poll_timeout().map(|d| d.at),
            self.b.timer.poll_timeout().map(|d| d.at),
            self.retired.iter().filter_map(|leg| leg.next_deadline()).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The call has ended and nothing is left to send or absorb: the actor may drop it.
    pub fn is_finished(&self) -> bool {
        self.end.is_some() && self.a.is_idle() && self.b.is_idle() && self.retired.is_empty()
    }

    fn leg_mut(&mut self, id: LegId) -> &mut Leg<P> {
        match id {
            LegId::A => &mut self.a,
            LegId::B => &mut self.b,
        }
    }

    /// A leg and the id generator together (both borrowed mutably).
    fn leg_and_ids(&mut self, id: LegId) -> (&mut Leg<P>, &mut Ids) {
        match id {
            LegId::A => (&mut self.a, &mut self.ids),
            LegId::B => (&mut self.b, &mut self.ids),
        }
    }

    fn leg(&self, id: LegId) -> &Leg<P> {
        match id {
            LegId::A => &self.a,
            LegId::B => &self.b,
        }
    }

    fn send(&mut self, leg: LegId, message: Message) {
        if let Some(setup) = &self.leg(leg).setup {
            self.out.push_back(Output::Send { to: setup.peer.clone(), message });
        }
    }

    /// Drains every transaction: sends go out, responses and timeouts go to their role's handler
    /// (which may start new transactions, hence the loop), finished transactions are dropped.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut events = Vec::new();
            for id in [LegId::A, LegId::B] {
                let leg = self.leg_mut(id);
                let mut sends = Vec::new();
                for s in &mut leg.servers {
                    while let Some(o) = s.tx.poll_output() {
                        if let TxOutput::Send(m) = o {
                            sends.push(m);
                        }
                    }
                }
                for c in &mut leg.clients {
                    while let Some(o) = c.tx.poll_output() {
                        match o {
                            TxOutput::Send(m) => sends.push(m),
                            TxOutput::Deliver(r) => {
                                let sent = sent_if_needed(&c.role, Some(r.status), c.tx.request());
                                events.push((id, c.role.clone(), sent, ClientEvent::Response(r)))
                            }
                            TxOutput::Timeout => {
                                let sent = sent_if_needed(&c.role, None, c.tx.request());
                                events.push((id, c.role.clone(), sent, ClientEvent::Timeout))
                            }
                            TxOutput::Terminated => {}
                        }
                    }
                }
                leg.reap();
                for m in sends {
                    self.send(id, m);
                }
            }
            self.pump_retired();
            if events.is_empty() {
                // Leg B's INVITE is needed for CANCEL and late forks only while its transaction lives.
                if self.phase == Phase::Confirmed
                    && !self.b.clients.iter().any(|c| c.role == leg::ClientRole::Invite)
                {
                    self.invite_b = None;
                }
                break;
            }
            for (leg, role, request, event) in events {
                self.on_client_event(now, leg, role, request, event);
            }
        }
    }

    /// Sends what the retired attempts' transactions produce, to their own targets, and drops them once
    /// finished.
    fn pump_retired(&mut self) {
        for leg in &mut self.retired {
            let Some(to) = leg.setup.as_ref().map(|s| s.peer.clone()) else { continue };
            for c in &mut leg.clients {
                while let Some(o) = c.tx.poll_output() {
                    if let TxOutput::Send(message) = o {
                        self.out.push_back(Output::Send { to: to.clone(), message });
                    }
                }
            }
            leg.reap();
        }
        self.retired.retain(|leg| !leg.is_idle());
    }

    fn on_client_event(
        &mut self,
        now: Instant,
        leg: LegId,
        role: leg::ClientRole,
        request: Option<Request>,
        event: ClientEvent,
    ) {
        use leg::ClientRole;
        if let (ClientEvent::Response(r), Some(sent)) = (&event, &request) {
            if self.try_authenticate(now, leg, &role, sent, r) {
                return;
            }
        }
        match (role, event) {
            (ClientRole::Invite, ClientEvent::Response(r)) => self.on_invite_b_response(now, r),
            (ClientRole::Invite, ClientEvent::Timeout) => {
                if !self.fail_over("transaction timeout") {
                    self.fail_setup(now, 408, EndReason::Timeout(LegId::B))
                }
            }
            (ClientRole::Cancel, _) => {}
            (ClientRole::Bye, ClientEvent::Timeout) => {
                tracing::debug!(leg = %leg, "BYE got no answer");
            }
            (ClientRole::Bye, ClientEvent::Response(_)) => {}
            (ClientRole::Relay { from }, event) => {
                if let Some(request) = request {
                    self.on_relay_result(now, leg, from, request, event)
                }
            }
            (ClientRole::Refresh { asked }, event) => {
                if let Some(request) = request {
                    self.on_refresh_result(now, leg, asked, request, event)
                }
            }
        }
    }

    /// Ends the call once: records why, tells the actor, and takes down whatever is still up — a BYE on
    /// each confirmed leg except `quiet` (the leg whose BYE ended it), final answers and CANCEL while
    /// setting up. A leg whose 2xx still waits for its ACK gets its BYE after that ACK (RFC 3261 §15).
    /// Everything left finishes within 2·64·T1 after this, or is dropped.
    fn end(&mut self, now: Instant, reason: EndReason, quiet: Option<LegId>) {
        if self.end.is_some() {
            return;
        }
        tracing::debug!(%reason, "call ending");
        self.end = Some(reason.clone());
        self.out.push_back(Output::Ended(reason.clone()));
        self.finish_by = Some(now + self.config.timers.timer_b() * 2);
        self.ring_deadline = None;
        self.a.timer.establish(now, None);
        self.b.timer.establish(now, None);
        match self.phase {
            Phase::Confirmed => {
                for leg in [LegId::A, LegId::B] {
                    if Some(leg) == quiet {
                        continue;
                    }
                    let reason = reason.reason_header();
                    match self.leg_mut(leg).pending_2xx {
                        // Our 2xx there is not ACKed yet: keep repeating it, BYE after its ACK (§15).
                        Some(_) => self.leg_mut(leg).held_bye = Some(leg::HeldBye { reason }),
                        None => self.send_bye(now, leg, reason),
                    }
                }
                self.ack_relay = None;
            }
            Phase::Resolving | Phase::Calling => {
                let status = match &reason {
                    EndReason::Shutdown | EndReason::Unreachable(_) => 503,
                    EndReason::NoAnswer => 408,
                    _ => 500,
                };
                self.answer_invite_a(now, status);
                self.cancel_b(now);
            }
        }
    }

    /// Retransmits our 2xx on a leg until its ACK (RFC 3261 §13.3.1.4); no ACK by 64·T1 ends the call.
    fn retransmit_2xx(&mut self, now: Instant, id: LegId) {
        let t2 = self.config.timers.t2;
        let Some(p) = self.leg_mut(id).pending_2xx.as_mut() else { return };
        if p.give_up <= now {
            self.leg_mut(id).pending_2xx = None;
            if let Some(held) = self.leg_mut(id).held_bye.take() {
                return self.send_bye(now, id, held.reason);
            }
            return self.end(now, EndReason::AckTimeout(id), None);
        }
        if p.next <= now {
            p.interval = (p.interval * 2).min(t2);
            p.next = now + p.interval;
            let message = Message::Response(p.response.clone());
            self.send(id, message);
        }
    }
}
