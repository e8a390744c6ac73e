//! One leg's RFC 4028 session timer, as pjsip's `sip_timer.c` keeps it in one place: negotiation
//! (`negotiate.rs`), arithmetic (`schedule.rs`), and here the state between them — what is in force,
//! when to refresh or give up, the 422 retry bound (§7.3), UPDATE or re-INVITE (§10), deferral while an
//! INVITE is in flight. Pure: the call hands in `now` and asks `poll_timeout()`.

pub mod negotiate;
pub mod schedule;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use crate::config::SessionTimerConfig;
use crate::proto::time::{Deadline, TimerKind};
use crate::sip::{HeaderName, Headers, Method};

pub use negotiate::{Session, UasDecision};

/// 422 retries per request at most (checklist: bounded, 3).
pub const MAX_422_RETRIES: u8 = 3;

/// What a due deadline asks of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Send a refresh with this method (re-INVITE with the last SDP, or body-less UPDATE).
    Refresh(Method),
    /// The session expired: BYE on both legs.
    Expire,
}

#[derive(Debug, Clone)]
pub struct SessionTimer {
    config: SessionTimerConfig,
    session: Option<Session>,
    refresh_at: Option<Instant>,
    expire_at: Option<Instant>,
    /// The interval we ask for in requests we send (raised by 422s).
    asking: u32,
    /// The Min-SE we send (raised by 422s).
    min_se: u32,
    retries_422: u8,
    /// The peer's Allow lists UPDATE, and it has not refused one.
    peer_allows_update: bool,
    /// The peer refused our UPDATE (405/501): re-INVITE from then on, whatever its Allow says later.
    update_refused: bool,
}

impl SessionTimer {
    pub fn new(config: SessionTimerConfig) -> SessionTimer {
        SessionTimer {
            asking: config.default_expires,
            min_se: config.min_se,
            config,
            session: None,
            refresh_at: None,
            expire_at: None,
            retries_422: 0,
            peer_allows_update: false,
            update_refused: false,
        }
    }

    pub fn config(&self) -> &SessionTimerConfig {
        &self.config
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn session(&self) -> Option<Session> {
        self.session
    }

    /// The interval to ask for and the Min-SE to send in our next request.
    pub fn asking(&self) -> (u32, u32) {
        (self.asking, self.min_se)
    }

    /// Adds our RFC 4028 headers to a request we originate on this leg (§7.1, §7.4).
    pub fn decorate_request(&self, headers: &mut Headers) {
        if !self.config.enabled {
            return;
        }
        match self.session {
            // §7.4: in a dialog with a timer in force, the current interval and the current roles (a
            // re-INVITE we relay while the peer refreshes says `uas`, or the roles would flip).
            Some(session) => negotiate::refresh_headers(headers, session, self.min_se),
            None => negotiate::uac_request_headers(&self.config, headers, self.asking, self.min_se),
        }
    }

    /// Arms (or, with `None`, disarms) the timer after a 2xx in either direction: "any 2xx to a
    /// re-INVITE or UPDATE … re-arms both roles' timers on that leg" (§10).
    pub fn establish(&mut self, now: Instant, session: Option<Session>) {
        self.session = session;
        self.retries_422 = 0;
        match session {
            Some(s) => {
                let (refresh, expire) = schedule::deadlines(s, now);
                self.refresh_at = refresh;
                self.expire_at = Some(expire);
            }
            // Invariant: no negotiated timer → never ended by a timer (checklist).
            None => {
                self.refresh_at = None;
                self.expire_at = None;
            }
        }
    }

    /// Remembers whether the peer allows UPDATE (its Allow header, RFC 3311 §5.1).
    pub fn learn_allow(&mut self, headers: &Headers) {
        if headers.contains(&HeaderName::ALLOW) {
            self.peer_allows_update = !self.update_refused && headers.has_token(&HeaderName::ALLOW, "UPDATE");
        }
    }

    /// A 405/501 to our UPDATE: this leg refreshes with re-INVITE from now on.
    pub fn update_refused(&mut self) {
        self.update_refused = true;
        self.peer_allows_update = false;
    }

    /// The method our next refresh uses (§10: UPDATE when configured and allowed, else re-INVITE).
    pub fn refresh_method(&self) -> Method {
        if self.config.use_update && self.peer_allows_update {
            Method::Update
        } else {
            Method::Invite
        }
    }

    /// A 422 to our request (§7.3): raise what we ask for to its Min-SE and say whether to retry.
    pub fn on_422(&mut self, min_se: Option<u32>) -> bool {
        let Some(min_se) = min_se else { return false };
        if self.retries_422 >= MAX_422_RETRIES {
            return false;
        }
        self.retries_422 += 1;
        self.min_se = self.min_se.max(min_se);
        self.asking = self.asking.max(self.min_se);
        if let Some(session) = self.session.as_mut() {
            session.interval = session.interval.max(self.min_se);
        }
        true
    }

    /// Postpones a due refresh (an INVITE transaction is in flight on the leg, or a 491 back-off).
    pub fn defer_refresh(&mut self, now: Instant, by: Duration) {
        if self.refresh_at.is_some() {
            self.refresh_at = Some(now + by);
        }
    }

    /// Schedules the next refresh attempt `by` from now (deferral, 491 back-off, retry after 422 or an
    /// UPDATE refused), as long as a session in which we refresh is in force.
    pub fn retry_refresh(&mut self, now: Instant, by: Duration) {
        if self.session.is_some_and(|s| s.we_refresh) {
            self.refresh_at = Some(now + by);
        }
    }

    /// After a refresh failed for another reason: one more try halfway to the expiry, if there is time.
    pub fn retry_before_expiry(&mut self, now: Instant) {
        if let Some(expire) = self.expire_at {
            let left = expire.saturating_duration_since(now);
            if left > Duration::from_secs(2) {
                self.retry_refresh(now, left / 2);
            }
        }
    }

    /// A refresh went out: no second one until it is answered (its 2xx re-arms, a failure defers).
    pub fn refresh_sent(&mut self) {
        self.refresh_at = None;
    }

    pub fn poll_timeout(&self) -> Option<Deadline> {
        let refresh = self.refresh_at.map(|at| Deadline::new(at, TimerKind::SessionRefresh));
        let expire = self.expire_at.map(|at| Deadline::new(at, TimerKind::SessionExpiry));
        Deadline::earliest(refresh, expire)
    }

    /// What is due at `now`, if anything: expiry first, it ends everything.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Due> {
        if self.expire_at.is_some_and(|at| at <= now) {
            self.expire_at = None;
            self.refresh_at = None;
            return Some(Due::Expire);
        }
        if self.refresh_at.is_some_and(|at| at <= now) {
            self.refresh_at = None;
            return Some(Due::Refresh(self.refresh_method()));
        }
        None
    }
}
