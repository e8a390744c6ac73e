//! The simulation tier (ARCHITECTURE.md, "Three speeds of test"): a caller UA, the `Call` machine and a
//! callee UA joined by four one-way "UDP" links with seeded loss, delay (so reordering) and duplication,
//! in virtual time. `World::run_until` delivers every message due at `now`, wakes every machine whose
//! deadline is due, then jumps `now` to the earliest next event: a 10-minute call costs only its messages.
//! Every message crosses the real serialiser and parser. A failing run prints its seed and the last
//! messages it carried; `World::new(seed, ...)` replays it exactly.

mod scenarios;
mod session_timer;
mod ua;

use std::time::{Duration, Instant};

use sst_b2bua::proto::call::{Call, CallConfig, EndReason, Input, LegSetup, Output, PassList};
use sst_b2bua::proto::transaction::TimerConfig;
use sst_b2bua::sip::{parse, HostPort, Message};

pub use ua::{Answer, Script, TimerScript, Ua};

/// Who the call's outputs go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerId {
    Caller,
    Callee,
}

/// One direction's network conditions.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram arrives twice (each copy with its own delay).
    pub dup: f64,
    /// One-way delay, uniform in this range (wide enough to reorder close messages).
    pub delay: (Duration, Duration),
}

impl Net {
    pub fn perfect() -> Net {
        Net { loss: 0.0, dup: 0.0, delay: (Duration::from_millis(20), Duration::from_millis(20)) }
    }

    /// 5–10 % loss and duplication (picked by the seed), 5–120 ms of jitter.
    pub fn lossy(seed: u64) -> Net {
        let p = 0.05 + (seed % 6) as f64 * 0.01;
        Net { loss: p, dup: p, delay: (Duration::from_millis(5), Duration::from_millis(120)) }
    }
}

/// Which way a link carries datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    CallerToB2bua,
    B2buaToCaller,
    B2buaToCallee,
    CalleeToB2bua,
}

const DIRS: [Dir; 4] = [Dir::CallerToB2bua, Dir::B2buaToCaller, Dir::B2buaToCallee, Dir::CalleeToB2bua];

/// A one-way lossy link: datagrams in flight with the instant they arrive.
struct Link {
    dir: Dir,
    net: Net,
    rng: fastrand::Rng,
    /// (arrival, sequence number for a stable order, bytes)
    in_flight: Vec<(Instant, u64, bytes::Bytes)>,
    /// Drop this many more datagrams whose first line contains the pattern (targeted loss).
    drop_next: Vec<(String, u32)>,
    sent: u32,
    lost: u32,
}

impl Link {
    fn delay(&mut self) -> Duration {
        let (lo, hi) = self.net.delay;
        lo + Duration::from_micros(self.rng.u64(0..=(hi - lo).as_micros() as u64))
    }

    fn send(&mut self, now: Instant, seq: &mut u64, bytes: bytes::Bytes) {
        self.sent += 1;
        let first = first_line(&bytes);
        if let Some(rule) = self.drop_next.iter_mut().find(|(p, n)| *n > 0 && first.contains(p.as_str())) {
            rule.1 -= 1;
            self.lost += 1;
            return;
        }
        if self.rng.f64() < self.net.loss {
            self.lost += 1;
            return;
        }
        let copies = if self.rng.f64() < self.net.dup { 2 } else { 1 };
        for _ in 0..copies {
            *seq += 1;
            let at = now + self.delay();
            self.in_flight.push((at, *seq, bytes.clone()));
        }
    }

    fn next_arrival(&self) -> Option<(Instant, u64)> {
        self.in_flight.iter().map(|(at, seq, _)| (*at, *seq)).min()
    }
}

fn first_line(bytes: &[u8]) -> String {
    let line = bytes.split(|b| *b == b'\r').next().unwrap_or_default();
    String::from_utf8_lossy(line).into_owned()
}

pub struct World {
    pub seed: u64,
    pub start: Instant,
    pub now: Instant,
    pub caller: Ua,
    pub callee: Ua,
    /// The call, once the caller's INVITE reached the B2BUA.
    pub call: Option<Call<PeerId>>,
    pub config: CallConfig,
    /// When the call reported itself finished (it is then dropped, as the actor drops it).
    pub finished_at: Option<Instant>,
    pub answered: bool,
    pub ended: Vec<EndReason>,
    /// Messages that reached the B2BUA after the call was finished and dropped.
    pub late: Vec<String>,
    links: Vec<Link>,
    seq: u64,
    /// The last messages carried, for a failure report.
    trace: Vec<String>,
}

/// The B2BUA's addresses on each leg and the callee's, as the call sees them.
const B2BUA_A: &str = "192.0.2.100:5060";
const B2BUA_B: &str = "198.51.100.100:5060";

fn leg(peer: PeerId, local: &str) -> LegSetup<PeerId> {
    LegSetup { peer, reliable: false, transport: "UDP", local: HostPort::parse(local).expect("host port") }
}

impl World {
    pub fn new(seed: u64, net: Net, caller: Script, callee: Script) -> World {
        let start = Instant::now();
        let links = DIRS
            .iter()
            .enumerate()
            .map(|(i, dir)| Link {
                dir: *dir,
                net,
                rng: fastrand::Rng::with_seed(seed.wrapping_mul(31).wrapping_add(i as u64 + 1)),
                in_flight: Vec::new(),
                drop_next: Vec::new(),
                sent: 0,
                lost: 0,
            })
            .collect();
        World {
            seed,
            start,
            now: start,
            caller: Ua::new("caller", "alice", "192.0.2.10:5060", seed ^ 0xa11ce, caller),
            callee: Ua::new("callee", "bob", "198.51.100.20:5060", seed ^ 0xb0b, callee),
            call: None,
            config: CallConfig {
                timers: TimerConfig::default(),
                ring_timeout: Duration::from_secs(120),
                target: "sip:198.51.100.20:5060".into(),
                pass: PassList::default(),
                credentials: None,
                timer_a: Default::default(),
                timer_b: Default::default(),
                failover_max_retry_after: 0,
                route: "test".into(),
                server_name: None,
            },
            finished_at: None,
            answered: false,
            ended: Vec::new(),
            late: Vec::new(),
            links,
            seq: 0,
            trace: Vec::new(),
        }
    }

    /// Drops the next `count` datagrams on `dir` whose first line contains `pattern` (targeted loss).
    pub fn drop_next(&mut self, dir: Dir, pattern: &str, count: u32) {
        if let Some(link) = self.links.iter_mut().find(|l| l.dir == dir) {
            link.drop_next.push((pattern.to_owned(), count));
        }
    }

    /// The caller dials; then the world runs until nothing is left to happen (or `limit` passes).
    pub fn run(&mut self, limit: Duration) {
        self.caller.call(self.now, "sip:bob@192.0.2.100:5060");
        self.flush();
        self.run_until(self.start + limit);
    }

    /// Delivers what is due at `now`, wakes what is due, and jumps to the next event, up to `until`.
    pub fn run_until(&mut self, until: Instant) {
        let mut same_instant = 0;
        loop {
            let mut busy = false;
            while let Some((i, bytes)) = self.pop_due() {
                self.deliver(self.links[i].dir, &bytes);
                busy = true;
            }
            if let Some(call) = self.call.as_mut().filter(|_| self.finished_at.is_none()) {
                if call.poll_timeout().is_some_and(|t| t <= self.now) {
                    call.handle_timeout(self.now);
                    busy = true;
                }
            }
            for ua in [&mut self.caller, &mut self.callee] {
                if ua.poll_timeout().is_some_and(|t| t <= self.now) {
                    ua.handle_timeout(self.now);
                    busy = true;
                }
            }
            self.flush();
            if busy {
                same_instant += 1;
                assert!(
                    same_instant < 10_000,
                    "seed {}: a deadline at {:?} that never clears",
                    self.seed,
                    self.elapsed()
                );
                continue;
            }
            same_instant = 0;
            let Some(next) = self.next_event() else { return };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let links = self.links.iter().filter_map(|l| l.next_arrival().map(|(at, _)| at));
        let call = self.call.as_ref().filter(|_| self.finished_at.is_none()).and_then(|c| c.poll_timeout());
        let uas = [self.caller.poll_timeout(), self.callee.poll_timeout()];
        links.chain(call).chain(uas.into_iter().flatten()).min()
    }

    /// The earliest datagram due at `now` across all links.
    fn pop_due(&mut self) -> Option<(usize, bytes::Bytes)> {
        let (i, (at, seq)) = self
            .links
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.next_arrival().map(|n| (i, n)))
            .min_by_key(|(_, n)| *n)?;
        if at > self.now {
            return None;
        }
        let link = &mut self.links[i];
        let pos = link.in_flight.iter().position(|(_, s, _)| *s == seq)?;
        Some((i, link.in_flight.remove(pos).2))
    }

    fn deliver(&mut self, dir: Dir, bytes: &[u8]) {
        self.note(format!("{dir:?}: {}", first_line(bytes)));
        let message = parse(bytes).unwrap_or_else(|e| {
            panic!(
                "seed {}: {dir:?} carried an unparseable message ({e:?}):\n{}",
                self.seed,
                String::from_utf8_lossy(bytes)
            )
        });
        match dir {
            Dir::B2buaToCaller => self.caller.handle(self.now, message),
            Dir::B2buaToCallee => self.callee.handle(self.now, message),
            Dir::CallerToB2bua => self.deliver_to_call(Input::FromA(message)),
            Dir::CalleeToB2bua => self.deliver_to_call(Input::FromB(message)),
        }
    }

    /// A message for the B2BUA: the first INVITE creates the call (and leg B connects at once).
    fn deliver_to_call(&mut self, input: Input<PeerId>) {
        if self.finished_at.is_some() {
            return self.late.push(format!("{:?}: {input:?}", self.elapsed()));
        }
        match (&mut self.call, input) {
            (Some(call), input) => call.handle_input(self.now, input),
            (None, Input::FromA(Message::Request(invite))) => {
                let mut call =
                    Call::new(self.now, invite, leg(PeerId::Caller, B2BUA_A), self.config.clone(), self.seed);
                call.handle_input(self.now, Input::Connect(leg(PeerId::Callee, B2BUA_B)));
                self.call = Some(call);
            }
            (None, other) => panic!("seed {}: {other:?} before any INVITE", self.seed),
        }
    }

    /// Puts every machine's output on its link.
    fn flush(&mut self) {
        let mut sends = Vec::new();
        for m in self.caller.take_out() {
            sends.push((Dir::CallerToB2bua, m));
        }
        for m in self.callee.take_out() {
            sends.push((Dir::CalleeToB2bua, m));
        }
        if let Some(call) = self.call.as_mut() {
            while let Some(output) = call.poll_output() {
                match output {
                    Output::Send { to: PeerId::Caller, message } => sends.push((Dir::B2buaToCaller, message)),
                    Output::Send { to: PeerId::Callee, message } => sends.push((Dir::B2buaToCallee, message)),
                    Output::Answered => self.answered = true,
                    Output::Ended(reason) => self.ended.push(reason),
                    Output::NextTarget => {
                        panic!("the simulated call has one target and never asks for another")
                    }
                }
            }
            if self.finished_at.is_none() && call.is_finished() {
                self.finished_at = Some(self.now);
            }
        }
        for (dir, message) in sends {
            let link = self.links.iter_mut().find(|l| l.dir == dir).expect("every direction has a link");
            link.send(self.now, &mut self.seq, message.to_bytes());
        }
    }

    fn note(&mut self, line: String) {
        if self.trace.len() >= 400 {
            self.trace.drain(..200);
        }
        let t = self.elapsed();
        self.trace.push(format!("{:>9.3}s {line}", t.as_secs_f64()));
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn end_reason(&self) -> Option<&EndReason> {
        self.call.as_ref().and_then(|c| c.end_reason())
    }

    /// Everything every scenario must end with: the call ended once and finished, both UAs idle, no
    /// datagram in flight, no protocol anomaly seen by either UA, nothing reaching a dropped call.
    pub fn assert_clean(&self) {
        assert_eq!(self.ended.len(), 1, "the call ends exactly once: {:?}", self.ended);
        assert!(self.finished_at.is_some(), "the call never finished");
        assert!(self.caller.is_idle(), "{}", self.caller.describe());
        assert!(self.callee.is_idle(), "{}", self.callee.describe());
        assert!(self.links.iter().all(|l| l.in_flight.is_empty()), "datagrams still in flight");
        assert!(self.caller.log.errors.is_empty(), "caller saw: {:?}", self.caller.log.errors);
        assert!(self.callee.log.errors.is_empty(), "callee saw: {:?}", self.callee.log.errors);
        assert!(self.late.is_empty(), "messages after the call was dropped: {:#?}", self.late);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let lost: Vec<(Dir, u32, u32)> = self.links.iter().map(|l| (l.dir, l.sent, l.lost)).collect();
            eprintln!(
                "--- simulation seed {} failed at {:?} (replay: World::new({}, ...)); sent/lost per link {lost:?}\n\
                 caller {:?}\ncallee {:?}\nlast messages:\n{}",
                self.seed,
                self.elapsed(),
                self.seed,
                self.caller.log,
                self.callee.log,
                self.trace.join("\n")
            );
        }
    }
}

/// Runs `scenario` for each seed; a failure names its seed (the World prints its trace as it unwinds).
pub fn for_seeds(
    name: &str,
    seeds: std::ops::Range<u64>,
    scenario: impl Fn(u64) + std::panic::RefUnwindSafe,
) {
    for seed in seeds {
        if let Err(panic) = std::panic::catch_unwind(|| scenario(seed)) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: seed {seed} failed: {why}");
        }
    }
}
