//! The UA's RFC 4028 side, as scripted: Session-Expires in its INVITE or 2xx (§7.1, §9), its own refreshes
//! when it is the refresher (re-INVITE with its SDP unchanged at half the interval, §10) up to a count,
//! and the refreshes it receives: logged with their SDP, answered 200 with Session-Expires, or refused on
//! demand (491, 422 with Min-SE, 501, 407 with a challenge); an INVITE while its own is open gets 491.

use std::time::{Duration, Instant};

use sst_b2bua::sip::build::response_to;
use sst_b2bua::sip::{HeaderName, Method, Refresher, Request, Response, SessionExpires};

use super::{body, Action, Purpose, Ua};

/// A UA's session-timer behaviour.
#[derive(Debug, Clone, Copy)]
pub struct TimerScript {
    /// The interval our INVITE asks for (caller), or our 2xx grants when the request asks for none.
    pub expires: u32,
    /// The refresher our INVITE asks for (caller), or our 2xx names when the request names none.
    pub refresher: Option<Refresher>,
    /// Refreshes we send when we are the refresher, at most (0: a refresher that goes silent).
    pub refreshes: u32,
    /// How we answer the first re-INVITE/UPDATE requests we get, in order (200 after that).
    pub refuse: &'static [u16],
    /// Our Allow lists UPDATE.
    pub allow_update: bool,
}

impl Default for TimerScript {
    fn default() -> TimerScript {
        TimerScript { expires: 1800, refresher: None, refreshes: 0, refuse: &[], allow_update: false }
    }
}

/// A re-INVITE or UPDATE we received in the dialog, and how we answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub at: Instant,
    pub method: Method,
    pub session_expires: Option<String>,
    pub sdp: String,
    pub authorized: bool,
    pub status: u16,
}

/// The challenge we send for a refresh with no credentials.
const CHALLENGE: &str = r#"Digest realm="sim.example.com", nonce="simnonce", qop="auth""#;

impl Ua {
    /// The Session-Expires lines of the caller's INVITE.
    pub(super) fn invite_timer_lines(&self) -> String {
        match self.script.timer {
            Some(t) => {
                let se = SessionExpires { delta: t.expires, refresher: t.refresher };
                format!("Supported: timer\r\nSession-Expires: {se}\r\n")
            }
            None => "Supported: timer\r\nSession-Expires: 1800\r\n".to_owned(),
        }
    }

    /// Schedules our next refresh (replacing any) when we refresh and have refreshes left.
    fn arm(&mut self, now: Instant, interval: u32, we_refresh: bool) {
        let Some(t) = self.script.timer else { return };
        self.interval = interval;
        self.actions.retain(|(_, a)| *a != Action::Refresh);
        if we_refresh && (self.log.refreshed.len() as u32) < t.refreshes {
            self.actions.push((now + Duration::from_secs(u64::from(interval)) / 2, Action::Refresh));
        }
    }

    /// A 2xx to a request of ours: its Session-Expires is in force (§7.2); `uac` (or none) means us.
    pub(super) fn arm_from_2xx(&mut self, now: Instant, response: &Response) {
        let se =
            response.headers.get(&HeaderName::SESSION_EXPIRES).and_then(|v| SessionExpires::parse(v).ok());
        if let Some(se) = se {
            self.arm(now, se.delta, se.refresher != Some(Refresher::Uas));
        }
    }

    /// Our 2xx to `request` carries our Session-Expires (Table 2, accepting the interval asked for), and
    /// we arm by it.
    pub(super) fn timer_answer(&mut self, now: Instant, request: &Request, response: &mut Response) {
        let Some(t) = self.script.timer else { return };
        let asked =
            request.headers.get(&HeaderName::SESSION_EXPIRES).and_then(|v| SessionExpires::parse(v).ok());
        let delta = asked.as_ref().map_or(t.expires, |se| se.delta);
        let refresher = asked.and_then(|se| se.refresher).or(t.refresher).unwrap_or(Refresher::Uas);
        let h = &mut response.headers;
        h.push(HeaderName::SUPPORTED, "timer");
        h.push(HeaderName::SESSION_EXPIRES, SessionExpires { delta, refresher: Some(refresher) }.to_string());
        if refresher == Refresher::Uac {
            h.push(HeaderName::REQUIRE, "timer");
        }
        if t.allow_update {
            h.push(HeaderName::ALLOW, "INVITE, ACK, BYE, CANCEL, UPDATE");
        }
        self.arm(now, delta, refresher == Refresher::Uas);
    }

    /// Our refresh: a re-INVITE with our SDP unchanged, saying we stay the refresher (§7.4).
    pub(super) fn send_refresh(&mut self, now: Instant) {
        if self.inviting {
            return self.actions.push((now + Duration::from_secs(1), Action::Refresh));
        }
        let sdp = self.sdp(self.sdp_version);
        let interval = self.interval;
        let Some(dialog) = self.dialog.as_mut() else { return };
        let mut re = dialog.request(Method::Invite, None);
        re.headers.push(HeaderName::SUPPORTED, "timer");
        re.headers.push(HeaderName::SESSION_EXPIRES, format!("{interval};refresher=uac"));
        re.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
        re.body = sdp.into_bytes().into();
        self.stamp(&mut re);
        self.inviting = true;
        self.start_client(now, re, Purpose::Refresh);
    }

    /// A re-INVITE or UPDATE in our dialog: logged, then refused as scripted (or 491 in glare) or answered
    /// 200 with our SDP (a re-INVITE: unchanged for a refresh, a new version for a new offer).
    pub(super) fn on_session_request(&mut self, now: Instant, request: Request) {
        let Some(t) = self.script.timer else { return };
        let sdp = body(&request.body);
        let status = if request.method == Method::Invite && self.inviting {
            491 // RFC 3261 §14.2: our own INVITE is open
        } else if let Some(status) = t.refuse.get(self.refused) {
            self.refused += 1;
            *status
        } else {
            200
        };
        self.log.refreshes.push(Received {
            at: now,
            method: request.method.clone(),
            session_expires: request.headers.get(&HeaderName::SESSION_EXPIRES).map(str::to_owned),
            sdp: sdp.clone(),
            authorized: request.headers.contains(&HeaderName::PROXY_AUTHORIZATION),
            status,
        });
        if status != 200 {
            let mut refusal = response_to(&request, status, Some(&self.local_tag));
            if status == 422 {
                let asked = request
                    .headers
                    .get(&HeaderName::SESSION_EXPIRES)
                    .and_then(|v| SessionExpires::parse(v).ok());
                let min_se = asked.map_or(1800, |se| se.delta) * 2;
                refusal.headers.push(HeaderName::MIN_SE, min_se.to_string());
            }
            if status == 407 {
                refusal.headers.push(HeaderName::PROXY_AUTHENTICATE, CHALLENGE);
            }
            return self.respond(now, request, refusal);
        }
        if request.method == Method::Update {
            let mut ok = response_to(&request, 200, Some(&self.local_tag));
            self.timer_answer(now, &request, &mut ok);
            return self.respond(now, request, ok);
        }
        if !sdp.is_empty() && self.peer_sdp.as_deref() != Some(sdp.as_str()) {
            self.log.reinvite_offer = Some(sdp.clone());
            self.sdp_version += 1;
        }
        if !sdp.is_empty() {
            self.peer_sdp = Some(sdp);
        }
        self.accept(now, request, false);
    }
}
