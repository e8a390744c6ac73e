//! Streams, TCP and TLS alike: the accept loop and one task per connection, generic over the byte
//! stream (a `TcpStream`, or rustls over one). Framing by Content-Length across partial reads and several
//! messages per read (RFC 3261 §18.3), a size cap with a clean close, CRLF keep-alive answers
//! (RFC 5626 §3.5.1), idle reaping, and a per-read bound so a flooding peer yields to the others.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;

use super::connections::{ConnId, Connections, Endpoints, Verified};
use super::{Inbound, Peer, Sink, Transport};
use crate::sip::framing::{next_frame, Frame};

/// Messages handled from one connection before its task yields.
const BATCH: usize = 16;
/// Queued outgoing messages per connection; a peer that does not read is closed when it fills.
const WRITE_QUEUE: usize = 512;
/// How long a client that connected to a TLS listener may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection task needs; cheap to clone.
#[derive(Clone)]
pub struct TcpContext {
    pub connections: Arc<Connections>,
    pub sink: Arc<dyn Sink>,
    pub idle: Duration,
    pub max_connections: usize,
    pub shutdown: watch::Receiver<bool>,
}

/// A byte stream a connection task can serve: a `TcpStream` or a TLS stream over one.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for S {}

/// Accepts until shutdown: plain TCP, or TLS when `tls` is given (the handshake runs in the
/// connection's own task, so a slow client holds up nobody).
pub async fn run_listener(listener: TcpListener, tls: Option<TlsAcceptor>, ctx: TcpContext) {
    let mut shutdown = ctx.shutdown.clone();
    let transport = if tls.is_some() { Transport::Tls } else { Transport::Tcp };
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "{} accept failed", transport.as_str());
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(local) = prepare(&stream) else { continue };
        let ends = Endpoints { transport, peer, local, verified: Verified::Nothing };
        let spawned = match &tls {
            None => spawn_connection(std::future::ready(Ok(stream)), ends, None, &ctx),
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                let handshake = async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(result) => result,
                        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "handshake timed out")),
                    }
                };
                spawn_connection(handshake, ends, None, &ctx)
            }
        };
        if spawned.is_none() {
            tracing::warn!(%peer, "{} connection refused: limit reached", transport.as_str());
        }
    }
}

/// Registers a connection and starts its task; returns the id and the writer, or None at the limit.
/// `stream` yields the connected stream: at once for TCP and for a TLS connection we opened (its
/// handshake is done), after the handshake for a TLS client we accepted. Messages written meanwhile wait in
/// the queue. `server_name` is what inbound messages' `Peer` carries (the name we verified, if any).
pub fn spawn_connection<S: Stream>(
    stream: impl Future<Output = io::Result<S>> + Send + 'static,
    ends: Endpoints,
    server_name: Option<Arc<str>>,
    ctx: &TcpContext,
) -> Option<(ConnId, mpsc::Sender<Bytes>)> {
    let (writer, queue) = mpsc::channel(WRITE_QUEUE);
    let (transport, addr, local) = (ends.transport, ends.peer, ends.local);
    let (id, registration) = ctx.connections.register(ends, writer.clone(), ctx.max_connections)?;
    let ctx = ctx.clone();
    let pong = writer.clone();
    tokio::spawn(async move {
        let mut shutdown = ctx.shutdown.clone();
        let stream = tokio::select! {
            s = stream => s,
            _ = shutdown.changed() => return,
        };
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(peer = %addr, error = %e, "{} handshake failed", transport.as_str());
                return;
            }
        };
        let peer = Peer { transport, addr, conn: Some(id), local, server_name };
        let mut write_task = serve(stream, peer.clone(), queue, pong, ctx).await;
        // Unregistering drops the registry's writer: the write task ends once what is queued is sent.
        drop(registration);
        tokio::select! {
            _ = &mut write_task => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => write_task.abort(),
        }
        tracing::debug!(peer = %peer.addr, conn = id.0, "{} connection closed", transport.as_str());
    });
    Some((id, writer))
}

/// The local address of a stream we are about to hand to `spawn_connection`, with Nagle off.
pub fn prepare(stream: &TcpStream) -> io::Result<SocketAddr> {
    let _ = stream.set_nodelay(true);
    stream.local_addr()
}

/// Reads until the peer closes, idles out, breaks framing or shutdown; returns the writer task.
async fn serve<S: Stream>(
    stream: S,
    peer: Peer,
    mut queue: mpsc::Receiver<Bytes>,
    pong: mpsc::Sender<Bytes>,
    ctx: TcpContext,
) -> tokio::task::JoinHandle<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let write_task = tokio::spawn(async move {
        'write: while let Some(bytes) = queue.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
            // Whatever queued meanwhile goes out before the flush (TLS: one flush pushes the records).
            while let Ok(bytes) = queue.try_recv() {
                if writer.write_all(&bytes).await.is_err() {
                    break 'write;
                }
            }
            if writer.flush().await.is_err() {
                break;
            }
        }
        // TLS: close_notify, then the TCP half-close.
        let _ = writer.shutdown().await;
    });
    let mut shutdown = ctx.shutdown.clone();
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let transport = peer.transport.as_str();
    'read: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(ctx.idle, reader.read_buf(&mut buf)) => r,
            _ = shutdown.changed() => break,
        };
        match read {
            Err(_) => {
                tracing::debug!(peer = %peer.addr, "closing idle {transport} connection");
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
                    ctx.sink.on_message(Inbound { peer: peer.clone(), bytes });
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
                    tracing::warn!(peer = %peer.addr, error = %e, "closing {transport} connection");
                    break 'read;
                }
            }
        }
    }
    write_task
}
