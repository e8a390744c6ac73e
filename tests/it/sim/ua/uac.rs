//! The UA's own initiatives and their outcomes: what follows a confirmed dialog (re-INVITE, BYE), the
//! scripted CANCEL (RFC 3261 §9.1: only once a provisional response came), the re-INVITE (retried after
//! 491: §14.1), and the responses its client transactions deliver (ACK for a 2xx, §13.2.2.4).

use std::time::{Duration, Instant};

use sst_b2bua::proto::dialog::Dialog;
use sst_b2bua::sip::{HeaderName, Message, Method, Request, Response, SipHeaders};

use super::{body, Action, Purpose, Ua};

impl Ua {
    /// The dialog is confirmed (initial INVITE) or our re-INVITE completed: schedule what comes next.
    pub(super) fn after_confirmed(&mut self, now: Instant, initial: bool) {
        match (initial, self.script.reinvite_after, self.script.hangup_after) {
            (true, Some(after), _) => self.actions.push((now + after, Action::ReInvite)),
            (_, _, Some(after)) => self.actions.push((now + after, Action::Hangup)),
            _ => {}
        }
    }

    pub(super) fn act(&mut self, now: Instant, action: Action) {
        let live = self.dialog.is_some() && !self.ended;
        match action {
            Action::Cancel if self.log.final_status.is_none() => {
                if self.provisional_seen {
                    self.send_cancel(now);
                } else {
                    self.cancel_wanted = true;
                }
            }
            Action::Answer => self.answer_invite(now),
            Action::ReInvite if live => {
                // The new offer (a retry after 491 repeats it); it is in force once answered.
                let sdp = self.sdp(self.sdp_version + 1);
                let Some(dialog) = self.dialog.as_mut() else { return };
                let mut re = dialog.request(Method::Invite, None);
                re.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
                re.body = sdp.into_bytes().into();
                self.stamp(&mut re);
                self.inviting = true;
                self.start_client(now, re, Purpose::ReInvite);
            }
            Action::Refresh if live => self.send_refresh(now),
            Action::Hangup if live => {
                let Some(dialog) = self.dialog.as_mut() else { return };
                let mut bye = dialog.request(Method::Bye, None);
                self.stamp(&mut bye);
                self.ended = true;
                self.actions.retain(|(_, a)| *a != Action::Refresh);
                self.start_client(now, bye, Purpose::Bye);
            }
            _ => {}
        }
    }

    /// CANCEL for our INVITE (§9.1: same branch, Call-ID, From, To, CSeq number, Request-URI).
    pub(super) fn send_cancel(&mut self, now: Instant) {
        self.cancel_wanted = false;
        if self.cancel_sent || self.log.final_status.is_some() {
            return;
        }
        let Some(invite) = self.invite.clone() else { return };
        let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
        for name in [HeaderName::VIA, HeaderName::FROM, HeaderName::TO, HeaderName::CALL_ID] {
            if let Some(v) = invite.headers.get(&name) {
                cancel.headers.push(name, v);
            }
        }
        cancel.headers.push(HeaderName::CSEQ, "1 CANCEL");
        cancel.headers.push(HeaderName::MAX_FORWARDS, "70");
        self.cancel_sent = true;
        self.start_client(now, cancel, Purpose::Cancel);
    }

    /// A response delivered by one of our client transactions.
    pub(super) fn on_result(&mut self, now: Instant, purpose: Purpose, request: &Request, r: Response) {
        let name = self.name;
        if matches!(purpose, Purpose::ReInvite | Purpose::Refresh) && r.status >= 200 {
            self.inviting = false;
        }
        match (purpose, r.status) {
            (Purpose::Invite, 100..=199) => {
                self.log.provisional.push(r.status);
                if !r.body.is_empty() {
                    self.log.early_sdp = Some(body(&r.body));
                }
                self.provisional_seen = true;
                if self.cancel_wanted {
                    self.send_cancel(now);
                }
            }
            (Purpose::Invite | Purpose::ReInvite | Purpose::Refresh, 200..=299) => {
                let seq = request.cseq().map_or(0, |c| c.seq);
                if self.acks.iter().any(|(s, _)| *s == seq) {
                    return self.reack(&r);
                }
                if purpose == Purpose::Invite {
                    self.dialog = Dialog::as_uac(request, &r);
                    self.log.final_status = Some(r.status);
                    self.log.remote_sdp = Some(body(&r.body));
                    self.log.confirmed = true;
                } else if purpose == Purpose::ReInvite {
                    self.log.reinvite_answer = Some(body(&r.body));
                    self.sdp_version += 1; // our offer is answered: it is the session now
                } else {
                    self.log.refreshed.push(now);
                }
                if !r.body.is_empty() {
                    self.peer_sdp = Some(body(&r.body));
                }
                let Some(dialog) = self.dialog.as_mut() else {
                    return self.log.errors.push(format!("{name}: 2xx without a dialog"));
                };
                if purpose != Purpose::Invite {
                    dialog.on_refresh_response(&r);
                }
                let mut ack = dialog.request(Method::Ack, Some(seq));
                self.stamp(&mut ack);
                self.acks.push((seq, ack.clone()));
                self.out.push(Message::Request(ack));
                self.arm_from_2xx(now, &r);
                if purpose != Purpose::Refresh {
                    self.after_confirmed(now, purpose == Purpose::Invite);
                }
            }
            (Purpose::Invite, status) => self.log.final_status = Some(status),
            (Purpose::ReInvite | Purpose::Refresh, 491) => {
                // §14.1: not the Call-ID's owner → 0–2 s, the owner → 2.1–4 s (in 10 ms units).
                self.log.reinvite_491 += 1;
                let owner = self.caller;
                let wait = if owner { self.rng.u64(210..=400) } else { self.rng.u64(0..=200) };
                let again = if purpose == Purpose::Refresh { Action::Refresh } else { Action::ReInvite };
                self.actions.push((now + Duration::from_millis(wait * 10), again));
            }
            (Purpose::Bye, 200..=299) => self.log.bye_sent_ok = true,
            (Purpose::Cancel, 200..=299)
            | (Purpose::Bye | Purpose::Cancel | Purpose::ReInvite | Purpose::Refresh, 100..=199) => {}
            (purpose, status) => self.log.errors.push(format!("{name}: {purpose:?} got {status}")),
        }
    }
}
