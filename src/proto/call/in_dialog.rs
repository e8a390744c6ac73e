//! Requests and responses inside the two dialogs (RFC 3261 §12.2, §14, §15): BYE ends the call on both
//! legs; re-INVITE, UPDATE, INFO, NOTIFY, REFER, MESSAGE are relayed as the other leg's own requests and
//! their responses come back; ACKs for 2xx are matched to our 2xx or relayed with the answer they carry.

use std::time::Instant;

use super::leg::{ClientRole, Pending2xx};
use super::{AckRelay, Call, ClientEvent, EndReason, LegId, Phase};
use crate::proto::dialog::Sequence;
use crate::proto::session_timer::negotiate::{uac_on_2xx, uas_decide, uas_response_headers};
use crate::proto::session_timer::UasDecision;
use crate::proto::transaction::{ClientKey, ServerKey};
use crate::sip::build::{response_to, ALLOW};
use crate::sip::{HeaderName, Message, Method, Request, Response, SipHeaders};

impl<P: Clone> Call<P> {
    pub(super) fn on_request(&mut self, now: Instant, id: LegId, request: Request) {
        // A retransmission, or the ACK for a non-2xx final response: its transaction absorbs it (§17.2.3).
        if let Some(key) = ServerKey::for_request(&request) {
            if let Some(server) = self.leg_mut(id).server(&key) {
                server.tx.handle_request(now, request);
                return;
            }
        }
        match request.method {
            Method::Ack => self.on_ack(now, id, &request),
            Method::Cancel if id == LegId::A => self.on_cancel_a(now, request),
            _ => {
                let has_to_tag = request.to_tag().is_some();
                if has_to_tag {
                    self.on_in_dialog(now, id, request);
                } else if id == LegId::A && self.can_restart(&request) {
                    self.restart(now, request);
                } else {
                    // A second INVITE without a To tag for this Call-ID: merged request (§8.2.2.2).
                    self.answer_locally(now, id, request, 482);
                }
            }
        }
    }

    /// Answers a request on leg `id` with `status` through a server transaction of its own.
    fn answer_locally(&mut self, now: Instant, id: LegId, request: Request, status: u16) {
        let tag = match (id, &self.leg(id).dialog) {
            (_, Some(d)) => d.local_tag().to_owned(),
            (LegId::A, None) => self.a_tag.to_string(),
            (LegId::B, None) => String::new(),
        };
        let response = response_to(&request, status, (!tag.is_empty()).then_some(tag.as_str()));
        let timers = self.config.timers;
        let leg = self.leg_mut(id);
        let key = leg.start_server(request, timers, now);
        if let Some(server) = leg.server(&key) {
            server.tx.respond(now, response);
        }
    }

    fn on_in_dialog(&mut self, now: Instant, id: LegId, request: Request) {
        let matched = self.leg(id).dialog.as_ref().is_some_and(|d| d.matches_request(&request));
        if !matched {
            return self.answer_locally(now, id, request, 481);
        }
        let sequence = self.leg_mut(id).dialog.as_mut().map(|d| d.on_request(&request));
        if sequence == Some(Sequence::OutOfOrder) {
            return self.answer_locally(now, id, request, 500); // §12.2.2
        }
        if request.method == Method::Bye {
            self.answer_locally(now, id, request, 200);
            self.leg_mut(id).pending_2xx = None;
            self.leg_mut(id).held_bye = None;
            return self.end(now, EndReason::Bye(id), Some(id));
        }
        if self.end.is_some() {
            return self.answer_locally(now, id, request, 481);
        }
        let other = id.other();
        if self.leg(other).dialog.is_none() || self.phase != Phase::Confirmed {
            return self.answer_locally(now, id, request, 491);
        }
        if request.method == Method::Invite || request.method == Method::Update {
            // §14.2 / RFC 3311 §5.2: one offer at a time. An INVITE in flight on this leg → 491 (refresh
            // glare resolves by the RFC 3261 §14.1 back-off on both sides).
            if self.leg(id).invite_in_progress() || self.ack_relay.is_some() {
                return self.answer_locally(now, id, request, 491);
            }
            if let UasDecision::TooSmall { min_se } = uas_decide(self.leg(id).timer.config(), &request) {
                return self.answer_with_min_se(now, id, request, min_se);
            }
            // A refresh that changes nothing is answered here, whatever the other leg is doing; a real
            // media change crosses, once the other leg has no INVITE of its own in flight.
            if self.absorb_refresh(now, id, &request) {
                return;
            }
            if self.leg(other).invite_in_progress() {
                return self.answer_locally(now, id, request, 491);
            }
        }
        self.relay(now, id, request);
    }

    /// Carries a request from leg `id` to the other leg as that leg's own in-dialog request.
    fn relay(&mut self, now: Instant, id: LegId, request: Request) {
        let other = id.other();
        let timers = self.config.timers;
        let leg = match other {
            LegId::A => &mut self.a,
            LegId::B => &mut self.b,
        };
        let ids = &mut self.ids;
        let Some(dialog) = leg.dialog.as_mut() else { return };
        let mut out = dialog.request(request.method.clone(), None);
        self.config.pass.copy(&request.headers, &mut out.headers);
        if matches!(request.method, Method::Invite | Method::Update) {
            out.headers.push(HeaderName::ALLOW, ALLOW);
            // The other leg's own timer headers (RFC 4028: never copied across).
            leg.timer.decorate_request(&mut out.headers);
        }
        if !request.body.is_empty() {
            out.body = if is_sdp(&request) { leg.sdp.outgoing(&request.body) } else { request.body.clone() };
        }
        leg.stamp(&mut out, ids);
        let from = self.leg_mut(id).start_server(request, timers, now);
        self.leg_mut(other).start_client(out, ClientRole::Relay { from }, timers, now);
    }

    /// The other leg answered (or never answered) a request we relayed from leg `from_leg.other()`.
    pub(super) fn on_relay_result(
        &mut self,
        now: Instant,
        leg: LegId,
        from: ServerKey,
        sent: Request,
        event: ClientEvent,
    ) {
        let origin = leg.other();
        let Some(original) = self.leg_mut(origin).server(&from).map(|s| s.tx.request().clone()) else {
            return;
        };
        let local_tag = self.leg(origin).dialog.as_ref().map(|d| d.local_tag().to_owned());
        let response = match event {
            ClientEvent::Timeout => {
                let r = response_to(&original, 408, local_tag.as_deref());
                self.respond_server(now, origin, &from, r);
                if original.method == Method::Invite {
                    // A refresh or re-INVITE that times out ends the call (RFC 4028 §10 spirit, §14).
                    self.end(now, EndReason::Timeout(leg), None);
                }
                return;
            }
            ClientEvent::Response(r) => r,
        };
        let is_2xx = (200..300).contains(&response.status);
        if response.status >= 300 && !sent.body.is_empty() && is_sdp(&sent) {
            // The offer we relayed was refused: the description in force on that leg stays (§14.1).
            self.leg_mut(leg).sdp.offer_refused();
        }
        let answered = self.leg_mut(origin).server(&from).is_some_and(|s| s.tx.is_final());
        if is_2xx && original.method == Method::Invite && answered {
            // A repeat of the 2xx we relayed already (our ACK was lost): that ACK again, once it went
            // (§13.2.2.4); the answer on the other leg and its ACK are not redone.
            return self.resend_ack(leg, &response);
        }
        let mut relayed = response_to(&original, response.status, local_tag.as_deref());
        relayed.reason = response.reason.clone();
        self.config.pass.copy(&response.headers, &mut relayed.headers);
        if !response.body.is_empty() {
            let sdp = is_sdp(&response);
            let origin_leg = self.leg_mut(origin);
            relayed.body = if sdp { origin_leg.sdp.outgoing(&response.body) } else { response.body.clone() };
        }
        if is_2xx && matches!(original.method, Method::Invite | Method::Update) {
            if !original.body.is_empty() && is_sdp(&original) {
                // The offer that crossed is accepted: it is now the origin peer's description.
                self.leg_mut(origin).sdp.incoming(&original.body);
            }
            relayed.headers.push(HeaderName::CONTACT, self.leg(origin).contact());
            if let Some(d) = self.leg_mut(leg).dialog.as_mut() {
                d.on_refresh_response(&response);
            }
            self.rearm_after_relayed_2xx(now, leg, &original, &sent, &response, &mut relayed);
        }
        if response.status >= 200 && matches!(response.status, 408 | 481) && original.method == Method::Invite
        {
            // §14.1 via RFC 5057: the dialog is gone on that side.
            self.respond_server(now, origin, &from, relayed);
            return self.end(now, EndReason::Timeout(leg), None);
        }
        if is_2xx && original.method == Method::Invite {
            let sent_cseq = sent.cseq().map_or(0, |c| c.seq);
            let origin_cseq = original.cseq().map_or(0, |c| c.seq);
            if !original.body.is_empty() {
                self.ack_on(leg, sent_cseq, None);
            } else {
                self.ack_relay = Some(AckRelay { on: origin, on_cseq: origin_cseq, to_cseq: sent_cseq });
            }
            self.leg_mut(origin).pending_2xx = Some(Box::new(Pending2xx {
                response: relayed.clone(),
                cseq: origin_cseq,
                next: now + self.config.timers.t1,
                interval: self.config.timers.t1,
                give_up: now + self.config.timers.timer_b(),
            }));
        }
        self.respond_server(now, origin, &from, relayed);
    }

    fn respond_server(&mut self, now: Instant, id: LegId, key: &ServerKey, response: Response) {
        if let Some(server) = self.leg_mut(id).server(key) {
            server.tx.respond(now, response);
        }
    }

    /// An ACK for a 2xx (a new branch, so no transaction matched): it stops our 2xx retransmissions on
    /// that leg (and lets a BYE held for it go), and if the other leg waits for the answer it carries,
    /// that leg gets its ACK now.
    fn on_ack(&mut self, now: Instant, id: LegId, ack: &Request) {
        let Some(cseq) = ack.cseq().map(|c| c.seq) else { return };
        if !self.leg(id).dialog.as_ref().is_some_and(|d| d.matches_request(ack)) {
            return;
        }
        if self.leg(id).pending_2xx.as_ref().is_some_and(|p| p.cseq == cseq) {
            self.leg_mut(id).pending_2xx = None;
            if let Some(held) = self.leg_mut(id).held_bye.take() {
                return self.send_bye(now, id, held.reason);
            }
        }
        if !ack.body.is_empty() {
            self.leg_mut(id).sdp.incoming(&ack.body);
        }
        if let Some(relay) = self.ack_relay.clone() {
            if relay.on == id && relay.on_cseq == cseq {
                self.ack_relay = None;
                let content_type = ack.headers.get(&HeaderName::CONTENT_TYPE).map(str::to_owned);
                let body = if ack.body.is_empty() || !is_sdp(ack) {
                    ack.body.clone()
                } else {
                    self.leg_mut(id.other()).sdp.outgoing(&ack.body)
                };
                let body = content_type.as_deref().map(|ct| (ct, body));
                self.ack_on(id.other(), relay.to_cseq, body);
            }
        }
    }

    /// A response on leg `id`: to its client transaction, or, for a 2xx that outlived it, our ACK again.
    pub(super) fn on_response(&mut self, now: Instant, id: LegId, response: Response) {
        if let Some(key) = ClientKey::for_response(&response) {
            if let Some(client) = self.leg_mut(id).client(&key) {
                client.tx.handle_response(now, response);
                return;
            }
            if id == LegId::B {
                if let Some(client) = self.retired.iter_mut().find_map(|leg| leg.client(&key)) {
                    client.tx.handle_response(now, response);
                    return;
                }
            }
        }
        let is_invite_2xx = (200..300).contains(&response.status)
            && response.cseq().is_some_and(|c| c.method == Method::Invite);
        if !is_invite_2xx {
            return;
        }
        self.resend_ack(id, &response);
    }

    /// A repeated 2xx on leg `id`: the ACK we sent for that INVITE again, if we sent one (§13.2.2.4).
    pub(super) fn resend_ack(&mut self, id: LegId, response: &Response) {
        let cseq = response.cseq().map_or(0, |c| c.seq);
        if let Some(ack) = self.leg(id).ack_for(cseq) {
            self.send(id, Message::Request(ack));
        }
    }

    /// A 2xx to a re-INVITE/UPDATE relayed from leg `leg.other()` re-arms both legs' timers (RFC 4028
    /// §10): leg `leg` by the 2xx it sent us (§7.2), the origin leg by what our 2xx there says (§9).
    fn rearm_after_relayed_2xx(
        &mut self,
        now: Instant,
        leg: LegId,
        original: &Request,
        sent: &Request,
        response: &Response,
        relayed: &mut Response,
    ) {
        let this = self.leg_mut(leg);
        this.timer.learn_allow(&response.headers);
        let asked = sent
            .headers
            .get(&HeaderName::SESSION_EXPIRES)
            .and_then(|v| crate::sip::SessionExpires::parse(v).ok())
            .map_or(this.timer.asking().0, |se| se.delta);
        let session = uac_on_2xx(this.timer.config(), response, asked);
        if !response.body.is_empty() && is_sdp(response) {
            this.sdp.incoming(&response.body);
        }
        this.timer.establish(now, session);
        let origin = self.leg_mut(leg.other());
        let decision = uas_decide(origin.timer.config(), original);
        uas_response_headers(&decision, &mut relayed.headers);
        if origin.timer.enabled() {
            relayed.headers.push(HeaderName::SUPPORTED, "timer");
        }
        let session = match decision {
            UasDecision::Accept { session, .. } => Some(session),
            _ => None,
        };
        origin.timer.establish(now, session);
    }

    /// 422 with our Min-SE to a re-INVITE/UPDATE asking for less (RFC 4028 §9).
    fn answer_with_min_se(&mut self, now: Instant, id: LegId, request: Request, min_se: u32) {
        let tag = self.leg(id).dialog.as_ref().map(|d| d.local_tag().to_owned());
        let mut response = response_to(&request, 422, tag.as_deref());
        response.headers.push(HeaderName::MIN_SE, min_se.to_string());
        let timers = self.config.timers;
        let leg = self.leg_mut(id);
        let key = leg.start_server(request, timers, now);
        if let Some(server) = leg.server(&key) {
            server.tx.respond(now, response);
        }
    }

    /// Sends a BYE on a confirmed leg (RFC 3261 §15.1.1), with a Reason (RFC 3326) when there is one.
    pub(super) fn send_bye(&mut self, now: Instant, id: LegId, reason: Option<&str>) {
        let timers = self.config.timers;
        let leg = match id {
            LegId::A => &mut self.a,
            LegId::B => &mut self.b,
        };
        let Some(dialog) = leg.dialog.as_mut() else { return };
        let mut bye = dialog.request(Method::Bye, None);
        if let Some(reason) = reason {
            bye.headers.push(HeaderName::REASON, reason);
        }
        leg.stamp(&mut bye, &mut self.ids);
        leg.start_client(bye, ClientRole::Bye, timers, now);
    }
}

/// Whether a message's body is a session description (anything else crosses untouched).
fn is_sdp(message: &impl SipHeaders) -> bool {
    message
        .headers()
        .get(&HeaderName::CONTENT_TYPE)
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/sdp"))
}
