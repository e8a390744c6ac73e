//! One task per call: it resolves leg B's next hop, then drives `proto::call::Call` — mailbox in,
//! one `sleep_until` for every timer, outputs to the wire — and owns the index guard, so the call's entries
//! go when the task does. Its tracing span carries both Call-IDs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::call_index::{IndexGuard, Mail};
use super::clock;
use crate::net::resolve::Resolver;
use crate::net::{local_ip_towards, Outbound, Peer, Transport};
use crate::proto::call::{Call, Input, LegSetup, Output};
use crate::sip::HostPort;

/// Mail queued per call at most; when full the dispatcher answers 503 (requests) or drops (responses).
pub const MAILBOX: usize = 256;

/// What a call task needs from the daemon.
#[derive(Clone)]
pub struct CallContext {
    pub outbound: Outbound,
    /// How late the call tasks wake against their deadlines.
    pub lateness: std::sync::Arc<super::lateness::Lateness>,
    pub listeners: Listeners,
    pub shutdown: watch::Receiver<bool>,
    /// RFC 3263 server location, one cache for the whole daemon (the pinger shares it).
    pub resolver: Resolver,
}

/// The listening addresses, for choosing the source of leg B and the address we advertise.
#[derive(Debug, Clone)]
pub struct Listeners {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    pub advertise: Option<HostPort>,
}

impl Listeners {
    /// The listening address to send from to `dest` over `transport`: one of the same address family,
    /// else the first.
    pub fn listener(&self, transport: Transport, dest: SocketAddr) -> Option<SocketAddr> {
        let list = match transport {
            Transport::Udp => &self.udp,
            Transport::Tcp => &self.tcp,
            Transport::Tls => &self.tls,
        };
        list.iter().find(|a| a.is_ipv4() == dest.is_ipv4()).or(list.first()).copied()
    }

    /// The leg setup for a peer reached from `local` (our listening address).
    pub fn setup(&self, peer: Peer) -> LegSetup<Peer> {
        let local = match &self.advertise {
            Some(adv) => adv.clone(),
            None => {
                let ip = if peer.local.ip().is_unspecified() {
                    local_ip_towards(peer.addr).unwrap_or(peer.local.ip())
                } else {
                    peer.local.ip()
                };
                HostPort::from(SocketAddr::new(ip, peer.local.port()))
            }
        };
        let (reliable, transport) = (peer.transport.is_reliable(), peer.transport.as_str());
        LegSetup { peer, reliable, transport, local }
    }
}

/// Leg B's targets in the order RFC 3263 gives (NAPTR, SRV priority and weight, A/AAAA), each with the
/// local listener it leaves from; a target whose transport we do not listen on is skipped. The TLS
/// server name is the URI's host (RFC 5922 §4), never a resolved address.
async fn resolve(
    target: &str,
    server_name: Option<&Arc<str>>,
    ctx: &CallContext,
) -> Result<VecDeque<Peer>, String> {
    let resolved = ctx.resolver.resolve(target).await.map_err(|e| e.to_string())?;
    let mut peers = VecDeque::with_capacity(resolved.len());
    let mut missing = None;
    for t in resolved {
        let Some(local) = ctx.listeners.listener(t.transport, t.addr) else {
            missing = Some(format!("no {} listener for {}", t.transport.as_str(), t.addr));
            continue;
        };
        let server_name = match t.transport {
            Transport::Tls => server_name.cloned().or_else(|| t.server_name.as_deref().map(Arc::from)),
            _ => None,
        };
        peers.push_back(Peer { transport: t.transport, addr: t.addr, conn: None, local, server_name });
    }
    if peers.is_empty() {
        return Err(missing.unwrap_or_else(|| format!("`{target}` resolves to nothing")));
    }
    Ok(peers)
}

/// The next target that can be reached: for TCP and TLS the connection leg B will use is set up now
/// (handshake and certificate check included), so an unreachable target is skipped at once (RFC 3263
/// §4.3: a transport failure moves to the next target) and the leg's requests then travel on that
/// connection while it lives. Returns the setup and whether more targets remain.
async fn next_target(
    targets: &mut VecDeque<Peer>,
    ctx: &CallContext,
) -> Result<(LegSetup<Peer>, bool), String> {
    let mut last = String::from("no target left");
    while let Some(mut peer) = targets.pop_front() {
        if peer.transport.is_reliable() {
            match ctx.outbound.connect(&peer).await {
                Ok(id) => peer.conn = Some(id),
                Err(why) => {
                    tracing::info!(to = %peer.addr, %why, "leg B target unreachable");
                    last = why;
                    continue;
                }
            }
        }
        tracing::debug!(to = %peer.addr, transport = peer.transport.as_str(), "leg B target");
        let more = !targets.is_empty();
        if !more {
            // A held call keeps no buffer for targets it will never try.
            *targets = VecDeque::new();
        }
        return Ok((ctx.listeners.setup(peer), more));
    }
    Err(last)
}

/// Feeds the call its next target, or tells it there is none.
async fn connect_next(call: &mut Call<Peer>, targets: &mut VecDeque<Peer>, ctx: &CallContext) {
    let next = next_target(targets, ctx).await;
    let now = clock::now();
    match next {
        Ok((setup, more)) => call.handle_input(now, Input::Target { setup, more }),
        Err(why) => call.handle_input(now, Input::Unreachable(why)),
    }
}

pub struct Started {
    /// Boxed: the task's future then holds a pointer, not the call, however the future is laid out.
    pub call: Box<Call<Peer>>,
    pub guard: IndexGuard,
    pub mailbox: mpsc::Receiver<Mail>,
    pub call_id_a: String,
}

pub fn spawn(started: Started, ctx: Arc<CallContext>) {
    let span = tracing::info_span!("call", a = %started.call_id_a, b = %started.call.b_call_id());
    tokio::spawn(run(started, ctx).instrument(span));
}

async fn run(started: Started, ctx: Arc<CallContext>) {
    // Only what the call needs for its whole life stays in this future: the call, its mailbox and index
    // guard, and the route's shared configuration (no per-call copies of names and targets).
    let Started { mut call, guard, mut mailbox, call_id_a } = started;
    drop(call_id_a);
    let config = Arc::clone(call.config());
    let (target, route) = (config.target.as_str(), config.route.as_str());
    let server_name = config.server_name.as_deref().map(Arc::from);
    let began = clock::now();
    tracing::info!(%route, %target, "call started");
    flush(&mut call, &ctx.outbound, began);
    // Boxed: the lookup and connect futures are large, and an async fn is as big as its largest await; the
    // task of a held call should not carry their size for hours.
    let mut targets = match Box::pin(resolve(target, server_name.as_ref(), &ctx)).await {
        Ok(targets) => targets,
        Err(why) => {
            call.handle_input(clock::now(), Input::Unreachable(why));
            VecDeque::new()
        }
    };
    if !targets.is_empty() {
        Box::pin(connect_next(&mut call, &mut targets, &ctx)).await;
    }
    let mut shutdown = ctx.shutdown.clone();
    let mut stopping = false;
    let mut reported = false;
    loop {
        let flushed = flush(&mut call, &ctx.outbound, began);
        reported |= flushed.ended;
        if flushed.next_target {
            Box::pin(connect_next(&mut call, &mut targets, &ctx)).await;
            continue;
        }
        if call.is_finished() {
            break;
        }
        let deadline = call.poll_timeout();
        tokio::select! {
            mail = mailbox.recv() => match mail {
                Some(input) => call.handle_input(clock::now(), *input),
                None => break,
            },
            _ = sleep_until(deadline) => {
                let now = clock::now();
                if let Some(at) = deadline {
                    ctx.lateness.record(now.saturating_duration_since(at));
                }
                call.handle_timeout(now);
            }
            _ = shutdown.changed(), if !stopping => {
                stopping = true;
                call.handle_input(clock::now(), Input::Shutdown);
            }
        }
    }
    if !reported {
        if let Some(reason) = call.end_reason() {
            let duration = clock::now().saturating_duration_since(began);
            tracing::info!(%reason, duration_s = format_args!("{:.1}", secs(duration)), "call ended");
        }
    }
    drop(guard);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(clock::to_tokio(at)).await,
        None => std::future::pending().await,
    }
}

#[derive(Default)]
struct Flushed {
    /// The call reported its end.
    ended: bool,
    /// The call wants leg B's next target.
    next_target: bool,
}

/// Sends and logs what the call produced.
fn flush(call: &mut Call<Peer>, outbound: &Outbound, began: Instant) -> Flushed {
    let mut flushed = Flushed::default();
    while let Some(output) = call.poll_output() {
        match output {
            Output::Send { to, message } => outbound.send(&to, message.to_bytes()),
            Output::Answered => tracing::info!("call answered"),
            Output::NextTarget => flushed.next_target = true,
            Output::Ended(reason) => {
                flushed.ended = true;
                let duration = clock::now().saturating_duration_since(began);
                tracing::info!(%reason, duration_s = format_args!("{:.1}", secs(duration)), "call ended");
            }
        }
    }
    flushed
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
