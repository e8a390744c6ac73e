//! Open TCP connections: writers by id, and by peer address for reuse of outbound connections
//! (RFC 3261 §18.1.1 / RFC 5923 spirit). One of the two places dashmap is allowed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

#[derive(Debug, Clone)]
struct Conn {
    peer: SocketAddr,
    local: SocketAddr,
    writer: mpsc::Sender<Bytes>,
}

/// Registry of live connections, shared by listeners, connection tasks and the outbound path.
#[derive(Debug, Default)]
pub struct Connections {
    next_id: AtomicU64,
    open: AtomicUsize,
    by_id: DashMap<ConnId, Conn>,
    by_peer: DashMap<SocketAddr, ConnId>,
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

impl Connections {
    pub fn new() -> Arc<Connections> {
        Arc::new(Connections::default())
    }

    /// Registers a connection unless `max` are open already.
    pub fn register(
        self: &Arc<Self>,
        peer: SocketAddr,
        local: SocketAddr,
        writer: mpsc::Sender<Bytes>,
        max: usize,
    ) -> Option<(ConnId, Registration)> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let id = ConnId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        self.by_id.insert(id, Conn { peer, local, writer });
        self.by_peer.insert(peer, id);
        Some((id, Registration { registry: Arc::clone(self), id }))
    }

    fn remove(&self, id: ConnId) {
        if let Some((_, conn)) = self.by_id.remove(&id) {
            self.by_peer.remove_if(&conn.peer, |_, v| *v == id);
            self.open.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The writer of a connection by id, if it is still open.
    pub fn writer(&self, id: ConnId) -> Option<mpsc::Sender<Bytes>> {
        self.by_id.get(&id).map(|c| c.writer.clone())
    }

    /// An open connection to `peer` (inbound or outbound), for reuse.
    pub fn to_peer(&self, peer: SocketAddr) -> Option<(ConnId, SocketAddr, mpsc::Sender<Bytes>)> {
        let id = *self.by_peer.get(&peer)?;
        let conn = self.by_id.get(&id)?;
        Some((id, conn.local, conn.writer.clone()))
    }

    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}
