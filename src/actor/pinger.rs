//! The task that drives `proto::trunk_health::Monitor`: OPTIONS pings to the trunks that have a
//! `ping_interval`. Each due ping's trunk URI is located afresh (RFC 3263 through `net::resolve`, first
//! target; a DNS change is followed on the next ping) in a task of its own, so a slow lookup holds up no
//! other trunk; stream transports are connected first, so a refused connection is a failed ping at once.
//! Responses come from the dispatcher through a bounded mailbox. State changes are written to the shared
//! `TrunkHealth` the router reads, and logged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::{Id, JoinSet};

use super::clock;
use super::leg_b::Listeners;
use crate::config::Config;
use crate::net::resolve::Resolver;
use crate::net::{Outbound, Peer, Transport};
use crate::proto::transaction::TimerConfig;
use crate::proto::trunk_health::{HealthEvent, Hop, Monitor, PingTarget, TrunkHealth};
use crate::sip::Response;

/// Responses queued for the pinger at most; when full the dispatcher drops them (a lost answer).
pub const MAILBOX: usize = 256;

/// What the pinger needs from the daemon.
pub struct PingerContext {
    pub outbound: Outbound,
    pub listeners: Listeners,
    pub resolver: Resolver,
    /// Written here, read by the router.
    pub health: TrunkHealth,
    pub shutdown: watch::Receiver<bool>,
}

pub struct Pinger {
    monitor: Monitor,
    /// Name and URI of every configured trunk, by index.
    trunks: Vec<(String, String)>,
    ctx: PingerContext,
    mailbox: mpsc::Receiver<Response>,
}

impl Pinger {
    /// A pinger for the trunks of `config` that have a `ping_interval`, with the sender of its mailbox;
    /// `None` when no trunk is pinged.
    pub fn new(config: &Config, ctx: PingerContext) -> Option<(Pinger, mpsc::Sender<Response>)> {
        let targets = PingTarget::from_config(config);
        if targets.is_empty() {
            return None;
        }
        for target in &targets {
            let trunk = &config.trunks[target.trunk];
            tracing::info!(
                trunk = %trunk.name,
                uri = %trunk.uri,
                interval_s = trunk.ping_interval,
                down_after = trunk.ping_down_after,
                up_after = trunk.ping_up_after,
                "pinging trunk with OPTIONS"
            );
        }
        let monitor = Monitor::new(clock::now(), targets, TimerConfig::default(), fastrand::u64(..));
        let trunks = config.trunks.iter().map(|t| (t.name.clone(), t.uri.clone())).collect();
        let (tx, mailbox) = mpsc::channel(MAILBOX);
        Some((Pinger { monitor, trunks, ctx, mailbox }, tx))
    }

    /// Pings until shutdown (or until the dispatcher is gone).
    pub async fn run(self) {
        let Pinger { mut monitor, trunks, ctx, mut mailbox } = self;
        let mut shutdown = ctx.shutdown.clone();
        // Lookups in flight, and the trunk each is for (a task that panicked still names its trunk).
        let mut lookups: JoinSet<Result<Peer, String>> = JoinSet::new();
        let mut looking_up: HashMap<Id, usize> = HashMap::new();
        // Where each trunk's current ping goes (its retransmissions too).
        let mut peers: HashMap<usize, Peer> = HashMap::new();
        loop {
            while let Some(trunk) = monitor.poll_due() {
                let (resolver, listeners, outbound) =
                    (ctx.resolver.clone(), ctx.listeners.clone(), ctx.outbound.clone());
                let uri = trunks[trunk].1.clone();
                let task = lookups.spawn(async move { locate(&resolver, &uri, &listeners, &outbound).await });
                looking_up.insert(task.id(), trunk);
            }
            while let Some((trunk, request)) = monitor.poll_transmit() {
                if let Some(peer) = peers.get(&trunk) {
                    ctx.outbound.send(peer, request.to_bytes());
                }
            }
            while let Some(event) = monitor.poll_event() {
                ctx.health.set(event.trunk, event.up);
                log_change(&event, &trunks[event.trunk].0);
            }
            let deadline = monitor.poll_timeout();
            tokio::select! {
                mail = mailbox.recv() => match mail {
                    Some(response) => monitor.handle_response(clock::now(), response),
                    None => break,
                },
                Some(joined) = lookups.join_next_with_id(), if !lookups.is_empty() => {
                    let (id, found) = match joined {
                        Ok((id, found)) => (id, found),
                        Err(e) => (e.id(), Err(format!("lookup task failed: {e}"))),
                    };
                    let Some(trunk) = looking_up.remove(&id) else { continue };
                    let now = clock::now();
                    match found {
                        Ok(peer) => {
                            let setup = ctx.listeners.setup(peer.clone());
                            let hop = Hop { transport: setup.transport, local: setup.local, reliable: setup.reliable };
                            peers.insert(trunk, peer);
                            monitor.send_ping(now, trunk, &hop);
                        }
                        Err(why) => {
                            tracing::debug!(trunk = %trunks[trunk].0, %why, "trunk ping not sent");
                            monitor.unreachable(now, trunk, why);
                        }
                    }
                }
                _ = sleep_until(deadline) => monitor.handle_timeout(clock::now()),
                _ = shutdown.changed() => break,
            }
        }
    }
}

fn log_change(event: &HealthEvent, name: &str) {
    if event.up {
        tracing::info!(trunk = %name, cause = %event.cause, "trunk up: routes to it are used again");
    } else {
        tracing::info!(trunk = %name, cause = %event.cause, "trunk down: routes to it are skipped");
    }
}

/// Where a ping to `uri` goes: the first RFC 3263 target, sent from the listener of its transport and
/// family; for TCP and TLS over a connection open (or opened now, TLS verified) to it.
async fn locate(
    resolver: &Resolver,
    uri: &str,
    listeners: &Listeners,
    outbound: &Outbound,
) -> Result<Peer, String> {
    let targets = resolver.resolve(uri).await.map_err(|e| e.to_string())?;
    let target = targets.into_iter().next().ok_or_else(|| format!("no target for {uri}"))?;
    let local = listeners
        .listener(target.transport, target.addr)
        .ok_or_else(|| format!("no {} listener", target.transport.as_str()))?;
    // The certificate is checked against the URI's host name (RFC 5922 §4); only TLS uses it.
    let server_name = match target.transport {
        Transport::Tls => target.server_name.map(Arc::from),
        Transport::Udp | Transport::Tcp => None,
    };
    let mut peer = Peer { transport: target.transport, addr: target.addr, conn: None, local, server_name };
    if peer.transport.is_reliable() {
        peer.conn = Some(outbound.connect(&peer).await?);
    }
    Ok(peer)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(clock::to_tokio(at)).await,
        None => std::future::pending().await,
    }
}
