//! RFC 4028 negotiation as pure functions: what a UAC asks for (§7.1, §7.4), what a UAS answers (§9,
//! Table 2), what a 2xx (§7.2) or a 422 (§7.3) means for the UAC. One leg, one transaction at a time.

use crate::config::{PreferRefresher, SessionTimerConfig};
use crate::sip::session_expires::{parse_min_se, MIN_SE_FLOOR};
use crate::sip::{HeaderName, Headers, Refresher, Request, Response, SessionExpires};

/// What is in force on a leg after a successful negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Session interval in seconds (§3), never below 90.
    pub interval: u32,
    /// Whether the daemon is the refresher on this leg (else the peer is).
    pub we_refresh: bool,
}

/// Whether a message declares `timer` support (Supported or Require, §7.1 / §9).
pub fn declares_timer(headers: &Headers) -> bool {
    headers.has_token(&HeaderName::SUPPORTED, "timer") || headers.has_token(&HeaderName::REQUIRE, "timer")
}

/// The headers a request we send carries (§7.1, §7.4; also on refreshes): `Supported: timer`,
/// Session-Expires (with `refresher=uac` when we prefer to refresh and `we_refresh` allows) and Min-SE.
/// `interval` is what we ask for: `default_expires`, or a value raised by a 422.
pub fn uac_request_headers(config: &SessionTimerConfig, headers: &mut Headers, interval: u32, min_se: u32) {
    if !config.enabled {
        return;
    }
    headers.remove(&HeaderName::SESSION_EXPIRES);
    headers.remove(&HeaderName::MIN_SE);
    if !headers.has_token(&HeaderName::SUPPORTED, "timer") {
        headers.push(HeaderName::SUPPORTED, "timer");
    }
    // §7.1: omitting the refresher is RECOMMENDED; a UAC that wants to refresh may say so.
    let refresher = (config.prefer_refresher == PreferRefresher::Uac).then_some(Refresher::Uac);
    headers.push(HeaderName::SESSION_EXPIRES, SessionExpires { delta: interval, refresher }.to_string());
    headers.push(HeaderName::MIN_SE, min_se.to_string());
}

/// A request we send in a dialog whose timer is in force (§7.4): the current interval, and `refresher=uac`
/// when we refresh, `uas` when the peer does, so that no refresh changes who refreshes.
pub fn refresh_headers(headers: &mut Headers, session: Session, min_se: u32) {
    headers.remove(&HeaderName::SESSION_EXPIRES);
    headers.remove(&HeaderName::MIN_SE);
    if !headers.has_token(&HeaderName::SUPPORTED, "timer") {
        headers.push(HeaderName::SUPPORTED, "timer");
    }
    let refresher = if session.we_refresh { Refresher::Uac } else { Refresher::Uas };
    headers.push(
        HeaderName::SESSION_EXPIRES,
        SessionExpires { delta: session.interval, refresher: Some(refresher) }.to_string(),
    );
    headers.push(HeaderName::MIN_SE, min_se.to_string());
}

/// The UAC's reading of a 2xx to its INVITE/UPDATE (§7.2).
pub fn uac_on_2xx(config: &SessionTimerConfig, response: &Response, asked: u32) -> Option<Session> {
    if !config.enabled {
        return None;
    }
    match response.headers.get(&HeaderName::SESSION_EXPIRES).map(SessionExpires::parse) {
        Some(Ok(se)) => Some(Session {
            // Proxies may lower it; anything at or above the floor is accepted (§7.2).
            interval: se.delta.max(MIN_SE_FLOOR),
            // §7.2: `uac` means us. A 2xx must carry the refresher (§9); if one does not, we refresh, so
            // that the session cannot lapse with nobody refreshing it.
            we_refresh: se.refresher != Some(Refresher::Uas),
        }),
        Some(Err(e)) => {
            tracing::info!(error = %e, "ignoring a malformed Session-Expires in a 2xx");
            uac_without_se(response, asked)
        }
        None => uac_without_se(response, asked),
    }
}

/// §7.2: a 2xx without Session-Expires means no timer — unless the UAS does not know timers at all, in
/// which case the UAC may refresh by itself at the interval it asked for.
fn uac_without_se(response: &Response, asked: u32) -> Option<Session> {
    (!declares_timer(&response.headers)).then_some(Session { interval: asked, we_refresh: true })
}

/// §7.3: a 422's Min-SE, which the retry must honour. `None` when it has none (the 422 is then final).
pub fn min_se_of_422(response: &Response) -> Option<u32> {
    if response.status != 422 {
        return None;
    }
    response.headers.get(&HeaderName::MIN_SE).and_then(|v| parse_min_se(v).ok())
}

/// The UAS's decision on an INVITE/UPDATE (§9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UasDecision {
    /// 422 with this Min-SE (§9: only to a UAC that declared `timer`).
    TooSmall { min_se: u32 },
    /// Accept; the 2xx carries Session-Expires with this refresher and, when the UAC refreshes,
    /// `Require: timer`.
    Accept { session: Session, refresher: Refresher, require_timer: bool },
    /// No session timer on this leg (disabled here): the 2xx carries nothing of RFC 4028.
    NoTimer,
}

pub fn uas_decide(config: &SessionTimerConfig, request: &Request) -> UasDecision {
    if !config.enabled {
        return UasDecision::NoTimer;
    }
    let headers = &request.headers;
    let declared = declares_timer(headers);
    // The parser already answered 400 to a malformed value on a request; here they are valid or absent.
    let asked = headers.get(&HeaderName::SESSION_EXPIRES).and_then(|v| SessionExpires::parse(v).ok());
    let their_min_se =
        headers.get(&HeaderName::MIN_SE).and_then(|v| parse_min_se(v).ok()).unwrap_or(MIN_SE_FLOOR);
    let floor = config.min_se.max(their_min_se).max(MIN_SE_FLOOR);
    let interval = match &asked {
        Some(se) if se.delta < config.min_se => {
            if declared {
                return UasDecision::TooSmall { min_se: config.min_se };
            }
            // Errata 1687: a UAC that does not know timers is not sent a 422; we raise the interval.
            config.min_se
        }
        // §9: we may lower the interval (not below either Min-SE) but never raise it.
        Some(se) => se.delta.min(config.default_expires).max(floor).min(se.delta),
        None => config.default_expires.max(floor),
    };
    // Table 2.
    let refresher = match (declared, asked.and_then(|se| se.refresher)) {
        (false, _) => Refresher::Uas,
        (true, Some(r)) => r,
        (true, None) => match config.prefer_refresher {
            PreferRefresher::Uac => Refresher::Uac,
            PreferRefresher::Uas => Refresher::Uas,
        },
    };
    UasDecision::Accept {
        session: Session { interval, we_refresh: refresher == Refresher::Uas },
        refresher,
        // §9: Require: timer when the UAC is to refresh, never to a UAC that did not declare timer.
        require_timer: refresher == Refresher::Uac && declared,
    }
}

/// Writes a UAS decision into the 2xx (§9): Session-Expires, Require when due, never Min-SE (§5).
pub fn uas_response_headers(decision: &UasDecision, headers: &mut Headers) {
    headers.remove(&HeaderName::SESSION_EXPIRES);
    headers.remove(&HeaderName::MIN_SE);
    let UasDecision::Accept { session, refresher, require_timer } = decision else { return };
    headers.push(
        HeaderName::SESSION_EXPIRES,
        SessionExpires { delta: session.interval, refresher: Some(*refresher) }.to_string(),
    );
    if *require_timer && !headers.has_token(&HeaderName::REQUIRE, "timer") {
        headers.push(HeaderName::REQUIRE, "timer");
    }
}
