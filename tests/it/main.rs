//! The one integration-test binary: parser torture tests, the real daemon over UDP/TCP, SIPp peers.
mod daemon;
mod layering;
mod malformed;
mod rfc4475;
mod sipp;
mod transport;
