//! Test helpers for the transaction machines: SIP text through the real parser, and a virtual-time driver
//! that wakes a machine exactly at each deadline it names, the way its owner will.

mod client_invite;
mod client_non_invite;
mod keys;
mod server_invite;
mod server_non_invite;

use std::time::{Duration, Instant};

use super::{ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, TxOutput};
use crate::proto::time::{Deadline, TimerKind};
use crate::sip::{parse, Message, Request, Response};

/// Parses SIP text written with `\n` (or `\r\n`) line ends.
pub(super) fn message(text: &str) -> Message {
    let wire = text.trim_start().replace("\r\n", "\n").replace('\n', "\r\n");
    parse(wire.as_bytes()).unwrap_or_else(|e| panic!("test message does not parse: {e:?}\n{text}"))
}

pub(super) fn request(text: &str) -> Request {
    match message(text) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("expected a request"),
    }
}

pub(super) fn response(text: &str) -> Response {
    match message(text) {
        Message::Response(r) => r,
        Message::Request(_) => panic!("expected a response"),
    }
}

/// An INVITE from 192.0.2.1 with the given top Via branch and CSeq number.
pub(super) fn invite(branch: &str) -> Request {
    request(&format!(
        "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}
Max-Forwards: 70
Route: <sip:p1.example.com;lr>
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>
Call-ID: call-1@192.0.2.1
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.1>
Content-Length: 0

"
    ))
}

/// The header names a transaction still keeps of its request (an accepted INVITE keeps only what a
/// response echoes: no Route, Contact or Max-Forwards, no body).
pub(super) fn kept(request: &Request) -> Vec<&str> {
    assert!(request.body.is_empty(), "an accepted INVITE's body is not kept");
    request.headers.iter().map(|(name, _)| name.as_str()).collect()
}

/// A non-INVITE request (`method`) inside the dialog of [`invite`], CSeq 2.
pub(super) fn in_dialog(method: &str, branch: &str) -> Request {
    request(&format!(
        "{method} sip:bob@192.0.2.2 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}
Max-Forwards: 70
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>;tag=b1
Call-ID: call-1@192.0.2.1
CSeq: 2 {method}
Content-Length: 0

"
    ))
}

/// A response to a request with the given branch, CSeq and To tag.
pub(super) fn reply(status: u16, branch: &str, cseq: &str, to_tag: Option<&str>) -> Response {
    let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let reason = crate::sip::reason::reason_phrase(status);
    response(&format!(
        "SIP/2.0 {status} {reason}
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch};received=192.0.2.1
From: Alice <sip:alice@example.com>;tag=a1
To: Bob <sip:bob@example.com>{tag}
Call-ID: call-1@192.0.2.1
CSeq: {cseq}
Content-Length: 0

"
    ))
}

/// The four machines seen through the verbs the driver needs.
pub(super) trait Machine {
    fn wake(&mut self, now: Instant);
    fn next(&mut self) -> Option<TxOutput>;
    fn deadline(&self) -> Option<Deadline>;
}

macro_rules! machine {
    ($($ty:ty),*) => {$(
        impl Machine for $ty {
            fn wake(&mut self, now: Instant) {
                self.handle_timeout(now)
            }
            fn next(&mut self) -> Option<TxOutput> {
                self.poll_output()
            }
            fn deadline(&self) -> Option<Deadline> {
                self.poll_timeout()
            }
        }
    )*};
}
machine!(ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite);

/// The origin of virtual time for one test. The only clock read in this module tree: everything after it
/// is `base` plus a Duration.
pub(super) fn base() -> Instant {
    Instant::now()
}

pub(super) fn at(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

fn ms_since(base: Instant, now: Instant) -> u64 {
    u64::try_from((now - base).as_millis()).unwrap()
}

/// What a machine emitted: `(ms since base, label)`.
pub(super) type Events = Vec<(u64, String)>;

/// A short, comparable name for an output: `send INVITE`, `send 486`, `deliver 180`, `timeout`, `end`.
pub(super) fn label(out: &TxOutput) -> String {
    match out {
        TxOutput::Send(Message::Request(r)) => format!("send {}", r.method),
        TxOutput::Send(Message::Response(r)) => format!("send {}", r.status),
        TxOutput::Deliver(r) => format!("deliver {}", r.status),
        TxOutput::Timeout => "timeout".to_owned(),
        TxOutput::Terminated => "end".to_owned(),
    }
}

/// Drains the outputs queued now, stamped with `now` in ms since `base`.
pub(super) fn drain(tx: &mut impl Machine, base: Instant, now: Instant) -> Events {
    std::iter::from_fn(|| tx.next()).map(|out| (ms_since(base, now), label(&out))).collect()
}

/// Drains the outputs queued now, whole.
pub(super) fn drain_full(tx: &mut impl Machine) -> Vec<TxOutput> {
    std::iter::from_fn(|| tx.next()).collect()
}

/// Runs the machine in virtual time up to `base + until_ms`: jumps to each deadline it names, wakes it
/// there and records what it emits, stamped in ms since `base`. Also returns each wake's timer kind.
pub(super) fn run(tx: &mut impl Machine, base: Instant, until_ms: u64) -> (Events, Vec<(u64, TimerKind)>) {
    let (mut events, mut wakes) = (Vec::new(), Vec::new());
    while let Some(deadline) = tx.deadline() {
        if deadline.at > at(base, until_ms) {
            break;
        }
        wakes.push((ms_since(base, deadline.at), deadline.kind));
        tx.wake(deadline.at);
        events.extend(drain(tx, base, deadline.at));
        assert!(wakes.len() < 1000, "the machine never stops asking to be woken");
    }
    (events, wakes)
}

/// `(ms, label)` pairs from literals.
pub(super) fn ev(list: &[(u64, &str)]) -> Events {
    list.iter().map(|(ms, l)| (*ms, (*l).to_owned())).collect()
}

/// The instants (ms) of every `send ...` event.
pub(super) fn sends(events: &[(u64, String)]) -> Vec<u64> {
    events.iter().filter(|(_, l)| l.starts_with("send")).map(|(ms, _)| *ms).collect()
}
