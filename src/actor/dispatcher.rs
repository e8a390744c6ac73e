//! Every received message passes here, on the task that received it: parse once, answer what fails to
//! parse, hand the rest to its owner — the call whose Call-ID it carries, a new call for an INVITE a route
//! allows, the pinger for a response to a trunk ping (its Call-ID prefix), or the endpoint for everything
//! else. SIP rules stay in `proto`; this file only routes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::calls::{Calls, Refused};
use super::clock;
use super::endpoint_task::Mail;
use crate::net::{Inbound, Peer, Sink};
use crate::proto::call::Call;
use crate::proto::endpoint::InvitePolicy;
use crate::proto::router::{NoRoute, RouteEntry, Router};
use crate::proto::stateless;
use crate::proto::trunk_health::CALL_ID_PREFIX;
use crate::sip::{self, Message, Method, Request, Response, SipHeaders};

pub struct Dispatcher {
    router: Router,
    endpoint: mpsc::Sender<Mail>,
    calls: Arc<Calls>,
    seeds: AtomicU64,
    /// The pinger's mailbox, when some trunk is pinged.
    pinger: Option<mpsc::Sender<Response>>,
}

impl Dispatcher {
    pub fn new(
        router: Router,
        endpoint: mpsc::Sender<Mail>,
        calls: Arc<Calls>,
        pinger: Option<mpsc::Sender<Response>>,
    ) -> Arc<Dispatcher> {
        let seed = fastrand::u64(..);
        let seeds = AtomicU64::new(seed);
        Arc::new(Dispatcher { router, endpoint, calls, seeds, pinger })
    }

    /// Hands a response to a trunk ping to the pinger; gives it back when it is not one. A full mailbox
    /// drops it: the ping's transaction retransmits (UDP) or times out, which is what a lost answer is.
    #[must_use]
    fn to_pinger(&self, response: Response) -> Option<Response> {
        let Some(pinger) = &self.pinger else { return Some(response) };
        if !response.call_id().is_some_and(|id| id.starts_with(CALL_ID_PREFIX)) {
            return Some(response);
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = pinger.try_send(response) {
            tracing::debug!("pinger busy: response to a trunk ping dropped");
        }
        None
    }

    fn send(&self, peer: &Peer, message: &Message) {
        self.calls.context().outbound.send(peer, message.to_bytes());
    }

    fn to_endpoint(&self, peer: Peer, request: Request, policy: InvitePolicy) {
        if let Err(mpsc::error::TrySendError::Full((peer, request, _))) =
            self.endpoint.try_send((peer, request, policy))
        {
            tracing::warn!(from = %peer.addr, call_id = request.call_id().unwrap_or(""), "endpoint busy: 503");
            self.busy(&peer, &request);
        }
    }

    /// 503 for a request we cannot queue (never for an ACK).
    fn busy(&self, peer: &Peer, request: &Request) {
        if request.method != Method::Ack {
            self.send(peer, &Message::Response(stateless::reply(request, 503)));
        }
    }

    fn on_request(&self, peer: Peer, mut request: Request) {
        request.stamp_source(peer.addr);
        // Anything with the Call-ID of a call in progress is that call's, retransmitted INVITEs included.
        let request = match self.calls.deliver(Message::Request(request)) {
            Some(Message::Request(request)) => request,
            None | Some(Message::Response(_)) => return,
        };
        let initial_invite = request.method == Method::Invite && request.to_tag().is_none();
        if !initial_invite || stateless::precheck(&request).is_some() {
            return self.to_endpoint(peer, request, InvitePolicy::Unavailable);
        }
        let user = request.uri.as_sip().and_then(|u| u.user().map(str::to_owned));
        match self.router.route_for(peer.addr.ip(), user.as_deref()) {
            Ok(route) => self.start_call(peer, request, route),
            Err(NoRoute::Forbidden) => {
                // Default deny: no route, nothing forwarded anywhere (toll-fraud safety).
                tracing::info!(from = %peer.addr, user = user.as_deref().unwrap_or(""), "no route allows this INVITE: 403");
                self.to_endpoint(peer, request, InvitePolicy::Forbidden)
            }
            Err(NoRoute::TrunksDown) => {
                tracing::info!(from = %peer.addr, user = user.as_deref().unwrap_or(""), "every route for this INVITE goes to a trunk that is down: 503");
                self.to_endpoint(peer, request, InvitePolicy::Unavailable)
            }
        }
    }

    fn start_call(&self, peer: Peer, request: Request, route: &RouteEntry) {
        let Some(call_id_a) = request.call_id().map(str::to_owned) else { return };
        let seed = self.seeds.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        let setup = self.calls.context().listeners.setup(peer.clone());
        let config = &route.call;
        let started = self.calls.start(&call_id_a, request, |request| {
            Call::new(clock::now(), request, setup, Arc::clone(config), seed)
        });
        match started.map_err(|refused| *refused) {
            Ok(()) => {}
            // A retransmission raced the first INVITE: it belongs to that call.
            Err((Refused::Exists, request)) => {
                let _ = self.calls.deliver(Message::Request(request));
            }
            Err((Refused::Full, request)) => {
                tracing::warn!(from = %peer.addr, max = self.calls.max(), "max_calls reached: 503");
                self.to_endpoint(peer, request, InvitePolicy::Unavailable);
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
                let status = response.status;
                let Some(response) = self.to_pinger(response) else { return };
                if self.calls.deliver(Message::Response(response)).is_some() {
                    tracing::debug!(from = %peer.addr, status, "response matches no call");
                }
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
