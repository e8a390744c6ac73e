//! Open stream connections (TCP and TLS): writers by id, and by transport and peer address for reuse of
//! outbound connections (RFC 3261 §18.1.1 / RFC 5923 spirit). A TLS connection is reused only for the
//! identity its server certificate was verified against. One of the two places dashmap is allowed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::mpsc;

use super::Transport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the far end of a stream proved to be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verified {
    /// Nothing: TCP, or a TLS client that connected to us (no client certificates).
    Nothing,
    /// A TLS server we connected to, whose certificate is valid for this host name (the SNI we sent).
    Name(Arc<str>),
    /// A TLS server we connected to by IP address, whose certificate is valid for that address.
    Ip,
}

#[derive(Debug, Clone)]
struct Conn {
    transport: Transport,
    peer: SocketAddr,
    local: SocketAddr,
    verified: Verified,
    writer: mpsc::Sender<Bytes>,
}

/// Registry of live connections, shared by listeners, connection tasks and the outbound path.
#[derive(Debug, Default)]
pub struct Connections {
    next_id: AtomicU64,
    open: AtomicUsize,
    by_id: DashMap<ConnId, Conn>,
    by_peer: DashMap<(Transport, SocketAddr), ConnId>,
}

/// Removes a connection from the registry when its task ends, however it ends.
pub struct Registration {
    registry: Arc<Connections>,
    id: ConnId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

/// Who a new connection is with, for the registry.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub transport: Transport,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub verified: Verified,
}

impl Connections {
    pub fn new() -> Arc<Connections> {
        Arc::new(Connections::default())
    }

    /// Registers a connection unless `max` are open already.
    pub fn register(
        self: &Arc<Self>,
        ends: Endpoints,
        writer: mpsc::Sender<Bytes>,
        max: usize,
    ) -> Option<(ConnId, Registration)> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let id = ConnId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let Endpoints { transport, peer, local, verified } = ends;
        self.by_id.insert(id, Conn { transport, peer, local, verified, writer });
        self.by_peer.insert((transport, peer), id);
        Some((id, Registration { registry: Arc::clone(self), id }))
    }

    fn remove(&self, id: ConnId) {
        if let Some((_, conn)) = self.by_id.remove(&id) {
            self.by_peer.remove_if(&(conn.transport, conn.peer), |_, v| *v == id);
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The writer of a connection by id, if it is still open.
    pub fn writer(&self, id: ConnId) -> Option<mpsc::Sender<Bytes>> {
        self.by_id.get(&id).map(|c| c.writer.clone())
    }

    /// An open connection of `transport` to `peer` whose far end proved to be `verified`, for reuse:
    /// any TCP connection (inbound or outbound); a TLS connection only one we opened and verified for the
    /// same name or address, never one a client opened to us.
    pub fn to_peer(
        &self,
        transport: Transport,
        peer: SocketAddr,
        verified: &Verified,
    ) -> Option<(ConnId, SocketAddr, mpsc::Sender<Bytes>)> {
        let id = *self.by_peer.get(&(transport, peer))?;
        let conn = self.by_id.get(&id)?;
        (conn.verified == *verified).then(|| (id, conn.local, conn.writer.clone()))
    }

    /// Open stream connections, TCP and TLS together.
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Open connections of one transport (a walk over the registry: for tests and diagnostics).
    pub fn count_of(&self, transport: Transport) -> usize {
        self.by_id.iter().filter(|c| c.transport == transport).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(transport: Transport, peer: &str, verified: Verified) -> Endpoints {
        Endpoints {
            transport,
            peer: peer.parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            verified,
        }
    }

    #[test]
    fn reuse_never_crosses_transports_or_identities() {
        let registry = Connections::new();
        let (tx, _rx) = mpsc::channel(1);
        let addr: SocketAddr = "192.0.2.1:5061".parse().unwrap();
        let name = Verified::Name("trunk.test".into());
        let (tcp, _t) = registry
            .register(ends(Transport::Tcp, "192.0.2.1:5061", Verified::Nothing), tx.clone(), 9)
            .unwrap();
        assert_eq!(registry.to_peer(Transport::Tcp, addr, &Verified::Nothing).map(|c| c.0), Some(tcp));
        assert!(registry.to_peer(Transport::Tls, addr, &name).is_none(), "a TCP connection for TLS");
        let (tls, guard) =
            registry.register(ends(Transport::Tls, "192.0.2.1:5061", name.clone()), tx, 9).unwrap();
        assert_eq!(registry.to_peer(Transport::Tls, addr, &name).map(|c| c.0), Some(tls));
        assert_eq!(registry.to_peer(Transport::Tcp, addr, &Verified::Nothing).map(|c| c.0), Some(tcp));
        let other = Verified::Name("other.test".into());
        assert!(registry.to_peer(Transport::Tls, addr, &other).is_none(), "verified for another name");
        assert!(registry.to_peer(Transport::Tls, addr, &Verified::Ip).is_none());
        assert_eq!((registry.count_of(Transport::Tls), registry.open_count()), (1, 2));
        drop(guard);
        assert!(registry.to_peer(Transport::Tls, addr, &name).is_none());
        assert_eq!(registry.open_count(), 1);
    }

    #[test]
    fn an_accepted_tls_connection_is_not_reused_for_requests() {
        let registry = Connections::new();
        let (tx, _rx) = mpsc::channel(1);
        let addr: SocketAddr = "192.0.2.1:5061".parse().unwrap();
        let (id, _g) =
            registry.register(ends(Transport::Tls, "192.0.2.1:5061", Verified::Nothing), tx, 9).unwrap();
        assert!(registry.to_peer(Transport::Tls, addr, &Verified::Ip).is_none());
        assert!(registry.writer(id).is_some(), "responses still go back on it by id");
    }
}
