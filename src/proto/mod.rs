//! The decisions tier: sans-IO state machines (RFC 3261 transactions, and later dialogs, the session
//! timer and the call). Every machine has the same four verbs, as quinn-proto and str0m do:
//!
//! ```text
//! fn handle_input(&mut self, now: Instant, input: Input);   // a message from a leg, or a command
//! fn handle_timeout(&mut self, now: Instant);                // early or spurious calls are no-ops
//! fn poll_output(&mut self) -> Option<Output>;               // messages to send, events
//! fn poll_timeout(&self) -> Option<Deadline>;                // (Instant, TimerKind)
//! ```
//!
//! Nothing here imports tokio or dashmap, opens a socket or reads the clock: `now` is always handed in
//! (a test in tests/it/layering.rs keeps that true). Protocol anomalies are outputs, not `Err`.

pub mod call;
pub mod dialog;
pub mod endpoint;
pub mod ids;
pub mod router;
pub mod session_timer;
pub mod stateless;
pub mod time;
pub mod transaction;
pub mod trunk_health;
