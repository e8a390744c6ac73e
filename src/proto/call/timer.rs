//! The call's RFC 4028 behaviour, leg by leg: 422 to a caller whose interval is too small (§9), our
//! refresh with the SDP last sent on the leg or a body-less UPDATE (§10), the failure ladder of a refresh
//! (401/407, 422, 491 back-off per RFC 3261 §14.1, 405/501 to UPDATE, 408/481/timeout), expiry (BYE on
//! both legs with a Reason), and a peer's refresh answered on its own leg when it changes nothing.

use std::time::{Duration, Instant};

use super::leg::{ClientRole, Pending2xx};
use super::{Call, ClientEvent, EndReason, LegId, Phase};
use crate::proto::session_timer::negotiate::{min_se_of_422, uac_on_2xx, uas_decide, uas_response_headers};
use crate::proto::session_timer::{Due, UasDecision};
use crate::sip::build::{response_to, ALLOW};
use crate::sip::{HeaderName, Method, Request, Response, SipHeaders};

/// A refresh that cannot start now (an INVITE is in flight on the leg) is tried again this much later.
const DEFER: Duration = Duration::from_secs(1);

impl<P: Clone> Call<P> {
    /// §9: a caller that declared `timer` and asked for less than our Min-SE gets 422 at once.
    pub(super) fn check_session_interval(&mut self, now: Instant) {
        let UasDecision::TooSmall { min_se } = self.a_decision else { return };
        if self.end.is_some() {
            return;
        }
        let Some(invite) = self.a.server(&self.invite_a.clone()).map(|s| s.tx.request().clone()) else {
            return;
        };
        let mut response = response_to(&invite, 422, Some(&*self.a_tag));
        response.headers.push(HeaderName::MIN_SE, min_se.to_string());
        tracing::info!(min_se, "caller's Session-Expires below our Min-SE: 422");
        self.respond_server_a(now, response);
        // No `Ended` output yet: the caller may retry on this Call-ID (§7.3), and then the call goes on.
        // The actor reports the end when the call finishes.
        self.end = Some(EndReason::Rejected(422));
        self.finish_by = Some(now + self.config.timers.timer_b() * 2);
    }

    fn respond_server_a(&mut self, now: Instant, response: Response) {
        let key = self.invite_a.clone();
        if let Some(server) = self.a.server(&key) {
            server.tx.respond(now, response);
        }
    }

    /// Session-timer deadlines of both legs.
    pub(super) fn session_timeouts(&mut self, now: Instant) {
        for id in [LegId::A, LegId::B] {
            match self.leg_mut(id).timer.handle_timeout(now) {
                Some(Due::Expire) => {
                    let session = self.leg(id).timer.session();
                    tracing::info!(
                        leg = %id,
                        interval = session.map_or(0, |s| s.interval),
                        refresher = if session.is_some_and(|s| s.we_refresh) { "us" } else { "peer" },
                        "session timer expired: ending the call"
                    );
                    self.end(now, EndReason::SessionExpired(id), None);
                }
                Some(Due::Refresh(method)) => self.send_refresh(now, id, method),
                None => {}
            }
        }
    }

    /// Sends our refresh on leg `id` (§10): re-INVITE with the SDP last sent there (unchanged, so the
    /// same o= version), or a body-less UPDATE; deferred while an INVITE transaction is in flight.
    fn send_refresh(&mut self, now: Instant, id: LegId, method: Method) {
        if self.end.is_some() || self.phase != Phase::Confirmed {
            return;
        }
        if self.leg(id).invite_in_progress() || self.ack_relay.is_some() {
            tracing::debug!(leg = %id, "refresh deferred: an INVITE transaction is in flight");
            return self.leg_mut(id).timer.retry_refresh(now, DEFER);
        }
        let timers = self.config.timers;
        let (leg, ids) = self.leg_and_ids(id);
        let Some(dialog) = leg.dialog.as_mut() else { return };
        let mut refresh = dialog.request(method.clone(), None);
        refresh.headers.push(HeaderName::ALLOW, ALLOW);
        leg.timer.decorate_request(&mut refresh.headers);
        if method == Method::Invite {
            if let Some(sdp) = leg.sdp.last_sent() {
                refresh.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
                refresh.body = sdp.clone();
            }
        }
        let asked = leg.timer.session().map_or(leg.timer.asking().0, |s| s.interval);
        leg.timer.refresh_sent();
        leg.stamp(&mut refresh, ids);
        tracing::info!(leg = %id, %method, interval = asked, "session refresh sent");
        leg.start_client(refresh, ClientRole::Refresh { asked }, timers, now);
    }

    /// The answer to our refresh, climbing the checklist's failure ladder.
    pub(super) fn on_refresh_result(
        &mut self,
        now: Instant,
        id: LegId,
        asked: u32,
        sent: Request,
        event: ClientEvent,
    ) {
        let response = match event {
            ClientEvent::Timeout => return self.end(now, EndReason::Timeout(id), None),
            ClientEvent::Response(r) if r.status < 200 => return,
            ClientEvent::Response(r) => r,
        };
        let is_invite = sent.method == Method::Invite;
        match response.status {
            200..=299 => {
                if is_invite {
                    let seq = sent.cseq().map_or(0, |c| c.seq);
                    if self.leg(id).acked(seq) {
                        return self.resend_ack(id, &response); // a repeat of the 2xx
                    }
                    self.ack_on(id, seq, None);
                }
                let config = self.leg(id).timer.config().clone();
                let session = uac_on_2xx(&config, &response, asked);
                let leg = self.leg_mut(id);
                if let Some(d) = leg.dialog.as_mut() {
                    d.on_refresh_response(&response);
                }
                if !response.body.is_empty() {
                    leg.sdp.incoming(&response.body);
                }
                leg.timer.learn_allow(&response.headers);
                leg.timer.establish(now, session);
                tracing::info!(leg = %id, interval = session.map_or(0, |s| s.interval), "session refreshed");
            }
            422 => {
                if self.leg_mut(id).timer.on_422(min_se_of_422(&response)) {
                    self.leg_mut(id).timer.retry_refresh(now, Duration::ZERO);
                }
            }
            491 => {
                // RFC 3261 §14.1: the owner of the Call-ID (leg B is ours) waits 2.1–4 s, the other 0–2 s.
                let wait = match id {
                    LegId::B => self.ids.millis(2100..=4000),
                    LegId::A => self.ids.millis(0..=2000),
                };
                self.leg_mut(id).timer.retry_refresh(now, Duration::from_millis(wait));
            }
            405 | 501 if sent.method == Method::Update => {
                tracing::info!(leg = %id, "UPDATE refused: refreshing this leg with re-INVITE");
                self.leg_mut(id).timer.update_refused();
                self.leg_mut(id).timer.retry_refresh(now, Duration::ZERO);
            }
            408 | 481 => self.end(now, EndReason::Timeout(id), None),
            status => {
                // Other errors keep the timer: try once more halfway to the expiry, which ends the call
                // if nothing succeeds.
                tracing::info!(leg = %id, status, "refresh failed; the session timer keeps running");
                self.leg_mut(id).timer.retry_before_expiry(now);
            }
        }
    }

    /// A peer's re-INVITE or UPDATE on leg `id` that changes no media (same SDP, or none): answered on
    /// this leg alone with the SDP last sent here and this leg's Session-Expires; the other leg is not
    /// disturbed. Returns false when the request must cross to the other leg instead.
    pub(super) fn absorb_refresh(&mut self, now: Instant, id: LegId, request: &Request) -> bool {
        if request.body.is_empty() {
            // Without a body it is a refresh only if it says so (Session-Expires) or the peer is this
            // leg's refresher; otherwise (third-party call control, say) the offerless request crosses.
            let peer_refreshes = self.leg(id).timer.session().is_some_and(|s| !s.we_refresh);
            if !request.headers.contains(&HeaderName::SESSION_EXPIRES) && !peer_refreshes {
                return false;
            }
        } else if self.leg(id).sdp.is_change(&request.body) {
            // A real media change crosses to the other leg; it is recorded once accepted there.
            return false;
        }
        let config = self.leg(id).timer.config().clone();
        let decision = uas_decide(&config, request);
        let timers = self.config.timers;
        let leg = self.leg_mut(id);
        if !request.body.is_empty() {
            leg.sdp.incoming(&request.body);
        }
        leg.timer.learn_allow(&request.headers);
        let tag = leg.dialog.as_ref().map(|d| d.local_tag().to_owned());
        let mut response = response_to(request, 200, tag.as_deref());
        match &decision {
            UasDecision::TooSmall { min_se } => {
                response = response_to(request, 422, tag.as_deref());
                response.headers.push(HeaderName::MIN_SE, min_se.to_string());
            }
            accepted => {
                response.headers.push(HeaderName::CONTACT, leg.contact());
                response.headers.push(HeaderName::ALLOW, ALLOW);
                if leg.timer.enabled() {
                    response.headers.push(HeaderName::SUPPORTED, "timer");
                }
                uas_response_headers(accepted, &mut response.headers);
                // An INVITE gets our current description (its answer, or our offer if it had none); an
                // UPDATE with a body gets it as the answer; a body-less UPDATE gets none (RFC 3311).
                let wants_sdp = request.method == Method::Invite || !request.body.is_empty();
                if let Some(sdp) = leg.sdp.last_sent().filter(|_| wants_sdp) {
                    response.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
                    response.body = sdp.clone();
                }
                let session = match accepted {
                    UasDecision::Accept { session, .. } => Some(*session),
                    _ => None,
                };
                leg.timer.establish(now, session);
            }
        }
        let key = leg.start_server(request.clone(), timers, now);
        if let Some(server) = leg.server(&key) {
            server.tx.respond(now, response.clone());
        }
        if request.method == Method::Invite && response.status == 200 {
            leg.pending_2xx = Some(Box::new(Pending2xx {
                cseq: request.cseq().map_or(0, |c| c.seq),
                next: now + timers.t1,
                interval: timers.t1,
                give_up: now + timers.timer_b(),
                response,
            }));
        }
        tracing::info!(leg = %id, method = %request.method, "peer's refresh answered on its own leg");
        true
    }
}
