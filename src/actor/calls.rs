//! The live calls, and what drives them. A call has no task of its own: its `proto::call::Call` sits in
//! a cell, found by the Call-ID of either leg, and is driven in place by whoever has something for it —
//! the task that received a message for it, the one timer task when its deadline comes, or the short
//! task that resolves and connects leg B. Each drive is the same: lock the call, hand in the input or the
//! timeout, send what it produced, queue its next deadline, drop it from every table once it is finished.
//!
//! Why not a task per call: a held call then costs its state and nothing else (no task, mailbox or sleep),
//! and a message is handled on the thread that read it instead of waking another one. The per-call lock
//! is held while the call's output is written to the socket (non-blocking sends, in the call's order) and
//! never together with a table lock.
//!
//! Nothing is left behind: a finished call, a call whose handling panicked, and every call at shutdown
//! leave the index through `release`, and a timer entry of a released call finds nothing to upgrade.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use tokio::sync::watch;
use tracing::Instrument;

use super::clock;
use super::leg_b::{self, CallContext};
use super::timer_queue::TimerQueue;
use crate::net::Peer;
use crate::proto::call::{Call, CallConfig, Input, LegId, Output};
use crate::sip::{HeaderName, Message, Request};

/// Timer entries handled per lock of the queue.
const TIMER_BATCH: usize = 256;

pub struct Calls {
    /// Call-ID of either leg → the call and which leg that Call-ID is.
    index: DashMap<Box<str>, (Arc<CallCell>, LegId)>,
    live: AtomicUsize,
    max: usize,
    stopping: AtomicBool,
    timers: TimerQueue<Weak<CallCell>>,
    ctx: CallContext,
}

/// A call's state, `None` once it has been released.
pub struct CallCell(Mutex<Option<Box<Slot>>>);

impl CallCell {
    fn lock(&self) -> MutexGuard<'_, Option<Box<Slot>>> {
        // A panic while driving is caught inside the lock (see `drive`), so poisoning never happens; if it
        // did, the state is released by the same path.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Slot {
    call: Call<Peer>,
    /// Leg B's targets not tried yet (RFC 3263 §4.3), while there are any. Boxed on purpose: 8 bytes in
    /// every held call instead of 32, for a list most calls never have.
    #[allow(clippy::box_collection)]
    targets: Option<Box<VecDeque<Peer>>>,
    /// Leg A's and leg B's Call-IDs, the call's keys in the index.
    keys: [Box<str>; 2],
    /// Carries both Call-IDs; entered whenever the call is driven.
    span: tracing::Span,
    began: Instant,
    /// The deadline this call has in the timer queue (earlier entries of it are stale).
    queued: Option<Instant>,
    /// `Output::Ended` was logged.
    reported: bool,
    /// `Input::Shutdown` was handed in.
    stopping: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// `max_calls` calls are up already.
    Full,
    /// A call with this Call-ID exists (a retransmission raced us): route to it instead.
    Exists,
}

/// What leg B needs from the effects tier next.
enum LegB {
    /// Resolve the route's target, then connect to the first reachable one.
    Resolve(Arc<CallConfig>),
    /// The current target failed: connect to the next one.
    Next,
}

impl Calls {
    pub fn new(ctx: CallContext, max: usize) -> Arc<Calls> {
        Arc::new(Calls {
            index: DashMap::new(),
            live: AtomicUsize::new(0),
            max,
            stopping: AtomicBool::new(false),
            timers: TimerQueue::default(),
            ctx,
        })
    }

    pub fn context(&self) -> &CallContext {
        &self.ctx
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Calls not yet released.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Index entries (two per live call).
    pub fn entries(&self) -> usize {
        self.index.len()
    }

    /// Deadlines queued, stale ones included.
    pub fn timers_queued(&self) -> usize {
        self.timers.len()
    }

    /// Starts a call for an initial INVITE (`make` builds it from the request): registers it under both
    /// Call-IDs, sends what it answers at once (100 Trying) and sets off leg B. The request comes back,
    /// untouched, when the call cannot be taken.
    pub fn start(
        self: &Arc<Self>,
        call_id_a: &str,
        request: Request,
        make: impl FnOnce(Request) -> Call<Peer>,
    ) -> Result<(), Box<(Refused, Request)>> {
        if self.live.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.live.fetch_sub(1, Ordering::AcqRel);
            return Err(Box::new((Refused::Full, request)));
        }
        let (cell, span, key_b, config) = match self.index.entry(call_id_a.into()) {
            Entry::Occupied(_) => {
                self.live.fetch_sub(1, Ordering::AcqRel);
                return Err(Box::new((Refused::Exists, request)));
            }
            Entry::Vacant(v) => {
                // Built under the index shard's lock (pure computation, nothing sent), so a retransmitted
                // INVITE racing this one finds the call.
                let call = make(request);
                let keys: [Box<str>; 2] = [call_id_a.into(), call.b_call_id().into()];
                let span = tracing::info_span!("call", a = %keys[0], b = %keys[1]);
                let (key_b, config) = (keys[1].clone(), Arc::clone(call.config()));
                let slot = Slot {
                    call,
                    targets: None,
                    keys,
                    span: span.clone(),
                    began: clock::now(),
                    queued: None,
                    reported: false,
                    stopping: false,
                };
                let cell = Arc::new(CallCell(Mutex::new(Some(Box::new(slot)))));
                v.insert((Arc::clone(&cell), LegId::A));
                (cell, span, key_b, config)
            }
        };
        self.index.insert(key_b, (Arc::clone(&cell), LegId::B));
        span.in_scope(|| tracing::info!(route = %config.route, target = %config.target, "call started"));
        let stopping = self.stopping.load(Ordering::Acquire);
        self.drive(&cell, |slot, now| {
            if stopping {
                slot.stopping = true;
                slot.call.handle_input(now, Input::Shutdown);
            }
        });
        self.leg_b(cell, LegB::Resolve(config), span);
        Ok(())
    }

    /// Hands a message to the call one of whose legs has its Call-ID; gives it back when there is none.
    #[must_use]
    pub fn deliver(self: &Arc<Self>, message: Message) -> Option<Message> {
        let found = message
            .headers()
            .get(&HeaderName::CALL_ID)
            .and_then(|id| self.index.get(id))
            .map(|found| (Arc::clone(&found.value().0), found.value().1));
        let Some((cell, leg)) = found else { return Some(message) };
        let mut message = Some(message);
        self.drive(&cell, |slot, now| {
            if let Some(message) = message.take() {
                let input = match leg {
                    LegId::A => Input::FromA(message),
                    LegId::B => Input::FromB(message),
                };
                slot.call.handle_input(now, input);
            }
        });
        // Still here: the call was released between the lookup and the lock.
        message
    }

    /// Ends every call on both legs (BYE, CANCEL, final answers); calls started from now on end at once.
    pub fn shutdown(self: &Arc<Self>) {
        self.stopping.store(true, Ordering::Release);
        let cells: Vec<Arc<CallCell>> =
            self.index.iter().filter(|e| e.value().1 == LegId::A).map(|e| Arc::clone(&e.value().0)).collect();
        for cell in cells {
            self.drive(&cell, |slot, now| {
                if !slot.stopping {
                    slot.stopping = true;
                    slot.call.handle_input(now, Input::Shutdown);
                }
            });
        }
    }

    /// Fires due deadlines until `stop` changes. The one task that gives calls their time.
    pub async fn run_timers(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut due = Vec::with_capacity(TIMER_BATCH);
        loop {
            let next = self.timers.next();
            tokio::select! {
                _ = sleep_until(next) => {}
                _ = self.timers.earlier() => continue,
                _ = stop.changed() => return,
            }
            let now = clock::now();
            loop {
                self.timers.pop_due(now, TIMER_BATCH, &mut due);
                if due.is_empty() {
                    break;
                }
                for (at, cell) in due.drain(..) {
                    if let Some(cell) = cell.upgrade() {
                        self.fire(&cell, at);
                    }
                }
                tokio::task::yield_now().await;
            }
        }
    }

    fn fire(self: &Arc<Self>, cell: &Arc<CallCell>, at: Instant) {
        let lateness = &self.ctx.lateness;
        self.drive(cell, |slot, now| {
            if slot.queued != Some(at) {
                return; // stale: the call has queued another deadline since
            }
            slot.queued = None;
            if let Some(deadline) = slot.call.poll_timeout().filter(|d| *d <= now) {
                lateness.record(now.saturating_duration_since(deadline));
            }
            slot.call.handle_timeout(now);
        });
    }

    /// Runs `f` on the call under its lock, then sends its output, queues its next deadline or releases
    /// it; afterwards, sets off leg B's next target when the call asked for one.
    fn drive(self: &Arc<Self>, cell: &Arc<CallCell>, f: impl FnOnce(&mut Slot, Instant)) {
        let mut guard = cell.lock();
        let Some(slot) = guard.as_mut() else { return };
        let span = slot.span.clone();
        let _entered = span.enter();
        let now = clock::now();
        let outbound = &self.ctx.outbound;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            f(slot, now);
            flush(slot, outbound)
        }));
        let next_target = match outcome {
            Ok(next_target) if !slot.call.is_finished() => {
                if let Some(deadline) = slot.call.poll_timeout() {
                    if slot.queued.is_none_or(|q| deadline < q) {
                        slot.queued = Some(deadline);
                        self.timers.push(deadline, Arc::downgrade(cell));
                    }
                }
                next_target
            }
            Ok(_) => {
                if !slot.reported {
                    if let Some(reason) = slot.call.end_reason() {
                        log_end(reason, slot.began);
                    }
                }
                self.release(cell, &mut guard);
                false
            }
            Err(_) => {
                tracing::error!("call handling panicked: the call is dropped");
                self.release(cell, &mut guard);
                false
            }
        };
        drop(guard);
        if next_target {
            self.leg_b(Arc::clone(cell), LegB::Next, span.clone());
        }
    }

    /// Takes the call out of its cell and the index (only entries that still point at this cell).
    fn release(&self, cell: &Arc<CallCell>, guard: &mut MutexGuard<'_, Option<Box<Slot>>>) {
        let Some(slot) = guard.take() else { return };
        for key in &slot.keys {
            self.index.remove_if(key, |_, (c, _)| Arc::ptr_eq(c, cell));
        }
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// Resolves or connects leg B's target and hands the outcome to the call. Runs inline when nothing
    /// has to wait (an address target over UDP, a cached name); otherwise on a task of its own, which
    /// ends when the outcome is in.
    fn leg_b(self: &Arc<Self>, cell: Arc<CallCell>, step: LegB, span: tracing::Span) {
        let mut task = Box::pin(Arc::clone(self).find_leg_b(cell, step).instrument(span));
        let mut cx = Context::from_waker(Waker::noop());
        if task.as_mut().poll(&mut cx) == Poll::Pending {
            // Polled again by the runtime with a real waker: every resource re-registers on that poll.
            tokio::spawn(task);
        }
    }

    async fn find_leg_b(self: Arc<Self>, cell: Arc<CallCell>, step: LegB) {
        let ctx = &self.ctx;
        let mut targets = match step {
            LegB::Resolve(config) => {
                if cell.lock().is_none() {
                    return; // over at once (a 483, or shutdown)
                }
                let server_name = config.server_name.as_deref().map(Arc::from);
                match leg_b::resolve(&config.target, server_name.as_ref(), ctx).await {
                    Ok(targets) => targets,
                    Err(why) => {
                        return self.drive(&cell, |slot, now| {
                            slot.call.handle_input(now, Input::Unreachable(why));
                        });
                    }
                }
            }
            LegB::Next => match cell.lock().as_mut() {
                Some(slot) => slot.targets.take().map(|t| *t).unwrap_or_default(),
                None => return,
            },
        };
        let next = leg_b::next_target(&mut targets, ctx).await;
        self.drive(&cell, |slot, now| {
            slot.targets = (!targets.is_empty()).then(|| Box::new(targets));
            let input = match next {
                Ok((setup, more)) => Input::Target { setup, more },
                Err(why) => Input::Unreachable(why),
            };
            slot.call.handle_input(now, input);
        });
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(clock::to_tokio(at)).await,
        None => std::future::pending().await,
    }
}

/// Sends and logs what the call produced; true when it asks for leg B's next target.
fn flush(slot: &mut Slot, outbound: &crate::net::Outbound) -> bool {
    let mut next_target = false;
    while let Some(output) = slot.call.poll_output() {
        match output {
            Output::Send { to, message } => outbound.send(&to, message.to_bytes()),
            Output::Answered => tracing::info!("call answered"),
            Output::NextTarget => next_target = true,
            Output::Ended(reason) => {
                slot.reported = true;
                log_end(&reason, slot.began);
            }
        }
    }
    next_target
}

fn log_end(reason: &impl std::fmt::Display, began: Instant) {
    let duration = clock::now().saturating_duration_since(began);
    tracing::info!(%reason, duration_s = format_args!("{:.1}", secs(duration)), "call ended");
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests;
