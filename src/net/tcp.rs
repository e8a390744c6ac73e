//! TCP: the accept loop and one task per connection. Framing by Content-Length across partial reads and
//! several messages per read (RFC 3261 §18.3), a size cap with a clean close, CRLF keep-alive answers
//! (RFC 5626 §3.5.1), idle reaping, and a per-read bound so a flooding peer yields to the others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use super::connections::{ConnId, Connections};
use super::{Inbound, Peer, Sink, Transport};
use crate::sip::framing::{next_frame, Frame};

/// Messages handled from one connection before its task yields.
const BATCH: usize = 16;
/// Queued outgoing messages per connection; a peer that does not read is closed when it fills.
const WRITE_QUEUE: usize = 512;

/// What every connection task needs; cheap to clone.
#[derive(Clone)]
pub struct TcpContext {
    pub connections: Arc<Connections>,
    pub sink: Arc<dyn Sink>,
    pub idle: Duration,
    pub max_connections: usize,
    pub shutdown: watch::Receiver<bool>,
}

pub async fn run_listener(listener: TcpListener, ctx: TcpContext) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                if spawn_connection(stream, peer, &ctx).is_none() {
                    tracing::warn!(%peer, "tcp connection refused: limit reached");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Registers a connection and starts its task; returns the id and the writer, or None at the limit.
pub fn spawn_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &TcpContext,
) -> Option<(ConnId, mpsc::Sender<Bytes>)> {
    let local = stream.local_addr().ok()?;
    let _ = stream.set_nodelay(true);
    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
    let (id, registration) = ctx.connections.register(peer, local, writer.clone(), ctx.max_connections)?;
    let ctx = ctx.clone();
    let pong = writer.clone();
    tokio::spawn(async move {
        let peer = Peer { transport: Transport::Tcp, addr: peer, conn: Some(id), local };
        let mut write_task = serve(stream, peer, queue, pong, ctx).await;
        // Unregistering drops the registry's writer: the write task ends once what is queued is sent.
        drop(registration);
        tokio::select! {
            _ = &mut write_task => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => write_task.abort(),
        }
        tracing::debug!(peer = %peer.addr, conn = id.0, "tcp connection closed");
    });
    Some((id, writer))
}

/// Reads until the peer closes, idles out, breaks framing or shutdown; returns the writer task.
async fn serve(
    stream: TcpStream,
    peer: Peer,
    mut queue: mpsc::Receiver<Bytes>,
    pong: mpsc::Sender<Bytes>,
    ctx: TcpContext,
) -> tokio::task::JoinHandle<()> {
    let (mut reader, mut writer) = stream.into_split();
    let write_task = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut shutdown = ctx.shutdown.clone();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    'read: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(ctx.idle, reader.read_buf(&mut buf)) => r,
            _ = shutdown.changed() => break,
        };
        match read {
            Err(_) => {
                tracing::debug!(peer = %peer.addr, "closing idle tcp connection");
                break;
            }
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
        }
        let mut handled = 0;
        loop {
            match next_frame(&buf) {
                Frame::Message { skip, len } => {
                    let _ = buf.split_to(skip);
                    let bytes = buf.split_to(len).freeze();
                    ctx.sink.on_message(Inbound { peer, bytes });
                    handled += 1;
                    if handled % BATCH == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                Frame::Ping { consumed } => {
                    let _ = buf.split_to(consumed);
                    let _ = pong.try_send(Bytes::from_static(b"\r\n"));
                }
                Frame::Skip { consumed } => {
                    let _ = buf.split_to(consumed);
                }
                Frame::Incomplete => break,
                Frame::Error(e) => {
                    tracing::warn!(peer = %peer.addr, error = %e, "closing tcp connection");
                    break 'read;
                }
            }
        }
    }
    write_task
}
