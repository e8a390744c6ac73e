//! A scripted SIP user agent over "UDP", built from the crate's own transaction machines and dialog: it
//! retransmits as RFC 3261 §17 says, retransmits its own 2xx until the ACK (§13.3.1.4), re-ACKs a repeated
//! 2xx (§13.2.2.4), answers CANCEL (§9.2) and BYE (§15.1.2), backs off on 491 (§14.1), runs a scripted RFC
//! 4028 timer (`timer.rs`), and logs what it saw.

mod timer;
mod uac;
mod uas;

use std::time::{Duration, Instant};

use sst_b2bua::proto::dialog::Dialog;
use sst_b2bua::proto::transaction::{ClientKey, ClientTx, ServerTx, TimerConfig, TxOutput};
use sst_b2bua::sip::{parse, HeaderName, Message, Method, Request, Response, SipHeaders};

pub use timer::{Received, TimerScript};

/// How a callee answers an INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 180 Ringing, and never a final answer.
    Ring,
    /// 180, then this final failure at once.
    Reject(u16),
    /// 180 (or 183 with SDP: early media), then 200 with SDP after `after`.
    Accept { after: Duration, early_media: bool },
}

/// What a UA does on its own.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    pub answer: Answer,
    /// Caller: CANCEL this long after the INVITE (once a provisional came: §9.1).
    pub cancel_after: Option<Duration>,
    /// Re-INVITE with a new offer this long after the dialog is confirmed.
    pub reinvite_after: Option<Duration>,
    /// BYE this long after the dialog is confirmed (after our re-INVITE completed, when there is one).
    pub hangup_after: Option<Duration>,
    /// RFC 4028 (none: the INVITE asks for 1800 s, our 2xx says nothing of timers).
    pub timer: Option<TimerScript>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            answer: Answer::Accept { after: Duration::from_secs(1), early_media: false },
            cancel_after: None,
            reinvite_after: None,
            hangup_after: None,
            timer: None,
        }
    }
}

/// What a UA saw and did, for the scenario's assertions.
#[derive(Debug, Default)]
pub struct Log {
    /// Provisional statuses for our INVITE (repeats included).
    pub provisional: Vec<u16>,
    pub early_sdp: Option<String>,
    /// The final status our INVITE got, or (callee) the one we sent.
    pub final_status: Option<u16>,
    /// Caller: the SDP in the 2xx; callee: the SDP in the INVITE.
    pub remote_sdp: Option<String>,
    /// The dialog is confirmed: ACK sent (caller) or received (callee).
    pub confirmed: bool,
    pub cancelled: bool,
    /// Our re-INVITE got its 2xx (and the ACK went); the SDP it carried.
    pub reinvite_answer: Option<String>,
    pub reinvite_491: u32,
    /// A re-INVITE we answered: its SDP, and whether our 2xx got its ACK.
    pub reinvite_offer: Option<String>,
    pub reinvite_acked: bool,
    pub bye_sent_ok: bool,
    pub bye_got: bool,
    /// The BYE we got: when, and its Reason header.
    pub bye_at: Option<Instant>,
    pub bye_reason: Option<String>,
    /// Every re-INVITE or UPDATE we received in the dialog (with `timer` scripted), and our answer.
    pub refreshes: Vec<Received>,
    /// When each of our own refreshes got its 2xx.
    pub refreshed: Vec<Instant>,
    /// Protocol anomalies: transaction timeouts, unexpected statuses, unknown dialogs.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Invite,
    Cancel,
    Bye,
    ReInvite,
    Refresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Cancel,
    Answer,
    ReInvite,
    Hangup,
    Refresh,
}

/// Our 2xx to an INVITE, retransmitted until its ACK.
struct Pending2xx {
    response: Response,
    cseq: u32,
    next: Instant,
    interval: Duration,
    give_up: Instant,
    initial: bool,
}

pub struct Ua {
    pub name: &'static str,
    user: &'static str,
    /// Our address: Via sent-by and Contact host.
    addr: &'static str,
    rng: fastrand::Rng,
    timers: TimerConfig,
    pub script: Script,
    clients: Vec<(ClientTx, Purpose)>,
    servers: Vec<ServerTx>,
    dialog: Option<Dialog>,
    /// The dialog was ended by a BYE (either way).
    ended: bool,
    /// We sent the initial INVITE, so we own the Call-ID (§14.1).
    caller: bool,
    /// The initial INVITE: the one we sent (caller) or got (callee).
    invite: Option<Request>,
    local_tag: String,
    sdp_version: u32,
    /// Our 2xx responses not yet ACKed (the initial one and a re-INVITE's may overlap).
    pending_2xx: Vec<Pending2xx>,
    /// A re-INVITE of ours (offer or refresh) has no final response yet.
    inviting: bool,
    /// The session interval in force (for our refreshes).
    interval: u32,
    /// How many scripted refusals were used.
    refused: usize,
    /// The SDP the peer last sent us (an offer equal to it is a refresh).
    peer_sdp: Option<String>,
    /// ACKs we sent for 2xx responses, by CSeq number, re-sent if the 2xx repeats.
    acks: Vec<(u32, Request)>,
    actions: Vec<(Instant, Action)>,
    cancel_wanted: bool,
    cancel_sent: bool,
    provisional_seen: bool,
    out: Vec<Message>,
    pub log: Log,
}

impl Ua {
    pub fn new(name: &'static str, user: &'static str, addr: &'static str, seed: u64, script: Script) -> Ua {
        let mut rng = fastrand::Rng::with_seed(seed);
        let local_tag = token(&mut rng, 8);
        Ua {
            name,
            user,
            addr,
            rng,
            timers: TimerConfig::default(),
            script,
            clients: Vec::new(),
            servers: Vec::new(),
            dialog: None,
            ended: false,
            caller: false,
            invite: None,
            local_tag,
            sdp_version: 1,
            pending_2xx: Vec::new(),
            inviting: false,
            interval: 1800,
            refused: 0,
            peer_sdp: None,
            acks: Vec::new(),
            actions: Vec::new(),
            cancel_wanted: false,
            cancel_sent: false,
            provisional_seen: false,
            out: Vec::new(),
            log: Log::default(),
        }
    }

    /// Our SDP, version `v` (each new offer or answer bumps it).
    pub fn sdp(&self, v: u32) -> String {
        let ip = self.addr.split(':').next().unwrap_or(self.addr);
        format!(
            "v=0\r\no={} 1 {v} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n",
            self.user,
            4000 + 2 * v
        )
    }

    /// Caller: sends the INVITE to `request_uri` with our offer.
    pub fn call(&mut self, now: Instant, request_uri: &str) {
        let sdp = self.sdp(self.sdp_version);
        let (branch, cid) = (self.branch(), token(&mut self.rng, 12));
        let text = format!(
            "INVITE {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: \"{user}\" <sip:{user}@example.com>;tag={tag}\r\nTo: <sip:bob@example.com>\r\n\
             Call-ID: {cid}@{addr}\r\nCSeq: 1 INVITE\r\nContact: <sip:{user}@{addr}>\r\n{timer}\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            addr = self.addr,
            user = self.user,
            tag = self.local_tag,
            timer = self.invite_timer_lines(),
            len = sdp.len(),
        );
        let invite = match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("{}: our INVITE does not parse: {other:?}", self.name),
        };
        self.invite = Some(invite.clone());
        self.caller = true;
        self.start_client(now, invite, Purpose::Invite);
        if let Some(after) = self.script.cancel_after {
            self.actions.push((now + after, Action::Cancel));
        }
        self.pump(now);
    }

    pub fn handle(&mut self, now: Instant, message: Message) {
        match message {
            Message::Response(r) => self.on_response(now, r),
            Message::Request(r) => self.on_request(now, r),
        }
        self.pump(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = self.clients.iter().filter_map(|(c, _)| c.poll_timeout()).map(|d| d.at);
        let sx = self.servers.iter().filter_map(|s| s.poll_timeout()).map(|d| d.at);
        let p = self.pending_2xx.iter().map(|p| p.next.min(p.give_up));
        let a = self.actions.iter().map(|(at, _)| *at);
        tx.chain(sx).chain(p).chain(a).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for (c, _) in &mut self.clients {
            c.handle_timeout(now);
        }
        for s in &mut self.servers {
            s.handle_timeout(now);
        }
        self.retransmit_2xx(now);
        let (due, later): (Vec<_>, Vec<_>) = self.actions.drain(..).partition(|(at, _)| *at <= now);
        self.actions = later;
        for (_, action) in due {
            self.act(now, action);
        }
        self.pump(now);
    }

    /// Messages to put on the wire, taken.
    pub fn take_out(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.out)
    }

    /// Nothing left to send, absorb or do.
    pub fn is_idle(&self) -> bool {
        self.clients.is_empty()
            && self.servers.is_empty()
            && self.pending_2xx.is_empty()
            && self.actions.is_empty()
    }

    /// What is still open, for a failure message.
    pub fn describe(&self) -> String {
        let clients: Vec<String> =
            self.clients.iter().map(|(c, p)| format!("{p:?} {}", c.request().method)).collect();
        let servers: Vec<String> = self.servers.iter().map(|s| s.request().method.to_string()).collect();
        format!(
            "{}: clients {clients:?}, servers {servers:?}, pending 2xx: {}, actions {:?}",
            self.name,
            self.pending_2xx.len(),
            self.actions
        )
    }

    fn branch(&mut self) -> String {
        format!("z9hG4bK{}", token(&mut self.rng, 12))
    }

    fn start_client(&mut self, now: Instant, request: Request, purpose: Purpose) {
        self.clients.push((ClientTx::new(request, false, self.timers, now), purpose));
    }

    /// Drains the transactions: sends go out, responses and timeouts to their purpose's handler.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut events = Vec::new();
            for s in &mut self.servers {
                while let Some(o) = s.poll_output() {
                    if let TxOutput::Send(m) = o {
                        self.out.push(m);
                    }
                }
            }
            for (c, purpose) in &mut self.clients {
                while let Some(o) = c.poll_output() {
                    match o {
                        TxOutput::Send(m) => self.out.push(m),
                        TxOutput::Deliver(r) => events.push((*purpose, c.request().clone(), Some(r))),
                        TxOutput::Timeout => events.push((*purpose, c.request().clone(), None)),
                        TxOutput::Terminated => {}
                    }
                }
            }
            self.servers.retain(|s| !s.is_terminated());
            self.clients.retain(|(c, _)| !c.is_terminated());
            if events.is_empty() {
                return;
            }
            for (purpose, request, response) in events {
                match response {
                    Some(r) => self.on_result(now, purpose, &request, r),
                    None => self.log.errors.push(format!("{}: {purpose:?} timed out", self.name)),
                }
            }
        }
    }

    fn on_response(&mut self, now: Instant, response: Response) {
        if let Some(key) = ClientKey::for_response(&response) {
            if let Some((c, _)) = self.clients.iter_mut().find(|(c, _)| c.key() == &key) {
                return c.handle_response(now, response);
            }
        }
        // A 2xx that outlived its transaction: our ACK again (§13.2.2.4).
        if (200..300).contains(&response.status)
            && response.cseq().is_some_and(|c| c.method == Method::Invite)
        {
            self.reack(&response);
        }
    }

    fn reack(&mut self, response: &Response) {
        let seq = response.cseq().map_or(0, |c| c.seq);
        if let Some((_, ack)) = self.acks.iter().find(|(s, _)| *s == seq) {
            self.out.push(Message::Request(ack.clone()));
        }
    }

    /// Adds our Via (a new branch) and, on INVITE, our Contact.
    fn stamp(&mut self, request: &mut Request) {
        let branch = self.branch();
        let via = format!("SIP/2.0/UDP {};branch={branch};rport", self.addr);
        request.headers.push_front(HeaderName::VIA, via);
        if request.method == Method::Invite {
            request.headers.set(HeaderName::CONTACT, format!("<sip:{}@{}>", self.user, self.addr));
        }
    }
}

fn token(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len).map(|_| rng.alphanumeric().to_ascii_lowercase()).collect()
}

fn body(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
