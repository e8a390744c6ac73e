//! One leg of a call: where it goes, its dialog, its server and client transactions (RFC 3261 §17), the
//! 2xx we retransmit until its ACK (§13.3.1.4), and the ACK we re-send when their 2xx repeats (§13.2.2.4).

use std::time::{Duration, Instant};

use bytes::Bytes;
use thin_vec::ThinVec;

use crate::config::SessionTimerConfig;
use crate::proto::dialog::Dialog;
use crate::proto::ids::Ids;
use crate::proto::session_timer::SessionTimer;
use crate::proto::transaction::{ClientKey, ClientTx, ServerKey, ServerTx, TimerConfig};
use crate::sip::build::{our_contact, our_via};
use crate::sip::sdp::LegSdp;
use crate::sip::{HeaderName, HostPort, Method, Request, Response, SipHeaders};

/// How to reach a leg's peer and how to name ourselves to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSetup<P> {
    /// The actor's handle for the peer (address, transport, connection).
    pub peer: P,
    /// Stream transport: no retransmissions (RFC 3261 §17.1.1.2).
    pub reliable: bool,
    /// Via transport token: `UDP`, `TCP`.
    pub transport: &'static str,
    /// Our address as this peer must see it (listening address or `advertise`).
    pub local: HostPort,
}

/// What a client transaction is for, so its responses go to the right handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRole {
    /// The INVITE that sets up leg B.
    Invite,
    /// CANCEL of leg B's INVITE.
    Cancel,
    /// A BYE we send to end the call.
    Bye,
    /// A request relayed from the other leg; its responses go back to that leg's server transaction.
    Relay { from: ServerKey },
    /// Our session refresh on this leg (RFC 4028 §10), asking for `asked` seconds.
    Refresh { asked: u32 },
}

pub struct Server {
    pub tx: ServerTx,
}

pub struct Client {
    pub tx: ClientTx,
    pub role: ClientRole,
}

/// Our 2xx to an INVITE on this leg, retransmitted at T1, 2·T1, … T2 until its ACK, for 64·T1.
#[derive(Debug, Clone)]
pub struct Pending2xx {
    pub response: Response,
    pub cseq: u32,
    pub next: Instant,
    pub interval: Duration,
    pub give_up: Instant,
}

/// A BYE waiting for the ACK of our 2xx on this leg, with its Reason header if any: the peer may not have
/// the 2xx yet, and the BYE must not overtake it (RFC 3261 §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBye {
    pub reason: Option<&'static str>,
}

pub struct Leg<P> {
    pub setup: Option<LegSetup<P>>,
    /// This leg's RFC 4028 session timer.
    pub timer: SessionTimer,
    /// The session descriptions sent and received on this leg (one o= version counter per leg).
    pub sdp: LegSdp,
    pub dialog: Option<Dialog>,
    pub servers: ThinVec<Server>,
    pub clients: ThinVec<Client>,
    /// Boxed: a held call has none, and a response is large.
    pub pending_2xx: Option<Box<Pending2xx>>,
    /// The call ended while `pending_2xx` waited for its ACK: the BYE goes once it comes (or 64·T1 pass).
    pub held_bye: Option<HeldBye>,
    /// The ACKs we sent for their 2xx responses (CSeq number, the ACK as sent), newest last: a repeated
    /// 2xx gets the ACK for its own INVITE again, also after a later re-INVITE was ACKed (§13.2.2.4). Kept
    /// as wire bytes (one allocation) for the 64·T1 a 2xx may repeat; parsed again only to re-send.
    pub acks: ThinVec<(u32, Bytes)>,
    /// Forks whose 2xx we ACKed and ended with a BYE (To tag, ACK): a repeat of it gets the ACK again.
    pub dropped_forks: ThinVec<(String, Request)>,
}

impl<P: Clone> Leg<P> {
    pub fn new(setup: Option<LegSetup<P>>, timer: SessionTimerConfig) -> Leg<P> {
        Leg {
            timer: SessionTimer::new(timer),
            sdp: LegSdp::default(),
            setup,
            dialog: None,
            servers: ThinVec::new(),
            clients: ThinVec::new(),
            pending_2xx: None,
            held_bye: None,
            acks: ThinVec::new(),
            dropped_forks: ThinVec::new(),
        }
    }

    pub fn reliable(&self) -> bool {
        self.setup.as_ref().is_some_and(|s| s.reliable)
    }

    /// Adds our Via (new branch, `rport` asked for: RFC 3581) and Contact to a request we originate.
    pub fn stamp(&self, request: &mut Request, ids: &mut Ids) {
        let Some(setup) = &self.setup else { return };
        let via = our_via(setup.transport, &setup.local, |out| ids.push_branch(out));
        request.headers.push_front(HeaderName::VIA, via);
        // RFC 4028 §7.1: `Supported: timer` on every request but ACK, where this leg does timers.
        if self.timer.enabled()
            && request.method != Method::Ack
            && !request.headers.has_token(&HeaderName::SUPPORTED, "timer")
        {
            request.headers.push(HeaderName::SUPPORTED, "timer");
        }
        if !matches!(request.method, Method::Ack | Method::Cancel | Method::Bye) {
            request.headers.set(HeaderName::CONTACT, self.contact());
        }
    }

    /// Our Contact on this leg (RFC 3261 §8.1.1.8), with the transport when it is not UDP.
    pub fn contact(&self) -> String {
        self.setup.as_ref().map_or_else(String::new, |s| our_contact(s.transport, &s.local))
    }

    pub fn server(&mut self, key: &ServerKey) -> Option<&mut Server> {
        self.servers.iter_mut().find(|s| s.tx.key() == key)
    }

    pub fn client(&mut self, key: &ClientKey) -> Option<&mut Client> {
        self.clients.iter_mut().find(|c| c.tx.key() == key)
    }

    /// Starts a client transaction; its first output puts the request on the wire.
    pub fn start_client(&mut self, request: Request, role: ClientRole, timers: TimerConfig, now: Instant) {
        let tx = ClientTx::new(request, self.reliable(), timers, now);
        push_exact(&mut self.clients, Client { tx, role });
    }

    /// Starts a server transaction for an arriving request and returns its key.
    pub fn start_server(&mut self, request: Request, timers: TimerConfig, now: Instant) -> ServerKey {
        let tx = ServerTx::new(request, self.reliable(), timers, now);
        let key = tx.key().clone();
        push_exact(&mut self.servers, Server { tx });
        key
    }

    /// Whether an INVITE transaction (either direction) is still open on this leg.
    pub fn invite_in_progress(&self) -> bool {
        self.clients
            .iter()
            .any(|c| matches!(c.tx, ClientTx::Invite(_)) && !c.tx.is_terminated() && !self.invite_done(c))
            || self.servers.iter().any(|s| matches!(s.tx, ServerTx::Invite(_)) && !s.tx.is_final())
            || self.pending_2xx.is_some()
    }

    fn invite_done(&self, client: &Client) -> bool {
        match &client.tx {
            ClientTx::Invite(t) => matches!(
                t.state(),
                crate::proto::transaction::TxState::Accepted | crate::proto::transaction::TxState::Completed
            ),
            ClientTx::NonInvite(_) => true,
        }
    }

    /// Remembers the ACK for the 2xx to our INVITE numbered `cseq`. A 2xx repeats for 64·T1 at most, so
    /// the last few are enough.
    pub fn remember_ack(&mut self, cseq: u32, ack: &Request) {
        self.acks.retain(|(seq, _)| *seq != cseq);
        if self.acks.len() >= 4 {
            self.acks.remove(0);
        }
        push_exact(&mut self.acks, (cseq, ack.to_bytes()));
    }

    /// Whether we sent an ACK for the 2xx to our INVITE numbered `cseq`.
    pub fn acked(&self, cseq: u32) -> bool {
        self.acks.iter().any(|(seq, _)| *seq == cseq)
    }

    /// The ACK we sent for the 2xx to our INVITE numbered `cseq` (we wrote it, so it parses).
    pub fn ack_for(&self, cseq: u32) -> Option<Request> {
        let (_, bytes) = self.acks.iter().find(|(seq, _)| *seq == cseq)?;
        match crate::sip::parse::parse(bytes) {
            Ok(crate::sip::Message::Request(ack)) => Some(ack),
            _ => None,
        }
    }

    /// Removes finished transactions.
    /// Drops finished transactions, the ACKs and dropped forks no INVITE transaction can ask for again
    /// (a 2xx is repeated only while its INVITE transaction lives: RFC 6026 Timer M), and the capacity of
    /// whatever is left empty: a held call keeps its dialog, not the scaffolding of its setup.
    pub fn reap(&mut self) {
        self.servers.retain(|s| !s.tx.is_terminated());
        self.clients.retain(|c| !c.tx.is_terminated());
        let clients = &self.clients;
        let invite_alive = |seq: u32| {
            clients.iter().any(|c| {
                matches!(c.tx, ClientTx::Invite(_)) && c.tx.request().cseq().is_some_and(|cs| cs.seq == seq)
            })
        };
        self.acks.retain(|(seq, _)| invite_alive(*seq));
        if !clients.iter().any(|c| c.role == ClientRole::Invite) {
            self.dropped_forks.clear();
        }
        shrink_if_empty(&mut self.servers);
        shrink_if_empty(&mut self.clients);
        shrink_if_empty(&mut self.acks);
        shrink_if_empty(&mut self.dropped_forks);
    }

    /// Nothing left that could still send or absorb a message.
    pub fn is_idle(&self) -> bool {
        self.servers.is_empty() && self.clients.is_empty() && self.pending_2xx.is_none()
    }

    /// The earliest deadline of this leg's machines.
    pub fn next_deadline(&self) -> Option<Instant> {
        let servers = self.servers.iter().filter_map(|s| s.tx.poll_timeout().map(|d| d.at));
        let clients = self.clients.iter().filter_map(|c| c.tx.poll_timeout().map(|d| d.at));
        let pending = self.pending_2xx.iter().map(|p| p.next.min(p.give_up));
        servers.chain(clients).chain(pending).min()
    }
}

/// Gives an empty vector's allocation back.
fn shrink_if_empty<T>(v: &mut ThinVec<T>) {
    if v.is_empty() && v.capacity() > 0 {
        *v = ThinVec::new();
    }
}

/// Pushes without the growth policy's spare room: a leg has one or two transactions at a time, and a
/// vector's first allocation holds four (four INVITE transactions are ~3 KB, kept for the 32 s of Timer L/M).
fn push_exact<T>(list: &mut ThinVec<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact(1);
    }
    list.push(item);
}
