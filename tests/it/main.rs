//! The one integration-test binary: parser torture tests, the real daemon over UDP/TCP/TLS, SIPp and
//! Kamailio peers.
mod daemon;
mod dns;
mod dns_server;
mod failover;
mod layering;
mod malformed;
mod ping;
mod rfc4475;
mod sim;
mod sipp;
mod sipp_calls;
mod sipp_session_timer;
mod tls;
mod tls_kamailio;
mod tls_peer;
mod transport;
