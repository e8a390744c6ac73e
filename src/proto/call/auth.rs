//! Answering a trunk's digest challenge on leg B (RFC 3261 §22.2): a 401/407 to any request we send there
//! (INVITE, re-INVITE, UPDATE, BYE, relayed requests) is retried once with credentials — same Call-ID and
//! From tag, CSeq + 1, a new branch. A second challenge after credentials were sent fails the request.

use std::time::Instant;

use super::leg::ClientRole;
use super::{Call, LegId};
use crate::sip::auth::{has_credentials, Challenge};
use crate::sip::{HeaderName, Method, Request, Response, SipHeaders};

impl<P: Clone> Call<P> {
    /// Retries `sent` with credentials when `response` challenges it and we have some; true if it did.
    pub(super) fn try_authenticate(
        &mut self,
        now: Instant,
        leg: LegId,
        role: &ClientRole,
        sent: &Request,
        response: &Response,
    ) -> bool {
        if leg != LegId::B || !matches!(response.status, 401 | 407) || sent.method == Method::Cancel {
            return false;
        }
        let Some((username, password)) = self.config.credentials.clone() else { return false };
        if has_credentials(sent) {
            tracing::warn!(method = %sent.method, status = response.status, "trunk refused our credentials");
            return false;
        }
        let Some(mut challenge) = Challenge::from_response(response) else { return false };
        let mut retry = sent.clone();
        retry.headers.remove_first(&HeaderName::VIA);
        let seq = match (role, self.b.dialog.as_mut()) {
            // In a dialog the retry takes the dialog's next CSeq; leg B's INVITE counts on its own.
            (ClientRole::Invite, _) | (_, None) => sent.cseq().map_or(1, |c| c.seq + 1),
            (_, Some(dialog)) => {
                dialog.local_cseq += 1;
                dialog.local_cseq
            }
        };
        retry.headers.set(HeaderName::CSEQ, format!("{seq} {}", sent.method));
        let cnonce = self.ids.tag();
        if !challenge.authorize(&mut retry, &username, &password, &cnonce) {
            return false;
        }
        self.b.stamp(&mut retry, &mut self.ids);
        if *role == ClientRole::Invite {
            self.invite_b = Some(Box::new(retry.clone()));
        }
        tracing::info!(method = %sent.method, realm = challenge.realm(), "answering the trunk's digest challenge");
        self.b.start_client(retry, role.clone(), self.config.timers, now);
        true
    }
}
