//! One task per call: it resolves leg B's next hop, then drives `proto::call::Call` — mailbox in,
//! one `sleep_until` for every timer, outputs to the wire — and owns the index guard, so the call's entries
//! go when the task does. Its tracing span carries both Call-IDs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::call_index::{IndexGuard, Mail};
use super::clock;
use crate::net::resolve::Resolver;
use crate::net::{local_ip_towards, Outbound, Peer, Transport};
use crate::proto::call::{Call, Input, LegSetup, Output};
use crate::sip::{Host, HostPort, Uri};

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

/// Where leg B goes: transport and address of the route target (system resolver for host names). A
/// `sips:` URI or `;transport=tls` means TLS (port 5061 by default) with the URI's host name as the
/// server name to verify (RFC 5922 §4).
async fn resolve(target: &str, listeners: &Listeners) -> Result<Peer, String> {
    let uri = match Uri::parse(target) {
        Some(Uri::Sip(uri)) => uri,
        _ => return Err(format!("`{target}` is not a SIP URI")),
    };
    let transport = match (uri.is_sips(), uri.transport().as_deref()) {
        (false, None | Some("udp")) => Transport::Udp,
        (false, Some("tcp")) => Transport::Tcp,
        // sips: over TCP is TLS (RFC 3261 §26.2.2; `transport=tls` is the older spelling).
        (_, Some("tls")) | (true, None | Some("tcp")) => Transport::Tls,
        (true, Some(other)) => return Err(format!("a sips: target needs TLS over TCP, not `{other}`")),
        (false, Some(other)) => return Err(format!("transport `{other}` is not supported")),
    };
    let hp = uri.host_port();
    let port = hp.port.unwrap_or(if transport == Transport::Tls { 5061 } else { 5060 });
    let server_name = match &hp.host {
        Host::Name(name) if transport == Transport::Tls => Some(std::sync::Arc::from(name.as_str())),
        _ => None,
    };
    let addr = match hp.socket_addr(port) {
        Some(addr) => addr,
        None => {
            let host = hp.host.to_string();
            let mut addrs = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?;
            addrs.next().ok_or_else(|| format!("{host} has no address"))?
        }
    };
    let local =
        listeners.listener(transport, addr).ok_or_else(|| format!("no {} listener", transport.as_str()))?;
    Ok(Peer { transport, addr, conn: None, local, server_name })
}

/// For TLS, the connection leg B will use, set up now (handshake and certificate check included): a
/// failure ends the call with 503 at once instead of a transaction timeout, and the leg's requests then
/// travel on this connection while it lives.
async fn connect(mut peer: Peer, outbound: &Outbound) -> Result<Peer, String> {
    if peer.transport == Transport::Tls {
        peer.conn = Some(outbound.connect(&peer).await?);
    }
    Ok(peer)
}

pub struct Started {
    /// Boxed: the task's future then holds a pointer, not the call, however the future is laid out.
    pub call: Box<Call<Peer>>,
    pub guard: IndexGuard,
    pub mailbox: mpsc::Receiver<Mail>,
    pub target: String,
    pub route: String,
    pub call_id_a: String,
}

pub fn spawn(started: Started, ctx: CallContext) {
    let span = tracing::info_span!("call", a = %started.call_id_a, b = %started.call.b_call_id());
    tokio::spawn(run(started, ctx).instrument(span));
}

async fn run(started: Started, ctx: CallContext) {
    let Started { mut call, guard, mut mailbox, target, route, .. } = started;
    let began = clock::now();
    tracing::info!(%route, %target, "call started");
    flush(&mut call, &ctx.outbound, began);
    let resolved = match resolve(&target, &ctx.listeners).await {
        Ok(peer) => connect(peer, &ctx.outbound).await,
        Err(why) => Err(why),
    };
    let now = clock::now();
    match resolved {
        Ok(peer) => call.handle_input(now, Input::Connect(ctx.listeners.setup(peer))),
        Err(why) => call.handle_input(now, Input::Unreachable(why)),
    }
    let mut shutdown = ctx.shutdown.clone();
    let mut stopping = false;
    let mut reported = false;
    loop {
        reported |= flush(&mut call, &ctx.outbound, began);
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

/// Sends and logs what the call produced; true when it reported its end.
fn flush(call: &mut Call<Peer>, outbound: &Outbound, began: Instant) -> bool {
    let mut ended = false;
    while let Some(output) = call.poll_output() {
        match output {
            Output::Send { to, message } => outbound.send(&to, message.to_bytes()),
            Output::Answered => tracing::info!("call answered"),
            Output::Ended(reason) => {
                ended = true;
                let duration = clock::now().saturating_duration_since(began);
                tracing::info!(%reason, duration_s = format_args!("{:.1}", secs(duration)), "call ended");
            }
        }
    }
    ended
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
