//! The one integration-test binary: parser torture tests, the real daemon over UDP/TCP, SIPp peers.
mod layering;
mod daemon;
mod sipp;
mod rfc4475;
