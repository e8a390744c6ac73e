//! Sending: UDP from the listening socket (symmetric signalling); TCP and TLS on the connection a request
//! came in on (RFC 3261 §18.2.2) or on a reused / new connection to the peer (§18.1.1). A new TLS
//! connection verifies the server's certificate against the peer's server name (sent as SNI) or, without
//! one, its IP address (RFC 5922 §4).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

use super::connections::{ConnId, Endpoints, Verified};
use super::tcp::{prepare, spawn_connection, TcpContext};
use super::{tls, Peer, Transport};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a TLS server may take to finish the handshake we started.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Outbound {
    /// The UDP sockets with their local addresses, read once (not a getsockname per send).
    udp: Arc<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    tcp: TcpContext,
    tls: TlsConnector,
}

impl Outbound {
    pub fn new(udp: Vec<Arc<UdpSocket>>, tcp: TcpContext, tls: TlsConnector) -> Outbound {
        let udp = udp.into_iter().filter_map(|s| Some((s.local_addr().ok()?, s))).collect();
        Outbound { udp: Arc::new(udp), tcp, tls }
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
            Transport::Tcp | Transport::Tls => self.send_stream(peer, bytes),
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

    /// The open connection for `peer`: the one it names while it lives, else a reusable one.
    fn open_writer(&self, peer: &Peer) -> Option<(ConnId, mpsc::Sender<Bytes>)> {
        let connections = &self.tcp.connections;
        if let Some(id) = peer.conn {
            if let Some(writer) = connections.writer(id) {
                return Some((id, writer));
            }
        }
        connections.to_peer(peer.transport, peer.addr, &verified_for(peer)).map(|(id, _, w)| (id, w))
    }

    fn send_stream(&self, peer: &Peer, bytes: Bytes) {
        if let Some((_, writer)) = self.open_writer(peer) {
            if writer.try_send(bytes).is_err() {
                let transport = peer.transport.as_str();
                tracing::warn!(to = %peer.addr, "{transport} write queue full or closed; message dropped");
            }
            return;
        }
        let this = self.clone();
        let peer = peer.clone();
        tokio::spawn(async move {
            match this.open(&peer).await {
                Ok((_, writer)) => {
                    let _ = writer.send(bytes).await;
                }
                Err(why) => tracing::warn!(to = %peer.addr, "{why}; message dropped"),
            }
        });
    }

    /// A connection to `peer` (TCP or TLS), reused when one is open, else connected now (with the TLS
    /// handshake done). The error says why it could not be had, for a log line or a 503.
    pub async fn connect(&self, peer: &Peer) -> Result<ConnId, String> {
        if let Some((id, _)) = self.open_writer(peer) {
            return Ok(id);
        }
        self.open(peer).await.map(|(id, _)| id)
    }

    async fn open(&self, peer: &Peer) -> Result<(ConnId, mpsc::Sender<Bytes>), String> {
        let to = peer.addr;
        let transport = peer.transport;
        let label = transport.as_str();
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(format!("{label} connect to {to} failed: {e}")),
            Err(_) => return Err(format!("{label} connect to {to} timed out")),
        };
        let local = prepare(&stream).map_err(|e| format!("{label} connection to {to}: {e}"))?;
        let full = || format!("{label} connection limit reached");
        let spawned = match transport {
            Transport::Tls => {
                let name = tls::server_name(peer.server_name.as_deref(), to)?;
                let shown = peer.server_name.as_deref().map_or_else(|| to.ip().to_string(), str::to_owned);
                let handshake = tls::connect(&self.tls, stream, name);
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return Err(format!("TLS handshake with {to} ({shown}) failed: {e}")),
                    Err(_) => return Err(format!("TLS handshake with {to} ({shown}) timed out")),
                };
                let ends = Endpoints { transport, peer: to, local, verified: verified_for(peer) };
                spawn_connection(std::future::ready(Ok(stream)), ends, peer.server_name.clone(), &self.tcp)
            }
            Transport::Tcp | Transport::Udp => {
                let ends =
                    Endpoints { transport: Transport::Tcp, peer: to, local, verified: Verified::Nothing };
                spawn_connection(std::future::ready(Ok(stream)), ends, None, &self.tcp)
            }
        };
        spawned.ok_or_else(full)
    }
}

/// The identity a reusable connection to `peer` must have proved.
fn verified_for(peer: &Peer) -> Verified {
    match (peer.transport, &peer.server_name) {
        (Transport::Tls, Some(name)) => Verified::Name(Arc::clone(name)),
        (Transport::Tls, None) => Verified::Ip,
        _ => Verified::Nothing,
    }
}
