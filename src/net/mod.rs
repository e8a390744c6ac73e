//! The effects tier for the wire: UDP and TCP listeners, the outbound path (UDP send from the listening
//! socket, TCP connection reuse), framing on streams, and server location (`resolve`: RFC 3263 over DNS).
//! No SIP rules live here: bytes in, bytes out.

pub mod connections;
pub mod outbound;
pub mod resolve;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;

use bytes::Bytes;

pub use connections::{ConnId, Connections};
pub use outbound::Outbound;

/// The transport of a listener, a peer and a message: the configuration's own type.
pub use crate::config::Transport;

/// The far end of a message: transport, address, and for streams the connection it travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    /// The stream a request arrived on; its responses go back on it (RFC 3261 §18.2.2).
    pub conn: Option<ConnId>,
    /// The local listening address the message arrived on (or will leave from).
    pub local: SocketAddr,
}

/// One message's bytes as received, with where they came from.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub peer: Peer,
    pub bytes: Bytes,
}

/// What the receive paths hand each message to (the dispatcher). Called inline on the receiving task.
pub trait Sink: Send + Sync + 'static {
    fn on_message(&self, inbound: Inbound);
}

/// The local address the kernel would use to reach `dest` (no packet is sent): what to put in Via and
/// Contact when listening on an unspecified address.
pub fn local_ip_towards(dest: SocketAddr) -> Option<std::net::IpAddr> {
    let bind: SocketAddr = if dest.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().ok()?;
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(dest).ok()?;
    Some(socket.local_addr().ok()?.ip())
}
