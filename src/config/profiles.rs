//! Carrier profiles as data: `trunks[].profile` pre-sets what a carrier is known to need. Every value a
//! profile sets carries the public source it was taken from ([`Fact::source`], the same URL the README's
//! "Carrier profiles" table cites); what no source could confirm stays unset (`None`), never guessed.
//!
//! Precedence, applied once in [`Trunk::effective`]: an explicit trunk key beats the profile, the profile
//! beats the global block and the built-in defaults. A `;transport=` parameter in the trunk's `uri` beats
//! both the `transport` key and the profile (the URI is the most specific thing the operator wrote).

use serde::Deserialize;

use super::{SessionTimerConfig, SessionTimerOverride, Transport, Trunk};
use crate::sip::{Host, Uri};

/// `trunks[].profile`: which carrier the trunk is. `generic` (the same as no profile) sets nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Twilio,
    SignalWire,
    Telnyx,
    Generic,
}

/// A value a profile sets, with the public page it was taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact<T> {
    pub value: T,
    pub source: &'static str,
}

/// How a profile picks the TLS server name (SNI and the name the certificate must match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNameRule {
    /// The host of the trunk's `uri` (never the resolved address, never an edge or proxy name).
    UriHost,
}

/// What a profile pre-sets. Every field is `None` unless a source says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileDefaults {
    /// The transport used when the trunk's `uri` names none (added to leg B's URI as `;transport=`).
    pub transport: Option<Fact<Transport>>,
    pub tls_server_name: Option<Fact<ServerNameRule>>,
    /// The carrier answers in-dialog requests that lack the dialog's Route set with 481. The daemon always
    /// sends the route set (RFC 3261 §12.2.1.1); the fact is kept to explain such failures.
    pub requires_route_set: Option<Fact<bool>>,
    /// Calls to the carrier must carry digest credentials (`username` and a password on the trunk).
    pub digest_expected: Option<Fact<bool>>,
    /// Whether session refreshes may use UPDATE (laid into the session-timer layer as `use_update`).
    pub use_update: Option<Fact<bool>>,
    /// Session-timer values the carrier is documented to use.
    pub session_timer: Option<Fact<SessionTimerOverride>>,
}

/// Twilio: with Secure Trunking on, a call over UDP or TCP is refused (error 32209): TLS only.
pub const TWILIO_TLS_SOURCE: &str = "https://twilio.com/docs/api/errors/32209";
/// Twilio Secure Trunking serves a certificate for the trunk's host name (`*.pstn.twilio.com`) and keys on
/// SNI: a handshake whose SNI is the resolved IP address fails (a public report with the fix).
pub const TWILIO_SNI_SOURCE: &str = "https://github.com/thevoiceguy/siphon-ai/issues/312";
/// Twilio answers a BYE without the dialog's Route headers `481 Call/Transaction Does Not Exist` (a public
/// report with a capture, Twilio Secure Trunking over TLS).
pub const TWILIO_ROUTE_SET_SOURCE: &str = "https://github.com/thevoiceguy/siphon-ai/issues/342";
/// SignalWire SIP trunking goes through SIP endpoints, which authenticate with a username and a password.
pub const SIGNALWIRE_DIGEST_SOURCE: &str = "https://developer.signalwire.com/guides/voice/sip-trunking";

impl Profile {
    pub const ALL: [Profile; 4] = [Profile::Twilio, Profile::SignalWire, Profile::Telnyx, Profile::Generic];

    /// The name written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Twilio => "twilio",
            Profile::SignalWire => "signalwire",
            Profile::Telnyx => "telnyx",
            Profile::Generic => "generic",
        }
    }

    /// The carrier's sourced values. See the README's "Carrier profiles" for what was looked for and not
    /// found (for Telnyx, nothing it needs differs from the defaults: UDP, TCP and TLS are all offered and
    /// both IP and credential authentication exist, so its profile sets nothing yet).
    pub fn defaults(self) -> ProfileDefaults {
        match self {
            Profile::Twilio => ProfileDefaults {
                transport: fact(Transport::Tls, TWILIO_TLS_SOURCE),
                tls_server_name: fact(ServerNameRule::UriHost, TWILIO_SNI_SOURCE),
                requires_route_set: fact(true, TWILIO_ROUTE_SET_SOURCE),
                ..ProfileDefaults::default()
            },
            Profile::SignalWire => ProfileDefaults {
                digest_expected: fact(true, SIGNALWIRE_DIGEST_SOURCE),
                ..ProfileDefaults::default()
            },
            Profile::Telnyx | Profile::Generic => ProfileDefaults::default(),
        }
    }
}

fn fact<T>(value: T, source: &'static str) -> Option<Fact<T>> {
    Some(Fact { value, source })
}

impl ProfileDefaults {
    /// The profile's session-timer layer (its `session_timer` values with `use_update` laid in).
    pub fn timer_override(&self) -> SessionTimerOverride {
        let mut layer = self.session_timer.as_ref().map(|f| f.value.clone()).unwrap_or_default();
        if let Some(f) = &self.use_update {
            layer.use_update = Some(f.value);
        }
        layer
    }

    /// Every value this profile sets, as (key, source URL).
    pub fn sources(&self) -> Vec<(&'static str, &'static str)> {
        [
            ("transport", self.transport.as_ref().map(|f| f.source)),
            ("tls_server_name", self.tls_server_name.as_ref().map(|f| f.source)),
            ("requires_route_set", self.requires_route_set.as_ref().map(|f| f.source)),
            ("digest_expected", self.digest_expected.as_ref().map(|f| f.source)),
            ("use_update", self.use_update.as_ref().map(|f| f.source)),
            ("session_timer", self.session_timer.as_ref().map(|f| f.source)),
        ]
        .into_iter()
        .filter_map(|(key, source)| Some((key, source?)))
        .collect()
    }
}

/// Where a trunk's transport comes from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportOrigin {
    /// The `uri` has a `;transport=` parameter.
    UriParameter,
    /// The `uri` is `sips:` (TLS on every hop).
    Sips,
    /// The trunk's `transport` key.
    TrunkKey,
    /// The trunk's profile.
    Profile,
}

/// A trunk with its profile and the global block applied: what leg B to the trunk (and the trunk's own leg
/// in either direction, for the timer) is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveTrunk {
    /// `profile`, `generic` when absent.
    pub profile: Profile,
    /// Leg B's Request-URI template: the trunk's `uri`, with `;transport=` added when the transport is
    /// forced (by the `transport` key or the profile) and the URI names none.
    pub target_uri: String,
    /// The transport the configuration decides, with where it came from; `None` leaves the choice to RFC
    /// 3263 (NAPTR, SRV) at call time.
    pub transport: Option<(Transport, TransportOrigin)>,
    /// The TLS server name (SNI, certificate check) when the configuration sets one: `tls_server_name`,
    /// else the profile's rule. `None` keeps the resolver's (the URI host). Always `None` over UDP or TCP.
    pub server_name: Option<String>,
    /// The trunk's leg: the trunk's `session_timer` over the profile's over the global block.
    pub timer: SessionTimerConfig,
    /// The profile says calls to this carrier must carry digest credentials.
    pub digest_expected: bool,
    /// The profile says the carrier refuses in-dialog requests without the Route set (481).
    pub requires_route_set: bool,
}

impl Trunk {
    /// Applies the precedence rule once: trunk key > profile > global block / built-in default.
    pub fn effective(&self, global: &SessionTimerConfig) -> EffectiveTrunk {
        let profile = self.profile.unwrap_or(Profile::Generic);
        let defaults = profile.defaults();
        let uri = Uri::parse(&self.uri);
        let sip = uri.as_ref().and_then(Uri::as_sip);

        let forced = match (self.transport, &defaults.transport) {
            (Some(t), _) => Some((t, TransportOrigin::TrunkKey)),
            (None, Some(f)) => Some((f.value, TransportOrigin::Profile)),
            (None, None) => None,
        };
        let sips = sip.is_some_and(|u| u.is_sips());
        let (transport, target_uri) = match (sip.and_then(|u| u.transport()), sips, forced) {
            // The URI's own parameter wins; `sips:` + `tcp` is TLS over TCP (RFC 3263 §4.1).
            (Some(param), _, _) => {
                let t = match param.as_str() {
                    "udp" => Some(Transport::Udp),
                    "tcp" if sips => Some(Transport::Tls),
                    "tcp" => Some(Transport::Tcp),
                    "tls" => Some(Transport::Tls),
                    _ => None,
                };
                (t.map(|t| (t, TransportOrigin::UriParameter)), self.uri.clone())
            }
            // `sips:` already means TLS; nothing to add (validation refuses forcing udp or tcp on it).
            (None, true, _) => (Some((Transport::Tls, TransportOrigin::Sips)), self.uri.clone()),
            (None, false, Some((t, origin))) => (Some((t, origin)), with_transport(&self.uri, t)),
            (None, false, None) => (None, self.uri.clone()),
        };

        let server_name = match transport {
            Some((Transport::Udp | Transport::Tcp, _)) => None,
            _ => self.tls_server_name.clone().or_else(|| match &defaults.tls_server_name {
                Some(Fact { value: ServerNameRule::UriHost, .. }) => match sip.map(|u| u.host_port().host) {
                    Some(Host::Name(name)) => Some(name.trim_end_matches('.').to_ascii_lowercase()),
                    Some(Host::Ip(_)) | None => None,
                },
                None => None,
            }),
        };

        let timer = layer_timers(global, &defaults.timer_override(), self.session_timer.as_ref());

        EffectiveTrunk {
            profile,
            target_uri,
            transport,
            server_name,
            timer,
            digest_expected: defaults.digest_expected.is_some_and(|f| f.value),
            requires_route_set: defaults.requires_route_set.is_some_and(|f| f.value),
        }
    }

    /// A username and a password (or `password_env`) are configured.
    pub fn has_credentials(&self) -> bool {
        self.username.is_some() && (self.password.is_some() || self.password_env.is_some())
    }
}

/// The session-timer precedence: the trunk's block over the profile's layer over the global block.
pub(super) fn layer_timers(
    global: &SessionTimerConfig,
    profile: &SessionTimerOverride,
    trunk: Option<&SessionTimerOverride>,
) -> SessionTimerConfig {
    let base = profile.apply(global);
    trunk.map_or_else(|| base.clone(), |o| o.apply(&base))
}

/// The URI with `;transport=<t>` appended to its parameters (before any `?headers`).
fn with_transport(uri: &str, t: Transport) -> String {
    let token = t.as_str().to_ascii_lowercase();
    match uri.split_once('?') {
        Some((base, headers)) => format!("{base};transport={token}?{headers}"),
        None => format!("{uri};transport={token}"),
    }
}

#[cfg(test)]
mod tests;
