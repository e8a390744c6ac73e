//! RFC 3261 §17 transactions (placeholder until the transaction machines land).
