//! sst-b2bua: a SIP back-to-back user agent whose headline job is RFC 4028 session timers.
//!
//! ```text
//!  UDP socket task ─────┐                          ┌─ call cell #1: Mutex<proto::Call { leg A, leg B }>
//!  TCP/TLS accept tasks ┼─► dispatcher ──► calls ──┤  (index: Call-ID of either leg → cell)
//!  TCP/TLS conn tasks ──┘   (parse once)  (drive)  └─ call cell #n
//!         ▲                                  ▲                    │ Output::Send
//!         │                    timer task ───┘ (deadline queue)  │
//!         └──────────── net::Outbound (UDP send / TCP+TLS pool) ◄─┘
//! ```
//!
//! A call has no task of its own: the task that received a message drives the call in place (lock, hand
//! in, send the output, queue the next deadline), and one timer task does the same for due deadlines.
//! All of it runs on one worker thread unless `limits.worker_threads` asks for more: the UDP socket task
//! carries all UDP signalling anyway, and a second thread only added wake-ups and cross-thread frees.
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
