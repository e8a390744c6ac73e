//! Tags, branches and Call-IDs from a seeded generator handed in (so a simulated run replays from its
//! seed), and deterministic tags for stateless answers (RFC 3261 §8.2.6.2: a retransmitted request must
//! get the same To tag even though no state was kept).

use std::hash::{BuildHasher, Hasher};

use crate::sip::via::BRANCH_COOKIE;

/// Identifier generator: the only source of randomness in `proto`.
#[derive(Debug, Clone)]
pub struct Ids {
    rng: fastrand::Rng,
}

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl Ids {
    pub fn from_seed(seed: u64) -> Ids {
        Ids { rng: fastrand::Rng::with_seed(seed) }
    }

    fn token(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        self.push_token(&mut out, len);
        out
    }

    fn push_token(&mut self, out: &mut String, len: usize) {
        out.extend((0..len).map(|_| ALPHABET[self.rng.usize(..ALPHABET.len())] as char));
    }

    /// A From/To tag (RFC 3261 §19.3: at least 32 bits of randomness).
    pub fn tag(&mut self) -> String {
        self.token(10)
    }

    /// A branch with the RFC 3261 magic cookie (§8.1.1.7).
    pub fn branch(&mut self) -> String {
        let mut out = String::with_capacity(BRANCH_COOKIE.len() + 16);
        self.push_branch(&mut out);
        out
    }

    /// [`Ids::branch`], written at the end of `out` (a Via being built).
    pub fn push_branch(&mut self, out: &mut String) {
        out.push_str(BRANCH_COOKIE);
        self.push_token(out, 16);
    }

    /// A globally unique Call-ID (§8.1.1.4), qualified by our host.
    pub fn call_id(&mut self, host: &str) -> String {
        let mut id = String::with_capacity(21 + host.len());
        self.push_token(&mut id, 20);
        id.push('@');
        id.push_str(host);
        id
    }

    /// A uniform delay in milliseconds from `range` (RFC 3261 §14.1 back-off and similar).
    pub fn millis(&mut self, range: std::ops::RangeInclusive<u64>) -> u64 {
        self.rng.u64(range)
    }
}

/// A To tag derived from what identifies the request, stable across its retransmissions.
pub fn stateless_tag(parts: &[&str]) -> String {
    // A fixed-key hasher: deterministic across runs, which is what the RFC asks for here.
    let mut hasher =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().build_hasher();
    for part in parts {
        hasher.write(part.as_bytes());
        hasher.write_u8(0);
    }
    format!("sl{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}
