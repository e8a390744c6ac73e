//! Every received message passes here, on the task that received it: parse once, answer what fails to
//! parse, hand the rest to the task that owns it. SIP rules stay in `proto`; this file only routes.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::endpoint_task::Mail;
use crate::net::{Inbound, Outbound, Peer, Sink};
use crate::proto::endpoint::InvitePolicy;
use crate::proto::router::Router;
use crate::proto::stateless;
use crate::sip::{self, Message, Request, SipHeaders};

pub struct Dispatcher {
    outbound: Outbound,
    router: Router,
    endpoint: mpsc::Sender<Mail>,
}

impl Dispatcher {
    pub fn new(outbound: Outbound, router: Router, endpoint: mpsc::Sender<Mail>) -> Arc<Dispatcher> {
        Arc::new(Dispatcher { outbound, router, endpoint })
    }

    fn send(&self, peer: &Peer, message: &Message) {
        self.outbound.send(peer, message.to_bytes());
    }

    fn on_request(&self, peer: Peer, mut request: Request) {
        request.stamp_source(peer.addr);
        let user = request.uri.as_sip().and_then(|u| u.user().map(str::to_owned));
        // Calls arrive with the bridging issue; until then an allowed INVITE is answered 503.
        let policy = match self.router.route_for(peer.addr.ip(), user.as_deref()) {
            Some(_) => InvitePolicy::Unavailable,
            None => InvitePolicy::Forbidden,
        };
        if let Err(mpsc::error::TrySendError::Full((peer, request, _))) =
            self.endpoint.try_send((peer, request, policy))
        {
            tracing::warn!(from = %peer.addr, call_id = request.call_id().unwrap_or(""), "endpoint busy: 503");
            if request.method != sip::Method::Ack {
                self.send(&peer, &Message::Response(stateless::reply(&request, 503)));
            }
        }
    }
}

impl Sink for Dispatcher {
    fn on_message(&self, inbound: Inbound) {
        let Inbound { peer, bytes } = inbound;
        match sip::parse(&bytes) {
            Ok(Message::Request(request)) => self.on_request(peer, request),
            Ok(Message::Response(response)) => {
                tracing::debug!(from = %peer.addr, status = response.status, "response matches no transaction");
            }
            Err(e) => match e.echo {
                Some(echo) => {
                    tracing::info!(from = %peer.addr, reason = %e.reason, status = e.status, "rejecting malformed request");
                    let response = stateless::reject_unparsable(&echo, e.status, &e.reason);
                    self.send(&peer, &Message::Response(response));
                }
                None => tracing::info!(from = %peer.addr, reason = %e.reason, "dropping unparsable message"),
            },
        }
    }
}
