//! The task that drives `proto::endpoint::Endpoint`: requests in through a bounded mailbox, timers from
//! one `sleep_until`, messages out through `net::Outbound`.

use tokio::sync::{mpsc, watch};

use super::clock;
use crate::net::{Outbound, Peer};
use crate::proto::endpoint::{Endpoint, InvitePolicy};
use crate::proto::transaction::TimerConfig;
use crate::sip::Request;

/// Requests queued for the endpoint at most; when full the dispatcher answers 503 itself.
pub const MAILBOX: usize = 4096;

pub type Mail = (Peer, Request, InvitePolicy);

pub fn spawn(outbound: Outbound, shutdown: watch::Receiver<bool>) -> mpsc::Sender<Mail> {
    let (tx, rx) = mpsc::channel(MAILBOX);
    tokio::spawn(run(rx, outbound, shutdown));
    tx
}

async fn run(mut mailbox: mpsc::Receiver<Mail>, outbound: Outbound, mut shutdown: watch::Receiver<bool>) {
    let mut endpoint: Endpoint<Peer> = Endpoint::new(TimerConfig::default());
    loop {
        let deadline = endpoint.poll_timeout();
        tokio::select! {
            mail = mailbox.recv() => match mail {
                Some((peer, request, policy)) => {
                    let reliable = peer.transport.is_reliable();
                    endpoint.handle_request(clock::now(), peer, reliable, request, policy);
                }
                None => break,
            },
            _ = tokio::time::sleep_until(clock::to_tokio(deadline.unwrap_or_else(clock::now))), if deadline.is_some() => {
                endpoint.handle_timeout(clock::now());
            }
            _ = shutdown.changed() => break,
        }
        while let Some((peer, message)) = endpoint.poll_output() {
            outbound.send(&peer, message.to_bytes());
        }
    }
}
