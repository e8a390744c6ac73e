//! sst-b2bua: a SIP back-to-back user agent whose headline job is RFC 4028 session timers.
//!
//! ```text
//!  UDP socket task ─────┐                          ┌─ call task #1 ── drives proto::Call { leg A, leg B }
//!  TCP/TLS accept tasks ┼─► dispatcher ──► call index (DashMap<LegKey, CallHandle>)
//!  TCP/TLS conn tasks ──┘   (proto::endpoint)      └─ call task #n
//!         ▲                                                       │ Output::Send
//!         └──────────── net::Outbound (UDP send / TCP+TLS pool) ◄─┘
//! ```
//!
//! Three tiers: `sip` (words: parse, build), `proto` (decisions: sans-IO state machines that take `now`
//! and return messages and deadlines), and `net`/`actor` (effects: sockets, tasks, the clock).

pub mod actor;
pub mod cli;
pub mod config;
pub mod net;
pub mod proto;
pub mod sip;
pub mod telemetry;
