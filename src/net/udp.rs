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

pub async fn bind(addr: SocketAddr) -> io::Result<Arc<UdpSocket>> {
    Ok(Arc::new(UdpSocket::bind(addr).await?))
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
        let peer = Peer { transport: Transport::Udp, addr: from, conn: None, local };
        sink.on_message(Inbound { peer, bytes: Bytes::copy_from_slice(data) });
        handled += 1;
        if handled % BATCH == 0 {
            tokio::task::yield_now().await;
        }
    }
}
