//! Call machine scenarios in virtual time: one `Call<u8>` (peer 1 is leg A's caller, peer 2 leg B's callee)
//! fed parsed messages, every output checked for where it goes and what it says. Every message crosses the
//! real serialiser and parser on the way in and out, as it would on the wire.

mod answer;
mod auth;
mod cancel;
mod failover;
mod in_dialog;
mod route_set;
mod setup;
mod timer;

use std::time::{Duration, Instant};

use super::{Call, CallConfig, EndReason, Input, LegSetup, Output, PassList};
use crate::proto::transaction::TimerConfig;
use crate::sip::build::response_to;
use crate::sip::{parse, HeaderName, HostPort, Message, Method, Request, Response, SipHeaders};

/// Leg A's peer (the caller) and leg B's (the callee).
pub(super) const A: u8 = 1;
pub(super) const B: u8 = 2;
pub(super) const T1: Duration = Duration::from_millis(500);
pub(super) const T2: Duration = Duration::from_secs(4);
pub(super) const RING: Duration = Duration::from_secs(60);
pub(super) const OFFER: &str =
    "v=0\r\no=alice 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
pub(super) const ANSWER: &str =
    "v=0\r\no=bob 7 7 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

/// Round-trips a message through bytes, as the wire would.
pub(super) fn wire(message: &Message) -> Message {
    parse(&message.to_bytes()).unwrap_or_else(|e| panic!("does not parse back: {e:?}\n{message:?}"))
}

/// A request from SIP text (header lines with `\n`), with `body` and a Content-Length for it.
pub(super) fn request(head: &str, body: &str) -> Request {
    let head = head.trim().replace("\r\n", "\n").replace('\n', "\r\n");
    let text = format!("{head}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    match parse(text.as_bytes()).unwrap_or_else(|e| panic!("test request does not parse: {e:?}\n{text}")) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

/// Leg A's INVITE with our SDP offer, a session timer request and `extra` header lines.
pub(super) fn invite_a(extra: &str, body: &str) -> Request {
    let content_type = if body.is_empty() { "" } else { "Content-Type: application/sdp\n" };
    request(
        &format!(
            "INVITE sip:bob@b2bua.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKinvA
Max-Forwards: 70
From: \"Alice Smith\" <sip:alice@example.com>;tag=atag
To: <sip:bob@example.com>
Call-ID: a-call@192.0.2.1
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.1:5060>
Supported: timer
Session-Expires: 1800;refresher=uac
Min-SE: 90
{content_type}{extra}"
        ),
        body,
    )
}

pub(super) fn config() -> CallConfig {
    CallConfig {
        timers: TimerConfig::default(),
        ring_timeout: RING,
        target: "sip:10.0.0.2:5070".into(),
        pass: PassList::default(),
        credentials: None,
        timer_a: Default::default(),
        timer_b: Default::default(),
        failover_max_retry_after: 0,
        route: "test".into(),
        server_name: None,
    }
}

pub(super) fn setup(peer: u8, local: &str) -> LegSetup<u8> {
    LegSetup { peer, reliable: false, transport: "UDP", local: HostPort::parse(local).expect("host port") }
}

pub(super) fn header<'a>(m: &'a impl SipHeaders, name: &str) -> Option<&'a str> {
    m.headers().get(&HeaderName::new(name))
}

pub(super) fn to_tag(m: &impl SipHeaders) -> Option<String> {
    m.to_hdr().and_then(|t| t.tag().map(str::to_owned))
}

pub(super) fn from_tag(m: &impl SipHeaders) -> Option<String> {
    m.from_hdr().and_then(|t| t.tag().map(str::to_owned))
}

pub(super) fn cseq(m: &impl SipHeaders) -> String {
    m.cseq().map(|c| c.to_string()).unwrap_or_default()
}

pub(super) fn as_request(m: &Message) -> &Request {
    match m {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {} {}", r.status, cseq(r)),
    }
}

pub(super) fn as_response(m: &Message) -> &Response {
    match m {
        Message::Response(r) => r,
        Message::Request(r) => panic!("expected a response, got {} {}", r.method, cseq(r)),
    }
}

/// One call under test, its clock, and what it sent that no assertion has taken yet.
pub(super) struct Harness {
    pub call: Call<u8>,
    pub start: Instant,
    pub now: Instant,
    pub invite_a: Request,
    /// Leg B's INVITE as sent, once connected.
    pub invite_b: Option<Request>,
    sends: Vec<(u8, Message)>,
    events: Vec<Output<u8>>,
}

impl Harness {
    /// A call for `invite`; its 100 Trying is left for the test to take.
    pub fn new(invite: Request) -> Harness {
        Harness::with_config(invite, config())
    }

    /// [`Harness::new`] with a call configuration of the test's own.
    pub fn with_config(invite: Request, config: CallConfig) -> Harness {
        let start = Instant::now();
        let invite = as_request(&wire(&Message::Request(invite))).clone();
        let call = Call::new(start, invite.clone(), setup(A, "192.0.2.100:5060"), config, 7);
        let mut h = Harness {
            call,
            start,
            now: start,
            invite_a: invite,
            invite_b: None,
            sends: vec![],
            events: vec![],
        };
        h.collect();
        h
    }

    /// A call whose INVITE went out on leg B (the 100 to A taken and checked).
    pub fn calling(invite: Request) -> Harness {
        let mut h = Harness::new(invite);
        assert_eq!(as_response(&h.only(A)).status, 100);
        h.connect();
        h
    }

    /// A call answered on both legs with B's SDP, A's ACK not yet sent (the 200 to A taken).
    pub fn answered() -> Harness {
        let mut h = Harness::calling(invite_a("", OFFER));
        h.feed_b(h.b_response(180, "b1", ""));
        h.take(A);
        h.feed_b(h.b_response(200, "b1", ANSWER));
        let acks = h.take(B);
        assert_eq!(acks.len(), 1, "one ACK on B: {acks:?}");
        assert_eq!(as_response(&h.only(A)).status, 200);
        assert!(h.events().contains(&Output::Answered));
        h
    }

    /// [`Harness::answered`] with A's ACK in: both legs confirmed, nothing in flight.
    pub fn confirmed() -> Harness {
        let mut h = Harness::answered();
        h.feed_a(h.a_request("ACK", 1, "z9hG4bKackA", ""));
        h
    }

    pub fn connect(&mut self) {
        self.input(Input::Connect(setup(B, "10.0.0.1:5060")));
        let invite = as_request(&self.only(B)).clone();
        assert_eq!(invite.method, Method::Invite);
        self.invite_b = Some(invite);
    }

    pub fn input(&mut self, input: Input<u8>) {
        self.call.handle_input(self.now, input);
        self.collect();
    }

    pub fn feed_a(&mut self, message: impl Into<Message>) {
        self.input(Input::FromA(wire(&message.into())));
    }

    pub fn feed_b(&mut self, message: impl Into<Message>) {
        self.input(Input::FromB(wire(&message.into())));
    }

    fn collect(&mut self) {
        while let Some(output) = self.call.poll_output() {
            match output {
                Output::Send { to, message } => self.sends.push((to, wire(&message))),
                other => self.events.push(other),
            }
        }
    }

    /// Fires the next deadline if it is due by `limit`: true when one fired.
    pub fn step(&mut self, limit: Instant) -> bool {
        if self.call.is_finished() {
            return false;
        }
        match self.call.poll_timeout() {
            Some(at) if at <= limit => {
                self.now = self.now.max(at);
                self.call.handle_timeout(self.now);
                self.collect();
                true
            }
            _ => false,
        }
    }

    /// Lets `by` pass, waking the call at each deadline on the way.
    pub fn advance(&mut self, by: Duration) {
        let limit = self.now + by;
        let mut fired = 0;
        while self.step(limit) {
            fired += 1;
            assert!(fired < 10_000, "a deadline that never clears");
        }
        self.now = limit;
    }

    /// Sends to `peer` not yet taken, in order.
    pub fn take(&mut self, peer: u8) -> Vec<Message> {
        let (mine, rest) = std::mem::take(&mut self.sends).into_iter().partition(|(to, _)| *to == peer);
        self.sends = rest;
        mine.into_iter().map(|(_, m)| m).collect()
    }

    /// The one message sent to `peer`.
    pub fn only(&mut self, peer: u8) -> Message {
        let sent = self.take(peer);
        assert_eq!(sent.len(), 1, "expected one message to {peer}, got {sent:#?}");
        sent.into_iter().next().expect("one")
    }

    /// Asserts nothing went to anyone.
    pub fn quiet(&mut self) {
        let sent = std::mem::take(&mut self.sends);
        assert!(sent.is_empty(), "unexpected sends: {sent:#?}");
    }

    /// Events (Answered, Ended) so far, taken.
    pub fn events(&mut self) -> Vec<Output<u8>> {
        std::mem::take(&mut self.events)
    }

    pub fn assert_ended(&mut self, reason: EndReason) {
        assert_eq!(self.events(), vec![Output::Ended(reason.clone())]);
        assert_eq!(self.call.end_reason(), Some(&reason));
    }

    /// Runs the clock until the call is finished (transactions done), answering nothing more; panics if it
    /// takes longer than twice 64·T1 or if the call finishes early, while a transaction could still act.
    pub fn finish(&mut self) {
        assert!(self.call.end_reason().is_some(), "finish() on a call that has not ended");
        assert!(!self.call.is_finished(), "finished before its transactions timed out");
        let limit = self.now + T1 * 128 + Duration::from_secs(1);
        while !self.call.is_finished() && self.step(limit) {}
        assert!(self.call.is_finished(), "call not finished after 128·T1");
        self.sends.clear();
    }

    /// A response from B to leg B's INVITE, with Contact and (if `body`) SDP.
    pub fn b_response(&self, status: u16, tag: &str, body: &str) -> Response {
        let invite = self.invite_b.as_ref().expect("connected");
        respond(invite, status, Some(tag), body)
    }

    /// An in-dialog request from A on leg A (CSeq `seq`, our To tag from the 200 A got).
    pub fn a_request(&self, method: &str, seq: u32, branch: &str, body: &str) -> Request {
        let our_tag = self.a_tag();
        let content_type = if body.is_empty() { "" } else { "Content-Type: application/sdp\n" };
        request(
            &format!(
                "{method} sip:b2bua@192.0.2.100:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}
Max-Forwards: 70
From: \"Alice Smith\" <sip:alice@example.com>;tag=atag
To: <sip:bob@example.com>;tag={our_tag}
Call-ID: a-call@192.0.2.1
CSeq: {seq} {method}
Contact: <sip:alice@192.0.2.1:5060>
{content_type}"
            ),
            body,
        )
    }

    /// An in-dialog request from B on leg B (the dialog B's 200 with To tag `b1` formed).
    pub fn b_request(&self, method: &str, seq: u32, branch: &str, body: &str) -> Request {
        let invite = self.invite_b.as_ref().expect("connected");
        let call_id = invite.call_id().expect("Call-ID");
        let our_from = header(invite, "From").expect("From");
        let content_type = if body.is_empty() { "" } else { "Content-Type: application/sdp\n" };
        request(
            &format!(
                "{method} sip:b2bua@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5070;branch={branch}
Max-Forwards: 70
From: <sip:bob@example.com>;tag=b1
To: {our_from}
Call-ID: {call_id}
CSeq: {seq} {method}
Contact: <sip:bob@10.0.0.2:5070>
{content_type}"
            ),
            body,
        )
    }

    /// Our To tag on leg A.
    pub fn a_tag(&self) -> String {
        self.call.a_tag.to_string()
    }
}

/// A UA's response to `request`: To tag, Contact and (if `body`) SDP.
pub(super) fn respond(request: &Request, status: u16, tag: Option<&str>, body: &str) -> Response {
    let mut r = response_to(request, status, tag);
    if (101..300).contains(&status) {
        r.headers.push(HeaderName::CONTACT, "<sip:bob@10.0.0.2:5070>");
    }
    if !body.is_empty() {
        r.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
        r.body = bytes::Bytes::copy_from_slice(body.as_bytes());
    }
    r
}

impl From<Request> for Message {
    fn from(r: Request) -> Message {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Message {
        Message::Response(r)
    }
}
