//! The effects tier for the wire: UDP, TCP and TLS listeners, the outbound path (UDP send from the
//! listening socket, stream connection reuse), framing on streams, and server location (`resolve`:
//! RFC 3263 over DNS). No SIP rules live here: bytes in, bytes out.

pub mod connections;
pub mod outbound;
pub mod resolve;
pub mod tcp;
pub mod tls;
pub mod udp;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

pub use connections::{ConnId, Connections, Verified};
pub use outbound::Outbound;

/// The transport of a listener, a peer and a message: the configuration's own type.
pub use crate::config::Transport;

/// The far end of a message: transport, address, and for streams the connection it travels on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
    /// The stream a request arrived on; its responses go back on it (RFC 3261 §18.2.2).
    pub conn: Option<ConnId>,
    /// The local listening address the message arrived on (or will leave from).
    pub local: SocketAddr,
    /// TLS: the host name the server's certificate must be valid for, sent as SNI (RFC 5922 §4: the
    /// host of the URI, never the resolved address). `None`: verify against `addr`'s IP address.
    pub server_name: Option<Arc<str>>,
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
