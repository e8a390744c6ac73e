//! The UDP listener: one socket per configured address, also used to send (symmetric signalling, so a
//! peer that answers to the source address reaches us). A bounded loop hands each datagram to the sink.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::{Inbound, Peer, Sink, Transport};
use crate::sip::framing::MAX_MESSAGE;

/// Datagrams handled before the loop yields, so one busy socket cannot starve the other tasks.
const BATCH: usize = 64;

/// Socket buffers asked of the kernel (capped by net.core.rmem_max / wmem_max): a burst of signalling at
/// a few thousand calls per second overflows the default ~200 KiB within milliseconds, and every drop costs
/// a retransmission 500 ms later.
const RECV_BUFFER: usize = 8 << 20;
const SEND_BUFFER: usize = 4 << 20;

pub async fn bind(addr: SocketAddr) -> io::Result<Arc<UdpSocket>> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
    if socket.set_recv_buffer_size(RECV_BUFFER).is_err() || socket.set_send_buffer_size(SEND_BUFFER).is_err()
    {
        tracing::warn!(%addr, "could not enlarge the UDP socket buffers");
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let granted = socket.recv_buffer_size().unwrap_or(0);
    if granted < RECV_BUFFER {
        tracing::info!(%addr, granted, wanted = RECV_BUFFER, "UDP receive buffer capped by net.core.rmem_max");
    }
    Ok(Arc::new(UdpSocket::from_std(socket.into())?))
}

/// Receives until shutdown. Oversized datagrams and bare keep-alive line ends are dropped here.
pub async fn run(socket: Arc<UdpSocket>, sink: Arc<dyn Sink>, mut shutdown: watch::Receiver<bool>) {
    let local = match socket.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::error!(error = %e, "udp socket has no local address");
            return;
        }
    };
    let mut buf = vec![0u8; 65_536];
    let mut handled = 0usize;
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.changed() => return,
        };
        let (len, from) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP port unreachable and friends surface here on some systems; keep serving.
                tracing::debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let data = &buf[..len];
        if data.iter().all(|b| matches!(b, b'\r' | b'\n' | 0)) {
            continue; // keep-alive
        }
        if len > MAX_MESSAGE {
            tracing::warn!(%from, len, "dropping oversized datagram");
            continue;
        }
        let peer = Peer { transport: Transport::Udp, addr: from, conn: None, local, server_name: None };
        sink.on_message(Inbound { peer, bytes: Bytes::copy_from_slice(data) });
        handled += 1;
        if handled % BATCH == 0 {
            tokio::task::yield_now().await;
        }
    }
}
