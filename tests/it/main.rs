//! The one integration-test binary: parser torture tests, the real daemon over UDP/TCP, SIPp peers.
mod daemon;
mod dns;
mod dns_server;
mod layering;
mod malformed;
mod rfc4475;
mod sim;
mod sipp;
mod sipp_calls;
mod sipp_session_timer;
mod transport;
