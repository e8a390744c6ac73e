//! Setting up the call (RFC 3261 §13): leg B's INVITE, relaying provisional and final responses to leg A,
//! forks (§13.2.2.4: the first 2xx wins, others get ACK and BYE), CANCEL (§9), the ring timeout.

use std::time::Instant;

use super::bridge::InviteB;
use super::leg::{ClientRole, LegSetup, Pending2xx};
use super::{AckRelay, Call, EndReason, LegId, Output, Phase};
use crate::proto::dialog::Dialog;
use crate::proto::session_timer::negotiate::{min_se_of_422, uac_on_2xx, uas_decide, uas_response_headers};
use crate::proto::session_timer::UasDecision;
use crate::proto::transaction::{ClientTx, TxState};
use crate::sip::build::{response_to, ALLOW, SUPPORTED};
use crate::sip::{HeaderName, Message, Method, Request, Response, SipHeaders};

impl<P: Clone> Call<P> {
    fn invite_a_request(&self) -> Option<Request> {
        self.invite_a_ref().cloned()
    }

    /// Leg A's INVITE while its transaction lives (once answered with a 2xx, only the headers a response
    /// echoes are left of it: read anything else before answering).
    fn invite_a_ref(&self) -> Option<&Request> {
        self.a.servers.iter().find(|s| s.tx.key() == &*self.invite_a).map(|s| s.tx.request())
    }

    fn invite_a_open(&self) -> bool {
        self.a.servers.iter().any(|s| s.tx.key() == &*self.invite_a && !s.tx.is_final())
    }

    /// Leg B's next hop is known: build and send its INVITE, start the ring timeout (kept from the first
    /// target on: the caller's wait does not restart with each target). `more`: another target follows.
    pub(super) fn connect(&mut self, now: Instant, setup: LegSetup<P>, more: bool) {
        self.b.setup = Some(setup);
        self.more_targets = more;
        self.start_b(now);
    }

    /// RFC 3263 §4.3: leg B's target timed out or answered 503, and another target is known. This
    /// attempt's transactions retire (they finish with their own target), leg B starts afresh (new
    /// branch, new From tag, its own session-timer negotiation) and the actor is asked for the next
    /// target. The caller sees one call. False when there is nothing to fail over to.
    pub(super) fn fail_over(&mut self, why: &str) -> bool {
        if !self.more_targets || self.end.is_some() || self.phase != Phase::Calling || self.b.dialog.is_some()
        {
            return false;
        }
        tracing::info!(why, "leg B target failed: trying the next one");
        let fresh = super::leg::Leg::new(None, self.config.timer_b.clone());
        let old = std::mem::replace(&mut self.b, fresh);
        self.retired.push(old);
        self.invite_b = None;
        self.b_provisional = false;
        self.cancel_pending = false;
        self.cancel_deadline = None;
        self.more_targets = false;
        self.phase = Phase::Resolving;
        self.out.push_back(Output::NextTarget);
        true
    }

    /// Sends leg B's INVITE once its next hop is known and leg A's INVITE was not refused.
    pub(super) fn start_b(&mut self, now: Instant) {
        if self.phase != Phase::Resolving || self.end.is_some() || self.b.setup.is_none() {
            return;
        }
        let Some(invite_a) = self.invite_a_request() else { return };
        let max_forwards = invite_a
            .headers
            .get(&HeaderName::MAX_FORWARDS)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(70)
            .saturating_sub(1);
        let built = InviteB {
            invite_a: &invite_a,
            target: &self.config.target,
            call_id: self.b_call_id.to_string(),
            from_tag: self.ids.tag(),
            max_forwards,
            pass: &self.config.pass,
        }
        .build();
        let Some(mut invite) = built else {
            return self.fail_setup(
                now,
                500,
                EndReason::Unreachable("cannot build the INVITE for leg B".into()),
            );
        };
        // RFC 4028 §7.1: leg B's own Supported/Session-Expires/Min-SE, never leg A's.
        self.b.timer.decorate_request(&mut invite.headers);
        if !invite.body.is_empty() {
            invite.body = self.b.sdp.outgoing(&invite.body);
        }
        self.b.stamp(&mut invite, &mut self.ids);
        self.invite_b = Some(Box::new(invite.clone()));
        self.b.start_client(invite, ClientRole::Invite, self.config.timers, now);
        self.phase = Phase::Calling;
        self.ring_deadline = Some(now + self.config.ring_timeout);
    }

    /// Whether a new INVITE on leg A's Call-ID is the caller's retry after our 422 (RFC 4028 §7.3): leg B
    /// never started, and the CSeq is higher than the refused INVITE's.
    pub(super) fn can_restart(&self, request: &Request) -> bool {
        let old = self.invite_a_ref().and_then(|r| r.cseq()).map_or(u32::MAX, |c| c.seq);
        request.method == Method::Invite
            && self.end == Some(EndReason::Rejected(422))
            && self.invite_b.is_none()
            && self.phase == Phase::Resolving
            && request.cseq().is_some_and(|c| c.seq > old)
    }

    /// Takes the caller's retry as this call's INVITE: negotiate again, then set up leg B.
    pub(super) fn restart(&mut self, now: Instant, invite: Request) {
        tracing::info!("caller retried after 422");
        self.a_decision = uas_decide(&self.config.timer_a, &invite);
        self.a.timer.learn_allow(&invite.headers);
        if !invite.body.is_empty() {
            self.a.sdp.incoming(&invite.body);
        }
        *self.invite_a = self.a.start_server(invite, self.config.timers, now);
        self.end = None;
        self.finish_by = None;
        self.check_session_interval(now);
        self.start_b(now);
    }

    /// The call cannot be set up: answer leg A with `status` and end.
    pub(super) fn fail_setup(&mut self, now: Instant, status: u16, reason: EndReason) {
        if self.phase == Phase::Confirmed {
            return self.end(now, reason, None);
        }
        self.answer_invite_a(now, status);
        self.end(now, reason, None);
    }

    /// A final answer to leg A's INVITE, if it has none yet.
    pub(super) fn answer_invite_a(&mut self, now: Instant, status: u16) {
        if !self.invite_a_open() {
            return;
        }
        let Some(invite) = self.invite_a_ref() else { return };
        let response = response_to(invite, status, Some(&*self.a_tag));
        if let Some(server) = self.a.server(&self.invite_a.clone()) {
            server.tx.respond(now, response);
        }
    }

    /// Leg B's answer to our INVITE, as delivered by its client transaction.
    pub(super) fn on_invite_b_response(&mut self, now: Instant, response: Response) {
        match response.status {
            100..=199 => self.on_b_provisional(now, response),
            200..=299 => self.on_b_2xx(now, response),
            _ => self.on_b_failure(now, response),
        }
    }

    /// Any provisional, 100 included, lets a deferred CANCEL go (§9.1); 100 itself is hop-by-hop.
    fn on_b_provisional(&mut self, now: Instant, response: Response) {
        self.b_provisional = true;
        if self.cancel_pending {
            self.cancel_pending = false;
            self.send_cancel_b(now);
            return;
        }
        if response.status == 100 || self.end.is_some() || !self.invite_a_open() {
            return;
        }
        self.relay_to_invite_a(now, &response);
    }

    /// A response for leg A's INVITE carrying leg B's status, reason phrase and body.
    fn relay_to_invite_a(&mut self, now: Instant, from_b: &Response) -> Option<Response> {
        let mut response = response_to(self.invite_a_ref()?, from_b.status, Some(&*self.a_tag));
        response.reason = from_b.reason.clone();
        if from_b.status > 100 && from_b.status < 300 {
            response.headers.push(HeaderName::CONTACT, self.a.contact());
            response.headers.push(HeaderName::ALLOW, ALLOW);
            if self.a.timer.enabled() {
                response.headers.push(HeaderName::SUPPORTED, SUPPORTED);
            }
        }
        self.config.pass.copy(&from_b.headers, &mut response.headers);
        if from_b.status >= 200 {
            // RFC 4028 §9: leg A's own Session-Expires (and Require) in our 2xx, never leg B's.
            uas_response_headers(&self.a_decision, &mut response.headers);
        }
        if !from_b.body.is_empty() {
            response.body = self.a.sdp.outgoing(&from_b.body);
        }
        let key = self.invite_a.clone();
        if let Some(server) = self.a.server(&key) {
            server.tx.respond(now, response.clone());
        }
        Some(response)
    }

    fn on_b_2xx(&mut self, now: Instant, response: Response) {
        if self.invite_b.is_none() {
            return;
        }
        let to_tag = response.to_tag().map(str::to_owned);
        if let Some(dialog) = &self.b.dialog {
            // A retransmitted 2xx of the dialog we confirmed: re-send our ACK (§13.2.2.4).
            if to_tag.as_deref() == Some(dialog.remote_tag()) {
                return self.resend_ack(LegId::B, &response);
            }
        }
        if self.b.dialog.is_some() || self.end.is_some() || self.phase != Phase::Calling {
            // Another fork answered, or nobody wants this call any more: ACK and BYE it (§13.2.2.4).
            return self.ack_and_bye_b(now, &response);
        }
        let Some(dialog) = self.invite_b.as_deref().and_then(|invite_b| Dialog::as_uac(invite_b, &response))
        else {
            return self.ack_and_bye_b(now, &response);
        };
        let b_cseq = dialog.local_cseq;
        self.b.dialog = Some(dialog);
        // From here on leg B's INVITE only forms dialogs with late forks (ACK and BYE them): the headers
        // a response echoes and the Request-URI are all that reads, for the 64·T1 of Timer M.
        if let Some(invite_b) = self.invite_b.as_deref_mut() {
            invite_b.keep_echo_only();
        }
        self.negotiated(now, &response);
        // Read from leg A's INVITE before the 2xx answers it (its transaction then keeps only echo headers).
        let invite_a = self.invite_a_ref();
        let offer_in_invite = invite_a.is_some_and(|r| !r.body.is_empty());
        let a_cseq = invite_a.and_then(|r| r.cseq()).map_or(0, |c| c.seq);
        let a_dialog = invite_a.and_then(|r| Dialog::as_uas(r, &self.a_tag));
        if offer_in_invite {
            self.ack_b(b_cseq, None);
        }
        let Some(sent) = self.relay_to_invite_a(now, &response) else { return };
        if !offer_in_invite {
            // The offer came in B's 2xx: B's ACK must carry the answer from A's ACK.
            self.ack_relay = Some(AckRelay { on: LegId::A, on_cseq: a_cseq, to_cseq: b_cseq });
        }
        self.a.dialog = a_dialog;
        self.a.pending_2xx = Some(Box::new(Pending2xx {
            response: sent,
            cseq: a_cseq,
            next: now + self.config.timers.t1,
            interval: self.config.timers.t1,
            give_up: now + self.config.timers.timer_b(),
        }));
        self.phase = Phase::Confirmed;
        self.ring_deadline = None;
        self.out.push_back(Output::Answered);
    }

    /// Sends the ACK for leg B's 2xx to the INVITE with CSeq `cseq` (§13.2.2.4), optionally with a body.
    pub(super) fn ack_b(&mut self, cseq: u32, body: Option<(&str, bytes::Bytes)>) {
        self.ack_on(LegId::B, cseq, body);
    }

    pub(super) fn ack_on(&mut self, id: LegId, cseq: u32, body: Option<(&str, bytes::Bytes)>) {
        let leg = self.leg_mut(id);
        let Some(dialog) = leg.dialog.as_mut() else { return };
        let mut ack = dialog.request(Method::Ack, Some(cseq));
        if let Some((content_type, body)) = body {
            ack.headers.push(HeaderName::CONTENT_TYPE, content_type);
            ack.body = body;
        }
        let leg = match id {
            LegId::A => &mut self.a,
            LegId::B => &mut self.b,
        };
        leg.stamp(&mut ack, &mut self.ids);
        leg.remember_ack(cseq, &ack);
        self.send(id, Message::Request(ack));
    }

    /// [`Self::ack_and_bye`] with leg B's INVITE (a copy: this is the rare path).
    fn ack_and_bye_b(&mut self, now: Instant, response: &Response) {
        if let Some(invite_b) = self.invite_b.clone() {
            self.ack_and_bye(now, &invite_b, response);
        }
    }

    /// ACK and BYE for a 2xx we do not want; a repeat of that 2xx (our ACK was lost) gets the same ACK
    /// again and no second BYE.
    fn ack_and_bye(&mut self, now: Instant, invite_b: &Request, response: &Response) {
        let Some(mut dialog) = Dialog::as_uac(invite_b, response) else { return };
        if let Some((_, ack)) = self.b.dropped_forks.iter().find(|(tag, _)| tag == dialog.remote_tag()) {
            let ack = ack.clone();
            return self.send(LegId::B, Message::Request(ack));
        }
        let mut ack = dialog.request(Method::Ack, Some(dialog.local_cseq));
        self.b.stamp(&mut ack, &mut self.ids);
        self.b.dropped_forks.push((dialog.remote_tag().to_owned(), ack.clone()));
        self.send(LegId::B, Message::Request(ack));
        let mut bye = dialog.request(Method::Bye, None);
        self.b.stamp(&mut bye, &mut self.ids);
        self.b.start_client(bye, ClientRole::Bye, self.config.timers, now);
    }

    /// Both legs' session timers once leg B answered: leg B per the 2xx (RFC 4028 §7.2), leg A per what
    /// our 2xx says (§9).
    fn negotiated(&mut self, now: Instant, response: &Response) {
        if !response.body.is_empty() {
            self.b.sdp.incoming(&response.body);
        }
        self.b.timer.learn_allow(&response.headers);
        let asked = self.b.timer.asking().0;
        let session_b = uac_on_2xx(self.b.timer.config(), response, asked);
        self.b.timer.establish(now, session_b);
        let session_a = match &self.a_decision {
            UasDecision::Accept { session, .. } => Some(*session),
            _ => None,
        };
        self.a.timer.establish(now, session_a);
        for (leg, session) in [(LegId::A, session_a), (LegId::B, session_b)] {
            match session {
                Some(s) => tracing::info!(
                    leg = %leg,
                    interval = s.interval,
                    refresher = if s.we_refresh { "us" } else { "peer" },
                    "session timer negotiated"
                ),
                None => tracing::info!(leg = %leg, "no session timer on this leg"),
            }
        }
    }

    /// RFC 4028 §7.3: leg B's 422 to our INVITE — a new INVITE with the raised Session-Expires and Min-SE,
    /// same Call-ID, new From tag, higher CSeq (errata 1681); bounded. The caller never sees the 422.
    fn retry_invite_b_after_422(&mut self, now: Instant, response: &Response) -> bool {
        let Some(sent) = self.invite_b.clone() else { return false };
        if !self.b.timer.on_422(min_se_of_422(response)) {
            return false;
        }
        let mut retry = (*sent).clone();
        retry.headers.remove_first(&HeaderName::VIA);
        let seq = sent.cseq().map_or(1, |c| c.seq + 1);
        retry.headers.set(HeaderName::CSEQ, format!("{seq} INVITE"));
        if let Some(mut from) = sent.from_hdr() {
            from.params.set("tag", Some(&self.ids.tag()));
            retry.headers.set(HeaderName::FROM, from.to_string());
        }
        self.b.timer.decorate_request(&mut retry.headers);
        self.b.stamp(&mut retry, &mut self.ids);
        tracing::info!(asked = self.b.timer.asking().0, "leg B answered 422: retrying with its Min-SE");
        self.invite_b = Some(Box::new(retry.clone()));
        self.b_provisional = false;
        self.b.start_client(retry, ClientRole::Invite, self.config.timers, now);
        true
    }

    fn on_b_failure(&mut self, now: Instant, response: Response) {
        self.cancel_deadline = None;
        if self.end.is_some() || self.phase != Phase::Calling {
            return;
        }
        if response.status == 422 && self.retry_invite_b_after_422(now, &response) {
            return;
        }
        // RFC 3263 §4.3: a 503 moves the call to the next target, unless its Retry-After says the whole
        // service is unavailable for longer than the configuration accepts.
        if response.status == 503 {
            let retry_after = response
                .headers
                .get(&HeaderName::RETRY_AFTER)
                .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u32>().ok());
            let allowed = retry_after.is_none_or(|secs| secs <= self.config.failover_max_retry_after);
            if allowed && self.fail_over("503") {
                return;
            }
        }
        let status = match response.status {
            // A redirect is not followed: the caller learns the callee is unavailable (README: Calls).
            300..=399 => 480,
            // Our credentials are the daemon's business, never the caller's.
            401 | 407 => 403,
            // Leg B's interval is leg B's business too (§7.3 retries exhausted).
            422 => 500,
            s => s,
        };
        if status == response.status {
            self.relay_to_invite_a(now, &response);
        } else {
            self.answer_invite_a(now, status);
        }
        self.end(now, EndReason::Rejected(response.status), None);
    }

    /// CANCEL from leg A (§9.2): 200 to the CANCEL; 487 to the INVITE if it is still open, and the
    /// CANCEL carried on to leg B (once leg B has sent a provisional response: §9.1).
    pub(super) fn on_cancel_a(&mut self, now: Instant, cancel: Request) {
        let target = crate::proto::transaction::ServerKey::for_cancel_target(&cancel);
        let matches = target.as_ref() == Some(&*self.invite_a);
        let status = if matches { 200 } else { 481 };
        let key = self.a.start_server(cancel.clone(), self.config.timers, now);
        let response = response_to(&cancel, status, Some(&*self.a_tag));
        if let Some(server) = self.a.server(&key) {
            server.tx.respond(now, response);
        }
        if matches && self.invite_a_open() {
            self.answer_invite_a(now, 487);
            self.end(now, EndReason::Cancelled, None);
        }
    }

    /// Cancels leg B's INVITE now, or as soon as a provisional response allows it (§9.1).
    pub(super) fn cancel_b(&mut self, now: Instant) {
        // Only an INVITE still waiting for its final response can be cancelled (§9.1).
        let open = self.b.clients.iter().any(|c| {
            c.role == ClientRole::Invite
                && matches!(&c.tx, ClientTx::Invite(t) if matches!(t.state(), TxState::Calling | TxState::Proceeding))
        });
        if self.invite_b.is_none() || self.b.dialog.is_some() || !open {
            return;
        }
        if self.b_provisional {
            self.send_cancel_b(now);
        } else {
            self.cancel_pending = true;
            self.cancel_deadline = Some(now + self.config.timers.timer_b());
        }
    }

    /// CANCEL for leg B's INVITE (§9.1): same Request-URI, Call-ID, From, To, Route, CSeq number and top
    /// Via (so the same branch) as the INVITE.
    fn send_cancel_b(&mut self, now: Instant) {
        let Some(invite) = &self.invite_b else { return };
        let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
        for name in
            [HeaderName::VIA, HeaderName::ROUTE, HeaderName::FROM, HeaderName::TO, HeaderName::CALL_ID]
        {
            if name == HeaderName::VIA {
                if let Some(via) = invite.headers.get(&name) {
                    cancel.headers.push(name.clone(), via);
                }
                continue;
            }
            for value in invite.headers.get_all(&name) {
                cancel.headers.push(name.clone(), value);
            }
        }
        let seq = invite.cseq().map_or(1, |c| c.seq);
        cancel.headers.push(HeaderName::CSEQ, format!("{seq} CANCEL"));
        cancel.headers.push(HeaderName::MAX_FORWARDS, "70");
        self.b.start_client(cancel, ClientRole::Cancel, self.config.timers, now);
        // §9.1: without a final response 64·T1 after the CANCEL, the INVITE is given up.
        self.cancel_deadline = Some(now + self.config.timers.timer_b());
    }

    /// Ring timeout and the CANCEL give-up deadline.
    pub(super) fn setup_timeouts(&mut self, now: Instant) {
        if self.ring_deadline.is_some_and(|t| t <= now) {
            self.ring_deadline = None;
            if self.phase == Phase::Calling {
                self.fail_setup(now, 408, EndReason::NoAnswer);
            }
        }
        if self.cancel_deadline.is_some_and(|t| t <= now) {
            self.cancel_deadline = None;
            self.cancel_pending = false;
            self.b.clients.retain(|c| c.role != ClientRole::Invite);
        }
    }

    /// RFC 3261 §16.3 step 2 (a B2BUA forwards too): an INVITE with no hops left gets 483.
    pub(super) fn check_max_forwards(&mut self, now: Instant) {
        let invite = self.a.server(&self.invite_a).map(|s| s.tx.request().clone());
        let mf = invite.as_ref().and_then(|r| r.headers.get(&HeaderName::MAX_FORWARDS).map(str::to_owned));
        if mf.as_deref() == Some("0") {
            self.answer_invite_a(now, 483);
            self.end = Some(EndReason::Rejected(483));
            self.out.push_back(Output::Ended(EndReason::Rejected(483)));
            self.finish_by = Some(now + self.config.timers.timer_b() * 2);
        }
    }
}
