//! The UA's server side: INVITE (ringing, then the scripted answer), our 2xx retransmitted until its ACK
//! (RFC 3261 §13.3.1.4), CANCEL (§9.2), BYE (§15.1.2) and other in-dialog requests (§12.2.2).

use std::time::Instant;

use sst_b2bua::proto::dialog::{Dialog, Sequence};
use sst_b2bua::proto::transaction::{ServerKey, ServerTx};
use sst_b2bua::sip::build::response_to;
use sst_b2bua::sip::{HeaderName, Message, Method, Request, Response, SipHeaders};

use super::{body, Action, Answer, Pending2xx, Ua};

impl Ua {
    pub(super) fn retransmit_2xx(&mut self, now: Instant) {
        let t2 = self.timers.t2;
        let given_up = self.pending_2xx.iter().any(|p| p.give_up <= now);
        self.pending_2xx.retain(|p| p.give_up > now);
        for p in &mut self.pending_2xx {
            if p.next <= now {
                p.interval = (p.interval * 2).min(t2);
                p.next = now + p.interval;
                self.out.push(Message::Response(p.response.clone()));
            }
        }
        if given_up {
            self.log.errors.push(format!("{}: no ACK for our 2xx", self.name));
            self.act(now, Action::Hangup);
        }
    }

    fn server(&mut self, key: &ServerKey) -> Option<&mut ServerTx> {
        self.servers.iter_mut().find(|s| s.key() == key)
    }

    /// Starts a server transaction for `request` and answers it with `status` at once.
    fn answer(&mut self, now: Instant, request: Request, status: u16) {
        let response = response_to(&request, status, Some(&self.local_tag.clone()));
        self.respond(now, request, response);
    }

    /// Starts a server transaction for `request` and sends `response` on it at once.
    pub(super) fn respond(&mut self, now: Instant, request: Request, response: Response) {
        let mut tx = ServerTx::new(request, false, self.timers, now);
        tx.respond(now, response);
        self.servers.push(tx);
    }

    pub(super) fn on_request(&mut self, now: Instant, request: Request) {
        if let Some(key) = ServerKey::for_request(&request) {
            if let Some(s) = self.server(&key) {
                return s.handle_request(now, request);
            }
        }
        let in_dialog = request.to_hdr().is_some_and(|t| t.tag().is_some());
        match request.method {
            Method::Invite if !in_dialog => self.on_invite(now, request),
            Method::Ack => self.on_ack(now, &request),
            Method::Cancel => self.on_cancel(now, request),
            _ => self.on_in_dialog(now, request),
        }
    }

    fn on_in_dialog(&mut self, now: Instant, request: Request) {
        let matched = !self.ended && self.dialog.as_ref().is_some_and(|d| d.matches_request(&request));
        if !matched {
            self.log.errors.push(format!("{}: {} for no dialog of ours", self.name, request.method));
            return self.answer(now, request, 481);
        }
        if self.dialog.as_mut().map(|d| d.on_request(&request)) == Some(Sequence::OutOfOrder) {
            self.log.errors.push(format!("{}: {} out of order", self.name, request.method));
            return self.answer(now, request, 500);
        }
        match request.method {
            Method::Bye => {
                self.log.bye_got = true;
                self.log.bye_at = Some(now);
                self.log.bye_reason = request.headers.get(&HeaderName::REASON).map(str::to_owned);
                self.ended = true;
                self.pending_2xx.clear();
                self.actions.clear();
                self.answer(now, request, 200);
            }
            Method::Invite | Method::Update if self.script.timer.is_some() => {
                self.on_session_request(now, request)
            }
            Method::Invite => {
                self.log.reinvite_offer = Some(body(&request.body));
                self.sdp_version += 1;
                self.accept(now, request, false);
            }
            _ => self.answer(now, request, 200),
        }
    }

    /// Callee: a new INVITE — ring (180, or 183 with early media), then act per the script.
    fn on_invite(&mut self, now: Instant, invite: Request) {
        if self.invite.is_some() {
            self.log.errors.push(format!("{}: a second INVITE", self.name));
            return self.answer(now, invite, 482);
        }
        self.log.remote_sdp = Some(body(&invite.body));
        self.peer_sdp = Some(body(&invite.body));
        self.invite = Some(invite.clone());
        let mut tx = ServerTx::new(invite.clone(), false, self.timers, now);
        let early = matches!(self.script.answer, Answer::Accept { early_media: true, .. });
        let mut ringing = response_to(&invite, if early { 183 } else { 180 }, Some(&self.local_tag));
        ringing.headers.push(HeaderName::CONTACT, format!("<sip:{}@{}>", self.user, self.addr));
        if early {
            ringing.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
            ringing.body = self.sdp(self.sdp_version).into_bytes().into();
        }
        tx.respond(now, ringing);
        match self.script.answer {
            Answer::Ring => {}
            Answer::Reject(status) => {
                tx.respond(now, response_to(&invite, status, Some(&self.local_tag)));
                self.log.final_status = Some(status);
            }
            Answer::Accept { after, .. } => self.actions.push((now + after, Action::Answer)),
        }
        self.servers.push(tx);
    }

    /// Callee: the scripted 200 to the initial INVITE, if it is still open.
    pub(super) fn answer_invite(&mut self, now: Instant) {
        let Some(invite) = self.invite.clone() else { return };
        let Some(key) = ServerKey::for_request(&invite) else { return };
        if self.server(&key).is_none_or(|s| s.is_final()) {
            return;
        }
        self.dialog = Dialog::as_uas(&invite, &self.local_tag);
        self.log.final_status = Some(200);
        self.accept(now, invite, true);
    }

    /// A 2xx with our SDP to an INVITE (the server transaction sends it; we retransmit it until the ACK).
    pub(super) fn accept(&mut self, now: Instant, invite: Request, initial: bool) {
        let mut ok = response_to(&invite, 200, Some(&self.local_tag));
        ok.headers.push(HeaderName::CONTACT, format!("<sip:{}@{}>", self.user, self.addr));
        ok.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
        ok.body = self.sdp(self.sdp_version).into_bytes().into();
        self.timer_answer(now, &invite, &mut ok);
        let key = ServerKey::for_request(&invite);
        if key.as_ref().and_then(|k| self.server(k)).is_none() {
            self.servers.push(ServerTx::new(invite.clone(), false, self.timers, now));
        }
        if let Some(s) = key.as_ref().and_then(|k| self.server(k)) {
            s.respond(now, ok.clone());
        }
        let t1 = self.timers.t1;
        let cseq = invite.cseq().map_or(0, |c| c.seq);
        let give_up = now + t1 * 64;
        self.pending_2xx.push(Pending2xx {
            response: ok,
            cseq,
            next: now + t1,
            interval: t1,
            give_up,
            initial,
        });
    }

    fn on_ack(&mut self, now: Instant, ack: &Request) {
        let seq = ack.cseq().map_or(0, |c| c.seq);
        if !self.dialog.as_ref().is_some_and(|d| d.matches_request(ack)) {
            return;
        }
        let Some(i) = self.pending_2xx.iter().position(|p| p.cseq == seq) else { return };
        let p = self.pending_2xx.remove(i);
        if p.initial {
            self.log.confirmed = true;
            self.after_confirmed(now, true);
        } else {
            self.log.reinvite_acked = true;
        }
    }

    /// CANCEL (§9.2): 200 to it; 487 to the INVITE if it is still open; 481 if no INVITE matches.
    fn on_cancel(&mut self, now: Instant, cancel: Request) {
        let target = ServerKey::for_cancel_target(&cancel);
        let open = target.as_ref().and_then(|k| self.server(k)).map(|s| !s.is_final());
        let Some(open) = open else {
            self.log.errors.push(format!("{}: CANCEL for no INVITE", self.name));
            return self.answer(now, cancel, 481);
        };
        self.answer(now, cancel, 200);
        if open {
            self.log.cancelled = true;
            self.log.final_status = Some(487);
            self.actions.retain(|(_, a)| *a != Action::Answer);
            let invite = self.invite.clone().expect("the INVITE a CANCEL matched");
            let terminated = response_to(&invite, 487, Some(&self.local_tag));
            if let Some(s) = target.as_ref().and_then(|k| self.server(k)) {
                s.respond(now, terminated);
            }
        }
    }
}
