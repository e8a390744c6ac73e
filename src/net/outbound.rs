//! Sending: UDP from the listening socket (symmetric signalling), TCP on the connection a request came
//! in on (RFC 3261 §18.2.2) or on a reused / new connection to the peer (§18.1.1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpStream, UdpSocket};

use super::tcp::{spawn_connection, TcpContext};
use super::{Peer, Transport};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Outbound {
    /// The UDP sockets with their local addresses, read once (not a getsockname per send).
    udp: Arc<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    tcp: TcpContext,
}

impl Outbound {
    pub fn new(udp: Vec<Arc<UdpSocket>>, tcp: TcpContext) -> Outbound {
        let udp = udp.into_iter().filter_map(|s| Some((s.local_addr().ok()?, s))).collect();
        Outbound { udp: Arc::new(udp), tcp }
    }

    /// The UDP socket bound to `local`, else the first of the same address family.
    fn udp_socket(&self, local: SocketAddr, to: SocketAddr) -> Option<&Arc<UdpSocket>> {
        self.udp
            .iter()
            .find(|(addr, _)| *addr == local)
            .or_else(|| self.udp.iter().find(|(addr, _)| addr.is_ipv4() == to.is_ipv4()))
            .map(|(_, socket)| socket)
    }

    /// Sends without waiting; failures are logged (the transaction layer retransmits or times out).
    pub fn send(&self, peer: &Peer, bytes: Bytes) {
        match peer.transport {
            Transport::Udp => self.send_udp(peer, bytes),
            Transport::Tcp => self.send_tcp(peer, bytes),
            Transport::Tls => tracing::warn!(to = %peer.addr, "TLS is not built yet; message dropped"),
        }
    }

    fn send_udp(&self, peer: &Peer, bytes: Bytes) {
        let Some(socket) = self.udp_socket(peer.local, peer.addr) else {
            tracing::warn!(to = %peer.addr, "no udp socket to send from");
            return;
        };
        match socket.try_send_to(&bytes, peer.addr) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let socket = Arc::clone(socket);
                let to = peer.addr;
                tokio::spawn(async move {
                    if let Err(e) = socket.send_to(&bytes, to).await {
                        tracing::debug!(%to, error = %e, "udp send failed");
                    }
                });
            }
            Err(e) => tracing::debug!(to = %peer.addr, error = %e, "udp send failed"),
        }
    }

    fn send_tcp(&self, peer: &Peer, bytes: Bytes) {
        let connections = &self.tcp.connections;
        let writer = peer
            .conn
            .and_then(|id| connections.writer(id))
            .or_else(|| connections.to_peer(peer.addr).map(|(_, _, w)| w));
        if let Some(writer) = writer {
            if writer.try_send(bytes).is_err() {
                tracing::warn!(to = %peer.addr, "tcp write queue full or closed; message dropped");
            }
            return;
        }
        let ctx = self.tcp.clone();
        let to = peer.addr;
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return tracing::debug!(%to, error = %e, "tcp connect failed"),
                Err(_) => return tracing::debug!(%to, "tcp connect timed out"),
            };
            match spawn_connection(stream, to, &ctx) {
                Some((_, writer)) => {
                    let _ = writer.send(bytes).await;
                }
                None => tracing::warn!(%to, "tcp connection limit reached; message dropped"),
            }
        });
    }
}
