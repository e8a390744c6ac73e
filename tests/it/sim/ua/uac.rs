//! The UA's own initiatives: what follows a confirmed dialog (re-INVITE, BYE), the scripted CANCEL (RFC 3261
//! §9.1: only once a provisional response came) and the re-INVITE (retried after 491: §14.1).

use std::time::Instant;

use sst_b2bua::sip::{HeaderName, Method, Request};

use super::{Action, Purpose, Ua};

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
                if !self.offered {
                    self.offered = true;
                    self.sdp_version += 1;
                }
                let sdp = self.sdp(self.sdp_version);
                let Some(dialog) = self.dialog.as_mut() else { return };
                let mut re = dialog.request(Method::Invite, None);
                re.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
                re.body = sdp.into_bytes().into();
                self.stamp(&mut re);
                self.start_client(now, re, Purpose::ReInvite);
            }
            Action::Hangup if live => {
                let Some(dialog) = self.dialog.as_mut() else { return };
                let mut bye = dialog.request(Method::Bye, None);
                self.stamp(&mut bye);
                self.ended = true;
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
}
