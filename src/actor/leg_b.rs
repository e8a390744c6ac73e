//! Where leg B goes: RFC 3263 targets for a call's route, the listener each leaves from, and the
//! connection a TCP/TLS target needs before its INVITE. The only awaiting a call does; `actor::calls`
//! feeds the outcome to the call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::net::resolve::Resolver;
use crate::net::{local_ip_towards, Outbound, Peer, Transport};
use crate::proto::call::LegSetup;
use crate::sip::HostPort;

/// What driving calls needs from the daemon.
#[derive(Clone)]
pub struct CallContext {
    pub outbound: Outbound,
    /// How late call timers fire against their deadlines.
    pub lateness: Arc<super::lateness::Lateness>,
    pub listeners: Listeners,
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
pub async fn resolve(
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
pub async fn next_target(
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
