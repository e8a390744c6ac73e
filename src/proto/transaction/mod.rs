//! RFC 3261 §17 transactions as four sans-IO machines (with the RFC 6026 Accepted states), their keys and
//! their timers.
//!
//! | machine | RFC | states |
//! |---|---|---|
//! | [`ClientInvite`] | §17.1.1, RFC 6026 §8.4 | Calling → Proceeding → Accepted / Completed → Terminated |
//! | [`ClientNonInvite`] | §17.1.2 | Trying → Proceeding → Completed → Terminated |
//! | [`ServerInvite`] | §17.2.1, RFC 6026 §8.7 | Proceeding → Accepted / Completed → Confirmed → Terminated |
//! | [`ServerNonInvite`] | §17.2.2 | Trying → Proceeding → Completed → Terminated |
//!
//! Every machine is driven the same way: `handle_response` / `handle_request` / `respond` feed it,
//! `handle_timeout(now)` fires whatever is due (an early or repeated call does nothing), `poll_output`
//! drains [`TxOutput`]s in order and `poll_timeout` names the next [`Deadline`] with its timer. The owner
//! knows the peer's address, routes messages to a machine by [`ClientKey`] / [`ServerKey`] and drops the
//! machine when it reads [`TxOutput::Terminated`]. A zero-length timer (D, I, J, K on a reliable
//! transport) is not armed: the machine moves on at once.
//!
//! What the owner keeps for itself: an ACK for a 2xx has a branch of its own, so it matches no server
//! transaction and goes to the dialog; the 2xx of a server INVITE is retransmitted by the TU (RFC 3261
//! §13.3.1.4), the server transaction only passes each copy on; transport errors (§17.1.1.2, §17.2.1) are
//! the owner's to report, as the machines never see a socket.
//!
//! [`Deadline`]: crate::proto::time::Deadline

mod any;
mod client_invite;
mod client_non_invite;
mod key;
mod server_invite;
mod server_non_invite;
mod timers;

#[cfg(test)]
mod tests;

pub use any::{ClientTx, ServerTx};
pub use client_invite::ClientInvite;
pub use client_non_invite::ClientNonInvite;
pub use key::{ClientKey, ServerKey};
pub use server_invite::ServerInvite;
pub use server_non_invite::ServerNonInvite;
pub use timers::TimerConfig;

use crate::sip::{Message, Response};

/// The next item of an output queue; an emptied queue gives its buffer back. Transactions wait out
/// Timer L/M/J/K and held calls wait for hours with nothing to say, and a queue's first allocation holds
/// four messages.
pub(crate) fn pop_output<T>(out: &mut std::collections::VecDeque<T>) -> Option<T> {
    let next = out.pop_front();
    if out.is_empty() && out.capacity() > 0 {
        *out = std::collections::VecDeque::new();
    }
    next
}

/// What a transaction asks of its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum TxOutput {
    /// Put this message on the wire (to the transaction's peer; the owner knows the address).
    Send(Message),
    /// A response for the transaction user (client transactions only), after the transaction filtered it:
    /// retransmitted final responses that the RFC absorbs are NOT delivered again, except 2xx
    /// retransmissions to an INVITE, which ARE delivered (the TU/dialog must re-ACK them, RFC 6026).
    /// Provisional responses are delivered while the transaction is Proceeding (§17.1.1.2, §17.1.2.2).
    Deliver(Response),
    /// Timer B / F fired (client: no final response), or Timer H fired (server INVITE: no ACK came). A
    /// server transaction whose TU never answers produces nothing: that is the TU's business.
    Timeout,
    /// The transaction reached Terminated; the owner removes it from its table.
    Terminated,
}

/// The states of RFC 3261 §17 and RFC 6026 §7.1; each machine uses the subset its figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxState {
    Calling,
    Trying,
    Proceeding,
    Accepted,
    Completed,
    Confirmed,
    Terminated,
}
